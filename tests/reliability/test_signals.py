"""The stop-signal mechanism itself, with real signals: the first is recorded and raised at the next safe point;
a second one ends the process at once."""

from __future__ import annotations

import subprocess
import sys
import time

SCRIPT = """
import os, signal, sys, time
from kobench.interrupts import Interrupted, check, stop_on_signals
stop_on_signals()
os.kill(os.getpid(), signal.SIGTERM)
time.sleep(0.2)
print("recorded, not raised", flush=True)  # the handler only records: no exception inside arbitrary code
if sys.argv[1] == "twice":
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(5)
    print("still running", flush=True)
try:
    check()
except Interrupted as stop:
    print(f"raised at the safe point: {stop}", flush=True)
"""


def _run(mode: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=60, check=False)
    return done, time.monotonic() - started


def test_one_signal_is_raised_at_the_next_safe_point() -> None:
    done, _ = _run("once")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["recorded, not raised", "raised at the safe point: SIGTERM"]


def test_a_second_signal_exits_at_once() -> None:
    done, took = _run("twice")
    assert done.returncode == 128 + 2  # the second signal's own code, without cleaning up
    assert done.stdout.splitlines() == ["recorded, not raised"] and took < 4
