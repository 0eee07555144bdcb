"""Serialise first-time creation of local SQLite stores shared by parallel processes (dvc queue -j N)."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path


def sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL, else None.

    >>> str(sqlite_path("sqlite:///mlflow.db")), sqlite_path("postgresql://h/db")
    ('mlflow.db', None)
    """
    if not url.startswith("sqlite:///"):
        return None
    return Path(url.removeprefix("sqlite:///").split("?")[0])


@contextlib.contextmanager
def store_init_lock(url: str) -> Iterator[None]:
    """Hold an exclusive file lock beside a SQLite store while it is opened; a no-op for server databases.

    Creating and migrating a schema is not safe to run twice at once (dvc queue -j N on a fresh store).
    """
    path = sqlite_path(url)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".init-lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
