"""Checks before spending: prepared data, model, device and stores, verified before a run or study exists.

A problem found here is one line and exit 2, with nothing created; found later, it would fail every trial
of a study and leave a stage that looks done.
"""

from __future__ import annotations

from pathlib import Path

from kobench.data.splits import check_task_split, task_rows
from kobench.engine.models import ModelRef, check_fit, load_config, load_tokenizer
from kobench.engine.runtime import Runtime
from kobench.engine.tokenizer_check import SAMPLE_ROWS, sample_texts
from kobench.families import bind
from kobench.storelock import check_store
from kobench.tasks.spec import TaskSpec


def check_data(spec: TaskSpec, prepared_dir: Path, splits: tuple[str, ...]) -> None:
    """Every split the run reads is prepared, readable, non-empty and has the family's columns."""
    for split in splits:
        check_task_split(spec, prepared_dir, split)


def check_model(ref: ModelRef, texts: list[str] | None = None) -> None:
    """The tokenizer and the config load and fit each other and ``texts`` (weights are left for training)."""
    tokenizer = load_tokenizer(ref)
    check_fit(ref, tokenizer, load_config(ref).vocab_size, texts)


def _sample_texts(spec: TaskSpec, prepared_dir: Path, split: str) -> list[str]:
    """Text of the first rows of a prepared split, for the tokenizer check."""
    rows = task_rows(spec, prepared_dir, split, max_rows=SAMPLE_ROWS)
    return sample_texts(rows, bind(spec).input_columns())


def preflight(
    spec: TaskSpec,
    ref: ModelRef,
    *,
    prepared_dir: Path,
    splits: tuple[str, ...],
    device: str,
    precision: str,
    stores: dict[str, str] | None = None,
) -> None:
    """Run every check; the first problem raises ``KobenchError`` (one line naming the file, key or model).

    Args:
        spec: the task.
        ref: the model row.
        prepared_dir: ``data/prepared/<task>``.
        splits: the splits the run reads.
        device: ``train.device``.
        precision: ``train.precision``.
        stores: what to call each store (``Optuna storage``, ``MLflow store``) -> its URL.
    """
    check_data(spec, prepared_dir, splits)
    for what, url in (stores or {}).items():
        check_store(url, what)

    Runtime.create(device, precision)
    check_model(ref, _sample_texts(spec, prepared_dir, splits[0]))
