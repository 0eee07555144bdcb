"""`kobench train` is one MLflow run: FINISHED with everything a trial logs plus test metrics and a model,
FAILED with its reason, KILLED on Ctrl-C; `--register` registers it, `--no-track` logs nothing."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kobench.cli import app


@pytest.fixture
def project(cli_project: dict) -> dict:
    from mlflow.tracking import MlflowClient

    root, model = cli_project["root"], cli_project["model"]
    return {"root": root, "model": model, "client": lambda: MlflowClient(f"sqlite:///{root}/mlflow.db"),
            "args": ["train", "--task", "nsmc", "--model", model, "--epochs", "2", "--lr", "1e-3", "--max-seq-len", "32"]}


def _runs(client) -> list:  # noqa: ANN001
    experiment = client.get_experiment_by_name("kobench")
    return client.search_runs([experiment.experiment_id]) if experiment else []


def test_a_train_run_is_tracked_and_registered(project: dict) -> None:
    import mlflow

    out = CliRunner().invoke(app, [*project["args"], "--run-name", "r1", "--register"])
    assert out.exit_code == 0, out.output
    client = project["client"]()
    [run] = _runs(client)
    assert run.info.status == "FINISHED" and run.info.run_name == "r1" and run.data.tags["kobench.kind"] == "train"
    assert json.loads(out.stdout[out.stdout.index("{"):])["mlflow_run_id"] == run.info.run_id
    assert {"lr", "epochs", "batch_size", "seed", "model_id", "task"} <= set(run.data.params)
    assert run.data.tags["kobench.task"] == "nsmc" and len(run.data.tags["kobench.prepared_digest"]) == 64
    history = client.get_metric_history(run.info.run_id, "validation_accuracy")
    assert [m.step for m in history] == [2, 4]  # batch 32: two steps an epoch
    saved = json.loads((project["root"] / "outputs" / "nsmc" / "bert" / "r1" / "metrics.json").read_text())
    assert run.data.metrics["test_accuracy"] == saved["test"]["accuracy"]
    contexts = sorted(t.value for i in run.inputs.dataset_inputs for t in i.tags if t.key == "mlflow.data.context")
    assert contexts == ["test", "train", "validation"]
    version = client.get_model_version_by_alias("kobench-nsmc-bert", "champion")
    assert version.run_id == run.info.run_id and "test accuracy" in version.description
    mlflow.set_tracking_uri(f"sqlite:///{project['root']}/mlflow.db")
    assert len(mlflow.pyfunc.load_model("models:/kobench-nsmc-bert@champion").predict(
        __import__("pandas").DataFrame({"text": ["좋다", "별로"]}))) == 2


def test_a_failing_train_run_ends_failed_with_its_reason(project: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    def out_of_memory(self, batch):  # noqa: ANN001, ANN202
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr("kobench.engine.training._TrainLoop._step", out_of_memory)
    out = CliRunner().invoke(app, project["args"])
    assert out.exit_code != 0 and "CUDA out of memory" in str(out.exception)
    [run] = _runs(project["client"]())
    assert run.info.status == "FAILED"
    assert run.data.tags["kobench.failure"] == "RuntimeError: CUDA out of memory (simulated)"


def test_no_track_logs_nothing(project: dict) -> None:
    out = CliRunner().invoke(app, [*project["args"], "--no-track"])
    assert out.exit_code == 0, out.output
    printed = json.loads(out.stdout[out.stdout.index("{"):])
    assert not (project["root"] / "mlflow.db").exists() and printed["mlflow_run_id"] is None


def test_ctrl_c_during_training_ends_the_run_killed(project: dict) -> None:
    args = [a if a != "2" else "200" for a in project["args"]]  # long enough to be stopped mid-way
    process = subprocess.Popen([sys.executable, "-m", "kobench.cli", "--quiet", *args], cwd=project["root"],
                               env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not _metric_logged(project["root"] / "mlflow.db"):  # training has evaluated at least once
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()[1][-3000:]
            time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err[-3000:]
    assert err.strip().endswith("interrupted (SIGINT)")
    [run] = _runs(project["client"]())
    assert run.info.status == "KILLED"
    assert not list((project["root"] / "outputs").rglob("metrics.json"))  # the run's seal was never written


def _metric_logged(db: Path) -> bool:
    try:
        with sqlite3.connect(db, timeout=5) as connection:
            query = "select count(*) from metrics where key = 'validation_accuracy'"
            return connection.execute(query).fetchone()[0] > 0
    except sqlite3.OperationalError:
        return False
