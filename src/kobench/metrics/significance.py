"""Paired significance tests between systems scored on the same test units, and Holm's correction.

- paired bootstrap: every system resampled with the same draws; the difference's percentile interval, and
  a p-value from the replicates' spread around their mean (the null shifted to zero);
- approximate randomization: each unit's outputs swapped between the two systems with probability 1/2;
- McNemar, for accuracy: exact binomial with 25 discordant units or fewer, else chi-square with continuity
  correction.
All work on unit statistics (``unit_stats``), so one draw costs a weighted sum, not a re-scoring.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats as scipy_stats

from kobench.interrupts import check as check_interrupted
from kobench.metrics.bootstrap import CELLS_PER_CHUNK, Bootstrap, count_chunks, percentile_interval
from kobench.metrics.unit_stats import UnitStats, compress

EXACT_MCNEMAR_MAX = 25  # discordant units up to which McNemar's test is the exact binomial one
_TIE = 1e-12  # differences this close to the observed one count as reaching it (floating-point noise)


@dataclass(frozen=True)
class Comparison:
    """System ``a`` against system ``b`` on one metric (fractions, ``difference = a - b``)."""

    metric: str
    a: str
    b: str
    score_a: float
    score_b: float
    difference: float
    ci_low: float
    ci_high: float
    p_bootstrap: float
    p_randomization: float
    p_mcnemar: float | None
    units: int
    p_holm: float | None = None  # the randomization p-value after Holm's correction over the compared set


def _check_same_units(systems: dict[str, UnitStats]) -> None:
    kinds = {type(s.kind) for s in systems.values()}
    sizes = {s.n for s in systems.values()}
    if len(kinds) > 1 or len(sizes) > 1:
        raise ValueError(f"systems are not scored on the same units: {len(kinds)} kinds, unit counts {sorted(sizes)}")


def joint_bootstrap(systems: dict[str, UnitStats], metric: str, settings: Bootstrap = Bootstrap()) -> dict[str, np.ndarray]:
    """Replicates of ``metric`` for every system, all resampled with the same draws (paired)."""
    _check_same_units(systems)
    names = list(systems)
    k = systems[names[0]].kind.columns
    rows, multiplicity = compress(np.hstack([systems[name].values for name in names]))
    rng = np.random.default_rng(settings.seed)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for counts in count_chunks(multiplicity, settings.resamples, rng):
        for i, name in enumerate(names):
            parts[name].append(systems[name].kind.compute(rows[:, i * k : (i + 1) * k], counts)[metric])
    return {name: np.concatenate(values) for name, values in parts.items()}


def randomization_differences(a: UnitStats, b: UnitStats, metric: str, settings: Bootstrap = Bootstrap()) -> np.ndarray:
    """``metric(a') - metric(b')`` for ``settings.resamples`` random swaps of the two systems' unit outputs.

    Units with equal (a, b) statistics are grouped: of ``m`` such units, a Binomial(m, 1/2) number swap.
    """
    _check_same_units({"a": a, "b": b})
    k = a.kind.columns
    rows, multiplicity = compress(np.hstack([a.values, b.values]))
    rng = np.random.default_rng(settings.seed + 1)
    chunk = max(1, CELLS_PER_CHUNK // (2 * len(multiplicity)))
    out = []
    for start in range(0, settings.resamples, chunk):
        check_interrupted()
        swapped = _swaps(rng, multiplicity, min(chunk, settings.resamples - start))
        out.append(a.kind.swap_difference(rows[:, :k], rows[:, k:], multiplicity, swapped, metric))
    return np.concatenate(out)


def _swaps(rng: np.random.Generator, multiplicity: np.ndarray, draws: int) -> np.ndarray:
    """How many of each group's units swap: Binomial(m, 1/2); a fair coin (one random bit) where m is 1."""
    single = multiplicity == 1
    if single.all():
        return rng.integers(0, 2, size=(draws, len(multiplicity)), dtype=np.int8).astype(float)
    swapped = rng.binomial(np.where(single, 0, multiplicity), 0.5, size=(draws, len(multiplicity))).astype(float)
    swapped[:, single] = rng.integers(0, 2, size=(draws, int(single.sum())), dtype=np.int8)
    return swapped


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> float:
    """Two-sided McNemar p-value on per-unit correctness (1/0).

    >>> round(mcnemar(np.array([1] * 10 + [0] * 2), np.array([0] * 10 + [1] * 2)), 4)
    0.0386
    """
    only_a = int(np.sum((correct_a == 1) & (correct_b == 0)))
    only_b = int(np.sum((correct_a == 0) & (correct_b == 1)))
    discordant = only_a + only_b
    if discordant == 0:
        return 1.0
    if discordant <= EXACT_MCNEMAR_MAX:
        return float(scipy_stats.binomtest(only_a, discordant, 0.5).pvalue)
    statistic = (abs(only_a - only_b) - 1) ** 2 / discordant
    return float(scipy_stats.chi2.sf(statistic, 1))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error), in the input order.

    >>> [round(p, 6) for p in holm([0.01, 0.04, 0.03, 0.005])]
    [0.03, 0.06, 0.06, 0.02]
    """
    order = np.argsort(p_values, kind="stable")
    m = len(p_values)
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def compare_pair(
    name_a: str, a: UnitStats, name_b: str, b: UnitStats, metric: str, replicates: dict[str, np.ndarray], settings: Bootstrap
) -> Comparison:
    """One comparison, from the systems' joint bootstrap replicates and a fresh randomization test."""
    score_a, score_b = a.point()[metric], b.point()[metric]
    observed = score_a - score_b
    differences = replicates[name_a] - replicates[name_b]
    centred = np.abs(differences - differences.mean())
    p_bootstrap = (1 + int(np.sum(centred >= abs(observed) - _TIE))) / (len(differences) + 1)
    shuffled = randomization_differences(a, b, metric, settings)
    p_randomization = (1 + int(np.sum(np.abs(shuffled) >= abs(observed) - _TIE))) / (len(shuffled) + 1)
    correct_a, correct_b = a.kind.correct(a.values), b.kind.correct(b.values)
    use_mcnemar = metric == "accuracy" and correct_a is not None and correct_b is not None
    low, high = percentile_interval(differences, settings)
    return Comparison(
        metric, name_a, name_b, score_a, score_b, observed, low, high, p_bootstrap, p_randomization,
        mcnemar(correct_a, correct_b) if use_mcnemar else None, a.n,
    )  # fmt: skip


def compare_systems(
    systems: dict[str, UnitStats],
    metric: str,
    pairs: Sequence[tuple[str, str]] | None = None,
    settings: Bootstrap = Bootstrap(),
) -> list[Comparison]:
    """Each pair (every pair in the given order by default) compared, Holm-corrected over the list."""
    return with_holm(paired_comparisons(systems, metric, pairs, settings))


def paired_comparisons(
    systems: dict[str, UnitStats],
    metric: str,
    pairs: Sequence[tuple[str, str]] | None = None,
    settings: Bootstrap = Bootstrap(),
) -> list[Comparison]:
    """Each pair (every pair in the given order by default) compared, one joint bootstrap for all; no correction."""
    chosen = list(pairs) if pairs is not None else list(itertools.combinations(systems, 2))
    replicates = joint_bootstrap(systems, metric, settings)
    return [compare_pair(a, systems[a], b, systems[b], metric, replicates, settings) for a, b in chosen]


def with_holm(comparisons: Sequence[Comparison]) -> list[Comparison]:
    """The comparisons with ``p_holm`` set, correcting their randomization p-values as one family."""
    adjusted = holm([c.p_randomization for c in comparisons])
    return [replace(c, p_holm=p) for c, p in zip(comparisons, adjusted)]
