"""Two machines' `kobench tune` on ONE study: a shared Optuna storage and a real `mlflow server` (PostgreSQL
backend store, proxied artifacts), each worker in a working folder of its own.

The Optuna storage is each of the ways machines can share one: PostgreSQL itself, `kobench storage-proxy` (Optuna's
gRPC proxy) in front of it, and a journal file in a folder both machines see. The servers are throwaway processes
on 127.0.0.1 in temporary directories; the test skips where PostgreSQL is not installed (CI installs it, see
.ci/run).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml

from http_server import wait_until_up
from kobench.tuning.storages import open_storage
from kobench.tuning.study import claimed_trials
from postgres_server import free_port, storage_proxy, throwaway_postgres
from synthetic import write_raw

ROOT = Path(__file__).resolve().parents[2]
N_TRIALS = 4
State = optuna.trial.TrialState

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A running throwaway server with databases ``optuna`` and ``mlflow``; yields its base URL. The backends'
    tests share it and the MLflow server, each with a study (and model) of its own."""
    with throwaway_postgres(["optuna", "mlflow"]) as url:
        yield url


def _project(root: Path, tiny: Path, model: str) -> Path:
    from kobench.data.prepare import prepare_task
    from kobench.tasks import get_task

    root.mkdir(parents=True)
    raw = write_raw("nsmc", root / "data" / "raw" / "nsmc", n=60)
    prepare_task(get_task("nsmc"), raw, root / "data" / "prepared" / "nsmc")
    shutil.copytree(tiny, root / "models" / model)
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["tune"].update(n_trials=N_TRIALS, heartbeat_seconds=1,
                          search_space={"lr": {"low": 5e-4, "high": 3e-3}, "epochs": {"low": 1, "high": 2}})
    params["train"]["batch_size"] = 16
    params["data"]["max_train_samples"] = None
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def mlflow_server(postgres: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mlflow server` over the PostgreSQL database ``mlflow``, artifacts proxied to a local folder."""
    tmp_path = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    command = [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri", f"{postgres}/mlflow",
               "--artifacts-destination", str(tmp_path / "artifacts"), "--serve-artifacts", "--host", "127.0.0.1",
               "--port", str(port), "--workers", "2"]
    log = (tmp_path / "mlflow-server.log").open("w")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", server, tmp_path / "mlflow-server.log")
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


@contextmanager
def shared_storage(backend: str, postgres: str, tmp_path: Path) -> Iterator[str]:
    """The Optuna storage URL both machines use: PostgreSQL, the gRPC proxy in front of it, or a shared journal."""
    if backend == "postgresql":
        yield f"{postgres}/optuna"
    elif backend == "grpc":
        with storage_proxy(f"{postgres}/optuna", tmp_path / "storage-proxy.log") as url:
            yield url
    else:  # a folder both machines mount; four slashes: an absolute path
        yield f"journal:///{tmp_path / 'shared' / 'optuna.journal'}"


@pytest.mark.parametrize("backend", ["postgresql", "grpc", "journal"])
def test_two_workers_share_one_study_and_one_parent_run(
    tmp_path: Path, tiny_models, postgres: str, mlflow_server: str, backend: str  # noqa: ANN001
) -> None:
    with shared_storage(backend, postgres, tmp_path) as storage:
        _two_machines_one_study(tmp_path, tiny_models, storage, mlflow_server, model=f"tiny-{backend}")


def _two_machines_one_study(tmp_path: Path, tiny_models, storage: str, tracking: str, model: str) -> None:  # noqa: ANN001
    """Two `kobench tune` in separate folders on one study: exact budget, one parent run, each trial once in MLflow.

    The MLflow server is shared with the other backends' studies: only this study's runs are looked at."""
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking}
    env.pop("KOBENCH_OPTUNA_STORAGE", None)
    study_name = f"nsmc-{model}"
    roots = [_project(tmp_path / f"machine-{i}", tiny_models("bert"), model) for i in range(2)]  # nothing shared on disk
    command = [sys.executable, "-m", "kobench.cli", "tune", "--task", "nsmc", "--model", f"models/{model}",
               "--max-seq-len", "32", "--storage", storage]
    logs = [tmp_path / f"worker-{i}.log" for i in range(2)]
    procs = []
    started = time.monotonic()
    for root, log in zip(roots, logs):
        with log.open("w") as out:
            machine = {**env, "KOBENCH_CACHE": str(root / "cache")}
            procs.append(subprocess.Popen(command, cwd=root, env=machine, stdout=out, stderr=subprocess.STDOUT))
    try:
        codes = [proc.wait(timeout=400) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    outputs = [log.read_text(encoding="utf-8", errors="replace") for log in logs]
    for i, (code, output) in enumerate(zip(codes, outputs, strict=True)):
        took = time.monotonic() - started
        assert code == 0, f"worker {i} exited {code} after {took:.0f} s:\n{output[-5000:]}"

    study = optuna.load_study(study_name=study_name, storage=open_storage(storage, 60))
    numbers = [t.number for t in study.trials]
    assert sorted(numbers) == list(range(N_TRIALS)), numbers  # exactly the budget, each number once
    assert claimed_trials(study) == N_TRIALS
    assert all(t.state in (State.COMPLETE, State.PRUNED) for t in study.trials)
    # each worker samples its own points (one seed in both would repeat the other's random startup trials)
    assert len({t.params["lr"] for t in study.trials}) == N_TRIALS, [t.params for t in study.trials]

    client = MlflowClient(tracking_uri=tracking)
    experiments = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    runs = client.search_runs(experiments, f"tags.`kobench.study` = '{study_name}'", run_view_type=ViewType.ALL,
                              max_results=1000)  # fmt: skip
    assert [(r.info.run_name, r.info.status) for r in runs if r.info.status == "RUNNING"] == []
    parents = [r for r in runs if r.data.tags.get("kobench.kind") == "study"]
    assert len(parents) == 1, "the workers must share one parent run"
    trial_runs = {r.info.run_id: r for r in runs if r.data.tags.get("kobench.kind") == "trial"}
    linked = [t.user_attrs["mlflow_run_id"] for t in study.trials]
    assert sorted(linked) == sorted(trial_runs), "every trial has exactly one MLflow run, no run is unowned"
    for trial in study.trials:
        run = trial_runs[trial.user_attrs["mlflow_run_id"]]
        assert run.info.run_name == f"trial-{trial.number}"
        assert run.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert run.info.status == ("FINISHED" if trial.state == State.COMPLETE else "KILLED")
    champion = client.get_model_version_by_alias(f"kobench-{study_name}", "champion")
    assert champion.run_id in {r.info.run_id for r in runs if r.data.tags.get("kobench.kind") == "final"}
    import mlflow  # the champion downloads through the server's artifact proxy and predicts

    mlflow.set_tracking_uri(tracking)
    served = mlflow.pyfunc.load_model(f"models:/kobench-{study_name}@champion")
    assert set(served.predict(pd.DataFrame({"text": ["정말 좋다", "최악"]}))) <= {"negative", "positive"}
    assert not (tmp_path / "machine-0" / "mlruns").exists()  # artifacts went to the server, not to a local folder
