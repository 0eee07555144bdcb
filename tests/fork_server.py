"""Start `python -m kobench.cli …`, `python benchmarks/<script>.py …` and `dvc …` without paying their imports each time.

Each such process spends 3-4 s of CPU importing torch, transformers, MLflow, Optuna, pandas and scikit-learn
before it does anything; the suite starts about 150 of them. A fork server (this file run as a script, one per
test worker) imports those libraries once; `subprocess.Popen` is replaced, in the test process only, by
`ForkServerPopen`, which hands each matching command to the server (`dvc` as this environment's console script,
except `dvc queue start`, which leaves daemons behind). The server forks a process that takes the
command's standard streams, working directory, environment, umask and session, and runs the module or script
as `python -m`/`python script.py` would, then exits with its code; the process is real (own pid, signals, exit
status), only its imports were done before the fork.

A command runs as a fresh interpreter instead (the ordinary `subprocess.Popen`) whenever the shortcut could
change what it does: an environment that differs from the server's in anything but the variables kobench and
MLflow read at run time (below), `--verbose`, a terminal on a standard stream, `preexec_fn`, `pass_fds`, other
users or groups, or an interpreter option. `KOBENCH_TEST_FRESH_PROCESSES=1` turns the shortcut off.
"""

from __future__ import annotations

import errno
import gc
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"

# imported by the server before it forks: none reads an environment variable that LAZY_ENVIRONMENT lists
PRELOAD = (
    "torch",
    "transformers",
    "transformers.modeling_utils",
    "transformers.models.bert.modeling_bert",
    "mlflow",
    "mlflow.tracking",
    "mlflow.pyfunc",
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
    "optuna",
    "pandas",
    "pyarrow.parquet",
    "sklearn.metrics",
    "scipy.stats",
    "matplotlib",
    "tokenizers",
    "sentencepiece",
    "dvc.cli",
    "dvc.cli.parser",
    "dvc.repo",
)
# scripts that need a fresh interpreter: gpu_check.py --simulate-device-env hides packages before they are imported
FRESH_SCRIPTS = {"gpu_check.py"}
# read when used, not when imported: a command whose environment differs from the server's only in these still
# runs forked; so do KOBENCH_* (kobench's own modules are imported after the fork and read them afresh), DVC's,
# git's, and the logging settings that the workers of `dvc queue` (Celery, billiard) pass to their stages: none of
# Celery, billiard or kombu is among the server's imports
LAZY_ENVIRONMENT = {
    "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "DISABLE_SAFETENSORS_CONVERSION",
    "TORCHINDUCTOR_CACHE_DIR", "PATH", "PWD", "OLDPWD", "PYTEST_CURRENT_TEST", "SLURM_CONF", "_", "PS1", "SHLVL",
}  # fmt: skip
# KOBENCH_VERBOSE: see _request
LAZY_PREFIXES = ("KOBENCH_", "DVC_", "GIT_AUTHOR_", "GIT_COMMITTER_", "CELERY_", "_MP_FORK_")
# MLflow sets its loggers' level from this when imported: the forked process sets them again from its own
MLFLOW_LOGGING = "MLFLOW_LOGGING_LEVEL"


# ---------------------------------------------------------------------------------------------------- the server


def _exit_code(exc: SystemExit) -> int:
    """What the interpreter makes of an uncaught SystemExit."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def _run(request: dict, fds: list[int], imported: dict[str, str]) -> None:
    """The forked process: become the command (streams, place, environment), run it, exit with its code."""
    import atexit
    import importlib
    import runpy
    import traceback

    if request["new_session"]:
        os.setsid()
    os.umask(request["umask"])
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    os.closerange(3, 65536)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for key, value in imported.items():  # as the imports would set them in a fresh interpreter
        os.environ.setdefault(key, value)
    if request["module"] == "kobench.cli":
        os.environ.setdefault(MLFLOW_LOGGING, "WARNING")  # what its main() sets first, before MLflow is imported
    from mlflow.utils.logging_utils import _configure_mlflow_loggers

    _configure_mlflow_loggers("mlflow")
    install()  # its own `python -m kobench.cli` children (workers, queued studies) are forked from the server too
    sys.argv = list(request["argv"])
    code = 0
    try:
        if request.get("entry"):  # a console script (.venv/bin/kobench): its folder first on the path, then main()
            sys.path[0] = os.path.dirname(sys.argv[0])
            module, function = request["entry"].split(":")
            sys.exit(getattr(importlib.import_module(module), function)())
        elif request["module"]:
            sys.path[0] = os.getcwd()
            runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
        else:
            sys.path[0] = str(Path(request["script"]).resolve().parent)
            runpy.run_path(request["script"], run_name="__main__")
    except SystemExit as exc:
        code = _exit_code(exc)
    except BaseException:  # noqa: BLE001 - what the interpreter does with any uncaught exception
        traceback.print_exc()
        code = 1
    # the interpreter's own shutdown: wait for non-daemon threads, run atexit handlers, flush
    try:
        threading._shutdown()  # type: ignore[attr-defined]
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


def _serve_one(connection: socket.socket, imported: dict[str, str]) -> None:
    """A forked waiter: receive one request, fork the command, report its pid and then its raw wait status."""
    data, fds, _, _ = socket.recv_fds(connection, 1 << 16, 3)
    size = int(data[:12])
    data = data[12:]
    while len(data) < size:
        data += connection.recv(1 << 20)
    request = json.loads(data)
    child = os.fork()
    if child == 0:
        connection.close()
        _run(request, fds, imported)
    for fd in fds:
        os.close(fd)
    connection.sendall(f"{child}\n".encode())
    _, status = os.waitpid(child, 0)
    try:
        connection.sendall(f"{status}\n".encode())
    finally:
        os._exit(0)


def serve(path: str) -> None:
    """Import PRELOAD, say ready on stdout, then fork a waiter per connection until the test worker is gone."""
    import importlib

    parent = os.getppid()
    before = dict(os.environ)
    for name in PRELOAD:
        importlib.import_module(name)
    # the imports live as long as the server: kept out of the forked commands' full collections, which would scan
    # them (0.4 s each) and, by writing to every object's header, copy the shared pages into each command
    gc.collect()
    gc.freeze()
    imported = {key: value for key, value in os.environ.items() if before.get(key) != value}  # set by an import
    _server.update(path=path, environment=before, imported=imported)  # for the forked commands' own children
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    listener.settimeout(1.0)
    print(json.dumps({"environment": before, "imported": imported}), flush=True)
    while os.getppid() == parent:
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            connection = None
        if connection is not None:
            sys.stdout.flush()
            sys.stderr.flush()
            if os.fork() == 0:
                listener.close()
                connection.settimeout(None)
                _serve_one(connection, imported)
            connection.close()
        try:  # reap finished waiters
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass
    shutil.rmtree(os.path.dirname(path), ignore_errors=True)


# ---------------------------------------------------------------------------------------------------- the client

_server: dict = {}
_server_lock = threading.Lock()


def _server_path() -> str | None:
    """The socket of this process's server, started on first use; None if it cannot start."""
    with _server_lock:
        if "path" in _server:
            return _server["path"]
        folder = tempfile.mkdtemp(prefix="kobench-forks-")
        path = os.path.join(folder, "socket")
        environment = {key: value for key, value in os.environ.items() if key != MLFLOW_LOGGING}
        process = _FRESH_POPEN([sys.executable, __file__, path], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, env=environment, cwd=folder, start_new_session=True)  # fmt: skip
        try:
            ready = json.loads(process.stdout.readline())
        except ValueError:
            ready = None
        _server.update(path=path if ready else None, process=process, **(ready or {}))
        if ready:  # for the `kobench` stand-in that DVC's stages find first on PATH (shim_directory)
            Path(folder, "server.json").write_text(json.dumps(ready), encoding="utf-8")
        return _server["path"]


def _dvc_entry(args: list[str], env: dict[str, str]) -> str | None:
    """This environment's `dvc` console script if ``args`` runs it, except `dvc queue start` (it leaves daemons)."""
    real = Path(sys.executable).parent / "dvc"
    found = shutil.which(str(args[0]), path=env.get("PATH")) if args else None
    if found is None or Path(found).resolve() != real.resolve() or {"queue", "start"} <= set(args[1:]):
        return None
    return str(real)


def _target(args: list[str]) -> tuple[str | None, str | None]:
    """(module, script) that ``args`` runs through this interpreter, or (None, None) if it is not one to fork."""
    if len(args) < 2 or str(args[0]) != sys.executable:
        return None, None
    if len(args) >= 3 and args[1] == "-m" and args[2] == "kobench.cli":
        return "kobench.cli", None
    script = Path(str(args[1]))
    if script.suffix == ".py" and script.resolve().parent == BENCHMARKS and script.name not in FRESH_SCRIPTS:
        return None, str(script)
    return None, None


def _forkable_environment(env: dict[str, str]) -> bool:
    """Whether a fresh interpreter with ``env`` would import PRELOAD as the server did (see LAZY_ENVIRONMENT)."""
    base, imported = _server["environment"], _server["imported"]
    keys = {key for key in set(env) | set(base) if not key.startswith(LAZY_PREFIXES)}
    keys -= LAZY_ENVIRONMENT | {MLFLOW_LOGGING}
    return not any(env.get(key) != base.get(key) and env.get(key, imported.get(key)) != imported.get(key)
                   for key in keys)  # fmt: skip


def _verbose(args: list[str]) -> bool:
    for arg in args:
        if not arg.startswith("-"):
            return False
        if arg in ("--verbose", "-v"):
            return True
    return False


def _enabled() -> bool:
    return os.environ.get("KOBENCH_TEST_FRESH_PROCESSES") != "1"


def _needs_fresh(arguments: list[str], environment: dict[str, str], fds: list[int]) -> bool:
    """Whether the command (its arguments after the program) must run in a fresh interpreter (module docstring)."""
    return (_verbose(arguments) or environment.get("KOBENCH_VERBOSE") == "1" or any(os.isatty(fd) for fd in fds)
            or not _forkable_environment(environment))  # fmt: skip


def _current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _send(connection: socket.socket, request: dict, fds: list[int]) -> None:
    """The request, its length first, with the command's standard streams (the waiter reads it in _serve_one)."""
    payload = json.dumps(request).encode()
    socket.send_fds(connection, [f"{len(payload):12d}".encode() + payload], fds)


_FRESH_POPEN = subprocess.Popen


class ForkServerPopen(subprocess.Popen):
    """`subprocess.Popen` that hands `python -m kobench.cli …`, benchmark scripts and `dvc …` to the fork server."""

    _forked = False

    def _execute_child(self, args, executable, preexec_fn, close_fds, pass_fds, cwd, env, startupinfo,  # noqa: ANN001, PLR0913
                       creationflags, shell, p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite,  # noqa: ANN001
                       restore_signals, gid, gids, uid, umask, start_new_session, process_group):  # noqa: ANN001
        fds = [fd if fd != -1 else own for fd, own in zip((p2cread, c2pwrite, errwrite), (0, 1, 2))]
        request = self._request(args, executable, preexec_fn, pass_fds, cwd, env, shell, fds, gid, gids, uid, umask,
                                process_group)  # fmt: skip
        if request is not None:
            request["new_session"] = bool(start_new_session)
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._buffer = b""
            try:
                connection.connect(_server["path"])
                _send(connection, request, fds)
                self.pid = int(self._read_line(connection, None))
            except OSError:  # the server is gone: a fresh interpreter, as without it
                connection.close()
            else:
                self._connection, self._forked, self._child_created = connection, True, True
                self._close_pipe_fds(p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite)
                return None
        return super()._execute_child(args, executable, preexec_fn, close_fds, pass_fds, cwd, env, startupinfo,
                                      creationflags, shell, p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite,
                                      restore_signals, gid, gids, uid, umask, start_new_session, process_group)  # fmt: skip

    def _request(self, args, executable, preexec_fn, pass_fds, cwd, env, shell, fds, gid, gids, uid, umask,  # noqa: ANN001, PLR0913
                 process_group) -> dict | None:  # noqa: ANN001
        if not _enabled() or shell or isinstance(args, (str, bytes, os.PathLike)):
            return None
        args = [str(a) if isinstance(a, os.PathLike) else a for a in args]
        environment = dict(os.environ if env is None else env)
        module, script = _target(args)
        dvc = None if module or script else _dvc_entry(args, environment)
        if module is None and script is None and dvc is None:
            return None
        if executable is not None or preexec_fn is not None or pass_fds or gid is not None or gids is not None:
            return None
        if uid is not None or process_group not in (None, -1) or _server_path() is None:
            return None
        arguments = args[1:] if dvc else args[3 if module else 2 :]
        if _needs_fresh(arguments, environment, fds):
            return None
        if umask is None or umask < 0:
            umask = _current_umask()
        process = {"cwd": os.path.abspath(cwd if cwd is not None else os.getcwd()), "env": environment, "umask": umask}
        if dvc:  # DVC's console script: its main() as the script would call it
            return {"entry": "dvc.cli:main", "module": None, "script": None, "argv": [dvc, *arguments], **process}
        argv = [str(Path(script).resolve()) if script else "kobench.cli", *arguments]
        return {"module": module, "script": script and str(Path(script).resolve()), "argv": argv, **process}

    def _read_line(self, connection: socket.socket, timeout: float | None) -> str | None:
        """The next line the waiter sent, or None if none within ``timeout`` (0: do not wait)."""
        buffer = self._buffer
        while b"\n" not in buffer:
            if timeout is not None and not select.select([connection], [], [], timeout)[0]:
                self._buffer = buffer
                return None
            part = connection.recv(4096)
            if not part:
                raise OSError(errno.ECONNRESET, "the fork server's waiter went away")
            buffer += part
        line, self._buffer = buffer.split(b"\n", 1)
        return line.decode()

    def _status(self, timeout: float | None) -> int | None:
        line = self._read_line(self._connection, timeout)
        if line is None:
            return None
        self._connection.close()
        return int(line)

    def _try_wait(self, wait_flags: int) -> tuple[int, int]:
        if not self._forked:
            return super()._try_wait(wait_flags)
        status = self._status(0 if wait_flags & os.WNOHANG else None)
        return (0, 0) if status is None else (self.pid, status)

    def _internal_poll(self, _deadstate=None, **kwargs):  # noqa: ANN001, ANN003, ANN202
        if not self._forked:
            return super()._internal_poll(_deadstate, **kwargs)
        if self.returncode is None and self._waitpid_lock.acquire(False):
            try:
                if self.returncode is None:
                    status = self._status(0)
                    if status is not None:
                        self._handle_exitstatus(status)
            except OSError:
                if _deadstate is not None:
                    self.returncode = _deadstate
            finally:
                self._waitpid_lock.release()
        return self.returncode


def shim_directory() -> str | None:
    """A folder with an executable `kobench` that runs the real one through this process's fork server, for
    commands that other programs start from PATH (DVC's stages); None where the server is not used."""
    if not _enabled() or _server_path() is None:
        return None
    folder = Path(_server["path"]).parent / "bin"
    if not folder.is_dir():
        real = Path(sys.executable).parent / "kobench"
        folder.mkdir()
        shim = folder / "kobench"
        shim.write_text(f"#!{sys.executable} -S\nimport sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\n"
                        f"import fork_server\nfork_server.shim({str(real)!r}, {str(folder.parent)!r})\n",
                        encoding="utf-8")  # fmt: skip
        shim.chmod(0o755)
    return str(folder)


def shim(real: str, server: str) -> None:
    """The `kobench` stand-in: run ``real`` (the console script) forked from the server, relay signals to it and
    exit as it did; exec ``real`` itself wherever `ForkServerPopen` would start a fresh interpreter."""
    import signal

    argv = [real, *sys.argv[1:]]
    _server.update(json.loads(Path(server, "server.json").read_text(encoding="utf-8")), path=str(Path(server, "socket")))
    environment = dict(os.environ)
    if _needs_fresh(argv[1:], environment, [0, 1, 2]):
        os.execv(real, argv)
    request = {"entry": "kobench.cli:main", "module": None, "script": None, "argv": argv, "cwd": os.getcwd(),
               "env": environment, "umask": _current_umask(), "new_session": False}  # fmt: skip
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(_server["path"])
    except OSError:
        os.execv(real, argv)
    _send(connection, request, [0, 1, 2])
    lines = connection.makefile("rb")
    pid = int(lines.readline())
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda received, _frame: os.kill(pid, received))
    code = os.waitstatus_to_exitcode(int(lines.readline()))
    if code < 0:  # ended by a signal: so does the stand-in
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    sys.exit(code)


def install() -> None:
    """Route this process's matching `subprocess.Popen` calls (and so `subprocess.run`) through the fork server."""
    subprocess.Popen = ForkServerPopen  # type: ignore[misc]


if __name__ == "__main__":
    serve(sys.argv[1])
