"""A truncated or foreign store is one line naming the file, what is wrong and what to do; nothing else is touched."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from kobench.errors import KobenchError
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


def _kobench(project: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> BaseException | None:
    """The command in this process (no interpreter start-up): the error it stops with, if any."""
    from typer.testing import CliRunner

    from kobench.cli import app

    monkeypatch.chdir(project)
    return CliRunner().invoke(app, list(args)).exception


@pytest.mark.parametrize("store", ["optuna.db", "mlflow.db"])
def test_a_truncated_store_is_one_line(project: Path, store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _truncate(project / store)
    prepared = sorted((project / "data" / "prepared" / "nsmc").iterdir())
    error = _kobench(project, monkeypatch, "tune", "--task", "nsmc", "--model", "models/bert", "--n-trials", "1")
    what = {"optuna.db": "Optuna storage", "mlflow.db": "MLflow store"}[store]
    assert isinstance(error, KobenchError)  # main() prints it as one line, exit 2
    assert str(error).startswith(f"{what} ") and str(error).endswith(
        f"{store}: damaged SQLite database (database disk image is malformed); restore it from "
        "backups/ (see `kobench backup`), or move it aside to start a new one"
    )
    assert sorted((project / "data" / "prepared" / "nsmc").iterdir()) == prepared and not (project / "outputs").exists()


def test_the_report_on_a_foreign_store_is_one_line(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "mlflow.db").write_bytes(b"this is not a database at all, it only sits where one should be")
    error = _kobench(project, monkeypatch, "report")
    assert isinstance(error, KobenchError)
    message = str(error)
    assert message.startswith("MLflow store ") and "mlflow.db: not a SQLite database; restore it from backups/" in message
