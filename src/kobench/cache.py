"""Where kobench keeps what it can rebuild: device slot locks, built tokenizers, the MLflow schema template."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$KOBENCH_CACHE``, else ``$XDG_CACHE_HOME/kobench``, else ``~/.cache/kobench``."""
    if os.environ.get("KOBENCH_CACHE"):
        return Path(os.environ["KOBENCH_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kobench"
