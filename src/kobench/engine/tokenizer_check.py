"""No silent garbage tokenizer: a loaded tokenizer must fit its model's embeddings and the text it will read.

transformers builds a tokenizer from whatever a directory holds: one without its vocabulary file still loads
(a WordPiece of the five special tokens), and every Hangul word becomes ``[UNK]``. Training on that runs to the
end and writes a metrics file. So before training, prediction and ``kobench models --check`` the tokenizer's
size is compared with the config's ``vocab_size`` and its unknown-token rate is measured on a sample of the text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kobench.errors import KobenchError

UNKNOWN_RATE_BOUND = 0.05  # a vocabulary meant for Korean text leaves well under 1 % of its tokens unknown
SMALLER_VOCAB_SLACK = 128  # a config may round its embedding rows up (to a multiple of 8, 64 or 128)
SAMPLE_ROWS = 64
SAMPLE_CHARS = 2000  # per text: a KorQuAD context says enough in its first characters
SERVED_MIN_TOKENS = 256  # prediction judges the unknown-token rate once its inputs give this many tokens
SAMPLE_TEXTS = (  # the built-in Korean sample, when no task text is at hand
    "이 영화 정말 재밌다 최고 추천 감동 배우 연기 스토리 음악 장면 시간 오늘 그냥 별로 최악 지루하다 실망 아깝다",
    "그는 서울에서 태어났다 부산 대구 광주 대한민국 수도 년 월 일 사람 질문 답 문서 위원회 병합",
)
EXPECTED_FILES = {
    "auto": "tokenizer.json, vocab.txt (WordPiece), vocab.json + merges.txt (BPE) or a SentencePiece *.model",
    "sentencepiece-vocab": "one SentencePiece *.model and vocab.txt",
    "hanbert-moran": "vocab_54k.txt, libmoran4dnlp.so and moran.db",
}


def sample_texts(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> list[str]:
    """Up to ``SAMPLE_ROWS`` rows' text from ``columns`` (a list of eojeols is joined by spaces).

    >>> sample_texts([{"text": "가 나", "tokens": None}, {"text": "", "tokens": ["다", "라"]}], ("text", "tokens"))
    ['가 나', '다 라']
    """
    texts = []
    for row in rows[:SAMPLE_ROWS]:
        for column in columns:
            value = row.get(column)
            text = " ".join(value) if isinstance(value, (list, tuple)) else value
            if isinstance(text, str) and text.strip():
                texts.append(text[:SAMPLE_CHARS])
    return texts


def check_tokenizer(  # noqa: PLR0913
    name: str,
    tokenizer: Any,
    vocab_size: int,
    texts: list[str] | tuple[str, ...],
    *,
    kind: str,
    folder: Path | None,
    min_tokens: int = 0,
) -> bool:
    """Raise unless ``tokenizer`` has about ``vocab_size`` entries and knows the pieces of ``texts``.

    Args:
        name: the model row (or checkpoint) named in the message.
        tokenizer: the loaded tokenizer.
        vocab_size: the model config's ``vocab_size`` (rows of the embedding matrix).
        texts: a sample of the text the model will read.
        kind: the row's tokenizer kind (``auto``, ``sentencepiece-vocab``, ``hanbert-moran``).
        folder: the model's files, listed in the message when at hand.
        min_tokens: measure the unknown-token rate only when ``texts`` give at least this many tokens (a served
            model's first request may be one short sentence: too few to judge a vocabulary by).

    Returns:
        Whether the unknown-token rate was measured.

    Raises:
        KobenchError: one line naming the row, the size found, and the files that were expected.
    """
    size = len(tokenizer)
    specials = len(set(tokenizer.all_special_tokens))
    if not vocab_size - SMALLER_VOCAB_SLACK <= size <= vocab_size + specials:
        raise KobenchError(
            f"model '{name}': the tokenizer has {size:,} entries but config.json's vocab_size is {vocab_size:,}: "
            f"its vocabulary is missing or is not this model's ({_expected(kind, folder)})"
        )
    unknown_id = tokenizer.unk_token_id
    if unknown_id is None or not texts:
        return unknown_id is None
    encoded = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    total = sum(len(ids) for ids in encoded)
    if total < max(min_tokens, 1):
        return False
    unknown = sum(ids.count(unknown_id) for ids in encoded)
    if unknown / total > UNKNOWN_RATE_BOUND:
        raise KobenchError(
            f"model '{name}': {unknown / total:.1%} of the tokens of {len(texts)} sample texts are "
            f"{tokenizer.unk_token} (bound {UNKNOWN_RATE_BOUND:.0%}): the vocabulary ({size:,} entries) does not fit "
            f"this text ({_expected(kind, folder)})"
        )
    return True


def _expected(kind: str, folder: Path | None) -> str:
    found = ""
    if folder is not None and folder.is_dir():
        names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
        found = f"; found {', '.join(names[:12]) or 'nothing'}{' …' if len(names) > 12 else ''} in {folder}"
    return f"expected {EXPECTED_FILES.get(kind, EXPECTED_FILES['auto'])}{found}"
