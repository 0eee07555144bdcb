"""Run outputs: outputs/<task>/<model>/<run>/ with metrics.json, test predictions and the checkpoint."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path
from typing import Any

from kobench.atomic import atomic_path, umask_mode, write_json
from kobench.errors import DiskFullError
from kobench.families import BoundTask
from kobench.names import PREDICTIONS_FILE
from kobench.records import RunResult


def write_run(
    run_dir: Path,
    result: RunResult,
    task: BoundTask,
    predictions: dict[str, Any],
    model: Any | None,
    tokenizer: Any,
) -> None:
    """Write the checkpoint (safetensors + tokenizer), predictions, then metrics.json last (the run's seal).

    Raises:
        DiskFullError: the disk filled up; a half-written checkpoint is removed.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    if model is not None:
        checkpoint = run_dir / "checkpoint"
        try:
            model.save_pretrained(checkpoint, safe_serialization=True)
            tokenizer.save_pretrained(checkpoint)
        except Exception as exc:  # safetensors reports ENOSPC as its own SafetensorError, not as an OSError
            if not _disk_full(exc):
                raise
            shutil.rmtree(checkpoint, ignore_errors=True)
            raise DiskFullError(checkpoint) from None
        for path in checkpoint.iterdir():  # transformers writes the weights 0600 whatever the umask
            path.chmod(umask_mode())
    if predictions:
        write_predictions(run_dir / PREDICTIONS_FILE, task, predictions)
    write_json(run_dir / "metrics.json", result.to_json())


def _disk_full(exc: BaseException) -> bool:
    return (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or "os error 28" in str(exc)


def write_predictions(path: Path, task: BoundTask, predictions: dict[str, Any]) -> None:
    """Predictions in the ``kobench score`` JSONL format, written atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for row_id, prediction in predictions.items():
            record = {"id": row_id, "prediction": task.to_json(prediction)}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
