"""Corrupt input at every stage: one line naming the file, line or key, exit code 2, no partial outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from synthetic import write_raw


def _kobench(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kobench.cli", *args], cwd=project, capture_output=True, text=True,
                          env=os.environ.copy(), timeout=300)


def _assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    assert result.returncode == 2, result.stderr
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert lines[-1].startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[-1], lines[-1]
    return lines[-1]


def _append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)


# (task, file to corrupt, text appended, expected fragments) - one malformed row per family
MALFORMED = [
    ("nsmc", "ratings_test.txt", "999\tonly two fields\n", ["ratings_test.txt:42:", "expected 3 fields"]),
    ("kornli", "xnli.test.ko.tsv", "a\tb\tunsure\n", ["xnli.test.ko.tsv:47:", "unknown label 'unsure'"]),
    ("korsts", "sts-test.tsv", "\nmain\tf\t2015\t1\tabc\ta\tb", ["sts-test.tsv:42:", "non-numeric score 'abc'"]),
    ("naver-ner", "test.tsv", "가 나 다\tO O\n", ["test.tsv:32:", "3 eojeols but 2 tags"]),
    ("hate-speech", "dev.tsv", '"unclosed\tFalse\tnone\tnone\n', ["dev.tsv:", "CSV error"]),
]


@pytest.mark.parametrize(("task", "name", "text", "fragments"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_raw_row(task: str, name: str, text: str, fragments: list[str], tmp_path: Path) -> None:
    raw = write_raw(task, tmp_path / "data" / "raw" / task)
    _append(raw / name, text)
    _assert_one_line_error(_kobench(tmp_path, "prepare", task), *fragments)
    assert not (tmp_path / "data" / "prepared" / task).exists() or not any((tmp_path / "data" / "prepared" / task).iterdir())


def test_korquad_answer_off_its_offset(tmp_path: Path) -> None:
    raw = write_raw("korquad", tmp_path / "data" / "raw" / "korquad")
    data = json.loads((raw / "KorQuAD_v1.0_dev.json").read_text())
    data["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] += 1
    (raw / "KorQuAD_v1.0_dev.json").write_text(json.dumps(data))
    _assert_one_line_error(_kobench(tmp_path, "prepare", "korquad"), "KorQuAD_v1.0_dev.json: question dev-0-0-0")


def test_empty_split(tmp_path: Path) -> None:
    raw = write_raw("question-pair", tmp_path / "data" / "raw" / "question-pair")
    (raw / "test.txt").write_text("question1\tquestion2\tis_duplicate\n", encoding="utf-8")
    _assert_one_line_error(_kobench(tmp_path, "prepare", "question-pair"), "test.txt: split 'test' is empty")
    assert not (tmp_path / "data" / "prepared" / "question-pair").exists()


def test_prepared_parquet_with_a_missing_column(tmp_path: Path, tiny_models) -> None:  # noqa: ANN001
    write_raw("nsmc", tmp_path / "data" / "raw" / "nsmc")
    assert _kobench(tmp_path, "prepare", "nsmc").returncode == 0
    path = tmp_path / "data" / "prepared" / "nsmc" / "validation.parquet"
    pq.write_table(pq.read_table(path).drop_columns(["label"]), path)
    result = _kobench(tmp_path, "train", "--task", "nsmc", "--model", str(tiny_models("bert")), "--epochs", "1")
    _assert_one_line_error(result, "validation.parquet: missing column(s) label")
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ("train: {batch_size: big}", "key 'train.batch_size': Input should be a valid integer"),
        ("train: {learning_rate: 0.1}", "unknown key 'train.learning_rate'; allowed: batch_size"),
        ("run: {tasks: [nsmcc]}", "unknown task 'nsmcc' (did you mean 'nsmc'?) at run.tasks[0]"),
        ("run: {models: [kobertt]}", "unknown model 'kobertt' at run.models[0]; allowed: (none defined)"),
    ],
)
def test_bad_params(params: str, fragment: str, tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text(params, encoding="utf-8")
    write_raw("nsmc", tmp_path / "data" / "raw" / "nsmc")
    _assert_one_line_error(_kobench(tmp_path, "prepare", "nsmc"), "params.yaml: ", fragment)
    assert not (tmp_path / "data" / "prepared").exists()


def test_predictions_with_missing_duplicate_and_unknown_ids(tmp_path: Path) -> None:
    write_raw("nsmc", tmp_path / "data" / "raw" / "nsmc")
    assert _kobench(tmp_path, "prepare", "nsmc").returncode == 0
    ids = pq.read_table(tmp_path / "data" / "prepared" / "nsmc" / "test.parquet")["id"].to_pylist()
    lines = [{"id": i, "prediction": "positive"} for i in ids[:-2]]
    lines += [{"id": ids[0], "prediction": 0}, {"id": "x", "prediction": 1}]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    _assert_one_line_error(_kobench(tmp_path, "score", "nsmc", "--predictions", "p.jsonl"),
                           "p.jsonl: 1 duplicate id(s)", "2 missing id(s)", "1 unknown id(s), e.g. x")
