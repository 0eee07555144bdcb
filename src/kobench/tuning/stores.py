"""The local SQLite stores (Optuna's, MLflow's): consistent backups, and no schema migration without one.

``kobench backup`` copies each store with SQLite's online backup (a consistent snapshot even while another
process writes, unlike a file copy) to ``backups/<UTC timestamp>/<file>``. A backup is complete or invisible:
it is written to ``backups/.<timestamp>.partial/``, each copy integrity-checked, a ``manifest.json`` written
(files, sizes, sha256, schema revisions), and only then renamed; what a killed backup left is removed by the
next one and reported by ``kobench doctor``. Opening a store whose schema
revision is not the one the installed library expects backs it up first and stops with one line saying how
to upgrade or restore: no migration ever runs on the only copy.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import time
from pathlib import Path

from kobench.atomic import write_json
from kobench.errors import KobenchError
from kobench.hashing import sha256_file
from kobench.interrupts import check as check_interrupted
from kobench.storelock import sqlite_path

BACKUPS = Path("backups")


MANIFEST = "manifest.json"


def backup(urls: dict[str, str], root: Path = BACKUPS) -> dict[str, Path]:
    """Copy every existing ``sqlite:///`` store of ``urls`` (name -> URL) to ``root/<timestamp>/``; return the copies.

    The folder appears only once every copy is complete and passed SQLite's integrity check, with its manifest.

    Raises:
        KobenchError: a copy that fails its integrity check (nothing is left behind).
    """
    stores = {what: path for what, url in urls.items() if (path := sqlite_path(url)) is not None and path.exists()}
    if not stores:
        return {}
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    partial = root / f".{stamp}.{os.getpid()}.partial"
    partial.mkdir(parents=True)
    try:
        manifest = {"created": stamp, "complete": True, "files": []}
        for what, path in stores.items():
            target = partial / path.name
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)) as source, \
                    contextlib.closing(sqlite3.connect(target)) as copy:  # fmt: skip
                # in steps of 4 MiB (1,024 pages) with a safe point between them: a signal stops a large copy at once
                source.backup(copy, pages=1024, progress=lambda *_: check_interrupted())
                if (check := copy.execute("pragma integrity_check").fetchone()[0]) != "ok":
                    raise KobenchError(f"{what} {path}: its backup copy fails SQLite's integrity check ({check})")
            manifest["files"].append({"store": what, "source": str(path), "file": target.name,
                                      "bytes": target.stat().st_size, "sha256": sha256_file(target),
                                      "revision": revision(target)})  # fmt: skip
        write_json(partial / MANIFEST, manifest)
        folder = _free_name(root / stamp)
        os.rename(partial, folder)  # the whole backup appears at once
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return {what: folder / path.name for what, path in stores.items()}


def _free_name(folder: Path) -> Path:
    """``folder``, or ``folder-2``, ``-3``… when a backup of the same second exists."""
    candidate, n = folder, 1
    while candidate.exists():
        n += 1
        candidate = folder.with_name(f"{folder.name}-{n}")
    return candidate


def partial_backups(root: Path = BACKUPS) -> list[Path]:
    """What killed backups left under ``root``: ``.<timestamp>.partial`` folders and ``.partial`` files."""
    if not root.is_dir():
        return []
    return sorted(p for p in [*root.glob(".*.partial"), *root.glob("*/.*.partial")])


def remove_partial_backups(root: Path = BACKUPS) -> list[Path]:
    """Remove what killed backups left; return what was removed."""
    found = partial_backups(root)
    for path in found:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return found


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
