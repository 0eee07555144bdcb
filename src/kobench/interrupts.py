"""SIGINT and SIGTERM as an exception: what a terminal, DVC, Kubernetes or Slurm sends ends a run cleanly.

The first signal is recorded, and ``check()`` raises ``Interrupted`` at the next safe point: every training and
evaluation batch, every block of rows read or tokenised, every downloaded chunk, every wait. From there
``finally`` blocks run: the running trial is failed in Optuna ("interrupted"), its MLflow runs end KILLED,
leases and temporary files are released. Raising from the handler itself is not safe: it can land inside a
database transaction (leaving SQLite locked for the clean-up's own writes) or inside a finaliser, where Python
swallows it. A second signal exits at once. The exit code is 128 + the signal number (130 for Ctrl-C, 143 for
SIGTERM).
"""

from __future__ import annotations

import os
import signal
from types import FrameType


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived. A KeyboardInterrupt, so that Optuna fails the running trial and re-raises it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_received: list[int] = []


def _handle(signum: int, _frame: FrameType | None) -> None:
    if _received:  # the second signal: no more cleaning up
        os._exit(128 + signum)
    _received.append(signum)


def stop_on_signals() -> None:
    """Install the handlers (main thread only)."""
    _received.clear()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _handle)


def received() -> int | None:
    """The first stop signal this process received, if any."""
    return _received[0] if _received else None


def check() -> None:
    """Raise ``Interrupted`` if a stop signal arrived (a safe point: no transaction or finaliser is running)."""
    if _received:
        raise Interrupted(_received[0])


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs: a zombie (dead, not yet reaped by its own parent) counts as gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
