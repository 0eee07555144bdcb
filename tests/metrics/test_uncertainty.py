"""Intervals and paired tests from unit statistics: equal to the official metrics, to brute force, and calibrated."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats
from seqeval.metrics import f1_score as seqeval_f1

from kobench.metrics import score_classification, score_entities, score_korquad, score_regression
from kobench.metrics.bootstrap import Bootstrap, bootstrap_replicates, closed_form, metric_intervals, t_interval
from kobench.metrics.korquad import paragraph_sums
from kobench.metrics.ner import sentence_entity_counts
from kobench.metrics.significance import compare_systems, holm, mcnemar, randomization_differences
from kobench.metrics.unit_stats import Confusion, Correlation, EntityCounts, GroupedMeans, UnitStats, compress

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def _classification(rng: np.random.Generator, n: int, labels: int = 3) -> tuple[np.ndarray, np.ndarray]:
    gold = rng.integers(0, labels, n)
    pred = np.where(rng.random(n) < 0.7, gold, rng.integers(0, labels, n))
    return gold, pred


def _sentences(rng: np.random.Generator, n: int) -> tuple[list[list[str]], list[list[str]]]:
    gold = [list(rng.choice(TAGS, rng.integers(1, 9), p=[0.5, 0.15, 0.1, 0.15, 0.1])) for _ in range(n)]
    pred = [[t if rng.random() < 0.8 else str(rng.choice(TAGS)) for t in sentence] for sentence in gold]
    return gold, pred


def _questions(rng: np.random.Generator, paragraphs: int) -> tuple[dict[str, str], list[tuple[str, str, list[str]]]]:
    words = ["서울", "부산", "서울특별시", "1926년", "아리랑", "대구", ""]
    predictions, questions = {}, []
    for p in range(paragraphs):
        for q in range(rng.integers(1, 5)):
            qid = f"p{p}-q{q}"
            questions.append((f"p{p}", qid, [str(rng.choice(words[:-1])), str(rng.choice(words[:-1]))]))
            predictions[qid] = str(rng.choice(words))
    return predictions, questions


def _resample(rng: np.random.Generator, n: int, draws: int) -> np.ndarray:
    return rng.multinomial(n, np.full(n, 1 / n), size=draws).astype(float)


def test_points_equal_the_official_metrics() -> None:
    rng = np.random.default_rng(0)
    gold, pred = _classification(rng, 300)
    stats = UnitStats(Confusion(3), "example", np.c_[gold, pred])
    assert stats.point() == pytest.approx(score_classification(gold, pred, labels=[0, 1, 2]), abs=1e-12)
    x = rng.normal(size=200).round(1)
    y = x + rng.normal(size=200)
    assert UnitStats(Correlation(), "example", np.c_[x, y]).point() == pytest.approx(score_regression(x, y), abs=1e-12)
    tags_gold, tags_pred = _sentences(rng, 80)
    official = score_entities(tags_gold, tags_pred)
    point = UnitStats(EntityCounts(), "sentence", sentence_entity_counts(tags_gold, tags_pred)).point()
    assert point == pytest.approx({k: official[k] for k in point}, abs=1e-12)
    predictions, questions = _questions(rng, 40)
    official = score_korquad(predictions, {qid: answers for _, qid, answers in questions})
    point = UnitStats(GroupedMeans(), "paragraph", paragraph_sums(predictions, questions)).point()
    assert point == pytest.approx(official, abs=1e-12)


def test_each_replicate_equals_the_metric_recomputed_on_the_resampled_units() -> None:
    rng = np.random.default_rng(1)
    gold, pred = _classification(rng, 120)
    counts = _resample(rng, 120, 300)
    replicates = Confusion(3).compute(np.c_[gold, pred], counts)
    x = rng.normal(size=60).round(1)  # ties, as in KorSTS's gold scores
    y = x + rng.normal(size=60).round(1)
    corr_counts = _resample(rng, 60, 300)
    correlations = Correlation().compute(np.c_[x, y], corr_counts)
    for b in range(300):
        index = np.repeat(np.arange(120), counts[b].astype(int))
        expected = score_classification(gold[index], pred[index], labels=[0, 1, 2])
        assert replicates["accuracy"][b] == pytest.approx(expected["accuracy"], abs=1e-12)
        assert replicates["macro_f1"][b] == pytest.approx(expected["macro_f1"], abs=1e-12)
        index = np.repeat(np.arange(60), corr_counts[b].astype(int))
        expected = score_regression(x[index], y[index])
        assert {k: correlations[k][b] for k in expected} == pytest.approx(expected, abs=1e-12)


def test_ner_and_korquad_replicates_resample_sentences_and_paragraphs() -> None:
    rng = np.random.default_rng(2)
    tags_gold, tags_pred = _sentences(rng, 50)
    counts = _resample(rng, 50, 200)
    replicates = EntityCounts().compute(sentence_entity_counts(tags_gold, tags_pred), counts)
    predictions, questions = _questions(rng, 30)
    sums = paragraph_sums(predictions, questions)
    paragraph_counts = _resample(rng, 30, 200)
    grouped = GroupedMeans().compute(sums, paragraph_counts)
    paragraphs = list(dict.fromkeys(p for p, _, _ in questions))
    for b in range(200):
        index = np.repeat(np.arange(50), counts[b].astype(int))
        expected = seqeval_f1([tags_gold[i] for i in index], [tags_pred[i] for i in index], zero_division=0)
        assert replicates["entity_f1"][b] == pytest.approx(expected, abs=1e-12)
        drawn, golds = {}, {}
        for copy, i in enumerate(np.repeat(np.arange(30), paragraph_counts[b].astype(int))):
            for p, qid, answers in questions:
                if p == paragraphs[i]:
                    drawn[f"{copy}-{qid}"], golds[f"{copy}-{qid}"] = predictions[qid], answers
        assert {k: grouped[k][b] for k in ("exact_match", "char_f1")} == pytest.approx(
            score_korquad(drawn, golds), abs=1e-12
        )


def test_the_interval_of_a_mean_agrees_with_scipy_and_with_the_closed_form() -> None:
    rng = np.random.default_rng(3)
    gold = rng.integers(0, 2, 1000)
    pred = np.where(rng.random(1000) < 0.85, gold, 1 - gold)
    stats = UnitStats(Confusion(2), "example", np.c_[gold, pred])
    bounds, method = metric_intervals(stats)
    correct = (gold == pred).astype(float)
    reference = scipy_stats.bootstrap((correct,), np.mean, n_resamples=10_000, method="percentile", random_state=7)
    ours = (bounds["accuracy_ci_low"], bounds["accuracy_ci_high"])
    assert ours == pytest.approx(tuple(reference.confidence_interval), abs=0.004)  # Monte Carlo error ~0.001
    assert ours == pytest.approx(closed_form(stats)["accuracy"], abs=0.004)
    assert method == {"method": "percentile bootstrap", "unit": "example", "units": 1000, "resamples": 10_000,
                      "seed": 0, "level": 0.95}  # fmt: skip
    assert metric_intervals(stats)[0] == bounds  # seeded: the same interval every time


def test_grouped_closed_form_agrees_with_the_paragraph_bootstrap() -> None:
    predictions, questions = _questions(np.random.default_rng(4), 600)
    stats = UnitStats(GroupedMeans(), "paragraph", paragraph_sums(predictions, questions))
    bounds, _ = metric_intervals(stats)
    for name in ("exact_match", "char_f1"):
        assert (bounds[f"{name}_ci_low"], bounds[f"{name}_ci_high"]) == pytest.approx(closed_form(stats)[name], abs=0.006)


def test_intervals_cover_the_true_accuracy_and_f1_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(5)
    cells = np.array([0.42, 0.08, 0.12, 0.38])  # P(gold, predicted) for (0,0), (0,1), (1,0), (1,1)
    true_accuracy = cells[0] + cells[3]
    true_f1 = np.mean(
        [2 * cells[0] / (2 * cells[0] + cells[1] + cells[2]), 2 * cells[3] / (2 * cells[3] + cells[1] + cells[2])]
    )
    entity_rates = (1.1, 1.5, 1.6)  # mean correct, predicted, gold entities per sentence (Poisson)
    true_entity_f1 = 2 * entity_rates[0] / (entity_rates[1] + entity_rates[2])
    covered = {"accuracy": 0, "macro_f1": 0, "entity_f1": 0}
    for _ in range(400):
        drawn = rng.choice(4, 400, p=cells)
        bounds, _ = metric_intervals(UnitStats(Confusion(2), "example", np.c_[drawn // 2, drawn % 2]), Bootstrap(1_000))
        covered["accuracy"] += bounds["accuracy_ci_low"] <= true_accuracy <= bounds["accuracy_ci_high"]
        covered["macro_f1"] += bounds["macro_f1_ci_low"] <= true_f1 <= bounds["macro_f1_ci_high"]
        tp = rng.poisson(entity_rates[0], 300)
        counts = np.c_[
            tp,
            tp + rng.poisson(entity_rates[1] - entity_rates[0], 300),
            tp + rng.poisson(entity_rates[2] - entity_rates[0], 300),
        ]
        bounds, _ = metric_intervals(UnitStats(EntityCounts(), "sentence", counts.astype(float)), Bootstrap(1_000))
        covered["entity_f1"] += bounds["entity_f1_ci_low"] <= true_entity_f1 <= bounds["entity_f1_ci_high"]
    assert all(368 <= hits <= 392 for hits in covered.values()), covered  # 92-98 % of 400


def _paired_systems(rng: np.random.Generator, n: int, cells: list[float]) -> dict[str, UnitStats]:
    """Two binary classifiers whose (a right, b right) pattern follows ``cells``: RR, RW, WR, WW."""
    pattern = rng.choice(4, n, p=cells)
    gold = rng.integers(0, 2, n)
    a_right, b_right = pattern < 2, pattern % 2 == 0
    return {
        "a": UnitStats(Confusion(2), "example", np.c_[gold, np.where(a_right, gold, 1 - gold)]),
        "b": UnitStats(Confusion(2), "example", np.c_[gold, np.where(b_right, gold, 1 - gold)]),
    }


def test_paired_tests_hold_their_level_and_find_a_two_point_difference() -> None:
    rng = np.random.default_rng(6)
    settings = Bootstrap(1_000, seed=11)  # p-values resolve to 0.001: enough to count rejections at 0.05
    rejected = {"bootstrap": 0, "randomization": 0, "mcnemar": 0}
    found = dict(rejected)
    for _ in range(400):
        (same,) = compare_systems(_paired_systems(rng, 2_000, [0.77, 0.03, 0.03, 0.17]), "accuracy", settings=settings)
        (better,) = compare_systems(_paired_systems(rng, 2_000, [0.78, 0.04, 0.02, 0.16]), "accuracy", settings=settings)
        for counts, comparison in ((rejected, same), (found, better)):
            counts["bootstrap"] += comparison.p_bootstrap < 0.05
            counts["randomization"] += comparison.p_randomization < 0.05
            counts["mcnemar"] += comparison.p_mcnemar < 0.05
    assert all(8 <= r <= 32 for r in rejected.values()), rejected  # 2-8 % of 400 equally good pairs
    assert all(f > 320 for f in found.values()), found  # > 80 % of 400 pairs 2 points apart


def test_a_comparison_reports_difference_interval_and_p_values() -> None:
    systems = _paired_systems(np.random.default_rng(7), 1_000, [0.70, 0.10, 0.02, 0.18])
    (comparison,) = compare_systems(systems, "accuracy")
    assert comparison.difference == pytest.approx(systems["a"].point()["accuracy"] - systems["b"].point()["accuracy"])
    assert comparison.ci_low < comparison.difference < comparison.ci_high and comparison.ci_low > 0
    assert comparison.p_randomization < 0.001 and comparison.p_bootstrap < 0.001 and comparison.p_mcnemar < 1e-6
    assert comparison.p_holm == comparison.p_randomization  # one comparison: Holm changes nothing
    shuffled = randomization_differences(systems["a"], systems["b"], "accuracy", Bootstrap(500))
    assert abs(shuffled.mean()) < 0.01 and len(shuffled) == 500


def test_spearman_randomization_swaps_predictions_between_systems() -> None:
    rng = np.random.default_rng(8)
    gold = rng.normal(size=150)
    a = UnitStats(Correlation(), "example", np.c_[gold, gold + rng.normal(size=150)])
    b = UnitStats(Correlation(), "example", np.c_[gold, gold + 3 * rng.normal(size=150)])
    (comparison,) = compare_systems({"a": a, "b": b}, "spearman", settings=Bootstrap(1_000))
    assert comparison.difference > 0.2 and comparison.p_randomization < 0.01
    assert comparison.p_mcnemar is None


def test_mcnemar_is_exact_with_few_discordant_pairs_and_chi_square_beyond() -> None:
    a = np.array([1] * 7 + [0] * 1 + [1] * 50)
    b = np.array([0] * 7 + [1] * 1 + [1] * 50)
    assert mcnemar(a, b) == pytest.approx(scipy_stats.binomtest(7, 8, 0.5).pvalue)
    a = np.array([1] * 30 + [0] * 10)
    b = np.array([0] * 30 + [1] * 10)
    assert mcnemar(a, b) == pytest.approx(scipy_stats.chi2.sf((20 - 1) ** 2 / 40, 1))
    assert mcnemar(a, a) == 1.0


def test_holm_matches_its_definition() -> None:
    p = [0.001, 0.2, 0.013, 0.04, 0.012]
    adjusted = holm(p)
    order = np.argsort(p)
    expected = np.maximum.accumulate([min(1, (len(p) - i) * p[j]) for i, j in enumerate(order)])
    assert [adjusted[j] for j in order] == pytest.approx(list(expected))


def test_seed_interval_is_a_t_interval() -> None:
    low, high = t_interval([0.80, 0.82, 0.84])
    assert (low + high) / 2 == pytest.approx(0.82)
    assert high - low == pytest.approx(2 * scipy_stats.t.ppf(0.975, 2) * 0.02 / np.sqrt(3))
    assert t_interval([0.8]) is None


def test_compression_keeps_the_replicates() -> None:
    rng = np.random.default_rng(9)
    gold, pred = _classification(rng, 5_000)
    stats = UnitStats(Confusion(3), "example", np.c_[gold, pred])
    rows, multiplicity = compress(stats.values)
    assert len(rows) <= 9 and multiplicity.sum() == 5_000
    replicates = bootstrap_replicates(stats, Bootstrap(10_000))
    assert len(replicates["accuracy"]) == 10_000
    assert abs(replicates["accuracy"].mean() - stats.point()["accuracy"]) < 0.001


def test_spearman_swaps_rank_the_gold_once_and_agree_with_ranking_both_sides() -> None:
    from kobench.metrics.unit_stats import StatKind

    rng = np.random.default_rng(10)
    gold = rng.integers(0, 6, 80).astype(float)  # ties, as in KorSTS
    rows_a, rows_b = np.c_[gold, gold + rng.normal(size=80)], np.c_[gold, gold + rng.normal(size=80)]
    multiplicity = rng.integers(1, 4, 80)
    swapped = rng.binomial(multiplicity, 0.5, size=(50, 80)).astype(float)
    fast = Correlation().swap_difference(rows_a, rows_b, multiplicity, swapped, "spearman")
    general = StatKind.swap_difference(Correlation(), rows_a, rows_b, multiplicity, swapped, "spearman")
    assert fast == pytest.approx(general, abs=1e-12)
