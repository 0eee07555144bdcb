"""Regression family: korsts, MSE on the raw 0-5 score, Spearman as main metric."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa

from kobench.families.base import (
    TEXT_PAIR_FIELDS,
    EncodeSettings,
    Features,
    LabelColumn,
    Origin,
    Outputs,
    Row,
    TaskFamily,
    field,
)
from kobench.families.classification import encode_texts, text_columns, text_inputs, texts
from kobench.metrics.regression import score_regression
from kobench.metrics.unit_stats import Correlation, UnitStats
from kobench.tasks.spec import TaskSpec


class RegressionFamily(TaskFamily):
    """One output; the head's MSE loss is used as is (``num_labels=1``), no rescaling of the score."""

    name = "regression"
    auto_class = "AutoModelForSequenceClassification"
    schema = pa.schema([*TEXT_PAIR_FIELDS, ("label", pa.float64())])
    label_columns = (LabelColumn("labels", "float"),)

    def build_row(self, spec: TaskSpec, record: dict[str, Any], origin: Origin) -> Row:
        """Text pair and the finite gold score."""
        raw = field(record, spec.columns.label, origin)
        try:
            score = float(raw)
        except ValueError:
            score = math.nan
        if not math.isfinite(score):
            raise origin.error(f"non-numeric score {raw!r} in column '{spec.columns.label}'")
        text, pair = texts(spec, record, origin)
        return {"text": text, "text_pair": pair, "label": score}

    def input_columns(self, spec: TaskSpec) -> tuple[str, ...]:
        """``text`` and ``text_pair``."""
        return text_columns(spec)

    def input_row(self, spec: TaskSpec, record: dict[str, Any], row_id: str) -> Row:
        """The sentence pair; the score is a placeholder."""
        return {**text_inputs(spec, record, row_id), "label": 0.0}

    def num_labels(self, spec: TaskSpec) -> int:
        """A single regression output."""
        return 1

    def encode(self, spec: TaskSpec, rows: list, tokenizer: Any, settings: EncodeSettings, *, train: bool) -> Features:
        """Token ids plus float ``labels``."""
        return {**encode_texts(rows, tokenizer, settings), "labels": [float(r["label"]) for r in rows]}

    def decode(self, spec: TaskSpec, rows: list, features: Features, outputs: Outputs, settings: EncodeSettings) -> dict:
        """The predicted score per row."""
        return {r["id"]: float(logits[0]) for r, logits in zip(rows, outputs["logits"])}

    def score(self, spec: TaskSpec, rows: list, predictions: dict[str, Any]) -> dict[str, Any]:
        """Spearman, Pearson and MSE."""
        return score_regression([float(r["label"]) for r in rows], [predictions[r["id"]] for r in rows])

    def unit_stats(self, spec: TaskSpec, rows: list, predictions: dict[str, Any]) -> UnitStats:
        """An example is a unit: (gold, predicted) scores."""
        values = np.array([[float(r["label"]), float(predictions[r["id"]])] for r in rows], dtype=float).reshape(-1, 2)
        return UnitStats(Correlation(), "example", values)

    def from_json(self, spec: TaskSpec, value: Any) -> float:
        """A finite number."""
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {value!r}")
        return float(value)


FAMILY = RegressionFamily()
