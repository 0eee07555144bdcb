"""What the trials of one study read alike, read once: prepared rows, their digest, cached features, the tokenizer.

Every trial of a study reads the same prepared splits (same subsample, same seed) and the same cached features,
hashes the same prepared files, and loads the same tokenizer, whose fingerprint is part of the features' cache key.
Done afresh, that was about 0.3 s a trial for NSMC (reading the 135,000-row train file to draw 4,000 rows, the
digest, the features' parquet, the tokenizer and its fingerprint): 6 % of a 10-trial study of a small model on
2 cores (``benchmarks/study.py``). ``between_trials`` keeps those reads while the study's trials run, and nowhere
else: a command that trains once, evaluates or serves reads its files as before, and nothing is held after the
study. Each entry is keyed by the file's size, modification time and inode as well as by its path, so a file
replaced meanwhile (``kobench prepare`` run again) is read again. Each caller gets its own copy of the lists and
rows it could change; the price is one more set of row dicts in memory while the trials run (their values are
shared: for 550,000 rows of four columns, KorNLI's training pairs, about 0.1 GiB).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
_memo: dict[tuple, Any] | None = None


@contextlib.contextmanager
def between_trials() -> Iterator[None]:
    """Reuse reads until the block ends (nested blocks share the outer one's)."""
    global _memo  # noqa: PLW0603 - one study runs its trials in one process at a time
    if _memo is not None:
        yield
        return
    _memo = {}
    try:
        yield
    finally:
        _memo = None


def file_identity(path: Path) -> tuple[str, int, int, int]:
    """What tells one version of a file from another without reading it."""
    stat = path.stat()
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino)


def as_is(value: T) -> T:
    """The ``copy`` for what no caller changes (a digest, a tokenizer): handed out itself."""
    return value


def recall(key: tuple, make: Callable[[], T], copy: Callable[[T], T]) -> T:
    """``make()``; inside ``between_trials`` a ``copy`` of what it returned for ``key`` the first time."""
    if _memo is None:
        return make()
    if key not in _memo:
        _memo[key] = make()
    return copy(_memo[key])
