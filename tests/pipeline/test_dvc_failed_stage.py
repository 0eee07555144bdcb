"""A tune stage that cannot run fails `dvc repro` instead of being recorded as done; fixing the cause and
running `dvc repro` again trains it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dvc_project import make_project, run
from synthetic import write_raw


def test_a_failed_tune_stage_is_not_recorded_and_reruns_once_fixed(tmp_path: Path, tiny_models) -> None:  # noqa: ANN001
    model_dir = tmp_path / "encoder"  # not there yet: the model is unreachable
    project = make_project(
        tmp_path,
        {
            "run": {"tasks": ["hate-speech"], "models": ["tiny"]},
            "models": {"tiny": {"id": str(model_dir), "display": "Tiny", "size": "small", "local_only": True}},
            "data": {"mirror": None, "splits": {}, "max_train_samples": 80, "max_eval_samples": 60},
            "train": {"batch_size": 16, "eval_batch_size": 64, "max_seq_len": 32},
            "tune": {"n_trials": 1,
                     "search_space": {"lr": {"low": 1.0e-3, "high": 2.0e-3}, "epochs": {"low": 1, "high": 1}}},
        },
    )
    write_raw("hate-speech", project / "data" / "raw" / "hate-speech")
    run(["dvc", "commit", "-f", "fetch@hate-speech"], project)
    with pytest.raises(AssertionError) as failed:
        run(["dvc", "repro"], project)
    assert "model 'tiny': local directory" in str(failed.value)
    assert not (project / "metrics" / "hate-speech" / "tiny.json").exists()

    shutil.copytree(tiny_models("bert"), model_dir)
    fixed = run(["dvc", "repro"], project)
    assert "Running stage 'tune@hate-speech-tiny'" in fixed.stdout and "Running stage 'report'" in fixed.stdout
    assert json.loads((project / "metrics" / "hate-speech" / "tiny.study.json").read_text())["status"] == "complete"
    assert (project / "reports" / "plots").is_dir()
