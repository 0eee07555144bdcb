"""Sequence classification family (single sentence or pair): nsmc, paws, kornli, question-pair, hate-speech."""

from __future__ import annotations

from typing import Any

import numpy as np

from kobench.families.base import EncodeSettings, Features, Outputs, token_type_column
from kobench.metrics.classification import score_classification
from kobench.spec import TaskSpec


def encode_texts(rows: list[dict[str, Any]], tokenizer: Any, settings: EncodeSettings) -> Features:
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


class SequenceClassificationFamily:
    """Accuracy and macro F1 over the task's labels; predictions are label ids."""

    name = "classification"
    auto_class = "AutoModelForSequenceClassification"
    output_names = ("logits",)
    token_level = False

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


FAMILY = SequenceClassificationFamily()
