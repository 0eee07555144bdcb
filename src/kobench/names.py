"""Every name and path that one stage writes and a later one finds, built in one place.

A study of task ``nsmc`` and model slug ``koelectra-small-v3`` is the Optuna study and MLflow parent run
``nsmc-koelectra-small-v3``, the registered model ``kobench-nsmc-koelectra-small-v3``, the metric file
``metrics/nsmc/koelectra-small-v3.json`` with its details ``….study.json``, and its outputs under
``outputs/nsmc/koelectra-small-v3/``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from kobench.errors import ConfigError

PREDICTIONS_FILE = "predictions-test.jsonl"  # a run's test predictions, in the `kobench score` format
INTERVAL_METHOD = "interval"  # key, in a run's test metrics, of how its confidence intervals were drawn


class Tag:
    """MLflow tag keys: set by tuning's runs, searched and read by tuning, the report and ``kobench doctor``."""

    TASK = "kobench.task"
    TASK_VERSION = "kobench.task_version"
    MODEL = "kobench.model"
    MODEL_ID = "kobench.model_id"
    MODEL_REVISION = "kobench.model_revision"
    SIZE = "kobench.size"
    PROTOCOL = "kobench.protocol"
    GIT_COMMIT = "kobench.git_commit"
    PREPARED_DIGEST = "kobench.prepared_digest"  # content hash of the prepared task the run read
    STUDY = "kobench.study"
    KIND = "kobench.kind"  # study, trial, final, seed, train, recipe, recipe-seed
    OWNER = "kobench.owner"  # host and process that runs it now
    FAILURE = "kobench.failure"  # why a run ended FAILED or KILLED
    DEVICE = "kobench.device"
    SLOT = "kobench.slot"
    REGISTERED_VERSION = "kobench.registered_version"
    CHAMPION = "kobench.champion"
    RECIPE_PROTOCOL = "kobench.recipe_protocol"
    ROWS = "kobench.rows"  # a dataset input's rows as used
    ROWS_PREPARED = "kobench.rows_prepared"
    SUBSAMPLED = "kobench.subsampled"
    USER = "mlflow.user"  # MLflow's own: who started the run (the tracking account, else the OS user)


class TrialAttr:
    """Optuna user attributes of a trial: set by ``tuning.study``, read by ``tuning.registry`` and ``kobench doctor``."""

    OWNER = "owner"  # {host, pid} of the process that runs it
    FAILURE = "failure"  # why it failed
    RUN_DIR = "run_dir"  # its output folder (checkpoint, metrics.json)
    VALIDATION = "validation"  # its best validation metrics
    TEST = "test"  # its test metrics, under --selection test only
    MLFLOW_RUN_ID = "mlflow_run_id"
    SLOT = "slot"  # the device slot it leased: device, name, start, end
    PRUNED_AT_STEP = "pruned_at_step"
    HEARTBEAT = "kobench_heartbeat"  # {at, every}: kobench's heartbeat, where the storage has none (journal, gRPC)


class StudyAttr:
    """Optuna user attributes of a study."""

    PARENT_RUN = "mlflow_parent_run_id"  # the study's MLflow parent run
    FINAL = "kobench_final"  # the last final step: who, when, for which state of the study, its result
    FINALISING = "kobench_finalising"  # who runs the final step now


def plain_segment(value: str, what: str) -> str:
    """``value`` if it is a plain folder or file name (no separator, not ``.``/``..``, not empty), else ConfigError.

    Every name a user gives that becomes part of a path (run names, model keys, study names) passes here, so
    nothing is written outside the configured folders.

    >>> plain_segment("run-1", "--run-name")
    'run-1'
    """
    if not value or value in (".", "..") or any(c in value for c in ("/", "\\", "\0")) or len(value) > 200:
        raise ConfigError(f"{what} {value!r}: not a plain name (no '/', '\\', '.' or '..', at most 200 characters)")
    return value


def study_name(task: str, model: str) -> str:
    """``<task>-<model>``: the Optuna study and the MLflow parent run.

    >>> study_name("nsmc", "kobert")
    'nsmc-kobert'
    """
    return f"{plain_segment(task, 'task')}-{plain_segment(model, 'model')}"


def registered_model(task: str, model: str) -> str:
    """``kobench-<task>-<model>``: the MLflow registered model of a study.

    >>> registered_model("korsts", "tiny")
    'kobench-korsts-tiny'
    """
    return f"kobench-{study_name(task, model)}"


def metrics_file(metrics_root: Path, task: str, model: str) -> Path:
    """``<metrics>/<task>/<model>.json``: a study's DVC metric (numbers only)."""
    return metrics_root / plain_segment(task, "task") / f"{plain_segment(model, 'model')}.json"


def details_file(metrics: Path) -> Path:
    """``<model>.study.json`` beside the metric file ``<model>.json``: the study's details."""
    return metrics.with_name(f"{metrics.stem}.study.json")


def predictions_file(metrics: Path) -> Path:
    """``<model>.predictions.jsonl`` beside the metric file: the final run's test predictions.

    The report and ``kobench compare`` test rows on them; a DVC output of the study, it travels with the metrics.
    """
    return metrics.with_name(f"{metrics.stem}.predictions.jsonl")


def recipe_file(metrics_root: Path, task: str, model: str) -> Path:
    """``<metrics>/<task>/<model>.recipe.json``: the published recipe's mean, std and seeds (kobench reproduce)."""
    return metrics_root / plain_segment(task, "task") / f"{plain_segment(model, 'model')}.recipe.json"


def study_outputs(outputs_root: Path, task: str, model: str) -> Path:
    """``<outputs>/<task>/<model>/``: trials, the final predictions and extra seeds of a study."""
    return outputs_root / plain_segment(task, "task") / plain_segment(model, "model")


def run_dir(outputs_root: Path, task: str, model: str, run_name: str | None = None) -> Path:
    """``<outputs>/<task>/<model>/<run>`` of a single fine-tune; the default run name is a UTC timestamp."""
    name = plain_segment(run_name, "--run-name") if run_name is not None else time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return study_outputs(outputs_root, task, model) / name


@dataclass(frozen=True)
class StudyPaths:
    """Where a study reads and writes."""

    prepared: Path  # data/prepared/<task>/
    features: Path | None  # the feature cache, if any
    outputs: Path  # outputs/<task>/<model>/
    metrics_file: Path  # metrics/<task>/<model>.json


# A trial run inside a Slurm job records where: these variables' values go to the trial's Optuna user attribute
# SLURM_ATTR (a dict keyed by the short names) and to its MLflow tags SLURM_TAG_PREFIX + short name.
SLURM_IDS = {"SLURM_JOB_ID": "job_id", "SLURM_ARRAY_JOB_ID": "array_job_id", "SLURM_ARRAY_TASK_ID": "array_task_id"}
SLURM_ATTR = "slurm"
SLURM_TAG_PREFIX = "kobench.slurm_"


def slurm_ids(environ: dict[str, str]) -> dict[str, str]:
    """The Slurm job and array task ids in ``environ`` (empty outside Slurm), by short name.

    >>> slurm_ids({"SLURM_JOB_ID": "8", "SLURM_ARRAY_JOB_ID": "7", "SLURM_ARRAY_TASK_ID": "1", "HOME": "/root"})
    {'job_id': '8', 'array_job_id': '7', 'array_task_id': '1'}
    """
    return {short: environ[var] for var, short in SLURM_IDS.items() if environ.get(var)}


# Optuna storages beside SQLAlchemy's RDB URLs (tuning/storages.py): a gRPC storage proxy, a journal file
GRPC_SCHEME = "grpc://"  # grpc://host:port: Optuna's gRPC storage proxy (`kobench storage-proxy`)
JOURNAL_SCHEME = "journal:///"  # journal:///relative/file or journal:////absolute/file, as sqlite:///
LOCK_SERVICE = "/kobench.StoreLocks/Hold"  # the lock method `kobench storage-proxy` serves beside Optuna's storage
