"""Step 1: upstream files -> data/raw/<task>/, downloaded over HTTPS or copied from a mirror, hash-verified."""

from __future__ import annotations

import errno
import http.client
import logging
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from kobench.atomic import atomic_path
from kobench.errors import DiskFullError, KobenchError
from kobench.hashing import file_digests
from kobench.interrupts import check as check_interrupted
from kobench.tasks.spec import SPLITS, SourceFile, TaskSpec

log = logging.getLogger(__name__)
# KOBENCH_MIRROR and data.mirror first: under `dvc repro` there is no command line to pass --mirror on
MIRROR_HINT = "offline, set KOBENCH_MIRROR=DIR or data.mirror in params.yaml (or pass --mirror DIR) to use a local mirror"


class FetchError(KobenchError):
    """A file could not be obtained or failed verification."""


@dataclass(frozen=True)
class Fetched:
    """What happened to one source file."""

    name: str
    path: Path
    how: str  # "present", "mirror" or "download"


def files_for_splits(spec: TaskSpec, splits: tuple[str, ...] = SPLITS) -> list[SourceFile]:
    """The source files that feed ``splits``; a carved validation split needs the train file."""
    needed = set(splits) | ({"train"} if "validation" in splits and spec.carved_validation else set())
    names = [f for s, f in spec.splits if s in needed]
    return [s for s in spec.sources if s.name in names]


def verify(source: SourceFile, path: Path) -> str | None:
    """Return None if ``path`` matches the pinned hash, else a one-line reason."""
    sha256, blob = file_digests(path)
    if source.sha256 and sha256 != source.sha256:
        return f"sha256 {sha256} != pinned {source.sha256}"
    if source.git_sha1 and blob != source.git_sha1:
        return f"git blob sha1 {blob} != pinned {source.git_sha1}"
    return None


def fetch_task(
    spec: TaskSpec,
    raw_dir: Path,
    *,
    mirror: Path | None = None,
    splits: tuple[str, ...] = SPLITS,
    retries: int = 3,
    timeout: float = 60.0,
) -> list[Fetched]:
    """Make every file feeding ``splits`` present and verified in ``raw_dir``.

    Raises:
        FetchError: a needed file is missing from the mirror, unreachable, or fails verification.
    """
    raw_dir.mkdir(parents=True, exist_ok=True)
    done = []
    for source in files_for_splits(spec, splits):
        check_interrupted()  # between files, before hashing or copying one
        dest = raw_dir / source.name
        if dest.exists() and verify(source, dest) is None:
            done.append(Fetched(source.name, dest, "present"))
        elif mirror is not None:
            _copy_from_mirror(spec, source, Path(mirror), dest)
            done.append(Fetched(source.name, dest, "mirror"))
        else:
            download(source, dest, retries=retries, timeout=timeout)
            done.append(Fetched(source.name, dest, "download"))
    return done


def _copy_from_mirror(spec: TaskSpec, source: SourceFile, mirror: Path, dest: Path) -> None:
    task_dir = mirror / spec.name
    candidates = sorted(task_dir.rglob(source.name)) if task_dir.is_dir() else []
    reasons = []
    for candidate in candidates:  # several files may share a name (hate-speech/train.tsv, koelectra/train.tsv)
        reason = verify(source, candidate)
        if reason is None:
            with atomic_path(dest) as tmp:
                shutil.copyfile(candidate, tmp)
            return
        reasons.append(f"{candidate}: {reason}")
    if reasons:
        raise FetchError(f"{source.name}: no verified copy in mirror {task_dir} ({'; '.join(reasons)})")
    raise FetchError(
        f"{source.name} is not in mirror {task_dir}; download it from {source.url}, or limit data.splits.{spec.name} "
        f"in params.yaml to the splits the mirror has ({spec.name} cannot be tuned without its train split)"
    )


def download(source: SourceFile, dest: Path, *, retries: int = 3, timeout: float = 60.0) -> None:
    """Download ``source`` to ``dest`` atomically, retrying transient faults, then verify it.

    Raises:
        DiskFullError: before starting when the pinned size does not fit, or when the disk fills up on the way
            (with the bytes the file needs); the partial file is removed.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    if source.size is not None and shutil.disk_usage(dest.parent).free < source.size:
        raise DiskFullError(dest, needed=source.size)
    last = ""
    for attempt in range(1, retries + 1):
        try:
            with atomic_path(dest) as tmp:
                _stream(source.url, tmp, timeout, dest)
                reason = verify(source, tmp)
                if reason:
                    raise FetchError(f"{source.url}: refused, {reason}")
            return
        except (TimeoutError, urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            if isinstance(exc, urllib.error.HTTPError) and exc.code in (403, 404, 410):
                raise FetchError(f"{source.url}: HTTP {exc.code} {exc.reason}") from None
            last = str(getattr(exc, "reason", None) or exc)
            log.warning("%s: attempt %d/%d failed: %s", source.url, attempt, retries, last)
            if attempt < retries:
                check_interrupted()
                time.sleep(min(2.0 ** (attempt - 1), 10.0))
    raise FetchError(f"could not download {source.url} after {retries} attempts ({last}); {MIRROR_HINT}")


def _stream(url: str, target: Path, timeout: float, dest: Path) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "kobench"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(target, "wb") as out:
        expected = response.headers.get("Content-Length")
        copied = 0
        try:
            while chunk := response.read(1 << 20):
                check_interrupted()
                out.write(chunk)
                copied += len(chunk)
            out.flush()
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise DiskFullError(dest, needed=int(expected) if expected is not None else None) from None
            raise
    if expected is not None and copied != int(expected):
        raise http.client.IncompleteRead(b"", int(expected) - copied)
