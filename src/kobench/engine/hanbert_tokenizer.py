"""HanBERT's tokenizer: the vendor's morpheme analyser, then WordPiece over ``vocab_54k.txt``, as a fast tokenizer.

The vendor pipeline: clean the text (control characters dropped, whitespace normalised, spaces around CJK
ideographs, never lower-cased), split it into morphemes with the analyser (``나는`` -> ``나 ~~는``), split each
morpheme by greedy longest-match WordPiece (``##`` continuations), then ``[CLS] A [SEP] B [SEP]`` with segment 1
on B. Here the cleaning is the ``tokenizers`` BERT normaliser, the analyser runs as a Python pre-tokenizer step
that aligns each morpheme back to the text (the marks carry no characters), and WordPiece, special tokens,
truncation, windows and offsets are the ``tokenizers`` library's. So word ids (one per eojeol when the text comes
pre-split, as Naver NER's does), sequence ids and character offsets into the original text are those of any
fast tokenizer, and NER and KorQuAD need nothing of their own.

A Python step cannot be serialised into ``tokenizer.json``: a checkpoint saves the vocabulary, this tokenizer's
settings and the analyser's file digests in ``kobench_tokenizer.json`` instead, and prediction loads the
analyser again (``KOBENCH_MORAN_DIR``, else the directory recorded at training).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, NamedTuple

from kobench.atomic import write_json, write_text
from kobench.engine.moran import DICTIONARY, LIBRARY, AnalyserError, MoranAnalyser, open_analyser
from kobench.engine.spm_vocab_tokenizer import SPECIAL_TOKENS  # BERT's, as KoBERT's

log = logging.getLogger(__name__)
KIND = "hanbert-moran"
VOCAB_FILE = "vocab_54k.txt"
SETTINGS_FILE = "kobench_tokenizer.json"
TOKENIZER_CLASS = "HanBertMoranTokenizer"  # in tokenizer_config.json: plain AutoTokenizer refuses it, never guesses
DIRECTORY_VARIABLE = "KOBENCH_MORAN_DIR"
BUILDER_VERSION = 1  # bump when the pipeline built here changes: cached features are keyed by it
MARKS = ("~~", "~")  # longest first
MAX_CHARS_PER_PIECE = 100  # BERT's WordPiece: a longer morpheme is one [UNK]
_PIECES_KEPT = 100_000  # pieces kept for repeated texts (~40 MB; a KorQuAD paragraph has ~300, a question ~15)


class Morpheme(NamedTuple):  # a tuple: hundreds of thousands are made to encode KorQuAD
    """One analyser morpheme placed in the text: characters ``[start, end)``, its mark and its text.

    ``found``: those characters are the text itself (not a restored form placed on the characters around it).
    """

    start: int
    end: int
    mark: str
    text: str
    found: bool


@functools.lru_cache(maxsize=1 << 16)  # a language has far fewer distinct morphemes than a corpus has tokens
def split_mark(morpheme: str) -> tuple[str, str]:
    """``~~는`` -> (``~~``, ``는``); a morpheme that is only tildes keeps them as text.

    >>> split_mark("~~는"), split_mark("~있"), split_mark("나"), split_mark("~~")
    (('~~', '는'), ('~', '있'), ('', '나'), ('', '~~'))
    """
    body = morpheme.lstrip("~")
    if not body:
        return "", morpheme
    mark = MARKS[0] if len(morpheme) - len(body) >= len(MARKS[0]) else "~" * (len(morpheme) - len(body))
    return mark, morpheme[len(mark) :]


def align(text: str, morphemes: tuple[str, ...] | list[str]) -> list[Morpheme]:
    """Place each morpheme at its characters in ``text``, left to right; marks carry no characters.

    A morpheme that is not the text's next characters (an analyser that restores a base form) takes the
    characters up to where the next one is found; characters no morpheme covers get no token.

    >>> [(m.start, m.end, m.mark + m.text) for m in align("나는 중입니다.", ["나", "~~는", "중", "~~입", "~~니다", "."])]
    [(0, 1, '나'), (1, 2, '~~는'), (3, 4, '중'), (4, 5, '~~입'), (5, 7, '~~니다'), (7, 8, '.')]
    >>> [(m.start, m.end, m.text) for m in align("했다", ["하", "~~였", "~~다"])]
    [(0, 1, '하'), (0, 1, '였'), (1, 2, '다')]
    """
    placed: list[Morpheme] = []
    pending: list[tuple[str, str]] = []  # morphemes not found yet: they share the characters before the next one
    cursor = 0

    def flush(end: int) -> None:
        while end > cursor and text[end - 1].isspace():
            end -= 1
        span = (cursor, end) if end > cursor else (placed[-1].start, placed[-1].end) if placed else None
        if span is not None:
            placed.extend(Morpheme(span[0], span[1], mark, body, False) for mark, body in pending)
        pending.clear()

    length = len(text)
    for raw in morphemes:
        mark, body = split_mark(raw)
        while cursor < length and text[cursor].isspace():
            cursor += 1
        at = cursor if text.startswith(body, cursor) else text.find(body, cursor) if pending else -1
        if at < 0:
            pending.append((mark, body))
            continue
        if pending:
            flush(at)
        cursor = at + len(body)
        placed.append(Morpheme(at, cursor, mark, body, True))
    if pending:
        flush(length)
    return placed


class MorphemeSplitter:
    """The pre-tokenizer step: the analyser's morphemes as pieces of the normalised string, offsets kept.

    The pieces of recent texts are kept for the next call with the same text: KorQuAD pairs every question with its
    paragraph, so each paragraph is pre-tokenised once per question (and each question twice: once to truncate it),
    and placing morphemes (Python, per morpheme) costs far more than the ``tokenizers`` library's copy of kept pieces.
    """

    def __init__(self, analyser: MoranAnalyser) -> None:
        self.analyser = analyser
        self._pieces: OrderedDict[tuple[str, str], list[Any]] = OrderedDict()
        self._kept = 0  # pieces in self._pieces
        self._lock = threading.Lock()

    def pre_tokenize(self, pretok: Any) -> None:
        """Split every piece of ``pretok`` (a ``tokenizers.PreTokenizedString``) into morphemes."""
        pretok.split(self._split)

    def _split(self, index: int, normalized: Any) -> list[Any]:
        # The library copies what this returns, so kept pieces are never changed. The key holds both strings: they
        # fix the alignments between them (one normaliser). Only the first split of a sequence is kept: it starts
        # at character 0, whereas one after a special token written in the text ("a [MASK] b") starts further on,
        # and its pieces carry that start, which the key cannot see.
        if index != 0:
            return self._morpheme_pieces(normalized)
        key = (normalized.original, normalized.normalized)
        pieces = self._pieces.get(key)
        if pieces is None:
            pieces = self._morpheme_pieces(normalized)
            with self._lock:  # a batch runs this step on the library's threads, one at a time but interleaved
                if key not in self._pieces:
                    self._pieces[key] = pieces
                    self._kept += len(pieces)
                while self._kept > _PIECES_KEPT:  # the oldest go first: a paragraph's questions come together
                    self._kept -= len(self._pieces.popitem(last=False)[1])
        return pieces

    def _morpheme_pieces(self, normalized: Any) -> list[Any]:
        text = normalized.normalized
        pieces = []
        for morpheme in align(text, self.analyser.analyse(text)):
            piece = normalized[morpheme.start : morpheme.end]
            if piece is None:
                continue
            if not morpheme.found and piece.normalized != morpheme.text:
                _reshape(piece, morpheme.text)
            if morpheme.mark:
                piece.prepend(morpheme.mark)  # aligned to the morpheme's first character
            pieces.append(piece)
        return pieces


def _reshape(piece: Any, text: str) -> None:
    """Make ``piece`` read ``text`` while its characters keep pointing at the original span.

    (``NormalizedString.replace`` loses the first characters' alignment; map, filter and append keep it.)
    """
    keep = min(len(piece.normalized), len(text))
    seen = iter(range(len(piece.normalized)))
    piece.filter(lambda _char: next(seen) < keep)
    replacement = iter(text[:keep])
    piece.map(lambda _char: next(replacement))
    if len(text) > keep:
        piece.append(text[keep:])


def read_vocab(vocab_file: Path) -> list[str]:
    """One piece per line; the line index is its id."""
    return [line.rstrip("\r\n").strip() for line in vocab_file.read_text(encoding="utf-8").splitlines()]


def build_backend(vocab: list[str]) -> Any:
    """The serialisable part of the pipeline (normaliser, WordPiece, special tokens, decoder).

    The pre-tokenizer is a whitespace split here; the analyser step replaces it once the tokenizer is built.

    Raises:
        ValueError: the vocabulary lacks a special token.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    missing = [t for t in SPECIAL_TOKENS.values() if t not in vocab]
    if missing:
        raise ValueError(f"{VOCAB_FILE}: missing special token(s) {', '.join(missing)}")
    ids = {token: i for i, token in reversed(list(enumerate(vocab)))}  # a duplicated line keeps its first id
    backend = Tokenizer(
        models.WordPiece(ids, unk_token=SPECIAL_TOKENS["unk_token"], max_input_chars_per_word=MAX_CHARS_PER_PIECE)
    )
    backend.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False
    )
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.add_special_tokens(list(SPECIAL_TOKENS.values()))
    cls, sep = SPECIAL_TOKENS["cls_token"], SPECIAL_TOKENS["sep_token"]
    backend.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}",
        pair=f"{cls} $A {sep} $B:1 {sep}:1",
        special_tokens=[(cls, ids[cls]), (sep, ids[sep])],
    )
    # detokenising removes " ##", " ~~" and " ~"
    backend.decoder = decoders.Sequence(
        [decoders.WordPiece(prefix="##", cleanup=False), decoders.Replace(" ~~", ""), decoders.Replace(" ~", "")]
    )
    return backend


def _fast_tokenizer_class() -> type:
    from transformers import PreTrainedTokenizerFast

    class HanBertMoranTokenizer(PreTrainedTokenizerFast):
        """A fast tokenizer whose pre-tokenizer is the vendor analyser; saved as vocabulary plus settings."""

        def save_pretrained(self, save_directory: Any, *args: Any, **kwargs: Any) -> tuple[str, ...]:
            """Write the vocabulary, ``tokenizer_config.json`` and ``kobench_tokenizer.json`` (no tokenizer.json)."""
            return save_tokenizer(self, Path(save_directory))

        def feature_cache_identity(self) -> dict[str, Any]:
            """What decides this tokenizer's ids besides its serialisable part: the analyser's files."""
            return {"kind": KIND, "version": BUILDER_VERSION, "analyser": self.analyser.digests}

    return HanBertMoranTokenizer


def build_tokenizer(vocab_file: Path, analyser: MoranAnalyser, *, model_max_length: int = 512) -> Any:
    """The HanBERT fast tokenizer of ``vocab_file`` and ``analyser``."""
    from tokenizers import pre_tokenizers

    vocab = read_vocab(vocab_file)
    tokenizer = _fast_tokenizer_class()(
        tokenizer_object=build_backend(vocab),
        model_max_length=model_max_length,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
        **SPECIAL_TOKENS,
    )
    # installed after construction: transformers deep-copies the backend it is given, and a Python step cannot be
    tokenizer.backend_tokenizer.pre_tokenizer = pre_tokenizers.PreTokenizer.custom(MorphemeSplitter(analyser))
    tokenizer.analyser = analyser
    tokenizer.vocab_lines = vocab
    return tokenizer


def load_vendor_tokenizer(directory: Path) -> Any:
    """The tokenizer of an unpacked HanBert-54kN-torch directory (``vocab_54k.txt`` and the analyser).

    Raises:
        AnalyserError: the analyser or the vocabulary is missing or does not load.
    """
    vocab_file = directory / VOCAB_FILE
    if not vocab_file.is_file():
        raise AnalyserError(f"{vocab_file}: not found; the vendor archive HanBert-54kN-torch ships it beside config.json")
    return build_tokenizer(vocab_file, open_analyser(directory))


def save_tokenizer(tokenizer: Any, directory: Path) -> tuple[str, ...]:
    """A checkpoint's tokenizer files: the vocabulary, ``tokenizer_config.json`` and this kind's settings."""
    directory.mkdir(parents=True, exist_ok=True)
    write_text(directory / VOCAB_FILE, "\n".join(tokenizer.vocab_lines) + "\n")
    config = {
        "tokenizer_class": TOKENIZER_CLASS,
        "model_max_length": tokenizer.model_max_length,
        "do_lower_case": False,
        **SPECIAL_TOKENS,
    }
    write_json(directory / "tokenizer_config.json", config)
    analyser = tokenizer.analyser
    settings = {
        "kind": KIND,
        "vocab_file": VOCAB_FILE,
        "model_max_length": tokenizer.model_max_length,
        "needs_native_library": LIBRARY,
        "analyser_directory": str(analyser.directory.resolve()),
        "analyser_sha256": analyser.digests,
        "note": f"prediction runs the vendor analyser {LIBRARY} with {DICTIONARY}; set {DIRECTORY_VARIABLE} to "
        f"the unpacked HanBert-54kN-torch directory where it is elsewhere",
    }
    write_json(directory / SETTINGS_FILE, settings)
    return tuple(str(directory / name) for name in (VOCAB_FILE, "tokenizer_config.json", SETTINGS_FILE))


def saved_kind(directory: Path) -> str | None:
    """The kind recorded in a checkpoint's ``kobench_tokenizer.json``, or None for a plain checkpoint."""
    settings = Path(directory) / SETTINGS_FILE
    if not settings.is_file():
        return None
    return json.loads(settings.read_text(encoding="utf-8")).get("kind")


def load_saved_tokenizer(directory: Path) -> Any:
    """A checkpoint's HanBERT tokenizer: its own vocabulary with the vendor analyser found again.

    The analyser comes from ``$KOBENCH_MORAN_DIR`` when set, else from the directory recorded at training. A
    library or dictionary that differs from the one training used is logged: segmentations may differ.

    Raises:
        AnalyserError: one line naming the library the checkpoint needs and where it was looked for.
    """
    settings = json.loads((directory / SETTINGS_FILE).read_text(encoding="utf-8"))
    where = Path(os.environ.get(DIRECTORY_VARIABLE) or settings["analyser_directory"])
    try:
        analyser = open_analyser(where)
    except AnalyserError as exc:
        raise AnalyserError(
            f"this model's tokenizer ({KIND}) needs the vendor analyser {LIBRARY} with {DICTIONARY}: {exc}; set "
            f"{DIRECTORY_VARIABLE} to the unpacked HanBert-54kN-torch directory"
        ) from None
    changed = sorted(k for k, v in settings.get("analyser_sha256", {}).items() if analyser.digests.get(k) != v)
    if changed:
        log.warning(
            "%s: %s differ from the files this model was trained with; its segmentations may differ",
            where,
            ", ".join(changed),
        )
    return build_tokenizer(directory / settings["vocab_file"], analyser, model_max_length=settings["model_max_length"])
