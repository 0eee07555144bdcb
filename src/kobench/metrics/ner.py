"""Metrics: entity-level precision, recall and F1 for named-entity recognition (seqeval, lenient mode)."""

from __future__ import annotations

import functools

import numpy as np
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
from seqeval.metrics.sequence_labeling import get_entities

_AVERAGE_ROWS = ("micro avg", "macro avg", "weighted avg")


def suffix_to_prefix(tag: str) -> str:
    """Convert an upstream suffix-style tag (``PER-B``) to a BIO prefix tag (``B-PER``).

    Args:
        tag: ``O`` or ``TYPE-B`` / ``TYPE-I``.

    Returns:
        ``O`` unchanged, otherwise ``B-TYPE`` / ``I-TYPE``.

    Raises:
        ValueError: if ``tag`` is neither ``O`` nor a suffix tag with a non-empty type.

    >>> suffix_to_prefix("PER-B"), suffix_to_prefix("DAT-I"), suffix_to_prefix("O")
    ('B-PER', 'I-DAT', 'O')
    """
    if tag == "O":
        return tag
    entity_type, sep, position = tag.rpartition("-")
    if not sep or not entity_type or position not in ("B", "I"):
        raise ValueError(f"not a suffix-style NER tag (expected O, TYPE-B or TYPE-I): {tag!r}")
    return f"{position}-{entity_type}"


def _check_aligned(gold: list[list[str]], pred: list[list[str]]) -> None:
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted sentences")
    for index, (gold_tags, pred_tags) in enumerate(zip(gold, pred)):
        if len(gold_tags) != len(pred_tags):
            raise ValueError(f"sentence {index}: {len(gold_tags)} gold tags but {len(pred_tags)} predicted tags")


def _per_type(gold: list[list[str]], pred: list[list[str]]) -> dict[str, dict[str, float | int]]:
    report = classification_report(gold, pred, output_dict=True, zero_division=0)
    return {
        entity_type: {
            "precision": float(row["precision"]),
            "recall": float(row["recall"]),
            "f1": float(row["f1-score"]),
            "support": int(row["support"]),
        }
        for entity_type, row in report.items()
        if entity_type not in _AVERAGE_ROWS
    }


def score_entities(gold: list[list[str]], pred: list[list[str]]) -> dict:
    """Micro entity-level scores and per-type scores on BIO prefix tags.

    Uses seqeval's default (lenient, conlleval-like) chunking: an ``I-`` tag that does not
    continue an entity of its type starts a new entity.

    Args:
        gold: gold tags per sentence (``B-PER``, ``I-PER``, ``O``).
        pred: predicted tags per sentence, aligned token by token with ``gold``.

    Returns:
        ``{"entity_f1", "entity_precision", "entity_recall"}`` as floats in [0, 1], and
        ``"per_type"``: ``{TYPE: {"precision", "recall", "f1", "support"}}`` (support an int).

    Raises:
        ValueError: if the sentence counts differ or a sentence's gold and predicted lengths differ.

    >>> scores = score_entities([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "O"]])
    >>> scores["entity_precision"], scores["entity_recall"], round(scores["entity_f1"], 4)
    (1.0, 0.5, 0.6667)
    >>> scores["per_type"]["LOC"]
    {'precision': 0.0, 'recall': 0.0, 'f1': 0.0, 'support': 1}
    """
    _check_aligned(gold, pred)
    return {
        "entity_f1": float(f1_score(gold, pred, zero_division=0)),
        "entity_precision": float(precision_score(gold, pred, zero_division=0)),
        "entity_recall": float(recall_score(gold, pred, zero_division=0)),
        "per_type": _per_type(gold, pred),
    }


def sentence_entity_counts(gold: list[list[str]], pred: list[list[str]]) -> np.ndarray:
    """Per sentence: (correct entities, predicted entities, gold entities), chunked as ``score_entities`` chunks.

    seqeval scores a corpus as its sentences joined by ``O``, so no entity crosses a sentence and the micro
    scores are functions of these per-sentence sums.

    >>> sentence_entity_counts([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "O"]]).tolist()
    [[1.0, 1.0, 2.0]]
    """
    _check_aligned(gold, pred)
    counts = np.zeros((len(gold), 3))
    for i, (gold_tags, pred_tags) in enumerate(zip(gold, pred)):
        gold_entities, pred_entities = _entities(tuple(gold_tags)), _entities(tuple(pred_tags))
        counts[i] = (len(gold_entities & pred_entities), len(pred_entities), len(gold_entities))
    return counts


@functools.lru_cache(maxsize=65_536)
def _entities(tags: tuple[str, ...]) -> frozenset:
    """Seqeval's chunks of one sentence; cached, since every system compared on a split shares its gold sentences."""
    return frozenset(get_entities(list(tags)))
