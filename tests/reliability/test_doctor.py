"""`kobench doctor` finds what a killed process left behind, exits 1, and `--fix` repairs it."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from kobench.cli import app
from kobench.tuning.tracking import Tracker


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_doctor_finds_dead_owners_and_fix_repairs_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(
        f"tune: {{storage: 'sqlite:///{tmp_path}/optuna.db'}}\ntracking: {{mlflow_uri: 'sqlite:///{tmp_path}/mlflow.db'}}\n",
        encoding="utf-8",
    )
    dead = _dead_pid()
    study = optuna.create_study(study_name="nsmc-tiny", storage=f"sqlite:///{tmp_path}/optuna.db")
    trial = study.ask()  # RUNNING, owned by a process that no longer exists
    trial.set_user_attr("owner", {"host": socket.gethostname(), "pid": dead})
    tracker = Tracker(f"sqlite:///{tmp_path}/mlflow.db", "kobench")
    run_id = tracker.start("trial-0", "trial", {}, {})
    tracker.set_tags(run_id, {"kobench.owner": f"{socket.gethostname()}:{dead}"})

    first = CliRunner().invoke(app, ["doctor"])
    assert first.exit_code == 1, first.output
    assert "nsmc-tiny: RUNNING trial(s) [0] whose owner process is gone (--fix)" in first.output
    assert "1 RUNNING run(s) whose owner process is gone: trial-0 (--fix)" in first.output
    stored = optuna.load_study(study_name="nsmc-tiny", storage=f"sqlite:///{tmp_path}/optuna.db")
    assert stored.trials[0].state.name == "RUNNING"  # a check changes nothing

    fixed = CliRunner().invoke(app, ["doctor", "--fix"])
    assert fixed.exit_code == 0, fixed.output
    assert "fixed" in fixed.output
    trial = optuna.load_study(study_name="nsmc-tiny", storage=f"sqlite:///{tmp_path}/optuna.db").trials[0]
    assert trial.state.name == "FAIL" and trial.user_attrs["failure"] == f"owner process {dead} died"
    assert tracker.client.get_run(run_id).info.status == "FAILED"
    again = CliRunner().invoke(app, ["doctor"])
    assert again.exit_code == 0 and "PROBLEM" not in again.output
    for check in ("params", "Optuna storage", "MLflow store", "cache", "devices"):
        assert any(line.startswith(check) for line in again.output.splitlines()), again.output


def test_doctor_names_a_damaged_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("run: {tasks: [], models: []}\n", encoding="utf-8")
    (tmp_path / "optuna.db").write_bytes(b"not a database, only some bytes where one should be" * 4)
    out = CliRunner().invoke(app, ["doctor"])
    assert out.exit_code == 1 and "Optuna storage  PROBLEM  Optuna storage optuna.db: not a SQLite database" in out.output


def test_doctor_outside_a_project_says_so_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(app, ["doctor"])
    assert out.exit_code == 1
    assert out.output.strip().splitlines() == [
        "params  PROBLEM  params.yaml: not found (run from the project root or pass --params)"
    ]
    assert list(tmp_path.iterdir()) == []  # no store created by looking
