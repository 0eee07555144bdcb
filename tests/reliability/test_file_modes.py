"""Outputs follow the umask (0644 under 022) although they are written to a temporary file and renamed."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import yaml

from synthetic import write_raw


def _kobench(*args: str, cwd: Path, umask: int) -> None:
    result = subprocess.run([sys.executable, "-m", "kobench.cli", *args], cwd=cwd, capture_output=True, text=True,
                            env=dict(os.environ), timeout=300, umask=umask)
    assert result.returncode == 0, result.stderr


def test_atomic_writes_follow_a_strict_umask_too(tmp_path: Path) -> None:
    from kobench.atomic import write_text

    old = os.umask(0o077)
    try:
        write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o600


def test_prepared_data_run_outputs_and_reports_follow_the_umask(tmp_path: Path, tiny_models) -> None:  # noqa: ANN001
    umask, mode = 0o022, 0o644
    params = {"models": {"tiny": {"id": str(tiny_models("bert")), "size": "small", "local_only": True}},
              "run": {"tasks": ["nsmc"], "models": ["tiny"]}, "report": {"plots": False},
              "tracking": {"mlflow_uri": f"sqlite:///{tmp_path}/mlflow.db"}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    write_raw("nsmc", tmp_path / "data" / "raw" / "nsmc")
    _kobench("prepare", "nsmc", cwd=tmp_path, umask=umask)
    _kobench("train", "--no-track", "--task", "nsmc", "--model", "tiny",
             "--epochs", "1", "--max-seq-len", "32", "--run-name", "r",
             cwd=tmp_path, umask=umask)
    _kobench("report", cwd=tmp_path, umask=umask)
    run = tmp_path / "outputs" / "nsmc" / "tiny" / "r"
    prepared = tmp_path / "data" / "prepared" / "nsmc"
    files = [prepared / "train.parquet", prepared / "meta.json",
             run / "metrics.json", run / "predictions-test.jsonl", run / "checkpoint" / "model.safetensors",
             tmp_path / "reports" / "results.md", tmp_path / "reports" / "index.html"]
    assert {f.name: oct(stat.S_IMODE(f.stat().st_mode)) for f in files} == {f.name: oct(mode) for f in files}


def test_a_tiny_model_follows_the_umask_and_models_is_ignored_by_git(tmp_path: Path) -> None:
    _kobench("tiny-model", "--out", "models/tiny", cwd=tmp_path, umask=0o022)
    files = sorted((tmp_path / "models" / "tiny").iterdir())
    assert "model.safetensors" in [f.name for f in files]
    assert {f.name: oct(stat.S_IMODE(f.stat().st_mode)) for f in files} == {f.name: oct(0o644) for f in files}
    root = Path(__file__).resolve().parents[2]
    ignored = subprocess.run(["git", "check-ignore", "-q", "models/tiny/model.safetensors"], cwd=root)
    assert ignored.returncode == 0  # a built model never lands in a commit
