"""Parsing synthetic upstream files: every quirk yields exactly the expected rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from kobench.data.readers import read_delimited, read_rows
from kobench.errors import DataError
from kobench.tasks import ALL_TASKS, get_task
from synthetic import write_raw


def _rows(task: str, tmp_path: Path, split: str = "test") -> list[dict]:
    spec = get_task(task)
    write_raw(task, tmp_path)
    return read_rows(spec, tmp_path / spec.source_for(split).name, split)


def test_nsmc_keeps_empty_document_and_literal_quotes(tmp_path: Path) -> None:
    rows = _rows("nsmc", tmp_path)
    assert len(rows) == 40
    assert rows[0] == {"id": "10000", "text": "", "text_pair": None, "label": 0}
    assert rows[1]["text"] == '"""최고 영화 좋다"""'


def test_paws_splits_on_newline_only_and_skips_empty_side_in_train_only(tmp_path: Path) -> None:
    test = _rows("paws", tmp_path, "test")
    assert len(test) == 40 and test[0]["text"] == "앞 문장\x1c 뒤 문장" and test[1]["text_pair"] == "NS"
    train = _rows("paws", tmp_path, "train")
    assert len(train) == 39 and "3" not in {r["id"] for r in train}


def test_question_pair_bom_crlf_and_reversed_labels(tmp_path: Path) -> None:
    rows = _rows("question-pair", tmp_path, "train")
    assert len(rows) == 40
    assert not rows[0]["text"].startswith("\ufeff") and not str(rows[0]["label"]).endswith("\r")
    assert get_task("question-pair").label_names == ["same", "different"]
    same = [r for r in rows if r["text"] == r["text_pair"]]
    assert same and all(r["label"] == 0 for r in same)


def test_korsts_ids_are_line_based_and_last_line_without_newline_is_read(tmp_path: Path) -> None:
    rows = _rows("korsts", tmp_path)
    assert len(rows) == 40 and rows[0]["id"] == "sts-test-2" and rows[-1]["id"] == "sts-test-41"
    assert isinstance(rows[0]["label"], float)


def test_naver_ner_converts_suffix_tags_to_prefix_bio(tmp_path: Path) -> None:
    rows = _rows("naver-ner", tmp_path)
    assert len(rows) == 31 and rows[-1] == {"id": "test-31", "tokens": ['"인용"한', "말"], "tags": ["O", "O"]}
    assert {t for r in rows for t in r["tags"]} <= {"O", "B-PER", "B-DAT", "B-LOC", "I-LOC"}


def test_hate_speech_undoes_csv_quoting(tmp_path: Path) -> None:
    rows = _rows("hate-speech", tmp_path)
    assert rows[0]["text"] == '꺄"~~ 최고 좋다 훈훈합니다^^' and rows[0]["label"] == 0
    assert len(rows) == 45 and {r["label"] for r in rows} == {0, 1, 2}


def test_korquad_reads_nested_json_with_answers(tmp_path: Path) -> None:
    rows = _rows("korquad", tmp_path)
    assert len(rows) == 24
    row = rows[0]
    start = row["answers"]["answer_start"][0]
    assert row["context"][start : start + len(row["answers"]["text"][0])] == row["answers"]["text"][0]


@pytest.mark.parametrize("spec", ALL_TASKS, ids=lambda s: s.name)
def test_every_task_parses_its_synthetic_files(spec, tmp_path: Path) -> None:  # noqa: ANN001
    write_raw(spec.name, tmp_path)
    for split, name in spec.splits:
        rows = read_rows(spec, tmp_path / name, split)
        assert rows and len({r["id"] for r in rows}) == len(rows)


def _bad(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_wrong_field_count_names_file_and_line(tmp_path: Path) -> None:
    path = _bad(tmp_path, "ratings_test.txt", "id\tdocument\tlabel\n1\tok\t1\n2\tbroken\n")
    with pytest.raises(DataError, match=r"ratings_test.txt:3: expected 3 fields"):
        read_rows(get_task("nsmc"), path, "test")


def test_unknown_label_names_allowed_values(tmp_path: Path) -> None:
    path = _bad(tmp_path, "xnli.test.ko.tsv", "sentence1\tsentence2\tgold_label\na\tb\tmaybe\n")
    with pytest.raises(DataError, match=r"xnli.test.ko.tsv:2: unknown label 'maybe'.*contradiction"):
        read_rows(get_task("kornli"), path, "test")


def test_non_numeric_score_fails(tmp_path: Path) -> None:
    header = "genre\tfilename\tyear\tid\tscore\tsentence1\tsentence2\n"
    path = _bad(tmp_path, "sts-test.tsv", header + "g\tf\ty\t1\tfive\ta\tb\n")
    with pytest.raises(DataError, match=r"sts-test.tsv:2: non-numeric score 'five'"):
        read_rows(get_task("korsts"), path, "test")


def test_tag_count_mismatch_fails(tmp_path: Path) -> None:
    path = _bad(tmp_path, "test.tsv", "가 나\tO O\n가 나 다\tO PER-B\n")
    with pytest.raises(DataError, match=r"test.tsv:2: 3 eojeols but 2 tags"):
        read_rows(get_task("naver-ner"), path, "test")


def test_unknown_tag_fails(tmp_path: Path) -> None:
    path = _bad(tmp_path, "test.tsv", "가 나\tO XYZ-B\n")
    with pytest.raises(DataError, match=r"test.tsv:1: unknown tag 'XYZ-B'"):
        read_rows(get_task("naver-ner"), path, "test")


def test_answer_not_at_offset_fails(tmp_path: Path) -> None:
    qa = {"answers": [{"text": "서울", "answer_start": 3}], "id": "q1", "question": "어디?"}
    text = '{"data": [{"title": "t", "paragraphs": [{"context": "서울에서", "qas": [%s]}]}]}'
    import json

    path = _bad(tmp_path, "KorQuAD_v1.0_dev.json", text % json.dumps(qa))
    with pytest.raises(DataError, match=r"question q1: answer '서울' not found at offset 3"):
        read_rows(get_task("korquad"), path, "test")


def test_missing_column_names_header(tmp_path: Path) -> None:
    path = _bad(tmp_path, "ratings_test.txt", "id\ttext\tlabel\n1\tok\t1\n")
    with pytest.raises(DataError, match=r"missing column 'document'"):
        read_rows(get_task("nsmc"), path, "test")


def test_csv_reader_reports_line_of_each_record(tmp_path: Path) -> None:
    path = _bad(tmp_path, "x.tsv", 'a\tb\n"multi\nline"\t1\nplain\t2\n')
    records = list(read_delimited(path, quoting="csv"))
    assert [line for line, _ in records] == [2, 4] and records[0][1]["a"] == "multi\nline"
