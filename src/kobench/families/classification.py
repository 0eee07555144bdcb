"""Sequence classification (single sentence or pair): nsmc, paws, kornli, question-pair, hate-speech."""

from __future__ import annotations

import functools
import random
from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa

from kobench.families.base import (
    TEXT_PAIR_FIELDS,
    Carved,
    EncodeSettings,
    Features,
    Origin,
    Outputs,
    Row,
    TaskFamily,
    field,
    stratified,
    text_input,
    token_type_column,
)
from kobench.metrics.classification import score_classification
from kobench.metrics.unit_stats import Confusion, UnitStats
from kobench.tasks.spec import TaskSpec


def encode_texts(rows: list[Row], tokenizer: Any, settings: EncodeSettings) -> Features:
    """Tokenise ``text`` (and ``text_pair`` when present) as ``[CLS] a [SEP] b [SEP]``, truncated, unpadded."""
    texts = [r["text"] for r in rows]
    pairs = [r["text_pair"] for r in rows]
    has_pair = any(p is not None for p in pairs)
    encoding = tokenizer(
        texts,
        [p or "" for p in pairs] if has_pair else None,
        truncation=True,
        max_length=settings.max_seq_len,
        padding=False,
    )
    return {"input_ids": encoding["input_ids"], **token_type_column(encoding, settings.token_type_ids)}


def texts(spec: TaskSpec, record: dict[str, Any], origin: Origin) -> tuple[str, str | None]:
    """The ``text`` and optional ``text_pair`` columns of a delimited record."""
    cols = spec.columns
    text = field(record, cols.text, origin)
    return text, field(record, cols.text_pair, origin) if cols.text_pair else None


def text_columns(spec: TaskSpec) -> tuple[str, ...]:
    """The input columns of a single-sentence or sentence-pair task."""
    return ("text", "text_pair") if spec.columns.text_pair else ("text",)


def text_inputs(spec: TaskSpec, record: dict[str, Any], row_id: str) -> Row:
    """``id``, ``text`` and ``text_pair`` (None for single-sentence tasks) of an input record."""
    pair = text_input(record, "text_pair") if spec.columns.text_pair else None
    return {"id": row_id, "text": text_input(record, "text"), "text_pair": pair}


@functools.cache
def _label_ids(spec: TaskSpec) -> dict[str, int]:
    """Raw upstream label -> label id, built once per task (row builders run for every row)."""
    return {label.raw: i for i, label in enumerate(spec.labels)}


class ClassificationFamily(TaskFamily):
    """Accuracy and macro F1 over the task's labels; predictions are label ids."""

    name = "classification"
    auto_class = "AutoModelForSequenceClassification"
    schema = pa.schema([*TEXT_PAIR_FIELDS, ("label", pa.int64())])

    def build_row(self, spec: TaskSpec, record: dict[str, Any], origin: Origin) -> Row | None:
        """Text(s) and the label id; rows with an empty text are dropped from ``spec.skip_empty_in`` splits."""
        text, pair = texts(spec, record, origin)
        if origin.split in spec.skip_empty_in and (not text.strip() or (pair is not None and not pair.strip())):
            return None
        raw = field(record, spec.columns.label, origin).strip()
        ids = _label_ids(spec)
        if raw not in ids:
            raise origin.error(f"unknown label {raw!r} in column '{spec.columns.label}'; allowed: {', '.join(ids)}")
        return {"text": text, "text_pair": pair, "label": ids[raw]}

    def carve_validation(self, spec: TaskSpec, train: list[Row], fraction: float, rng: random.Random) -> Carved:
        """Stratified by label, so validation keeps train's class balance."""
        return stratified(train, lambda row: row["label"], fraction, rng), "stratified by label"

    def split_summary(self, spec: TaskSpec, rows: list[Row]) -> dict[str, Any]:
        """Rows per class name."""
        counts = Counter(r["label"] for r in rows)
        return {"label_counts": {spec.labels[k].name: counts[k] for k in range(len(spec.labels))}}

    def input_columns(self, spec: TaskSpec) -> tuple[str, ...]:
        """``text``, and ``text_pair`` for sentence-pair tasks."""
        return text_columns(spec)

    def input_row(self, spec: TaskSpec, record: dict[str, Any], row_id: str) -> Row:
        """The text(s); the label is a placeholder."""
        return {**text_inputs(spec, record, row_id), "label": 0}

    def num_labels(self, spec: TaskSpec) -> int:
        """One logit per class."""
        return len(spec.labels)

    def encode(self, spec: TaskSpec, rows: list, tokenizer: Any, settings: EncodeSettings, *, train: bool) -> Features:
        """Token ids plus integer ``labels``."""
        return {**encode_texts(rows, tokenizer, settings), "labels": [int(r["label"]) for r in rows]}

    def decode(self, spec: TaskSpec, rows: list, features: Features, outputs: Outputs, settings: EncodeSettings) -> dict:
        """Arg-max class per row."""
        return {r["id"]: int(np.argmax(logits)) for r, logits in zip(rows, outputs["logits"])}

    def score(self, spec: TaskSpec, rows: list, predictions: dict[str, Any]) -> dict[str, Any]:
        """Accuracy and macro F1 (hate-speech's main metric) over all of the task's classes."""
        gold = [int(r["label"]) for r in rows]
        return score_classification(gold, [predictions[r["id"]] for r in rows], list(range(len(spec.labels))))

    def unit_stats(self, spec: TaskSpec, rows: list, predictions: dict[str, Any]) -> UnitStats:
        """An example is a unit: (gold, predicted) label ids."""
        values = np.array([[int(r["label"]), int(predictions[r["id"]])] for r in rows], dtype=float).reshape(-1, 2)
        return UnitStats(Confusion(len(spec.labels)), "example", values)

    def to_json(self, spec: TaskSpec, prediction: Any) -> Any:
        """The label name."""
        return spec.labels[prediction].name

    def from_json(self, spec: TaskSpec, value: Any) -> int:
        """A label name or index."""
        names = spec.label_names
        if isinstance(value, bool):
            raise ValueError(f"expected a label name or index, got {value!r}")
        if isinstance(value, int) and 0 <= value < len(names):
            return value
        if isinstance(value, str) and value in names:
            return names.index(value)
        raise ValueError(f"unknown label {value!r}; allowed: {', '.join(names)} or 0..{len(names) - 1}")


FAMILY = ClassificationFamily()
