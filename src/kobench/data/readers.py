"""Raw upstream files -> prepared rows: one reader per file format; the task's family builds each row."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kobench.errors import DataError
from kobench.families import bind
from kobench.families.base import Origin
from kobench.interrupts import check as check_interrupted
from kobench.tasks.spec import TaskSpec

Record = tuple[int | None, dict[str, Any]]


def _decode(path: Path) -> str:
    try:
        # utf-8-sig drops a BOM (question-pair .csv forms start with one)
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not UTF-8 (byte {exc.start})") from None


def read_delimited(path: Path, *, quoting: str = "none", delimiter: str = "\t") -> Iterator[Record]:
    r"""Yield ``(line, {column: value})`` for a delimited file with a header row.

    ``quoting="none"`` splits on ``\\n`` only (never ``str.splitlines``: paws has ``\\x1c`` inside rows)
    and keeps quote characters literally; ``quoting="csv"`` applies real CSV quoting (hate-speech).
    """
    text = _decode(path)
    if quoting == "csv":
        yield from _read_csv(path, text, delimiter)
        return
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # final newline (absent in sts-dev/test)
    if not lines:
        raise DataError(path, "empty file, expected a header line")
    header = lines[0].rstrip("\r").split(delimiter)
    for number, line in enumerate(lines[1:], start=2):
        fields = line.rstrip("\r").split(delimiter)
        if len(fields) != len(header):
            raise DataError(path, f"expected {len(header)} fields ({', '.join(header)}), found {len(fields)}", number)
        yield number, dict(zip(header, fields))


def _read_csv(path: Path, text: str, delimiter: str) -> Iterator[Record]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
        start = reader.line_num + 1
        for fields in reader:
            if len(fields) != len(header):
                raise DataError(path, f"expected {len(header)} fields ({', '.join(header)}), found {len(fields)}", start)
            yield start, dict(zip(header, fields))
            start = reader.line_num + 1
    except StopIteration:
        raise DataError(path, "empty file, expected a header line") from None
    except csv.Error as exc:
        raise DataError(path, f"CSV error: {exc}", reader.line_num) from None


def read_koelectra_ner(path: Path) -> Iterator[Record]:
    """Yield ``(line, {"tokens", "tags"})``: one sentence a line, eojeols TAB tags, each space-joined."""
    for number, line in enumerate(_decode(path).split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2:
            raise DataError(path, f"expected 'eojeols<TAB>tags', found {len(parts)} tab-separated fields", number)
        tokens = [t for t in parts[0].split(" ") if t]
        tags = [t for t in parts[1].split(" ") if t]
        if len(tokens) != len(tags):
            raise DataError(path, f"{len(tokens)} eojeols but {len(tags)} tags", number)
        yield number, {"tokens": tokens, "tags": tags}


def read_squad_json(path: Path) -> Iterator[Record]:
    """Yield ``(None, question row)`` from SQuAD v1.1-style JSON, checking every answer against its offset."""
    try:
        data = json.loads(_decode(path))["data"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataError(path, f"not SQuAD-style JSON with a 'data' list ({exc})") from None
    for article in data:
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                texts = [a["text"] for a in qa["answers"]]
                starts = [int(a["answer_start"]) for a in qa["answers"]]
                for answer, start in zip(texts, starts):
                    if context[start : start + len(answer)] != answer:
                        raise DataError(path, f"question {qa['id']}: answer {answer!r} not found at offset {start}")
                row = {"title": article.get("title", ""), "context": context, "question": qa["question"]}
                row["answers"] = {"text": texts, "answer_start": starts}
                yield None, {"id": str(qa["id"]), **row}


READERS = {"delimited": read_delimited, "koelectra_ner": read_koelectra_ner, "squad_json": read_squad_json}


def read_rows(spec: TaskSpec, path: Path, split: str) -> list[dict[str, Any]]:
    """Parse one raw file of ``spec`` into prepared rows for ``split`` (family schema, string ids).

    Raises:
        DataError: a malformed row, naming file and line.
    """
    reader = READERS[spec.reader]
    records = reader(path, quoting=spec.quoting) if spec.reader == "delimited" else reader(path)
    task = bind(spec)
    rows, seen = [], set()
    for line, record in records:
        check_interrupted()
        row = task.build_row(record, Origin(path, line, split))
        if row is None:
            continue
        if "id" not in row:
            row = {"id": record.get(spec.columns.id) if spec.columns.id else f"{path.stem}-{line}", **row}
        if row["id"] in seen:
            raise DataError(path, f"duplicate id {row['id']!r}", line)
        seen.add(row["id"])
        rows.append(row)
    return rows
