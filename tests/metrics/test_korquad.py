"""Tests for kobench.metrics.korquad."""

import pytest

from kobench.metrics.korquad import char_f1, exact_match, normalize_answer, score_korquad


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("'서울'", "서울"),
        ('"서울"', "서울"),
        ("《토지》", "토지"),
        ("〈춘향전〉", "춘향전"),
        ("‘님의 침묵’", "님의 침묵"),
        ("<아리랑>", "아리랑"),
        ("(주)삼성", "주 삼성"),
    ],
)
def test_quotes_and_brackets_become_spaces(raw, expected):
    assert normalize_answer(raw) == expected


def test_brackets_split_but_other_punctuation_is_deleted():
    # ( ) turn into spaces before punctuation removal; [ ] are plain punctuation and vanish
    assert normalize_answer("a(b)c") == "a b c"
    assert normalize_answer("a[b]c") == "abc"


def test_punctuation_is_removed():
    assert normalize_answer("1,000원.") == "1000원"
    assert normalize_answer("U.S.A.!") == "usa"


def test_curly_double_quotes_are_kept_as_in_the_official_script():
    assert normalize_answer("“서울”") == "“서울”"


def test_whitespace_runs_collapse():
    assert normalize_answer("  서울 \t  특별시\n") == "서울 특별시"


def test_exact_match_ignores_case_and_punctuation():
    assert exact_match("KBS.", "kbs") == 1.0
    assert exact_match("《토지》", "토지") == 1.0


def test_exact_match_is_sensitive_to_inner_spaces_but_char_f1_is_not():
    assert exact_match("(주)삼성", "주삼성") == 0.0
    assert char_f1("(주)삼성", "주삼성") == 1.0


def test_char_f1_partial_overlap():
    # P = 2/5, R = 2/2 -> F1 = 4/7
    assert char_f1("서울특별시", "서울") == pytest.approx(4 / 7)


def test_char_f1_counts_repeated_characters_as_a_multiset():
    # one shared 하: P = 1/3, R = 1 -> F1 = 1/2
    assert char_f1("하하하", "하") == pytest.approx(1 / 2)


def test_char_f1_on_english_is_character_level_not_word_level():
    # word level would give P = 1/2, R = 1, F1 = 2/3; characters: P = 3/8, R = 1 -> F1 = 6/11
    assert char_f1("apple pie", "pie") == pytest.approx(6 / 11)
    assert char_f1("listen", "silent") == 1.0
    assert exact_match("listen", "silent") == 0.0


def test_char_f1_is_zero_without_overlap_or_on_empty_input():
    assert char_f1("부산", "서울") == 0.0
    assert char_f1("", "서울") == 0.0
    assert char_f1("서울", "...") == 0.0
    assert char_f1("", "") == 0.0


def test_score_korquad_takes_the_best_gold_answer():
    # vs 서울: 4/7; vs 서울시: P = 3/5, R = 1 -> 3/4
    scores = score_korquad({"q1": "서울특별시"}, {"q1": ["서울", "서울시"]})
    assert scores == {"exact_match": 0.0, "char_f1": pytest.approx(3 / 4)}
    assert score_korquad({"q1": "서울특별시"}, {"q1": ["부산", "서울특별시"]})["exact_match"] == 1.0


def test_score_korquad_averages_over_questions():
    scores = score_korquad({"q1": "서울특별시", "q2": "부산"}, {"q1": ["서울"], "q2": ["부산"]})
    assert scores == {"exact_match": 0.5, "char_f1": pytest.approx((4 / 7 + 1) / 2)}


def test_missing_prediction_counts_as_empty_and_extra_ids_are_ignored():
    scores = score_korquad({"q1": "서울", "other": "부산"}, {"q1": ["서울"], "q2": ["부산"]})
    assert scores == {"exact_match": 0.5, "char_f1": 0.5}


def test_score_korquad_rejects_empty_inputs():
    with pytest.raises(ValueError, match="no gold questions"):
        score_korquad({}, {})
    with pytest.raises(ValueError, match="'q1' has no gold answer"):
        score_korquad({"q1": "서울"}, {"q1": []})
