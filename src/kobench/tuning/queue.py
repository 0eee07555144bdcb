"""``kobench queue``: every task x model of the run set as parallel studies over the device slots, longest first.

Each study is its own ``kobench tune --workers 1`` process; at most one per slot runs at a time (the slots are
leased inside, so other kobench processes on the machine share them too). Longest first: the queue ends when the
last long study ends, so starting those early shortens it.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from kobench.config import Params
from kobench.tasks import get_task


@dataclass(frozen=True)
class QueuedStudy:
    """One study of the queue and its estimated cost (training rows x epochs x trials x model size)."""

    task: str
    model: str
    cost: float

    def command(self, params_file: Path) -> list[str]:
        """The ``kobench tune`` process of this study."""
        return [sys.executable, "-m", "kobench.cli", "tune", "--task", self.task, "--model", self.model,
                "--workers", "1", "--params", str(params_file)]  # fmt: skip


def plan(params: Params) -> list[QueuedStudy]:
    """The run set's studies, most expensive first (a study whose data is not prepared counts one row)."""
    from kobench.engine.models import ModelRef
    from kobench.tuning.study import search_space

    studies = []
    for task in params.run.tasks:
        spec = get_task(task)
        meta = params.base.paths.prepared / task / "meta.json"
        rows = json.loads(meta.read_text(encoding="utf-8"))["splits"]["train"]["rows"] if meta.exists() else 1
        if params.data.max_train_samples:
            rows = min(rows, params.data.max_train_samples)
        length = spec.hyperparameters.max_seq_len / 128  # KorQuAD's 512-token windows cost four times as much
        for model in params.run.models:
            row = params.models[model]
            epochs = search_space(params, task, ModelRef(model, row)).bounds("epochs", spec.hyperparameters.epochs)[1]
            size = 3.0 if row.size == "base" else 1.0
            cost = rows * length * epochs * params.tune.n_trials * size
            studies.append(QueuedStudy(task, model, cost))
    return sorted(studies, key=lambda s: -s.cost)
