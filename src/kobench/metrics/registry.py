"""Every metric kobench ranks by, declared once: which way is better, its display name and its scale.

Study direction (Optuna), the checkpoint a fine-tune keeps, the ``@champion`` alias, pruning and the deletion of
beaten trial checkpoints all ask ``metric(name)``; none of them assumes that higher is better.
Adding a metric is one ``Metric`` line here plus the family's ``score`` that computes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from kobench.errors import ConfigError


@dataclass(frozen=True)
class Metric:
    """A metric's name (the key in a metrics dict), display name, direction and the factor tables show it with."""

    name: str
    display: str
    higher_is_better: bool = True
    scale: float = 100.0  # fractions are shown x100

    @property
    def direction(self) -> Literal["maximize", "minimize"]:
        """Optuna's name for the direction."""
        return "maximize" if self.higher_is_better else "minimize"

    @property
    def worst(self) -> float:
        """A value every score beats (what an empty registry's champion is compared with).

        >>> metric("mse").worst
        inf
        """
        return -math.inf if self.higher_is_better else math.inf

    def better(self, score: float, than: float) -> bool:
        """Whether ``score`` is strictly better than ``than`` (a tie is not better).

        >>> metric("accuracy").better(0.9, 0.8), metric("mse").better(0.9, 0.8)
        (True, False)
        """
        return score > than if self.higher_is_better else score < than

    def best(self, scores: list[float]) -> float:
        """The best of ``scores``."""
        return max(scores) if self.higher_is_better else min(scores)


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("accuracy", "Accuracy"),
        Metric("macro_f1", "Macro F1"),
        Metric("spearman", "Spearman"),
        Metric("pearson", "Pearson"),
        Metric("mse", "MSE", higher_is_better=False, scale=1.0),
        Metric("entity_f1", "Entity F1"),
        Metric("entity_precision", "Entity precision"),
        Metric("entity_recall", "Entity recall"),
        Metric("exact_match", "EM"),
        Metric("char_f1", "F1"),
    )
}


def metric(name: str) -> Metric:
    """The declaration of metric ``name``.

    Raises:
        ConfigError: an undeclared metric, naming the ones there are.
    """
    try:
        return METRICS[name]
    except KeyError:
        raise ConfigError(
            f"unknown metric '{name}': declare it in kobench/metrics/registry.py; declared: {', '.join(METRICS)}"
        ) from None
