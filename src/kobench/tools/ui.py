"""``kobench ui``: the MLflow UI and the Optuna dashboard of this project's stores, side by side on 127.0.0.1.

Both run as child processes in process groups of their own; Ctrl-C or SIGTERM stops both, and if either exits
the other is stopped too, so nothing is left listening.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kobench.errors import KobenchError


@dataclass
class Service:
    """A server this command starts (or only names, when it runs elsewhere)."""

    name: str
    url: str
    command: list[str] | None  # None: not started here (a remote MLflow server)


def services(mlflow_uri: str, optuna_storage: str, host: str, mlflow_port: int, optuna_port: int) -> list[Service]:
    """What to start: ``mlflow ui`` over a local store (a tracking server is only named), ``optuna-dashboard``.

    Every port is checked first, before any store is created or any server started.

    Raises:
        KobenchError: a port that is out of range, taken by another program, or given to both servers.
    """
    remote = mlflow_uri.startswith(("http://", "https://"))
    dashboard = shutil.which("optuna-dashboard", path=_path())
    ports = {"--mlflow-port": mlflow_port} if not remote else {}
    if dashboard is not None:
        ports["--optuna-port"] = optuna_port
    check_ports(host, ports)
    found = []
    if remote:
        found.append(Service("MLflow", mlflow_uri, None))
    else:
        # one server process: MLflow's default of four, each importing MLflow, is for a shared server, not one user
        command = [_tool("mlflow"), "ui", "--backend-store-uri", mlflow_uri, "--host", host, "--port", str(mlflow_port),
                   "--workers", "1"]  # fmt: skip
        found.append(Service("MLflow UI", f"http://{host}:{mlflow_port}", command))
    from kobench.storelock import grpc_address, journal_path

    if dashboard is None:
        print("optuna-dashboard is not installed (pip install 'kobench[ui]'): MLflow only", file=sys.stderr)
    elif grpc_address(optuna_storage) is not None:
        print(f"the Optuna dashboard cannot open {optuna_storage}: run `kobench ui` with the proxy's database as "
              "tune.storage (KOBENCH_OPTUNA_STORAGE) for it; MLflow only", file=sys.stderr)  # fmt: skip
    else:
        from kobench.tuning.storages import init_storage  # Optuna only: no torch, no MLflow

        init_storage(optuna_storage)  # the dashboard cannot open a store without Optuna's tables
        journal = journal_path(optuna_storage)
        target = [str(journal), "--storage-class", "JournalFileStorage"] if journal is not None else [optuna_storage]
        if journal is not None:
            journal.parent.mkdir(parents=True, exist_ok=True)
            journal.touch()  # the dashboard opens an existing journal file only
        command = [dashboard, *target, "--host", host, "--port", str(optuna_port), "--quiet"]
        found.append(Service("Optuna dashboard", f"http://{host}:{optuna_port}", command))
    return found


def check_ports(host: str, ports: dict[str, int]) -> None:
    """Each port can be listened on at ``host`` now (a server started later would fail after printing its URL).

    Raises:
        KobenchError: one line naming the option and the port.
    """
    seen: dict[int, str] = {}
    for option, port in ports.items():
        if not 1 <= port <= 65535:
            raise KobenchError(f"{option} {port}: not a port; allowed: 1-65535")
        if port in seen:
            raise KobenchError(f"{option} {port}: also given to {seen[port]}; give each server its own port")
        seen[port] = option
        try:
            family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is free
                probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                taken = f"{option} {port}: {host}:{port} is in use by another program; pick another port"
                raise KobenchError(taken) from None
            raise KobenchError(f"{option} {port}: cannot listen on {host}:{port} ({exc.strerror or exc})") from None


def _path(path: str | None = None) -> str:
    """``path`` (default: PATH) with this interpreter's bin folder first, where this install's MLflow and Optuna live."""
    return f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '') if path is None else path}"


def server_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The servers' environment: ``environ``, this install's commands first on PATH, MLflow's job runner off.

    MLflow's server-side jobs (GenAI scorers, trace rollups) start seven more processes, each importing MLflow,
    that kobench never uses; they stay off unless ``environ`` asks for them.

    >>> server_environment({"PATH": "/bin"})["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"]
    'false'
    >>> server_environment({"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "true"})["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"]
    'true'
    """
    return {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **environ, "PATH": _path(environ.get("PATH", ""))}


def _tool(name: str) -> str:
    found = shutil.which(name, path=_path())
    if found is None:
        raise KobenchError(f"{name} not found on PATH")
    return found


def run(found: list[Service], verbose: bool | None = None) -> int:
    """Start every service, print its URL, wait; stop them all on Ctrl-C, SIGTERM or when one exits.

    The servers' own lines go to a temporary log file, named if a server exits, unless ``verbose`` (default:
    ``KOBENCH_VERBOSE=1``).
    """
    if verbose is None:
        verbose = os.environ.get("KOBENCH_VERBOSE") == "1"
    env = server_environment(os.environ)
    children: list[tuple[Service, subprocess.Popen]] = []
    stop = {"signal": None}

    def on_signal(signum: int, _frame: object) -> None:
        stop["signal"] = signum

    logs: dict[str, Path] = {}  # the servers' own output, kept off the terminal unless --verbose
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for service in found:
            if service.command is not None:
                output = None if verbose else _log_file(service, logs)
                process = subprocess.Popen(
                    service.command,
                    env=env,
                    start_new_session=True,
                    stdout=output,
                    stderr=subprocess.STDOUT if output else None,
                )
                if output is not None:
                    output.close()  # the child holds its own descriptor
                children.append((service, process))
            print(f"{service.name}: {service.url}", flush=True)
        print("Ctrl-C stops " + ("both" if len(children) > 1 else "it"), flush=True)
        while stop["signal"] is None:
            ended = [(s, p) for s, p in children if p.poll() is not None]
            if ended:
                service, process = ended[0]
                where = f" (its output: {logs[service.name]})" if service.name in logs else ""
                print(f"{service.name} exited with {process.returncode}{where}; stopping", file=sys.stderr, flush=True)
                logs.pop(service.name, None)  # kept for the user to read
                return 1
            time.sleep(0.2)
        return 0
    finally:
        _stop([process for _, process in children])
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for path in logs.values():
            path.unlink(missing_ok=True)


def _log_file(service: Service, logs: dict[str, Path]):  # noqa: ANN202
    """A temporary file for ``service``'s output (recorded in ``logs``), open for writing."""
    slug = service.name.lower().replace(" ", "-")
    handle = tempfile.NamedTemporaryFile("wb", prefix=f"kobench-{slug}-", suffix=".log", delete=False)  # noqa: SIM115
    logs[service.name] = Path(handle.name)
    return handle


def _stop(processes: list[subprocess.Popen], grace: float = 10.0) -> None:
    """SIGTERM to every child's process group (their workers too) at once, SIGKILL to those left after ``grace`` s.

    At once: each server takes a second or two to shut down, and one after the other those add up.
    """
    for signum in (signal.SIGTERM, signal.SIGKILL):
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signum)
        deadline = time.monotonic() + grace
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
        processes = [process for process in processes if process.poll() is None]
        if not processes:
            return
