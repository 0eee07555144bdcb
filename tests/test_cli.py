"""The command line: fast --help without torch, one-line errors, fetch and prepare end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from synthetic import write_raw

ROOT = Path(__file__).resolve().parents[1]


def _kobench(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kobench.cli", *args], cwd=cwd, capture_output=True, text=True,
        env={**os.environ, **(env or {})}, timeout=300,
    )


def test_help_lists_commands_without_importing_torch(tmp_path: Path) -> None:
    code = (
        "import sys; sys.argv=['kobench','--help']\nfrom kobench.cli import main\ntry: main()\n"
        "except SystemExit: pass\nprint('torch' in sys.modules, 'pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path).stdout
    assert "fetch" in out and "prepare" in out and out.strip().endswith("False False")


def test_unknown_task_is_one_line_with_suggestion(tmp_path: Path) -> None:
    result = _kobench("prepare", "nsmcc", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: unknown task 'nsmcc' (did you mean 'nsmc'?); allowed: nsmc, naver-ner, paws, kornli, korsts, "
        "question-pair, korquad, hate-speech"
    )


def test_fetch_from_env_mirror_then_prepare(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    write_raw("question-pair", mirror / "question-pair")
    # synthetic files do not match the pinned hashes: the mirror copy must be refused by name
    result = _kobench("fetch", "question-pair", cwd=tmp_path, env={"KOBENCH_MIRROR": str(mirror)})
    assert result.returncode == 2 and "train.txt: no verified copy in mirror" in result.stderr
    assert not (tmp_path / "data" / "raw" / "question-pair" / "train.txt").exists()
    write_raw("question-pair", tmp_path / "data" / "raw" / "question-pair")
    result = _kobench("prepare", "question-pair", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "train 40, validation 40, test 40" in result.stdout


def test_offline_without_mirror_names_url(tmp_path: Path) -> None:
    env = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "no_proxy": ""}
    result = _kobench("fetch", "korsts", "--splits", "test", cwd=tmp_path, env=env)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) <= 4
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: could not download https://raw.githubusercontent.com/kakaobrain/") and "--mirror" in last


def test_tiny_model_train_score_from_the_command_line(tmp_path: Path) -> None:
    write_raw("korsts", tmp_path / "data" / "raw" / "korsts")
    assert _kobench("prepare", "korsts", cwd=tmp_path).returncode == 0
    made = _kobench("tiny-model", "--out", "models/tiny", "--corpus", "korsts", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    trained = _kobench(
        "train", "--task", "korsts", "--model", "models/tiny", "--epochs", "1", "--lr", "1e-3", "--run-name", "r1",
        "--no-track",
        cwd=tmp_path,
    )
    assert trained.returncode == 0, trained.stderr
    run = tmp_path / "outputs" / "korsts" / "tiny" / "r1"
    import json

    reported = json.loads((run / "metrics.json").read_text())["test"]["spearman"]
    scored = _kobench("score", "korsts", "--predictions", str(run / "predictions-test.jsonl"), cwd=tmp_path)
    assert scored.returncode == 0 and json.loads(scored.stdout)["spearman"] == reported


def test_unreachable_hub_model_is_one_line(tmp_path: Path) -> None:
    from kobench.data.prepare import prepare_task
    from kobench.tasks import get_task

    write_raw("nsmc", tmp_path / "data" / "raw" / "nsmc")  # prepared in this process: one start fewer
    prepare_task(get_task("nsmc"), tmp_path / "data" / "raw" / "nsmc", tmp_path / "data" / "prepared" / "nsmc")
    result = _kobench("train", "--task", "nsmc", "--model", "org/not-cached", "--epochs", "1", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.strip().splitlines()[-1].startswith("error: model 'org/not-cached'")
    assert "Traceback" not in result.stderr
