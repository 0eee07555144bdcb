"""Step 5: MLflow tracking and the Model Registry (the only module that imports mlflow)."""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from kobench.atomic import atomic_path
from kobench.cache import cache_root
from kobench.errors import KobenchError
from kobench.interrupts import check as check_interrupted
from kobench.metrics.registry import Metric
from kobench.names import INTERVAL_METHOD, PREDICTIONS_FILE, Tag, registered_model
from kobench.storelock import check_sqlite_store, create_sqlite_atomically, sqlite_path, store_init_lock
from kobench.tuning.stores import guard_schema

log = logging.getLogger(__name__)
T = TypeVar("T")
STUDY, TRIAL, FINAL, SEED = "study", "trial", "final", "seed"


class TrackingAccessError(KobenchError):
    """The tracking server refused a request: no or wrong credentials (401), or no permission (403)."""


def refusal(exc: Exception, uri: str | None) -> TrackingAccessError | None:
    """``exc`` as one line when it is the tracking server's 401 or 403, else None. Never names the password."""
    status = getattr(exc, "get_http_status_code", lambda: None)()
    if status not in (401, 403):
        return None
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    server = f"MLflow server {uri or 'at MLFLOW_TRACKING_URI'}"
    if status == 401:
        why = (f"user '{user}' was refused: check MLFLOW_TRACKING_PASSWORD" if user else
               "no credentials: set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD")
        return TrackingAccessError(f"{server}: 401 not authenticated ({why})")
    endpoint = str(exc).split("endpoint ", 1)[-1].split(" ", 1)[0] if "endpoint " in str(exc) else "a request"
    return TrackingAccessError(
        f"{server}: 403 permission denied to user '{user}' on {endpoint}: ask the server's admin for EDIT on the "
        "experiment (and on the registered model, to move @champion)"
    )


def retry_locked(fn: Callable[..., T]) -> Callable[..., T]:
    """Retry a store call that hit SQLite's writer lock (parallel studies sharing one local mlflow.db).

    A tracking server's refusal (401, 403) is not retried: it becomes one line (TrackingAccessError).
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        for attempt in range(40):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - MLflow wraps sqlite errors in several types
                refused = refusal(exc, getattr(args[0], "uri", None) if args else None)
                if refused is not None:
                    raise refused from None
                if "database is locked" not in str(exc) or attempt == 39:
                    raise
                check_interrupted()
                time.sleep(min(0.05 * 2**attempt, 2.0) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    return wrapper


def _create_mlflow_store(uri: str) -> None:
    """Create MLflow's schema at ``uri`` (a new file renamed into place next), then close every connection to it.

    Migrating a new schema takes 0.8 s on an idle machine and over 10 s on a loaded one. So the first store made
    with an MLflow version is kept, emptied of its default experiment, as a template in kobench's cache, and the
    next new stores start as a copy of it (0.03 s): MLflow then finds its schema at the head revision and adds
    the default experiment itself, as in a store it migrated. A template it does not accept is made again.
    """
    path = sqlite_path(uri)
    template = _schema_template()
    if template.is_file():
        try:
            shutil.copyfile(template, path)
            _open_mlflow_store(uri)
            return
        except Exception as exc:  # noqa: BLE001 - a damaged or foreign template: migrate a new schema instead
            log.info("MLflow schema template %s not used (%s); creating the schema", template, exc)
            _forget_engine(uri)
            path.unlink(missing_ok=True)
    _open_mlflow_store(uri)
    _keep_as_template(path, template)


def _open_mlflow_store(uri: str) -> None:
    """MLflow's own opening of a store: the schema created or migrated to head, the default experiment added."""
    from mlflow.store.tracking import DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    SqlAlchemyStore(uri, DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH).engine.dispose()


def _forget_engine(uri: str) -> None:
    """Close and drop the engine MLflow keeps per URI, whose connections still hold the file just removed."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    engine = getattr(SqlAlchemyStore, "_engine_map", {}).pop(uri, None)
    if engine is not None:
        engine.dispose()


def _schema_template() -> Path:
    """``<kobench cache>/mlflow-schema/<mlflow version>.db``."""
    import mlflow

    return cache_root() / "mlflow-schema" / f"{mlflow.__version__}.db"


def _keep_as_template(store: Path, template: Path) -> None:
    """Copy a store just created, without its default experiment, to ``template``; a cache: failures are ignored."""
    try:
        with atomic_path(template) as scratch:
            shutil.copyfile(store, scratch)
            with contextlib.closing(sqlite3.connect(scratch)) as db, db:
                db.execute("delete from experiment_tags")
                db.execute("delete from experiments")
    except (OSError, sqlite3.Error, KobenchError) as exc:
        log.info("MLflow schema template %s not written (%s)", template, exc)


def git_commit() -> str:
    """The checked-out commit of the working directory, or "unknown"."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def owner_tag() -> str:
    """``host:pid`` of this process, on every run it starts (``kobench doctor`` ends runs whose owner died)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def run_user() -> str:
    """Who starts a run (MLflow's tag ``mlflow.user``): the tracking account's user name, else the OS user.

    MLflow's own rule for the runs it starts (``mlflow.start_run``); ``MlflowClient.create_run``, which kobench uses,
    applies none, so kobench sets it. Only the name: the password stays in MLflow's environment or credentials file.
    """
    import getpass

    from mlflow.utils.credentials import read_mlflow_creds

    try:
        return read_mlflow_creds().username or getpass.getuser()
    except (OSError, KeyError):  # no login name (a container's uid without a passwd entry)
        return "unknown"


def flat_metrics(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a metrics dict as ``prefix_key`` floats (per-type NER reports flattened)."""
    flat = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if key == INTERVAL_METHOD:  # how the intervals were drawn: a tag, not a metric
            continue
        if isinstance(value, dict):
            flat.update(flat_metrics(value, f"{name}_"))
        elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            flat[name] = float(value)
    return flat


class Tracker:
    """One experiment; a parent run per study, nested child runs per trial, registered checkpoints."""

    def __init__(self, uri: str | None, experiment: str, *, system_metrics: bool = False) -> None:
        import mlflow
        from mlflow.tracking import MlflowClient

        if uri:
            mlflow.set_tracking_uri(uri)
        if urlsplit(mlflow.get_tracking_uri()).password:  # the URI is written to run tags and reports
            raise KobenchError("the tracking URI holds a password: give it in MLFLOW_TRACKING_PASSWORD instead")
        check_sqlite_store(mlflow.get_tracking_uri(), "MLflow store")
        guard_schema(mlflow.get_tracking_uri(), "MLflow store", "mlflow")
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # kobench prints its own progress
        self.uri = mlflow.get_tracking_uri()
        self.system_metrics = system_metrics
        with store_init_lock(mlflow.get_tracking_uri()):  # the client creates and migrates the schema
            create_sqlite_atomically(mlflow.get_tracking_uri(), _create_mlflow_store)
            # both URIs fixed now: MLflow resolves an unset registry URI lazily from the global tracking URI
            self.client = MlflowClient(tracking_uri=mlflow.get_tracking_uri(), registry_uri=mlflow.get_registry_uri())
            self.experiment_id = self._experiment(experiment)

    @retry_locked
    def _experiment(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        try:
            return self.client.create_experiment(name)
        except Exception:  # noqa: BLE001 - another worker created it first
            return self.client.get_experiment_by_name(name).experiment_id

    @retry_locked
    def study_run(self, study: str, tags: dict[str, str]) -> str:
        """The parent run of ``study``: reopened when it exists (resume), else created."""
        runs = self.client.search_runs(
            [self.experiment_id],
            f"tags.`{Tag.STUDY}` = '{study}' and tags.`{Tag.KIND}` = '{STUDY}'",
            max_results=1,
            order_by=["attributes.start_time ASC"],
        )
        if runs:
            self.client.update_run(runs[0].info.run_id, status="RUNNING")
            self.client.set_tag(runs[0].info.run_id, Tag.OWNER, owner_tag())
            return runs[0].info.run_id
        run = self.client.create_run(
            self.experiment_id,
            run_name=study,
            tags={**tags, Tag.KIND: STUDY, Tag.OWNER: owner_tag(), Tag.USER: run_user()},
        )
        return run.info.run_id

    @retry_locked
    def reopen(self, run_id: str, study: str) -> bool:
        """Set the parent run ``run_id`` of ``study`` RUNNING again; False when this store has no such run."""
        from mlflow.exceptions import MlflowException

        try:
            run = self.client.get_run(run_id)
        except MlflowException:
            return False
        if (
            run.info.experiment_id != self.experiment_id
            or run.info.lifecycle_stage != "active"
            or run.data.tags.get(Tag.STUDY) != study
            or run.data.tags.get(Tag.KIND) != STUDY
        ):
            return False
        self.client.update_run(run_id, status="RUNNING")
        self.client.set_tag(run_id, Tag.OWNER, owner_tag())
        return True

    def start_child(self, parent: str, name: str, kind: str, params: dict[str, Any], tags: dict[str, str]) -> str:
        """A nested run under ``parent`` with its parameters and tags."""
        return self.start(name, kind, params, tags, parent=parent)

    @retry_locked
    def start(self, name: str, kind: str, params: dict[str, Any], tags: dict[str, str], parent: str | None = None) -> str:
        """A run of ``kind`` (``kobench.kind``) with its parameters and tags, nested under ``parent`` if given."""
        from mlflow.entities import Param

        tags = {**tags, Tag.KIND: kind, Tag.OWNER: owner_tag(), Tag.USER: run_user()}
        if parent:
            tags["mlflow.parentRunId"] = parent
        run_id = self.client.create_run(self.experiment_id, run_name=name, tags=tags).info.run_id
        self.client.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()])
        return run_id

    @retry_locked
    def log_metrics(self, run_id: str, metrics: dict[str, Any], step: int | None = None, prefix: str = "") -> None:
        """Numeric metrics at ``step``."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, v, now, step or 0) for k, v in flat_metrics(metrics, prefix).items()]
        if items:
            self.client.log_batch(run_id, metrics=items)

    @retry_locked
    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        """String tags on a run."""
        from mlflow.entities import RunTag

        self.client.log_batch(run_id, tags=[RunTag(k, str(v)[:5000]) for k, v in tags.items()])

    @retry_locked
    def end(self, run_id: str, status: str = "FINISHED") -> None:
        """Terminate a run: FINISHED, FAILED or KILLED (pruned)."""
        self.client.set_terminated(run_id, status=status)

    @contextlib.contextmanager
    def ending(self, run_id: str) -> Iterator[None]:
        """End ``run_id`` when the block ends: FINISHED, FAILED on an error, KILLED when interrupted."""
        status = "FAILED"
        try:
            yield
            status = "FINISHED"
        except KeyboardInterrupt:  # kobench.interrupts.Interrupted: SIGINT or SIGTERM
            status = "KILLED"
            raise
        finally:
            self.end(run_id, status)

    def system_monitor(self, run_id: str) -> Any:
        """A started system-metrics monitor for ``run_id`` (CPU, memory, GPU), or None when disabled."""
        if not self.system_metrics:
            return None
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

        monitor = SystemMetricsMonitor(run_id, sampling_interval=1, samples_before_logging=1)
        monitor.start()
        return monitor

    @staticmethod
    def stop_monitor(monitor: Any) -> None:
        """Stop a system-metrics monitor and log one last sample, so that short runs get one too."""
        if monitor is None:
            return
        monitor.finish()
        monitor.collect_metrics()
        monitor.publish_metrics(monitor.aggregate_metrics())
        monitor.mlflow_logger.flush()

    @retry_locked
    def children(self, parent: str, kind: str | None = None) -> list[Any]:
        """Child runs of ``parent`` (optionally of one kind)."""
        query = f"tags.`mlflow.parentRunId` = '{parent}'" + (f" and tags.`{Tag.KIND}` = '{kind}'" if kind else "")
        return self.client.search_runs([self.experiment_id], query, max_results=10_000)

    def fail_orphans(self, parent: str, alive: set[str]) -> list[str]:
        """Mark FAILED every RUNNING child run of ``parent`` that no live trial owns (a killed process)."""
        orphans = [r.info.run_id for r in self.children(parent) if r.info.status == "RUNNING" and r.info.run_id not in alive]
        for run_id in orphans:
            self.set_tags(run_id, {Tag.FAILURE: "process died mid-run (its trial was failed)"})
            self.end(run_id, "FAILED")
        return orphans

    @retry_locked
    def log_artifact(self, run_id: str, path: Path) -> None:
        """A file into the run's artifact root."""
        self.client.log_artifact(run_id, str(path))

    @retry_locked
    def log_inputs(self, run_id: str, datasets: list[Any]) -> None:
        """Dataset inputs (``mlflow.entities.DatasetInput``) of a run: the data lineage the UI shows."""
        self.client.log_inputs(run_id, datasets=datasets)

    def log_pyfunc(
        self, run_id: str, entry: Path, artifacts: dict[str, str], example: Any, requirements: list[str]
    ) -> tuple[str, str]:
        """Log a models-from-code pyfunc (``entry``) as the run's MLflow Model; return (model URI, model id).

        The signature is inferred by predicting ``example`` with the logged model itself, so it describes what a
        user will get.
        """
        import mlflow

        mlflow.set_tracking_uri(self.uri)
        with mlflow.start_run(run_id=run_id), warnings.catch_warnings():  # log_model logs into the active run
            warnings.filterwarnings("ignore", message=".*integer column", category=UserWarning)  # no missing values
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(entry),
                artifacts=artifacts,
                input_example=example,
                pip_requirements=requirements,
            )
        self.client.update_run(run_id, status="RUNNING")  # leaving start_run ended it; the caller ends it
        return info.model_uri, info.model_id

    @retry_locked
    def register(  # noqa: PLR0913
        self,
        name: str,
        source: str,
        run_id: str,
        tags: dict[str, Any],
        score: float,
        *,
        ranked_by: Metric,
        model_id: str | None = None,
        description: str | None = None,
    ) -> tuple[str, bool]:
        """Register ``source`` (a logged model's URI) as a new version of ``name``; ``@champion`` moves if it is better.

        The alias moves only when ``score`` beats the current champion's ``validation_score`` in the main metric's
        direction (``ranked_by``, from ``metrics.registry``).

        Returns:
            (version, whether it became champion).
        """
        from mlflow.exceptions import MlflowException

        try:
            self.client.create_registered_model(name, description="kobench: best checkpoint per task x model")
        except MlflowException:
            pass  # exists already
        version = self.client.create_model_version(
            name,
            source,
            run_id=run_id,
            tags={k: str(v) for k, v in tags.items()},
            description=description,
            model_id=model_id,
        )
        try:
            champion = self.client.get_model_version_by_alias(name, "champion")
            current = float(champion.tags["validation_score"]) if "validation_score" in champion.tags else None
        except MlflowException:
            current = None
        number = str(version.version)
        if current is None or ranked_by.better(score, current):
            self.client.set_registered_model_alias(name, "champion", number)
            return number, True
        return number, False


def champion_metrics(tracker: Tracker, task: str, model: str) -> tuple[dict[str, Any], str, str] | None:
    """Test metrics (fractions) of ``kobench-<task>-<model>@champion`` from its final run, the source, the run id."""
    from mlflow.exceptions import MlflowException

    name = registered_model(task, model)
    try:
        version = tracker.client.get_model_version_by_alias(name, "champion")
        run = tracker.client.get_run(version.run_id)
    except MlflowException:
        return None
    metrics = {k.removeprefix("test_"): v for k, v in run.data.metrics.items() if k.startswith("test_")}
    return (metrics, f"mlflow {name} v{version.version} (@champion)", version.run_id) if metrics else None


def metric_curves(tracker: Tracker, run_id: str) -> dict[str, list[tuple[int, float]]]:
    """Validation metric histories (``validation_*``) of a trial run, by metric name."""
    run = tracker.client.get_run(run_id)
    curves = {}
    for key in sorted(run.data.metrics):
        if key.startswith("validation_") and key != "validation_epoch":
            history = tracker.client.get_metric_history(run_id, key)
            curves[key] = [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)]
    return curves


def download_predictions(tracker: Tracker, uri: str, folder: Path) -> Path:
    """The test predictions logged by the run behind a registered model (``models:/name@alias`` or ``/version``).

    Raises:
        KobenchError: the model or version is unknown, or its run logged no predictions file.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    name, sep, alias = uri.removeprefix("models:/").partition("@")
    if not sep:
        name, _, number = name.partition("/")
    try:
        version = (
            tracker.client.get_model_version_by_alias(name, alias) if sep else tracker.client.get_model_version(name, number)
        )
    except MlflowException as exc:
        reason = str(exc).splitlines()[0]
        raise KobenchError(f"{uri}: no such registered model version in {tracker.uri} ({reason})") from None
    folder.mkdir(parents=True, exist_ok=True)
    try:
        found = mlflow.artifacts.download_artifacts(
            run_id=version.run_id, artifact_path=PREDICTIONS_FILE, dst_path=str(folder), tracking_uri=tracker.uri
        )
    except (MlflowException, OSError):
        raise KobenchError(
            f"{uri}: its run {version.run_id} logged no {PREDICTIONS_FILE} (registered by an older kobench); "
            "compare the study's predictions file instead"
        ) from None
    return Path(found)
