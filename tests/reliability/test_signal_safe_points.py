"""A stop signal that arrived is acted on at the next safe point of prepare, fetch and backup: old or no output."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from kobench.data.fetch import fetch_task
from kobench.data.prepare import prepare_task
from kobench.interrupts import Interrupted
from kobench.tasks import get_task
from kobench.tuning.stores import backup


def test_prepare_stops_at_the_next_row_and_writes_nothing(tmp_path: Path, sigterm_received: None) -> None:
    from synthetic import write_raw

    write_raw("nsmc", tmp_path / "raw")
    with pytest.raises(Interrupted):
        prepare_task(get_task("nsmc"), tmp_path / "raw", tmp_path / "prepared")
    assert not (tmp_path / "prepared").exists() or not any((tmp_path / "prepared").iterdir())


def test_fetch_from_a_mirror_stops_before_copying(tmp_path: Path, sigterm_received: None) -> None:
    from synthetic import write_raw

    write_raw("nsmc", tmp_path / "mirror" / "nsmc")
    with pytest.raises(Interrupted):
        fetch_task(get_task("nsmc"), tmp_path / "raw", mirror=tmp_path / "mirror")
    assert not any((tmp_path / "raw").iterdir())


def test_backup_stops_between_page_steps_and_leaves_no_folder(tmp_path: Path, sigterm_received: None) -> None:
    store = tmp_path / "mlflow.db"
    with sqlite3.connect(store) as db:  # 8 MiB: more than one step of the copy
        db.execute("create table t (b blob)")
        db.executemany("insert into t values (?)", [(os.urandom(4096),) for _ in range(2048)])
    with pytest.raises(Interrupted):
        backup({"MLflow store": f"sqlite:///{store}"}, root=tmp_path / "backups")
    assert list((tmp_path / "backups").iterdir()) == []  # neither a backup nor its hidden .partial folder
