"""Tests for kobench.metrics.regression."""

import math
import warnings

import pytest

from kobench.metrics.regression import score_regression


def test_monotone_nonlinear_prediction():
    # ranks agree exactly; Pearson = 25 / sqrt(5 * 129); squared errors 0, 4, 36, 144
    scores = score_regression([1, 2, 3, 4], [1, 4, 9, 16])
    assert scores["spearman"] == pytest.approx(1.0)
    assert scores["pearson"] == pytest.approx(25 / math.sqrt(645))
    assert scores["mse"] == 46.0


def test_reversed_prediction_correlates_negatively():
    scores = score_regression([0.0, 2.5, 5.0], [5.0, 2.5, 0.0])
    assert scores["spearman"] == pytest.approx(-1.0)
    assert scores["pearson"] == pytest.approx(-1.0)


def test_mse_is_on_the_raw_scale():
    assert score_regression([0.0, 5.0, 3.0], [1.0, 3.0, 3.0])["mse"] == pytest.approx(5 / 3)


def test_constant_prediction_gives_zero_correlation_not_nan():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = score_regression([0.0, 1.0, 2.0], [3.0, 3.0, 3.0])
    assert scores == {"spearman": 0.0, "pearson": 0.0, "mse": pytest.approx(14 / 3)}


def test_constant_gold_gives_zero_correlation():
    scores = score_regression([2.0, 2.0, 2.0], [1.0, 2.0, 3.0])
    assert (scores["spearman"], scores["pearson"]) == (0.0, 0.0)


def test_values_are_plain_floats():
    scores = score_regression([1, 2, 3], [1, 3, 2])
    assert all(type(value) is float for value in scores.values())
