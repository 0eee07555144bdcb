"""The journal file and the gRPC storage proxy (`kobench storage-proxy`) as Optuna storages of many workers.

No training here: trivial objectives in several processes at once, so that the budget claim, the proxy's lock
service and kobench's own heartbeat are exercised hard and quickly. (Two real `kobench tune` on each storage:
tests/tuning/test_postgres_workers.py.)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import optuna
import pytest

from kobench.errors import KobenchError
from kobench.names import TrialAttr
from kobench.storelock import check_store, store_lock
from kobench.tuning.storages import fail_stale, heartbeat, open_storage
from kobench.tuning.study import claimed_trials, fail_dead_owners
from postgres_server import free_port, storage_proxy

State = optuna.trial.TrialState
WORKERS, BUDGET = 3, 12

# One worker: the study's budget claimed through kobench's optimize(), a trial that takes a moment; every worker
# starts claiming at the same instant (a barrier of files), so that their claims collide
WORKER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    import optuna
    from kobench.tuning.storages import open_storage
    from kobench.tuning.study import optimize
    url, budget, barrier, workers = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
    storage = open_storage(url, 60)
    try:
        study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name="s", storage=storage)
    study.sampler.reseed_rng()
    (barrier / str(os.getpid())).touch()
    while len(list(barrier.iterdir())) < workers:
        time.sleep(0.01)
    optimize(study, lambda trial: (time.sleep(0.05), trial.suggest_float("x", 0, 1))[1], budget, url)
""")


@contextmanager
def backend(kind: str, tmp_path: Path) -> Iterator[str]:
    """A journal file, or `kobench storage-proxy` over a SQLite file; yields the URL the workers use."""
    if kind == "journal":
        yield f"journal:///{tmp_path / 'shared' / 'optuna.journal'}"
    else:
        with storage_proxy(f"sqlite:///{tmp_path / 'optuna.db'}", tmp_path / "proxy.log") as url:
            yield url


@pytest.mark.parametrize("kind", ["journal", "grpc"])
def test_many_workers_claim_exactly_the_budget(tmp_path: Path, kind: str) -> None:
    with backend(kind, tmp_path) as url:
        barrier = tmp_path / "barrier"
        barrier.mkdir()
        command = [sys.executable, "-c", WORKER, url, str(BUDGET), str(barrier), str(WORKERS)]
        workers = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for _ in range(WORKERS)]
        errors = [worker.communicate(timeout=300)[1] for worker in workers]
        assert [worker.returncode for worker in workers] == [0] * WORKERS, errors
        study = optuna.load_study(study_name="s", storage=open_storage(url, 60))
        assert sorted(t.number for t in study.trials) == list(range(BUDGET))  # no overshoot, unique numbers
        assert all(t.state == State.COMPLETE for t in study.trials)
        assert claimed_trials(study) == BUDGET


def _running_trial(study: optuna.Study, owner: dict, beat: dict | None = None, age: float = 0) -> optuna.trial.FrozenTrial:
    """A RUNNING trial as a worker leaves it, started ``age`` seconds ago: owner recorded, perhaps a heartbeat."""
    attrs = {"owner": owner, **({TrialAttr.HEARTBEAT: beat} if beat is not None else {})}
    x = optuna.distributions.FloatDistribution(0, 1)
    template = optuna.trial.FrozenTrial(
        number=-1, state=State.RUNNING, value=None, datetime_start=datetime.now() - timedelta(seconds=age),
        datetime_complete=None, params={"x": 0.5}, distributions={"x": x}, user_attrs=attrs, system_attrs={},
        intermediate_values={}, trial_id=-1,
    )  # fmt: skip
    return study._storage.get_trial(study._storage.create_new_trial(study._study_id, template_trial=template))


@pytest.mark.parametrize("kind", ["journal", "grpc"])
def test_dead_and_silent_workers_trials_fail(tmp_path: Path, kind: str) -> None:
    """On this host a dead owner's trial fails at once; elsewhere a trial whose heartbeat stopped fails, retried once."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with backend(kind, tmp_path) as url:
        study = optuna.create_study(study_name="s", storage=open_storage(url, 60), direction="maximize")
        here_dead = _running_trial(study, {"host": socket.gethostname(), "pid": int(dead.stdout)})
        here_alive = _running_trial(study, {"host": socket.gethostname(), "pid": os.getpid()})
        now = time.time()
        silent = _running_trial(study, {"host": "elsewhere", "pid": 1}, {"at": now - 30, "every": 10}, age=60)
        beating = _running_trial(study, {"host": "elsewhere", "pid": 2}, {"at": now - 5, "every": 10}, age=60)
        starting = _running_trial(study, {"host": "elsewhere", "pid": 3}, {"at": now - 30, "every": 10})  # a retry

        assert fail_dead_owners(study) == [here_dead.number]
        assert fail_stale(study) == [silent.number]
        assert fail_stale(study) == []  # failed once, retried once: nothing left to fail
        states = {t.number: t.state for t in study.get_trials()}
        assert states[here_dead.number] == states[silent.number] == State.FAIL
        assert states[here_alive.number] == states[beating.number] == states[starting.number] == State.RUNNING
        retries = [t for t in study.get_trials() if t.state == State.WAITING]
        assert [(t.params, t.system_attrs["failed_trial"]) for t in retries] == [(silent.params, silent.number)]
        assert "no heartbeat" in study.trials[silent.number].user_attrs["failure"]


def test_heartbeat_records_every_interval(tmp_path: Path) -> None:
    study = optuna.create_study(storage=open_storage(f"journal:///{tmp_path / 'o.journal'}", 60))
    trial = study.ask()
    with heartbeat(study, trial._trial_id, 0.2):
        time.sleep(0.7)
    first = study._storage.get_trial(trial._trial_id).user_attrs[TrialAttr.HEARTBEAT]
    assert first["every"] == 0.2 and time.time() - first["at"] < 0.5


@pytest.mark.parametrize("kind", ["journal", "grpc"])
def test_the_budget_lock_excludes_and_a_killed_holder_frees_it_at_once(tmp_path: Path, kind: str) -> None:
    """The lock that makes "budget left?" and "create the trial" one step: exclusive, and never kept by the dead."""
    holder = "import sys, time\nfrom kobench.storelock import store_lock\nwith store_lock(sys.argv[1], 'budget-s'):\n" \
             "    print('held', flush=True)\n    time.sleep(300)\n"  # fmt: skip
    with backend(kind, tmp_path) as url:
        child = subprocess.Popen([sys.executable, "-c", holder, url], stdout=subprocess.PIPE, text=True)
        acquired = threading.Event()

        def take() -> None:
            with store_lock(url, "budget-s"):
                acquired.set()

        try:
            assert child.stdout.readline().strip() == "held"
            taker = threading.Thread(target=take, daemon=True)
            taker.start()
            assert not acquired.wait(1.5), "a second process took the budget lock while another held it"
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            assert acquired.wait(2.0), "the lock of a killed holder was not free within 2 s"
        finally:
            if child.poll() is None:
                child.kill()


def test_bad_storage_urls_are_one_line(tmp_path: Path) -> None:
    not_journal = tmp_path / "notes.txt"
    not_journal.write_text("hello\n", encoding="utf-8")
    with pytest.raises(KobenchError, match="not an Optuna journal"):
        check_store(f"journal:///{not_journal}", "Optuna storage")
    with pytest.raises(KobenchError, match="expected grpc://HOST:PORT"):
        check_store("grpc://nohost", "Optuna storage")
    pytest.importorskip("grpc")
    with pytest.raises(KobenchError, match=r"no answer within .*kobench storage-proxy"):
        from kobench.lockservice import check_reachable

        check_reachable(("127.0.0.1", free_port()), "Optuna storage", timeout=1)


def test_a_plain_optuna_proxy_is_refused_rather_than_overshoot() -> None:
    """Optuna's own proxy has no lock method: the budget claim stops with one line instead of running unlocked."""
    pytest.importorskip("grpc")
    from optuna.storages._grpc.server import make_server

    port = free_port()
    server = make_server(optuna.storages.InMemoryStorage(), "127.0.0.1", port)
    server.start()
    try:
        with pytest.raises(KobenchError, match="serves no lock; start it with `kobench storage-proxy`"):
            with store_lock(f"grpc://127.0.0.1:{port}", "budget-s"):
                pass
    finally:
        server.stop(grace=None)
