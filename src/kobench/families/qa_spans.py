"""Extractive QA decoding: the best n-best span of each question over all of its windows."""

from __future__ import annotations

from typing import Any

import numpy as np

from kobench.families.base import Features


def _best_in_window(
    offsets: list[list[int] | None], start_logits: np.ndarray, end_logits: np.ndarray, n_best: int, max_answer_len: int
) -> tuple[float, int, int] | None:
    """The best valid ``(score, start_token, end_token)`` among the top-n starts and ends of one window.

    Valid: both tokens are context tokens, ``end >= start`` and at most ``max_answer_len`` tokens long.
    """
    start_logits = np.asarray(start_logits, dtype=np.float64)[: len(offsets)]
    end_logits = np.asarray(end_logits, dtype=np.float64)[: len(offsets)]
    # stable sorts: equal logits keep token order, so ties always resolve the same way
    starts = np.argsort(-start_logits, kind="stable")[:n_best]
    ends = np.argsort(-end_logits, kind="stable")[:n_best]
    in_context = np.array([offset is not None for offset in offsets], dtype=bool)
    length = ends[None, :] - starts[:, None] + 1
    valid = in_context[starts][:, None] & in_context[ends][None, :]
    valid &= (length >= 1) & (length <= max_answer_len)
    if not valid.any():
        return None
    scores = np.where(valid, start_logits[starts][:, None] + end_logits[ends][None, :], -np.inf)
    row, col = np.unravel_index(int(np.argmax(scores)), scores.shape)
    if not valid[row, col]:
        return None  # only -inf or NaN scores were valid: no usable span
    return float(scores[row, col]), int(starts[row]), int(ends[col])


def decode_spans(
    rows: list[dict[str, Any]],
    features: Features,
    start_logits: list[np.ndarray],
    end_logits: list[np.ndarray],
    n_best: int,
    max_answer_len: int,
) -> dict[str, str]:
    """Pick each question's best answer span over all its windows.

    Args:
        rows: the prepared rows the features were encoded from.
        features: ``encode_eval`` output (``example_index`` and ``offset_mapping`` are used).
        start_logits: one unpadded start-logit array per feature.
        end_logits: one unpadded end-logit array per feature.
        n_best: how many top start and end indices to pair per window.
        max_answer_len: the longest answer, in tokens.

    Returns:
        Row id to answer text, ``context[offsets[start][0]:offsets[end][1]]`` of the highest
        start + end logit span without surrounding whitespace; the empty string when no window has a valid span.
    """
    best: dict[int, tuple[float, int, int]] = {}
    for feature, sample in enumerate(features["example_index"]):
        offsets = features["offset_mapping"][feature]
        found = _best_in_window(offsets, start_logits[feature], end_logits[feature], n_best, max_answer_len)
        # strict '>' keeps the earliest window on equal scores
        if found is not None and (sample not in best or found[0] > best[sample][0]):
            best[sample] = (found[0], offsets[found[1]][0], offsets[found[2]][1])
    predictions = {}
    for index, row in enumerate(rows):
        _, begin, end = best.get(index, (0.0, 0, 0))
        # SentencePiece pieces carry the space before a word ("▁word"), so a span may open on it
        predictions[row["id"]] = row["context"][begin:end].strip()
    return predictions
