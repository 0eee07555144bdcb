"""A fine-tuned checkpoint as a predictor of prepared rows: the family's encode, batched inference, decode.

The same code scores the final checkpoint of a study (``evaluate_checkpoint``) and serves a registered champion
(the MLflow pyfunc), so a served model answers exactly what ``predictions-test.jsonl`` holds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kobench.engine.batching import Collator
from kobench.engine.evaluation import Evaluator
from kobench.engine.features import load_features
from kobench.engine.models import ModelRef, check_fit, load_model, load_tokenizer
from kobench.engine.runtime import Runtime
from kobench.engine.tokenizer_check import SERVED_MIN_TOKENS, sample_texts
from kobench.families import bind
from kobench.families.base import EncodeSettings, Row
from kobench.tasks.spec import TaskSpec


@dataclass(frozen=True)
class InferenceSetup:
    """Everything besides the weights that decides a prediction: encoding, batch size and padding.

    Batches are built exactly as in evaluation (same size, same length order, same padding), so the numbers are
    the same to the last bit on the same device.
    """

    settings: EncodeSettings
    batch_size: int = 128
    padding: str = "dynamic"  # or max_length

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (stored beside a logged model)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InferenceSetup:
        """The inverse of ``to_json``."""
        return cls(EncodeSettings(**data["settings"]), data["batch_size"], data["padding"])


class Predictor:
    """A saved checkpoint (config, weights, tokenizer) of one task, loaded once, predicting any prepared rows."""

    def __init__(
        self, spec: TaskSpec, checkpoint: Path, setup: InferenceSetup, *, device: str = "auto", precision: str = "auto"
    ) -> None:
        self.spec, self.setup = spec, setup
        self.task = bind(spec)
        self.family = self.task.family
        self.runtime = Runtime.create(device, precision)
        # a saved checkpoint is self-contained: its tokenizer.json, no repository code, no hub revision
        self.saved = ModelRef.local(spec.name, checkpoint)
        self.tokenizer = load_tokenizer(self.saved)
        self._fit_checked = False
        num_labels = self.task.num_labels()
        self.model = load_model(self.saved, self.family.auto_class, num_labels).to(self.runtime.device)
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        max_length = setup.settings.max_seq_len if setup.padding == "max_length" else None
        self.collator = Collator(
            pad_id, self.family.label_columns, max_length=max_length, multiple_of=self.runtime.pad_multiple
        )

    def evaluator(self, rows: list[Row], features_dir: Path | None = None) -> Evaluator:
        """An evaluator of ``rows`` (features cached under ``features_dir`` when given)."""
        if not self._fit_checked:  # no silent garbage tokenizer: judged on the first inputs that say enough
            texts = sample_texts(rows, self.task.input_columns())
            vocab_size = self.model.config.vocab_size
            self._fit_checked = check_fit(self.saved, self.tokenizer, vocab_size, texts, min_tokens=SERVED_MIN_TOKENS)
        features = load_features(self.task, rows, self.tokenizer, self.setup.settings, train=False, cache_dir=features_dir)
        return Evaluator(self.task, rows, features, self.setup.settings, self.collator, self.runtime, self.setup.batch_size)

    def predict(self, rows: list[Row]) -> dict[str, Any]:
        """Canonical predictions by row id."""
        if not rows:
            return {}
        evaluator = self.evaluator(rows)
        outputs = evaluator.predict(self.model)
        return self.task.decode(rows, evaluator.features, outputs, self.setup.settings)
