"""A truncated or foreign store is one line naming the file, what is wrong and what to do; nothing else is touched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from synthetic import write_raw


def _truncate(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.truncate(size // 3)


@pytest.fixture
def project(tmp_path: Path, tiny_models) -> Path:  # noqa: ANN001
    from kobench.data.prepare import prepare_task
    from kobench.tasks import get_task
    from kobench.tuning.tracking import Tracker

    raw = write_raw("nsmc", tmp_path / "data" / "raw" / "nsmc")
    prepare_task(get_task("nsmc"), raw, tmp_path / "data" / "prepared" / "nsmc")
    (tmp_path / "params.yaml").write_text("run: {tasks: [nsmc], models: []}\n", encoding="utf-8")
    optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path}/optuna.db")
    Tracker(f"sqlite:///{tmp_path}/mlflow.db", "kobench").study_run("s", {})
    (tmp_path / "models").symlink_to(tiny_models("bert").parent)
    return tmp_path


def _kobench(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "KOBENCH_OPTUNA_STORAGE")}
    return subprocess.run([sys.executable, "-m", "kobench.cli", *args], cwd=project, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


@pytest.mark.parametrize("store", ["optuna.db", "mlflow.db"])
def test_a_truncated_store_is_one_line(project: Path, store: str) -> None:
    _truncate(project / store)
    prepared = sorted((project / "data" / "prepared" / "nsmc").iterdir())
    done = _kobench(project, "tune", "--task", "nsmc", "--model", "models/bert", "--n-trials", "1")
    what = {"optuna.db": "Optuna storage", "mlflow.db": "MLflow store"}[store]
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: {what} {store}: damaged SQLite database (database disk image is malformed); restore it from "
        "backups/ (see `kobench backup`), or move it aside to start a new one"
    )
    assert sorted((project / "data" / "prepared" / "nsmc").iterdir()) == prepared and not (project / "outputs").exists()


def test_the_report_on_a_foreign_store_is_one_line(project: Path) -> None:
    (project / "mlflow.db").write_bytes(b"this is not a database at all, it only sits where one should be")
    done = _kobench(project, "report")
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].startswith(
        "error: MLflow store mlflow.db: not a SQLite database; restore it from backups/"
    )
