"""``kobench models``: what each catalogue row is, whether it is cached here, and whether it loads."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from kobench.config import ModelParams, Params
from kobench.errors import KobenchError


@dataclass(frozen=True)
class RowInfo:
    """One line of ``kobench models``."""

    key: str
    id: str
    revision: str
    size: str
    parameters: str
    tokenizer: str
    cached: str


def local_folder(row: ModelParams) -> Path | None:
    """The row's files on this machine: its directory, or its hub cache snapshot; None when absent."""
    if Path(row.id).is_dir():
        return Path(row.id)
    if row.local_only:
        return None
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(row.id, "config.json", revision=row.revision)
    return Path(found).parent if isinstance(found, str) else None


def tokenizer_kind(row: ModelParams, folder: Path | None) -> str:
    """The tokenizer's kind, from its files when present, else from what the published repository holds."""
    if row.tokenizer in ("sentencepiece-vocab", "hanbert-moran"):
        return _KIND_NAMES[row.tokenizer]
    if folder is None:
        from kobench.tools.hub_fixtures import HUB_REPOS

        repo = HUB_REPOS.get(row.id)
        return _KIND_NAMES[repo.tokenizer] if repo else "unknown (files absent)"
    if (folder / "tokenizer.json").exists():
        state = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
        model = state.get("model", {}).get("type", "?")
        byte_level = "ByteLevel" in json.dumps(state.get("pre_tokenizer"))
        return {"Unigram": _KIND_NAMES["sentencepiece-unigram"], "WordPiece": "WordPiece"}.get(
            model, "byte-level BPE" if byte_level else model
        )
    if (folder / "merges.txt").exists():
        return _KIND_NAMES["byte-level-bpe"]
    if (folder / "vocab.txt").exists():
        return _KIND_NAMES["wordpiece"]
    return "unknown"


_KIND_NAMES = {
    "sentencepiece-vocab": "SentencePiece + vocab.txt (fast, built by kobench)",
    "hanbert-moran": "morpheme analyser libmoran4dnlp.so + WordPiece vocab_54k.txt (vendor library)",
    "sentencepiece-unigram": "SentencePiece unigram (tokenizer.json)",
    "wordpiece": "WordPiece (vocab.txt)",
    "byte-level-bpe": "byte-level BPE (vocab.json + merges.txt)",
}


def parameter_count(folder: Path, row: ModelParams | None = None) -> int:
    """Parameters of the encoder in ``folder``'s config, counted without allocating weights."""
    import torch
    from transformers import AutoModel

    from kobench.engine.models import ModelRef, load_config

    row = (row or ModelParams(id=str(folder))).model_copy(update={"id": str(folder), "local_only": True})
    config = load_config(ModelRef("count", row))
    with torch.device("meta"):
        model = AutoModel.from_config(config)
    return sum(p.numel() for p in model.parameters())


def describe(key: str, row: ModelParams, *, count: bool = True) -> RowInfo:
    """The row's catalogue facts and what this machine has of it."""
    folder = local_folder(row)
    parameters = "-"
    if folder is not None and count and (folder / "config.json").exists():
        try:
            parameters = f"{parameter_count(folder, row) / 1e6:.1f}M"
        except (OSError, ValueError, KeyError, KobenchError):
            parameters = "?"
    where = "local dir" if Path(row.id).is_dir() else "cached" if folder is not None else "absent"
    return RowInfo(
        key=key,
        id=row.id,
        revision=(row.revision or ("-" if Path(row.id).is_dir() or row.local_only else "main (unpinned)"))[:12],
        size=row.size,
        parameters=parameters,
        tokenizer=tokenizer_kind(row, folder),
        cached=where,
    )


def check(key: str, params: Params, *, weights: bool) -> tuple[bool, str]:
    """Load the row's tokenizer and config (and weights): ``(ok, one line)``, never a traceback."""
    from kobench.engine.models import check_fit, load_config, load_model, load_tokenizer, resolve_model

    try:
        ref = resolve_model(key, params)
        tokenizer = load_tokenizer(ref)
        config = load_config(ref)
        check_fit(ref, tokenizer, config.vocab_size)
        pair = tokenizer("한국어 문장", "두 번째 문장")
        if ref.row.token_type_ids and "token_type_ids" not in pair:
            return False, (
                f"{key}: the tokenizer returns no token_type_ids for a pair although the row uses segments; "
                f"set models.{key}.token_type_ids: false or fix the tokenizer"
            )
        detail = f"{type(tokenizer).__name__}, {config.model_type}, vocab {len(tokenizer)}"
        if ref.row.tokenizer != "auto":
            detail += f", tokenizer {ref.row.tokenizer}"
        if weights:
            model = load_model(ref, "AutoModel", 2)
            detail += f", weights {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters"
        return True, f"{key}: ok ({detail})"
    except KobenchError as exc:
        return False, str(exc)
    except Exception as exc:  # noqa: BLE001 - one line per row is the contract of --check
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        return False, f"model '{key}': {type(exc).__name__}: {first}"


def format_table(rows: list[RowInfo]) -> str:
    """A plain aligned table of ``rows``."""
    header = ("key", "id", "revision", "size", "params", "tokenizer", "here")
    cells = [header] + [(r.key, r.id, r.revision, r.size, r.parameters, r.tokenizer, r.cached) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in cells)


def fixture_target_is_safe(cache: Path) -> None:
    """Refuse to write random-weight fixtures into the Hugging Face cache that real runs read.

    Raises:
        KobenchError: ``cache`` is the active hub cache.
    """
    from huggingface_hub import constants

    if Path(cache).resolve() == Path(constants.HF_HUB_CACHE).resolve():
        raise KobenchError(
            f"--cache {cache} is the active Hugging Face cache: fixtures have random weights under the real "
            f"revisions and would shadow the published models; write them to another folder and point "
            f"HF_HUB_CACHE at it for the test run only"
        )
