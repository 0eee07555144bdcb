"""Offline Hugging Face cache entries laid out like the published model repositories, at tiny dimensions.

The hub cannot be reached in tests (nor in many users' CI), yet every catalogue row must take the code path a
user with internet takes. For each published repository this writes ``models--ORG--NAME/`` under a hub cache
(``blobs/``, ``snapshots/<revision>/`` links, ``refs/main``) holding that repository's real file names, its
real ``config.json`` fields (model type, special-token ids, ``type_vocab_size``, position embeddings,
layer-norm eps) with small widths, a tokenizer of the same kind trained on the given text, and randomly
initialised weights in the format its main branch has (``pytorch_model.bin`` only for KoELECTRA and
Soongsil-BERT). ``flax_model.msgpack`` files are not written: transformers 5 cannot read them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kobench.atomic import atomic_path
from kobench.engine.spm_vocab_tokenizer import parse_model, unigram_backend
from kobench.tools.tiny_model import _train_wordpiece

SAFETENSORS = "model.safetensors"
PICKLE = "pytorch_model.bin"
LFS_SUFFIXES = (".bin", ".safetensors", ".model", ".msgpack")  # stored by the hub as LFS objects (sha256 etags)
KOBERT_SPM = "tokenizer_78b3253a26.model"
KOBERT_VOCAB = ["[UNK]", "[PAD]", "[CLS]", "[SEP]", "[MASK]"]  # KoBERT's vocab.txt opens with these, in this order
ELECTRA_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
ROBERTA_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
_KOBERT_TOKENIZER_CONFIG = {
    "model_max_length": 512,
    "max_len": 512,
    "do_lower_case": False,
    "tokenizer_class": "KoBertTokenizer",
    "auto_map": {"AutoTokenizer": ["tokenization_kobert.KoBertTokenizer", "tokenization_kobert.KoBertTokenizer"]},
}
_SOONGSIL_TOKENIZER_FILES = {  # the legacy RobertaTokenizer files of both Soongsil-BERT repositories
    "tokenizer_config.json": {"max_len": 512, "special_tokens_map_file": None, "full_tokenizer_file": None},
    "special_tokens_map.json": {
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "sep_token": "</s>",
        "pad_token": "<pad>",
        "cls_token": "<s>",
        "mask_token": "<mask>",
    },
}
_BERT_COMMON = {
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "initializer_range": 0.02,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "layer_norm_eps": 1e-12,
}
_ROBERTA_COMMON = {
    "attention_probs_dropout_prob": 0.1,
    "bos_token_id": 0,
    "eos_token_id": 2,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "initializer_range": 0.02,
    "max_position_embeddings": 514,
    "pad_token_id": 1,
    "type_vocab_size": 1,
}


@dataclass(frozen=True)
class HubRepo:
    """What one published repository holds on its main branch."""

    config: dict[str, Any]  # config.json as published; widths and vocab_size are replaced when written
    tokenizer: str  # "sentencepiece-vocab", "wordpiece", "byte-level-bpe" or "sentencepiece-unigram"
    weights: tuple[str, ...]
    tokenizer_files: dict[str, Any] = field(default_factory=dict)  # extra JSON files, as published


HUB_REPOS: dict[str, HubRepo] = {
    "monologg/kobert": HubRepo(
        {"architectures": ["BertModel"], **_BERT_COMMON, "model_type": "bert", "pad_token_id": 1, "vocab_size": 8002},
        "sentencepiece-vocab",
        (SAFETENSORS, PICKLE),
        {"tokenizer_config.json": _KOBERT_TOKENIZER_CONFIG},
    ),
    "monologg/distilkobert": HubRepo(
        {
            "activation": "gelu",
            "architectures": ["DistilBertForMaskedLM"],
            "attention_dropout": 0.1,
            "dropout": 0.1,
            "initializer_range": 0.02,
            "max_position_embeddings": 512,
            "model_type": "distilbert",
            "pad_token_id": 1,
            "qa_dropout": 0.1,
            "seq_classif_dropout": 0.2,
            "sinusoidal_pos_embds": False,
            "tie_weights_": True,
            "vocab_size": 8002,
        },
        "sentencepiece-vocab",
        (SAFETENSORS, PICKLE),
        {"tokenizer_config.json": _KOBERT_TOKENIZER_CONFIG},
    ),
    "monologg/koelectra-base-v3-discriminator": HubRepo(
        {"architectures": ["ElectraForPreTraining"], **_BERT_COMMON, "model_type": "electra", "pad_token_id": 0},
        "wordpiece",
        (PICKLE,),
        {"tokenizer_config.json": {"do_lower_case": False, "model_max_length": 512}},
    ),
    "monologg/koelectra-small-v3-discriminator": HubRepo(
        {
            "architectures": ["ElectraForPreTraining"],
            **_BERT_COMMON,
            "model_type": "electra",
            "pad_token_id": 0,
            "factorised_embeddings": True,  # embedding_size 128 < hidden_size 256; removed when written
        },
        "wordpiece",
        (PICKLE,),
        {"tokenizer_config.json": {"do_lower_case": False, "model_max_length": 512}},
    ),
    "jason9693/soongsil-bert-base": HubRepo(
        {"architectures": ["RobertaForMaskedLM"], **_ROBERTA_COMMON, "model_type": "roberta", "layer_norm_eps": 1e-05},
        "byte-level-bpe",
        (PICKLE,),
        _SOONGSIL_TOKENIZER_FILES,
    ),
    "jason9693/soongsil-bert-small": HubRepo(
        {"architectures": ["RobertaForMaskedLM"], **_ROBERTA_COMMON, "model_type": "roberta", "layer_norm_eps": 1e-12},
        "byte-level-bpe",
        (PICKLE,),
        _SOONGSIL_TOKENIZER_FILES,
    ),
    "FacebookAI/xlm-roberta-base": HubRepo(
        {
            "architectures": ["XLMRobertaForMaskedLM"],
            **_ROBERTA_COMMON,
            "model_type": "xlm-roberta",
            "layer_norm_eps": 1e-05,
            "output_past": True,
        },
        "sentencepiece-unigram",
        (SAFETENSORS, PICKLE),
    ),
}
TINY = {"hidden": 32, "layers": 2, "heads": 2, "intermediate": 64, "embedding": 16}


def repo_folder(cache_dir: Path, repo_id: str) -> Path:
    """The hub cache folder of ``repo_id`` (``models--ORG--NAME``)."""
    return Path(cache_dir) / ("models--" + repo_id.replace("/", "--"))


def placeholder_revision(repo_id: str) -> str:
    """A stable 40-hex commit id for a row that pins none."""
    return hashlib.sha1(f"kobench-fixture:{repo_id}".encode()).hexdigest()


def write_hub_fixtures(
    cache_dir: Path, rows: dict[str, Any], texts: Iterable[str], *, vocab_size: int = 600, seed: int = 0
) -> dict[str, Path]:
    """Write a cache entry for every row whose ``id`` is a published repository; return key -> snapshot folder.

    Args:
        cache_dir: the hub cache (``$HF_HOME/hub``).
        rows: catalogue rows (``ModelParams``) by key; rows of other ids are skipped.
        texts: the text the tokenizers are trained on (consumed once).
        vocab_size: the size each tokenizer aims for.
        seed: the seed of the random weights.
    """
    corpus = [t for t in texts if t.strip()]
    written: dict[str, Path] = {}
    built: dict[str, dict[str, bytes]] = {}  # tokenizer kind -> its files, trained once (as the repos share them)
    for key, row in rows.items():
        repo = HUB_REPOS.get(row.id)
        if repo is None:
            continue
        if repo.tokenizer not in built:
            built[repo.tokenizer] = _tokenizer_files(repo.tokenizer, corpus, vocab_size)
        files = dict(built[repo.tokenizer])
        files.update({name: _json_bytes(content) for name, content in repo.tokenizer_files.items()})
        config = _tiny_config(repo.config, _vocab_length(repo.tokenizer, files))
        files["config.json"] = _json_bytes(config)
        files.update(_weights(config, repo.weights, seed))
        revision = row.revision or placeholder_revision(row.id)
        written[key] = write_cache_entry(cache_dir, row.id, revision, files)
    return written


def write_cache_entry(cache_dir: Path, repo_id: str, revision: str, files: dict[str, bytes]) -> Path:
    """Lay ``files`` out as huggingface_hub does: content-addressed blobs, snapshot links, ``refs/main``."""
    root = repo_folder(cache_dir, repo_id)
    snapshot = root / "snapshots" / revision
    (root / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        etag = hashlib.sha256(content).hexdigest() if name.endswith(LFS_SUFFIXES) else _git_blob_sha1(content)
        blob = root / "blobs" / etag
        if not blob.exists():
            _write_atomic(blob, content)
        link = snapshot / name
        if link.is_symlink() or link.exists():
            link.unlink()
        os.symlink(os.path.relpath(blob, snapshot), link)
    (root / "refs").mkdir(exist_ok=True)
    _write_atomic(root / "refs" / "main", revision.encode())
    return snapshot


def _git_blob_sha1(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def _write_atomic(path: Path, content: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(content)


def _json_bytes(content: Any) -> bytes:
    return (json.dumps(content, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _tiny_config(published: dict[str, Any], vocab_size: int) -> dict[str, Any]:
    """The published config with small widths, two layers and the fixture tokenizer's vocabulary size."""
    config = {k: v for k, v in published.items() if k != "factorised_embeddings"}
    config["vocab_size"] = vocab_size
    if config["model_type"] == "distilbert":
        config.update(dim=TINY["hidden"], n_layers=TINY["layers"], n_heads=TINY["heads"], hidden_dim=TINY["intermediate"])
        return config
    config.update(
        hidden_size=TINY["hidden"],
        num_hidden_layers=TINY["layers"],
        num_attention_heads=TINY["heads"],
        intermediate_size=TINY["intermediate"],
    )
    if config["model_type"] == "electra":
        config["embedding_size"] = TINY["embedding"] if published.get("factorised_embeddings") else TINY["hidden"]
    return config


def _vocab_length(kind: str, files: dict[str, bytes]) -> int:
    if kind == "sentencepiece-vocab" or kind == "wordpiece":
        return len(files["vocab.txt"].decode().splitlines())
    if kind == "byte-level-bpe":
        return len(json.loads(files["vocab.json"]))
    return len(json.loads(files["tokenizer.json"])["model"]["vocab"])


def _weights(config: dict[str, Any], formats: tuple[str, ...], seed: int) -> dict[str, bytes]:
    """Random weights of the published architecture (its checkpoint key names) in each published format."""
    import torch
    import transformers
    from safetensors.torch import save_model

    model_config = transformers.AutoConfig.for_model(**config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = getattr(transformers, config["architectures"][0])(model_config)
    out: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as scratch:
        if SAFETENSORS in formats:
            save_model(model, f"{scratch}/{SAFETENSORS}", metadata={"format": "pt"})
            out[SAFETENSORS] = Path(f"{scratch}/{SAFETENSORS}").read_bytes()
    if PICKLE in formats:
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)  # what transformers 3.x wrote: a pickled state dict
        out[PICKLE] = buffer.getvalue()
    return out


def _tokenizer_files(kind: str, corpus: list[str], vocab_size: int) -> dict[str, bytes]:
    if kind == "sentencepiece-vocab":
        return _kobert_tokenizer(corpus, vocab_size)
    if kind == "wordpiece":
        return _wordpiece_tokenizer(corpus, vocab_size)
    if kind == "byte-level-bpe":
        return _byte_level_bpe(corpus, vocab_size)
    return _xlmr_tokenizer(corpus, vocab_size)


def train_sentencepiece(corpus: list[str], vocab_size: int) -> bytes:
    """A unigram SentencePiece model (NFKC rules, ``<unk> <s> </s>`` at 0-2) trained on ``corpus``.

    Training is deterministic (one thread, input in order), so a process trains a corpus once: KoBERT's and
    XLM-R's fixtures are trained on the same text (seconds each on a real-text corpus).
    """
    key = hashlib.sha256(json.dumps([vocab_size, corpus], ensure_ascii=False).encode()).hexdigest()
    if key not in _TRAINED_SENTENCEPIECE:
        if len(_TRAINED_SENTENCEPIECE) >= 8:
            _TRAINED_SENTENCEPIECE.clear()
        _TRAINED_SENTENCEPIECE[key] = _train_sentencepiece(corpus, vocab_size)
    return _TRAINED_SENTENCEPIECE[key]


_TRAINED_SENTENCEPIECE: dict[str, bytes] = {}


def _train_sentencepiece(corpus: list[str], vocab_size: int) -> bytes:
    import sentencepiece as spm

    # every character must fit beside the pieces: Korean text has thousands of distinct syllables
    vocab_size = max(vocab_size, len(set("".join(corpus))) + 200)
    model = io.BytesIO()
    with open(os.devnull, "w") as quiet:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(corpus),
            model_writer=model,
            vocab_size=vocab_size,
            model_type="unigram",
            character_coverage=0.9995,
            hard_vocab_limit=False,
            num_threads=1,  # one thread: the same corpus always gives the same model
            shuffle_input_sentence=False,
            logstream=quiet,
        )
    return model.getvalue()


def _normal_pieces(model: bytes) -> list[str]:
    return [p.piece for p in parse_model(model).pieces if p.type == 1]  # 1 = NORMAL (not control or unknown)


def _kobert_tokenizer(corpus: list[str], vocab_size: int) -> dict[str, bytes]:
    """KoBERT's files: the SentencePiece model, ``vocab.txt`` (specials, then pieces in code-point order)."""
    model = train_sentencepiece(corpus, vocab_size)
    vocab = KOBERT_VOCAB + sorted(_normal_pieces(model))
    return {
        KOBERT_SPM: model,
        "vocab.txt": ("\n".join(vocab) + "\n").encode(),
        "tokenization_kobert.py": (Path(__file__).parent / "fixture_files" / "tokenization_kobert.py").read_bytes(),
    }


def _wordpiece_tokenizer(corpus: list[str], vocab_size: int) -> dict[str, bytes]:
    """KoELECTRA's cased WordPiece ``vocab.txt`` ([PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4)."""
    vocab = _train_wordpiece(corpus, "bert", vocab_size).get_vocab(with_added_tokens=True)
    ordered = sorted(vocab, key=vocab.get)
    assert ordered[:5] == ELECTRA_VOCAB, ordered[:5]
    return {"vocab.txt": ("\n".join(ordered) + "\n").encode()}


def _byte_level_bpe(corpus: list[str], vocab_size: int) -> dict[str, bytes]:
    """Soongsil-BERT's byte-level BPE ``vocab.json`` + ``merges.txt`` (<s> 0, <pad> 1, </s> 2, <unk> 3)."""
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(corpus, vocab_size=vocab_size + 256, special_tokens=ROBERTA_SPECIALS, show_progress=False)
    with tempfile.TemporaryDirectory() as scratch:
        bpe.save_model(scratch)
        return {name: Path(scratch, name).read_bytes() for name in ("vocab.json", "merges.txt")}


def _xlmr_tokenizer(corpus: list[str], vocab_size: int) -> dict[str, bytes]:
    """XLM-R's ``sentencepiece.bpe.model`` and its ``tokenizer.json`` with fairseq ids (<s> 0 … <mask> last)."""
    from tokenizers import processors

    model = train_sentencepiece(corpus, vocab_size)
    proto = parse_model(model)
    vocab = ["<s>", "<pad>", "</s>", "<unk>"] + [p.piece for p in proto.pieces[3:]] + ["<mask>"]
    backend = unigram_backend(proto, vocab, "<unk>", strip_accents=False)
    backend.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    backend.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    return {"sentencepiece.bpe.model": model, "tokenizer.json": backend.to_str(pretty=True).encode()}
