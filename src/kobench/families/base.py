"""Task families: the protocol each family implements (encode, decode, score, prediction I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from kobench.spec import TaskSpec

Features = dict[str, list]  # column name -> one value per feature (input_ids, labels, ...)
Outputs = dict[str, list[np.ndarray]]  # head output name -> one unpadded array per feature


@dataclass(frozen=True)
class EncodeSettings:
    """Every parameter that changes tokenised features; all of it goes into the feature-cache key."""

    max_seq_len: int
    token_type_ids: bool = True
    doc_stride: int = 128
    max_query_len: int = 64
    max_answer_len: int = 30
    n_best: int = 20


class TaskFamily(Protocol):
    """What a family owns: tokenisation, decoding model outputs, the official metric, prediction I/O.

    Tasks never touch tokenizers; training never branches on the task.
    """

    name: str
    auto_class: str  # transformers AutoModelFor* class name
    output_names: tuple[str, ...]  # model output fields that decode() needs, e.g. ("logits",)
    token_level: bool  # outputs have a sequence dimension (trimmed to each feature's length)

    def num_labels(self, spec: TaskSpec) -> int:
        """Size of the head."""

    def encode(
        self, spec: TaskSpec, rows: list[dict[str, Any]], tokenizer: Any, settings: EncodeSettings, *, train: bool
    ) -> Features:
        """Tokenise prepared rows into features (``input_ids`` and, if used, ``token_type_ids``, labels)."""

    def decode(
        self, spec: TaskSpec, rows: list[dict[str, Any]], features: Features, outputs: Outputs, settings: EncodeSettings
    ) -> dict[str, Any]:
        """Turn per-feature outputs into one canonical prediction per row id."""

    def score(self, spec: TaskSpec, rows: list[dict[str, Any]], predictions: dict[str, Any]) -> dict[str, Any]:
        """The official metrics of ``predictions`` (row id -> canonical prediction) against gold ``rows``."""

    def to_json(self, spec: TaskSpec, prediction: Any) -> Any:
        """A canonical prediction in the ``kobench score`` JSONL format."""

    def from_json(self, spec: TaskSpec, value: Any) -> Any:
        """A ``kobench score`` JSONL prediction as a canonical prediction; ValueError if malformed."""


def token_type_column(encoding: Any, use: bool) -> dict[str, list]:
    """The ``token_type_ids`` column when the model uses segment ids (not XLM-R, DistilBERT, RoBERTa types)."""
    if use and "token_type_ids" in encoding:
        return {"token_type_ids": encoding["token_type_ids"]}
    return {}


def label_maps(family: TaskFamily, spec: TaskSpec) -> dict[str, dict]:
    """``id2label`` / ``label2id`` for a head whose outputs are the task's labels; nothing for other heads.

    Saved and registered configs then say ``positive``, not ``LABEL_1``.
    """
    names = spec.label_names if spec.labels else []
    if not names or family.num_labels(spec) != len(names):
        return {}
    return {"id2label": dict(enumerate(names)), "label2id": {name: i for i, name in enumerate(names)}}
