"""Download faults against a local HTTP server on 127.0.0.1: refused, timeout, truncated, wrong sha256.

Each gives a clear one-line error, leaves no file in data/raw, and a retry succeeds once the fault is gone.
"""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

import pytest

from http_server import serve
from kobench.data.fetch import FetchError, fetch_task
from kobench.tasks import get_task
from synthetic import repin, write_raw


def _upstream(tmp_path: Path) -> dict[str, bytes]:
    write_raw("korsts", tmp_path / "upstream")
    return {p.name: p.read_bytes() for p in (tmp_path / "upstream").iterdir()}


def _spec(tmp_path: Path, port: int):  # noqa: ANN202
    spec = repin(get_task("korsts"), tmp_path / "upstream")
    sources = tuple(dataclasses.replace(s, url=f"http://127.0.0.1:{port}/{s.name}") for s in spec.sources)
    return dataclasses.replace(spec, sources=sources)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("refused",
         r"could not download http://127\.0\.0\.1:\d+/sts-train\.tsv after 2 attempts \(.*refused.*\); "
         r"offline, set KOBENCH_MIRROR"),
        ("slow", r"could not download .*sts-train\.tsv after 2 attempts \(.*timed out.*\)"),
        ("truncate", r"could not download .*sts-train\.tsv after 2 attempts \(.*IncompleteRead.*\)"),
        ("corrupt", r"sts-train\.tsv: refused, sha256 [0-9a-f]{64} != pinned [0-9a-f]{64}"),
    ],
)
def test_fault_fails_cleanly_then_retry_succeeds(fault: str, message: str, tmp_path: Path) -> None:
    files, port, raw = _upstream(tmp_path), _free_port(), tmp_path / "data" / "raw" / "korsts"
    spec = _spec(tmp_path, port)
    if fault == "refused":  # nothing listens on the port yet
        with pytest.raises(FetchError, match=message) as info:
            fetch_task(spec, raw, retries=2, timeout=0.5)
    else:
        with serve(files, port=port) as server:
            server.fault = fault
            with pytest.raises(FetchError, match=message) as info:
                fetch_task(spec, raw, retries=2, timeout=0.5)
    assert "\n" not in str(info.value) and list(raw.iterdir()) == []  # no partial or temporary file
    with serve(files, port=port):
        done = fetch_task(spec, raw, retries=2, timeout=5)
    assert [f.how for f in done] == ["download"] * 3
    assert (raw / "sts-train.tsv").read_bytes() == files["sts-train.tsv"]


def test_verified_files_are_not_fetched_again(tmp_path: Path) -> None:
    files, port = _upstream(tmp_path), _free_port()
    with serve(files, port=port) as server:
        spec = _spec(tmp_path, port)
        fetch_task(spec, tmp_path / "raw")
        again = fetch_task(spec, tmp_path / "raw")
    assert [f.how for f in again] == ["present"] * 3 and server.requests == 3


def test_a_tampered_local_file_is_fetched_again(tmp_path: Path) -> None:
    files, port = _upstream(tmp_path), _free_port()
    with serve(files, port=port):
        spec = _spec(tmp_path, port)
        fetch_task(spec, tmp_path / "raw")
        (tmp_path / "raw" / "sts-dev.tsv").write_text("tampered", encoding="utf-8")
        done = fetch_task(spec, tmp_path / "raw")
    assert [f.how for f in done] == ["present", "download", "present"]


def test_mirror_copy_picks_the_file_whose_hash_matches(tmp_path: Path, mirror: Path) -> None:
    done = fetch_task(get_task("hate-speech"), tmp_path / "raw", mirror=mirror)
    assert [(f.name, f.how) for f in done] == [("train.tsv", "mirror"), ("dev.tsv", "mirror")]
    assert (tmp_path / "raw" / "train.tsv").stat().st_size == 913_546  # labeled/, not koelectra/


def test_missing_mirror_file_fails_only_when_a_requested_split_needs_it(tmp_path: Path, mirror: Path) -> None:
    done = fetch_task(get_task("naver-ner"), tmp_path / "raw", mirror=mirror, splits=("test",))
    assert [f.name for f in done] == ["test.tsv"]
    with pytest.raises(FetchError, match=r"train.tsv is not in mirror .*naver-ner; download it from https://.*, or "
                       r"limit data.splits.naver-ner in params.yaml to the splits the mirror has \(naver-ner cannot be "
                       r"tuned without its train split\)"):
        fetch_task(get_task("naver-ner"), tmp_path / "raw", mirror=mirror, splits=("train", "test"))
