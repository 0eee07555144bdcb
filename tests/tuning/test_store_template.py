"""A new MLflow store starts as a copy of a schema migrated once per MLflow version, and equals a migrated one."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import mlflow
import pytest

from kobench.tuning.tracking import Tracker


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KOBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "mlflow-schema" / f"{mlflow.__version__}.db"


def _rows(db: Path, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(db)) as connection:
        return connection.execute(sql).fetchall()


def _schema(db: Path) -> list[tuple]:
    """Tables and indices with their definitions, and the schema revision.

    A definition's lines are sorted: MLflow's own migrations write a table's constraints in another order from one
    migration to the next.
    """
    objects = _rows(db, "select type, name, sql from sqlite_master")
    lines = [(kind, name, sorted(line.strip(" ,\t") for line in (sql or "").splitlines())) for kind, name, sql in objects]
    return sorted(lines) + _rows(db, "select * from alembic_version")


def _default_experiment(db: Path) -> list[tuple]:
    columns = "experiment_id, name, artifact_location, lifecycle_stage"
    return _rows(db, f"select {columns} from experiments where name = 'Default'")


def _mark(template: Path) -> None:
    with closing(sqlite3.connect(template)) as db, db:
        db.execute("update workspaces set description = 'copied from the template'")


def _store(tmp_path: Path, name: str) -> Path:
    """A store made by kobench's own path; a run logged in it, so it is known to work."""
    path = tmp_path / name
    tracker = Tracker(f"sqlite:///{path}", "kobench")
    run = tracker.study_run("study", {})
    tracker.client.log_metric(run, "accuracy", 0.5)
    assert tracker.client.get_run(run).data.metrics == {"accuracy": 0.5}
    return path


def test_the_second_store_is_a_copy_of_the_first_without_its_default_experiment(tmp_path: Path, cache: Path) -> None:
    migrated = _store(tmp_path, "migrated.db")
    assert cache.is_file() and _rows(cache, "select * from experiments") == []
    assert _schema(cache) == _schema(migrated)
    _mark(cache)
    copied = _store(tmp_path, "copied.db")
    assert _rows(copied, "select description from workspaces") == [("copied from the template",)]
    assert _schema(copied) == _schema(migrated)
    # MLflow added the default experiment itself, where it puts it in a store it migrates
    assert _default_experiment(copied) == _default_experiment(migrated) != []


@pytest.mark.parametrize("damage", ["garbage", "another revision"])
def test_a_template_mlflow_refuses_is_replaced_by_a_migrated_schema(tmp_path: Path, cache: Path, damage: str) -> None:
    reference = _store(tmp_path, "reference.db")
    if damage == "garbage":
        cache.write_bytes(b"SQLite format 3\x00" + b"\xff" * 5000)
    else:
        with closing(sqlite3.connect(cache)) as db, db:
            db.execute("update alembic_version set version_num = '0123456789ab'")
    store = _store(tmp_path, "store.db")
    assert _schema(store) == _schema(reference) == _schema(cache)


def test_an_unwritable_cache_still_creates_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("KOBENCH_CACHE", str(tmp_path / "a-file" / "cache"))
    store = _store(tmp_path, "store.db")
    assert _default_experiment(store) != []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "store.db", "store.db.init-lock"]  # nothing partial
