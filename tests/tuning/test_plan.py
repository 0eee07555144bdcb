"""`kobench plan`: fine-tunes, training samples and hours of the run set before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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


def test_cluster_hours_and_suggested_workers() -> None:
    from kobench.tuning.plan import Cost, format_cluster, suggested_workers

    # 20 trials of 1,000 samples, then 3,000 samples of extra seeds and recipe runs, at 10 samples/s
    cost = Cost("nsmc", "tiny", 23, 23_000, 10.0, "recorded", trials=20, trial_samples=20_000)
    other = Cost("kornli", "tiny", 23, 46_000, 10.0, "recorded", trials=20, trial_samples=40_000)
    assert suggested_workers(20) == 5 and suggested_workers(1) == 1
    assert cost.wall_hours(1) == pytest.approx(cost.hours)
    assert cost.wall_hours(5) * 3600 == pytest.approx((4 * 1_000 + 3_000) / 10)  # four rounds of five trials, then the rest
    assert cost.wall_hours(30) * 3600 == pytest.approx((1 * 1_000 + 3_000) / 10)  # more workers than trials: one round
    suggestion, wall = format_cluster([cost, other], 20).splitlines()
    assert suggestion.startswith(f"cluster: {(23_000 + 46_000) / 10 / 3600:,.2f} device-hours")
    assert "suggested --workers 5" in suggestion
    walls = [cost.wall_hours(5), other.wall_hours(5)]
    assert wall == (f"with --workers 5: {sum(walls):,.2f} wall hours with the 2 studies one after another on 5 GPUs; "
                    f"{max(walls):,.2f} with all at once on 10 GPUs")
    assert format_cluster([cost], 20, workers=2).splitlines()[1].startswith("with --workers 2: ")
    unknown = Cost("korsts", "tiny", 23, 1_000, None, "unknown", trials=20, trial_samples=800)
    assert "(+ 1 unknown)" in format_cluster([cost, unknown], 20)
