"""Resource faults inside a study: out of memory (simulated through a hook) and a real NaN loss."""

from __future__ import annotations

import pytest
import torch

from kobench.engine.training import _TrainLoop
from kobench.tuning.context import StudyContext
from kobench.tuning.study import run_study


def _run(setup: dict, params=None, n_trials: int = 3) -> dict:  # noqa: ANN001
    context = StudyContext(setup["spec"], setup["ref"], params or setup["params"], setup["base"], setup["paths"],
                           setup["tracker"])
    return run_study(context, n_trials=n_trials, storage_url=setup["storage"])


def test_out_of_memory_fails_the_trial_with_its_reason_and_the_study_goes_on(
    study_setup, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    calls = {"n": 0}
    original = _TrainLoop._step

    def step(self, batch):  # noqa: ANN001, ANN202
        calls["n"] += 1
        if calls["n"] == 3:  # the first trial's third step
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")
        return original(self, batch)

    monkeypatch.setattr(_TrainLoop, "_step", step)
    result = _run(study_setup)
    trials = result.trials["trials"]
    assert trials[0]["state"] == "FAIL" and trials[0]["reason"].startswith("OutOfMemoryError: CUDA out of memory")
    assert [t["state"] for t in trials[1:]] != ["FAIL", "FAIL"] and result.status == "complete"
    run = study_setup["tracker"].children(result.run_ids["study"], "trial")
    failed = [r for r in run if r.info.run_name == "trial-0"][0]
    assert failed.info.status == "FAILED" and "out of memory" in failed.data.tags["kobench.failure"]


def test_nan_loss_fails_every_trial_with_its_reason(study_setup) -> None:  # noqa: ANN001
    params = study_setup["params"]
    space = params.tune.search_space.model_copy(update={"lr": params.tune.search_space.lr.model_copy(
        update={"low": 1e11, "high": 1e12})})
    exploding = params.model_copy(update={"tune": params.tune.model_copy(update={"search_space": space})})
    result = _run(study_setup, exploding, n_trials=2)
    assert result.status == "failed" and result.reason.startswith("NonFiniteLossError: training loss is nan")
    assert [t["state"] for t in result.trials["trials"]] == ["FAIL"] * 3  # stopped at tune.max_failures
