"""Device slots and `kobench tune --workers N`: parallel trials never share a slot, a dead holder frees its slot at
once, and a stopped study leaves nothing RUNNING (slots faked as CPU slots: `train.devices: [cpu, cpu]`)."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import redirect_stderr
from pathlib import Path

import optuna
import pytest
import yaml

from kobench.engine.devices import Slot, lease, resolve_slots
from kobench.interrupts import process_alive
from synthetic import write_raw

ROOT = Path(__file__).resolve().parents[2]
State = optuna.trial.TrialState


def test_slots_from_params() -> None:
    assert resolve_slots(["cpu", "cpu"], 1) == [Slot("cpu", 0), Slot("cpu", 1)]
    assert resolve_slots(["cpu"], 3) == [Slot("cpu", 0), Slot("cpu", 1), Slot("cpu", 2)]
    assert resolve_slots("auto", 2) == []  # no GPU here: CPU runs lease nothing


def test_a_sigkilled_holder_frees_its_slot_and_a_waiter_says_what_it_waits_for(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from kobench.engine.devices import Slot, lease\n"
         f"with lease([Slot('cpu', 0)], 'holder', directory=Path({str(tmp_path)!r})):\n"
         "    print('held', flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        taken, said = [], io.StringIO()

        def wait_for_it() -> None:
            with redirect_stderr(said), lease([Slot("cpu", 0)], "nsmc-tiny trial 7", poll=0.05, directory=tmp_path) as held:
                taken.append((held.slot, time.monotonic()))

        waiter = threading.Thread(target=wait_for_it)
        waiter.start()
        time.sleep(0.5)
        assert taken == []  # busy
        killed = time.monotonic()
        holder.send_signal(signal.SIGKILL)
        waiter.join(timeout=10)
        assert taken and taken[0][0] == Slot("cpu", 0) and taken[0][1] - killed < 2
        assert f"nsmc-tiny trial 7: waiting for a free device slot (1 busy: cpu#0 pid {holder.pid}" in said.getvalue()
    finally:
        holder.kill()
        holder.wait()


def _project(root: Path, tiny: Path, n_trials: int, rows: int, epochs: int) -> tuple[Path, dict]:
    _prepared(root, "nsmc", rows)
    env = {**os.environ, "KOBENCH_CACHE": str(root / "cache"), "MLFLOW_TRACKING_URI": f"sqlite:///{root}/mlflow.db"}
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["train"].update(batch_size=8, devices=["cpu", "cpu"])
    params["tune"].update(n_trials=n_trials, heartbeat_seconds=1, storage=f"sqlite:///{root}/optuna.db",
                          search_space={"lr": {"low": 5e-4, "high": 3e-3}, "epochs": {"low": epochs, "high": epochs}})
    params["data"]["max_train_samples"] = None
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    return root, {**env, "KOBENCH_TEST_MODEL": str(tiny)}


def _prepared(root: Path, task: str, rows: int) -> None:
    from kobench.data.prepare import prepare_task
    from kobench.tasks import get_task

    raw = write_raw(task, root / "data" / "raw" / task, n=rows)
    prepare_task(get_task(task), raw, root / "data" / "prepared" / task)


def _tune(env: dict, workers: int = 2) -> list[str]:
    return [sys.executable, "-m", "kobench.cli", "--quiet", "tune", "--task", "nsmc", "--model", env["KOBENCH_TEST_MODEL"],
            "--max-seq-len", "32", "--workers", str(workers)]


def test_two_workers_four_trials_never_hold_one_slot_at_once(tmp_path: Path, tiny_models) -> None:  # noqa: ANN001
    from mlflow.tracking import MlflowClient

    root, env = _project(tmp_path, tiny_models("bert"), n_trials=4, rows=60, epochs=1)
    done = subprocess.run(_tune(env), cwd=root, env=env, capture_output=True, text=True, timeout=400, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "2 workers started" in done.stderr
    study = optuna.load_study(study_name="nsmc-bert", storage=f"sqlite:///{root}/optuna.db")
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3]  # the budget, once
    leases = sorted((t.user_attrs["slot"]["name"], t.user_attrs["slot"]["start"], t.user_attrs["slot"]["end"])
                    for t in study.trials)
    for (slot_a, _, end_a), (slot_b, start_b, _) in zip(leases, leases[1:]):
        assert slot_a != slot_b or end_a <= start_b, leases  # one holder per slot at any time
    assert {name for name, _, _ in leases} <= {"cpu-0", "cpu-1"}
    client = MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    runs = client.search_runs([client.get_experiment_by_name("kobench").experiment_id], max_results=100)
    assert [r.info.run_name for r in runs if r.data.tags.get("kobench.kind") == "study"] == ["nsmc-bert"]
    trial_runs = [r for r in runs if r.data.tags.get("kobench.kind") == "trial"]
    assert sorted(r.data.tags["kobench.slot"] for r in trial_runs) == sorted(name for name, _, _ in leases)
    share = max(1, len(os.sched_getaffinity(0)) // 2)  # the two workers share the cores, not each take them all
    assert f"2 workers started for one study, {share} torch thread(s) each" in done.stderr
    assert {r.data.metrics["torch_threads"] for r in trial_runs} == {share}
    assert all(r.info.status != "RUNNING" for r in runs)
    assert len(client.search_model_versions("name='kobench-nsmc-bert'")) == 1  # registered once, by the coordinator


@pytest.mark.parametrize("workers", [1, 2])  # one process running its trial itself; a coordinator of two workers
def test_sigterm_stops_every_worker_and_leaves_nothing_running(tmp_path: Path, tiny_models, workers: int) -> None:  # noqa: ANN001
    from mlflow.tracking import MlflowClient

    root, env = _project(tmp_path, tiny_models("bert"), n_trials=4, rows=400, epochs=30)  # trials that take a while
    coordinator = subprocess.Popen(_tune(env, workers), cwd=root, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while _running(root / "optuna.db") < workers:
            assert coordinator.poll() is None and time.monotonic() < deadline, coordinator.communicate()[1][-3000:]
            time.sleep(0.3)
        stopped = time.monotonic()
        coordinator.send_signal(signal.SIGTERM)
        _, err = coordinator.communicate(timeout=90)
    finally:
        if coordinator.poll() is None:
            coordinator.kill()
    assert coordinator.returncode == 143, err[-3000:]
    assert time.monotonic() - stopped < 60, err[-3000:]
    study = optuna.load_study(study_name="nsmc-bert", storage=f"sqlite:///{root}/optuna.db")
    interrupted = [t for t in study.trials if t.state == State.FAIL]
    assert len(interrupted) >= workers and all(t.user_attrs["failure"] == "interrupted" for t in interrupted)
    assert not [t for t in study.trials if t.state == State.RUNNING]
    client = MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    runs = client.search_runs([client.get_experiment_by_name("kobench").experiment_id], max_results=100)
    assert {r.data.tags["kobench.kind"]: r.info.status for r in runs if r.data.tags["kobench.kind"] == "study"} == {
        "study": "KILLED"
    }
    assert sorted(r.info.status for r in runs if r.data.tags["kobench.kind"] == "trial") == ["KILLED"] * len(interrupted)
    assert not list((root / "cache" / "slots").glob("*.lock")) or all(
        not p.read_text() for p in (root / "cache" / "slots").glob("*.lock")
    )  # released: no holder recorded


def test_workers_of_a_killed_coordinator_stop_and_fail_their_trials(tmp_path: Path, tiny_models) -> None:  # noqa: ANN001
    root, env = _project(tmp_path, tiny_models("bert"), n_trials=4, rows=400, epochs=30)  # trials that take a while
    coordinator = subprocess.Popen(_tune(env, 2), cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while _running(root / "optuna.db") < 2:
            if coordinator.poll() is not None or time.monotonic() > deadline:
                coordinator.kill()
                pytest.fail(coordinator.communicate()[1][-3000:].decode(errors="replace"))
            time.sleep(0.3)
        storage = f"sqlite:///{root}/optuna.db"
        running = optuna.load_study(study_name="nsmc-bert", storage=storage).get_trials(states=(State.RUNNING,))
        workers = {t.user_attrs["owner"]["pid"] for t in running}
        coordinator.kill()  # not reaped yet: the workers must take a zombie for dead
        killed = time.monotonic()
        while any(process_alive(pid) for pid in workers):
            assert time.monotonic() - killed < 30, f"workers {workers} still run 30 s after their coordinator died"
            time.sleep(0.2)
    finally:
        coordinator.kill()
        coordinator.wait()
    ended = {t.number: t for t in optuna.load_study(study_name="nsmc-bert", storage=storage).trials}
    assert all(ended[t.number].state == State.FAIL for t in running)
    assert all(ended[t.number].user_attrs["failure"] == "interrupted" for t in running)


def _running(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as connection:
            return connection.execute("select count(*) from trials where state = 'RUNNING'").fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return 0


pytestmark = pytest.mark.slow


def test_queue_runs_the_run_set_longest_first_over_the_slots(tmp_path: Path, tiny_models) -> None:  # noqa: ANN001
    root, env = _project(tmp_path, tiny_models("bert"), n_trials=1, rows=60, epochs=1)
    _prepared(root, "korsts", 30)
    shutil.copytree(env["KOBENCH_TEST_MODEL"], root / "models" / "tiny")
    params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    params["run"] = {"tasks": ["korsts", "nsmc"], "models": ["tiny"]}
    params["models"]["tiny"]["search_space"] = params["tune"]["search_space"]
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "kobench.cli", "--quiet", "queue"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=400, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    # nsmc has more training rows than korsts: it starts first; both run at once on the two CPU slots
    assert "2 studies, 2 at a time, longest first: nsmc-tiny, korsts-tiny" in done.stdout
    for task in ("nsmc", "korsts"):
        assert json.loads((root / "metrics" / task / "tiny.study.json").read_text())["status"] == "complete"
    leases = []
    for task in ("nsmc", "korsts"):
        study = optuna.load_study(study_name=f"{task}-tiny", storage=f"sqlite:///{root}/optuna.db")
        leases += [(t.user_attrs["slot"]["name"], t.user_attrs["slot"]["start"], t.user_attrs["slot"]["end"])
                   for t in study.trials]
    leases.sort()
    for (slot_a, _, end_a), (slot_b, start_b, _) in zip(leases, leases[1:]):
        assert slot_a != slot_b or end_a <= start_b, leases
