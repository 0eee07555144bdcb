"""Metrics: pure scoring functions for classification, regression, NER and KorQuAD."""

from kobench.metrics.classification import accuracy, macro_f1, score_classification
from kobench.metrics.korquad import char_f1, exact_match, normalize_answer, score_korquad
from kobench.metrics.ner import score_entities, suffix_to_prefix
from kobench.metrics.regression import score_regression

__all__ = [
    "accuracy",
    "char_f1",
    "exact_match",
    "macro_f1",
    "normalize_answer",
    "score_classification",
    "score_entities",
    "score_korquad",
    "score_regression",
    "suffix_to_prefix",
]
