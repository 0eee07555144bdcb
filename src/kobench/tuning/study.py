"""Step 6: an Optuna study per task x model: trials tracked, best registered."""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
import math
import os
import shutil
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna

from kobench.atomic import write_text
from kobench.config import Params, SearchSpaceParams
from kobench.engine.devices import Lease, lease
from kobench.engine.models import ModelRef
from kobench.engine.training import RunConfig, train
from kobench.errors import KobenchError
from kobench.interrupts import Interrupted
from kobench.interrupts import check as check_interrupted
from kobench.metrics.registry import metric
from kobench.names import SLURM_ATTR, SLURM_TAG_PREFIX, StudyAttr, StudyPaths, Tag, TrialAttr, slurm_ids  # noqa: F401 - StudyPaths: kobench.tuning.study's
from kobench.records import StudyResult, write_study
from kobench.reuse import between_trials
from kobench.storelock import check_sqlite_store, create_sqlite_atomically, store_init_lock, store_lock
from kobench.tuning.context import StudyContext
from kobench.tuning.lineage import dataset_inputs
from kobench.tuning.storages import (
    create_rdb_storage,
    fail_stale,
    heartbeat,
    open_storage,
    optuna_heartbeat,
    owner,
    owner_alive,
)
from kobench.tuning.stores import guard_schema
from kobench.tuning.tracking import TRIAL, Tracker
from kobench.tuning.workers import run_workers

log = logging.getLogger(__name__)
# heartbeat helpers are stable in practice but still flagged experimental
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
# kobench prints one line per trial; Optuna's own lines (tracebacks of failed trials included) would repeat them
optuna.logging.set_verbosity(optuna.logging.ERROR)
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)


def open_or_create_study(
    name: str, storage_url: str, params: Params, direction: str = "maximize"
) -> tuple[optuna.Study, bool]:
    """Create or load the study, and whether this call created it (true for one of several workers at once).

    ``direction`` is the main metric's (``metrics.registry``); a stored study of the other direction is refused.
    ``storage_url``: an RDB, ``journal:///`` or ``grpc://`` URL (tuning/storages.py). Heartbeats fail (then retry
    once) trials whose process died; unique study names elect the creator in every storage.
    """
    check_sqlite_store(storage_url, "Optuna storage")
    guard_schema(storage_url, "Optuna storage", "optuna")
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=2) if params.tune.pruner == "median" else optuna.pruners.NopPruner()
    )
    sampler = optuna.samplers.TPESampler(seed=params.tune.sampler_seed)
    with store_init_lock(storage_url):  # schema creation and study creation race between parallel studies
        create_sqlite_atomically(storage_url, create_rdb_storage)
        storage = open_storage(storage_url, params.tune.heartbeat_seconds)
        kwargs = {"study_name": name, "storage": storage, "sampler": sampler, "pruner": pruner, "direction": direction}
        try:
            return optuna.create_study(**kwargs, load_if_exists=False), True
        except optuna.exceptions.DuplicatedStudyError:
            stored = optuna.load_study(study_name=name, storage=storage).direction.name.lower()
            if stored != direction:
                raise KobenchError(
                    f"study {name} in {storage_url} was made to {stored} and its main metric is now to {direction}; "
                    "delete it (optuna delete-study) or tune under another storage"
                ) from None
            study = optuna.create_study(**kwargs, load_if_exists=True)
            # a second worker with the same seed would draw exactly the first one's random startup trials
            study.sampler.reseed_rng()
            return study, False


PARENT_ATTR = StudyAttr.PARENT_RUN


def parent_run(
    study: optuna.Study, created: bool, tracker: Tracker, name: str, tags: dict[str, str], wait_s: float = 60.0
) -> str:
    """The study's one MLflow parent run, also for workers that start at the same instant.

    Searching MLflow and then creating is a race (both workers find nothing, both create a parent). The
    storage's unique study names elect one worker, the one that created the study: it finds or creates the
    parent and records its id on the study; the others reopen the recorded run, waiting for it while the new
    study has no trial yet.
    """
    if not created:
        deadline = time.monotonic() + wait_s
        while (recorded := study.user_attrs.get(PARENT_ATTR)) is None and time.monotonic() < deadline:
            if study.get_trials(deepcopy=False):
                break  # a study older than the record: nobody will write it
            check_interrupted()
            time.sleep(0.2)
        if recorded is not None and tracker.reopen(recorded, name):
            return recorded
    parent = tracker.study_run(name, tags)
    study.set_user_attr(PARENT_ATTR, parent)
    return parent


def search_space(params: Params, task: str, ref: ModelRef | None = None) -> SearchSpaceParams:
    """The model row's own space, else the task's override, else the default space."""
    if ref is not None and ref.row.search_space is not None:
        return ref.row.search_space
    return params.tune.overrides.get(task, params.tune.search_space)


def fail_dead_owners(study: optuna.Study) -> list[int]:
    """Fail at once the RUNNING trials whose owner process on this host is gone (SIGKILL, OOM killer, reboot).

    Without it a killed trial stays RUNNING until its heartbeat's grace period ends, and an immediate re-run
    counts it against the budget. Returns the numbers of the trials failed.
    """
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        recorded = trial.user_attrs.get(TrialAttr.OWNER)
        if owner_alive(recorded) is False:
            reason = f"owner process {recorded['pid']} died"
            try:
                study._storage.set_trial_user_attr(trial._trial_id, TrialAttr.FAILURE, reason)
                study._storage.set_trial_state_values(trial._trial_id, state=optuna.trial.TrialState.FAIL)
            except optuna.exceptions.UpdateFinishedTrialError:
                continue  # another process on this host failed it first
            failed.append(trial.number)
    return failed


def finished_trials(study: optuna.Study) -> int:
    """Trials that count against the budget: complete, pruned or failed."""
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def claimed_trials(study: optuna.Study) -> int:
    """Trials that use up the budget: complete, pruned, running or waiting; a failed trial does not.

    A study whose trials all failed (data not prepared, model unreachable, out of memory) therefore trains
    its whole budget once the cause is fixed and it is run again.
    """
    return sum(1 for t in study.get_trials(deepcopy=False) if t.state != optuna.trial.TrialState.FAIL)


class Objective:
    """One trial = one fine-tune with the settings drawn from the search space, its own nested MLflow run, pruned."""

    def __init__(self, context: StudyContext, space: SearchSpaceParams, heartbeat: float | None = None) -> None:
        self.context, self.space = context, space
        self.spec, self.ref, self.base, self.paths = context.spec, context.ref, context.base, context.paths
        self.tracker, self.parent, self.tags = context.tracker, context.parent, context.tags
        self.slots = list(context.slots)  # device slots to lease (engine/devices.py); none: the configured device
        self.heartbeat = heartbeat  # seconds between kobench's beats, where the storage has no heartbeat of its own
        self._recorded: int | None = None  # the trial whose failure _run recorded already (with its MLflow run)
        self._inputs: dict[tuple, list[Any]] = {}  # lineage of the rows trials read, built once per distinct rows

    def config(self, trial: optuna.Trial) -> RunConfig:
        """The base run configuration with this trial's suggestions, applied by name."""
        return dataclasses.replace(self.base, **suggest(trial, self.space))

    def __call__(self, trial: optuna.Trial) -> float:
        """Lease a device slot and train one trial.

        Its MLflow run ends FINISHED, KILLED (pruned or interrupted) or FAILED (with the reason).
        """
        try:
            config = self.config(trial)  # sampling raises on a space Optuna refuses (lr low 0 on a log scale)
            trial.set_user_attr(TrialAttr.OWNER, owner())
            if cluster_job := slurm_ids(dict(os.environ)):  # a trial of a Slurm job: which job and array task
                trial.set_user_attr(SLURM_ATTR, cluster_job)
            label = f"{self.tags.get('kobench.study', 'study')} trial {trial.number}"
            with heartbeat(trial.study, trial._trial_id, self.heartbeat), lease(self.slots, label) as held:
                if held is not None:
                    config = dataclasses.replace(config, device=held.slot.device)
                    slot = {"device": held.slot.device, "name": held.slot.name, "start": held.since}
                    trial.set_user_attr(TrialAttr.SLOT, slot)
                try:
                    return self._run(trial, config, held)
                finally:
                    if held is not None:  # recorded while the slot is still held
                        trial.set_user_attr(TrialAttr.SLOT, {**trial.user_attrs[TrialAttr.SLOT], "end": time.time()})
        except (optuna.TrialPruned, Interrupted):
            raise
        except Exception as exc:
            if self._recorded != trial.number:  # raised before the trial's MLflow run existed
                self._record_failure(trial, exc, None)
            raise

    def _run(self, trial: optuna.Trial, config: RunConfig, held: Lease | None) -> float:
        params = {**dataclasses.asdict(config), "model_id": self.ref.id, "task": self.spec.name, "trial": trial.number}
        tags = {**self.tags, **({Tag.DEVICE: held.slot.device, Tag.SLOT: held.slot.name} if held else {})}
        tags.update({SLURM_TAG_PREFIX + key: value for key, value in slurm_ids(dict(os.environ)).items()})
        run_id = self.tracker.start_child(self.parent, f"trial-{trial.number}", TRIAL, params, tags)
        trial.set_user_attr(TrialAttr.MLFLOW_RUN_ID, run_id)
        monitor, status = self.tracker.system_monitor(run_id), "FAILED"
        try:
            value = self._train(trial, config, run_id)
            status = "FINISHED"
            _say(f"trial {trial.number}: {_drawn(trial.params)} -> {self.spec.main_metric} {value:.4f}")
            return value
        except optuna.TrialPruned as pruned:
            status = "KILLED"
            _say(f"trial {trial.number}: {_drawn(trial.params)} -> {pruned}")
            raise
        except Interrupted as stop:
            status = "KILLED"
            trial.set_user_attr(TrialAttr.FAILURE, "interrupted")
            self.tracker.set_tags(run_id, {Tag.FAILURE: f"interrupted ({stop})"})
            _say(f"trial {trial.number}: interrupted ({stop})")
            raise
        except Exception as exc:
            self._record_failure(trial, exc, run_id)
            _free_accelerator()
            raise
        finally:
            self.tracker.stop_monitor(monitor)
            self.tracker.end(run_id, status)

    def _train(self, trial: optuna.Trial, config: RunConfig, run_id: str) -> float:
        main = self.spec.main_metric

        def report(step: int, epoch: float, validation: dict[str, Any]) -> bool:
            self.tracker.log_metrics(run_id, {**validation, "epoch": epoch}, step, prefix="validation_")
            trial.report(validation[main], step)
            return trial.should_prune()

        run_dir = self._trial_dir(trial.number)
        result = train(
            self.spec,
            self.ref,
            config,
            prepared_dir=self.paths.prepared,
            run_dir=run_dir,
            features_dir=self.paths.features,
            on_evaluate=report,
            on_rows=lambda rows: self._log_rows(run_id, rows, config.seed),
            evaluate_test=config.selection == "test",
        )
        last = result.history[-1]
        self.tracker.log_metrics(run_id, {**result.throughput, "train_loss": last["train_loss"]})
        if result.stopped_early:
            shutil.rmtree(run_dir / "checkpoint", ignore_errors=True)
            trial.set_user_attr(TrialAttr.PRUNED_AT_STEP, last["step"])
            raise optuna.TrialPruned(f"pruned at step {last['step']}")
        trial.set_user_attr(TrialAttr.RUN_DIR, str(run_dir))
        trial.set_user_attr(TrialAttr.VALIDATION, result.validation)
        value = result.validation[main]
        if result.test is not None:  # --selection test: the reference protocol picks on test
            trial.set_user_attr(TrialAttr.TEST, result.test)
            value = result.test[main]
        if not math.isfinite(value):  # Optuna would fail the trial without a word; say why
            raise ValueError(f"the trial's {main} is {value}, not a number Optuna can rank")
        self._drop_beaten_checkpoints(trial, value)
        return value

    def _log_rows(self, run_id: str, rows: dict[str, list[dict[str, Any]]], seed: int) -> None:
        """The trial's data lineage: each split it reads, as used.

        Every trial of a study reads the same rows (one prepared digest, seed and row limit), so their MLflow
        datasets (a DataFrame each, its schema and profile: ~0.25 s a trial for NSMC's 5,000 rows) are built once.
        """
        digest = self.tags[Tag.PREPARED_DIGEST]
        ends = {s: (len(r), r[0].get("id"), r[-1].get("id")) if r else (0,) for s, r in rows.items()}
        key = (seed, tuple(ends.items()))
        if key not in self._inputs:
            self._inputs[key] = dataset_inputs(self.spec, self.paths.prepared, rows, digest, seed)
        self.tracker.log_inputs(run_id, self._inputs[key])

    def _record_failure(self, trial: optuna.Trial, exc: Exception, run_id: str | None) -> None:
        """A failed trial's reason: Optuna attribute ``failure``, MLflow tag, ``error.log`` and one printed line."""
        self._recorded = trial.number
        reason = f"{type(exc).__name__}: {str(exc)[:500]}"
        with contextlib.suppress(Exception):  # the storage itself may be what failed; the line still prints
            trial.set_user_attr(TrialAttr.FAILURE, reason)
        if run_id is not None:
            with contextlib.suppress(Exception):
                self.tracker.set_tags(run_id, {Tag.FAILURE: reason})
        log_file = self._write_traceback(trial.number, run_id)
        _say(f"trial {trial.number} failed: {reason.splitlines()[0][:300]} (traceback: {log_file})")

    def _write_traceback(self, number: int, run_id: str | None) -> Path:
        """The failed trial's traceback, to ``trials/trial-N/error.log`` and to its MLflow run (if it has one)."""
        text = traceback.format_exc()
        path = self._trial_dir(number) / "error.log"
        write_text(path, text)
        if run_id is not None:
            with contextlib.suppress(Exception):  # the traceback file exists already; MLflow is a copy
                self.tracker.client.log_text(run_id, text, "error.log")
        return path

    def _trial_dir(self, number: int) -> Path:
        return self.paths.outputs / "trials" / f"trial-{number}"

    def _drop_beaten_checkpoints(self, trial: optuna.Trial, value: float) -> None:
        """Delete the checkpoints that can no longer be the study's best, this trial's included.

        Only the best trial's checkpoint is registered: keeping every trial's until the study ends would hold
        n_trials checkpoints on disk (20 trials of a base model: 8 GB). A tie keeps both; finalize retrains the
        best trial's parameters in the rare case that its checkpoint is gone (e.g. kept on another machine).
        """
        ranked_by = metric(self.spec.main_metric)
        done = trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        best = ranked_by.best([value] + [t.value for t in done])
        beaten = [t.number for t in done if ranked_by.better(best, t.value)]
        beaten += [trial.number] if ranked_by.better(best, value) else []
        for number in beaten:
            shutil.rmtree(self._trial_dir(number) / "checkpoint", ignore_errors=True)


def suggest(trial: optuna.Trial, space: SearchSpaceParams) -> dict[str, Any]:
    """This trial's value of every setting ``space`` tunes, drawn in the settings' declaration order.

    The order is part of what a sampler seed reproduces: lr before epochs, as since the first study.
    """
    drawn: dict[str, Any] = {}
    for name, dist in space.items():
        if dist.type == "categorical":
            drawn[name] = trial.suggest_categorical(name, dist.choices)
        elif dist.type == "int":
            drawn[name] = trial.suggest_int(name, dist.low, dist.high, step=dist.step or 1, log=dist.log)
        else:
            drawn[name] = trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)
    return drawn


def _drawn(values: dict[str, Any]) -> str:
    """``lr 0.00223 epochs 4``: a trial's drawn settings for its one line."""
    return " ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items())


def _say(line: str) -> None:
    """One line per trial outcome on stderr (Optuna's own messages, tracebacks included, are silenced)."""
    print(line, file=sys.stderr, flush=True)


def _free_accelerator() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def optimize(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], float],
    n_trials: int,
    storage_url: str = "",
    max_failures: int = 3,
) -> None:
    """Run trials until ``n_trials`` are claimed in total (resume-safe, shared across workers).

    "Budget left?" and "create a trial" happen under one lock per study, released as soon as the trial exists:
    two workers finishing at the same instant would otherwise both start one more trial (overshoot). WAITING
    trials (heartbeat retries of killed ones) are claimed already and are run too: study.optimize(n_trials=k)
    pops them first, so a plain ``n_trials - claimed`` would stop one trial short after a crash. Failed trials
    claim nothing, so ``max_failures`` failures in a row stop this worker instead. They are counted from the
    state each trial ends in, whatever failed (sampling, the objective, a NaN objective value Optuna refuses),
    so no failure can keep this loop going.
    """
    fail_dead_owners(study)
    fail_stale(study)
    waiting_state = (optuna.trial.TrialState.WAITING,)
    failures = [0]  # consecutive, of this process: a re-run after a fix starts from zero

    def count(_: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        failures[0] = failures[0] + 1 if trial.state == optuna.trial.TrialState.FAIL else 0

    with _long_lived_frozen() as freeze_survivors, between_trials():
        while failures[0] < max_failures:
            check_interrupted()
            with contextlib.ExitStack() as held:
                held.enter_context(store_lock(storage_url, f"budget-{study.study_name}"))
                if not optuna_heartbeat(study._storage):
                    fail_stale(study)  # Optuna does this before each trial for an RDB; kobench's heartbeat, here
                waiting = study.get_trials(deepcopy=False, states=waiting_state)
                if claimed_trials(study) >= n_trials and not waiting:
                    break
                before = len(study.get_trials(deepcopy=False))

                def guarded(trial: optuna.Trial, held: contextlib.ExitStack = held) -> float:
                    held.close()  # the trial exists in the storage now: the other workers count it
                    return objective(trial)

                try:
                    study.optimize(guarded, n_trials=1, catch=(Exception,), callbacks=[count], gc_after_trial=True)
                except (ValueError, AssertionError) as exc:  # another process ended the trial meanwhile
                    if not _ended_elsewhere(exc):
                        raise
                    _say(
                        f"{study.study_name}: another process ended a trial of this one while it ran (its heartbeat "
                        "was late: an overloaded machine?); its result is dropped and the study goes on"
                    )
                else:  # right after the trial's full collection (Optuna's, in a finally): what is left is long-lived
                    freeze_survivors()  # (not after an exception: its traceback's frames become garbage only now)
            if not waiting and len(study.get_trials(deepcopy=False)) == before:
                break  # no trial could be created: do not spin

    fail_stale(study)


@contextlib.contextmanager
def _long_lived_frozen() -> Iterator[Callable[[], None]]:
    """Keep what outlives each trial out of the cyclic collector's scans while the trials run.

    Optuna's collection after each trial (``gc_after_trial``: a finished trial's reference cycles, its model and
    optimizer state among them, are freed before the next trial allocates) scans every tracked object of the process:
    half a second a trial with torch, transformers, MLflow and Optuna loaded (9 % of a 10-trial study of a small
    model on 2 cores, ``benchmarks/study.py``). What survives that collection lives on (modules, stores, caches), so
    it is frozen (``gc.freeze``, only ever right after a full collection: no garbage is pinned) and the next
    collection scans only what the next trial made. Unfrozen when the trials end, unless the caller had frozen
    objects itself.
    """
    outer = gc.get_freeze_count() > 0
    try:
        yield gc.freeze
    finally:
        if not outer:
            gc.unfreeze()


def _ended_elsewhere(exc: BaseException | None) -> bool:
    """Whether ``exc`` is Optuna's refusal to record a trial another process already ended.

    That is "Cannot tell a FAIL trial."; optuna then fails an assertion in the same ``finally``, so the refusal
    arrives as that assertion's context.
    """
    while exc is not None:
        if isinstance(exc, ValueError) and str(exc).startswith("Cannot tell a "):
            return True
        exc = exc.__context__
    return False


def study_tags(context: StudyContext) -> dict[str, str]:
    """The tags of every MLflow run of a study."""
    from kobench.tuning.single import run_tags  # single and registry import mlflow.pyfunc: not for kobench doctor

    spec, ref = context.spec, context.ref
    return {Tag.STUDY: context.name, **run_tags(spec, ref, context.base.selection, context.paths.prepared)}


def run_study(
    context: StudyContext,
    *,
    n_trials: int,
    storage_url: str,
    workers: int = 1,
    worker_command: list[str] | None = None,
    started: float | None = None,
) -> StudyResult:
    """Tune, then evaluate the best trial once on test, register it and write the metrics file.

    Trials run in this process, or in ``workers`` processes running ``worker_command``. The parent run ends
    FINISHED, FAILED, or KILLED when interrupted (SIGINT/SIGTERM). Processes that tune one study at the same time
    (``started``: when this one began) finalise it once: see ``_finalise_once``.
    """
    from kobench.tuning.registry import finalize, write_failed_study  # mlflow.pyfunc: see study_tags

    started = time.time() if started is None else started
    study, objective = _open(context, storage_url)
    context, params, tracker = objective.context, context.params, context.tracker
    name, parent, paths = study.study_name, objective.parent, context.paths
    status = "FAILED"
    try:
        fail_dead_owners(study)
        _sweep(study, tracker, parent)
        if workers > 1 and worker_command:
            run_workers(worker_command, workers)
        else:
            optimize(study, objective, n_trials, storage_url, params.tune.max_failures)
        _sweep(study, tracker, parent)
        summary = _summary(study)
        tracker.log_metrics(
            parent,
            {
                "trials_complete": summary["complete"],
                "trials_pruned": summary["pruned"],
                "trials_failed": summary["failed"],
            },
        )
        if summary["complete"] == 0:
            result = write_failed_study(context, summary)
        else:

            def final() -> StudyResult:
                best = study.best_trial
                with lease(list(context.slots), f"{name} final") as held:  # the final run and extra seeds hold a slot
                    device = {"device": held.slot.device} if held is not None else {}
                    final = context.with_base(dataclasses.replace(context.base, **device))
                    return finalize(final, _summary(study), best_number=best.number, best_params=best.params,
                                    best_attrs=best.user_attrs)  # fmt: skip

            result = _finalise_once(study, storage_url, started, final, paths.metrics_file)
        status = "FINISHED"
        return result
    except Interrupted:
        status = "KILLED"
        raise
    finally:
        tracker.end(parent, status)


FINAL_ATTR, FINALISING_ATTR = StudyAttr.FINAL, StudyAttr.FINALISING


def _finalise_once(
    study: optuna.Study, storage_url: str, started: float, final: Callable[[], StudyResult], metrics_file: Path
) -> StudyResult:
    """Run ``final`` unless another process finalised this same state of the study while this one ran.

    Two ``kobench tune`` of one study at once (two terminals, two machines) would otherwise each test and register
    the best trial: two final runs, two versions, and metrics files that disagree with the registry. The store's
    lock elects one finaliser; the others wait for it, then take its result (and write it to their own metrics
    file). Trials still running in other processes are waited for first, so that every process sees the same
    best trial. A re-run that starts after a study was finalised finalises again, as it always did.
    """
    _wait_for_running_trials(study)
    name = study.study_name
    finalising = study.user_attrs.get(FINALISING_ATTR)
    if finalising and finalising != owner() and owner_alive(finalising) is not False:
        _say(f"{name}: {finalising['host']} pid {finalising['pid']} is finalising this study; waiting for it")
    with store_lock(storage_url, f"final-{name}"):
        study = optuna.load_study(study_name=name, storage=study._storage)  # attributes as stored now
        state = {"best": study.best_trial.number, "finished": finished_trials(study)}
        recorded = study.user_attrs.get(FINAL_ATTR)
        if recorded and recorded["at"] >= started and recorded["state"] == state:
            by = recorded["by"]
            _say(f"{name}: finalised by {by['host']} pid {by['pid']} while this process ran; not registered again")
            result = StudyResult.from_json(recorded["result"])
            write_study(metrics_file, result)
            return result
        study.set_user_attr(FINALISING_ATTR, owner())
        try:
            result = final()
        finally:
            study.set_user_attr(FINALISING_ATTR, None)
        study.set_user_attr(FINAL_ATTR, {"by": owner(), "at": time.time(), "state": state, "result": result.to_json()})
        return result


def _wait_for_running_trials(study: optuna.Study, poll: float = 1.0) -> None:
    """Until no trial of another process is RUNNING (dead owners' and stale trials are failed meanwhile)."""
    said = False
    while True:
        fail_dead_owners(study)
        fail_stale(study)
        running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        if not running:
            return
        if not said:
            _say(f"{study.study_name}: waiting for {len(running)} running trial(s) of other processes before the final step")
            said = True
        check_interrupted()
        time.sleep(poll)


def work(context: StudyContext, *, n_trials: int, storage_url: str) -> None:
    """One worker of ``kobench tune --workers N``: trials of the shared study until its budget is claimed."""
    study, objective = _open(context, storage_url)
    optimize(study, objective, n_trials, storage_url, context.params.tune.max_failures)


def _open(context: StudyContext, storage_url: str) -> tuple[optuna.Study, Objective]:
    """The study (created or loaded), its parent run and an objective for its trials (its context opened)."""
    spec, params, name = context.spec, context.params, context.name
    study, created = open_or_create_study(name, storage_url, params, metric(spec.main_metric).direction)
    tags = study_tags(context)
    parent = parent_run(study, created, context.tracker, name, tags)
    beat = None if optuna_heartbeat(study._storage) else params.tune.heartbeat_seconds
    space = search_space(params, spec.name, context.ref)
    return study, Objective(context.opened(parent, tags), space, heartbeat=beat)


def _sweep(study: optuna.Study, tracker: Tracker, parent: str) -> None:
    """MLflow runs of trials that are no longer RUNNING in Optuna (killed processes) end FAILED."""
    alive = {
        t.user_attrs.get(TrialAttr.MLFLOW_RUN_ID)
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    }
    tracker.fail_orphans(parent, alive)


def _pruned_reason(attrs: dict[str, Any]) -> str | None:
    return f"pruned at step {attrs[TrialAttr.PRUNED_AT_STEP]}" if TrialAttr.PRUNED_AT_STEP in attrs else None


def _summary(study: optuna.Study) -> dict[str, Any]:
    """Counts and per-trial outcomes (failures and prunes with their reasons) for the metrics file."""
    trials = study.get_trials(deepcopy=False)
    state = optuna.trial.TrialState
    return {
        "study": study.study_name,
        "complete": sum(t.state == state.COMPLETE for t in trials),
        "pruned": sum(t.state == state.PRUNED for t in trials),
        "failed": sum(t.state == state.FAIL for t in trials),
        "trials": [
            {
                "number": t.number,
                "state": t.state.name,
                "value": t.value,
                "params": t.params,
                "reason": t.user_attrs.get(TrialAttr.FAILURE) or _pruned_reason(t.user_attrs),
            }
            for t in trials
        ],
    }
