"""Progress of long work (tokenising, training epochs, evaluation): a bar on a terminal, plain lines elsewhere.

Under DVC, CI or a log file stderr is not a terminal: a line every ``KOBENCH_PROGRESS_SECONDS`` (30 s)
replaces the bar. ``kobench --quiet`` (``KOBENCH_QUIET=1``) turns both off.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any


def quiet() -> bool:
    """Whether progress output is off (``--quiet`` sets ``KOBENCH_QUIET``)."""
    return os.environ.get("KOBENCH_QUIET", "") not in ("", "0")


class Progress:
    """Counts steps of one piece of work and shows them; call ``advance`` per step and ``close`` at the end.

    ``loss`` is a callable so that the caller's device-side value is only read (a host synchronisation)
    when a line or the bar's postfix is actually drawn.
    """

    def __init__(self, total: int, desc: str, unit: str = "batches") -> None:
        self.total, self.desc, self.unit = total, desc, unit
        self.done, self.samples = 0, 0
        self.started = self.last = time.monotonic()
        self.every = float(os.environ.get("KOBENCH_PROGRESS_SECONDS", "30"))
        self.bar: Any = None
        if not quiet() and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True)

    def advance(self, steps: int = 1, samples: int = 0, loss: Callable[[], float] | None = None) -> None:
        """Record ``steps`` done (and ``samples`` processed); draw when due."""
        self.done += steps
        self.samples += samples
        now = time.monotonic()
        if quiet():
            return
        if self.bar is not None:
            self.bar.update(steps)
            if now - self.last >= 1.0:
                self.bar.set_postfix_str(self._stats(now, loss), refresh=False)
                self.last = now
        elif now - self.last >= self.every or (self.every == 0 and self.done == self.total):
            line = f"{self.desc}: {self.done:,}/{self.total:,} {self.unit}, {self._stats(now, loss)}"
            print(line, file=sys.stderr, flush=True)
            self.last = now

    def _stats(self, now: float, loss: Callable[[], float] | None) -> str:
        elapsed = max(now - self.started, 1e-9)
        parts = [f"{self.samples / elapsed:,.1f} samples/s"] if self.samples else []
        if loss is not None:
            parts.append(f"loss {loss():.4f}")
        if 0 < self.done < self.total:
            parts.append(f"eta {_duration(elapsed / self.done * (self.total - self.done))}")
        parts.append(f"{_duration(elapsed)} elapsed")
        return ", ".join(parts)

    def close(self) -> None:
        """Remove the bar (plain lines need no closing)."""
        if self.bar is not None:
            self.bar.close()


def _duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``.

    >>> _duration(42.4), _duration(185), _duration(3725)
    ('42s', '3m05s', '1h02m')
    """
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
