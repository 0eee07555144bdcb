"""``kobench doctor``: params, prepared data, stores, backups, cache and devices checked in one table.

A problem makes the exit code 1. ``--fix`` applies the safe repairs: RUNNING trials whose owner process on
this host is gone are failed in Optuna, RUNNING MLflow runs whose owner is gone are ended FAILED, and what a
killed backup left is removed.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kobench.config import MLFLOW_DEFAULT_URI, load_params
from kobench.data.splits import check_task_split
from kobench.errors import KobenchError
from kobench.names import Tag, TrialAttr
from kobench.storelock import check_sqlite_store, sqlite_path
from kobench.tasks import get_task
from kobench.tuning.stores import BACKUPS, partial_backups, remove_partial_backups, schema_mismatch

OK, PROBLEM, FIXED, INFO = "ok", "PROBLEM", "fixed", "info"


@dataclass
class Finding:
    """One line of the table."""

    check: str
    status: str
    detail: str


def _guarded(check: str, run: Callable[[], list[Finding]]) -> list[Finding]:
    try:
        return run()
    except KobenchError as exc:
        return [Finding(check, PROBLEM, str(exc))]


def diagnose(params_file: Path, mlflow_uri: str | None, *, fix: bool) -> list[Finding]:
    """Every check, in order; later checks are skipped when params.yaml cannot be read."""
    try:
        params = load_params(params_file)  # no params.yaml: not a project (checking defaults would say "ok")
    except KobenchError as exc:
        return [Finding("params", PROBLEM, str(exc))]
    found = [Finding("params", OK, f"{params_file}: {len(params.run.tasks)} task(s) x {len(params.run.models)} model(s)")]
    found += _guarded("prepared data", lambda: _prepared(params))
    found += _guarded("Optuna storage", lambda: _optuna(params.tune.storage, fix))
    found += _guarded("MLflow store", lambda: _mlflow(mlflow_uri or params.tracking.mlflow_uri or MLFLOW_DEFAULT_URI,
                                                      params.tracking.experiment, fix))  # fmt: skip
    found += _guarded("backups", lambda: _backups(fix))
    found += _guarded("cache", _cache)
    found += _guarded("devices", lambda: _devices(params))
    return found


def _prepared(params) -> list[Finding]:  # noqa: ANN001

    found = []
    for task in params.run.tasks:
        splits = params.splits_for(task)
        try:
            for split in splits:
                check_task_split(get_task(task), params.base.paths.prepared / task, split)
            found.append(Finding("prepared data", OK, f"{task}: {', '.join(splits)}"))
        except KobenchError as exc:
            found.append(Finding("prepared data", PROBLEM, str(exc)))
    return found


def _integrity(url: str, what: str, kind: str) -> Finding | None:
    check_sqlite_store(url, what)
    path = sqlite_path(url)
    if path is None or not path.exists():
        return Finding(what, INFO, f"{url}: not created yet" if path else f"{url}: a server, checked by its own client")
    if (mismatch := schema_mismatch(url, kind)) is not None:
        _, found, wanted = mismatch
        detail = f"{path}: schema revision {found}, {kind} expects {wanted}; `kobench backup`, then upgrade"
        return Finding(what, PROBLEM, detail)
    return None


def _optuna(url: str, fix: bool) -> list[Finding]:
    import optuna

    from kobench.tuning.study import fail_dead_owners, owner_alive

    early = _integrity(url, "Optuna storage", "optuna")
    if early is not None:
        return [early]
    found = []
    for summary in optuna.get_all_study_summaries(storage=url, include_best_trial=False):
        study = optuna.load_study(study_name=summary.study_name, storage=url)
        running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        dead = [t.number for t in running if owner_alive(t.user_attrs.get(TrialAttr.OWNER)) is False]
        if dead and fix:
            fail_dead_owners(study)
            found.append(Finding("Optuna storage", FIXED, f"{summary.study_name}: dead owners' trial(s) {dead} failed"))
        elif dead:
            detail = f"{summary.study_name}: RUNNING trial(s) {dead} whose owner process is gone (--fix)"
            found.append(Finding("Optuna storage", PROBLEM, detail))
        elif running:
            found.append(Finding("Optuna storage", INFO, f"{summary.study_name}: {len(running)} trial(s) running now"))
    return found or [Finding("Optuna storage", OK, f"{url}: intact, nothing left RUNNING")]


def _mlflow(uri: str, experiment: str, fix: bool) -> list[Finding]:
    from kobench.tuning.tracking import Tracker

    early = _integrity(uri, "MLflow store", "mlflow")
    if early is not None:
        return [early]
    tracker = Tracker(uri, experiment)
    running = tracker.client.search_runs([tracker.experiment_id], "attributes.status = 'RUNNING'", max_results=10_000)
    orphans = [r for r in running if _owner_dead(r.data.tags.get(Tag.OWNER))]
    if orphans and fix:
        for run in orphans:
            tracker.set_tags(run.info.run_id, {Tag.FAILURE: "owner process died (ended by kobench doctor --fix)"})
            tracker.end(run.info.run_id, "FAILED")
        return [Finding("MLflow store", FIXED, f"{len(orphans)} RUNNING run(s) of dead owners ended FAILED")]
    if orphans:
        names = ", ".join(r.info.run_name for r in orphans[:5])
        detail = f"{len(orphans)} RUNNING run(s) whose owner process is gone: {names} (--fix)"
        return [Finding("MLflow store", PROBLEM, detail)]
    live = f"; {len(running)} run(s) running now" if running else ""
    return [Finding("MLflow store", OK, f"{uri}: intact, no orphaned run{live}")]


def _owner_dead(tag: str | None) -> bool:
    from kobench.tuning.study import owner_alive

    if not tag or ":" not in tag:
        return False
    host, pid = tag.rsplit(":", 1)
    return owner_alive({"host": host, "pid": int(pid)}) is False


def _backups(fix: bool) -> list[Finding]:
    left = partial_backups()
    if not left:
        complete = [p for p in BACKUPS.iterdir() if p.is_dir()] if BACKUPS.is_dir() else []
        return [Finding("backups", OK, f"{BACKUPS}: {len(complete)} complete, none partial")]
    names = ", ".join(str(p) for p in left[:3])
    if fix:
        remove_partial_backups()
        return [Finding("backups", FIXED, f"removed {len(left)} incomplete backup(s): {names}")]
    detail = f"{len(left)} incomplete backup(s), of backups that did not finish: {names} (--fix)"
    return [Finding("backups", PROBLEM, detail)]


def _cache() -> list[Finding]:
    from kobench.cache import cache_root

    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    if not os.access(root, os.W_OK):
        return [Finding("cache", PROBLEM, f"{root}: not writable")]
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    return [Finding("cache", OK, f"{root}: writable, {size / 2**20:,.1f} MiB")]


def _devices(params) -> list[Finding]:  # noqa: ANN001
    import torch

    from kobench.engine.devices import resolve_slots, slot_dir

    slots = resolve_slots(params.train.devices, params.train.trials_per_device)
    gpus = torch.cuda.device_count()
    if not slots:
        return [Finding("devices", OK, f"{gpus} GPU(s); no slots leased (CPU runs)")]
    locks = [slot_dir() / f"{s.name}.lock" for s in slots]
    held = [lock for lock in locks if lock.exists() and lock.read_text(encoding="utf-8").strip()]
    return [Finding("devices", OK, f"{gpus} GPU(s) on {socket.gethostname()}; {len(slots)} slot(s), {len(held)} held now")]


def format_findings(found: list[Finding]) -> str:
    """The table."""
    width = max(len(f.check) for f in found)
    return "\n".join(f"{f.check:<{width}}  {f.status:<7}  {f.detail}" for f in found)
