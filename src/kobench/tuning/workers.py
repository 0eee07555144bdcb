"""``kobench tune --workers N``: N worker processes on one study, drawing from one budget.

The coordinating process creates the study and its parent run, starts the workers (each ``kobench tune ...
--worker``: trials only), waits, then tests and registers the best trial once. Workers run in sessions of their
own, so a terminal's Ctrl-C reaches only the coordinator, which passes one SIGTERM to each: every worker fails
its running trial ("interrupted", MLflow KILLED) and exits. A worker whose coordinator dies sends itself SIGTERM
within a second (``watch_starter``: a thread in the worker, not a ``preexec_fn``, which can deadlock a child
forked from a process with threads, as the coordinator's heartbeat and MLflow threads are).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from kobench.errors import ConfigError
from kobench.interrupts import Interrupted, process_alive
from kobench.interrupts import check as check_interrupted

STARTER_VARIABLE = "KOBENCH_STARTED_BY"  # the process id of the process that started this one
# torch threads of a process started by another: N processes of torch's default (a thread per core each) would
# oversubscribe the cores
THREADS_VARIABLE = "KOBENCH_TORCH_THREADS"


def worker_command(argv: list[str]) -> list[str]:
    """The command of one worker: this invocation's arguments without ``--workers``, with ``--worker``.

    >>> worker_command(["--quiet", "tune", "--task", "nsmc", "--workers", "4", "--model", "m"])[-7:]
    ['--quiet', 'tune', '--task', 'nsmc', '--model', 'm', '--worker']
    """
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--workers":
            skip = True
        elif not arg.startswith("--workers="):
            kept.append(arg)
    return [sys.executable, "-m", "kobench.cli", *kept, "--worker"]


def watch_starter(poll: float = 1.0) -> None:
    """In a process that ``run_processes`` started: SIGTERM to itself once its starter is gone (nothing otherwise).

    The SIGTERM is handled as any other: the running trial fails ``interrupted``, its MLflow run ends KILLED.

    Raises:
        ConfigError: ``KOBENCH_STARTED_BY`` set to anything but a whole number >= 1.
    """
    pid = _whole_number(STARTER_VARIABLE)
    if pid is None:
        return

    def watch() -> None:
        while process_alive(pid):
            time.sleep(poll)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="kobench-starter-watch", daemon=True).start()


def shared_threads(count: int) -> int:
    """Torch threads for each of ``count`` processes this one starts: its own share, at least one.

    Its share is what its own starter gave it, else the cores it may use.

    >>> shared_threads(len(os.sched_getaffinity(0)) * 2) if THREADS_VARIABLE not in os.environ else 1
    1
    """
    given = _whole_number(THREADS_VARIABLE)
    return max(1, (given or len(os.sched_getaffinity(0))) // count)


def use_shared_threads() -> None:
    """Take the torch thread count the starting process chose (nothing for a process started by hand).

    Raises:
        ConfigError: ``KOBENCH_TORCH_THREADS`` set to anything but a whole number >= 1.
    """
    threads = _whole_number(THREADS_VARIABLE)
    if threads:
        import torch

        torch.set_num_threads(threads)


def _whole_number(variable: str) -> int | None:
    """The environment variable as a whole number >= 1; None when unset or empty."""
    value = os.environ.get(variable, "")
    if not value:
        return None
    if not value.isdecimal() or int(value) < 1:
        raise ConfigError(f"{variable}={value!r}: not a whole number >= 1 (kobench sets it for the processes it starts)")
    return int(value)


def run_workers(command: list[str], count: int, *, grace: float = 60.0) -> list[int]:
    """Run ``count`` copies of ``command`` to the end, the cores shared among them; return their exit codes.

    Raises:
        Interrupted: after every worker has been stopped (SIGTERM, SIGKILL after ``grace`` seconds).
    """
    threads = shared_threads(count)
    print(f"{count} workers started for one study, {threads} torch thread(s) each", file=sys.stderr, flush=True)
    return run_processes([command] * count, count, grace=grace)


def run_processes(
    commands: list[list[str]], parallel: int, *, grace: float = 60.0, on_exit: Callable[[int, int], None] | None = None
) -> list[int]:
    """Run ``commands``, at most ``parallel`` at once, in list order; return their exit codes in that order.

    Each gets ``parallel``'s share of this process's threads (``shared_threads``).

    ``on_exit(index, code)`` is called as each one ends.

    Raises:
        Interrupted: after every running process has been stopped (SIGTERM, SIGKILL after ``grace`` seconds).
    """
    codes: list[int | None] = [None] * len(commands)
    env = {**os.environ, THREADS_VARIABLE: str(shared_threads(parallel)), STARTER_VARIABLE: str(os.getpid())}
    running: dict[int, subprocess.Popen] = {}
    waiting = list(range(len(commands)))
    try:
        while waiting or running:
            check_interrupted()
            while waiting and len(running) < parallel:
                index = waiting.pop(0)
                # a session of its own: a terminal's Ctrl-C reaches only this process, which passes it on once
                running[index] = subprocess.Popen(commands[index], start_new_session=True, env=env)
            for index, process in list(running.items()):
                if process.poll() is not None:
                    codes[index] = process.returncode
                    del running[index]
                    if on_exit is not None:
                        on_exit(index, process.returncode)
            time.sleep(0.2)
    except Interrupted:
        stop(list(running.values()), grace)
        raise
    return [code if code is not None else -1 for code in codes]


def stop(workers: list[subprocess.Popen], grace: float) -> None:
    """One SIGTERM to each live worker; SIGKILL for those still alive after ``grace`` seconds."""
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for worker in workers:
        try:
            worker.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
