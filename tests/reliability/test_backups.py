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


def test_a_backup_is_complete_with_its_manifest_or_invisible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from kobench.hashing import sha256_file

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(
        f"tune: {{storage: 'sqlite:///{tmp_path}/optuna.db'}}\ntracking: {{mlflow_uri: 'sqlite:///{tmp_path}/mlflow.db'}}\n",
        encoding="utf-8",
    )
    optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path}/optuna.db")
    Tracker(f"sqlite:///{tmp_path}/mlflow.db", "kobench")
    # what a backup killed midway left: its hidden folder with one complete store, and an old-style .partial file
    killed = tmp_path / "backups" / ".20260101T000000Z.123.partial"
    killed.mkdir(parents=True)
    (killed / "optuna.db").write_bytes((tmp_path / "optuna.db").read_bytes())
    (tmp_path / "backups" / "20251231T000000Z").mkdir()
    (tmp_path / "backups" / "20251231T000000Z" / ".mlflow.db.partial").write_bytes(b"\0" * 4096)

    doctor = CliRunner().invoke(app, ["doctor"])
    assert doctor.exit_code == 1 and "backups         PROBLEM  2 incomplete backup(s)" in doctor.output, doctor.output
    out = CliRunner().invoke(app, ["backup"])
    assert out.exit_code == 0, out.output
    assert f"removed {Path('backups') / '.20260101T000000Z.123.partial'}: left by a backup that did not finish" in out.output
    assert not killed.exists() and not list(Path("backups").rglob("*.partial"))
    [folder] = [p for p in Path("backups").iterdir() if p.name != "20251231T000000Z"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["complete"] is True and {f["file"] for f in manifest["files"]} == {"optuna.db", "mlflow.db"}
    for entry in manifest["files"]:
        copy = folder / entry["file"]
        assert entry["bytes"] == copy.stat().st_size and entry["sha256"] == sha256_file(copy) and entry["revision"]
    assert "backups         ok" in CliRunner().invoke(app, ["doctor"]).output


def test_a_failed_backup_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path}/optuna.db")
    (tmp_path / "mlflow.db").write_bytes(b"not a database" * 100)  # the second store cannot be copied
    with pytest.raises(sqlite3.DatabaseError):
        backup({"Optuna storage": f"sqlite:///{tmp_path}/optuna.db", "MLflow store": f"sqlite:///{tmp_path}/mlflow.db"})
    assert list((tmp_path / "backups").iterdir()) == []  # neither a folder nor a hidden partial one
