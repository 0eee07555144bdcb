"""What one study works with, fixed once it is opened: below ``study`` and ``registry``, which both take it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from kobench.config import Params
from kobench.engine.devices import Slot
from kobench.engine.models import ModelRef
from kobench.names import StudyPaths, study_name
from kobench.settings import RunConfig
from kobench.tasks.spec import TaskSpec
from kobench.tuning.tracking import Tracker


@dataclass(frozen=True)
class StudyContext:
    """One study of ``spec`` x ``ref``: its base run, where it reads and writes, its tracking and device slots.

    ``parent`` and ``tags`` (the MLflow parent run and the tags of every run) are set once the study is open
    (``opened``).
    """

    spec: TaskSpec
    ref: ModelRef
    params: Params
    base: RunConfig
    paths: StudyPaths
    tracker: Tracker
    slots: tuple[Slot, ...] = ()
    parent: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """``<task>-<model>``: the Optuna study and the MLflow parent run."""
        return study_name(self.spec.name, self.ref.slug)

    def opened(self, parent: str, tags: dict[str, str]) -> StudyContext:
        """This context with its parent run and tags."""
        return dataclasses.replace(self, parent=parent, tags=tags)

    def with_base(self, base: RunConfig) -> StudyContext:
        """This context with another base run (a leased device)."""
        return dataclasses.replace(self, base=base)
