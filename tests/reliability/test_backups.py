"""`kobench backup` copies the SQLite stores consistently; a store that would need a schema migration is backed
up first and never migrated in place."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from kobench.cli import app
from kobench.errors import KobenchError
from kobench.tuning.stores import backup, head_revision
from kobench.tuning.tracking import Tracker


def test_backup_is_a_consistent_copy_while_another_process_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    storage = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(study_name="s", storage=storage)
    Tracker(f"sqlite:///{tmp_path}/mlflow.db", "kobench")
    writing = threading.Event()

    def write() -> None:  # a study that keeps adding trials during the backup
        writing.set()
        for _ in range(30):
            study.add_trial(optuna.trial.create_trial(value=1.0))

    writer = threading.Thread(target=write)
    writer.start()
    writing.wait()
    out = CliRunner().invoke(app, ["backup"], env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db",
                                                   "KOBENCH_OPTUNA_STORAGE": storage})
    writer.join()
    assert out.exit_code == 0, out.output
    copies = sorted((tmp_path / "backups").glob("*/*.db"))
    assert [p.name for p in copies] == ["mlflow.db", "optuna.db"]
    for copy in copies:
        with sqlite3.connect(copy) as db:
            assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
    restored = optuna.load_study(study_name="s", storage=f"sqlite:///{copies[1]}")
    assert 0 <= len(restored.trials) <= 30  # a snapshot of some moment, readable as it is


def test_a_store_at_another_schema_revision_is_backed_up_and_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    Tracker(uri, "kobench")
    with sqlite3.connect(tmp_path / "mlflow.db") as db:
        db.execute("update alembic_version set version_num = 'an0lder0rev'")
    before = (tmp_path / "mlflow.db").read_bytes()
    with pytest.raises(KobenchError) as caught:
        Tracker(uri, "kobench")
    message = str(caught.value)
    assert f"schema revision an0lder0rev, the installed mlflow expects {head_revision('mlflow')}" in message
    assert f"`mlflow db upgrade {uri}`" in message
    [copy] = list(Path("backups").glob("*/mlflow.db"))
    with sqlite3.connect(copy) as db:  # the same database, as it was before anything touched it
        assert db.execute("select version_num from alembic_version").fetchone()[0] == "an0lder0rev"
    assert (tmp_path / "mlflow.db").read_bytes() == before  # never migrated in place
    assert backup({"MLflow store": "postgresql://h/db"}) == {}  # servers back up on their own
