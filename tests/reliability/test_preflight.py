"""Check before spending: `kobench train` and `tune` verify data, model, device and stores before creating
anything; a problem is one line and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from synthetic import write_raw


def _kobench(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kobench.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env=dict(os.environ), timeout=300)


def _project(tmp_path: Path, model_dir: Path, **tune: object) -> Path:
    params = {"models": {"tiny": {"id": str(model_dir), "size": "small", "local_only": True}},
              "tune": {"n_trials": 1, "storage": f"sqlite:///{tmp_path}/optuna.db", **tune},
              "tracking": {"mlflow_uri": f"sqlite:///{tmp_path}/mlflow.db"}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return tmp_path


def _prepared(project: Path) -> None:
    """What `kobench prepare nsmc` does (tested elsewhere), in this process: one interpreter start fewer."""
    from kobench.data.prepare import prepare_task
    from kobench.tasks import get_task

    write_raw("nsmc", project / "data" / "raw" / "nsmc")
    prepare_task(get_task("nsmc"), project / "data" / "raw" / "nsmc", project / "data" / "prepared" / "nsmc")


def _nothing_created(tmp_path: Path) -> bool:
    return not any((tmp_path / name).exists() for name in ("optuna.db", "mlflow.db", "outputs", "metrics", "mlruns"))


def test_tune_before_prepare_is_one_line_and_creates_nothing(tmp_path: Path, tiny_models) -> None:  # noqa: ANN001
    project = _project(tmp_path, tiny_models("bert"))
    result = _kobench("tune", "--task", "nsmc", "--model", "tiny", cwd=project)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: data/prepared/nsmc/train.parquet: not found; run `kobench prepare nsmc`"
    ]
    assert _nothing_created(project)


def test_unloadable_model_damaged_store_and_missing_device_are_refused_before_training(
    tmp_path: Path, tiny_models  # noqa: ANN001
) -> None:
    _prepared(_project(tmp_path, tmp_path / "absent"))
    model = _kobench("train", "--task", "nsmc", "--model", "tiny", cwd=tmp_path)
    assert model.returncode == 2 and model.stderr.startswith("error: model 'tiny': local directory")
    assert len(model.stderr.strip().splitlines()) == 1 and not (tmp_path / "outputs").exists()

    _project(tmp_path, tiny_models("bert"))
    (tmp_path / "optuna.db").write_text("not a database")
    store = _kobench("tune", "--task", "nsmc", "--model", "tiny", cwd=tmp_path)
    assert store.returncode == 2 and "optuna.db: not a SQLite database" in store.stderr
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "metrics").exists()
    (tmp_path / "optuna.db").unlink()

    device = _kobench("train", "--task", "nsmc", "--model", "tiny", "--device", "cuda", cwd=tmp_path)
    assert device.returncode == 2 and "no CUDA device" in device.stderr and not (tmp_path / "outputs").exists()


def test_a_study_that_fails_exits_non_zero(tmp_path: Path, tiny_models) -> None:  # noqa: ANN001
    _project(tmp_path, tiny_models("bert"), max_failures=2, search_space={"lr": {"low": 1e11, "high": 1e12},
                                                                          "epochs": {"low": 1, "high": 1}})
    _prepared(tmp_path)
    result = _kobench("tune", "--task", "nsmc", "--model", "tiny", "--max-seq-len", "32", cwd=tmp_path)
    assert result.returncode == 1
    assert "error: study nsmc-tiny has no completed trial: NonFiniteLossError" in result.stderr
    assert result.stderr.count("failed: NonFiniteLossError") == 2 and "Traceback" not in result.stderr  # max_failures
