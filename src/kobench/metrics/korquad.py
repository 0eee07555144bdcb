"""Metrics: the official KorQuAD 1.0 exact match and character-level F1 for extractive QA."""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence

import numpy as np

# quotes and brackets that KorQuAD 1.0 turns into spaces before dropping ASCII punctuation
_TO_SPACE = str.maketrans({ch: " " for ch in "'\"《》<>〈〉()‘’"})
_DROP_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(s: str) -> str:
    """Normalise an answer the way the official KorQuAD 1.0 script does.

    Quotes and brackets become spaces, then the text is lowercased, ASCII punctuation removed
    and whitespace runs collapsed to single spaces.

    Args:
        s: a predicted or gold answer.

    Returns:
        The normalised answer.

    >>> normalize_answer("《아리랑》(1926)")
    '아리랑 1926'
    >>> normalize_answer("  The  U.S.A.! ")
    'the usa'
    """
    text = s.translate(_TO_SPACE).lower().translate(_DROP_PUNCTUATION)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    """1.0 if the normalised prediction equals the normalised gold answer, else 0.0.

    Args:
        prediction: predicted answer text.
        gold: one gold answer text.

    Returns:
        1.0 or 0.0.

    >>> exact_match("'서울'", "서울"), exact_match("서울시", "서울")
    (1.0, 0.0)
    """
    return float(normalize_answer(prediction) == normalize_answer(gold))


def _characters(text: str) -> list[str]:
    return [ch for token in normalize_answer(text).split() for ch in token]


def char_f1(prediction: str, gold: str) -> float:
    """Character-level F1 on the multiset overlap of the normalised answers' non-space characters.

    Args:
        prediction: predicted answer text.
        gold: one gold answer text.

    Returns:
        F1 in [0, 1]; 0.0 when no character is shared (also when either side is empty).

    >>> round(char_f1("서울특별시", "서울"), 4)  # P = 2/5, R = 1, F1 = 4/7
    0.5714
    """
    pred_chars, gold_chars = _characters(prediction), _characters(gold)
    common = sum((Counter(pred_chars) & Counter(gold_chars)).values())
    if common == 0:
        return 0.0
    precision = common / len(pred_chars)
    recall = common / len(gold_chars)
    return 2 * precision * recall / (precision + recall)


def score_korquad(predictions: Mapping[str, str], golds: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """Mean over questions of the best exact match and best char F1 against any gold answer.

    Args:
        predictions: question id to predicted answer; a missing id counts as the empty answer.
        golds: question id to its gold answers (at least one each).

    Returns:
        ``{"exact_match": float, "char_f1": float}``, fractions in [0, 1].

    Raises:
        ValueError: if ``golds`` is empty or a question has no gold answer.

    >>> score_korquad({"q1": "서울", "q2": "부산광역시"}, {"q1": ["서울"], "q2": ["부산", "부산광역시"]})
    {'exact_match': 1.0, 'char_f1': 1.0}
    """
    if not golds:
        raise ValueError("no gold questions to score")
    em_total = f1_total = 0.0
    for qid, answers in golds.items():
        if not answers:
            raise ValueError(f"question {qid!r} has no gold answer")
        prediction = predictions.get(qid, "")
        em_total += max(exact_match(prediction, answer) for answer in answers)
        f1_total += max(char_f1(prediction, answer) for answer in answers)
    return {"exact_match": em_total / len(golds), "char_f1": f1_total / len(golds)}


def paragraph_sums(predictions: Mapping[str, str], questions: Sequence[tuple[Hashable, str, Sequence[str]]]) -> np.ndarray:
    """Per paragraph: (sum of best EM, sum of best char F1, number of questions), paragraphs in first-seen order.

    Args:
        predictions: question id to predicted answer; a missing id counts as the empty answer.
        questions: (paragraph key, question id, gold answers) for every question.

    >>> paragraph_sums({"q1": "서울", "q2": "부산"}, [("p", "q1", ["서울"]), ("p", "q2", ["대구"])]).tolist()
    [[1.0, 1.0, 2.0]]
    """
    sums: dict[Hashable, list[float]] = {}
    for paragraph, qid, answers in questions:
        prediction = predictions.get(qid, "")
        row = sums.setdefault(paragraph, [0.0, 0.0, 0.0])
        row[0] += max(exact_match(prediction, answer) for answer in answers)
        row[1] += max(char_f1(prediction, answer) for answer in answers)
        row[2] += 1
    return np.array(list(sums.values()), dtype=float).reshape(-1, 3)
