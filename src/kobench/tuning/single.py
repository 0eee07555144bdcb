"""One tracked fine-tune: ``kobench train`` and each seed of ``kobench reproduce`` as an MLflow run.

The run carries what a trial's run carries (parameters, tags, validation metrics at every evaluation, dataset
inputs) plus the test metrics and the checkpoint as an MLflow Model. It ends FINISHED, FAILED with the reason
(tag ``kobench.failure``), or KILLED on SIGINT/SIGTERM. With ``register`` it becomes a new version of
``kobench-<task>-<model>`` (``@champion`` moves only for a better validation score).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from kobench.data.splits import prepared_digest
from kobench.engine.models import ModelRef
from kobench.engine.training import RunConfig, inference_setup, train
from kobench.metrics.registry import metric
from kobench.names import Tag, registered_model
from kobench.records import RunResult
from kobench.tasks.spec import TaskSpec
from kobench.tuning.champion import input_frame, log_champion, model_card
from kobench.tuning.lineage import dataset_inputs
from kobench.tuning.registry import used_rows
from kobench.tuning.tracking import Tracker, git_commit

TRAIN = "train"


def run_tags(spec: TaskSpec, ref: ModelRef, selection: str, prepared_dir: Path) -> dict[str, str]:
    """The tags every kobench run carries: what was trained, on which data, from which code."""
    return {
        Tag.TASK: spec.name,
        Tag.TASK_VERSION: str(spec.version),
        Tag.MODEL: ref.key,
        Tag.MODEL_ID: ref.id,
        Tag.MODEL_REVISION: ref.row.revision or "unpinned",
        Tag.SIZE: ref.row.size,
        Tag.PROTOCOL: selection,
        Tag.GIT_COMMIT: git_commit(),
        Tag.PREPARED_DIGEST: prepared_digest(prepared_dir),
    }


def tracked_train(  # noqa: PLR0913
    spec: TaskSpec,
    ref: ModelRef,
    config: RunConfig,
    *,
    prepared_dir: Path,
    run_dir: Path,
    features_dir: Path | None,
    tracker: Tracker,
    kind: str = TRAIN,
    parent: str | None = None,
    register: bool = False,
    tags: dict[str, str] | None = None,
) -> tuple[RunResult, str]:
    """Fine-tune as ``train`` does, inside one MLflow run; return (result, run id)."""
    tags = {**run_tags(spec, ref, config.selection, prepared_dir), **(tags or {})}
    params = {**dataclasses.asdict(config), "model_id": ref.id, "task": spec.name}
    run_id = tracker.start(run_dir.name, kind, params, tags, parent=parent)
    with tracker.ending(run_id):

        def evaluated(step: int, epoch: float, validation: dict[str, Any]) -> bool:
            tracker.log_metrics(run_id, {**validation, "epoch": epoch}, step, prefix="validation_")
            return False

        def loaded(rows: dict[str, list]) -> None:
            digest = tags[Tag.PREPARED_DIGEST]
            tracker.log_inputs(run_id, dataset_inputs(spec, prepared_dir, rows, digest, config.seed))

        try:
            result = train(spec, ref, config, prepared_dir=prepared_dir, run_dir=run_dir, features_dir=features_dir,
                           on_evaluate=evaluated, on_rows=loaded)  # fmt: skip
        except Exception as exc:
            tracker.set_tags(run_id, {Tag.FAILURE: f"{type(exc).__name__}: {str(exc)[:500]}"})
            raise
        tracker.log_metrics(run_id, {**result.throughput, "train_loss": result.history[-1]["train_loss"]})
        for record in result.history if config.selection == "test" else ():
            tracker.log_metrics(run_id, record["test"], record["step"], prefix="test_at_step_")
        tracker.log_metrics(run_id, result.test or {}, prefix="test_")
        if config.save_checkpoint:
            _log_model(spec, ref, config, result, run_id, run_dir, prepared_dir, tags, tracker, register)
    return result, run_id


def _log_model(spec, ref, config, result, run_id, run_dir, prepared_dir, tags, tracker, register) -> None:  # noqa: ANN001, PLR0913
    """The checkpoint as the run's MLflow Model; a new registered version when asked."""
    rows = used_rows(spec, prepared_dir, config)
    example = input_frame(spec.name, rows["test"][:2])
    setup = inference_setup(spec, ref, config)
    source, model_id = log_champion(tracker, run_id, run_dir / "checkpoint", spec.name, setup, example)
    if not register:
        return
    main = spec.main_metric
    version_tags = {
        "validation_score": result.validation[main],
        "main_metric": main,
        f"test_{main}": result.test[main],
        "lr": config.lr,
        "epochs": config.epochs,
        "protocol": config.selection,
        "model_revision": ref.row.revision or "unpinned",
        "source_run": "kobench train",
    }
    card = model_card(spec, ref, config, result.validation, result.test, tags[Tag.PREPARED_DIGEST], rows)
    version, champion = tracker.register(
        registered_model(spec.name, ref.slug), source, run_id, version_tags, result.validation[main],
        ranked_by=metric(main), model_id=model_id, description=card,
    )  # fmt: skip
    tracker.set_tags(run_id, {Tag.REGISTERED_VERSION: version, Tag.CHAMPION: champion})
