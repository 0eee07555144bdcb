"""The stop-signal mechanism itself, with real signals: the first is recorded and raised at the next safe point;
a second one ends the process at once."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

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


def test_sigterm_during_report_is_acted_on_at_once_leaving_no_partial_output(tmp_path: Path) -> None:
    import signal

    from kobench.names import metrics_file
    from kobench.records import StudyResult, write_study

    result = StudyResult("complete", "nsmc", "mine", "org/mine", None, "small", "nsmc-mine", "accuracy",
                         run_ids={"study": "p"}, trials={"complete": 1}, test={"accuracy": 0.91}, protocol="validation")
    write_study(metrics_file(tmp_path / "metrics", "nsmc", "mine"), result)
    (tmp_path / "params.yaml").write_text(
        "run: {tasks: [nsmc, korsts, question-pair, hate-speech], models: [mine]}\n"
        f"models: {{mine: {{id: org/mine, size: small}}}}\ntracking: {{mlflow_uri: 'sqlite:///{tmp_path}/mlflow.db'}}\n",
        encoding="utf-8",
    )
    process = subprocess.Popen([sys.executable, "-m", "kobench.cli", "report"], cwd=tmp_path, stderr=subprocess.PIPE,
                               text=True)
    while not (tmp_path / "reports" / "plots").exists() and process.poll() is None:
        time.sleep(0.05)  # the report has started writing
    process.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    line = process.stderr.readline()
    acted = time.monotonic() - sent
    process.wait(timeout=60)
    assert process.returncode == 143 and line.strip() == "interrupted (SIGTERM)"
    assert acted < 1.5, f"the report went on for {acted:.1f} s after SIGTERM"  # was 4-14 s: after the whole report
    written = sorted(p.name for p in (tmp_path / "reports").rglob("*") if p.is_file())
    assert "results.md" not in written and not [n for n in written if n.startswith(".")], written  # no partial file
    assert not (tmp_path / "mlflow.db").exists()  # reading champions created no store
