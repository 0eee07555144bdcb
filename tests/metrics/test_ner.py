"""Tests for kobench.metrics.ner."""

import warnings

import pytest
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

from kobench.metrics.ner import score_entities, suffix_to_prefix

# upstream suffix tags; sentence 1 has an ORG whose I- tag follows an O (lenient mode counts it as an entity)
GOLD_SUFFIX = [["PER-B", "PER-I", "O", "LOC-B"], ["O", "ORG-I", "O", "DAT-B", "DAT-I"]]
PRED_SUFFIX = [["PER-B", "PER-I", "O", "O"], ["O", "ORG-I", "O", "DAT-B", "O"]]


def _to_prefix(sentences):
    return [[suffix_to_prefix(tag) for tag in sentence] for sentence in sentences]


@pytest.mark.parametrize(("tag", "expected"), [("PER-B", "B-PER"), ("ORG-I", "I-ORG"), ("O", "O")])
def test_suffix_to_prefix_converts(tag, expected):
    assert suffix_to_prefix(tag) == expected


@pytest.mark.parametrize("tag", ["B-PER", "PER_B", "PER-X", "-B", "PER", "o", ""])
def test_suffix_to_prefix_rejects_other_tags(tag):
    with pytest.raises(ValueError, match="suffix-style"):
        suffix_to_prefix(tag)


def test_hand_computed_lenient_scores():
    # gold: PER, LOC, ORG (I- after O), DAT(2 tokens); pred: PER, ORG, DAT(1 token)
    # correct: PER, ORG -> P = 2/3, R = 2/4, F1 = 4/7
    scores = score_entities(_to_prefix(GOLD_SUFFIX), _to_prefix(PRED_SUFFIX))
    assert scores["entity_precision"] == pytest.approx(2 / 3)
    assert scores["entity_recall"] == pytest.approx(1 / 2)
    assert scores["entity_f1"] == pytest.approx(4 / 7)
    assert scores["per_type"] == {
        "DAT": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
        "LOC": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
        "ORG": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1},
        "PER": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1},
    }


def test_prefix_scores_equal_seqeval_suffix_scoring_of_upstream_tags():
    scores = score_entities(_to_prefix(GOLD_SUFFIX), _to_prefix(PRED_SUFFIX))
    assert scores["entity_f1"] == f1_score(GOLD_SUFFIX, PRED_SUFFIX, suffix=True)
    assert scores["entity_precision"] == precision_score(GOLD_SUFFIX, PRED_SUFFIX, suffix=True)
    assert scores["entity_recall"] == recall_score(GOLD_SUFFIX, PRED_SUFFIX, suffix=True)
    report = classification_report(GOLD_SUFFIX, PRED_SUFFIX, suffix=True, output_dict=True, zero_division=0)
    assert set(scores["per_type"]) == set(report) - {"micro avg", "macro avg", "weighted avg"}
    for entity_type, row in scores["per_type"].items():
        assert row["precision"] == report[entity_type]["precision"]
        assert row["recall"] == report[entity_type]["recall"]
        assert row["f1"] == report[entity_type]["f1-score"]
        assert row["support"] == report[entity_type]["support"]


def test_per_type_has_only_entity_types_and_plain_numbers():
    scores = score_entities([["B-PER", "I-PER", "O"]], [["B-PER", "I-PER", "O"]])
    assert scores["per_type"] == {"PER": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}}
    assert type(scores["entity_f1"]) is float
    assert type(scores["per_type"]["PER"]["support"]) is int


def test_no_predicted_entities_scores_zero_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = score_entities([["B-LOC", "O"]], [["O", "O"]])
    assert (scores["entity_f1"], scores["entity_precision"], scores["entity_recall"]) == (0.0, 0.0, 0.0)


def test_sentence_length_mismatch_names_the_sentence():
    with pytest.raises(ValueError, match="sentence 1"):
        score_entities([["O"], ["B-PER", "O"]], [["O"], ["B-PER"]])


def test_sentence_count_mismatch_raises():
    with pytest.raises(ValueError, match="2 gold sentences but 1 predicted"):
        score_entities([["O"], ["O"]], [["O"]])
