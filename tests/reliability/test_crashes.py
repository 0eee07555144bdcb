"""Crashes: SIGKILL during training and during report writing; re-runs complete, no file is left truncated."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from kobench.names import metrics_file
from kobench.records import StudyResult, write_study
from synthetic import write_raw


def _start(project: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "kobench.cli", *args], cwd=project, env=os.environ.copy(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for(process: subprocess.Popen, text: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    for line in process.stdout:
        if text in line or time.monotonic() > deadline:
            return


def test_sigkill_during_training_then_rerun_completes(tmp_path: Path, tiny_models) -> None:  # noqa: ANN001
    from kobench.data.prepare import prepare_task
    from kobench.tasks import get_task

    write_raw("nsmc", tmp_path / "data" / "raw" / "nsmc", n=200)  # prepared in this process: one start fewer
    prepare_task(get_task("nsmc"), tmp_path / "data" / "raw" / "nsmc", tmp_path / "data" / "prepared" / "nsmc")
    args = ("train", "--no-track", "--task", "nsmc", "--model", str(tiny_models("bert")), "--lr", "1e-3", "--run-name", "r1",
            "--max-seq-len", "32", "--epochs")
    process = _start(tmp_path, *args, "40")
    _wait_for(process, "step ")  # the first evaluation happened: mid-training
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    run_dir = tmp_path / "outputs" / "nsmc" / "bert" / "r1"
    assert not (run_dir / "metrics.json").exists()  # metrics.json is the run's seal, written last
    done = subprocess.run([sys.executable, "-m", "kobench.cli", *args, "2"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert len(metrics["history"]) == 2 and (run_dir / "checkpoint" / "model.safetensors").exists()


def _metrics(project: Path) -> None:
    result = StudyResult("complete", "nsmc", "mine", "org/mine", None, "small", "nsmc-mine", "accuracy",
                         run_ids={"study": "p"}, trials={"complete": 1}, test={"accuracy": 0.91}, protocol="validation")
    write_study(metrics_file(project / "metrics", "nsmc", "mine"), result)
    (project / "params.yaml").write_text(
        "run: {tasks: [nsmc], models: [mine]}\nmodels: {mine: {id: org/mine, size: small}}\n"
        f"tracking: {{mlflow_uri: 'sqlite:///{project}/mlflow.db'}}\n", encoding="utf-8"
    )


def _complete_or_absent(reports: Path) -> None:
    if (reports / "results.json").exists():
        assert json.loads((reports / "results.json").read_text())["nsmc"]["mine"] == {"accuracy": 91.0}
    if (reports / "results.md").exists():
        assert (reports / "results.md").read_text().rstrip().endswith(")")  # the plots section closes it
    if (reports / "index.html").exists():
        assert (reports / "index.html").read_text().endswith("</html>\n")


def test_sigkill_during_report_writing_never_truncates(tmp_path: Path) -> None:
    _metrics(tmp_path)
    for delay in (2.0, 3.0, 4.0, 5.0):
        process = _start(tmp_path, "report")
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        _complete_or_absent(tmp_path / "reports")
    done = subprocess.run([sys.executable, "-m", "kobench.cli", "report"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    _complete_or_absent(tmp_path / "reports")
    assert (tmp_path / "reports" / "results.json").exists()
