"""Metrics from per-unit sufficient statistics, so that a resample is a weighted sum and never a re-scoring.

Every metric of the table is a function of sums over independent units (an example, a sentence, a
paragraph) of a few numbers per unit, except Spearman, which re-ranks. A resample of the units is then a
row of counts ``w`` (how often each unit was drawn), and the metric of that resample is computed from
``w @ values``. ``compute(values, counts)`` takes a ``(U, k)`` matrix of unit statistics and a ``(B, U)``
matrix of counts, and returns each metric for each of the ``B`` weightings, exactly as the official metric
function would score the resampled units (tests compare both on hundreds of resamples).

Units with equal statistics are interchangeable, so ``compress`` keeps one row per distinct statistics
vector with its multiplicity: NSMC's 50,000 examples are 4 distinct (gold, prediction) cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

Replicates = dict[str, np.ndarray]  # metric name -> one value per weighting (shape (B,))


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator``, 0 where the denominator is 0 (the official metrics' zero_division=0)."""
    safe = np.where(denominator == 0, 1, denominator)
    return np.where(denominator == 0, 0.0, numerator / safe)


class StatKind:
    """How a metric family's unit statistics become metric values."""

    metrics: tuple[str, ...]
    columns: ClassVar[int]  # statistics per unit and system
    mean_metrics: ClassVar[tuple[str, ...]] = ()  # metrics that are a mean over units (a closed form exists)

    def compute(self, values: np.ndarray, counts: np.ndarray) -> Replicates:
        """Every metric for every weighting: ``values`` (U, columns), ``counts`` (B, U)."""
        raise NotImplementedError

    def correct(self, values: np.ndarray) -> np.ndarray | None:
        """Per unit 1/0, where the metric is accuracy (McNemar's test needs it), else None."""
        return None

    def swap_difference(
        self, rows_a: np.ndarray, rows_b: np.ndarray, multiplicity: np.ndarray, swapped: np.ndarray, metric: str
    ) -> np.ndarray:
        """``metric(a') - metric(b')`` where, of each distinct (a, b) row's units, ``swapped`` exchanged outputs.

        Args:
            rows_a: a's statistics per distinct row, ``(U, columns)``.
            rows_b: b's statistics per distinct row.
            multiplicity: units per distinct row.
            swapped: ``(draws, U)``: how many of each row's units swapped.
            metric: the metric compared.
        """
        side = np.vstack([rows_a, rows_b])
        as_a, as_b = _sides(multiplicity, swapped)
        return self.compute(side, as_a)[metric] - self.compute(side, as_b)[metric]


@dataclass(frozen=True)
class Confusion(StatKind):
    """Accuracy and macro F1 from the confusion matrix; a unit is an example with (gold, predicted) label ids."""

    n_labels: int
    metrics: tuple[str, ...] = ("accuracy", "macro_f1")
    columns: ClassVar[int] = 2
    mean_metrics: ClassVar[tuple[str, ...]] = ("accuracy",)

    def compute(self, values: np.ndarray, counts: np.ndarray) -> Replicates:
        """Per-class tp / predicted / gold counts from the weighted confusion matrix."""
        c = self.n_labels
        cells = values[:, 0].astype(np.int64) * c + values[:, 1].astype(np.int64)
        onehot = np.zeros((len(values), c * c))
        onehot[np.arange(len(values)), cells] = 1.0
        confusion = (counts @ onehot).reshape(-1, c, c)  # (B, gold, predicted)
        tp = np.diagonal(confusion, axis1=1, axis2=2)
        gold, predicted = confusion.sum(axis=2), confusion.sum(axis=1)
        total = gold.sum(axis=1)
        return {"accuracy": _ratio(tp.sum(axis=1), total), "macro_f1": _ratio(2 * tp, gold + predicted).mean(axis=1)}

    def correct(self, values: np.ndarray) -> np.ndarray:
        """1 where the predicted label is the gold one."""
        return (values[:, 0] == values[:, 1]).astype(float)


@dataclass(frozen=True)
class EntityCounts(StatKind):
    """Micro entity precision, recall and F1; a unit is a sentence with (true positives, predicted, gold) entities."""

    metrics: tuple[str, ...] = ("entity_f1", "entity_precision", "entity_recall")
    columns: ClassVar[int] = 3

    def compute(self, values: np.ndarray, counts: np.ndarray) -> Replicates:
        """Summed counts, then seqeval's micro scores."""
        tp, predicted, gold = (counts @ values).T
        return {
            "entity_f1": _ratio(2 * tp, predicted + gold),
            "entity_precision": _ratio(tp, predicted),
            "entity_recall": _ratio(tp, gold),
        }


@dataclass(frozen=True)
class GroupedMeans(StatKind):
    """Means over items grouped into units: a unit holds each metric's sum over its items, then the item count.

    KorQuAD: a unit is a paragraph, the items its questions, the sums its questions' EM and F1; the metric
    is the mean over questions, as the official script computes it.
    """

    metrics: tuple[str, ...] = ("exact_match", "char_f1")
    columns: ClassVar[int] = 3
    mean_metrics: ClassVar[tuple[str, ...]] = ("exact_match", "char_f1")

    def compute(self, values: np.ndarray, counts: np.ndarray) -> Replicates:
        """Summed item scores over the summed item count."""
        sums = counts @ values
        return {name: _ratio(sums[:, i], sums[:, -1]) for i, name in enumerate(self.metrics)}


@dataclass(frozen=True)
class Correlation(StatKind):
    """Pearson, Spearman and MSE of predicted scores; a unit is an example with (gold, predicted) scores."""

    metrics: tuple[str, ...] = ("spearman", "pearson", "mse")
    columns: ClassVar[int] = 2

    def compute(self, values: np.ndarray, counts: np.ndarray) -> Replicates:
        """Pearson and MSE from weighted sums; Spearman as Pearson on mid-ranks within each resample."""
        gold, predicted = values[:, 0], values[:, 1]
        return {
            "spearman": _ranked(_weighted_ranks(gold, counts), _weighted_ranks(predicted, counts), counts),
            **_moments(gold, predicted, counts),
        }

    def swap_difference(
        self, rows_a: np.ndarray, rows_b: np.ndarray, multiplicity: np.ndarray, swapped: np.ndarray, metric: str
    ) -> np.ndarray:
        """As the default, except that Spearman ranks the gold scores once.

        Whatever is swapped, every unit keeps its gold score exactly as often, so the gold ranks are fixed.
        """
        if metric != "spearman":
            return super().swap_difference(rows_a, rows_b, multiplicity, swapped, metric)
        gold_ranks = _weighted_ranks(rows_a[:, 0], multiplicity[None, :].astype(float))[0]
        rank_x = np.concatenate([gold_ranks, gold_ranks])
        predicted = np.concatenate([rows_a[:, 1], rows_b[:, 1]])
        as_a, as_b = _sides(multiplicity, swapped)
        return _ranked(rank_x, _weighted_ranks(predicted, as_a), as_a) - _ranked(
            rank_x, _weighted_ranks(predicted, as_b), as_b
        )


def _moments(gold: np.ndarray, predicted: np.ndarray, counts: np.ndarray) -> Replicates:
    """Pearson and MSE from weighted sums of the (centred) scores, their squares and products."""
    x, y = gold - gold.mean(), predicted - predicted.mean()  # shift-free correlations, less cancellation
    total, sx, sy, sxx, syy, sxy, squared = (
        counts @ np.c_[np.ones_like(x), x, y, x * x, y * y, x * y, (gold - predicted) ** 2]
    ).T
    return {
        "pearson": _correlation(sxy - sx * sy / total, sxx - sx**2 / total, syy - sy**2 / total, total),
        "mse": _ratio(squared, total),
    }


def _ranked(rank_x: np.ndarray, rank_y: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Weighted Pearson correlation of mid-ranks (Spearman); mid-ranks of n values always average (n + 1) / 2."""
    total = counts.sum(axis=1)
    centre = total * ((total + 1) / 2) ** 2
    weighted_x = counts * rank_x
    rxx = np.einsum("ij,ij->i", weighted_x, np.broadcast_to(rank_x, counts.shape)) - centre
    rxy = np.einsum("ij,ij->i", weighted_x, rank_y) - centre
    ryy = np.einsum("ij,ij->i", counts * rank_y, rank_y) - centre
    return _correlation(rxy, rxx, ryy, total)


def _sides(multiplicity: np.ndarray, swapped: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts over (a's outputs, b's outputs) of each distinct row, for the swapped systems a' and b'."""
    kept = multiplicity - swapped
    return np.concatenate([kept, swapped], axis=1), np.concatenate([swapped, kept], axis=1)


def _weighted_ranks(x: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mid-ranks of each unit's value in every resample, ties shared as scipy's ``rankdata`` shares them.

    A value drawn ``w`` times among equal values occupies the positions after everything smaller; all
    copies of one value get the mean of those positions.
    """
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    new_value = np.r_[True, sorted_x[1:] != sorted_x[:-1]]
    group_of = np.empty(len(x), dtype=np.int64)
    group_of[order] = np.cumsum(new_value) - 1
    per_group = counts[:, order]
    if not new_value.all():
        per_group = np.add.reduceat(per_group, np.flatnonzero(new_value), axis=1)
    midrank = np.cumsum(per_group, axis=1) - (per_group - 1) / 2
    return midrank[:, group_of]


def _correlation(cov: np.ndarray, var_x: np.ndarray, var_y: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Cov / sqrt(var_x var_y), 0 where either side is constant within the resample (the metric's convention)."""
    scale = np.sqrt(np.clip(var_x, 0, None) * np.clip(var_y, 0, None))
    constant = scale <= 1e-9 * np.maximum(total, 1)
    return np.where(constant, 0.0, cov / np.where(constant, 1.0, scale))


@dataclass(frozen=True)
class UnitStats:
    """One system's statistics on a test split: what the units are, and a row of numbers per unit."""

    kind: StatKind
    unit: str  # "example", "sentence", "paragraph"
    values: np.ndarray  # (n units, kind.columns)

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.values.shape[1] != self.kind.columns:
            raise ValueError(f"expected ({len(self.values)}, {self.kind.columns}) unit statistics, got {self.values.shape}")

    @property
    def n(self) -> int:
        """Number of units."""
        return len(self.values)

    def point(self) -> dict[str, float]:
        """The metrics on the whole split (every unit once).

        >>> UnitStats(Confusion(2), "example", np.array([[0, 0], [1, 1], [1, 0]])).point()["accuracy"]
        0.6666666666666666
        """
        replicates = self.kind.compute(self.values, np.ones((1, self.n)))
        return {name: float(values[0]) for name, values in replicates.items()}


def compress(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct rows, how many units have each): resampling units = resampling rows by multiplicity.

    >>> rows, counts = compress(np.array([[1, 0], [0, 0], [1, 0]]))
    >>> rows.tolist(), counts.tolist()
    ([[0, 0], [1, 0]], [1, 2])
    """
    rows, multiplicity = np.unique(values, axis=0, return_counts=True)
    return rows, multiplicity
