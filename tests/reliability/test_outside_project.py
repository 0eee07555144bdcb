"""Commands run outside a project (or before anything was tracked) say so in one line and create nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def kobench(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kobench.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env=os.environ.copy(), timeout=120)


@pytest.mark.parametrize("project", [False, True], ids=["no-project", "project-before-any-study"])
def test_reading_commands_name_the_missing_store_and_create_nothing(tmp_path: Path, project: bool) -> None:
    if project:
        (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "in.jsonl").write_text('{"id": 0, "text": "좋다"}\n', encoding="utf-8")
    before = sorted(p.name for p in tmp_path.iterdir())
    store = tmp_path / "mlflow.db"
    # both commands read through one check (cli._stored_tracking_uri): one of them per case keeps the test short
    args = (("predict", "--task", "nsmc", "--model-uri", "models:/kobench-nsmc-tiny@champion", "--input", "in.jsonl")
            if project else ("compare", "--task", "nsmc", "models:/kobench-nsmc-tiny@champion", "b.jsonl"))
    result = kobench(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [f"error: no MLflow store at {store}: nothing has been tracked here"
                     + ("" if project else "; no params.yaml here either: run from the project root")
                     + " (or set MLFLOW_TRACKING_URI to the tracking server)"], lines
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no store, no lock file


def test_training_outside_a_project_says_no_params_were_read(tmp_path: Path) -> None:
    result = kobench("train", "--task", "nsmc", "--model", "tiny", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().endswith("catalogue: (empty: no params.yaml read; run from the project root)")
    assert list(tmp_path.iterdir()) == []
