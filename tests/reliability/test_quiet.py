"""Third-party log lines and warnings (alembic INFO, MLflow's store set-up, Optuna's ExperimentalWarning) stay off
the terminal unless `kobench --verbose`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna

from kobench.names import metrics_file
from kobench.records import StudyResult, write_study
from kobench.tuning.tracking import Tracker


def _kobench(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("KOBENCH_VERBOSE", "MLFLOW_LOGGING_LEVEL")}
    return subprocess.run([sys.executable, "-m", "kobench.cli", *args], cwd=project, capture_output=True, text=True,
                          env=env, timeout=300)


def _project(root: Path) -> Path:
    """Stores that exist (so MLflow and Optuna open them through alembic) and a study with trials to plot."""
    study = optuna.create_study(study_name="nsmc-mine", storage=f"sqlite:///{root}/optuna.db", direction="maximize")
    study.optimize(lambda t: t.suggest_float("lr", 1e-5, 1e-3, log=True) * 100, n_trials=3)
    Tracker(f"sqlite:///{root}/mlflow.db", "kobench").study_run("nsmc-mine", {})
    result = StudyResult("complete", "nsmc", "mine", "org/mine", None, "small", "nsmc-mine", "accuracy",
                         run_ids={"study": "p"}, trials={"complete": 3}, test={"accuracy": 0.91}, protocol="validation")
    write_study(metrics_file(root / "metrics", "nsmc", "mine"), result)
    (root / "params.yaml").write_text(
        "run: {tasks: [nsmc], models: [mine]}\nmodels: {mine: {id: org/mine, size: small}}\n"
        f"tune: {{storage: 'sqlite:///{root}/optuna.db'}}\ntracking: {{mlflow_uri: 'sqlite:///{root}/mlflow.db'}}\n",
        encoding="utf-8",
    )
    return root


def test_doctor_and_report_print_only_their_own_lines(tmp_path: Path) -> None:
    project = _project(tmp_path)
    doctor = _kobench(project, "doctor")
    assert doctor.stderr == "" and "MLflow store    ok" in doctor.stdout, doctor.stderr
    report = _kobench(project, "report")
    assert report.returncode == 0, report.stderr
    assert "ExperimentalWarning" not in report.stderr and "INFO" not in report.stderr, report.stderr
    assert (project / "reports" / "plots" / "nsmc-mine-history.png").exists()  # the Optuna plots were drawn

    # what the default hides
    assert "ExperimentalWarning" in _kobench(project, "--verbose", "report").stderr
    assert "INFO alembic" in _kobench(project, "--verbose", "doctor").stderr
