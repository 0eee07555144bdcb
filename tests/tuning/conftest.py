"""A small tuning setup: synthetic prepared data, a tiny model, params, real Optuna and MLflow stores."""

from __future__ import annotations

from pathlib import Path

import pytest

from kobench.config import ModelParams, Params


@pytest.fixture
def study_setup(tmp_path: Path, prepared, tiny_models, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN001, ANN201
    """Everything run_study needs, with the stores in ``tmp_path`` (the working directory)."""
    from kobench.models import ModelRef
    from kobench.runs import run_config
    from kobench.tasks import get_task
    from kobench.tracking import Tracker
    from kobench.tuning import StudyPaths

    monkeypatch.chdir(tmp_path)
    prepared_dir = prepared("nsmc", n=60)
    params = Params.model_validate(
        {
            "tune": {"n_trials": 3, "heartbeat_seconds": 1, "storage": f"sqlite:///{tmp_path}/optuna.db",
                     "search_space": {"lr": {"low": 5e-4, "high": 3e-3}, "epochs": {"low": 1, "high": 2}}},
            "train": {"batch_size": 16, "eval_batch_size": 64},
        }
    )
    spec = get_task("nsmc")
    ref = ModelRef("tiny", ModelParams(id=str(tiny_models("bert")), local_only=True, size="small"))
    base = run_config(params, spec, ref, max_seq_len=32)
    paths = StudyPaths(prepared=prepared_dir, features=tmp_path / "features", outputs=tmp_path / "outputs",
                       metrics_file=tmp_path / "metrics" / "nsmc" / "tiny.json")
    tracker = Tracker(f"sqlite:///{tmp_path}/mlflow.db", "kobench")
    return {"spec": spec, "ref": ref, "params": params, "base": base, "paths": paths, "tracker": tracker,
            "storage": params.tune.storage, "tmp": tmp_path}
