"""Extractive QA (KorQuAD 1.0): sliding-window features, n-best span decoding and the official metric.

Rows are SQuAD-style questions (``id``, ``title``, ``context``, ``question``, ``answers`` with character
offsets). A context longer than one window is split into overlapping windows by the fast tokenizer; the
model scores a start and an end logit per token, and the best valid span over all windows of a question
is mapped back to the context through the tokenizer's character offsets.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from kobench.errors import KobenchError
from kobench.families.base import EncodeSettings, Features, Outputs, token_type_column
from kobench.metrics.korquad import score_korquad
from kobench.spec import TaskSpec

CONTEXT = 1  # sequence id of the context in a (question, context) pair


def _check_fast(tokenizer: Any) -> None:
    """Raise KobenchError unless ``tokenizer`` is a fast (Rust) tokenizer that returns offsets."""
    if not getattr(tokenizer, "is_fast", False):
        raise KobenchError(f"KorQuAD needs a fast tokenizer with offset mappings; {type(tokenizer).__name__} is not one")


def _truncate_questions(questions: list[str], tokenizer: Any, max_query_len: int) -> tuple[list[str], list[int]]:
    """Cut each question to its first ``max_query_len`` tokens (batched form of ``truncate_question``).

    Returns:
        The questions and their token counts (special tokens not counted).
    """
    if max_query_len < 1:
        raise KobenchError(f"max_query_len must be at least 1, got {max_query_len}")
    if not questions:
        return [], []
    encoding = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
    texts, lengths, cut = [], [], []
    for index, (question, offsets) in enumerate(zip(questions, encoding["offset_mapping"])):
        if len(offsets) > max_query_len:
            # Cutting the text (not the ids) keeps the pair encoding a plain (question, context) call.
            question = question[: offsets[max_query_len - 1][1]]
            cut.append(index)
        texts.append(question)
        lengths.append(len(offsets))
    if cut:
        # A cut text can tokenise differently (BPE merges), so count what will really be encoded.
        recount = tokenizer([texts[i] for i in cut], add_special_tokens=False)["input_ids"]
        for index, ids in zip(cut, recount):
            lengths[index] = len(ids)
    return texts, lengths


def truncate_question(question: str, tokenizer: Any, max_query_len: int) -> str:
    """Cut a question to its first ``max_query_len`` tokens, as the reference truncates query tokens.

    Args:
        question: the question text.
        tokenizer: a fast tokenizer.
        max_query_len: the most question tokens to keep (special tokens not counted).

    Returns:
        The question up to the end character of its ``max_query_len``-th token; unchanged when shorter.

    Raises:
        KobenchError: if the tokenizer is not fast or ``max_query_len`` is below 1.
    """
    _check_fast(tokenizer)
    return _truncate_questions([question], tokenizer, max_query_len)[0][0]


def _check_room(lengths: list[int], tokenizer: Any, settings: EncodeSettings) -> None:
    """Raise KobenchError when a window cannot hold more context tokens than the stride overlap.

    The Rust tokenizer panics (an exception that is not an ``Exception``) in that case, so check first.
    """
    longest = max(lengths, default=0)
    room = settings.max_seq_len - tokenizer.num_special_tokens_to_add(pair=True) - longest
    if room <= settings.doc_stride:
        raise KobenchError(
            f"max_seq_len {settings.max_seq_len} leaves {room} context tokens beside a "
            f"{longest}-token question (max_query_len {settings.max_query_len}); "
            f"doc_stride {settings.doc_stride} must be smaller"
        )


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of small lists are built.

    Every allocation burst triggers a collection that rescans all live objects, which made encoding the
    KorQuAD dev set about three times slower; features hold no reference cycles, so nothing leaks.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _windows(rows: list[dict[str, Any]], tokenizer: Any, settings: EncodeSettings) -> Any:
    """Tokenise all (question, context) pairs at once into overlapping context windows, unpadded."""
    _check_fast(tokenizer)
    questions = [row["question"] for row in rows]
    questions, lengths = _truncate_questions(questions, tokenizer, settings.max_query_len)
    _check_room(lengths, tokenizer, settings)
    return tokenizer(
        questions,
        [row["context"] for row in rows],
        truncation="only_second",
        max_length=settings.max_seq_len,
        stride=settings.doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=False,
    )


def _gold_chars(row: dict[str, Any]) -> tuple[int, int] | None:
    """Character span ``[start, end)`` of the first gold answer without surrounding whitespace, if any."""
    texts, starts = row["answers"]["text"], row["answers"]["answer_start"]
    if not texts or not texts[0].strip():
        return None
    text = texts[0]
    # Whitespace has no token, so a padded answer would otherwise pull in the neighbouring word.
    begin = int(starts[0]) + len(text) - len(text.lstrip())
    return begin, begin + len(text.strip())


def _answer_tokens(
    offsets: list[tuple[int, int]], sequence_ids: list[int | None], span: tuple[int, int] | None
) -> tuple[int, int]:
    """Token indices of ``span`` inside one window, or ``(0, 0)`` (CLS) when it is not wholly inside.

    Args:
        offsets: the window's character offsets, one pair per token.
        sequence_ids: the window's sequence ids (None for special tokens, 1 for context).
        span: the gold answer's character span ``[start, end)``, or None when there is none.

    Returns:
        ``(start_token, end_token)``: the first and last context tokens overlapping the answer.
    """
    context = [i for i, sid in enumerate(sequence_ids) if sid == CONTEXT]
    if span is None or not context:
        return 0, 0
    begin, end = span
    if offsets[context[0]][0] > begin or offsets[context[-1]][1] < end:
        return 0, 0  # the answer starts before or ends after this window
    start_token = next((i for i in context if offsets[i][1] > begin), None)
    end_token = next((i for i in reversed(context) if offsets[i][0] < end), None)
    if start_token is None or end_token is None or end_token < start_token:
        return 0, 0  # the answer's characters produced no token (e.g. removed control characters)
    return start_token, end_token


def encode_train(rows: list[dict[str, Any]], tokenizer: Any, settings: EncodeSettings) -> Features:
    """Training features: one per context window, labelled with the first gold answer's token span.

    Args:
        rows: prepared KorQuAD rows.
        tokenizer: a fast tokenizer.
        settings: ``max_seq_len``, ``doc_stride``, ``max_query_len`` and ``token_type_ids`` are used.

    Returns:
        Columns ``input_ids``, optionally ``token_type_ids``, ``start_positions``, ``end_positions``;
        a window that does not hold the whole answer points both positions at index 0 (CLS).

    Raises:
        KobenchError: slow tokenizer, or settings that leave no room for the stride.
    """
    _check_fast(tokenizer)
    if not rows:
        return {"input_ids": [], "start_positions": [], "end_positions": []}
    with _gc_paused():
        encoding = _windows(rows, tokenizer, settings)
        starts, ends = [], []
        for feature, sample in enumerate(encoding["overflow_to_sample_mapping"]):
            start, end = _answer_tokens(
                encoding["offset_mapping"][feature], encoding.sequence_ids(feature), _gold_chars(rows[sample])
            )
            starts.append(start)
            ends.append(end)
    return {
        "input_ids": encoding["input_ids"],
        **token_type_column(encoding, settings.token_type_ids),
        "start_positions": starts,
        "end_positions": ends,
    }


def encode_eval(rows: list[dict[str, Any]], tokenizer: Any, settings: EncodeSettings) -> Features:
    """Evaluation features: the same windows as training, with what decoding needs to map spans back.

    Args:
        rows: prepared KorQuAD rows.
        tokenizer: a fast tokenizer.
        settings: ``max_seq_len``, ``doc_stride``, ``max_query_len`` and ``token_type_ids`` are used.

    Returns:
        Columns ``input_ids``, optionally ``token_type_ids``, ``example_index`` (index of the row in
        ``rows``) and ``offset_mapping`` (``[start, end]`` for context tokens, None for the rest).

    Raises:
        KobenchError: slow tokenizer, or settings that leave no room for the stride.
    """
    _check_fast(tokenizer)
    if not rows:
        return {"input_ids": [], "example_index": [], "offset_mapping": []}
    with _gc_paused():
        encoding = _windows(rows, tokenizer, settings)
        offset_mapping = []
        for feature, offsets in enumerate(encoding["offset_mapping"]):
            sequence_ids = encoding.sequence_ids(feature)
            # None marks question and special tokens so decoding can never pick them.
            offset_mapping.append(
                [[start, end] if sid == CONTEXT else None for (start, end), sid in zip(offsets, sequence_ids)]
            )
    return {
        "input_ids": encoding["input_ids"],
        **token_type_column(encoding, settings.token_type_ids),
        "example_index": [int(sample) for sample in encoding["overflow_to_sample_mapping"]],
        "offset_mapping": offset_mapping,
    }


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


class SpanQAFamily:
    """KorQuAD-style extractive QA: a start/end head over (question, context) windows."""

    name = "span_qa"
    auto_class = "AutoModelForQuestionAnswering"
    output_names = ("start_logits", "end_logits")
    token_level = True

    def num_labels(self, spec: TaskSpec) -> int:
        """Two outputs per token: start and end logits."""
        return 2

    def encode(
        self, spec: TaskSpec, rows: list[dict[str, Any]], tokenizer: Any, settings: EncodeSettings, *, train: bool
    ) -> Features:
        """Training features with span labels, or evaluation features with offsets (see encode_*)."""
        _check_fast(tokenizer)
        return encode_train(rows, tokenizer, settings) if train else encode_eval(rows, tokenizer, settings)

    def decode(
        self, spec: TaskSpec, rows: list[dict[str, Any]], features: Features, outputs: Outputs, settings: EncodeSettings
    ) -> dict[str, Any]:
        """Row id to answer text, the best n-best span over the row's windows."""
        return decode_spans(
            rows, features, outputs["start_logits"], outputs["end_logits"], settings.n_best, settings.max_answer_len
        )

    def score(self, spec: TaskSpec, rows: list[dict[str, Any]], predictions: dict[str, Any]) -> dict[str, Any]:
        """Official KorQuAD 1.0 exact match and character F1 (fractions); a missing id counts as empty."""
        golds = {row["id"]: list(row["answers"]["text"]) for row in rows}
        return score_korquad(predictions, golds)

    def to_json(self, spec: TaskSpec, prediction: Any) -> Any:
        """The answer text itself."""
        return str(prediction)

    def from_json(self, spec: TaskSpec, value: Any) -> Any:
        """The answer text; ValueError unless ``value`` is a string."""
        if not isinstance(value, str):
            message = f"a KorQuAD prediction must be the answer string, got {type(value).__name__}"
            raise ValueError(message)  # noqa: TRY004 - the protocol promises ValueError for any malformed value
        return value


FAMILY = SpanQAFamily()
