"""Locks shared by every process using one store, and the parsing of store URLs.

File locks beside SQLite and journal files, advisory locks of PostgreSQL/MySQL, and the lock service of `kobench
storage-proxy` for its gRPC clients; first-time creation of SQLite stores shared by parallel processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

from kobench.errors import ConfigError, KobenchError
from kobench.names import GRPC_SCHEME, JOURNAL_SCHEME


def sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL, else None.

    >>> str(sqlite_path("sqlite:///mlflow.db")), sqlite_path("postgresql://h/db")
    ('mlflow.db', None)
    """
    if not url.startswith("sqlite:///"):
        return None
    return Path(url.removeprefix("sqlite:///").split("?")[0])


def journal_path(url: str) -> Path | None:
    """The journal file of a ``journal:///`` URL (relative, or absolute with four slashes, as SQLite's), else None.

    >>> str(journal_path("journal:///optuna.journal")), str(journal_path("journal:////srv/o.journal"))
    ('optuna.journal', '/srv/o.journal')
    """
    if not url.startswith(JOURNAL_SCHEME):
        return None
    return Path(url.removeprefix(JOURNAL_SCHEME))


def grpc_address(url: str) -> tuple[str, int] | None:
    """(host, port) of a ``grpc://host:port`` URL, else None.

    >>> grpc_address("grpc://127.0.0.1:13000"), grpc_address("sqlite:///optuna.db")
    (('127.0.0.1', 13000), None)

    Raises:
        ConfigError: a ``grpc://`` URL without a host and a numeric port.
    """
    if not url.startswith(GRPC_SCHEME):
        return None
    host, _, port = url.removeprefix(GRPC_SCHEME).rstrip("/").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"Optuna storage {url}: expected grpc://HOST:PORT (the address of `kobench storage-proxy`)")
    return host.strip("[]"), int(port)


@contextlib.contextmanager
def store_lock(url: str, key: str) -> Iterator[None]:
    """An exclusive lock named ``key`` shared by every process using the store at ``url``.

    SQLite and journal files: a file lock (``flock``) beside the file. PostgreSQL/MySQL: a server advisory lock held
    on a connection of its own (it blocks nothing but the same lock). ``grpc://``: the lock service of `kobench
    storage-proxy`, held on a call of its own. Each is released when its holder ends, killed or not. Other stores:
    no lock.
    """
    if (address := grpc_address(url)) is not None:
        from kobench.lockservice import hold

        with hold(address, key):
            yield
        return
    path = sqlite_path(url) or journal_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", key)
        with open(path.with_name(f"{path.name}.{name}-lock"), "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    if not url.startswith(("postgresql", "mysql")):
        yield
        return
    import sqlalchemy

    postgres = url.startswith("postgresql")
    lock = "SELECT pg_advisory_lock(hashtext(:k))" if postgres else "SELECT GET_LOCK(:k, -1)"
    unlock = "SELECT pg_advisory_unlock(hashtext(:k))" if postgres else "SELECT RELEASE_LOCK(:k)"
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.execute(sqlalchemy.text(lock), {"k": f"kobench:{key}"})
            try:
                yield
            finally:
                connection.execute(sqlalchemy.text(unlock), {"k": f"kobench:{key}"})
    finally:
        engine.dispose()


def store_init_lock(url: str) -> contextlib.AbstractContextManager[None]:
    """Held while a store is opened: creating and migrating a schema is not safe to run twice at once.

    SQLite fails with "table ... already exists", PostgreSQL with a duplicate key in pg_type.
    """
    return store_lock(url, "init")


def create_sqlite_atomically(url: str, create: Callable[[str], None]) -> None:
    """Create a new SQLite store in a temporary file and rename it into place (call under the init lock).

    Schema creation is a series of migrations; a process killed half-way would leave a database that every
    later run fails to migrate ("duplicate column name"). A store that exists already is left alone.
    """
    path = sqlite_path(url)
    if path is None or path.exists():
        return
    partial = path.with_name(f".{path.name}.creating")
    partial.unlink(missing_ok=True)  # left by a process killed while creating
    create(f"sqlite:///{partial}")
    os.replace(partial, path)


SQLITE_HEADER = b"SQLite format 3\x00"
RESTORE_HINT = "restore it from backups/ (see `kobench backup`), or move it aside to start a new one"


def check_sqlite_store(url: str, what: str) -> None:
    """A ``sqlite:///`` store is an intact SQLite database, or can be created where it points.

    Raises:
        KobenchError: one line naming the file, what is wrong and what to do; nothing else is touched.
    """
    path = sqlite_path(url)
    if path is None:
        return  # servers and other databases are checked by their own clients when opened
    if path.exists():
        with open(path, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
        if header and header != SQLITE_HEADER:
            raise KobenchError(f"{what} {path}: not a SQLite database; {RESTORE_HINT}")
        if not header:
            return  # an empty file: SQLite makes it a database on first use
        try:
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
                verdict = db.execute("pragma quick_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            verdict = str(exc)
        if verdict != "ok":
            raise KobenchError(f"{what} {path}: damaged SQLite database ({verdict}); {RESTORE_HINT}")
        return
    parent = path.parent if str(path.parent) else Path(".")
    existing = next((p for p in (parent, *parent.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise KobenchError(f"{what} {path}: {existing} is not a folder")
    if not os.access(existing, os.W_OK):
        raise KobenchError(f"{what} {path}: cannot create it, {existing} is not writable")


def check_store(url: str, what: str) -> None:
    """Any store URL before it is used: SQLite (``check_sqlite_store``), a journal file, a gRPC proxy's address.

    Raises:
        KobenchError: one line naming the store and what is wrong; nothing is created.
    """
    from kobench.errors import KobenchError

    if (address := grpc_address(url)) is not None:
        from kobench.lockservice import check_reachable

        check_reachable(address, what)
        return
    path = journal_path(url)
    if path is None:
        check_sqlite_store(url, what)
        return
    if path.exists():
        if not path.is_file():
            raise KobenchError(f"{what} {path}: not a file")
        with open(path, "rb") as handle:
            first = handle.read(1)
        if first and first != b"{":
            raise KobenchError(f"{what} {path}: not an Optuna journal (its lines are JSON); {RESTORE_HINT}")
        if not os.access(path, os.R_OK | os.W_OK):
            raise KobenchError(f"{what} {path}: not readable and writable by this user")
        return
    parent = path.parent if str(path.parent) else Path(".")
    existing = next((p for p in (parent, *parent.parents) if p.exists()), Path("."))
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise KobenchError(f"{what} {path}: cannot create it, {existing} is not a writable folder")
