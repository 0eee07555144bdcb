"""Fast tokenizer for repositories that ship a SentencePiece model plus a separate ``vocab.txt`` (KoBERT).

KoBERT and DistilKoBERT publish ``tokenizer_78b3253a26.model`` (SentencePiece, unigram) and ``vocab.txt``
whose line numbers are the model's ids ([UNK] 0, [PAD] 1, [CLS] 2, [SEP] 3, [MASK] 4, then the pieces in
code-point order), with a Python tokenizer behind ``auto_map``. That tokenizer has no offsets, returns no
``token_type_ids`` in transformers 5 and cannot be saved, and loading it runs code from the model repository.
This module rebuilds the same pipeline with the ``tokenizers`` library instead:

- normalise as the repository's tokenizer does before SentencePiece: ```` `` ```` and ``''`` become ``"``,
  NFKD with combining marks removed (accents stripped; Hangul recomposed by NFC, as SentencePiece's NFKC
  map does), then SentencePiece's own precompiled NFKC map and whitespace collapsing;
- ``▁``-prefixed pieces (Metaspace) scored by the SentencePiece unigram log-probabilities, numbered by
  ``vocab.txt`` so the ids are the model's;
- ``[CLS] A [SEP] B [SEP]`` with segment 1 on the second sentence.

Known difference: segmentations of equal total score (e.g. runs of repeated punctuation) may be broken
the other way than SentencePiece's float32 Viterbi does; the tests count these ties.
The repository tokenizer's extra rule for pieces ending in ``<digit>,`` is not applied (as in the Hugging
Face conversions of ALBERT/XLNet tokenizers, which share it).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from kobench.atomic import umask_mode
from kobench.cache import cache_root

log = logging.getLogger(__name__)
BUILDER_VERSION = 1  # bump when the built pipeline changes: cached tokenizers are keyed by it
SPECIAL_TOKENS = {
    "unk_token": "[UNK]",
    "pad_token": "[PAD]",
    "cls_token": "[CLS]",
    "sep_token": "[SEP]",
    "mask_token": "[MASK]",
}


def read_vocab(vocab_file: Path) -> list[str]:
    """``vocab.txt``: one token a line, the line index is its id (trailing whitespace stripped)."""
    return [line.rstrip("\r\n").strip() for line in vocab_file.read_text(encoding="utf-8").splitlines()]


def read_model(spm_file: Path) -> Any:
    """The parsed SentencePiece ``ModelProto`` of ``spm_file`` (see ``parse_model``)."""
    return parse_model(spm_file.read_bytes(), spm_file.name)


def parse_model(content: bytes, name: str = "SentencePiece model") -> Any:
    """The parsed SentencePiece ``ModelProto`` of a serialised model.

    Raises:
        ValueError: the model is not a unigram model (the only kind these repositories ship).
    """
    from sentencepiece import sentencepiece_model_pb2 as spm_pb

    proto = spm_pb.ModelProto()
    proto.ParseFromString(content)
    if proto.trainer_spec.model_type != spm_pb.TrainerSpec.UNIGRAM:
        raise ValueError(f"{name}: not a unigram SentencePiece model")
    return proto


def unigram_backend(proto: Any, vocab: list[str], unk_token: str, *, strip_accents: bool) -> Any:
    """A ``tokenizers.Tokenizer`` segmenting like SentencePiece ``proto`` but numbering pieces by ``vocab``.

    Args:
        proto: a SentencePiece ``ModelProto`` (unigram).
        vocab: the id order; pieces of ``proto`` missing from it are never produced.
        unk_token: the entry of ``vocab`` that unknown characters map to.
        strip_accents: apply KoBERT's pre-SentencePiece step (quote folding, NFKD, combining marks dropped).

    Returns:
        The tokenizer without special tokens or post-processor.
    """
    from sentencepiece import sentencepiece_model_pb2 as spm_pb
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    normal = {p.piece: p.score for p in proto.pieces if p.type == spm_pb.ModelProto.SentencePiece.NORMAL}
    dropped = len(set(normal) - set(vocab))
    if dropped:
        log.warning("%d SentencePiece pieces are not in the vocabulary and map to %s", dropped, unk_token)
    floor = min(normal.values(), default=0.0) - 10.0  # special tokens are matched before the model, never scored
    backend = Tokenizer(models.Unigram([(t, normal.get(t, floor)) for t in vocab], unk_id=vocab.index(unk_token)))
    steps = []
    if strip_accents:
        steps += [normalizers.Replace("``", '"'), normalizers.Replace("''", '"')]
        # NFKD splits Hangul into jamo; NFC puts them back together as SentencePiece's NFKC map would
        steps += [normalizers.NFKD(), normalizers.StripAccents(), normalizers.NFC()]
    if proto.normalizer_spec.precompiled_charsmap:
        steps.append(normalizers.Precompiled(proto.normalizer_spec.precompiled_charsmap))
    steps += [normalizers.Strip(), normalizers.Replace(Regex(" {2,}"), " ")]
    backend.normalizer = normalizers.Sequence(steps)
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    return backend


def build_backend(spm_file: Path, vocab_file: Path) -> Any:
    """The ``tokenizers.Tokenizer`` equivalent of KoBERT's tokenizer for ``spm_file`` + ``vocab_file``.

    Raises:
        ValueError: the vocabulary lacks a special token, or the model is not a unigram model.
    """
    from tokenizers import processors

    vocab = read_vocab(vocab_file)
    missing = [t for t in SPECIAL_TOKENS.values() if t not in vocab]
    if missing:
        raise ValueError(f"{vocab_file.name}: missing special token(s) {', '.join(missing)}")
    backend = unigram_backend(read_model(spm_file), vocab, SPECIAL_TOKENS["unk_token"], strip_accents=True)
    backend.add_special_tokens(list(SPECIAL_TOKENS.values()))
    cls, sep = SPECIAL_TOKENS["cls_token"], SPECIAL_TOKENS["sep_token"]
    backend.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}",
        pair=f"{cls} $A {sep} $B:1 {sep}:1",
        special_tokens=[(cls, vocab.index(cls)), (sep, vocab.index(sep))],
    )
    return backend


def load_spm_vocab_tokenizer(spm_file: Path, vocab_file: Path, *, model_max_length: int = 512) -> Any:
    """A transformers fast tokenizer for ``spm_file`` + ``vocab_file``, built once and cached by content."""
    from transformers import PreTrainedTokenizerFast

    digest = hashlib.sha256(f"v{BUILDER_VERSION}:{model_max_length}".encode())
    for path in (spm_file, vocab_file):
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    cached = cache_root() / "tokenizers" / digest.hexdigest()[:32]
    if (cached / "tokenizer.json").exists():
        return PreTrainedTokenizerFast.from_pretrained(str(cached))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=build_backend(spm_file, vocab_file),
        model_max_length=model_max_length,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
        **SPECIAL_TOKENS,
    )
    _save_atomically(tokenizer, cached)
    return tokenizer


def _save_atomically(tokenizer: Any, target: Path) -> None:
    """Save into a sibling temporary folder, then rename: a concurrent or killed build never leaves half a cache."""
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=".build-"))
    try:
        tokenizer.save_pretrained(str(scratch))
        os.chmod(scratch, umask_mode(directory=True))  # mkdtemp makes 0700
        os.replace(scratch, target)
    except OSError:
        if not (target / "tokenizer.json").exists():
            raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
