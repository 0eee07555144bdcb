"""From params and command-line overrides to a RunConfig and an output folder."""

from __future__ import annotations

from typing import Any

from kobench.config import Params
from kobench.engine.models import ModelRef, load_config
from kobench.settings import SETTINGS, RunConfig
from kobench.tasks.spec import TaskSpec


def run_config(params: Params, spec: TaskSpec, ref: ModelRef, **overrides: Any) -> RunConfig:
    """Each setting from where its declaration says, then ``overrides``.

    The section (``settings.Setting.section``) is the task's published lr/epochs, ``base.seed``, ``train.*`` or
    ``data.max_*_samples``.
    """
    sections = {"base": params.base, "train": params.train, "data": params.data, "task": spec.hyperparameters}
    values = {name: getattr(sections[declared.section], name) for name, declared in SETTINGS.items()}
    values.update(overrides)
    return RunConfig(**values)


def model_kinds(ref: ModelRef) -> set[str]:
    """What a task's recipe changes may apply to: ``small`` rows, and the ``xlm-roberta`` model type."""
    kinds = {"small"} if ref.row.size == "small" else set()
    if getattr(load_config(ref), "model_type", "") == "xlm-roberta":
        kinds.add("xlm-roberta")
    return kinds


def recipe_config(params: Params, spec: TaskSpec, ref: ModelRef, **overrides: Any) -> RunConfig:
    """The published recipe of ``spec`` for ``ref``, its XLM-R and small-model changes applied.

    It runs under the reference protocol: every evaluation is scored on test and the best is kept. Only
    subsampling, evaluation batch size, precision and the device come from params (or ``overrides``).
    """
    recipe = {**spec.hyperparameters.recipe(model_kinds(ref)), "selection": "test", "evals_per_epoch": 1}
    return run_config(params, spec, ref, **{**recipe, **overrides})
