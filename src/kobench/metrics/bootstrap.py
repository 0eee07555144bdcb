"""Confidence intervals: a percentile bootstrap over test units, a closed form for means, a t-interval over seeds.

The test-set interval answers "how much would this score move on another test set of the same size drawn
from the same distribution" (the checkpoint fixed); the seed interval answers "how much does it move when
the fine-tune is repeated with another seed" (the test set fixed). They measure different things and are
reported apart.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

from kobench.interrupts import check as check_interrupted
from kobench.metrics.unit_stats import Replicates, UnitStats, compress

CELLS_PER_CHUNK = 65_536  # resamples x distinct rows per chunk: arrays that stay in cache (3x faster than 4M)
_DRAWS_PER_BATCH = 4_000_000  # unit draws generated at once where units are drawn one by one


@dataclass(frozen=True)
class Bootstrap:
    """How intervals are drawn; recorded with every interval so that anyone can redraw it."""

    resamples: int = 10_000
    seed: int = 0
    level: float = 0.95

    def __post_init__(self) -> None:
        if self.resamples < 1 or not 0 < self.level < 1:
            raise ValueError(f"bootstrap needs resamples >= 1 and 0 < level < 1, got {self.resamples}, {self.level}")

    @property
    def quantiles(self) -> tuple[float, float]:
        """The lower and upper percentile, as fractions."""
        tail = (1 - self.level) / 2
        return tail, 1 - tail


def count_chunks(multiplicity: np.ndarray, resamples: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Resampling counts over distinct units, ``(chunk, U)`` at a time: each row one bootstrap resample.

    Drawing ``n`` units with replacement is one multinomial draw over the distinct rows with probabilities
    proportional to their multiplicities (U binomials); where U is not much below n, drawing the n units
    and counting them is cheaper. Chunks are small enough for the metric's arithmetic to stay in cache.
    """
    n, distinct = int(multiplicity.sum()), len(multiplicity)
    piece = max(1, CELLS_PER_CHUNK // distinct)
    if distinct * 16 <= n:
        for start in range(0, resamples, piece):
            check_interrupted()  # a report or compare stops within a chunk of a signal
            yield rng.multinomial(n, multiplicity / n, size=min(piece, resamples - start)).astype(float)
        return
    row_of_unit = np.repeat(np.arange(distinct, dtype=np.int64), multiplicity)
    batch = max(piece, _DRAWS_PER_BATCH // n)
    for start in range(0, resamples, batch):
        check_interrupted()
        size = min(batch, resamples - start)
        drawn = row_of_unit[rng.integers(0, n, size=(size, n))] + distinct * np.arange(size)[:, None]
        counts = np.bincount(drawn.ravel(), minlength=size * distinct).reshape(size, distinct).astype(float)
        yield from (counts[i : i + piece] for i in range(0, size, piece))


def bootstrap_replicates(stats: UnitStats, settings: Bootstrap = Bootstrap()) -> Replicates:
    """Every metric on ``settings.resamples`` resamples of the units (seeded: the same draws every time)."""
    rows, multiplicity = compress(stats.values)
    rng = np.random.default_rng(settings.seed)
    parts = [stats.kind.compute(rows, counts) for counts in count_chunks(multiplicity, settings.resamples, rng)]
    return {name: np.concatenate([part[name] for part in parts]) for name in stats.kind.metrics}


def percentile_interval(replicates: np.ndarray, settings: Bootstrap) -> tuple[float, float]:
    """The percentile interval of bootstrap replicates."""
    low, high = np.quantile(replicates, settings.quantiles)
    return float(low), float(high)


def closed_form(stats: UnitStats, level: float = 0.95) -> dict[str, tuple[float, float]]:
    """Normal intervals for the metrics that are means over items (accuracy, KorQuAD EM and F1).

    The standard error is the one the bootstrap estimates: for a mean of units ``sqrt(var / n)``; for items
    grouped into units (questions in paragraphs) the ratio estimator's ``sqrt(sum((s_i - r m_i)^2)) / sum(m_i)``.
    """
    z = float(scipy_stats.norm.ppf(0.5 + level / 2))
    out = {}
    for name in stats.kind.mean_metrics:
        sums, items = _item_sums(stats, name)
        total = items.sum()
        ratio = sums.sum() / total
        half = z * math.sqrt(float(((sums - ratio * items) ** 2).sum())) / total
        out[name] = (ratio - half, ratio + half)
    return out


def _item_sums(stats: UnitStats, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Per unit: the metric's sum over its items and the number of items."""
    correct = stats.kind.correct(stats.values)
    if correct is not None:
        return correct, np.ones(stats.n)
    column = stats.kind.metrics.index(metric)
    return stats.values[:, column].astype(float), stats.values[:, -1].astype(float)


def metric_intervals(stats: UnitStats, settings: Bootstrap = Bootstrap()) -> tuple[dict[str, float], dict[str, Any]]:
    """(``<metric>_ci_low`` / ``_ci_high`` for every metric, how they were drawn) for a run's test metrics."""
    replicates = bootstrap_replicates(stats, settings)
    bounds: dict[str, float] = {}
    for name, values in replicates.items():
        bounds[f"{name}_ci_low"], bounds[f"{name}_ci_high"] = percentile_interval(values, settings)
    method = {"method": "percentile bootstrap", "unit": stats.unit, "units": stats.n, **asdict(settings)}
    return bounds, method


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float] | None:
    """Student's t interval of the mean of seed scores; None for fewer than two seeds.

    >>> [round(v, 4) for v in t_interval([0.80, 0.82, 0.84])]
    [0.7703, 0.8697]
    """
    if len(values) < 2:
        return None
    mean = float(np.mean(values))
    half = (
        float(scipy_stats.t.ppf(0.5 + level / 2, len(values) - 1)) * float(np.std(values, ddof=1)) / math.sqrt(len(values))
    )
    return mean - half, mean + half
