"""Tests for kobench.metrics.classification."""

import pytest

from kobench.metrics.classification import accuracy, macro_f1, score_classification


def test_accuracy_is_fraction_of_matches():
    assert accuracy([0, 1, 2, 2], [0, 2, 2, 2]) == 0.75


def test_macro_f1_averages_per_label_f1():
    # label 0: P=1, R=1/2, F1=2/3; label 1: P=2/3, R=1, F1=4/5 -> mean 11/15
    assert macro_f1([0, 0, 1, 1], [0, 1, 1, 1], labels=[0, 1]) == pytest.approx(11 / 15)


def test_macro_f1_counts_absent_label_as_zero():
    # label 2 never occurs in gold nor prediction: its F1 is 0 (no warning) and it still counts in the mean
    assert macro_f1([0, 0, 1, 1], [0, 1, 1, 1], labels=[0, 1, 2]) == pytest.approx(22 / 45)


def test_score_classification_returns_plain_floats():
    scores = score_classification([0, 0, 1, 1], [0, 1, 1, 1], labels=[0, 1])
    assert scores == {"accuracy": 0.75, "macro_f1": pytest.approx(11 / 15)}
    assert all(type(value) is float for value in scores.values())
