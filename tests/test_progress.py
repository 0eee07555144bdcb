"""Progress: a bar on a terminal, periodic plain lines otherwise (DVC, CI), nothing with --quiet."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kobench.data.prepare import prepare_task
from kobench.engine.features import encode_in_chunks
from kobench.families import bind
from kobench.families.span_qa import FAMILY as QA
from kobench.tasks import get_task
from synthetic import write_raw


@pytest.fixture
def project(tmp_path: Path, tiny_models) -> Path:  # noqa: ANN001
    params = {"models": {"tiny": {"id": str(tiny_models("bert")), "size": "small", "local_only": True}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    write_raw("nsmc", tmp_path / "data" / "raw" / "nsmc")
    prepare_task(get_task("nsmc"), tmp_path / "data" / "raw" / "nsmc", tmp_path / "data" / "prepared" / "nsmc")
    return tmp_path


def _train(project: Path, *options: str, stderr: int | None = subprocess.PIPE) -> subprocess.CompletedProcess:
    env = {**os.environ, "KOBENCH_PROGRESS_SECONDS": "0"}
    return subprocess.run([sys.executable, "-m", "kobench.cli", *options, "train", "--no-track", "--task", "nsmc",
                           "--model", "tiny", "--epochs", "2", "--max-seq-len", "32", "--batch-size", "8"],
                          cwd=project, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env, timeout=300)


def test_plain_progress_lines_when_not_a_terminal(project: Path) -> None:
    result = _train(project)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    epoch = [line for line in lines if line.startswith("nsmc epoch 2/2: 5/5 batches, ")]
    assert epoch and "samples/s" in epoch[0] and "loss " in epoch[0]
    assert any(line.startswith("nsmc evaluation (") for line in lines)


def test_quiet_prints_no_progress(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from kobench.progress import Progress

    monkeypatch.setenv("KOBENCH_PROGRESS_SECONDS", "0")
    shown = Progress(2, "nsmc epoch 1/1")
    shown.advance(samples=8)
    shown.advance(samples=8)
    assert "nsmc epoch 1/1: 2/2 batches, " in capsys.readouterr().err
    monkeypatch.setenv("KOBENCH_QUIET", "1")  # what `kobench --quiet` sets
    quiet = Progress(2, "nsmc epoch 1/1")
    quiet.advance(samples=8)
    quiet.advance(samples=8)
    assert capsys.readouterr().err == ""


def test_the_quiet_option_sets_kobench_quiet() -> None:
    code = ("import os, sys; sys.argv = ['kobench', '--quiet', 'models', 'nothing']\nfrom kobench.cli import app\n"
            "try: app()\nexcept BaseException: pass\nprint(os.environ.get('KOBENCH_QUIET'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert out.strip().endswith("1")


def test_a_bar_on_a_terminal(project: Path) -> None:
    import fcntl
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # a new pty has 0 columns
    result = _train(project, stderr=follower)
    os.close(follower)
    drawn = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    assert result.returncode == 0
    assert b"nsmc epoch 1/2:" in drawn and (b"batches/s" in drawn or b"s/batches" in drawn), drawn[-2000:]
    assert b"5/5 batches, " not in drawn  # the bar, not the plain lines


def test_encoding_in_chunks_equals_one_call(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_models) -> None:  # noqa: ANN001
    from transformers import AutoTokenizer

    from kobench.data.splits import load_split
    from kobench.families.base import EncodeSettings

    prepare_task(get_task("korquad"), write_raw("korquad", tmp_path / "raw"), tmp_path / "prepared")
    rows = load_split(tmp_path / "prepared", "test")
    tokenizer = AutoTokenizer.from_pretrained(tiny_models("bert"))
    settings = EncodeSettings(max_seq_len=48, doc_stride=8, max_query_len=8)
    whole = QA.encode(get_task("korquad"), rows, tokenizer, settings, train=False)
    monkeypatch.setattr("kobench.engine.features.CHUNK_ROWS", 3)
    assert len(rows) > 3 and encode_in_chunks(bind(get_task("korquad")), rows, tokenizer, settings, train=False) == whole
