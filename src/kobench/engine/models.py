"""Model rows: a catalogue name, hub id or local directory -> a loadable tokenizer and task head."""

from __future__ import annotations

import difflib
import functools
import json
import logging
import os
import pickle
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from kobench.config import ModelParams, Params
from kobench.engine import hanbert_tokenizer as hanbert
from kobench.engine.hanbert_tokenizer import KIND, saved_kind
from kobench.engine.moran import LIBRARY, AnalyserError
from kobench.engine.spm_vocab_tokenizer import load_spm_vocab_tokenizer
from kobench.engine.tokenizer_check import SAMPLE_TEXTS, check_tokenizer
from kobench.errors import KobenchError

log = logging.getLogger(__name__)
# model types whose checkpoints have no trained segment embedding (type_vocab_size 1)
NO_SEGMENT_TYPES = {"xlm-roberta", "roberta", "distilbert", "camembert", "deberta-v2"}


@dataclass(frozen=True)
class ModelRef:
    """A resolved model: the catalogue key (or the id itself) and how to load it."""

    key: str
    row: ModelParams

    @property
    def id(self) -> str:
        """Hub id or local directory."""
        return self.row.id

    @classmethod
    def local(cls, key: str, directory: Path) -> ModelRef:
        """A saved checkpoint folder: self-contained (its own tokenizer.json), no repository code, no revision."""
        return cls(key, ModelParams(id=str(directory), local_only=True))

    @property
    def slug(self) -> str:
        """The name used in paths, study names and registered model names."""
        return self.key.strip("/").replace("/", "--")


def resolve_model(name: str, params: Params) -> ModelRef:
    """A catalogue name, else a local directory, else a hub id (a new row with default options).

    Raises:
        KobenchError: a ``local_only`` row whose directory is absent (HanBERT).
    """
    if name in params.models:
        row = params.models[name]
        if row.local_only and not Path(row.id).is_dir():
            raise KobenchError(
                f"model '{name}': local directory {row.id} not found; it is not on the hub "
                f"(place the checkpoint there or change models.{name}.id in params.yaml)"
            )
        return ModelRef(name, row)
    if Path(name).is_dir():
        return ModelRef(Path(name).name, ModelParams(id=str(name), local_only=True, token_type_ids=_uses_segments(name)))
    if "/" not in name:  # hub ids are ORG/NAME: a bare name is a mistyped key or a missing directory
        close = difflib.get_close_matches(name, list(params.models), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise KobenchError(
            f"unknown model '{name}'{hint}: not a catalogue key, a local directory or a hub id (ORG/NAME); "
            f"catalogue: {', '.join(params.models) or '(empty: no params.yaml read; run from the project root)'}"
        )
    return ModelRef(name, ModelParams(id=name))


def _uses_segments(directory: str) -> bool:
    config = json.loads((Path(directory) / "config.json").read_text(encoding="utf-8"))
    return config.get("model_type") not in NO_SEGMENT_TYPES and config.get("type_vocab_size", 2) > 1


@functools.cache
def hub_reachable(timeout: float = 3.0) -> bool:
    """One connection attempt to the hub endpoint (``HF_ENDPOINT``), made once per process.

    Behind a proxy a direct connection proves nothing, so a configured proxy counts as reachable.
    """
    from huggingface_hub import constants

    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True

    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout).close()
    except OSError:
        return False
    return True


def _offline_or_fail(ref: ModelRef) -> bool:
    """Whether to load from the local cache only; KobenchError when the model is neither cached nor reachable.

    Without this, an unreachable hub costs a minute of retries per file and then an error about the connection.
    """
    from huggingface_hub import constants, try_to_load_from_cache

    if ref.row.local_only or Path(ref.id).is_dir() or constants.HF_HUB_OFFLINE or hub_reachable():
        return False
    if isinstance(try_to_load_from_cache(ref.id, "config.json", revision=ref.row.revision), str):
        return True
    raise KobenchError(
        f"model '{ref.key}': {ref.id} is not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and "
        f"{constants.ENDPOINT} cannot be reached; download it once with network, point HF_HOME at a copied "
        f"cache, or use a local directory (offline: `kobench tiny-model --out models/tiny`, then --model tiny; "
        f"HF_HUB_OFFLINE=1 skips the network)"
    )


def load_kwargs(ref: ModelRef) -> dict[str, Any]:
    """``from_pretrained`` keywords of a row: pinned revision, cache-only when the hub is unreachable, opt-ins."""
    kwargs: dict[str, Any] = {"revision": ref.row.revision} if ref.row.revision else {}
    if _offline_or_fail(ref):
        kwargs["local_files_only"] = True
    if ref.row.trust_remote_code:
        log.warning("model '%s': trust_remote_code=True (opted in by its params row): running code from %s", ref.key, ref.id)
        kwargs["trust_remote_code"] = True
    if ref.row.local_only:
        kwargs["local_files_only"] = True
    return kwargs


def loading_error(ref: ModelRef, exc: Exception) -> KobenchError:
    """One line for a model that transformers could not load."""
    if ref.row.revision and _unknown_revision(exc):
        return KobenchError(
            f"model '{ref.key}': the hub does not know revision {ref.row.revision} of {ref.id}; "
            f"`kobench models --pin {ref.key}` pins its current head"
        )
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return KobenchError(
        f"model '{ref.key}': cannot load {ref.id} ({first[:200]}); offline, use a local directory "
        f"(e.g. one made by `kobench tiny-model`) or a populated HF_HOME cache"
    )


def _unknown_revision(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) is the hub's answer to a revision it does not have."""
    from huggingface_hub.errors import RevisionNotFoundError

    while exc is not None:
        if isinstance(exc, RevisionNotFoundError) or "is not a valid git identifier" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _quiet_transformers() -> None:
    """Hide per-load progress bars and the 'head newly initialised' report: expected for every fine-tune."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def load_config(ref: ModelRef, **overrides: Any) -> Any:
    """The model's ``config.json`` as a transformers config (no weights); ``overrides`` set config fields.

    HanBERT's archive holds the ``bert_config.json`` of its TensorFlow release as ``config.json``, without the
    ``model_type`` that transformers 5 requires: for that row it is read as the BERT config it is.
    """
    from transformers import AutoConfig, BertConfig

    loader = BertConfig if _untyped_vendor_config(ref) else AutoConfig
    try:
        return loader.from_pretrained(ref.id, **load_kwargs(ref), **overrides)
    except (OSError, ValueError) as exc:
        raise loading_error(ref, exc) from None


def _untyped_vendor_config(ref: ModelRef) -> bool:
    config = Path(ref.id) / "config.json"
    if ref.row.tokenizer != "hanbert-moran" or not config.is_file():
        return False
    try:
        return "model_type" not in json.loads(config.read_text(encoding="utf-8"))
    except ValueError:
        return False


def repo_files(ref: ModelRef, patterns: list[str]) -> Path:
    """The folder holding the files of ``ref`` that match ``patterns`` (its directory, or a hub snapshot)."""
    if Path(ref.id).is_dir():
        return Path(ref.id)
    from huggingface_hub import snapshot_download

    local = load_kwargs(ref).get("local_files_only", False)
    return Path(snapshot_download(ref.id, revision=ref.row.revision, allow_patterns=patterns, local_files_only=local))


def load_tokenizer(ref: ModelRef) -> Any:
    """The model's fast tokenizer: the repository's own, one built from SentencePiece + vocab.txt, or HanBERT's."""
    _quiet_transformers()
    try:
        if ref.row.tokenizer == "sentencepiece-vocab":
            return _spm_vocab_tokenizer(ref)
        if ref.row.tokenizer == "hanbert-moran" or _saved_native_kind(ref):
            return _hanbert_tokenizer(ref)
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(ref.id, **load_kwargs(ref))
    except (OSError, ValueError, ImportError) as exc:
        raise loading_error(ref, exc) from None


def tokenizer_kind(ref: ModelRef) -> str:
    """``auto``, ``sentencepiece-vocab`` or ``hanbert-moran`` (also for a checkpoint saved from HanBERT)."""
    return "hanbert-moran" if _saved_native_kind(ref) else ref.row.tokenizer


def check_fit(
    ref: ModelRef, tokenizer: Any, vocab_size: int, texts: list[str] | tuple[str, ...] | None = None, min_tokens: int = 0
) -> bool:
    """No silent garbage tokenizer: its size fits ``vocab_size`` and it knows ``texts`` (else a built-in sample).

    Returns:
        Whether the unknown-token rate was measured (``texts`` gave at least ``min_tokens`` tokens).

    Raises:
        KobenchError: one line naming the row, the size found and the files expected.
    """
    folder = Path(ref.id) if Path(ref.id).is_dir() else None
    return check_tokenizer(ref.key, tokenizer, vocab_size, texts or SAMPLE_TEXTS, kind=tokenizer_kind(ref),
                           folder=folder, min_tokens=min_tokens)  # fmt: skip


def _saved_native_kind(ref: ModelRef) -> bool:
    """A checkpoint that kobench saved from HanBERT (its ``kobench_tokenizer.json`` says so)."""
    if ref.row.tokenizer != "auto" or not Path(ref.id).is_dir():
        return False

    return saved_kind(Path(ref.id)) == KIND


def _hanbert_tokenizer(ref: ModelRef) -> Any:
    """HanBERT: the vendor's analyser (a native library, loaded only by opt-in) + WordPiece over vocab_54k.txt.

    A checkpoint saved from HanBERT records that it needs the library; its row was opted in when it trained.
    """
    directory = Path(ref.id)
    try:
        if _saved_native_kind(ref):
            log.warning("model '%s': its tokenizer runs the vendor's native analyser %s (recorded at training)",
                        ref.key, LIBRARY)  # fmt: skip
            return hanbert.load_saved_tokenizer(directory)
        if not ref.row.native_tokenizer:
            raise KobenchError(
                f"model '{ref.key}': tokenizer hanbert-moran loads the vendor's compiled analyser {LIBRARY} from "
                f"{ref.id}; opt in with models.{ref.key}.native_tokenizer: true in params.yaml"
            )
        if not directory.is_dir():
            raise KobenchError(
                f"model '{ref.key}': local directory {ref.id} not found; the analyser {LIBRARY} is only read from a "
                f"local directory (unpack the vendor archive there or change models.{ref.key}.id in params.yaml)"
            )
        log.warning("model '%s': native_tokenizer opted in: loading the vendor's analyser %s", ref.key, directory / LIBRARY)
        return hanbert.load_vendor_tokenizer(directory)
    except AnalyserError as exc:
        raise KobenchError(f"model '{ref.key}': {exc}") from None


def _spm_vocab_tokenizer(ref: ModelRef) -> Any:
    """KoBERT-style repositories: ``*.model`` (SentencePiece) + ``vocab.txt`` -> a cached fast tokenizer."""
    folder = repo_files(ref, ["*.model", "vocab.txt", "tokenizer_config.json"])
    models = sorted(folder.glob("*.model"))
    if len(models) != 1 or not (folder / "vocab.txt").exists():
        found = ", ".join(p.name for p in sorted(folder.iterdir())) or "nothing"
        raise ValueError(f"tokenizer: sentencepiece-vocab needs one *.model file and vocab.txt; found {found}")
    config_file = folder / "tokenizer_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8")) if config_file.exists() else {}
    length = int(config.get("model_max_length") or config.get("max_len") or 512)
    return load_spm_vocab_tokenizer(models[0], folder / "vocab.txt", model_max_length=length)


def load_model(ref: ModelRef, auto_class: str, num_labels: int, **config: Any) -> Any:
    """The pretrained encoder with a freshly initialised task head, in float32.

    ``model.safetensors`` when the repository has one; else ``pytorch_model.bin`` through torch's
    ``weights_only`` loader, which refuses any pickle that would run code. The hub's safetensors conversion
    (a background call, or the bot's unmerged pull request) is never used: weights come from the pinned
    revision only.
    """
    import torch
    import transformers

    os.environ["DISABLE_SAFETENSORS_CONVERSION"] = "1"
    cls = getattr(transformers, auto_class)
    if _untyped_vendor_config(ref):  # HanBERT's archive: its BERT config without model_type
        config = {"config": load_config(ref, num_labels=num_labels, **config)}
    else:
        config = {"num_labels": num_labels, **config}
    try:
        return cls.from_pretrained(ref.id, dtype=torch.float32, **load_kwargs(ref), **config)
    except pickle.UnpicklingError as exc:
        raise KobenchError(
            f"model '{ref.key}': refused the pickled weights of {ref.id}: they would run code on load "
            f"({str(exc).splitlines()[0][:160]})"
        ) from None
    except (OSError, ValueError) as exc:
        raise loading_error(ref, exc) from None
