"""A lower-is-better main metric: trial ranking, the checkpoint a run keeps and @champion all follow its direction."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import optuna
import pytest

from kobench.errors import ConfigError, KobenchError
from kobench.metrics.registry import METRICS, metric
from kobench.tasks import TASKS


def test_every_task_ranks_by_a_declared_metric() -> None:
    for spec in TASKS.values():
        assert metric(spec.main_metric).name == spec.main_metric
    assert metric("mse").direction == "minimize" and metric("accuracy").direction == "maximize"
    with pytest.raises(ConfigError, match="unknown metric 'loss'.*declared: accuracy"):
        metric("loss")


def test_a_lower_is_better_metric_drives_trials_checkpoints_and_the_champion(tmp_path: Path, prepared, tiny_models,  # noqa: ANN001
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from kobench.config import ModelParams, Params
    from kobench.engine.models import ModelRef
    from kobench.engine.runs import run_config
    from kobench.names import StudyPaths
    from kobench.tasks import get_task
    from kobench.tuning.context import StudyContext
    from kobench.tuning.study import open_or_create_study, run_study
    from kobench.tuning.tracking import Tracker

    assert not METRICS["mse"].higher_is_better
    monkeypatch.chdir(tmp_path)
    prepared_dir = prepared("korsts", n=60)
    spec = dataclasses.replace(get_task("korsts"), main_metric="mse")  # a synthetic task ranked by its error
    params = Params.model_validate({
        "tune": {"n_trials": 4, "heartbeat_seconds": 1, "storage": f"sqlite:///{tmp_path}/optuna.db",
                 "search_space": {"lr": {"low": 1e-4, "high": 1e-2}, "epochs": {"low": 1, "high": 2}}},
        "train": {"batch_size": 16, "eval_batch_size": 64, "evals_per_epoch": 3},
    })  # fmt: skip
    ref = ModelRef("tiny", ModelParams(id=str(tiny_models("bert")), local_only=True, size="small"))
    base = run_config(params, spec, ref, max_seq_len=32)
    paths = StudyPaths(prepared=prepared_dir, features=tmp_path / "features", outputs=tmp_path / "outputs",
                       metrics_file=tmp_path / "metrics" / "korsts" / "tiny.json")  # fmt: skip
    tracker = Tracker(f"sqlite:///{tmp_path}/mlflow.db", "kobench")
    result = run_study(StudyContext(spec, ref, params, base, paths, tracker), n_trials=4, storage_url=params.tune.storage)

    study = optuna.load_study(study_name="korsts-tiny", storage=params.tune.storage)
    assert study.direction == optuna.study.StudyDirection.MINIMIZE  # pruning and best_trial follow it
    complete = {t.number: t.value for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE}
    assert result.best_trial == min(complete, key=complete.get) and result.validation["mse"] == min(complete.values())
    kept = [p.parent.name for p in (paths.outputs / "trials").glob("*/checkpoint")]
    assert kept == [f"trial-{result.best_trial}"]  # the lowest error's checkpoint survives, beaten ones are gone
    for number in complete:  # each run kept its lowest-error evaluation
        record = json.loads((paths.outputs / "trials" / f"trial-{number}" / "metrics.json").read_text())
        scores = {h["step"]: h["validation"]["mse"] for h in record["history"]}
        assert record["best"]["step"] == min(scores, key=scores.get)

    client, name = tracker.client, "kobench-korsts-tiny"
    first = client.get_model_version_by_alias(name, "champion")
    assert result.champion and first.tags["main_metric"] == "mse"
    score = float(first.tags["validation_score"])
    source, run_id = first.source, first.run_id

    def register(value: float) -> tuple[str, bool]:
        return tracker.register(name, source, run_id, {"validation_score": value}, value, ranked_by=metric("mse"))

    assert register(score + 1)[1] is False  # a larger error does not take @champion
    version, moved = register(score / 2)
    assert moved and str(client.get_model_version_by_alias(name, "champion").version) == version

    with pytest.raises(KobenchError, match="was made to minimize and its main metric is now to maximize"):
        open_or_create_study("korsts-tiny", params.tune.storage, params, "maximize")
