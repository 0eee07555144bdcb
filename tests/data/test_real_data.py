"""Every task prepared from the real upstream mirror: exact row counts and label distributions."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from kobench.data.fetch import fetch_task
from kobench.data.prepare import prepare_task
from kobench.tasks import get_task

# split -> (rows, label distribution or None); only splits whose files the mirror holds
EXPECTED = {
    "nsmc": {
        "train": (135_000, {"negative": 67_656, "positive": 67_344}),
        "validation": (15_000, {"negative": 7_517, "positive": 7_483}),
        "test": (50_000, {"negative": 24_827, "positive": 25_173}),
    },
    "naver-ner": {"test": (9_000, None)},
    "paws": {
        "validation": (2_000, {"not_paraphrase": 1_160, "paraphrase": 840}),
        "test": (2_000, {"not_paraphrase": 1_104, "paraphrase": 896}),
    },
    "kornli": {
        "validation": (2_490, {"contradiction": 830, "entailment": 830, "neutral": 830}),
        "test": (5_010, {"contradiction": 1_670, "entailment": 1_670, "neutral": 1_670}),
    },
    "korsts": {"train": (5_749, None), "validation": (1_500, None), "test": (1_379, None)},
    "question-pair": {
        "train": (6_136, {"same": 4_169, "different": 1_967}),
        "validation": (682, {"same": 432, "different": 250}),
        "test": (758, {"same": 508, "different": 250}),
    },
    "korquad": {"test": (5_774, None)},
    "hate-speech": {
        "train": (7_106, {"none": 3_137, "offensive": 2_249, "hate": 1_720}),
        "validation": (790, {"none": 349, "offensive": 250, "hate": 191}),
        "test": (471, {"none": 160, "offensive": 189, "hate": 122}),
    },
}


@pytest.mark.parametrize("task", list(EXPECTED))
def test_real_task_prepares_with_exact_counts(task: str, tmp_path: Path, mirror: Path) -> None:
    spec, splits = get_task(task), tuple(EXPECTED[task])
    fetch_task(spec, tmp_path / "raw", mirror=mirror, splits=splits)
    meta = prepare_task(spec, tmp_path / "raw", tmp_path / "out", splits=splits)
    for split, (rows, labels) in EXPECTED[task].items():
        assert meta["splits"][split]["rows"] == rows
        assert meta["splits"][split].get("label_counts") == labels


def test_real_nsmc_empty_documents_and_quotes_survive(tmp_path: Path, mirror: Path) -> None:
    spec = get_task("nsmc")
    fetch_task(spec, tmp_path / "raw", mirror=mirror, splits=("test",))
    prepare_task(spec, tmp_path / "raw", tmp_path / "out", splits=("test",))
    texts = pq.read_table(tmp_path / "out" / "test.parquet")["text"].to_pylist()
    assert texts.count("") == 3 and sum('"' in t for t in texts) == 233


def test_real_naver_ner_tag_counts(tmp_path: Path, mirror: Path) -> None:
    spec = get_task("naver-ner")
    fetch_task(spec, tmp_path / "raw", mirror=mirror, splits=("test",))
    prepare_task(spec, tmp_path / "raw", tmp_path / "out", splits=("test",))
    tags = Counter(t for row in pq.read_table(tmp_path / "out" / "test.parquet")["tags"].to_pylist() for t in row)
    assert sum(tags.values()) == 106_896 and tags["O"] == 73_168 and tags["B-CVL"] == 5_763 and tags["B-PER"] == 4_430
