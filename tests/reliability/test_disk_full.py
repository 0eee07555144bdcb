"""A full disk at fetch or prepare: one line naming the path (and the bytes needed when known), no partial file.

The disk is real: a small tmpfs mounted for the test (root only; skipped, saying why, elsewhere)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from http_server import serve
from kobench.data.fetch import fetch_task
from kobench.data.prepare import prepare_task
from kobench.errors import DiskFullError
from kobench.tasks import get_task
from synthetic import repin, write_raw


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 48 KiB tmpfs."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def _leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_a_download_that_fills_the_disk_names_the_file_and_the_bytes(small_disk: Path, tmp_path: Path) -> None:
    upstream = tmp_path / "upstream"
    write_raw("korsts", upstream, n=1500)  # sts-train.tsv is far larger than the disk
    files = {p.name: p.read_bytes() for p in upstream.iterdir()}
    with serve(files) as server:
        spec = repin(get_task("korsts"), upstream)
        spec = dataclasses.replace(spec, sources=tuple(dataclasses.replace(s, url=server.url(s.name)) for s in spec.sources))
        with pytest.raises(DiskFullError) as caught:
            fetch_task(spec, small_disk / "korsts")
    first = spec.sources[0].name  # sts-train.tsv, fetched first, does not fit
    assert str(caught.value) == (f"{small_disk / 'korsts' / first}: no space left on the device "
                                 f"({len(files[first]):,} bytes needed); free space there and run the command again")
    assert not [name for name in _leftovers(small_disk) if name.endswith(".tmp")]  # nothing half-written

    sized = dataclasses.replace(spec, sources=tuple(dataclasses.replace(s, size=10**9) for s in spec.sources))
    with pytest.raises(DiskFullError, match=r"1,000,000,000 bytes needed"):  # the pinned size: refused up front
        fetch_task(sized, small_disk / "again")
    assert not (small_disk / "again").exists() or _leftovers(small_disk / "again") == []


def test_prepare_on_a_full_disk_is_one_line_and_writes_nothing(small_disk: Path, tmp_path: Path) -> None:
    raw = write_raw("nsmc", tmp_path / "raw" / "nsmc", n=3000)
    with pytest.raises(DiskFullError, match="no space left on the device"):
        prepare_task(get_task("nsmc"), raw, small_disk / "nsmc")
    assert _leftovers(small_disk) == []
    params = tmp_path / "params.yaml"
    params.write_text(f"base: {{paths: {{raw: {tmp_path / 'raw'}, prepared: {small_disk}}}}}\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "kobench.cli", "prepare", "nsmc", "--params", str(params)],
                          capture_output=True, text=True, cwd=tmp_path, check=False)
    assert done.returncode == 2 and done.stderr.strip().startswith(f"error: {small_disk / 'nsmc'}/")
    assert "no space left on the device" in done.stderr and "Traceback" not in done.stderr
    assert _leftovers(small_disk) == []


def test_a_checkpoint_that_fills_the_disk_is_one_line_and_removed(
    small_disk: Path, tmp_path: Path, prepared, tiny_models  # noqa: ANN001
) -> None:
    prepared("nsmc", n=40)
    params = tmp_path / "params.yaml"
    paths = f"{{prepared: {tmp_path / 'prepared'}, outputs: {small_disk}}}"
    params.write_text(f"base: {{paths: {paths}}}\n", encoding="utf-8")
    model = str(tiny_models("bert"))
    command = [sys.executable, "-m", "kobench.cli", "--quiet", "train", "--task", "nsmc", "--model", model,
               "--epochs", "1", "--run-name", "r", "--no-track", "--params", str(params)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, check=False)
    checkpoint = small_disk / "nsmc" / "bert" / "r" / "checkpoint"
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: {checkpoint}: no space left on the device; free space there and run the command again"
    )
    assert not checkpoint.exists() and not (checkpoint.parent / "metrics.json").exists()
