"""The local SQLite stores (Optuna's, MLflow's): consistent backups, and no schema migration without one.

``kobench backup`` copies each store with SQLite's online backup (a consistent snapshot even while another
process writes, unlike a file copy) to ``backups/<UTC timestamp>/<file>``. Opening a store whose schema
revision is not the one the installed library expects backs it up first and stops with one line saying how
to upgrade or restore: no migration ever runs on the only copy.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path

from kobench.errors import KobenchError
from kobench.storelock import sqlite_path

BACKUPS = Path("backups")


def backup(urls: dict[str, str], root: Path = BACKUPS) -> dict[str, Path]:
    """Copy every existing ``sqlite:///`` store of ``urls`` (name -> URL) to ``root/<timestamp>/``; return the copies."""
    folder = root / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    copies = {}
    for what, url in urls.items():
        path = sqlite_path(url)
        if path is None or not path.exists():
            continue
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / path.name
        partial = target.with_name(f".{target.name}.partial")
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)) as source, \
                contextlib.closing(sqlite3.connect(partial)) as copy:  # fmt: skip
            source.backup(copy)
        os.replace(partial, target)
        copies[what] = target
    return copies


def revision(path: Path) -> str | None:
    """The alembic revision a SQLite store is at, or None (a new or empty database)."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)) as db:
        try:
            row = db.execute("select version_num from alembic_version").fetchone()
        except sqlite3.OperationalError:
            return None
    return row[0] if row else None


def head_revision(kind: str) -> str:
    """The schema revision the installed MLflow or Optuna expects."""
    from alembic.script import ScriptDirectory

    if kind == "mlflow":
        import mlflow.store.db_migrations as migrations

        location = Path(migrations.__file__).parent
    else:
        import optuna.storages._rdb as rdb

        location = Path(rdb.__file__).parent / "alembic"
    return ScriptDirectory(str(location)).get_current_head()


UPGRADE = {"mlflow": "mlflow db upgrade {url}", "optuna": "optuna storage upgrade --storage {url}"}


def schema_mismatch(url: str, kind: str) -> tuple[Path, str, str] | None:
    """(file, its revision, the installed library's) when a local store would need a migration, else None."""
    path = sqlite_path(url)
    if path is None or not path.exists() or path.stat().st_size == 0:
        return None
    found = revision(path)
    if found is None:
        return None
    wanted = head_revision(kind)
    return None if found == wanted else (path, found, wanted)


def guard_schema(url: str, what: str, kind: str) -> None:
    """Back up and stop when the store at ``url`` would need a schema migration (``kind``: mlflow or optuna)."""
    mismatch = schema_mismatch(url, kind)
    if mismatch is not None:
        path, found, wanted = mismatch
        copies = backup({what: url})
        raise KobenchError(
            f"{what} {path}: schema revision {found}, the installed {kind} expects {wanted}; backed up to "
            f"{copies[what]} first. Upgrade it with `{UPGRADE[kind].format(url=url)}`, or restore the backup"
        )
