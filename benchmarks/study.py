"""A whole study: `kobench tune` against `transformers.Trainer.hyperparameter_search(backend="optuna")`.

    python benchmarks/study.py [--trials 10] [--max-train 4000] [--max-eval 1000] [--threads N] [--json out.json]
    python benchmarks/study.py --quick   # tiny sizes, 2 trials, synthetic rows: proves the script runs

Both sides tune the same thing the same way:

* model: a BERT built by ``kobench.tools.tiny_model.build_tiny_model`` (hidden 128 x 2 layers, vocabulary 8,000,
  random init; the throughput benchmark's model) with a fresh 2-class head;
* data: the same NSMC rows (``kobench.data.splits.task_rows``, seed 42: ``--max-train`` train rows and
  ``--max-eval`` validation rows) from the mirror (``--mirror``, ``KOBENCH_MIRROR``, default ``./mirror``), or
  synthetic NSMC-like rows without it; truncated at 128 tokens, batch 32, evaluation batch 128;
* search: lr on a log scale and epochs (integers) over the same ranges, suggested under the same names in the
  same order, by ``TPESampler(seed=42)``, so that the two studies draw the same first trials; one validation
  evaluation per epoch reported to the trial; ``MedianPruner(n_startup_trials=2)`` on both (kobench's
  ``tune.pruner: median``; Trainer reports each evaluation with ``trial.report`` and raises ``TrialPruned`` when
  ``trial.should_prune()``, so the peer supports it too);
* training: AdamW, linear schedule without warm-up, gradient clipping at 1.0, seed 42, fp32 on CPU.

kobench runs as `kobench tune` (the CLI, called in-process) in a temporary project with real SQLite Optuna and
MLflow stores: every trial tracked in MLflow, its best checkpoint saved, the features cache filled by the
first trial, and at the end the best checkpoint scored once on test and registered. The peer is what a careful
Trainer user writes: the rows tokenised once up front by the fast tokenizer, a ``model_init``,
``eval_strategy="epoch"``, ``train_sampling_strategy="group_by_length"`` (length-grouped batches, as kobench's),
no checkpoints, no reporting, an in-memory Optuna study, the objective ``eval_accuracy`` maximised.
``--trainer-defaults`` adds a third study with Trainer's default (random) sampling. ``--evals-per-epoch N``
(kobench's ``train.evals_per_epoch``) and ``--trainer-evals-per-epoch N`` report N validation evaluations an
epoch to the pruner instead of one, so that it can stop a trial within its first epoch.

Printed: wall time of each study, best validation accuracy of each, when kobench first completed a trial at or
above the peer's best, each study's trials, and the wall time split into exclusive phases (data, tokenising,
model load, training steps, evaluation, checkpoints, tracking, Optuna, other). The last line is
``kobench_seconds=... trainer_seconds=... speedup=... kobench_best=... trainer_best=... time_to_peer_best=...``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import _common as c

PHASES = (
    "data (rows, digest)",
    "tokenising",
    "model load",
    "training steps",
    "evaluation",
    "checkpoints",
    "tracking (MLflow)",
    "optuna",
)


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mirror", type=Path, default=Path(os.environ.get("KOBENCH_MIRROR", "mirror")))
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--max-train", type=int, default=4000)
    parser.add_argument("--max-eval", type=int, default=1000)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--lr", type=float, nargs=2, default=(1e-4, 1e-3), metavar=("LOW", "HIGH"))
    parser.add_argument("--epochs", type=int, nargs=2, default=(1, 3), metavar=("LOW", "HIGH"))
    parser.add_argument("--order", default="trainer,kobench", help="which study runs first (comma-separated)")
    parser.add_argument("--trainer-defaults", action="store_true", help="also a Trainer study with random sampling")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument(
        "--workers", type=int, default=1, help="kobench tune --workers N: N trials at once, the cores shared among them"
    )
    parser.add_argument(
        "--evals-per-epoch",
        type=int,
        default=1,
        help="kobench's train.evals_per_epoch: validation evaluations reported to the pruner per epoch",
    )
    parser.add_argument(
        "--trainer-evals-per-epoch",
        type=int,
        default=1,
        help="the same for the peer (epoch-end evaluation plus a callback that asks for the ones within an epoch)",
    )
    parser.add_argument(
        "--trainer-sorted-eval",
        action="store_true",
        help="hand the peer its validation rows sorted by length (Trainer evaluates in dataset order; no option sorts)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write every figure here")
    parser.add_argument(
        "--work", type=Path, default=None, help="scratch folder, kept; its prepared data and model are reused"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 2 trials, synthetic rows (figures mean nothing)")
    args = parser.parse_args()
    if sorted(name.strip() for name in args.order.split(",")) != ["kobench", "trainer"]:
        parser.error("--order names kobench and trainer, once each")
    for option in ("evals_per_epoch", "trainer_evals_per_epoch"):
        if getattr(args, option) < 1:
            parser.error(f"--{option.replace('_', '-')} must be at least 1, got {getattr(args, option)}")
    args.corpus_rows, args.seed = 20_000, 42
    if args.quick:
        args.mirror = Path("/nonexistent")
        args.trials, args.max_train, args.max_eval = 2, 128, 64
        args.hidden, args.layers, args.vocab, args.corpus_rows = 32, 1, 500, 400
        args.epochs = (1, 2)
    return args


# --------------------------------------------------------------------------------------------- phase clock
class PhaseClock:
    """Exclusive seconds per phase: time spent in a nested phase is taken out of the phase around it.

    ``wrap`` times a callable (the real one runs); ``start``/``stop`` time a span between two callbacks.
    """

    def __init__(self) -> None:
        self.exclusive: dict[str, float] = {}
        self.inclusive: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._stack: list[list[Any]] = []
        self._undo: list[tuple[Any, str, Any]] = []

    def start(self, label: str) -> None:
        self._stack.append([label, time.perf_counter(), 0.0])

    def stop(self) -> None:
        label, began, nested = self._stack.pop()
        elapsed = time.perf_counter() - began
        self.exclusive[label] = self.exclusive.get(label, 0.0) + elapsed - nested
        if all(frame[0] != label for frame in self._stack):  # a label inside itself counts once
            self.inclusive[label] = self.inclusive.get(label, 0.0) + elapsed
        self.calls[label] = self.calls.get(label, 0) + 1
        if self._stack:
            self._stack[-1][2] += elapsed

    def timed(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            self.start(label)
            try:
                return fn(*args, **kwargs)
            finally:
                self.stop()

        return call

    def wrap(self, owner: Any, attribute: str, label: str) -> None:
        raw = vars(owner).get(attribute) if isinstance(owner, type) else None
        original = getattr(owner, attribute)
        self._undo.append((owner, attribute, raw if isinstance(raw, staticmethod) else original))
        timed = self.timed(label, original)
        setattr(owner, attribute, staticmethod(timed) if isinstance(raw, staticmethod) else timed)

    def restore(self) -> None:
        for owner, attribute, original in reversed(self._undo):
            setattr(owner, attribute, original)
        self._undo.clear()

    def breakdown(self, wall: float) -> dict[str, float]:
        """The phases in PHASES order plus "other" (the wall time no phase covers)."""
        phases = {name: self.exclusive.get(name, 0.0) for name in PHASES}
        phases.update({k: v for k, v in self.exclusive.items() if k not in phases and not k.startswith("final")})
        phases["other"] = wall - sum(phases.values())
        return phases


# --------------------------------------------------------------------------------------------- data and model
def prepare(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The prepared NSMC folder (or synthetic rows), and the tiny BERT both studies start from (not timed)."""
    from kobench.data.splits import load_split
    from kobench.tools.tiny_model import build_tiny_model

    key = [str(args.mirror), args.max_train, args.max_eval, args.hidden, args.layers, args.vocab, args.corpus_rows]
    ready = work / "ready.json"
    if ready.exists() and (kept := json.loads(ready.read_text()))["key"] == key:  # --work: a previous run's
        return {"prepared": Path(kept["prepared"]), "model": Path(kept["model"]), "source": kept["source"]}
    shutil.rmtree(work, ignore_errors=True)
    if (args.mirror / "nsmc" / "ratings_train.txt").exists():
        prepared = c.prepare_nsmc(args.mirror, work)
        corpus = [r["text"] for r in load_split(prepared, "train", max_rows=args.corpus_rows, seed=1) if r["text"]]
        source = f"NSMC from {args.mirror / 'nsmc'}"
    else:
        prepared = work / "prepared" / "nsmc"
        sizes = {"train": 2 * args.max_train, "validation": args.max_eval, "test": args.max_eval}
        corpus = c.write_synthetic_prepared(prepared, sizes)[: args.corpus_rows]
        source = "synthetic NSMC-like rows (no mirror)"
    model_dir = build_tiny_model(
        work / "model",
        corpus,
        vocab_size=args.vocab,
        hidden_size=args.hidden,
        num_layers=args.layers,
        num_heads=max(1, args.hidden // 64),
        intermediate_size=4 * args.hidden,
    )
    ready.write_text(json.dumps({"key": key, "prepared": str(prepared), "model": str(model_dir), "source": source}))
    return {"prepared": prepared, "model": model_dir, "source": source}


def trials_table(study: Any, began: datetime.datetime, evals_per_epoch: int) -> list[dict[str, Any]]:
    """Each trial's parameters, state, value, epochs trained and when it ended (seconds after the command began)."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        end = t.datetime_complete
        rows.append(
            {
                "number": t.number,
                "lr": t.params.get("lr"),
                "epochs": t.params.get("epochs"),
                "state": t.state.name,
                "value": t.value,
                "last_report": max(t.intermediate_values.items())[1] if t.intermediate_values else None,
                "reports": len(t.intermediate_values),  # validation evaluations
                "epochs_trained": len(t.intermediate_values) / evals_per_epoch,  # the last evaluation ends an epoch
                "ended_s": (end - began).total_seconds() if end else None,
            }
        )
    return rows


# --------------------------------------------------------------------------------------------- kobench
def shared_warm_up(model: Path) -> None:
    """Load the model and its tokenizer once before either study starts (not timed).

    Both sides load them through transformers, whose model code (``modeling_bert`` and what it imports: about 2 s)
    is imported on first use: without this, whichever side loads a model first pays for it. Each side's own
    library imports stay on its clock (kobench's modules and MLflow; the peer's ``Trainer``).
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    AutoTokenizer.from_pretrained(model)
    AutoModelForSequenceClassification.from_pretrained(model, num_labels=2)


def instrument_kobench(clock: PhaseClock) -> None:
    from kobench.engine import evaluation, inference, outputs, training
    from kobench.tuning import registry, tracking
    from kobench.tuning import study as tuning

    for module in (training, inference):
        clock.wrap(module, "load_features", "tokenising")
        for name in ("load_tokenizer", "load_model", "check_fit"):
            clock.wrap(module, name, "model load")
    for module in (training, registry):
        clock.wrap(module, "task_rows", "data (rows, digest)")
    clock.wrap(training, "prepared_digest", "data (rows, digest)")
    clock.wrap(training._TrainLoop, "run", "training steps")
    clock.wrap(evaluation.Evaluator, "evaluate", "evaluation")
    clock.wrap(training._TrainLoop, "_keep_best", "checkpoints")
    clock.wrap(outputs, "write_run", "checkpoints")
    clock.wrap(tracking, "_create_mlflow_store", "tracking (MLflow)")
    for method in (
        "__init__", "study_run", "reopen", "start_child", "log_metrics", "set_tags", "end", "system_monitor",
        "stop_monitor", "children", "fail_orphans", "log_artifact", "log_inputs", "log_pyfunc", "register",
    ):  # fmt: skip
        clock.wrap(tracking.Tracker, method, "tracking (MLflow)")
    clock.wrap(tuning, "open_or_create_study", "optuna")
    clock.wrap(registry, "finalize", "final step (inclusive: test evaluation, model logging, registry)")


def run_kobench(args: argparse.Namespace, data: dict[str, Any], work: Path) -> dict[str, Any]:
    """`kobench tune` in a temporary project, through the CLI; wall time, phases, trials."""
    import optuna
    import yaml

    params = {
        "base": {
            "paths": {
                "prepared": str(data["prepared"].parent),
                "features": str(work / "features"),
                "outputs": str(work / "outputs"),
                "metrics": str(work / "metrics"),
                "reports": str(work / "reports"),
            }
        },
        "run": {"tasks": ["nsmc"], "models": ["bench"]},
        "models": {"bench": {"id": str(data["model"]), "local_only": True, "size": "small"}},
        "data": {"max_train_samples": args.max_train, "max_eval_samples": args.max_eval},
        "train": {"device": "cpu", "evals_per_epoch": args.evals_per_epoch},
        "tune": {
            "n_trials": args.trials,
            "sampler_seed": args.seed,
            "pruner": "median",
            "storage": f"sqlite:///{work}/optuna.db",
            "search_space": {
                "lr": {"low": args.lr[0], "high": args.lr[1]},
                "epochs": {"low": args.epochs[0], "high": args.epochs[1]},
            },
        },
        "tracking": {"mlflow_uri": f"sqlite:///{work}/mlflow.db"},
    }
    work.mkdir(parents=True, exist_ok=True)
    params_file = work / "params.yaml"
    params_file.write_text(yaml.safe_dump(params))
    clock = PhaseClock()
    began_at, began = datetime.datetime.now(), time.perf_counter()
    clock.start("imports (kobench, MLflow)")  # torch, transformers and Optuna were imported for both sides before
    from kobench.cli import app
    from kobench.records import read_study

    instrument_kobench(clock)  # imports the modules `kobench tune` runs
    clock.stop()
    command = ["tune", "--task", "nsmc", "--model", "bench", "--params", str(params_file)]
    command += ["--workers", str(args.workers)] if args.workers > 1 else []
    try:  # workers repeat the command line they find in sys.argv
        with contextlib.chdir(work), _argv(["kobench", *command]):
            app(command, standalone_mode=False)
    finally:
        clock.restore()
    wall = time.perf_counter() - began
    storage = f"sqlite:///{work}/optuna.db"
    (name,) = optuna.study.get_all_study_names(storage)
    trials = trials_table(optuna.load_study(study_name=name, storage=storage), began_at, args.evals_per_epoch)
    result = read_study(work / "metrics" / "nsmc" / "bench.json")
    final = clock.inclusive.get("final step (inclusive: test evaluation, model logging, registry)", 0.0)
    return {
        "wall_s": wall,
        "phases": clock.breakdown(wall),
        "final_step_s": final,
        "trials": trials,
        "best": result.validation["accuracy"],
        "test": result.test["accuracy"],
        "best_trial": result.best_trial,
    }


@contextlib.contextmanager
def _argv(argv: list[str]) -> Iterator[None]:
    saved, sys.argv = sys.argv, argv
    try:
        yield
    finally:
        sys.argv = saved


# --------------------------------------------------------------------------------------------- the peer
def run_trainer(args: argparse.Namespace, data: dict[str, Any], work: Path, sampling: str) -> dict[str, Any]:
    """``Trainer.hyperparameter_search(backend="optuna")`` over the same rows, model and space."""
    import numpy as np
    import optuna

    from kobench.data.splits import task_rows  # the harness's reader of the same rows, not the peer's code
    from kobench.tasks import get_task

    clock, evaluations = PhaseClock(), []
    began_at, began = datetime.datetime.now(), time.perf_counter()
    clock.start("imports (Trainer)")  # the peer's own library code, as kobench's clock has kobench's and MLflow
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )
    from transformers.trainer_callback import PrinterCallback

    clock.stop()
    spec = get_task("nsmc")
    max_len = spec.hyperparameters.max_seq_len

    class TimedTrainer(Trainer):
        def evaluate(self, *a: Any, **kw: Any) -> dict[str, float]:
            clock.start("evaluation")
            try:
                metrics = super().evaluate(*a, **kw)
            finally:
                clock.stop()
            evaluations.append(metrics["eval_accuracy"])
            return metrics

    class EpochClock(TrainerCallback):
        def on_epoch_begin(self, *_: Any, **__: Any) -> None:
            clock.start("training steps")

        def on_epoch_end(self, *_: Any, **__: Any) -> None:
            clock.stop()

    class EvaluationsWithinEpoch(TrainerCallback):
        """Evaluate at kobench's points within an epoch too (``eval_strategy="epoch"`` evaluates at its end)."""

        def __init__(self, steps_per_epoch: int, per_epoch: int) -> None:
            from kobench.engine.training import eval_points  # only here: kobench's imports are on kobench's clock

            self.steps_per_epoch = steps_per_epoch
            self.points = eval_points(steps_per_epoch, per_epoch) - {steps_per_epoch}  # the end: eval_strategy's

        def on_step_end(self, _args: Any, state: Any, control: Any, **__: Any) -> None:
            if state.global_step % self.steps_per_epoch in self.points:
                control.should_evaluate = True

    def accuracy(prediction: Any) -> dict[str, float]:
        return {"accuracy": float((np.argmax(prediction.predictions, axis=-1) == prediction.label_ids).mean())}

    def hp_space(trial: optuna.Trial) -> dict[str, Any]:  # kobench's names and order: the sampler draws alike
        return {
            "learning_rate": trial.suggest_float("lr", args.lr[0], args.lr[1], log=True),
            "num_train_epochs": trial.suggest_int("epochs", args.epochs[0], args.epochs[1]),
        }

    clock.start("data (rows, digest)")
    limits = {"train": args.max_train, "validation": args.max_eval}
    rows = {s: task_rows(spec, data["prepared"], s, max_rows=n, seed=args.seed) for s, n in limits.items()}
    clock.stop()
    clock.start("model load")
    tokenizer = AutoTokenizer.from_pretrained(data["model"])
    clock.stop()
    clock.start("tokenising")
    datasets = {}
    for split, split_rows in rows.items():
        encoded = tokenizer([r["text"] for r in split_rows], truncation=True, max_length=max_len)
        datasets[split] = [
            {**{k: encoded[k][i] for k in encoded}, "labels": int(r["label"])} for i, r in enumerate(split_rows)
        ]
    if args.trainer_sorted_eval:  # each evaluation batch then pads to about its own length, as kobench's do
        datasets["validation"].sort(key=lambda example: len(example["input_ids"]))
    clock.stop()
    model_init = clock.timed(
        "model load", lambda: AutoModelForSequenceClassification.from_pretrained(data["model"], num_labels=2)
    )
    training_args = TrainingArguments(
        output_dir=str(work / "trainer"),
        per_device_train_batch_size=32,
        per_device_eval_batch_size=128,
        eval_strategy="epoch",
        save_strategy="no",
        logging_strategy="no",
        report_to="none",
        disable_tqdm=True,
        seed=args.seed,
        use_cpu=True,
        train_sampling_strategy=sampling,
    )
    trainer = TimedTrainer(
        model_init=model_init,
        args=training_args,
        train_dataset=datasets["train"],
        eval_dataset=datasets["validation"],
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=accuracy,
        callbacks=[EpochClock()],
    )
    if args.trainer_evals_per_epoch > 1:
        steps_per_epoch = -(-len(datasets["train"]) // training_args.per_device_train_batch_size)
        trainer.add_callback(EvaluationsWithinEpoch(steps_per_epoch, args.trainer_evals_per_epoch))
    trainer.remove_callback(PrinterCallback)
    storage = optuna.storages.InMemoryStorage()
    best = trainer.hyperparameter_search(
        hp_space=hp_space,
        compute_objective=lambda metrics: metrics["eval_accuracy"],
        n_trials=args.trials,
        direction="maximize",
        backend="optuna",
        sampler=optuna.samplers.TPESampler(seed=args.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2),
        storage=storage,
        study_name="trainer-hp-search",
    )
    wall = time.perf_counter() - began
    per_epoch = args.trainer_evals_per_epoch
    trials = trials_table(optuna.load_study(study_name="trainer-hp-search", storage=storage), began_at, per_epoch)
    return {
        "wall_s": wall,
        "phases": clock.breakdown(wall),
        "trials": trials,
        "best": best.objective,
        "best_trial": int(best.run_id),
        "best_any_evaluation": max(evaluations) if evaluations else None,
    }


# --------------------------------------------------------------------------------------------- report
def time_to(trials: list[dict[str, Any]], target: float) -> float | None:
    """When the first trial completed with a value at or above ``target`` (seconds after the start), or None."""
    ends = [t["ended_s"] for t in trials if t["state"] == "COMPLETE" and t["value"] is not None and t["value"] >= target]
    return min(ends) if ends else None


def show(name: str, result: dict[str, Any]) -> None:
    best = f"best validation accuracy {result['best']:.4f} (trial {result['best_trial']})"
    print(f"\n{name}: wall {result['wall_s']:.1f} s, {best}")
    print(f"  {'trial':>5} {'lr':>9} {'epochs':>6} {'state':>8} {'value':>7} {'last report':>11} {'ended at':>9}")
    for t in result["trials"]:
        value = "" if t["value"] is None else f"{t['value']:.4f}"
        last = "" if t["last_report"] is None else f"{t['last_report']:.4f}"
        ended = "" if t["ended_s"] is None else f"{t['ended_s']:.1f} s"
        print(f"  {t['number']:>5} {t['lr']:>9.3g} {t['epochs']:>6} {t['state']:>8} {value:>7} {last:>11} {ended:>9}")


def main() -> int:
    args = _args()
    c.quiet_torch(args.threads)
    import optuna
    import transformers  # noqa: F401 - imported by both sides; kobench's own imports (MLflow...) are timed

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    print(f"environment: {c.environment_line('cpu')}")
    order = [name.strip() for name in args.order.split(",")]
    if args.trainer_defaults:
        order.append("trainer_defaults")
    results: dict[str, Any] = {}
    with contextlib.ExitStack() as scope:
        work = args.work or Path(scope.enter_context(tempfile.TemporaryDirectory(prefix="kobench-study-")))
        data = prepare(args, work / "setup")
        shared_warm_up(data["model"])
        print(
            f"data: {data['source']}; {args.max_train} train / {args.max_eval} validation rows; BERT hidden "
            f"{args.hidden} x {args.layers} layers, vocab {args.vocab}; {args.trials} trials, lr {args.lr[0]:g}-"
            f"{args.lr[1]:g} (log), epochs {args.epochs[0]}-{args.epochs[1]}, TPE seed {args.seed}, median pruner "
            f"on both (Trainer reports every epoch's evaluation to trial.report and prunes on trial.should_prune)"
        )
        for name in order:
            print(f"running {name} ...", flush=True)
            shutil.rmtree(work / name, ignore_errors=True)  # fresh stores, checkpoints and features cache
            if name == "kobench":
                results[name] = run_kobench(args, data, work / "kobench")
            else:
                sampling = "random" if name == "trainer_defaults" else "group_by_length"
                results[name] = run_trainer(args, data, work / name, sampling)
    kobench, trainer = results["kobench"], results["trainer"]
    labels = {
        "kobench": f"kobench tune{f' --workers {args.workers}' if args.workers > 1 else ''} (SQLite Optuna + MLflow, "
        "checkpoints, final test evaluation and registry)",
        "trainer": "Trainer.hyperparameter_search, group_by_length (in-memory Optuna, no tracking, no checkpoints)",
        "trainer_defaults": "Trainer.hyperparameter_search, Trainer defaults (random sampling)",
    }
    for name in order:
        show(labels[name], results[name])
    if args.workers > 1:
        print(f"\nkobench ran {args.workers} workers: the phases below are its coordinating process's only (its trials ran"
              " in the workers), the rest of its wall time is in 'other'")  # fmt: skip
    print("\nwall time by exclusive phase (seconds)")
    names = list(dict.fromkeys(k for r in results.values() for k in r["phases"]))
    print(f"  {'phase':28s}" + "".join(f"{n:>18s}" for n in order))
    for phase in names:
        print(f"  {phase:28s}" + "".join(f"{results[n]['phases'].get(phase, 0.0):18.2f}" for n in order))
    print(f"  {'wall':28s}" + "".join(f"{results[n]['wall_s']:18.2f}" for n in order))
    epochs = {n: sum(t["epochs_trained"] for t in results[n]["trials"]) for n in order}
    evaluations = {n: sum(t["reports"] for t in results[n]["trials"]) for n in order}
    print(f"  {'epochs trained':28s}" + "".join(f"{epochs[n]:18.1f}" for n in order))
    print(f"  {'validation evaluations':28s}" + "".join(f"{evaluations[n]:18d}" for n in order))
    per_epoch = {n: results[n]["phases"].get("training steps", 0.0) / (epochs[n] or 1) for n in order}  # epochs may be 0.5
    print(f"  {'training s per epoch':28s}" + "".join(f"{per_epoch[n]:18.2f}" for n in order))
    print(
        f"  {'s per evaluation':28s}"
        + "".join(f"{results[n]['phases'].get('evaluation', 0.0) / max(1, evaluations[n]):18.2f}" for n in order)
    )
    trials_end = max(t["ended_s"] for t in kobench["trials"] if t["ended_s"] is not None)
    print(
        f"  kobench's final step (test evaluation of the best checkpoint, model logging, registry): "
        f"{kobench['final_step_s']:.2f} s; its last trial ended at {trials_end:.1f} s; test accuracy {kobench['test']:.4f}"
    )
    print(
        f"  Trainer's objective is the last epoch's accuracy; its best at any evaluation was "
        f"{trainer['best_any_evaluation']:.4f} (kobench keeps each trial's best epoch)"
    )
    reach = time_to(kobench["trials"], trainer["best"])
    own = time_to(trainer["trials"], trainer["best"])
    speedup = trainer["wall_s"] / kobench["wall_s"]
    print(
        f"\nspeedup {speedup:.2f}x (whole commands), {trainer['wall_s'] / trials_end:.2f}x to the end of the last trial; "
        f"kobench reached the peer's best ({trainer['best']:.4f}) at "
        f"{'never' if reach is None else f'{reach:.1f} s'}, the peer at {own:.1f} s; goal (>= 2x at an equal or "
        f"better best): {'met' if speedup >= 2 and kobench['best'] >= trainer['best'] else 'not met'}"
    )
    if "trainer_defaults" in results:
        print(f"speedup against Trainer defaults: {results['trainer_defaults']['wall_s'] / kobench['wall_s']:.2f}x")
    print(f"environment at the end: {c.environment_line('cpu')}")
    if args.json:
        args.json.write_text(json.dumps({"environment": c.environment_line("cpu"), **results}, indent=2, default=str))
    extra = ""
    if "trainer_defaults" in results:
        extra = f" speedup_vs_defaults={results['trainer_defaults']['wall_s'] / kobench['wall_s']:.2f}"
    print(
        f"kobench_seconds={kobench['wall_s']:.1f} trainer_seconds={trainer['wall_s']:.1f} speedup={speedup:.2f} "
        f"kobench_best={kobench['best']:.4f} trainer_best={trainer['best']:.4f} "
        f"time_to_peer_best={'none' if reach is None else f'{reach:.1f}'} workers={args.workers} "
        f"evals_per_epoch={args.evals_per_epoch} "
        f"trainer_evals_per_epoch={args.trainer_evals_per_epoch} trainer_sorted_eval={args.trainer_sorted_eval}{extra}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
