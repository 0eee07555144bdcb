"""Evaluation: batched inference in length order, outputs restored to feature order, decoded and scored."""

from __future__ import annotations

from typing import Any

import torch

from kobench.engine.batching import Collator, make_batches
from kobench.engine.runtime import Runtime
from kobench.families import BoundTask
from kobench.families.base import EncodeSettings, Features, Outputs
from kobench.interrupts import check as check_interrupted
from kobench.progress import Progress


class Evaluator:
    """Scores a model on one split; batches are fixed once (sorted by length) and reused every evaluation."""

    def __init__(
        self,
        task: BoundTask,
        rows: list[dict[str, Any]],
        features: Features,
        settings: EncodeSettings,
        collator: Collator,
        runtime: Runtime,
        batch_size: int,
    ) -> None:
        self.task, self.family, self.rows, self.features = task, task.family, rows, features
        self.settings, self.collator, self.runtime = settings, collator, runtime
        self.lengths = [len(x) for x in features["input_ids"]]
        self.batches = make_batches(self.lengths, batch_size, shuffle=False, group_by_length=True)

    @torch.inference_mode()
    def predict(self, model: torch.nn.Module) -> Outputs:
        """Unpadded head outputs per feature, in feature order."""
        model.eval()
        outputs: Outputs = {name: [None] * len(self.lengths) for name in self.family.output_names}
        shown = Progress(len(self.batches), f"{self.task.name} evaluation ({len(self.rows):,} rows)")
        for batch in self.batches:
            check_interrupted()
            shown.advance(samples=len(batch))
            inputs = {k: v.to(self.runtime.device) for k, v in self.collator(self.features, batch, labels=False).items()}
            with self.runtime.autocast():
                result = model(**inputs)
            for name in self.family.output_names:
                values = result[name].float().cpu().numpy()
                for j, i in enumerate(batch):
                    outputs[name][i] = values[j, : self.lengths[i]] if self.family.token_level else values[j]
        shown.close()
        return outputs

    def evaluate(self, model: torch.nn.Module) -> tuple[dict[str, Any], dict[str, Any]]:
        """(metrics, predictions by row id)."""
        outputs = self.predict(model)
        predictions = self.task.decode(self.rows, self.features, outputs, self.settings)
        return self.task.score(self.rows, predictions), predictions
