"""Optuna storages by URL: an RDB (SQLite, PostgreSQL, MySQL), a journal file, or a gRPC storage proxy.

- ``sqlite:///…``, ``postgresql+psycopg2://…``: ``RDBStorage`` with Optuna's heartbeat.
- ``journal:///optuna.journal`` (relative) or ``journal:////shared/optuna.journal`` (absolute): ``JournalStorage``
  over a ``JournalFileBackend``, for clusters whose machines share only a filesystem.
- ``grpc://host:port``: ``GrpcStorageProxy``, a client of ``kobench storage-proxy`` (``serve_proxy``), which runs
  Optuna's gRPC proxy over ``optuna.storages.get_storage(url)`` for hundreds of workers that should not each hold
  a database connection.

Neither ``JournalStorage`` nor ``GrpcStorageProxy`` implements Optuna's heartbeat (only ``RDBStorage`` does), so
on them kobench keeps its own: each running trial records ``{"at": time, "every": seconds}`` in the trial user
attribute ``kobench_heartbeat`` every ``tune.heartbeat_seconds``, and ``fail_stale`` fails a running trial whose
last beat (or start) is older than two intervals and retries it once with the same parameters, as Optuna's
heartbeat does for an RDB. Failing is a compare-and-set of the trial's state in every storage (the second process
gets ``UpdateFinishedTrialError``), so one stale trial is retried once however many processes see it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator

import optuna

from kobench.interrupts import process_alive
from kobench.names import TrialAttr
from kobench.storelock import create_sqlite_atomically, grpc_address, journal_path, store_init_lock

State = optuna.trial.TrialState


def owner() -> dict[str, object]:
    """This process as the owner of a trial: host and process id."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def owner_alive(recorded: dict[str, object] | None) -> bool | None:
    """Whether a trial's owner process is alive: None when it ran on another host (the heartbeat rule applies)."""
    if not recorded or recorded.get("host") != socket.gethostname():
        return None
    return process_alive(int(recorded["pid"]))  # a zombie owner (killed, not yet reaped) is dead too


def create_rdb_storage(url: str) -> None:
    """Optuna's schema at an RDB ``url``, its connections closed."""
    optuna.storages.RDBStorage(url).engine.dispose()


def init_storage(url: str) -> None:
    """Create the Optuna store at ``url`` (schema included) unless it exists; safe between parallel processes."""
    with store_init_lock(url):
        create_sqlite_atomically(url, create_rdb_storage)


def open_storage(url: str, heartbeat_seconds: int, *, connect_timeout: float = 60.0) -> optuna.storages.BaseStorage:
    """The Optuna storage at ``url`` (RDB storages with Optuna's heartbeat every ``heartbeat_seconds``).

    Raises:
        KobenchError: a gRPC proxy that does not answer within ``connect_timeout`` seconds.
    """
    if (address := grpc_address(url)) is not None:
        from kobench.errors import KobenchError
        from kobench.lockservice import require_grpc

        require_grpc()
        storage = optuna.storages.GrpcStorageProxy(host=address[0], port=address[1])
        try:
            storage.wait_server_ready(timeout=connect_timeout)
        except ConnectionError as exc:
            raise KobenchError(
                f"Optuna storage {url}: no answer within {connect_timeout:.0f} s; is `kobench storage-proxy` running?"
            ) from exc
        return storage
    if (path := journal_path(url)) is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    return optuna.storages.RDBStorage(
        url,
        engine_kwargs=engine_kwargs,
        heartbeat_interval=heartbeat_seconds,
        grace_period=2 * heartbeat_seconds,
        heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1),
    )


def optuna_heartbeat(storage: optuna.storages.BaseStorage) -> bool:
    """Whether Optuna itself heartbeats trials in ``storage`` (an RDB with an interval); else kobench does."""
    from optuna.storages._heartbeat import is_heartbeat_enabled

    return is_heartbeat_enabled(storage)


@contextlib.contextmanager
def heartbeat(study: optuna.Study, trial_id: int, seconds: float | None) -> Iterator[None]:
    """Beat every ``seconds`` for the running trial while the block runs (nothing when ``seconds`` is None)."""
    if not seconds:
        yield
        return
    storage, stop = study._storage, threading.Event()

    def beat() -> None:
        while True:
            with contextlib.suppress(Exception):  # a finished trial, a storage hiccup: the next beat tries again
                storage.set_trial_user_attr(trial_id, TrialAttr.HEARTBEAT, {"at": time.time(), "every": seconds})
            if stop.wait(seconds):
                return

    beat_thread = threading.Thread(target=beat, name=f"kobench-heartbeat-{trial_id}", daemon=True)
    beat_thread.start()
    try:
        yield
    finally:
        stop.set()
        beat_thread.join(timeout=30)


def last_beat(trial: optuna.trial.FrozenTrial) -> tuple[float, float | None]:
    """(when the trial last showed life: its last beat or its start, its interval), from kobench's heartbeat."""
    recorded = trial.user_attrs.get(TrialAttr.HEARTBEAT) or {}
    started = trial.datetime_start.timestamp() if trial.datetime_start else 0.0
    return max(float(recorded.get("at", 0.0)), started), recorded.get("every")


def fail_stale(study: optuna.Study, default_seconds: float | None = None) -> list[int]:
    """Fail (and retry once) the running trials whose heartbeat stopped; return their numbers.

    An RDB storage: Optuna's own rule (``optuna.storages.fail_stale_trials``). Otherwise kobench's: a running trial
    whose last beat (or start, for one that has not beaten yet) is older than two of its intervals
    (``default_seconds`` for a trial that recorded none). A trial whose owner runs on this host and is alive is
    never stale.
    """
    if optuna_heartbeat(study._storage):
        optuna.storages.fail_stale_trials(study)
        return []
    failed, now = [], time.time()
    retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1)
    for trial in study.get_trials(deepcopy=False, states=(State.RUNNING,)):
        at, every = last_beat(trial)
        every = every or default_seconds
        if not every or now - at <= 2 * every or owner_alive(trial.user_attrs.get(TrialAttr.OWNER)):
            continue
        try:
            study._storage.set_trial_user_attr(trial._trial_id, TrialAttr.FAILURE, f"no heartbeat for {now - at:.0f} s")
            if not study._storage.set_trial_state_values(trial._trial_id, state=State.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another process failed it first, and retries it
        retry(study, study._storage.get_trial(trial._trial_id))
        failed.append(trial.number)
    return failed


def serve_proxy(url: str, host: str, port: int, *, threads: int = 32, ready: str | None = None) -> None:
    """``kobench storage-proxy``: Optuna's gRPC storage proxy over ``get_storage(url)``, with kobench's lock service.

    The server is the one ``optuna.storages.run_grpc_proxy_server`` runs (``make_server``), with the lock method of
    ``kobench.lockservice`` added on the same port, so that its clients claim trials atomically. It runs until
    SIGINT or SIGTERM, then stops within a few seconds. ``ready``: a line printed to stdout once it listens.
    """
    import signal
    from concurrent.futures import ThreadPoolExecutor

    from optuna.storages._grpc.server import make_server

    from kobench.lockservice import Locks, handler, require_grpc
    from kobench.storelock import check_sqlite_store, create_sqlite_atomically, store_init_lock
    from kobench.tuning.stores import guard_schema

    if grpc_address(url) is not None or journal_path(url) is not None:
        from kobench.errors import ConfigError

        raise ConfigError(f"--storage {url}: the proxy serves a database URL (PostgreSQL, MySQL, SQLite)")
    require_grpc()
    check_sqlite_store(url, "Optuna storage")
    guard_schema(url, "Optuna storage", "optuna")
    with store_init_lock(url):
        create_sqlite_atomically(url, lambda u: optuna.storages.RDBStorage(u).engine.dispose())
        storage = optuna.storages.get_storage(url)  # an RDB behind Optuna's in-process cache
    server = make_server(storage, host, port, ThreadPoolExecutor(max_workers=threads, thread_name_prefix="proxy"))
    server.add_generic_rpc_handlers((handler(Locks()),))
    stopped = threading.Event()

    def stop(signum: int, _frame: object) -> None:
        stopped.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    server.start()
    if ready:
        print(ready, flush=True)
    try:
        while not stopped.wait(0.5):
            pass
    finally:
        server.stop(grace=5).wait()
        print("storage proxy stopped", file=sys.stderr, flush=True)
