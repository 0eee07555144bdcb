"""``kobench plan``: what the run set will cost before any of it runs.

For every task x model: the fine-tunes (trials, extra seeds, recipe seeds; the final run only evaluates), the
training samples they process (rows used x epochs; a trial's epochs counted at the middle of its range), and the
hours that takes at this model's training throughput on this machine: the median recorded by earlier runs
(``outputs/<task>/<model>/**/metrics.json``), else a few timed training steps.

Below the table, the cluster's view: the device-hours of the whole run set, a suggested ``--workers`` and the wall
hours with that many (or the given) workers per study. The suggestion is ``tune.n_trials // 4`` (at least 1): each
worker runs about four trials, so that most trials are proposed by TPE from the results of earlier rounds (a study
with one worker per trial is a random search). A study's wall time with W workers is ``ceil(trials / W)`` rounds of
its mean trial, then its extra seeds and recipe runs one after another (pruned trials make it shorter).
"""

from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from kobench.config import Params
from kobench.engine.models import ModelRef, resolve_model
from kobench.engine.runs import recipe_config, run_config
from kobench.families import bind
from kobench.names import study_outputs
from kobench.tasks import get_task
from kobench.tuning.study import search_space


@dataclass(frozen=True)
class Cost:
    """The planned work of one task x model."""

    task: str
    model: str
    fine_tunes: int
    samples: int
    samples_per_second: float | None
    source: str  # where the throughput comes from
    trials: int = 0  # of the fine-tunes, the study's trials (they run in parallel on its workers)
    trial_samples: int = 0  # of the samples, those of the trials

    @property
    def hours(self) -> float | None:
        """Training hours at the throughput (None when it could not be had)."""
        return None if not self.samples_per_second else self.samples / self.samples_per_second / 3600

    def wall_hours(self, workers: int) -> float | None:
        """Hours from start to end with ``workers`` workers: rounds of the mean trial, then the rest one by one."""
        if not self.samples_per_second:
            return None
        rounds = math.ceil(self.trials / workers) if self.trials else 0
        per_trial = self.trial_samples / self.trials if self.trials else 0.0
        return (rounds * per_trial + self.samples - self.trial_samples) / self.samples_per_second / 3600


TRIALS_PER_WORKER = 4  # the suggested --workers leaves each worker about this many trials


def suggested_workers(n_trials: int) -> int:
    """``--workers`` for a study of ``n_trials``: about four trials per worker, at least one worker.

    >>> suggested_workers(20), suggested_workers(3)
    (5, 1)
    """
    return max(1, n_trials // TRIALS_PER_WORKER)


def train_rows(params: Params, task: str) -> int:
    """Training rows a run uses: the prepared split (meta.json), capped by data.max_train_samples."""
    meta = params.base.paths.prepared / task / "meta.json"
    rows = json.loads(meta.read_text(encoding="utf-8"))["splits"]["train"]["rows"] if meta.exists() else 0
    return min(rows, params.data.max_train_samples) if params.data.max_train_samples else rows


def recorded_throughput(outputs: Path) -> float | None:
    """The median training samples/s of the runs already under ``outputs`` (trials, seeds, recipe runs)."""
    found = []
    for path in outputs.rglob("metrics.json"):
        try:
            found.append(json.loads(path.read_text(encoding="utf-8"))["throughput"]["train_samples_per_second"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return statistics.median(found) if found else None


def measured_throughput(params: Params, task: str, ref: ModelRef, steps: int = 5) -> float:
    """Training samples/s over ``steps`` timed steps (after one warm-up) on batches of full-length random ids."""
    import torch

    from kobench.engine.models import load_model
    from kobench.engine.runtime import Runtime

    spec = get_task(task)
    bound = bind(spec)
    family = bound.family
    config = run_config(params, spec, ref)
    runtime = Runtime.create(config.device, config.precision)
    model = load_model(ref, family.auto_class, bound.num_labels()).to(runtime.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    length = config.max_seq_len or spec.hyperparameters.max_seq_len
    ids = torch.randint(5, model.config.vocab_size, (config.batch_size, length), device=runtime.device)
    # one tensor per label column the family's loss reads: per token (padded columns) or per row
    labels = {
        column.name: torch.zeros_like(ids) if column.pad is not None else torch.zeros(
            config.batch_size, dtype=torch.float32 if column.dtype == "float" else torch.long, device=runtime.device)
        for column in family.label_columns
    }  # fmt: skip
    model.train()
    for step in range(steps + 1):
        if step == 1:
            runtime.synchronize()
            started = time.perf_counter()
        with runtime.autocast():
            loss = model(input_ids=ids, **labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    runtime.synchronize()
    return steps * config.batch_size / (time.perf_counter() - started)


def plan(params: Params, *, measure: bool = True) -> list[Cost]:
    """The cost of every task x model of the run set."""
    costs = []
    for task in params.run.tasks:
        spec, rows = get_task(task), train_rows(params, task)
        for model in params.run.models:
            ref = resolve_model(model, params)
            low, high = search_space(params, task, ref).bounds("epochs", spec.hyperparameters.epochs)
            trial_epochs = (low + high) / 2
            seeds = len(params.tune.final_seeds)
            recipe_runs = (len(params.run.reproduce_seeds) or 1) if params.run.reproduce else 0
            recipe_epochs = recipe_config(params, spec, ref).epochs if recipe_runs else 0
            epochs = params.tune.n_trials * trial_epochs + seeds * high + recipe_runs * recipe_epochs
            samples = rows * epochs
            speed, source = recorded_throughput(study_outputs(params.base.paths.outputs, task, ref.slug)), "recorded"
            if speed is None and measure:
                speed, source = measured_throughput(params, task, ref), "measured"
            fine_tunes = params.tune.n_trials + seeds + recipe_runs
            trial_samples = int(rows * params.tune.n_trials * trial_epochs)
            costs.append(Cost(task, model, fine_tunes, int(samples), speed, source if speed else "unknown",
                              trials=params.tune.n_trials, trial_samples=trial_samples))  # fmt: skip
    return costs


def format_plan(costs: list[Cost]) -> str:
    """The plan as a table with a total line."""
    lines = [f"{'task':<14} {'model':<22} {'fine-tunes':>10} {'samples':>14} {'samples/s':>10} {'hours':>8}  source"]
    for c in costs:
        speed = f"{c.samples_per_second:,.1f}" if c.samples_per_second else "-"
        hours = f"{c.hours:,.2f}" if c.hours is not None else "-"
        lines.append(f"{c.task:<14} {c.model:<22} {c.fine_tunes:>10} {c.samples:>14,} {speed:>10} {hours:>8}  {c.source}")
    known = [c.hours for c in costs if c.hours is not None]
    total = f"{sum(known):,.2f}" + ("" if len(known) == len(costs) else " (+ unknown)")
    lines.append(f"{'total':<37} {sum(c.fine_tunes for c in costs):>10} {sum(c.samples for c in costs):>14,} "
                 f"{'':>10} {total:>8}")  # fmt: skip
    return "\n".join(lines)


def format_cluster(costs: list[Cost], n_trials: int, workers: int | None = None) -> str:
    """Device-hours of the run set, the suggested ``--workers`` and the wall hours with ``workers`` (else it).

    Each study runs on its own W device slots (GPUs); the run set's wall hours are given for its studies one after
    another on W GPUs, and for all of them at once on W x studies GPUs.
    """
    suggested = suggested_workers(n_trials)
    chosen = workers or suggested
    known = [c for c in costs if c.hours is not None]
    unknown = "" if len(known) == len(costs) else f" (+ {len(costs) - len(known)} unknown)"
    walls = [c.wall_hours(chosen) for c in known]
    lines = [
        f"cluster: {sum(c.hours for c in known):,.2f} device-hours{unknown} at this machine's throughput; "
        f"suggested --workers {suggested} (tune.n_trials {n_trials} // {TRIALS_PER_WORKER}: about "
        f"{TRIALS_PER_WORKER} trials per worker)",
        f"with --workers {chosen}: {sum(walls):,.2f} wall hours{unknown} with the {len(costs)} studies one after "
        f"another on {chosen} GPUs; {max(walls, default=0):,.2f} with all at once on {chosen * len(costs)} GPUs",
    ]
    return "\n".join(lines)
