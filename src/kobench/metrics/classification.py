"""Metrics: accuracy and macro F1 for sentence and sentence-pair classification."""

from __future__ import annotations

from collections.abc import Sequence

from sklearn.metrics import accuracy_score, f1_score


def accuracy(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    """Fraction of predictions equal to the gold label.

    Args:
        y_true: gold label ids.
        y_pred: predicted label ids, same length as ``y_true``.

    Returns:
        Accuracy in [0, 1].

    >>> accuracy([0, 1, 1, 0], [0, 1, 0, 0])
    0.75
    """
    return float(accuracy_score(y_true, y_pred))


def macro_f1(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[int]) -> float:
    """Unweighted mean of the per-label F1 over ``labels``; a label never predicted nor seen scores 0.

    Args:
        y_true: gold label ids.
        y_pred: predicted label ids, same length as ``y_true``.
        labels: every label id of the task, so that absent labels still count in the mean.

    Returns:
        Macro F1 in [0, 1].

    >>> macro_f1([0, 0, 1, 1], [0, 0, 1, 1], labels=[0, 1])
    1.0
    >>> macro_f1([0, 0], [0, 0], labels=[0, 1])
    0.5
    """
    return float(f1_score(y_true, y_pred, labels=list(labels), average="macro", zero_division=0))


def score_classification(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[int]) -> dict[str, float]:
    """Accuracy and macro F1 together.

    Args:
        y_true: gold label ids.
        y_pred: predicted label ids, same length as ``y_true``.
        labels: every label id of the task.

    Returns:
        ``{"accuracy": float, "macro_f1": float}``, both fractions in [0, 1].

    >>> score_classification([0, 1, 1, 0], [0, 1, 0, 0], labels=[0, 1])
    {'accuracy': 0.75, 'macro_f1': 0.7333333333333334}
    """
    return {"accuracy": accuracy(y_true, y_pred), "macro_f1": macro_f1(y_true, y_pred, labels)}
