"""Atomic file writes: an output either exists complete or not at all, whatever crashes mid-write."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kobench.errors import DiskFullError
from kobench.interrupts import check


def umask_mode(directory: bool = False) -> int:
    """The mode a plain ``open()`` (or ``mkdir``) would give under the current umask: 0644 / 0755 under 022."""
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if directory else 0o666) & ~mask


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only if the block succeeds.

    Args:
        target: the final file path.

    Yields:
        A path in the same directory (so the rename is atomic) that the caller writes.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp_path, umask_mode())  # mkstemp makes 0600; the output is an ordinary file
        os.replace(tmp_path, target)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DiskFullError(target) from None
        raise
    finally:
        tmp_path.unlink(missing_ok=True)


def write_text(target: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(target: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented UTF-8 JSON to ``target`` atomically."""
    write_text(target, json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=False) + "\n")


def save_png(fig: Any, target: str | os.PathLike[str]) -> None:
    """Save a matplotlib figure to ``target`` atomically as PNG, then close it.

    Before it writes, a stop signal that arrived is raised (``interrupts.check``): a report stops between figures.
    """
    import matplotlib.pyplot as plt

    check()
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
