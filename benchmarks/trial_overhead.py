"""Where the time of a `kobench tune` goes besides training: loading, evaluation, checkpoints, MLflow, Optuna.

    python benchmarks/trial_overhead.py [--trials 4] [--max-train 2000] [--max-eval 1000] [--checkpoint-hidden 768]
    python benchmarks/trial_overhead.py --quick   # tiny sizes, every section, ~20 s: proves the script runs

1. Import time of the entry points (fresh interpreters, median of 5): `kobench --help`, the modules that
   `kobench tune` needs.
2. A real `kobench tune` study, in-process through the CLI, on NSMC from the mirror (synthetic NSMC-like
   text without it) with a small BERT built by `kobench tiny-model`: SQLite Optuna and MLflow stores in a
   temporary folder. The engine's functions are wrapped with timers (they still run); the table splits the
   study's wall time into training steps, validation, loading, checkpointing, MLflow calls and the rest
   (Optuna, bookkeeping).
3. Checkpoint cost for a BERT-base-sized model (110 M parameters): the in-memory copy of the best state
   (`_TrainLoop._keep_best`), `save_pretrained` (safetensors), and MLflow's artifact upload.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _common as c

IMPORTS = {
    "kobench --help": [str(Path(sys.executable).parent / "kobench"), "--help"],
    "import kobench.cli": [sys.executable, "-c", "import kobench.cli"],
    "import kobench.engine.training (torch, transformers)": [sys.executable, "-c", "import kobench.engine.training"],
    "import kobench.tuning.study (+ optuna, mlflow)": [sys.executable, "-c", "import kobench.tuning.study"],
}


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mirror", type=Path, default=Path(os.environ.get("KOBENCH_MIRROR", "mirror")))
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--max-train", type=int, default=2000)
    parser.add_argument("--max-eval", type=int, default=1000)
    parser.add_argument("--hidden", type=int, default=128, help="hidden size of the study's model")
    parser.add_argument("--checkpoint-hidden", type=int, default=768, help="0 skips the checkpoint section")
    parser.add_argument("--system-metrics", action="store_true", help="tracking.log_system_metrics: true")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, one timing of the light imports (figures mean nothing)"
    )
    args = parser.parse_args()
    args.import_repeats = 5
    if args.quick:
        args.trials, args.max_train, args.max_eval, args.hidden = 2, 128, 64, 32
        args.checkpoint_hidden, args.import_repeats = 64, 1
    return args


def import_times(repeats: int, *, light_only: bool = False) -> dict[str, float]:
    """Median seconds of each entry point in a fresh interpreter (``light_only``: those that import no torch)."""
    out = {}
    for name, command in IMPORTS.items():
        if light_only and "(" in name:
            continue
        seconds = []
        for _ in range(repeats):
            began = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            seconds.append(time.perf_counter() - began)
        out[name] = c.median(seconds)
        print(f"  {name:48s} {out[name]:6.2f} s", flush=True)
    return out


class Timers:
    """Inclusive seconds and call counts of wrapped callables (the real ones run)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = collections.defaultdict(float)
        self.calls: dict[str, int] = collections.defaultdict(int)
        self.undo: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, attribute: str, label: str) -> None:
        original = getattr(owner, attribute)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - began
                self.calls[label] += 1

        raw = vars(owner).get(attribute) if isinstance(owner, type) else None
        self.undo.append((owner, attribute, raw if isinstance(raw, staticmethod) else original))
        setattr(owner, attribute, staticmethod(timed) if isinstance(raw, staticmethod) else timed)

    def restore(self) -> None:
        for owner, attribute, original in reversed(self.undo):
            setattr(owner, attribute, original)


def instrument(timers: Timers, train_seconds: list[float], checkpoints_mib: list[float]) -> None:
    """Time the engine's phases; record each train()'s step time and the checkpoint bytes left after each trial."""
    from kobench.engine import evaluation, outputs, training
    from kobench.tuning import registry, tracking
    from kobench.tuning import study as tuning

    for name in ("load_tokenizer", "load_model", "load_features", "task_rows", "prepared_digest"):
        timers.wrap(training, name, f"train: {name}")
    timers.wrap(training._TrainLoop, "_keep_best", "train: best-state copy")
    timers.wrap(outputs, "write_run", "train: write_run (checkpoint, metrics)")
    timers.wrap(tracking.Tracker, "__init__", "mlflow: open store")
    for method in ("start_child", "log_metrics", "set_tags", "end", "study_run", "children", "fail_orphans"):
        timers.wrap(tracking.Tracker, method, "mlflow: runs, params, metrics, tags")
    timers.wrap(tracking.Tracker, "stop_monitor", "mlflow: system metrics stop")
    timers.wrap(tracking.Tracker, "log_pyfunc", "mlflow: model logging (checkpoint upload, signature)")
    timers.wrap(tracking.Tracker, "register", "mlflow: registry")
    timers.wrap(tuning, "open_or_create_study", "optuna: open study")
    timers.wrap(registry, "evaluate_checkpoint", "final: evaluate_checkpoint")
    timers.wrap(tuning.Objective, "__call__", "trials (objective)")
    objective_call = tuning.Objective.__call__

    def call(self: Any, trial: Any) -> float:
        try:
            return objective_call(self, trial)
        finally:
            on_disk = sum(f.stat().st_size for f in (self.paths.outputs / "trials").rglob("checkpoint/*"))
            checkpoints_mib.append(on_disk / 2**20)

    timers.undo.append((tuning.Objective, "__call__", objective_call))
    tuning.Objective.__call__ = call

    original_train, original_evaluate, in_train = tuning.train, evaluation.Evaluator.evaluate, [False]

    def train(*args: Any, **kwargs: Any) -> Any:
        began, in_train[0] = time.perf_counter(), True
        try:
            result = original_train(*args, **kwargs)
        finally:
            in_train[0] = False
        timers.seconds["train()"] += time.perf_counter() - began
        timers.calls["train()"] += 1
        train_seconds.append(result.throughput["train_seconds"])
        return result

    def evaluate(self: Any, model: Any) -> Any:  # validation in a trial (the final test is in evaluate_checkpoint)
        began = time.perf_counter()
        try:
            return original_evaluate(self, model)
        finally:
            if in_train[0]:
                timers.seconds["train: validation"] += time.perf_counter() - began
                timers.calls["train: validation"] += 1

    timers.undo += [(tuning, "train", original_train), (evaluation.Evaluator, "evaluate", original_evaluate)]
    tuning.train, evaluation.Evaluator.evaluate = train, evaluate


def study(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """One real `kobench tune` through the CLI, timed by phase."""
    import yaml

    from kobench.cli import app
    from kobench.records import read_study
    from kobench.tools.tiny_model import build_tiny_model

    if (args.mirror / "nsmc").is_dir():
        prepared_root, source = work / "prepared", f"NSMC from {args.mirror}"
        c.prepare_nsmc(args.mirror, work)
        corpus = [r["text"] for r in c.nsmc_rows_from_files(args.mirror / "nsmc", 20_000, 1, 0)[0]]
    else:
        prepared_root, source = work / "prepared", "synthetic NSMC-like rows (no mirror)"
        corpus = c.write_synthetic_prepared(
            prepared_root / "nsmc", {"train": 2 * args.max_train, "validation": args.max_eval, "test": args.max_eval}
        )
    model_dir = build_tiny_model(
        work / "model",
        corpus,
        vocab_size=8000,
        hidden_size=args.hidden,
        num_layers=2,
        num_heads=max(1, args.hidden // 64),
        intermediate_size=4 * args.hidden,
    )
    params = {
        "base": {
            "paths": {
                "prepared": str(prepared_root),
                "features": str(work / "features"),
                "outputs": str(work / "outputs"),
                "metrics": str(work / "metrics"),
                "reports": str(work / "reports"),
            }
        },
        "run": {"tasks": ["nsmc"], "models": ["bench"]},
        "models": {"bench": {"id": str(model_dir), "local_only": True, "size": "small"}},
        "data": {"max_train_samples": args.max_train, "max_eval_samples": args.max_eval},
        "train": {"device": "cpu"},
        "tune": {
            "n_trials": args.trials,
            "storage": f"sqlite:///{work}/optuna.db",
            "search_space": {"lr": {"low": 1e-4, "high": 1e-3}, "epochs": {"low": 1, "high": 2}},
        },
        "tracking": {"mlflow_uri": f"sqlite:///{work}/mlflow.db", "log_system_metrics": args.system_metrics},
    }
    params_file = work / "params.yaml"
    params_file.write_text(yaml.safe_dump(params))
    timers, train_seconds, checkpoints_mib = Timers(), [], [0.0]
    instrument(timers, train_seconds, checkpoints_mib)
    began = time.perf_counter()
    try:
        with contextlib.chdir(work):
            app(["tune", "--task", "nsmc", "--model", "bench", "--params", str(params_file)], standalone_mode=False)
    finally:
        timers.restore()
    wall = time.perf_counter() - began
    study_result = read_study(work / "metrics" / "nsmc" / "bench.json")  # the typed StudyResult tune wrote
    metrics = {"best_trial": study_result.best_trial, "test": study_result.test}
    return {
        "source": source,
        "wall": wall,
        "timers": dict(timers.seconds),
        "calls": dict(timers.calls),
        "train_steps": sum(train_seconds),
        "max_checkpoints_mib": max(checkpoints_mib),
        "metrics": metrics,
    }


def breakdown(result: dict[str, Any]) -> list[tuple[str, float]]:
    """Exclusive phases that add up to the study's wall time."""
    t = result["timers"]
    train_total = t.get("train()", 0.0)
    inside_train = [
        "train: validation",
        "train: load_tokenizer",
        "train: load_model",
        "train: load_features",
        "train: task_rows",
        "train: prepared_digest",
        "train: best-state copy",
        "train: write_run (checkpoint, metrics)",
    ]
    phases = [("training steps", result["train_steps"])]
    phases += [(name.removeprefix("train: "), t.get(name, 0.0)) for name in inside_train]
    phases.append(
        (
            "rest of train() (seeding, model.to, state restore, result)",
            train_total - result["train_steps"] - sum(t.get(n, 0.0) for n in inside_train),
        )
    )
    mlflow = [k for k in t if k.startswith("mlflow:")]
    phases += [(name, t[name]) for name in mlflow]
    phases.append(("final: evaluate_checkpoint (load, test evaluation)", t.get("final: evaluate_checkpoint", 0.0)))
    phases.append(("optuna: open study", t.get("optuna: open study", 0.0)))
    accounted = sum(v for _, v in phases)
    phases.append(("rest (Optuna trials, sampling, pruning, parent run, metrics file)", result["wall"] - accounted))
    return phases


def checkpoint_cost(hidden: int, work: Path) -> dict[str, float]:
    """Best-state copy, save_pretrained and MLflow artifact upload of a BERT-base-sized classifier."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from kobench.tuning.tracking import Tracker

    config = BertConfig(
        vocab_size=32000,
        hidden_size=hidden,
        num_hidden_layers=12,
        num_attention_heads=hidden // 64,
        intermediate_size=4 * hidden,
        num_labels=2,
    )
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    n_params = sum(p.numel() for p in model.parameters())
    out: dict[str, float] = {"parameters_m": n_params / 1e6}
    copies = []
    for _ in range(3):
        began = time.perf_counter()
        state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        copies.append(time.perf_counter() - began)
    del state
    out["best_state_copy_s"] = c.median(copies)
    saves = []
    for repeat in range(3):
        target = work / f"ckpt-{repeat}"
        began = time.perf_counter()
        model.save_pretrained(target, safe_serialization=True)
        saves.append(time.perf_counter() - began)
    out["save_pretrained_s"] = c.median(saves)
    out["checkpoint_mib"] = sum(p.stat().st_size for p in (work / "ckpt-0").iterdir()) / 2**20
    tracker = Tracker(f"sqlite:///{work}/ckpt-mlflow.db", "checkpoint-cost")
    uploads = []
    for repeat in range(3):
        run_id = tracker.start_child("none", f"upload-{repeat}", "final", {}, {})
        began = time.perf_counter()
        tracker.client.log_artifacts(run_id, str(work / f"ckpt-{repeat}"), "checkpoint")  # what log_model copies
        uploads.append(time.perf_counter() - began)
    out["mlflow_upload_s"] = c.median(uploads)
    return out


def main() -> int:
    args = _args()
    c.quiet_torch(args.threads)
    print(f"environment: {c.environment_line('cpu')}")
    figures: dict[str, Any] = {}
    print(f"1. import time (fresh interpreter, median of {args.import_repeats})")
    figures["imports"] = import_times(args.import_repeats, light_only=args.quick)

    with tempfile.TemporaryDirectory(prefix="kobench-overhead-") as scratch:
        work = Path(scratch)
        print(
            f"2. kobench tune: {args.trials} trials, {args.max_train} train / {args.max_eval} eval rows, "
            f"BERT hidden {args.hidden} x 2 layers, system metrics {'on' if args.system_metrics else 'off'}"
        )
        result = study(args, work / "study")
        trials = result["calls"].get("trials (objective)", 0)
        disk = result["max_checkpoints_mib"]
        print(
            f"  data: {result['source']}; wall {result['wall']:.1f} s for {trials} trials + final "
            f"(best trial {result['metrics']['best_trial']}, test accuracy {result['metrics']['test']['accuracy']:.4f})"
        )
        phases = breakdown(result)
        for name, seconds in phases:
            print(f"  {name:70s} {seconds:7.2f} s {seconds / result['wall']:6.1%}")
        print(f"  trial checkpoints on disk, most after any trial: {disk:.1f} MiB")
        figures["study"] = {
            "wall_s": result["wall"],
            "trials": trials,
            "phases": dict(phases),
            "calls": result["calls"],
            "source": result["source"],
            "max_checkpoints_mib": disk,
        }
        if args.checkpoint_hidden:
            print(f"3. checkpoint of a BERT hidden {args.checkpoint_hidden} x 12 layers classifier (median of 3)")
            figures["checkpoint"] = checkpoint_cost(args.checkpoint_hidden, work / "ckpt")
            for key, value in figures["checkpoint"].items():
                print(f"  {key:28s} {value:8.2f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    non_training = 1 - figures["study"]["phases"]["training steps"] / figures["study"]["wall_s"]
    print(f"study_wall_s={figures['study']['wall_s']:.1f} non_training_share={non_training:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
