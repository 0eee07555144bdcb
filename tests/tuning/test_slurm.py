"""`kobench slurm --submit` on a real single-node Slurm cluster: a 2-task array on one study of the tiny model.

The cluster (munged, slurmctld, slurmd) runs from a temporary directory for this module; the test skips, saying
why, where Slurm is not installed or cannot start (.ci/run installs it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import yaml

from kobench.tuning.study import claimed_trials
from slurm_cluster import throwaway_slurm, wait_for_job
from synthetic import write_raw

ROOT = Path(__file__).resolve().parents[2]
STUDY = "nsmc-tiny"
State = optuna.trial.TrialState

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster() -> Iterator[dict[str, str]]:
    with throwaway_slurm() as env:
        yield env


def _project(root: Path, tiny: Path, n_trials: int, epochs: tuple[int, int]) -> tuple[Path, dict[str, str]]:
    from kobench.data.prepare import prepare_task
    from kobench.tasks import get_task

    root.mkdir(parents=True)
    raw = write_raw("nsmc", root / "data" / "raw" / "nsmc", n=60)
    prepare_task(get_task("nsmc"), raw, root / "data" / "prepared" / "nsmc")
    shutil.copytree(tiny, root / "models" / "tiny")
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    # heartbeats every 10 s: the tasks share a host, where a dead owner is seen at once (its pid); a 1 s heartbeat
    # can go stale on a loaded machine and fail a live trial
    params["tune"].update(n_trials=n_trials, heartbeat_seconds=10, storage="sqlite:///optuna.db",
                          search_space={"lr": {"low": 5e-4, "high": 3e-3}, "epochs": {"low": epochs[0], "high": epochs[1]}})
    params["train"]["batch_size"] = 16
    params["data"]["max_train_samples"] = None
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root}/mlflow.db", "KOBENCH_CACHE": str(root / "cache"),
           "OMP_NUM_THREADS": "1"}  # fmt: skip
    env.pop("KOBENCH_OPTUNA_STORAGE", None)
    return root, env


def _submit(root: Path, env: dict[str, str], cluster: dict[str, str], *extra: str) -> str:
    command = [sys.executable, "-m", "kobench.cli", "slurm", "--task", "nsmc", "--model", "models/tiny", "--workers", "2",
               "--nodelist", cluster["node"], "--cpus-per-task", "1", "--time", "15:00", "--max-seq-len", "32",
               *extra, "--submit"]  # fmt: skip
    done = subprocess.run(command, cwd=root, env={**env, "SLURM_CONF": cluster["SLURM_CONF"]}, capture_output=True,
                          text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    found = re.search(r"submitted job (\d+)", done.stdout)
    assert found, done.stdout
    return found.group(1)


def _logs(root: Path, job: str) -> str:
    return "\n".join(f"--- {p.name}:\n{p.read_text(errors='replace')[-4000:]}"
                     for p in sorted((root / "slurm" / "logs").glob(f"*-{job}_*.log")))  # fmt: skip


def _runs(root: Path) -> list:
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root}/mlflow.db")
    experiments = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    return client.search_runs(experiments, run_view_type=ViewType.ALL, max_results=1000)


def test_a_two_task_array_trains_the_budget_once_and_registers_one_champion(
    tmp_path: Path, tiny_models, cluster: dict[str, str]  # noqa: ANN001
) -> None:
    from mlflow.tracking import MlflowClient

    root, env = _project(tmp_path / "project", tiny_models("bert"), n_trials=4, epochs=(1, 2))
    job = _submit(root, env, cluster, "--n-trials", "4")
    tasks = wait_for_job(job, {**env, "SLURM_CONF": cluster["SLURM_CONF"]}, timeout=500)
    logs = _logs(root, job)
    assert tasks == {"0": "COMPLETED 0:0", "1": "COMPLETED 0:0"}, f"{tasks}\n{logs}"
    assert (root / "slurm" / "logs" / f"kobench-{STUDY}-{job}_0.log").exists()  # one log per array task (%A_%a)
    assert (root / "slurm" / "logs" / f"kobench-{STUDY}-{job}_1.log").exists()

    study = optuna.load_study(study_name=STUDY, storage=f"sqlite:///{root}/optuna.db")
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3], logs  # exactly the budget
    assert claimed_trials(study) == 4 and all(t.state in (State.COMPLETE, State.PRUNED) for t in study.trials)
    recorded = [t.user_attrs["slurm"] for t in study.trials]
    assert {r["array_job_id"] for r in recorded} == {job}
    assert {r["array_task_id"] for r in recorded} <= {"0", "1"}
    assert all(r["job_id"].isdigit() for r in recorded)
    assert {r["array_task_id"] for r in recorded} == {"0", "1"}, f"both tasks ran trials: {recorded}\n{logs}"

    runs = _runs(root)
    assert [r.info.run_name for r in runs if r.info.status == "RUNNING"] == []
    parents = [r for r in runs if r.data.tags.get("kobench.kind") == "study"]
    assert len(parents) == 1, "the array's tasks share one parent run"
    finals = [r for r in runs if r.data.tags.get("kobench.kind") == "final"]
    assert len(finals) == 1, "task 0 alone tests and registers the best trial"
    by_id = {r.info.run_id: r for r in runs}
    for trial in study.trials:
        tags = by_id[trial.user_attrs["mlflow_run_id"]].data.tags
        assert tags["kobench.slurm_array_job_id"] == job
        assert tags["kobench.slurm_array_task_id"] == trial.user_attrs["slurm"]["array_task_id"]
        assert tags["kobench.slurm_job_id"] == trial.user_attrs["slurm"]["job_id"]
    client = MlflowClient(tracking_uri=f"sqlite:///{root}/mlflow.db")
    champion = client.get_model_version_by_alias("kobench-nsmc-tiny", "champion")
    assert champion.run_id == finals[0].info.run_id
    assert len(client.search_model_versions("name='kobench-nsmc-tiny'")) == 1
    assert (root / "metrics" / "nsmc" / "tiny.json").exists()


def test_scancel_leaves_no_trial_or_run_running(tmp_path: Path, tiny_models, cluster: dict[str, str]) -> None:  # noqa: ANN001
    # every trial trains 200 epochs (about a minute): both are still training when scancel arrives, however the
    # two tasks' starts are staggered on a loaded machine
    root, env = _project(tmp_path / "project", tiny_models("bert"), n_trials=40, epochs=(200, 200))
    slurm_env = {**env, "SLURM_CONF": cluster["SLURM_CONF"]}
    job = _submit(root, env, cluster)
    storage = f"sqlite:///{root}/optuna.db"
    deadline = time.monotonic() + 300
    while True:  # both tasks inside a trial
        running = []
        if (root / "optuna.db").exists():
            try:
                study = optuna.load_study(study_name=STUDY, storage=storage)
                running = study.get_trials(deepcopy=False, states=(State.RUNNING,))
            except KeyError:  # the study is not created yet
                pass
        if len({t.user_attrs.get("slurm", {}).get("array_task_id") for t in running} - {None}) == 2:
            break
        assert time.monotonic() < deadline, f"no two running trials after 300 s\n{_logs(root, job)}"
        time.sleep(1)
    time.sleep(3)  # into training
    stopped = time.monotonic()
    subprocess.run(["scancel", job], env=slurm_env, check=True, timeout=60)
    tasks = wait_for_job(job, slurm_env, timeout=120)
    took = time.monotonic() - stopped
    logs = _logs(root, job)
    assert set(tasks) == {"0", "1"}, tasks
    assert took < 60, f"the tasks took {took:.0f} s to stop\n{logs}"
    for task in ("0", "1"):  # each task failed its trial and ended its runs, then exited on the signal
        log = (root / "slurm" / "logs" / f"kobench-{STUDY}-{job}_{task}.log").read_text(errors="replace")
        assert re.search(r"^trial \d+: interrupted \(SIGTERM\)$", log, re.MULTILINE), logs
        assert log.rstrip().endswith("\ninterrupted (SIGTERM)"), logs

    study = optuna.load_study(study_name=STUDY, storage=storage)
    assert [t.number for t in study.trials if t.state in (State.RUNNING, State.WAITING)] == []
    stopped_trials = [t for t in study.trials if t.user_attrs.get("failure") == "interrupted"]
    assert len(stopped_trials) == 2 and all(t.state == State.FAIL for t in stopped_trials)
    runs = _runs(root)
    assert [r.info.run_name for r in runs if r.info.status == "RUNNING"] == []
    assert [r.info.status for r in runs if r.data.tags.get("kobench.kind") == "study"] == ["KILLED"]
