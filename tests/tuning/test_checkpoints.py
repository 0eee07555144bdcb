"""Checkpoints on disk during a study: beaten ones deleted as trials end, the best one pinned while in use."""

from __future__ import annotations

from pathlib import Path

import optuna

from kobench.names import StudyPaths
from kobench.tasks import get_task
from kobench.tuning.context import StudyContext
from kobench.tuning.registry import pin_checkpoint
from kobench.tuning.study import Objective


def test_a_trial_deletes_the_checkpoints_it_beats_and_its_own_when_beaten(tmp_path) -> None:  # noqa: ANN001
    study = optuna.create_study(direction="maximize")
    for number, value in enumerate([0.70, 0.80, 0.80]):
        study.add_trial(optuna.trial.create_trial(value=value, params={}, distributions={}))
        (tmp_path / "trials" / f"trial-{number}" / "checkpoint").mkdir(parents=True)
    paths = StudyPaths(prepared=tmp_path, features=None, outputs=tmp_path, metrics_file=tmp_path / "m.json")
    objective = Objective(StudyContext(get_task("nsmc"), None, None, None, paths, None), None)  # accuracy: higher wins
    kept = lambda: sorted(p.parent.name for p in (tmp_path / "trials").glob("*/checkpoint"))  # noqa: E731

    worse = study.ask()  # trial 3 finishes below the best (0.80): its own goes, and trial 0's; the tie stays
    (tmp_path / "trials" / "trial-3" / "checkpoint").mkdir(parents=True)
    objective._drop_beaten_checkpoints(worse, 0.75)
    assert kept() == ["trial-1", "trial-2"]
    study.tell(worse, 0.75)

    better = study.ask()  # trial 4 beats everyone: every other checkpoint goes
    (tmp_path / "trials" / "trial-4" / "checkpoint").mkdir(parents=True)
    objective._drop_beaten_checkpoints(better, 0.90)
    assert kept() == ["trial-4"]


def test_a_pinned_checkpoint_survives_the_deletion_of_the_trial_folder(tmp_path: Path, tiny_models) -> None:  # noqa: ANN001
    import shutil

    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    source = tmp_path / "trials" / "trial-0" / "checkpoint"
    shutil.copytree(tiny_models("bert"), source)
    assert pin_checkpoint(source, tmp_path / "pinned")
    assert (tmp_path / "pinned" / "model.safetensors").stat().st_ino == (source / "model.safetensors").stat().st_ino
    shutil.rmtree(source)  # a better trial of another worker deletes it mid-finalize
    assert AutoModelForSequenceClassification.from_pretrained(tmp_path / "pinned", num_labels=2).num_labels == 2
    assert AutoTokenizer.from_pretrained(tmp_path / "pinned")("안녕")["input_ids"]


def test_a_missing_or_half_deleted_checkpoint_is_not_pinned(tmp_path: Path) -> None:
    assert not pin_checkpoint(tmp_path / "gone", tmp_path / "pin-a")
    half = tmp_path / "half"
    half.mkdir()
    (half / "config.json").write_text("{}")  # model.safetensors already deleted
    assert not pin_checkpoint(half, tmp_path / "pin-b")
    assert not (tmp_path / "pin-a").exists() and not (tmp_path / "pin-b").exists()
