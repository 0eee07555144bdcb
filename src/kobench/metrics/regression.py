"""Metrics: Spearman and Pearson correlation and mean squared error for similarity regression."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import mean_squared_error


def score_regression(y_true: Sequence[float], y_pred: Sequence[float]) -> dict[str, float]:
    """Correlations (as fractions) and MSE (on the raw label scale) of predicted scores.

    A correlation is undefined when either side is constant; it is reported as 0.0 instead of NaN.

    Args:
        y_true: gold scores.
        y_pred: predicted scores, same length as ``y_true``.

    Returns:
        ``{"spearman": float, "pearson": float, "mse": float}``.

    >>> scores = score_regression([1.0, 2.0, 3.0], [1.0, 3.0, 2.0])
    >>> scores["spearman"], round(scores["pearson"], 4), round(scores["mse"], 4)
    (0.5, 0.5, 0.6667)
    >>> score_regression([0.0, 1.0, 2.0], [1.0, 1.0, 1.0])
    {'spearman': 0.0, 'pearson': 0.0, 'mse': 0.6666666666666666}
    """
    true = np.asarray(y_true, dtype=float)
    pred = np.asarray(y_pred, dtype=float)
    mse = float(mean_squared_error(true, pred))
    if np.ptp(true) == 0 or np.ptp(pred) == 0:
        return {"spearman": 0.0, "pearson": 0.0, "mse": mse}
    return {
        "spearman": float(spearmanr(true, pred).statistic),
        "pearson": float(pearsonr(true, pred).statistic),
        "mse": mse,
    }
