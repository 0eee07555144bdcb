"""`kobench plan`: fine-tunes, training samples and hours of the run set before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

from kobench.config import Params
from kobench.tuning.plan import format_plan, plan


def _params(tmp_path: Path, tiny: Path, **tune: object) -> Params:
    return Params.model_validate({
        "base": {"paths": {"prepared": str(tmp_path / "prepared"), "outputs": str(tmp_path / "outputs")}},
        "run": {"tasks": ["nsmc"], "models": ["tiny"], "reproduce": True, "reproduce_seeds": [1, 2]},
        "models": {"tiny": {"id": str(tiny), "local_only": True, "size": "small",
                            "search_space": {"lr": {"low": 1e-3, "high": 2e-3}, "epochs": {"low": 1, "high": 3}}}},
        "train": {"batch_size": 8},
        "tune": {"n_trials": 4, "final_seeds": [7], **tune},
    })


def test_plan_counts_fine_tunes_samples_and_hours(tmp_path: Path, prepared, tiny_models) -> None:  # noqa: ANN001
    prepared("nsmc", n=60)
    rows = json.loads((tmp_path / "prepared" / "nsmc" / "meta.json").read_text())["splits"]["train"]["rows"]
    params = _params(tmp_path, tiny_models("bert"))
    [cost] = plan(params)  # nothing recorded yet: a few timed steps of the model itself
    assert cost.fine_tunes == 4 + 1 + 2  # trials, extra seeds, recipe seeds
    assert cost.samples == rows * (4 * 2 + 1 * 3 + 2 * 10)  # trial epochs at the middle of 1-3; recipe: 10 epochs
    assert cost.source == "measured" and cost.samples_per_second > 0
    assert cost.hours == cost.samples / cost.samples_per_second / 3600

    run = tmp_path / "outputs" / "nsmc" / "tiny" / "trials" / "trial-0"  # an earlier run's recorded throughput wins
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({"throughput": {"train_samples_per_second": 12.5}}))
    [cost] = plan(params)
    assert (cost.samples_per_second, cost.source) == (12.5, "recorded")
    table = format_plan([cost])
    assert table.splitlines()[1].split() == ["nsmc", "tiny", "7", f"{cost.samples:,}", "12.5", f"{cost.hours:,.2f}",
                                             "recorded"]
    assert table.splitlines()[-1].split()[:3] == ["total", "7", f"{cost.samples:,}"]
