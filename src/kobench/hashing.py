"""File digests used to pin upstream files and to key caches."""

from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK = 1 << 20


def file_digests(path: Path) -> tuple[str, str]:
    """Return ``(sha256, git blob sha1)`` of a file in one pass.

    The git blob SHA-1 (``git hash-object``) is what upstream repositories publish for files too large
    to mirror, so both are computed.
    """
    sha256 = hashlib.sha256()
    blob = hashlib.sha1(f"blob {path.stat().st_size}\0".encode(), usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            sha256.update(chunk)
            blob.update(chunk)
    return sha256.hexdigest(), blob.hexdigest()


def sha256_file(path: Path) -> str:
    """Return the sha256 hex digest of a file."""
    return file_digests(path)[0]
