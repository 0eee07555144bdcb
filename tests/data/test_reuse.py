"""Within a study's trials the same prepared rows, digest, cached features and tokenizer are read once; nowhere else."""

from __future__ import annotations

from pathlib import Path

import pytest

from kobench import reuse
from kobench.data import splits
from kobench.data.prepare import prepare_task
from kobench.engine import features as features_module
from kobench.families import bind
from kobench.families.base import EncodeSettings
from kobench.tasks import get_task


@pytest.fixture
def nsmc(prepared) -> Path:  # noqa: ANN001
    return prepared("nsmc", n=60)


def _count_reads(monkeypatch: pytest.MonkeyPatch, between_trials: list[str] | None = None) -> list[Path]:
    """Every read of a prepared file from now on; the names of those inside ``between_trials`` also there."""
    reads: list[Path] = []
    read_rows = splits._read_rows

    def counted(path: Path, *args: object) -> list:
        reads.append(path)
        if between_trials is not None and reuse._memo is not None:
            between_trials.append(path.name)
        return read_rows(path, *args)

    monkeypatch.setattr(splits, "_read_rows", counted)
    return reads


def test_rows_are_read_once_between_trials_and_each_caller_gets_its_own(nsmc: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads = _count_reads(monkeypatch)
    with reuse.between_trials():
        first = splits.load_split(nsmc, "train", max_rows=20, seed=3)
        first[0]["text"] = "changed by the first trial"
        first.append({"id": "added"})
        second = splits.load_split(nsmc, "train", max_rows=20, seed=3)
        other_draw = splits.load_split(nsmc, "train", max_rows=20, seed=4)
    assert len(reads) == 2  # one read per (file, subsample, seed)
    assert len(second) == 20 and second[0]["text"] != "changed by the first trial"
    assert second == splits.load_split(nsmc, "train", max_rows=20, seed=3)  # what a fresh read gives
    assert other_draw != second
    assert len(reads) == 3 and reuse._memo is None  # outside a study every call reads the file


def test_a_file_replaced_between_trials_is_read_again(nsmc: Path, tmp_path: Path) -> None:
    from synthetic import write_raw

    with reuse.between_trials():
        before = splits.load_split(nsmc, "test")
        digest = splits.prepared_digest(nsmc)
        assert splits.prepared_digest(nsmc) == digest
        # `kobench prepare` again, from other raw rows: same file names, other content
        prepare_task(get_task("nsmc"), write_raw("nsmc", tmp_path / "raw2", n=50, seed=9), nsmc)
        after = splits.load_split(nsmc, "test")
        assert after != before and splits.prepared_digest(nsmc) != digest
    assert splits.prepared_digest(nsmc) == splits.prepared_digest(nsmc)


def test_cached_features_are_read_once_between_trials(
    nsmc: Path,
    tmp_path: Path,
    tiny_models,
    monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> None:
    from transformers import AutoTokenizer

    task, settings = bind(get_task("nsmc")), EncodeSettings(max_seq_len=32)
    tokenizer = AutoTokenizer.from_pretrained(tiny_models("bert"))
    rows = splits.load_split(nsmc, "train")
    cache = tmp_path / "features"
    encoded = features_module.load_features(task, rows, tokenizer, settings, train=True, cache_dir=cache)  # writes
    reads = []
    read_table = features_module.pq.read_table
    monkeypatch.setattr(features_module.pq, "read_table", lambda path: reads.append(path) or read_table(path))
    with reuse.between_trials():
        first = features_module.load_features(task, rows, tokenizer, settings, train=True, cache_dir=cache)
        first["input_ids"].clear()
        second = features_module.load_features(task, rows, tokenizer, settings, train=True, cache_dir=cache)
    assert len(reads) == 1 and second == encoded


def test_a_study_reads_its_rows_once_and_holds_nothing_after(study_setup, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    from kobench.tuning.context import StudyContext
    from kobench.tuning.study import run_study

    in_trials: list[str] = []
    reads = _count_reads(monkeypatch, in_trials)
    fingerprinted: list[int] = []
    fingerprint = features_module.tokenizer_fingerprint

    def counted(tokenizer: object) -> str:
        if reuse._memo is not None:
            fingerprinted.append(id(tokenizer))
        return fingerprint(tokenizer)

    monkeypatch.setattr(features_module, "tokenizer_fingerprint", counted)
    setup = study_setup
    context = StudyContext(setup["spec"], setup["ref"], setup["params"], setup["base"], setup["paths"], setup["tracker"])
    result = run_study(context, n_trials=3, storage_url=setup["storage"])
    assert result.status == "complete"
    assert sorted(in_trials) == ["train.parquet", "validation.parquet"]  # once for the three trials
    assert len(fingerprinted) == 1  # one tokenizer for the three trials: its cache-key part computed once
    assert len(reads) > len(in_trials)  # the checks before and the final step after the trials read as before
    assert reuse._memo is None
