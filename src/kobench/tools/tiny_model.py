"""Small, randomly initialised Korean-capable models (tokenizer + encoder) for offline tests and pipelines."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    AutoModel,
    BertConfig,
    ElectraConfig,
    PreTrainedConfig,
    PreTrainedTokenizerFast,
    RobertaConfig,
)

from kobench.atomic import umask_mode

ARCHS = ("bert", "electra", "roberta")

# Special-token roles per tokenizer family; the dict order is also the id order (BERT puts [PAD] at 0,
# RoBERTa puts <s> at 0 and <pad> at 1, so ids match what real checkpoints of each family use).
_BERT_SPECIALS = {
    "pad_token": "[PAD]",
    "unk_token": "[UNK]",
    "cls_token": "[CLS]",
    "sep_token": "[SEP]",
    "mask_token": "[MASK]",
}
_ROBERTA_SPECIALS = {
    "bos_token": "<s>",
    "pad_token": "<pad>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "cls_token": "<s>",
    "sep_token": "</s>",
    "mask_token": "<mask>",
}


def _specials(arch: str) -> dict[str, str]:
    """Return the special-token roles (``{"cls_token": "[CLS]", ...}``) for ``arch``."""
    return _ROBERTA_SPECIALS if arch == "roberta" else _BERT_SPECIALS


def _bare_tokenizer(vocab: dict[str, int] | None, unk_token: str) -> Tokenizer:
    """Return a cased BERT-style WordPiece pipeline (no post-processor) over ``vocab``."""
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token=unk_token))
    # Lowercasing/accent stripping decomposes Hangul syllables into jamo, which then map to [UNK].
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    return tokenizer


def _continuation_tokens(texts: list[str], tokenizer: Tokenizer) -> list[str]:
    """Return ``##c`` for every character ``c`` that occurs after the first one of a word, sorted."""
    chars: set[str] = set()
    for text in texts:
        for word, _ in tokenizer.pre_tokenizer.pre_tokenize_str(tokenizer.normalizer.normalize_str(text)):
            chars.update(word[1:])
    return [f"##{char}" for char in sorted(chars)]


def _train_wordpiece(texts: Iterable[str], arch: str, vocab_size: int) -> Tokenizer:
    """Train a cased WordPiece tokenizer on ``texts`` with the post-processor of ``arch``.

    Args:
        texts: the training corpus, consumed once.
        arch: one of ``ARCHS``; picks the special tokens and the pair template.
        vocab_size: the vocabulary size to aim for; a small corpus yields fewer entries, and every character
            seen (word-initial and ``##`` forms) is kept even if that means more.

    Returns:
        The trained ``tokenizers.Tokenizer``; the same texts always give the same vocabulary and ids.
    """
    corpus = list(texts)
    specials = list(dict.fromkeys(_specials(arch).values()))
    unk_token = _specials(arch)["unk_token"]
    scratch = _bare_tokenizer(None, unk_token)
    # The trainer numbers "##c" tokens in hash-map order and breaks merge ties by id, so the learned vocabulary
    # changes between runs (huggingface/tokenizers#1794). Declaring them up front, sorted, fixes their ids; they
    # are special only in this scratch tokenizer, the final one is rebuilt from the plain vocabulary.
    pinned = specials + _continuation_tokens(corpus, scratch)
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=pinned, show_progress=False)
    scratch.train_from_iterator(corpus, trainer=trainer)
    tokenizer = _bare_tokenizer(scratch.get_vocab(with_added_tokens=False), unk_token)
    tokenizer.add_special_tokens(specials)
    tokenizer.post_processor = _post_processor(tokenizer, arch)
    return tokenizer


def _post_processor(tokenizer: Tokenizer, arch: str) -> processors.TemplateProcessing:
    """Build the template that adds ``arch``'s special tokens around one sequence or a pair.

    Args:
        tokenizer: a trained tokenizer holding the special tokens.
        arch: one of ``ARCHS``.

    Returns:
        BERT/ELECTRA: ``[CLS] A [SEP] B [SEP]`` with type id 1 on the second segment;
        RoBERTa: ``<s> A </s> </s> B </s>`` with type id 0 everywhere (its config has one token type).
    """
    specials = _specials(arch)
    cls, sep = specials["cls_token"], specials["sep_token"]
    if arch == "roberta":
        single, pair = f"{cls} $A {sep}", f"{cls} $A {sep} {sep} $B {sep}"
    else:
        single, pair = f"{cls} $A {sep}", f"{cls} $A {sep} $B:1 {sep}:1"
    ids = [(token, tokenizer.token_to_id(token)) for token in (cls, sep)]
    return processors.TemplateProcessing(single=single, pair=pair, special_tokens=ids)


def _wrap(tokenizer: Tokenizer, arch: str, max_length: int) -> PreTrainedTokenizerFast:
    """Wrap a ``tokenizers.Tokenizer`` as a transformers fast tokenizer.

    The saved ``tokenizer_config.json`` then names ``TokenizersBackend``, which ``AutoTokenizer`` loads
    straight from ``tokenizer.json``. Naming ``BertTokenizer`` instead would rebuild the pipeline from
    the vocabulary with ``lowercase=True`` and turn every Hangul word into [UNK].

    Args:
        tokenizer: the trained tokenizer.
        arch: one of ``ARCHS``.
        max_length: the model's usable sequence length (``model_max_length``).

    Returns:
        The wrapped tokenizer.
    """
    # RoBERTa has a single token type, so token_type_ids would only be noise for it.
    input_names = ["input_ids", "attention_mask"]
    if arch != "roberta":
        input_names.insert(1, "token_type_ids")
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        model_max_length=max_length,
        model_input_names=input_names,
        **_specials(arch),
    )


def _build_config(arch: str, tokenizer: PreTrainedTokenizerFast, **sizes: int) -> PreTrainedConfig:
    """Build the model config for ``arch`` sized by ``sizes`` and matched to ``tokenizer``.

    Args:
        arch: one of ``ARCHS``.
        tokenizer: the wrapped tokenizer (its length and pad id go into the config).
        **sizes: ``hidden_size``, ``num_layers``, ``num_heads``, ``intermediate_size``,
            ``max_position_embeddings``.

    Returns:
        A ``BertConfig``, ``ElectraConfig`` or ``RobertaConfig``.
    """
    common = {
        "vocab_size": len(tokenizer),
        "hidden_size": sizes["hidden_size"],
        "num_hidden_layers": sizes["num_layers"],
        "num_attention_heads": sizes["num_heads"],
        "intermediate_size": sizes["intermediate_size"],
        "pad_token_id": tokenizer.pad_token_id,
    }
    positions = sizes["max_position_embeddings"]
    if arch == "bert":
        return BertConfig(max_position_embeddings=positions, **common)
    if arch == "electra":
        # ELECTRA factorises embeddings; equal sizes keep it a plain BERT-shaped encoder.
        return ElectraConfig(embedding_size=sizes["hidden_size"], max_position_embeddings=positions, **common)
    # RoBERTa numbers positions from pad_token_id + 1, so it needs two extra position slots.
    return RobertaConfig(
        max_position_embeddings=positions + 2,
        type_vocab_size=1,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **common,
    )


def _init_model(config: PreTrainedConfig, seed: int) -> torch.nn.Module:
    """Instantiate the float32 base model of ``config`` with weights drawn from ``seed``."""
    # fork_rng keeps the caller's global RNG state untouched by our seeding.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return AutoModel.from_config(config, dtype=torch.float32)


def build_tiny_model(
    out_dir: str | Path,
    texts: Iterable[str],
    *,
    arch: str = "bert",
    vocab_size: int = 3000,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 2,
    intermediate_size: int = 128,
    max_position_embeddings: int = 512,
    seed: int = 0,
) -> Path:
    """Train a tokenizer on ``texts`` and save it with a randomly initialised base model to ``out_dir``.

    The folder loads with ``AutoTokenizer`` and any ``AutoModelFor*`` head. The same texts and seed give
    a byte-identical ``model.safetensors``.

    Args:
        out_dir: the folder to write (created if missing).
        texts: the tokenizer training corpus, consumed once.
        arch: ``"bert"``, ``"electra"`` or ``"roberta"``.
        vocab_size: the vocabulary size to aim for; a small corpus yields fewer entries, and every character
            seen (word-initial and ``##`` forms) is kept even if that means more.
        hidden_size: the hidden width (must be divisible by ``num_heads``).
        num_layers: the number of encoder layers.
        num_heads: the number of attention heads.
        intermediate_size: the feed-forward width.
        max_position_embeddings: the longest usable sequence, also the tokenizer's ``model_max_length``.
        seed: the seed for the weight initialisation.

    Returns:
        ``Path(out_dir)``.

    Raises:
        ValueError: if ``arch`` is not one of ``ARCHS``.
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; expected one of {', '.join(ARCHS)}")
    tokenizer = _wrap(_train_wordpiece(texts, arch, vocab_size), arch, max_position_embeddings)
    config = _build_config(
        arch,
        tokenizer,
        hidden_size=hidden_size,
        num_layers=num_layers,
        num_heads=num_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_position_embeddings,
    )
    out = Path(out_dir)
    tokenizer.save_pretrained(out)
    _init_model(config, seed).save_pretrained(out)
    for path in out.iterdir():  # transformers writes the weights 0600 whatever the umask
        if path.is_file():
            path.chmod(umask_mode())
    return out
