"""Extractive QA (KorQuAD 1.0): SQuAD-style rows, windowed features, n-best span decoding, the official metric.

Rows are SQuAD-style questions (``id``, ``title``, ``context``, ``question``, ``answers`` with character
offsets). Features come from ``qa_windows``; the model scores a start and an end logit per token, and
``qa_spans`` maps the best valid span over all windows of a question back to the context.
"""

from __future__ import annotations

import random
from typing import Any

import pyarrow as pa

from kobench.families.base import (
    Carved,
    EncodeSettings,
    Features,
    LabelColumn,
    Origin,
    Outputs,
    Row,
    TaskFamily,
    text_input,
)
from kobench.families.qa_spans import decode_spans
from kobench.families.qa_windows import check_fast, encode_eval, encode_train
from kobench.metrics.korquad import paragraph_sums, score_korquad
from kobench.metrics.unit_stats import GroupedMeans, UnitStats
from kobench.tasks.spec import TaskSpec

NO_ANSWER = {"text": [], "answer_start": []}
ANSWERS = pa.struct([("text", pa.list_(pa.string())), ("answer_start", pa.list_(pa.int64()))])


class SpanQAFamily(TaskFamily):
    """KorQuAD-style extractive QA: a start/end head over (question, context) windows."""

    name = "span_qa"
    auto_class = "AutoModelForQuestionAnswering"
    output_names = ("start_logits", "end_logits")
    token_level = True
    schema = pa.schema(
        [
            ("id", pa.string()),
            ("title", pa.string()),
            ("context", pa.string()),
            ("question", pa.string()),
            ("answers", ANSWERS),
        ]
    )
    label_columns = (LabelColumn("start_positions", "long"), LabelColumn("end_positions", "long"))

    def build_row(self, spec: TaskSpec, record: dict[str, Any], origin: Origin) -> Row:
        """The SQuAD reader's question row as it is (answers were checked against their offsets there)."""
        return record

    def carve_validation(self, spec: TaskSpec, train: list[Row], fraction: float, rng: random.Random) -> Carved:
        """Whole articles (title) are held out, so that no validation context was seen in training."""
        groups = sorted({r["title"] for r in train})
        rng.shuffle(groups)
        held = set(groups[: max(1, round(len(groups) * fraction))])
        return [r["title"] in held for r in train], f"{len(held)} of {len(groups)} train articles"

    def input_columns(self, spec: TaskSpec) -> tuple[str, ...]:
        """``context`` and ``question``."""
        return ("context", "question")

    def input_row(self, spec: TaskSpec, record: dict[str, Any], row_id: str) -> Row:
        """A question about a context; no gold answer."""
        context, question = text_input(record, "context"), text_input(record, "question")
        return {"id": row_id, "title": "", "context": context, "question": question, "answers": NO_ANSWER}

    def num_labels(self, spec: TaskSpec) -> int:
        """Two outputs per token: start and end logits."""
        return 2

    def encode(
        self, spec: TaskSpec, rows: list[dict[str, Any]], tokenizer: Any, settings: EncodeSettings, *, train: bool
    ) -> Features:
        """Training features with span labels, or evaluation features with offsets (see encode_*)."""
        check_fast(tokenizer)
        return encode_train(rows, tokenizer, settings) if train else encode_eval(rows, tokenizer, settings)

    def decode(
        self, spec: TaskSpec, rows: list[dict[str, Any]], features: Features, outputs: Outputs, settings: EncodeSettings
    ) -> dict[str, Any]:
        """Row id to answer text, the best n-best span over the row's windows."""
        return decode_spans(
            rows, features, outputs["start_logits"], outputs["end_logits"], settings.n_best, settings.max_answer_len
        )

    def score(self, spec: TaskSpec, rows: list[dict[str, Any]], predictions: dict[str, Any]) -> dict[str, Any]:
        """Official KorQuAD 1.0 exact match and character F1 (fractions); a missing id counts as empty."""
        golds = {row["id"]: list(row["answers"]["text"]) for row in rows}
        return score_korquad(predictions, golds)

    def unit_stats(self, spec: TaskSpec, rows: list[dict[str, Any]], predictions: dict[str, Any]) -> UnitStats:
        """A paragraph is a unit (its questions share its difficulty): sums of its questions' EM and F1, and their count."""
        questions = [((row["title"], row["context"]), row["id"], list(row["answers"]["text"])) for row in rows]
        return UnitStats(GroupedMeans(), "paragraph", paragraph_sums(predictions, questions))

    def to_json(self, spec: TaskSpec, prediction: Any) -> Any:
        """The answer text itself."""
        return str(prediction)

    def display_metrics(self, spec: TaskSpec) -> tuple[str, ...]:
        """KorQuAD's published columns: exact match, then character F1."""
        return ("exact_match", "char_f1")

    def from_json(self, spec: TaskSpec, value: Any) -> Any:
        """The answer text; ValueError unless ``value`` is a string."""
        if not isinstance(value, str):
            message = f"a KorQuAD prediction must be the answer string, got {type(value).__name__}"
            raise ValueError(message)  # noqa: TRY004 - the protocol promises ValueError for any malformed value
        return value


FAMILY = SpanQAFamily()
