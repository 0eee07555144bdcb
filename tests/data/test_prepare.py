"""Prepared splits: schema per family, carved validation, meta.json, atomic outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from kobench.data.prepare import prepare_task
from kobench.errors import DataError
from kobench.families import bind
from kobench.tasks import ALL_TASKS, get_task
from synthetic import write_raw


@pytest.mark.parametrize("spec", ALL_TASKS, ids=lambda s: s.name)
def test_prepare_writes_three_splits_with_family_schema(spec, tmp_path: Path) -> None:  # noqa: ANN001
    raw = write_raw(spec.name, tmp_path / "raw")
    meta = prepare_task(spec, raw, tmp_path / "out")
    for split in ("train", "validation", "test"):
        table = pq.read_table(tmp_path / "out" / f"{split}.parquet")
        assert table.schema.equals(bind(spec).family.schema) and table.num_rows == meta["splits"][split]["rows"]
    assert json.loads((tmp_path / "out" / "meta.json").read_text()) == meta
    assert meta["label_names"] == spec.label_names and meta["kobench_version"]


def test_carved_validation_is_seeded_stratified_and_disjoint(tmp_path: Path) -> None:
    spec = get_task("nsmc")
    raw = write_raw("nsmc", tmp_path / "raw", n=200)
    meta = prepare_task(spec, raw, tmp_path / "a", validation_fraction=0.1, split_seed=7)
    prepare_task(spec, raw, tmp_path / "b", validation_fraction=0.1, split_seed=7)
    train = pq.read_table(tmp_path / "a" / "train.parquet").to_pydict()
    val = pq.read_table(tmp_path / "a" / "validation.parquet").to_pydict()
    assert meta["splits"]["validation"]["label_counts"] == {"negative": 10, "positive": 10}
    assert not set(train["id"]) & set(val["id"]) and len(train["id"]) + len(val["id"]) == 200
    assert pq.read_table(tmp_path / "b" / "validation.parquet").to_pydict()["id"] == val["id"]
    assert "carved from train: fraction 0.1, seed 7, stratified by label" == meta["validation"]


def test_korquad_validation_holds_out_whole_articles(tmp_path: Path) -> None:
    raw = write_raw("korquad", tmp_path / "raw")
    prepare_task(get_task("korquad"), raw, tmp_path / "out", validation_fraction=0.25)
    titles = {s: set(pq.read_table(tmp_path / "out" / f"{s}.parquet")["title"].to_pylist()) for s in ("train", "validation")}
    assert titles["validation"] and not titles["train"] & titles["validation"]


def test_upstream_dev_is_validation_unchanged(tmp_path: Path) -> None:
    raw = write_raw("question-pair", tmp_path / "raw")
    meta = prepare_task(get_task("question-pair"), raw, tmp_path / "out")
    assert meta["validation"] == "upstream file validation.txt" and meta["splits"]["train"]["rows"] == 40


def test_splits_option_prepares_only_test_without_train_file(tmp_path: Path) -> None:
    raw = write_raw("naver-ner", tmp_path / "raw")
    (raw / "train.tsv").unlink()
    meta = prepare_task(get_task("naver-ner"), raw, tmp_path / "out", splits=("test",))
    assert list(meta["splits"]) == ["test"] and sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "meta.json",
        "test.parquet",
    ]


def test_missing_raw_file_names_its_url(tmp_path: Path) -> None:
    raw = write_raw("naver-ner", tmp_path / "raw")
    (raw / "train.tsv").unlink()
    with pytest.raises(DataError, match=r"train.tsv: missing; run `kobench fetch naver-ner`.*https://raw.githubusercontent.com/monologg"):
        prepare_task(get_task("naver-ner"), raw, tmp_path / "out")


def test_malformed_row_leaves_no_partial_output(tmp_path: Path) -> None:
    raw = write_raw("korsts", tmp_path / "raw")
    with open(raw / "sts-test.tsv", "a", encoding="utf-8") as handle:
        handle.write("\nmain-news\tx\t2015\t9\tnot-a-number\ta\tb")
    with pytest.raises(DataError, match=r"sts-test.tsv:42: non-numeric score"):
        prepare_task(get_task("korsts"), raw, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_empty_split_fails(tmp_path: Path) -> None:
    raw = write_raw("nsmc", tmp_path / "raw")
    (raw / "ratings_test.txt").write_text("id\tdocument\tlabel\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"ratings_test.txt: split 'test' is empty"):
        prepare_task(get_task("nsmc"), raw, tmp_path / "out")
