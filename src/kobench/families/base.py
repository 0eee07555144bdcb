"""What every family owns, and the defaults most families share.

A family is the single owner of what differs between task kinds: the prepared schema, how a raw record
becomes a prepared row, how validation is carved from train, tokenisation, how labels are batched,
decoding, the official metric, how a prediction is checked and written, and which values the report shows.
Stages ask the family; none of them branches on the family's name.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa

from kobench.errors import DataError, InputError
from kobench.metrics.unit_stats import UnitStats
from kobench.tasks.spec import Hyperparameters, TaskSpec

Features = dict[str, list]  # column name -> one value per feature (input_ids, labels, ...)
Outputs = dict[str, list[np.ndarray]]  # head output name -> one unpadded array per feature
Row = dict[str, Any]  # one prepared row, shaped by the family's schema
Carved = tuple[list[bool], str]  # which train rows go to validation, and how they were chosen

TEXT_PAIR_FIELDS = [("id", pa.string()), ("text", pa.string()), ("text_pair", pa.string())]


def text_input(record: dict[str, Any], column: str) -> str:
    """A prediction input's text column: a string, never a number or null turned into one.

    Raises:
        InputError: naming the column and what it holds.
    """
    value = record.get(column)
    if not isinstance(value, str):
        raise InputError(column, value)
    return value


_PUBLISHED = {f.name: f.default for f in dataclasses.fields(Hyperparameters)}  # the one place of these defaults


@dataclass(frozen=True)
class EncodeSettings:
    """Every parameter that changes tokenised features; all of it goes into the feature-cache key.

    The defaults are ``Hyperparameters``' (a task's published encoding): declared there, not repeated here.
    """

    max_seq_len: int
    token_type_ids: bool = True
    doc_stride: int = _PUBLISHED["doc_stride"]
    max_query_len: int = _PUBLISHED["max_query_len"]
    max_answer_len: int = _PUBLISHED["max_answer_len"]
    n_best: int = _PUBLISHED["n_best"]

    @classmethod
    def for_task(cls, hp: Hyperparameters, max_seq_len: int | None = None, *, token_type_ids: bool = True) -> EncodeSettings:
        """The task's published encoding, its max_seq_len overridden by ``max_seq_len`` when given.

        A shortened max_seq_len caps QA's stride and question length at a quarter of it, so windows keep room.

        >>> EncodeSettings.for_task(Hyperparameters(5e-5, 3, 32, max_seq_len=512), 128).doc_stride
        32
        """
        length = max_seq_len or hp.max_seq_len
        return cls(
            max_seq_len=length,
            token_type_ids=token_type_ids,
            doc_stride=min(hp.doc_stride, length // 4),
            max_query_len=min(hp.max_query_len, length // 4),
            max_answer_len=hp.max_answer_len,
            n_best=hp.n_best,
        )


@dataclass(frozen=True)
class LabelColumn:
    """A feature column the loss reads, and how a batch of it becomes a tensor."""

    name: str
    dtype: Literal["long", "float"]
    pad: int | None = None  # per-token labels: padded to the batch width with this (ignored) value


@dataclass(frozen=True)
class Origin:
    """Where a raw record came from, for one-line errors."""

    path: Path
    line: int | None
    split: str

    def error(self, reason: str) -> DataError:
        """A DataError naming this file and line."""
        return DataError(self.path, reason, self.line)


class TaskFamily:
    """The defaults: rows carved at random, no split summary, the main metric displayed, any prediction shape."""

    name: ClassVar[str]
    auto_class: ClassVar[str]  # transformers AutoModelFor* class name
    output_names: ClassVar[tuple[str, ...]] = ("logits",)  # model outputs that decode() needs
    token_level: ClassVar[bool] = False  # outputs have a sequence dimension (trimmed to each feature's length)
    schema: ClassVar[pa.Schema]  # the prepared parquet schema
    label_columns: ClassVar[tuple[LabelColumn, ...]] = (LabelColumn("labels", "long"),)

    # ---- data: prepare -------------------------------------------------------------------------------
    def build_row(self, spec: TaskSpec, record: dict[str, Any], origin: Origin) -> Row | None:
        """A reader's record as a prepared row (``id`` may be left to the reader); None drops it."""
        raise NotImplementedError

    def carve_validation(self, spec: TaskSpec, train: list[Row], fraction: float, rng: random.Random) -> Carved:
        """Which train rows become validation, and how they were chosen (for meta.json)."""
        return stratified(train, lambda row: None, fraction, rng), "random rows"

    def split_summary(self, spec: TaskSpec, rows: list[Row]) -> dict[str, Any]:
        """Extra facts about a prepared split for meta.json."""
        return {}

    # ---- engine: features, batches, predictions ----------------------------------------------------
    def num_labels(self, spec: TaskSpec) -> int:
        """Size of the head."""
        raise NotImplementedError

    def encode(self, spec: TaskSpec, rows: list[Row], tokenizer: Any, settings: EncodeSettings, *, train: bool) -> Features:
        """Tokenise prepared rows into features (``input_ids`` and, if used, ``token_type_ids``, labels)."""
        raise NotImplementedError

    def decode(
        self, spec: TaskSpec, rows: list[Row], features: Features, outputs: Outputs, settings: EncodeSettings
    ) -> dict:
        """Turn per-feature outputs into one canonical prediction per row id."""
        raise NotImplementedError

    def score(self, spec: TaskSpec, rows: list[Row], predictions: dict[str, Any]) -> dict[str, Any]:
        """The official metrics of ``predictions`` (row id -> canonical prediction) against gold ``rows``."""
        raise NotImplementedError

    def unit_stats(self, spec: TaskSpec, rows: list[Row], predictions: dict[str, Any]) -> UnitStats:
        """Per-unit sufficient statistics of every metric, for intervals and paired tests (``metrics.unit_stats``)."""
        raise NotImplementedError

    def check_prediction(self, spec: TaskSpec, row: Row, prediction: Any) -> str | None:
        """Why a well-formed prediction does not fit its gold row (e.g. a tag count), or None."""
        return None

    def to_json(self, spec: TaskSpec, prediction: Any) -> Any:
        """A canonical prediction in the ``kobench score`` JSONL format."""
        return prediction

    def from_json(self, spec: TaskSpec, value: Any) -> Any:
        """A ``kobench score`` JSONL prediction as a canonical prediction; ValueError if malformed."""
        raise NotImplementedError

    # ---- serving: raw inputs (no gold) -----------------------------------------------------------
    def input_columns(self, spec: TaskSpec) -> tuple[str, ...]:
        """The columns a served model takes for this task (e.g. ``text`` and ``text_pair``)."""
        raise NotImplementedError

    def input_row(self, spec: TaskSpec, record: dict[str, Any], row_id: str) -> Row:
        """A row of ``input_columns`` as a prepared row, gold fields filled with placeholders ``encode`` accepts."""
        raise NotImplementedError

    # ---- report ---------------------------------------------------------------------------------------
    def display_metrics(self, spec: TaskSpec) -> tuple[str, ...]:
        """The metrics a results table shows for the task, in column order (x100)."""
        return (spec.main_metric,)

    def prepared_columns(self) -> tuple[str, ...]:
        """The columns every prepared split of this family has."""
        return tuple(self.schema.names)


def stratified(rows: list[Row], key: Any, fraction: float, rng: random.Random) -> list[bool]:
    """``round(len * fraction)`` rows of each stratum (``key(row)``), drawn with ``rng``; strata in sorted order."""
    strata: dict[Any, list[int]] = {}
    for i, row in enumerate(rows):
        strata.setdefault(key(row), []).append(i)
    chosen = set()
    for stratum in sorted(strata, key=str):
        members = strata[stratum]
        rng.shuffle(members)
        chosen.update(members[: round(len(members) * fraction)])
    return [i in chosen for i in range(len(rows))]


def field(record: dict[str, Any], column: str, origin: Origin) -> str:
    """A column of a delimited record, or a one-line error naming the header."""
    try:
        return record[column]
    except KeyError:
        raise origin.error(f"missing column '{column}' (header: {', '.join(record)})") from None


def token_type_column(encoding: Any, use: bool) -> dict[str, list]:
    """The ``token_type_ids`` column when the model uses segment ids (not XLM-R, DistilBERT, RoBERTa types)."""
    if use and "token_type_ids" in encoding:
        return {"token_type_ids": encoding["token_type_ids"]}
    return {}
