"""Two studies tuned by two simultaneous `kobench tune` processes sharing ONE mlflow.db and ONE optuna.db.

This is what `dvc queue start -j 2` does with the default stores (sqlite files in the project directory).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml

from kobench.data.prepare import prepare_task
from kobench.tasks import get_task
from synthetic import write_raw

ROOT = Path(__file__).resolve().parents[2]
TASKS = ("nsmc", "korsts")
N_TRIALS = 2
State = optuna.trial.TrialState

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    """The hermetic test environment with the default stores: no tracking URI, no storage override."""
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("KOBENCH_OPTUNA_STORAGE", None)
    return env


def _project(root: Path, tiny: Path) -> Path:
    root.mkdir(parents=True)
    for task in TASKS:
        write_raw(task, root / "data" / "raw" / task, n=60)
        # what `kobench prepare TASK` does, in this process: one interpreter start fewer
        prepare_task(get_task(task), root / "data" / "raw" / task, root / "data" / "prepared" / task)
    shutil.copytree(tiny, root / "models" / "tiny")
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["tune"].update(n_trials=N_TRIALS, heartbeat_seconds=1, storage="sqlite:///optuna.db",
                          search_space={"lr": {"low": 5e-4, "high": 3e-3}, "epochs": {"low": 1, "high": 2}})
    params["train"]["batch_size"] = 16
    params["data"]["max_train_samples"] = None
    params["tracking"]["mlflow_uri"] = None
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    return root


def test_two_studies_at_once_share_the_local_sqlite_stores(tmp_path: Path, tiny_models) -> None:
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    root = _project(tmp_path / "project", tiny_models("bert"))
    assert not (root / "mlflow.db").exists() and not (root / "optuna.db").exists()  # both workers create them
    logs = {task: tmp_path / f"{task}.log" for task in TASKS}
    procs = {}
    for task in TASKS:
        with logs[task].open("w") as out:
            procs[task] = subprocess.Popen(
                [sys.executable, "-m", "kobench.cli", "tune", "--task", task, "--model", "models/tiny",
                 "--max-seq-len", "32"], cwd=root, env=_env(), stdout=out, stderr=subprocess.STDOUT,
            )
    try:
        codes = {task: proc.wait(timeout=400) for task, proc in procs.items()}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    outputs = {task: log.read_text(encoding="utf-8", errors="replace") for task, log in logs.items()}
    for task in TASKS:
        assert codes[task] == 0, f"{task} exited {codes[task]}:\n{outputs[task][-4000:]}"
        assert "database is locked" not in outputs[task], outputs[task][-4000:]
        assert f"-> kobench-{task}-tiny v1" in outputs[task]
    assert (root / "mlflow.db").exists() and (root / "optuna.db").exists()

    storage = f"sqlite:///{root}/optuna.db"
    client = MlflowClient(tracking_uri=f"sqlite:///{root}/mlflow.db")
    experiments = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    assert len(experiments) == 2  # Default + kobench, created once although both workers raced for it
    runs = client.search_runs(experiments, run_view_type=ViewType.ALL, max_results=1000)
    assert [(r.info.run_name, r.info.status) for r in runs if r.info.status == "RUNNING"] == []
    trial_runs = [r for r in runs if r.data.tags.get("kobench.kind") == "trial"]
    for task in TASKS:
        name = f"{task}-tiny"
        study = optuna.load_study(study_name=name, storage=storage)
        assert len(study.trials) == N_TRIALS
        assert all(t.state in (State.COMPLETE, State.PRUNED) for t in study.trials)
        parents = [r for r in runs if r.data.tags.get("kobench.kind") == "study"
                   and r.data.tags["kobench.study"] == name]
        assert len(parents) == 1 and parents[0].info.status == "FINISHED"
        mine = [r for r in trial_runs if r.data.tags["kobench.study"] == name]
        linked = [t.user_attrs["mlflow_run_id"] for t in study.trials]
        assert sorted(r.info.run_id for r in mine) == sorted(linked)
        assert sorted(r.info.run_name for r in mine) == [f"trial-{n}" for n in range(N_TRIALS)]
        assert {r.data.tags["mlflow.parentRunId"] for r in mine} == {parents[0].info.run_id}
        champion = client.get_model_version_by_alias(f"kobench-{name}", "champion")
        metrics = json.loads((root / "metrics" / task / "tiny.study.json").read_text(encoding="utf-8"))
        assert metrics["status"] == "complete" and champion.tags["main_metric"] == metrics["main_metric"]
    assert len(trial_runs) == N_TRIALS * len(TASKS)
