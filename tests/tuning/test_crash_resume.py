"""A `kobench tune` killed mid-trial (SIGKILL), then re-run: real Optuna, real MLflow, real processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml

from kobench.data.prepare import prepare_task
from kobench.tasks import get_task
from kobench.tuning.study import claimed_trials
from synthetic import write_raw

ROOT = Path(__file__).resolve().parents[2]
STUDY = "nsmc-tiny"
TUNE = ["-m", "kobench.cli", "tune", "--task", "nsmc", "--model", "models/tiny", "--max-seq-len", "32"]
HEARTBEAT = 1
State = optuna.trial.TrialState

pytestmark = pytest.mark.slow


def _project(root: Path, tiny: Path, tune: dict) -> Path:
    """A project directory: synthetic nsmc prepared, the tiny model, a params.yaml."""
    root.mkdir(parents=True, exist_ok=True)
    write_raw("nsmc", root / "data" / "raw" / "nsmc", n=60)
    # what `kobench prepare nsmc` does, in this process: one interpreter start fewer
    prepare_task(get_task("nsmc"), root / "data" / "raw" / "nsmc", root / "data" / "prepared" / "nsmc")
    shutil.copytree(tiny, root / "models" / "tiny")
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["tune"].update(tune)
    params["train"]["batch_size"] = 16
    params["data"]["max_train_samples"] = None
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    return root


def _env(root: Path) -> dict[str, str]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root}/mlflow.db"}
    env.pop("KOBENCH_OPTUNA_STORAGE", None)
    return env


def _trials(storage: optuna.storages.RDBStorage | None, root: Path):
    """The study's trials, or [] while the worker has not created the study yet."""
    if not (root / "optuna.db").exists():
        return storage, []
    if storage is None:
        import sqlite3

        with sqlite3.connect(root / "optuna.db", timeout=30) as db:
            try:
                if not db.execute("select 1 from studies where study_name = ?", (STUDY,)).fetchone():
                    return None, []
            except sqlite3.OperationalError:  # tables not created yet
                return None, []
        engine_kwargs = {"connect_args": {"timeout": 30}}
        storage = optuna.storages.RDBStorage(f"sqlite:///{root}/optuna.db", engine_kwargs=engine_kwargs)
    study_id = storage.get_study_id_from_name(STUDY)
    return storage, storage.get_all_trials(study_id, deepcopy=False)


def _kill_during_trial_1(proc: subprocess.Popen, root: Path, log: Path) -> None:
    """SIGKILL the worker as soon as trial 1 is RUNNING (and linked to its MLflow run), trial 0 COMPLETE."""
    storage, deadline = None, time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"tune exited ({proc.returncode}) before trial 1 ran:\n{log.read_text()[-4000:]}")
        storage, trials = _trials(storage, root)
        by_number = {t.number: t for t in trials}
        one = by_number.get(1)
        if one is not None and one.state == State.RUNNING and "mlflow_run_id" in one.user_attrs:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            return
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"trial 1 never started:\n{log.read_text()[-4000:]}")


def test_a_killed_tune_resumes_to_its_budget(tmp_path: Path, tiny_models) -> None:
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    root = _project(tmp_path / "project", tiny_models("bert"), {
        "n_trials": 3, "heartbeat_seconds": HEARTBEAT, "storage": f"sqlite:///{tmp_path}/project/optuna.db",
        "search_space": {"lr": {"low": 5e-4, "high": 3e-3}, "epochs": {"low": 1, "high": 2}},
    })
    storage_url = f"sqlite:///{root}/optuna.db"
    log = tmp_path / "first.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, *TUNE], cwd=root, env=_env(root), stdout=out,
                                stderr=subprocess.STDOUT)
        try:
            _kill_during_trial_1(proc, root, log)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == -signal.SIGKILL

    # What the kill left behind: trial 1 and its MLflow run still RUNNING, nobody to end them.
    before = {t.number: t for t in optuna.load_study(study_name=STUDY, storage=storage_url).trials}
    assert before[0].state == State.COMPLETE and before[0].value == before[0].user_attrs["validation"]["accuracy"]
    assert before[1].state == State.RUNNING
    killed_run = before[1].user_attrs["mlflow_run_id"]
    client = MlflowClient(tracking_uri=f"sqlite:///{root}/mlflow.db")
    assert client.get_run(killed_run).info.status == "RUNNING"

    # re-run at once, well inside the heartbeat's grace period: the dead owner is recognised from its pid
    second = subprocess.run([sys.executable, *TUNE], cwd=root, env=_env(root), capture_output=True, text=True,
                            timeout=300, check=False)
    assert second.returncode == 0, f"{second.stdout}\n{second.stderr[-4000:]}"

    study = optuna.load_study(study_name=STUDY, storage=storage_url)
    after = {t.number: t for t in study.trials}
    states = {n: t.state.name for n, t in after.items()}
    assert claimed_trials(study) == 3, states
    assert after[0].state == State.COMPLETE and after[0].value == before[0].value
    assert after[1].state == State.FAIL, states
    assert after[1].user_attrs["failure"] == f"owner process {after[1].user_attrs['owner']['pid']} died"
    assert not [n for n, t in after.items() if t.state in (State.RUNNING, State.WAITING)], states
    assert len(after) == 4 and all(after[n].state != State.FAIL for n in (2, 3)), states  # the full budget

    run = client.get_run(killed_run)
    assert run.info.run_name == "trial-1" and run.data.tags["kobench.kind"] == "trial"
    assert run.info.status == "FAILED" and "process died" in run.data.tags["kobench.failure"]
    parent = client.get_run(run.data.tags["mlflow.parentRunId"])
    assert parent.data.tags["kobench.study"] == STUDY and parent.info.status == "FINISHED"
    experiments = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    everything = client.search_runs(experiments, run_view_type=ViewType.ALL, max_results=1000)
    assert [r.info.run_name for r in everything if r.info.status == "RUNNING"] == []
    # every trial of the study has exactly one MLflow run, and no other trial run exists
    trial_runs = [r for r in everything if r.data.tags.get("kobench.kind") == "trial"]
    linked = [t.user_attrs["mlflow_run_id"] for t in study.trials]
    assert sorted(r.info.run_id for r in trial_runs) == sorted(linked)

    champion = client.get_model_version_by_alias("kobench-nsmc-tiny", "champion")
    finals = {r.info.run_id for r in everything if r.data.tags.get("kobench.kind") == "final"}
    assert champion.run_id in finals
    metrics = json.loads((root / "metrics" / "nsmc" / "tiny.study.json").read_text(encoding="utf-8"))
    assert metrics["status"] == "complete" and metrics["registered_model"] == "kobench-nsmc-tiny"
    assert metrics["run_ids"]["study"] == parent.info.run_id
