"""Step 7: the best trial evaluated once on test, logged, registered (champion alias), written for DVC."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

from kobench.atomic import atomic_path
from kobench.data.splits import task_rows
from kobench.engine.outputs import write_predictions
from kobench.engine.training import RunConfig, evaluate_checkpoint, inference_setup, train
from kobench.families import bind
from kobench.metrics.bootstrap import t_interval
from kobench.metrics.registry import metric
from kobench.names import PREDICTIONS_FILE, Tag, TrialAttr, registered_model
from kobench.names import predictions_file as study_predictions
from kobench.records import StudyResult, write_study
from kobench.tasks.spec import TaskSpec
from kobench.tuning.champion import input_frame, log_champion, model_card
from kobench.tuning.context import StudyContext
from kobench.tuning.lineage import dataset_inputs
from kobench.tuning.tracking import FINAL, SEED


def finalize(
    context: StudyContext,
    summary: dict[str, Any],
    *,
    best_number: int,
    best_params: dict[str, Any],
    best_attrs: dict[str, Any],
) -> StudyResult:
    """Test the best checkpoint once, register it, run the optional extra seeds, write the metrics file.

    The final run ends FAILED, or KILLED when interrupted, if it cannot finish.
    """
    spec, ref, base, paths, tracker = context.spec, context.ref, context.base, context.paths, context.tracker
    parent, tags = context.parent, context.tags
    config = dataclasses.replace(base, **best_params)  # the tuned settings, by name
    main = spec.main_metric
    paths.outputs.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        scratch = stack.enter_context(tempfile.TemporaryDirectory(dir=paths.outputs, prefix=".final-"))
        checkpoint, validation, kept = _best_checkpoint(context, config, best_attrs, Path(scratch) / "checkpoint")
        test, predictions = evaluate_checkpoint(
            spec, ref, checkpoint, config, prepared_dir=paths.prepared, features_dir=paths.features
        )
        predictions_file = paths.outputs / "final" / PREDICTIONS_FILE
        write_predictions(predictions_file, bind(spec), predictions)
        with atomic_path(study_predictions(paths.metrics_file)) as copy:  # the same file, not written twice
            shutil.copyfile(predictions_file, copy)
        final_params = {**dataclasses.asdict(config), "model_id": ref.id, "task": spec.name, "best_trial": best_number}
        run_id = tracker.start_child(parent, "final", FINAL, final_params, tags)
        stack.enter_context(tracker.ending(run_id))  # FINISHED, or FAILED / KILLED if anything below stops it
        rows = used_rows(spec, paths.prepared, config)
        digest = tags[Tag.PREPARED_DIGEST]
        tracker.log_inputs(run_id, dataset_inputs(spec, paths.prepared, rows, digest, config.seed))
        tracker.log_metrics(run_id, validation, prefix="validation_")
        tracker.log_metrics(run_id, test, prefix="test_")
        tracker.log_artifact(run_id, predictions_file)  # what `kobench compare models:/…` pairs on
        setup = inference_setup(spec, ref, config)
        example = input_frame(spec.name, rows["test"][:2])
        source, model_id = log_champion(tracker, run_id, checkpoint, spec.name, setup, example)
        card = model_card(spec, ref, config, validation, test, digest, rows)
        version_tags = {
            "validation_score": validation[main],
            "main_metric": main,
            f"test_{main}": test[main],
            "lr": config.lr,
            "epochs": config.epochs,
            **best_params,  # every tuned setting, by name
            "protocol": base.selection,
            "best_trial": best_number,
            "model_revision": ref.row.revision or "unpinned",
        }
        registered = registered_model(spec.name, ref.slug)
        version, champion = tracker.register(
            registered, source, run_id, version_tags, validation[main], ranked_by=metric(main), model_id=model_id,
            description=card,
        )
        tracker.set_tags(run_id, {Tag.REGISTERED_VERSION: version, Tag.CHAMPION: champion})
    seeds = _extra_seeds(context, config)
    _drop_other_checkpoints(paths.outputs / "trials", keep=kept)
    result = StudyResult(
        status="complete",
        **_identity(context),
        protocol=base.selection,
        best_trial=best_number,
        best_params=best_params,
        validation=validation,
        test=test,
        seeds=seeds,
        run_ids={"study": parent, "final": run_id, "best_trial": best_attrs.get(TrialAttr.MLFLOW_RUN_ID)},
        registered_model=registered,
        registered_version=version,
        champion=champion,
        trials=summary,
        rows_subsampled={"train": base.max_train_samples, "eval": base.max_eval_samples},
        rows_used={split: len(split_rows) for split, split_rows in rows.items()},
    )
    write_study(paths.metrics_file, result)
    return result


def used_rows(spec: TaskSpec, prepared: Path, config: RunConfig) -> dict[str, list[dict[str, Any]]]:
    """The rows of every split a run with ``config`` uses (subsampled as it was)."""
    return {s: task_rows(spec, prepared, s, max_rows=limit, seed=config.seed) for s, limit in config.row_limits().items()}


def _best_checkpoint(
    context: StudyContext, config: RunConfig, attrs: dict[str, Any], pin: Path
) -> tuple[Path, dict[str, Any], Path]:
    """(checkpoint to use, its validation metrics, the trial folder to keep) for the best trial.

    Its checkpoint is hard-linked into ``pin`` first: another worker's trial that ends meanwhile may delete
    the original (beaten by a better score) while this one is still evaluating and uploading it. A checkpoint
    that is gone or on another machine is rebuilt by retraining with the best parameters.
    """
    checkpoint = Path(attrs.get(TrialAttr.RUN_DIR, "")) / "checkpoint"
    if attrs.get(TrialAttr.RUN_DIR) and pin_checkpoint(checkpoint, pin):
        return pin, attrs[TrialAttr.VALIDATION], checkpoint
    paths = context.paths
    run_dir = paths.outputs / "best-retrained"
    result = train(
        context.spec,
        context.ref,
        dataclasses.replace(config, save_checkpoint=True),
        prepared_dir=paths.prepared,
        run_dir=run_dir,
        features_dir=paths.features,
        evaluate_test=False,
    )
    return run_dir / "checkpoint", result.validation, run_dir / "checkpoint"


def pin_checkpoint(source: Path, target: Path) -> bool:
    """Hard-link (copy where links fail) a checkpoint's files into ``target``; False if it is incomplete or gone."""

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    try:
        shutil.copytree(source, target, copy_function=link)
    except (OSError, shutil.Error):  # deleted while being linked
        shutil.rmtree(target, ignore_errors=True)
        return False
    if (target / "config.json").exists() and any(target.glob("*.safetensors")):
        return True
    shutil.rmtree(target, ignore_errors=True)
    return False


def _extra_seeds(context: StudyContext, config: RunConfig) -> dict[str, Any] | None:
    """``tune.final_seeds``: the best hyper-parameters re-run per seed; mean and std of the test metric."""
    spec, paths, tracker, parent, tags = context.spec, context.paths, context.tracker, context.parent, context.tags
    seeds = context.params.tune.final_seeds
    if not seeds:
        return None
    scores = {}
    for seed in seeds:
        seeded = dataclasses.replace(config, seed=seed, save_checkpoint=False)
        run_id = tracker.start_child(parent, f"seed-{seed}", SEED, dataclasses.asdict(seeded), tags)
        with tracker.ending(run_id):
            result = train(
                spec,
                context.ref,
                seeded,
                prepared_dir=paths.prepared,
                run_dir=paths.outputs / "seeds" / f"seed-{seed}",
                features_dir=paths.features,
            )
            tracker.log_metrics(run_id, result.test, prefix="test_")
        scores[seed] = result.test[spec.main_metric]
    values = list(scores.values())
    return {
        "seeds": seeds,
        "test": scores,
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "t_interval": t_interval(values),
    }


def _drop_other_checkpoints(trials_dir: Path, keep: Path) -> None:
    """Trial checkpoints other than the kept one only fill the disk."""
    for checkpoint in trials_dir.glob("trial-*/checkpoint"):
        if checkpoint.resolve() != keep.resolve():
            shutil.rmtree(checkpoint, ignore_errors=True)


def write_failed_study(context: StudyContext, summary: dict[str, Any]) -> StudyResult:
    """No trial completed: the metrics file says so, with every trial's reason, for the report."""
    reasons = [t["reason"] for t in summary["trials"] if t["reason"]]
    result = StudyResult(
        status="failed",
        **_identity(context),
        reason=reasons[-1] if reasons else "no trial completed",
        run_ids={"study": context.parent},
        trials=summary,
    )
    # the stage's declared output: no predictions, so no test can pair on a study that produced none
    metrics_file = context.paths.metrics_file
    write_predictions(study_predictions(metrics_file), bind(context.spec), {})
    write_study(metrics_file, result)
    return result


def _identity(context: StudyContext) -> dict[str, Any]:
    """What every study result says about what was studied."""
    spec, ref = context.spec, context.ref
    return {
        "task": spec.name,
        "model": ref.key,
        "model_id": ref.id,
        "model_revision": ref.row.revision,
        "size": ref.row.size,
        "study": context.name,
        "main_metric": spec.main_metric,
    }
