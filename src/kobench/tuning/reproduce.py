"""``kobench reproduce``: the published recipe of one task x model, one tracked run per seed.

It runs under the reference protocol (every evaluation scored on test, the best kept), and writes its mean and
std to a metric file of its own.

The result answers "do I get the published number with the published recipe?"; the tuned, validation-selected
study answers "what does tuning add?". ``metrics/<task>/<model>.recipe.json`` holds numbers only:
``complete``, ``mean``, ``std``, ``n`` and ``seeds.<seed>`` (fractions of the task's main metric).
"""

from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path
from typing import Any

from kobench.config import Params
from kobench.engine.devices import Slot, lease
from kobench.engine.models import ModelRef
from kobench.engine.runs import recipe_config
from kobench.metrics.bootstrap import t_interval
from kobench.names import Tag
from kobench.records import RecipeResult, write_recipe
from kobench.tasks.spec import TaskSpec
from kobench.tuning.single import run_tags, tracked_train
from kobench.tuning.tracking import Tracker

RECIPE, RECIPE_SEED = "recipe", "recipe-seed"
PROTOCOL = "reference recipe, test-selected: every evaluation scored on test, the best kept (as published)"


def reproduce(  # noqa: PLR0913
    spec: TaskSpec,
    ref: ModelRef,
    params: Params,
    seeds: list[int] | None,
    *,
    prepared_dir: Path,
    outputs: Path,
    features_dir: Path | None,
    metrics_root: Path,
    tracker: Tracker,
    slots: list[Slot] | tuple = (),
    overrides: dict[str, Any] | None = None,
) -> RecipeResult:
    """Train the recipe once per seed (default: the recipe's own seed); write and return the recipe result."""
    base = recipe_config(params, spec, ref, **(overrides or {}))
    seeds = seeds or [base.seed]
    tags = {**run_tags(spec, ref, "test", prepared_dir), Tag.RECIPE_PROTOCOL: PROTOCOL}
    recipe = {k: v for k, v in dataclasses.asdict(base).items() if k != "seed"}
    parent = tracker.start(f"recipe-{spec.name}-{ref.slug}", RECIPE, {**recipe, "seeds": seeds}, tags)
    scores: dict[str, float] = {}
    with tracker.ending(parent):
        for seed in seeds:
            config = dataclasses.replace(base, seed=seed)
            with lease(list(slots), f"recipe {spec.name} {ref.key} seed {seed}") as held:
                if held is not None:
                    config = dataclasses.replace(config, device=held.slot.device)
                result, _ = tracked_train(
                    spec, ref, config, prepared_dir=prepared_dir, run_dir=outputs / "recipe" / f"seed-{seed}",
                    features_dir=features_dir, tracker=tracker, kind=RECIPE_SEED, parent=parent, tags=tags,
                )  # fmt: skip
            scores[str(seed)] = result.test[spec.main_metric]
            print(f"recipe seed {seed}: test {spec.main_metric} {scores[str(seed)]:.4f}", flush=True)
        values = list(scores.values())
        result = RecipeResult(
            complete=1,
            mean=statistics.fmean(values),
            std=statistics.stdev(values) if len(values) > 1 else 0.0,
            n=len(values),
            seeds=scores,
            t_interval=t_interval(values),  # over seeds; each seed's run also has its test-set interval
        )
        tracker.log_metrics(parent, {f"test_{spec.main_metric}_mean": result.mean, "test_std": result.std})
    write_recipe(metrics_root, spec.name, ref.slug, result)
    return result
