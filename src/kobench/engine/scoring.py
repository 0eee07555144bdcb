"""`kobench score`: a JSONL predictions file scored against a prepared gold split with the training metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kobench.data.splits import task_rows
from kobench.errors import DataError
from kobench.families import BoundTask, bind
from kobench.metrics.bootstrap import Bootstrap, metric_intervals
from kobench.names import INTERVAL_METHOD
from kobench.tasks.spec import TaskSpec


def read_predictions(path: Path, spec: TaskSpec) -> tuple[dict[str, Any], list[str]]:
    """``{"id": ..., "prediction": ...}`` lines as (canonical predictions by id, duplicated ids).

    Raises:
        DataError: bad JSON, a missing key or a malformed prediction, with file:line.
    """
    task = bind(spec)
    predictions: dict[str, Any] = {}
    duplicates: list[str] = []
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        raise DataError(path, "not found") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            row_id, value = str(record["id"]), record["prediction"]
            prediction = task.from_json(value)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise DataError(path, f"bad prediction ({type(exc).__name__}: {exc})", number) from None
        if row_id in predictions:
            duplicates.append(row_id)
        predictions[row_id] = prediction
    return predictions, duplicates


def score_file(spec: TaskSpec, prepared_dir: Path, predictions_path: Path, split: str = "test") -> dict[str, Any]:
    """Metrics of a predictions file; every gold id must be predicted exactly once and no other id."""
    rows = task_rows(spec, prepared_dir, split)
    predictions, duplicates = read_predictions(predictions_path, spec)
    gold_ids = [r["id"] for r in rows]
    missing = [i for i in gold_ids if i not in predictions]
    unknown = sorted(set(predictions) - set(gold_ids))
    problems = [f"{len(duplicates)} duplicate id(s), e.g. {', '.join(duplicates[:3])}"] if duplicates else []
    if missing:
        problems.append(f"{len(missing)} missing id(s), e.g. {', '.join(missing[:3])}")
    if unknown:
        problems.append(f"{len(unknown)} unknown id(s), e.g. {', '.join(unknown[:3])}")
    if problems:
        raise DataError(predictions_path, f"{'; '.join(problems)} (against {split}, {len(rows)} rows)")
    task = bind(spec)
    for row in rows:
        if (problem := task.check_prediction(row, predictions[row["id"]])) is not None:
            raise DataError(predictions_path, f"id {row['id']}: {problem}")
    metrics = with_intervals(task, rows, predictions, task.score(rows, predictions))
    return {"task": spec.name, "split": split, "rows": len(rows), **metrics}


def with_intervals(
    task: BoundTask, rows: list[dict[str, Any]], predictions: dict[str, Any], metrics: dict[str, Any]
) -> dict[str, Any]:
    """Metrics with a 95 % bootstrap interval per metric (``<metric>_ci_low`` / ``_ci_high``).

    Under ``interval``: how it was drawn (unit, units, resamples, seed, level).
    """
    bounds, method = metric_intervals(task.unit_stats(rows, predictions), Bootstrap())
    return {**metrics, **bounds, INTERVAL_METHOD: method}
