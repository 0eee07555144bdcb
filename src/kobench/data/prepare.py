"""Step 2: data/raw/<task>/ -> data/prepared/<task>/{train,validation,test}.parquet + meta.json."""

from __future__ import annotations

import contextlib
import json
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from kobench import __version__
from kobench.atomic import atomic_path
from kobench.data.readers import read_rows
from kobench.errors import DataError
from kobench.families import bind
from kobench.hashing import sha256_file
from kobench.tasks.spec import SPLITS, TaskSpec


def prepare_task(
    spec: TaskSpec,
    raw_dir: Path,
    out_dir: Path,
    *,
    splits: tuple[str, ...] = SPLITS,
    validation_fraction: float = 0.1,
    split_seed: int = 42,
) -> dict[str, Any]:
    """Parse the raw files of ``spec`` into prepared parquet splits and ``meta.json``; return the meta.

    Nothing is written unless every requested split parses; files are renamed into place at the end.

    Raises:
        DataError: a raw file is missing (named with its URL) or has a malformed row.
    """
    rows, sources = {}, {}
    for split in splits:
        source_split = "train" if split == "validation" and spec.carved_validation else split
        source = spec.source_for(source_split)
        path = raw_dir / source.name
        if not path.exists():
            raise DataError(path, f"missing; run `kobench fetch {spec.name}` (source: {source.url})")
        if source_split not in rows:
            rows[source_split] = read_rows(spec, path, source_split)
            sources[source_split] = {"file": source.name, "sha256": sha256_file(path)}
    validation_note = f"upstream file {spec.source_for('validation').name}" if not spec.carved_validation else None
    if spec.carved_validation and "validation" in splits:
        rows["train"], rows["validation"], validation_note = carve_validation(
            spec, rows["train"], validation_fraction, split_seed
        )
        sources["validation"] = sources["train"]
    meta = _meta(spec, {s: rows[s] for s in splits}, sources, validation_note)
    _write_splits(spec, out_dir, {s: rows[s] for s in splits}, meta)
    return meta


def carve_validation(
    spec: TaskSpec, train: list[dict[str, Any]], fraction: float, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """Split ``train`` into (train, validation, note), seeded; the family decides how (by label, article, row)."""
    if not 0.0 < fraction < 1.0:
        raise DataError("params.yaml", f"data.validation_fraction must be in (0, 1), got {fraction}")
    is_val, how = bind(spec).carve_validation(train, fraction, random.Random(seed))
    note = f"carved from train: fraction {fraction}, seed {seed}, {how}"
    keep = [r for r, v in zip(train, is_val) if not v]
    return keep, [r for r, v in zip(train, is_val) if v], note


def _meta(spec: TaskSpec, rows: dict, sources: dict, validation_note: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "task": spec.name,
        "family": spec.family,
        "task_version": spec.version,
        "kobench_version": __version__,
        "main_metric": spec.main_metric,
        "label_names": spec.label_names,
        "validation": validation_note,
        "splits": {},
    }
    for split, split_rows in rows.items():
        if not split_rows:
            raise DataError(sources[split]["file"], f"split '{split}' is empty")
        info: dict[str, Any] = {"rows": len(split_rows), "source": sources[split]}
        meta["splits"][split] = {**info, **bind(spec).split_summary(split_rows)}
    return meta


def _write_splits(spec: TaskSpec, out_dir: Path, rows: dict, meta: dict) -> None:
    schema = bind(spec).family.schema
    for split in SPLITS:  # splits not asked for now would no longer match meta.json
        if split not in rows:
            (out_dir / f"{split}.parquet").unlink(missing_ok=True)
    # every file is written to a temporary path first; the renames happen together when the stack exits
    with contextlib.ExitStack() as stack:
        for split, split_rows in rows.items():
            tmp = stack.enter_context(atomic_path(out_dir / f"{split}.parquet"))
            pq.write_table(pa.Table.from_pylist(split_rows, schema=schema), tmp)
        tmp = stack.enter_context(atomic_path(out_dir / "meta.json"))
        tmp.write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
