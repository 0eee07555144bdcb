"""Extractive QA features: (question, context) pairs as overlapping windows of the context.

A context longer than one window is split into overlapping windows by the fast tokenizer. Training windows
are labelled with the gold answer's token span; evaluation windows keep the character offsets that
``qa_spans`` maps a predicted span back through.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kobench.errors import KobenchError
from kobench.families.base import EncodeSettings, Features, token_type_column

CONTEXT = 1  # sequence id of the context in a (question, context) pair


def check_fast(tokenizer: Any) -> None:
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
    check_fast(tokenizer)
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
    check_fast(tokenizer)
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
    check_fast(tokenizer)
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
    check_fast(tokenizer)
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
