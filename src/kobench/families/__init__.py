"""Task families by name, and a task bound to its family (``bind``).

``TaskSpec.family`` names the module ``kobench.families.<family>`` and its ``FAMILY``. Adding a family is one module
here (a ``TaskFamily`` subclass as ``FAMILY``) plus its tests. Stages hold a ``BoundTask``: the task's declaration
and its family's behaviour in one object, made once per task, so no stage pairs a spec with a family by hand.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import random
from dataclasses import dataclass
from typing import Any

from kobench.errors import ConfigError
from kobench.families.base import Carved, EncodeSettings, Features, Origin, Outputs, Row, TaskFamily
from kobench.metrics.unit_stats import UnitStats
from kobench.tasks.spec import TaskSpec

_HELPERS = {"base", "qa_spans", "qa_windows"}  # modules of this package that are not families


@functools.cache
def family_names() -> list[str]:
    """Every family module of this package."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in _HELPERS)


def get_family(name: str) -> TaskFamily:
    """The family implementation for a ``TaskSpec.family`` value."""
    if name not in family_names():
        raise ConfigError(f"unknown task family '{name}'; allowed: {', '.join(family_names())}")
    return importlib.import_module(f"kobench.families.{name}").FAMILY


@dataclass(frozen=True)
class BoundTask:
    """A task's declaration (``spec``) with its family's behaviour: every family method, the spec already given."""

    spec: TaskSpec
    family: TaskFamily

    @property
    def name(self) -> str:
        """The task's name."""
        return self.spec.name

    def build_row(self, record: dict[str, Any], origin: Origin) -> Row | None:
        """A reader's record as a prepared row (None drops it)."""
        return self.family.build_row(self.spec, record, origin)

    def carve_validation(self, train: list[Row], fraction: float, rng: random.Random) -> Carved:
        """Which train rows become validation, and how they were chosen."""
        return self.family.carve_validation(self.spec, train, fraction, rng)

    def split_summary(self, rows: list[Row]) -> dict[str, Any]:
        """Extra facts about a prepared split for meta.json."""
        return self.family.split_summary(self.spec, rows)

    def num_labels(self) -> int:
        """Size of the head."""
        return self.family.num_labels(self.spec)

    def label_maps(self) -> dict[str, dict]:
        """``id2label`` / ``label2id`` for a head whose outputs are the task's labels; nothing for other heads.

        Saved and registered configs then say ``positive``, not ``LABEL_1``.
        """
        names = self.spec.label_names if self.spec.labels else []
        if not names or self.num_labels() != len(names):
            return {}
        return {"id2label": dict(enumerate(names)), "label2id": {name: i for i, name in enumerate(names)}}

    def encode(self, rows: list[Row], tokenizer: Any, settings: EncodeSettings, *, train: bool) -> Features:
        """Tokenised features of prepared rows."""
        return self.family.encode(self.spec, rows, tokenizer, settings, train=train)

    def decode(self, rows: list[Row], features: Features, outputs: Outputs, settings: EncodeSettings) -> dict:
        """One canonical prediction per row id."""
        return self.family.decode(self.spec, rows, features, outputs, settings)

    def score(self, rows: list[Row], predictions: dict[str, Any]) -> dict[str, Any]:
        """The official metrics of ``predictions`` against gold ``rows``."""
        return self.family.score(self.spec, rows, predictions)

    def unit_stats(self, rows: list[Row], predictions: dict[str, Any]) -> UnitStats:
        """Per-unit sufficient statistics of every metric."""
        return self.family.unit_stats(self.spec, rows, predictions)

    def input_columns(self) -> tuple[str, ...]:
        """The input columns a prediction needs."""
        return self.family.input_columns(self.spec)

    def input_row(self, record: dict[str, Any], row_id: str) -> Row:
        """A prediction input record as a prepared row."""
        return self.family.input_row(self.spec, record, row_id)

    def display_metrics(self) -> tuple[str, ...]:
        """The metrics a results table shows, in column order."""
        return self.family.display_metrics(self.spec)

    def prepared_columns(self) -> tuple[str, ...]:
        """The columns every prepared split has."""
        return self.family.prepared_columns()

    def check_prediction(self, row: Row, prediction: Any) -> str | None:
        """What is wrong with a prediction for ``row``, or None."""
        return self.family.check_prediction(self.spec, row, prediction)

    def from_json(self, value: Any) -> Any:
        """A prediction as read from JSON, canonical."""
        return self.family.from_json(self.spec, value)

    def to_json(self, prediction: Any) -> Any:
        """A canonical prediction as JSON."""
        return self.family.to_json(self.spec, prediction)


@functools.cache
def bind(spec: TaskSpec) -> BoundTask:
    """``spec`` bound to its family, once per task."""
    return BoundTask(spec, get_family(spec.family))
