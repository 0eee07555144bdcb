"""Fetching: mirror copies, HTTP downloads with retries, verification, nothing half-written."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

import pytest
from http_server import serve
from synthetic import repin, write_raw

from kobench.fetch import FetchError, fetch_task
from kobench.tasks import get_task


def _served_spec(task: str, tmp_path: Path, server):  # noqa: ANN001, ANN202
    spec = repin(get_task(task), tmp_path / "upstream")
    sources = tuple(dataclasses.replace(s, url=server.url(s.name)) for s in spec.sources)
    return dataclasses.replace(spec, sources=sources)


def _upstream(task: str, tmp_path: Path) -> dict[str, bytes]:
    write_raw(task, tmp_path / "upstream")
    return {p.name: p.read_bytes() for p in (tmp_path / "upstream").iterdir()}


def test_download_verifies_and_skips_present_files(tmp_path: Path) -> None:
    with serve(_upstream("korsts", tmp_path)) as server:
        spec = _served_spec("korsts", tmp_path, server)
        first = fetch_task(spec, tmp_path / "raw")
        second = fetch_task(spec, tmp_path / "raw")
    assert [f.how for f in first] == ["download"] * 3 and [f.how for f in second] == ["present"] * 3
    assert server.requests == 3
    assert (tmp_path / "raw" / "sts-dev.tsv").read_bytes() == (tmp_path / "upstream" / "sts-dev.tsv").read_bytes()


def test_wrong_hash_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    with serve(_upstream("korsts", tmp_path)) as server:
        spec = _served_spec("korsts", tmp_path, server)
        server.fault = "corrupt"
        with pytest.raises(FetchError, match=r"sts-train.tsv: refused, sha256 .* != pinned"):
            fetch_task(spec, tmp_path / "raw", retries=1)
    assert list((tmp_path / "raw").iterdir()) == []


def test_truncated_body_is_retried_then_fails_cleanly(tmp_path: Path) -> None:
    with serve(_upstream("korsts", tmp_path)) as server:
        spec = _served_spec("korsts", tmp_path, server)
        server.fault = "truncate"
        with pytest.raises(FetchError, match=r"could not download .*sts-train.tsv after 2 attempts.*--mirror"):
            fetch_task(spec, tmp_path / "raw", retries=2)
        assert server.requests == 2 and list((tmp_path / "raw").iterdir()) == []
        server.fault = None
        assert [f.how for f in fetch_task(spec, tmp_path / "raw")] == ["download"] * 3


def test_unreachable_host_gives_one_line_with_mirror_hint(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: connection refused
    spec = repin(get_task("korsts"), tmp_path)
    spec = dataclasses.replace(
        spec, sources=tuple(dataclasses.replace(s, url=f"http://127.0.0.1:{port}/{s.name}") for s in spec.sources)
    )
    with pytest.raises(FetchError) as info:
        fetch_task(spec, tmp_path / "raw", retries=1)
    message = str(info.value)
    assert "\n" not in message and f"127.0.0.1:{port}/sts-train.tsv" in message and "KOBENCH_MIRROR" in message


def test_mirror_copy_picks_the_file_whose_hash_matches(tmp_path: Path, mirror: Path) -> None:
    done = fetch_task(get_task("hate-speech"), tmp_path / "raw", mirror=mirror)
    assert [(f.name, f.how) for f in done] == [("train.tsv", "mirror"), ("dev.tsv", "mirror")]
    assert (tmp_path / "raw" / "train.tsv").stat().st_size == 913_546  # labeled/, not koelectra/


def test_missing_mirror_file_fails_only_when_a_requested_split_needs_it(tmp_path: Path, mirror: Path) -> None:
    done = fetch_task(get_task("naver-ner"), tmp_path / "raw", mirror=mirror, splits=("test",))
    assert [f.name for f in done] == ["test.tsv"]
    with pytest.raises(FetchError, match=r"train.tsv is not in mirror .*naver-ner; download it from https://"):
        fetch_task(get_task("naver-ner"), tmp_path / "raw", mirror=mirror, splits=("train", "test"))
