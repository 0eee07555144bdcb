"""Tests for kobench.families.span_qa: KorQuAD windows, span labels, n-best decoding and scoring."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from transformers import AutoTokenizer

from kobench.data.readers import read_rows
from kobench.errors import KobenchError
from kobench.families.base import EncodeSettings
from kobench.families.qa_spans import decode_spans
from kobench.families.qa_windows import encode_eval, encode_train, truncate_question
from kobench.families.span_qa import FAMILY, SpanQAFamily
from kobench.tasks import get_task
from kobench.tools.tiny_model import build_tiny_model

SPEC = get_task("korquad")
# short windows so that every context below spans several of them
SMALL = EncodeSettings(max_seq_len=24, doc_stride=6, max_query_len=8, max_answer_len=30, n_best=20)
TINY = {"hidden_size": 16, "num_layers": 1, "num_heads": 1, "intermediate_size": 32}


def _row(qid: str, context: str, question: str, *answers: str) -> dict[str, Any]:
    """A prepared row whose answers are located by their first occurrence in ``context``."""
    starts = [context.index(answer) for answer in answers]
    return {"id": qid, "title": "시험", "context": context, "question": question,
            "answers": {"text": list(answers), "answer_start": starts}}


# Answers are whole words so that a tokenizer trained on these texts puts token boundaries around them.
ROWS = [
    _row("start", "이순신 장군은 조선 중기의 무신이다. "
         "그는 임진왜란 때 수군을 이끌고 여러 해전에서 승리하였다. "
         "한산도 대첩과 명량 해전이 특히 유명하다. 그는 노량 해전에서 전사하였다.",
         "임진왜란 때 수군을 이끈 장군은?", "이순신"),
    _row("end", "제주도는 대한민국에서 가장 큰 섬이다. 섬 한가운데에는 화산이 만든 높은 산이 솟아 있다. "
         "여름에는 관광객이 많이 찾아온다. 대한민국에서 가장 높은 산은 한라산",
         "대한민국에서 가장 높은 산은?", "한라산"),
    _row("middle", "세종대왕은 조선의 제4대 국왕이다. 그는 집현전 학자들과 함께 새로운 문자를 연구하였다. "
         "그 결과 1443년 훈민정음을 창제하였고 1446년 이를 반포하였다. 오늘날 이 문자는 한글이라고 불린다.",
         "훈민정음을 창제한 해는?", "1443년"),
    _row("multi", "대한민국 임시정부 는 1919년 상하이 에서 수립되었다. "
         "당시 많은 독립운동가가 상하이 로 모였다. "
         "임시정부 는 광복 때까지 여러 도시로 옮겨 다니며 활동하였다. 마지막 청사는 충칭 에 있었다.",
         "대한민국 임시정부가 처음 수립된 도시는?", "1919년 상하이", "상하이"),
    _row("short", "한국의 수도는 서울 이다.", "한국의 수도는?", "서울"),
]
LONG_QUESTION = ("이 질문은 일부러 아주 길게 만든 질문으로 여러 단어가 계속 이어지며 "
                 "최대 길이를 넘도록 작성되었다 정말 그렇다")


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Any:
    texts = [row["context"] for row in ROWS] + [row["question"] for row in ROWS] + [LONG_QUESTION]
    out = build_tiny_model(tmp_path_factory.mktemp("tiny-qa"), texts, max_position_embeddings=64, **TINY)
    return AutoTokenizer.from_pretrained(out)


def _context_tokens(offsets: list[list[int] | None]) -> list[int]:
    return [i for i, offset in enumerate(offsets) if offset is not None]


def _oracle_tokens(offsets: list[list[int] | None], begin: int, end: int) -> tuple[int, int] | None:
    """The context tokens holding the first and last answer character, if this window holds both."""
    context = _context_tokens(offsets)
    first = [i for i in context if offsets[i][0] <= begin < offsets[i][1]]
    last = [i for i in context if offsets[i][0] < end <= offsets[i][1]]
    return (first[0], last[0]) if first and last else None


def _peaked(length: int, peaks: dict[int, float]) -> np.ndarray:
    logits = np.zeros(length, dtype=np.float32)
    for index, value in peaks.items():
        logits[index] = value
    return logits


def _logits_from_positions(features: dict[str, list]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Perfect logits: a large value at the labelled start/end of every window that holds the answer."""
    starts, ends = [], []
    for ids, start, end in zip(features["input_ids"], features["start_positions"], features["end_positions"]):
        starts.append(_peaked(len(ids), {start: 10.0} if start else {}))
        ends.append(_peaked(len(ids), {end: 10.0} if end else {}))
    return starts, ends


def _oracle_logits(rows: list[dict[str, Any]], features: dict[str, list]) -> tuple[list, list]:
    """Perfect logits computed from the eval offsets alone (independent of the training labels)."""
    starts, ends = [], []
    columns = (features["input_ids"], features["example_index"], features["offset_mapping"])
    for ids, index, offsets in zip(*columns):
        answer = rows[index]["answers"]
        begin = answer["answer_start"][0]
        span = _oracle_tokens(offsets, begin, begin + len(answer["text"][0]))
        starts.append(_peaked(len(ids), {span[0]: 10.0} if span else {}))
        ends.append(_peaked(len(ids), {span[1]: 10.0} if span else {}))
    return starts, ends


def test_protocol_attributes() -> None:
    assert isinstance(FAMILY, SpanQAFamily)
    assert FAMILY.name == "span_qa" == SPEC.family
    assert FAMILY.auto_class == "AutoModelForQuestionAnswering"
    assert FAMILY.output_names == ("start_logits", "end_logits")
    assert FAMILY.num_labels(SPEC) == 2


def test_round_trip_over_several_windows(tokenizer: Any) -> None:
    train = FAMILY.encode(SPEC, ROWS, tokenizer, SMALL, train=True)
    evals = FAMILY.encode(SPEC, ROWS, tokenizer, SMALL, train=False)
    assert train["input_ids"] == evals["input_ids"]
    assert max(len(ids) for ids in evals["input_ids"]) <= SMALL.max_seq_len
    windows = np.bincount(evals["example_index"])
    assert all(n >= 2 for n in windows[:4]) and max(windows) >= 3  # the long contexts span several windows
    assert windows[-1] == 1
    for make in (lambda: _logits_from_positions(train), lambda: _oracle_logits(ROWS, evals)):
        starts, ends = make()
        predictions = FAMILY.decode(SPEC, ROWS, evals, {"start_logits": starts, "end_logits": ends}, SMALL)
        assert predictions == {row["id"]: row["answers"]["text"][0] for row in ROWS}
        assert FAMILY.score(SPEC, ROWS, predictions) == {"exact_match": 1.0, "char_f1": 1.0}


def test_answers_at_start_and_end_of_context(tokenizer: Any) -> None:
    rows = [ROWS[0], ROWS[1]]
    assert rows[0]["answers"]["answer_start"] == [0]
    assert rows[1]["context"].endswith(rows[1]["answers"]["text"][0])
    train = encode_train(rows, tokenizer, SMALL)
    evals = encode_eval(rows, tokenizer, SMALL)
    found = {}
    for index, offsets, start, end in zip(evals["example_index"], evals["offset_mapping"],
                                          train["start_positions"], train["end_positions"]):
        if start:
            found[index] = (offsets[start][0], offsets[end][1])
    context_length = len(rows[1]["context"])
    assert found == {0: (0, len("이순신")), 1: (context_length - len("한라산"), context_length)}


def test_windows_without_the_whole_answer_point_at_cls(tokenizer: Any) -> None:
    train = encode_train(ROWS, tokenizer, SMALL)
    evals = encode_eval(ROWS, tokenizer, SMALL)
    labels = list(zip(train["start_positions"], train["end_positions"]))
    inside = outside = 0
    for (start, end), index, offsets in zip(labels, evals["example_index"], evals["offset_mapping"]):
        answer = ROWS[index]["answers"]
        begin = answer["answer_start"][0]
        expected = _oracle_tokens(offsets, begin, begin + len(answer["text"][0]))
        assert (start, end) == (expected or (0, 0))
        inside, outside = inside + bool(expected), outside + (not expected)
    assert inside >= len(ROWS) and outside > 0


def test_answer_cut_by_a_window_edge_maps_to_cls(tokenizer: Any) -> None:
    row = ROWS[3]  # a two-word answer: some window size puts a window edge between its tokens
    begin = row["answers"]["answer_start"][0]
    end = begin + len(row["answers"]["text"][0])
    straddling = 0
    for max_seq_len in range(12, 30):
        settings = EncodeSettings(max_seq_len=max_seq_len, doc_stride=1, max_query_len=8)
        train = encode_train([row], tokenizer, settings)
        evals = encode_eval([row], tokenizer, settings)
        for offsets, start, end_token in zip(evals["offset_mapping"], train["start_positions"],
                                             train["end_positions"]):
            spans = [offsets[i] for i in _context_tokens(offsets)]
            overlaps = spans[0][0] < end and spans[-1][1] > begin
            if overlaps and not (spans[0][0] <= begin and spans[-1][1] >= end):
                straddling += 1
                assert (start, end_token) == (0, 0)
    assert straddling > 0


def test_max_answer_len_and_invalid_spans(tokenizer: Any) -> None:
    row = ROWS[4]
    evals = encode_eval([row], tokenizer, SMALL)
    assert evals["example_index"] == [0]
    offsets = evals["offset_mapping"][0]
    ctx = _context_tokens(offsets)
    n = len(evals["input_ids"][0])
    starts = [_peaked(n, {ctx[0]: 10.0, ctx[2]: 5.0})]
    ends = [_peaked(n, {ctx[3]: 10.0, ctx[1]: 5.0})]

    def decode(max_answer_len: int, n_best: int = 20, s: list = starts, e: list = ends) -> str:
        return decode_spans([row], evals, s, e, n_best, max_answer_len)[row["id"]]

    def text(first: int, last: int) -> str:
        return row["context"][offsets[first][0]:offsets[last][1]]

    assert decode(4) == text(ctx[0], ctx[3])  # 4 tokens, score 20
    assert decode(3) == text(ctx[0], ctx[1])  # score 15; (ctx[2], ctx[3]) also 15 but ranks later
    assert decode(1) == text(ctx[0], ctx[0])  # start 10 + a zero end logit among the top 20
    assert decode(1, n_best=2) == ""  # no single-token pair among the two peaks of each side
    # an end before its start, and peaks on special or question tokens, are never chosen
    assert decode(30, n_best=1, s=[_peaked(n, {ctx[3]: 10.0})], e=[_peaked(n, {ctx[0]: 10.0})]) == ""
    assert decode(30, n_best=2, s=[_peaked(n, {0: 9.0, 1: 8.0})], e=[_peaked(n, {0: 9.0, 1: 8.0})]) == ""


def test_truncate_question(tokenizer: Any) -> None:
    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    assert count(LONG_QUESTION) > SMALL.max_query_len
    cut = truncate_question(LONG_QUESTION, tokenizer, SMALL.max_query_len)
    assert LONG_QUESTION.startswith(cut) and count(cut) == SMALL.max_query_len
    assert truncate_question(ROWS[0]["question"], tokenizer, SMALL.max_query_len) == ROWS[0]["question"]
    row = {**ROWS[2], "question": LONG_QUESTION}
    features = encode_eval([row], tokenizer, SMALL)
    for ids in features["input_ids"]:
        assert ids.index(tokenizer.sep_token_id) - 1 == SMALL.max_query_len  # [CLS] question [SEP] ...


def test_token_type_ids_only_when_asked(tokenizer: Any) -> None:
    without = EncodeSettings(max_seq_len=24, doc_stride=6, max_query_len=8, token_type_ids=False)
    for train in (True, False):
        with_types = FAMILY.encode(SPEC, ROWS, tokenizer, SMALL, train=train)
        assert [len(t) for t in with_types["token_type_ids"]] == [len(i) for i in with_types["input_ids"]]
        assert "token_type_ids" not in FAMILY.encode(SPEC, ROWS, tokenizer, without, train=train)


def test_slow_tokenizer_is_rejected(tokenizer: Any) -> None:
    class SlowTokenizer:
        is_fast = False

    for call in (lambda: FAMILY.encode(SPEC, ROWS, SlowTokenizer(), SMALL, train=False),
                 lambda: encode_train(ROWS, SlowTokenizer(), SMALL),
                 lambda: truncate_question("질문", SlowTokenizer(), 4)):
        with pytest.raises(KobenchError, match="fast tokenizer") as info:
            call()
        assert "\n" not in str(info.value)


def test_stride_that_leaves_no_room_is_an_error(tokenizer: Any) -> None:
    settings = EncodeSettings(max_seq_len=24, doc_stride=15, max_query_len=8)
    with pytest.raises(KobenchError, match="doc_stride 15"):
        encode_train(ROWS, tokenizer, settings)


def test_empty_input(tokenizer: Any) -> None:
    features = encode_eval([], tokenizer, SMALL)
    assert features["input_ids"] == [] and decode_spans([], features, [], [], 20, 30) == {}
    assert encode_train([], tokenizer, SMALL)["start_positions"] == []


def test_prediction_json_and_score() -> None:
    assert FAMILY.to_json(SPEC, "서울") == "서울"
    assert FAMILY.from_json(SPEC, "서울") == "서울"
    with pytest.raises(ValueError):
        FAMILY.from_json(SPEC, ["서울"])
    # the second gold answer counts, the missing id scores zero
    assert FAMILY.score(SPEC, ROWS[3:], {"multi": "상하이"}) == {"exact_match": 0.5, "char_f1": 0.5}


@pytest.mark.mirror
def test_oracle_on_korquad_dev(mirror: Path, tmp_path: Path) -> None:
    path = mirror / "korquad" / "KorQuAD_v1.0_dev.json"
    if not path.exists():
        pytest.skip(f"no {path}")
    rows = read_rows(SPEC, path, "test")
    assert len(rows) == 5774
    contexts = list(dict.fromkeys(row["context"] for row in rows))
    model_dir = build_tiny_model(tmp_path, contexts, max_position_embeddings=512, **TINY)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    settings = EncodeSettings(max_seq_len=384, doc_stride=128, max_query_len=64)
    began = time.perf_counter()
    evals = encode_eval(rows, tokenizer, settings)
    seconds = time.perf_counter() - began
    train = encode_train(rows, tokenizer, settings)
    assert train["input_ids"] == evals["input_ids"]
    oracles = {"offsets": _oracle_logits(rows, evals), "labels": _logits_from_positions(train)}
    for name, (starts, ends) in oracles.items():
        predictions = decode_spans(rows, evals, starts, ends, settings.n_best, settings.max_answer_len)
        scores = FAMILY.score(SPEC, rows, predictions)
        print(f"KorQuAD dev oracle from {name}: {len(evals['input_ids'])} features, "
              f"EM {scores['exact_match']:.4f}, "
              f"F1 {scores['char_f1']:.4f}; encode_eval {seconds:.2f} s")
        assert scores["exact_match"] >= 0.99
