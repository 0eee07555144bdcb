"""Prepared splits as rows, with seeded subsampling for quick runs."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

from kobench.errors import DataError
from kobench.families import bind
from kobench.hashing import sha256_file
from kobench.reuse import as_is, file_identity, recall
from kobench.tasks.spec import TaskSpec


def check_split(prepared_dir: Path, split: str, *, columns: tuple[str, ...] = ()) -> Path:
    """The path of a prepared split, checked from its footer only: it exists, is readable, has rows and ``columns``.

    Raises:
        DataError: naming the file and what to run.
    """
    import pyarrow.parquet as pq

    path = prepared_dir / f"{split}.parquet"
    if not path.exists():
        raise DataError(path, f"not found; run `kobench prepare {prepared_dir.name}`")
    try:
        footer = pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - any pyarrow failure is a corrupt file for the user
        raise DataError(path, f"unreadable parquet ({exc})") from None
    if footer.metadata.num_rows == 0:
        raise DataError(path, f"split '{split}' is empty")
    missing = [c for c in columns if c not in footer.schema_arrow.names]
    if missing:
        raise DataError(path, f"missing column(s) {', '.join(missing)}; re-run `kobench prepare {prepared_dir.name}`")
    return path


def load_split(
    prepared_dir: Path, split: str, *, columns: tuple[str, ...] = (), max_rows: int | None = None, seed: int = 42
) -> list[dict[str, Any]]:
    """Rows of ``prepared_dir/<split>.parquet``; at most ``max_rows``, drawn with ``seed``, in file order.

    Raises:
        DataError: the split was not prepared, is unreadable or empty, or lacks one of ``columns``.
    """
    path = check_split(prepared_dir, split, columns=columns)
    return recall(
        ("rows", file_identity(path), max_rows, seed),
        lambda: _read_rows(path, max_rows, seed),
        copy=lambda rows: [dict(row) for row in rows],
    )


def _read_rows(path: Path, max_rows: int | None, seed: int) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - any pyarrow failure is a corrupt file for the user
        raise DataError(path, f"unreadable parquet ({exc})") from None
    if max_rows is not None and table.num_rows > max_rows:
        # subsample before converting to Python objects: 2,000 of NSMC's 135,000 rows in 41 ms, not 141 ms
        table = table.take(sorted(random.Random(seed).sample(range(table.num_rows), max_rows)))
    return table.to_pylist()


def task_rows(
    spec: TaskSpec, prepared_dir: Path, split: str, *, max_rows: int | None = None, seed: int = 42
) -> list[dict[str, Any]]:
    """A prepared split of ``spec``, checked for its family's columns, subsampled when ``max_rows`` is set."""
    columns = bind(spec).prepared_columns()
    return load_split(prepared_dir, split, columns=columns, max_rows=max_rows, seed=seed)


def check_task_split(spec: TaskSpec, prepared_dir: Path, split: str) -> Path:
    """``check_split`` with the columns of the task's family."""
    return check_split(prepared_dir, split, columns=bind(spec).prepared_columns())


def prepared_digest(prepared_dir: Path) -> str:
    """Content hash of a prepared task (its split files and meta.json), recorded with every run."""
    files = [p for p in sorted(prepared_dir.glob("*.parquet")) + [prepared_dir / "meta.json"] if p.exists()]

    def digest_of_files() -> str:
        digest = hashlib.sha256()
        for path in files:
            digest.update(f"{path.name}:{sha256_file(path)}".encode())
        return digest.hexdigest()

    return recall(("digest", *(file_identity(p) for p in files)), digest_of_files, copy=as_is)
