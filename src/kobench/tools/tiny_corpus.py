"""Text to train a tiny model's tokenizer on: a prepared task's text, or a built-in Korean sample."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from kobench.engine.tokenizer_check import SAMPLE_TEXTS as _SAMPLE  # what `kobench models --check` reads too
from kobench.errors import KobenchError


def corpus_texts(prepared_root: Path, task: str | None) -> Iterator[str]:
    """Every text field of ``prepared_root/<task>/*.parquet``; the built-in sample when ``task`` is None."""
    if task is None:
        yield from _SAMPLE
        return
    import pyarrow.parquet as pq

    files = sorted((prepared_root / task).glob("*.parquet"))
    if not files:
        raise KobenchError(f"--corpus {task}: no prepared splits in {prepared_root / task}; run `kobench prepare {task}`")
    for path in files:
        table = pq.read_table(path)
        for column in ("text", "text_pair", "context", "question"):
            if column in table.column_names:
                yield from (t for t in table[column].to_pylist() if t)
        if "tokens" in table.column_names:
            yield from (" ".join(tokens) for tokens in table["tokens"].to_pylist())
    yield from _SAMPLE
