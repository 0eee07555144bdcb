"""Step 3: prepared rows -> tokenised features, cached on disk under a key that no stale input can match."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from kobench.atomic import atomic_path
from kobench.families import BoundTask
from kobench.families.base import EncodeSettings, Features
from kobench.interrupts import check as check_interrupted
from kobench.progress import Progress
from kobench.reuse import as_is, file_identity, recall

log = logging.getLogger(__name__)
FEATURE_FORMAT = 2  # bump when any family's encode() changes (2: byte-level BPE eojeols get a prefix space)


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """A digest of everything that decides token ids: the serialised fast tokenizer, or the vocab."""
    digest = hashlib.sha256(type(tokenizer).__name__.encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    native = getattr(tokenizer, "feature_cache_identity", None)
    if native is not None:  # a Python step (HanBERT's analyser): its vocabulary and the analyser's file digests
        digest.update(json.dumps(native(), sort_keys=True).encode())
        digest.update(json.dumps(sorted(tokenizer.get_vocab().items())).encode())
    elif backend is not None:
        # truncation/padding are per-call state the tokenizer carries over from its last call, not its identity
        state = {k: v for k, v in json.loads(backend.to_str()).items() if k not in ("truncation", "padding")}
        digest.update(json.dumps(state, sort_keys=True).encode())
    else:
        digest.update(json.dumps(sorted(tokenizer.get_vocab().items())).encode())
    digest.update(json.dumps(tokenizer.all_special_tokens).encode())
    return digest.hexdigest()


def feature_key(task: BoundTask, rows_digest: str, tokenizer: Any, settings: EncodeSettings, *, train: bool) -> str:
    """The cache key: task and format versions, the rows' content, the tokenizer and every encode setting."""
    parts = {
        "format": FEATURE_FORMAT,
        "task": task.spec.name,
        "task_version": task.spec.version,
        "family": task.family.name,
        "rows": rows_digest,
        # between a study's trials (kobench.reuse) once per tokenizer; the memo holds the tokenizer, so no other
        # object can take its id meanwhile
        "tokenizer": recall(
            ("fingerprint", id(tokenizer)), lambda: (tokenizer, tokenizer_fingerprint(tokenizer)), copy=as_is
        )[1],
        "settings": asdict(settings),
        "train": train,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def rows_digest(rows: list[dict[str, Any]]) -> str:
    """Content hash of the rows actually used (after any subsampling)."""
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def load_features(
    task: BoundTask,
    rows: list[dict[str, Any]],
    tokenizer: Any,
    settings: EncodeSettings,
    *,
    train: bool,
    cache_dir: Path | None,
) -> Features:
    """Encode ``rows`` or read them from the cache; a cache miss writes the cache atomically."""
    if cache_dir is None:
        return encode_in_chunks(task, rows, tokenizer, settings, train=train)
    key = feature_key(task, rows_digest(rows), tokenizer, settings, train=train)
    path = cache_dir / task.name / f"{key[:32]}.parquet"
    if path.exists():
        log.info("features: cache hit %s", path)
        return recall(
            ("features", file_identity(path)),
            lambda: pq.read_table(path).to_pydict(),
            copy=lambda features: {column: list(values) for column, values in features.items()},
        )
    features = encode_in_chunks(task, rows, tokenizer, settings, train=train)
    with atomic_path(path) as tmp:
        pq.write_table(pa.Table.from_pydict(features), tmp)
    return features


CHUNK_ROWS = 4096


def encode_in_chunks(
    task: BoundTask, rows: list[dict[str, Any]], tokenizer: Any, settings: EncodeSettings, *, train: bool
) -> Features:
    """``family.encode`` over blocks of rows, with progress; the same features as one call.

    ``example_index`` (QA windows -> their row) is relative to each block, so it is shifted back.
    """
    if len(rows) <= CHUNK_ROWS:
        return task.encode(rows, tokenizer, settings, train=train)
    shown = Progress(len(rows), f"{task.name} tokenising", unit="rows")
    features: Features = {}
    for start in range(0, len(rows), CHUNK_ROWS):
        check_interrupted()
        block = rows[start : start + CHUNK_ROWS]
        part = task.encode(block, tokenizer, settings, train=train)
        if "example_index" in part:
            part["example_index"] = [i + start for i in part["example_index"]]
        for column, values in part.items():
            features.setdefault(column, []).extend(values)
        shown.advance(len(block))
    shown.close()
    return features
