"""Throwaway servers on 127.0.0.1 for tests of shared stores: PostgreSQL in a temporary directory, and
`kobench storage-proxy` (Optuna's gRPC storage proxy) in front of a database."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _pg_bin() -> Path:
    """The directory holding initdb and pg_ctl, or a skip saying where they were looked for."""
    found = shutil.which("initdb")
    candidates = [Path(found).resolve().parent] if found else []
    installed = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)
    candidates += [Path(p) for p in installed]
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    pytest.skip("PostgreSQL not installed: no initdb/pg_ctl on PATH or under /usr/lib/postgresql/*/bin")
    raise AssertionError("unreachable")


def _version(path: str) -> int:
    name = Path(path).parent.name
    return int(name) if name.isdigit() else 0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def throwaway_postgres(databases: list[str]) -> Iterator[str]:
    """A running server with ``databases`` created; yields its base URL (user ``kobench``, no password).

    Skips the test, saying why, where PostgreSQL is not installed or cannot run (as root without a postgres user).
    """
    import psycopg2

    bin_dir = _pg_bin()
    as_user: list[str] = []
    # outside pytest's 0700 tmp dir: the server's user must reach its data directory
    home = Path(tempfile.mkdtemp(prefix="kobench-pg-"))
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        runuser = shutil.which("runuser")
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            runuser = None
        if runuser is None:
            shutil.rmtree(home)
            pytest.skip("PostgreSQL not usable: running as root without runuser or a 'postgres' user")
        as_user = [runuser, "-u", "postgres", "--"]
        shutil.chown(home, "postgres")
    data, sockets, port = home / "data", home / "sockets", free_port()

    def pg(*args: str, timeout: int = 120) -> None:
        done = subprocess.run([*as_user, *args], capture_output=True, text=True, timeout=timeout, check=False)
        assert done.returncode == 0, f"{args[0]} failed:\n{done.stdout}\n{done.stderr}"

    started = False
    try:
        pg(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "kobench", "-E", "UTF8", "--no-sync")
        pg("mkdir", "-p", str(sockets))
        options = f"-k {sockets} -c listen_addresses=127.0.0.1 -p {port} -c fsync=off -c max_connections=200"
        pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(home / "server.log"), "-w", "-t", "60",
           "-o", options, "start")
        started = True
        connection = psycopg2.connect(host="127.0.0.1", port=port, user="kobench", dbname="postgres")
        connection.autocommit = True
        with connection.cursor() as cursor:
            for name in databases:
                cursor.execute(f"CREATE DATABASE {name}")
        connection.close()
        yield f"postgresql+psycopg2://kobench@127.0.0.1:{port}"
    finally:
        if started:
            stop = [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
            subprocess.run([*as_user, *stop], capture_output=True, timeout=60, check=False)
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def storage_proxy(database: str, log: Path) -> Iterator[str]:
    """`kobench storage-proxy` over ``database`` on a free loopback port; yields its ``grpc://`` URL.

    Stops it with SIGTERM, which must end it within a few seconds and say so.
    """
    pytest.importorskip("grpc", reason="grpcio not installed (pip install -e '.[grpc]')")
    port = free_port()
    command = [sys.executable, "-m", "kobench.cli", "storage-proxy", "--storage", database, "--port", str(port)]
    with log.open("w") as out:
        proxy = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while "serving" not in log.read_text(encoding="utf-8") and proxy.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert proxy.poll() is None and "serving" in log.read_text(encoding="utf-8"), log.read_text(encoding="utf-8")
        yield f"grpc://127.0.0.1:{port}"
    finally:
        proxy.send_signal(signal.SIGTERM)
        assert proxy.wait(timeout=30) == 0, log.read_text(encoding="utf-8")
        assert "storage proxy stopped" in log.read_text(encoding="utf-8")
