"""`kobench score`: predictions files checked id by id and scored with the training metric code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kobench.engine.scoring import score_file
from kobench.errors import DataError
from kobench.tasks import get_task


def _write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def test_label_names_and_indices_both_score(prepared, tmp_path: Path) -> None:  # noqa: ANN001
    import pyarrow.parquet as pq

    directory = prepared("hate-speech")
    gold = pq.read_table(directory / "test.parquet").to_pylist()
    names = ["none", "offensive", "hate"]
    records = [{"id": r["id"], "prediction": names[r["label"]] if i % 2 else r["label"]} for i, r in enumerate(gold)]
    metrics = score_file(get_task("hate-speech"), directory, _write(tmp_path / "p.jsonl", records))
    assert metrics["macro_f1"] == 1.0 and metrics["rows"] == 45


def test_missing_duplicate_and_unknown_ids_are_counted(prepared, tmp_path: Path) -> None:  # noqa: ANN001
    directory = prepared("korsts")
    records = [{"id": f"sts-test-{i}", "prediction": 1.0} for i in range(2, 40)]
    records += [{"id": "sts-test-2", "prediction": 2.0}, {"id": "nope", "prediction": 1.0}]
    with pytest.raises(DataError) as info:
        score_file(get_task("korsts"), directory, _write(tmp_path / "p.jsonl", records))
    message = str(info.value)
    assert "1 duplicate id(s), e.g. sts-test-2" in message and "2 missing id(s), e.g. sts-test-40, sts-test-41" in message
    assert "1 unknown id(s), e.g. nope" in message


def test_malformed_line_names_file_and_line(prepared, tmp_path: Path) -> None:  # noqa: ANN001
    directory = prepared("nsmc")
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "1", "prediction": "positive"}\n{"id": "2", "prediction": "maybe"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"p.jsonl:2: bad prediction \(ValueError: unknown label 'maybe'"):
        score_file(get_task("nsmc"), directory, path)


def test_ner_tag_count_must_match_eojeols(prepared, tmp_path: Path) -> None:  # noqa: ANN001
    import pyarrow.parquet as pq

    directory = prepared("naver-ner")
    gold = pq.read_table(directory / "test.parquet").to_pylist()
    records = [{"id": r["id"], "prediction": r["tags"]} for r in gold]
    assert score_file(get_task("naver-ner"), directory, _write(tmp_path / "ok.jsonl", records))["entity_f1"] == 1.0
    records[0]["prediction"] = records[0]["prediction"][:-1]
    with pytest.raises(DataError, match=r"tags for .* eojeols"):
        score_file(get_task("naver-ner"), directory, _write(tmp_path / "bad.jsonl", records))
