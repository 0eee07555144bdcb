"""Step 4: one fine-tune of one model on one task -> best checkpoint, validation and test metrics."""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from kobench import __version__
from kobench.data.splits import prepared_digest, task_rows
from kobench.engine.batching import Collator, make_batches
from kobench.engine.dropout import use_quarter_draw_dropout
from kobench.engine.evaluation import Evaluator
from kobench.engine.features import load_features
from kobench.engine.inference import InferenceSetup, Predictor
from kobench.engine.models import ModelRef, check_fit, load_config, load_model, load_tokenizer
from kobench.engine.outputs import write_run
from kobench.engine.runtime import Runtime
from kobench.engine.scoring import with_intervals
from kobench.engine.tokenizer_check import sample_texts
from kobench.errors import KobenchError
from kobench.families import bind
from kobench.families.base import EncodeSettings, TaskFamily
from kobench.interrupts import check as check_interrupted
from kobench.metrics.registry import metric
from kobench.progress import Progress
from kobench.records import RunResult
from kobench.reuse import as_is, recall
from kobench.settings import RunConfig
from kobench.tasks.spec import TaskSpec

log = logging.getLogger(__name__)
# called after every validation evaluation with (step, epoch, validation metrics); True stops training
EvalHook = Callable[[int, float, dict[str, Any]], bool]


class NonFiniteLossError(KobenchError):
    """The training loss became NaN or infinite."""


def encode_settings(spec: TaskSpec, ref: ModelRef, config: RunConfig) -> EncodeSettings:
    """The task's published encoding (TASKS.md) with the run's max_seq_len; segment ids per model row."""
    return EncodeSettings.for_task(spec.hyperparameters, config.max_seq_len, token_type_ids=ref.row.token_type_ids)


def train(
    spec: TaskSpec,
    ref: ModelRef,
    config: RunConfig,
    *,
    prepared_dir: Path,
    run_dir: Path,
    features_dir: Path | None = None,
    on_evaluate: EvalHook | None = None,
    on_rows: Callable[[dict[str, list[dict[str, Any]]]], None] | None = None,
    evaluate_test: bool = True,
) -> RunResult:
    """Fine-tune, keep the best checkpoint by the validation main metric (``metrics.registry``), score it once on test.

    With ``config.selection == "test"`` every evaluation is also scored on test and the best test score
    is reported: the reference protocol, optimistic, and labelled as such in every output. Tuning trials
    pass ``evaluate_test=False``: test is then never touched (``test`` is null in the result).
    """
    runtime = Runtime.create(config.device, config.precision)
    _seed_everything(config.seed)
    task = bind(spec)
    family = task.family
    # one tokenizer for every trial of a study (kobench.reuse): its features' cache key is computed once
    tokenizer = recall(("tokenizer", repr(ref)), lambda: load_tokenizer(ref), copy=as_is)
    settings = encode_settings(spec, ref, config)
    splits = ("train", "validation", "test") if evaluate_test or config.selection == "test" else ("train", "validation")
    limits = config.row_limits()
    rows = {s: task_rows(spec, prepared_dir, s, max_rows=limits[s], seed=config.seed) for s in splits}
    check_fit(ref, tokenizer, load_config(ref).vocab_size, sample_texts(rows[splits[0]], task.input_columns()))
    if on_rows is not None:  # e.g. data lineage: the rows as used, before anything trains
        on_rows(rows)
    features = {
        s: load_features(task, rows[s], tokenizer, settings, train=s == "train", cache_dir=features_dir)
        for s in splits
    }
    model = load_model(ref, family.auto_class, task.num_labels(), **task.label_maps()).to(runtime.device)
    collator = _collator(family, tokenizer, settings, config, runtime)
    evaluators = {
        s: Evaluator(task, rows[s], features[s], settings, collator, runtime, config.eval_batch_size)
        for s in splits
        if s != "train"
    }
    loop = _TrainLoop(spec, model, config, runtime, features["train"], collator, evaluators, on_evaluate)
    history, best = loop.run()
    model.load_state_dict(best["state"])
    test_metrics, test_predictions = best.get("test") or (
        evaluators["test"].evaluate(model) if "test" in evaluators else (None, {})
    )
    if test_metrics is not None:
        test_metrics = with_intervals(task, evaluators["test"].rows, test_predictions, test_metrics)
    result = RunResult(
        task=spec.name,
        task_version=spec.version,
        model=ref.key,
        model_id=ref.id,
        model_revision=ref.row.revision,
        size=ref.row.size,
        main_metric=spec.main_metric,
        selection=config.selection,
        protocol=_protocol(config.selection),
        config=asdict(config),
        best={"step": best["step"], "epoch": best["epoch"]},
        validation=best["validation"],
        test=test_metrics,
        history=history,
        stopped_early=loop.stopped_early,
        rows={s: len(rows[s]) for s in splits},
        subsampled={s: limits[s] is not None and len(rows[s]) == limits[s] for s in splits},
        prepared_digest=prepared_digest(prepared_dir),
        throughput=loop.throughput(),
        device=str(runtime.device),
        precision=runtime.precision,
        kobench_version=__version__,
    )

    write_run(run_dir, result, task, test_predictions, model if config.save_checkpoint else None, tokenizer)
    return result


def _collator(family: TaskFamily, tokenizer: Any, settings: EncodeSettings, config: RunConfig, runtime: Runtime) -> Collator:
    """Dynamic padding (to a multiple of 8 on GPU), or static padding to max_seq_len when asked for."""
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    max_length = settings.max_seq_len if config.padding == "max_length" else None
    return Collator(pad_id, family.label_columns, max_length=max_length, multiple_of=runtime.pad_multiple)


def _protocol(selection: str) -> str:
    if selection == "test":
        return "test-selected: checkpoint chosen on the test set (reference protocol; optimistic)"
    return "validation-selected: checkpoint chosen on validation, test scored once"


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def eval_points(steps_per_epoch: int, evals_per_epoch: int) -> set[int]:
    """Steps within an epoch (counted from 1) after which to evaluate; the epoch's last step always is one."""
    return {max(1, round(steps_per_epoch * k / evals_per_epoch)) for k in range(1, evals_per_epoch + 1)}


class _TrainLoop:
    """AdamW (no decay on bias/LayerNorm), linear schedule with warmup, gradient clipping, periodic evaluation."""

    def __init__(self, spec, model, config, runtime, features, collator, evaluators, on_evaluate):  # noqa: ANN001, PLR0913
        self.spec, self.model, self.config, self.runtime = spec, model, config, runtime
        self.features, self.collator, self.evaluators, self.on_evaluate = features, collator, evaluators, on_evaluate
        self.rng = random.Random(config.seed)
        self.lengths = [len(x) for x in features["input_ids"]]
        self.steps_per_epoch = math.ceil(len(self.lengths) / config.batch_size)
        self.total_steps = self.steps_per_epoch * config.epochs
        if runtime.device.type == "cpu":  # the dropout masks were 13 % of a step: see engine/dropout.py
            use_quarter_draw_dropout(model)
        self.optimizer = _optimizer(model, config, runtime)
        self.trained = [p for p in model.parameters() if p.requires_grad]
        # one multi-tensor norm for the clip instead of one per parameter (torch's default on CPU): measured to pay
        self.clip_foreach = True if runtime.device.type in ("cpu", "cuda") else None
        warmup = int(self.total_steps * config.warmup_ratio)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, _linear_schedule(warmup, self.total_steps))
        self.stopped_early = False
        self.train_seconds, self.samples, self.tokens = 0.0, 0, 0

    def run(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        history: list[dict[str, Any]] = []
        best: dict[str, Any] = {}
        step, points = 0, eval_points(self.steps_per_epoch, self.config.evals_per_epoch)
        self.model.train()
        for epoch in range(self.config.epochs):
            batches = make_batches(
                self.lengths,
                self.config.batch_size,
                shuffle=True,
                group_by_length=self.config.group_by_length,
                rng=self.rng,
            )
            running = torch.zeros((), device=self.runtime.device)
            started = time.perf_counter()
            shown = Progress(len(batches), f"{self.spec.name} epoch {epoch + 1}/{self.config.epochs}")
            for index, batch in enumerate(batches, start=1):
                check_interrupted()
                running += self._step(batch)
                step += 1
                shown.advance(samples=len(batch), loss=lambda running=running, index=index: float(running / index))
                if index in points:
                    self._sync_time(started)
                    record = self._evaluate(step, epoch + index / len(batches), running / index)
                    history.append(record)
                    best = self._keep_best(best, record)
                    if self.on_evaluate and self.on_evaluate(step, record["epoch"], record["validation"]):
                        self.stopped_early = True
                        shown.close()
                        return history, best
                    started = time.perf_counter()
            shown.close()
        return history, best

    def _step(self, batch: list[int]) -> torch.Tensor:
        inputs = {
            k: v.to(self.runtime.device, non_blocking=True)
            for k, v in self.collator(self.features, batch, labels=True).items()
        }
        with self.runtime.autocast():
            loss = self.model(**inputs).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.trained, self.config.max_grad_norm, foreach=self.clip_foreach)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.samples += len(batch)
        self.tokens += sum(self.lengths[i] for i in batch)
        return loss.detach()  # summed on device: no host synchronisation per step

    def _sync_time(self, started: float) -> None:
        self.runtime.synchronize()
        self.train_seconds += time.perf_counter() - started

    def _evaluate(self, step: int, epoch: float, mean_loss: torch.Tensor) -> dict[str, Any]:
        loss = float(mean_loss)
        if not math.isfinite(loss):
            raise NonFiniteLossError(f"training loss is {loss} at step {step} (lr {self.config.lr})")
        validation, _ = self.evaluators["validation"].evaluate(self.model)
        record = {"step": step, "epoch": round(epoch, 4), "train_loss": loss, "validation": validation}
        if self.config.selection == "test":
            record["test"], record["_test_predictions"] = self.evaluators["test"].evaluate(self.model)
        self.model.train()
        log.info(
            "step %d epoch %.2f loss %.4f validation %s %.4f",
            step,
            epoch,
            loss,
            self.spec.main_metric,
            validation[self.spec.main_metric],
        )
        return record

    def _keep_best(self, best: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
        split = "test" if self.config.selection == "test" else "validation"
        test_predictions = record.pop("_test_predictions", None)
        score = record[split][self.spec.main_metric]
        if best and not metric(self.spec.main_metric).better(score, best["score"]):
            return best  # a tie keeps the earlier checkpoint
        state = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
        kept = {"score": score, "step": record["step"], "epoch": record["epoch"], "state": state}
        kept["validation"] = record["validation"]
        if test_predictions is not None:
            kept["test"] = (record["test"], test_predictions)
        return kept

    def throughput(self) -> dict[str, float]:
        seconds = max(self.train_seconds, 1e-9)
        return {
            "train_seconds": round(self.train_seconds, 3),
            "train_samples_per_second": round(self.samples / seconds, 2),
            "train_tokens_per_second": round(self.tokens / seconds, 1),
            "torch_threads": torch.get_num_threads(),  # a CPU figure means little without it
        }


def _optimizer(model: torch.nn.Module, config: RunConfig, runtime: Runtime) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (no_decay if name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name else decay).append(param)
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # One fused kernel for every parameter instead of a dozen small ops per tensor: the step's largest host cost
    # on CPU (measured in benchmarks/README.md); CUDA and CPU have fused AdamW, other devices keep the default.
    return torch.optim.AdamW(groups, lr=config.lr, eps=1e-8, fused=runtime.device.type in ("cuda", "cpu"))


def _linear_schedule(warmup: int, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


def evaluate_checkpoint(
    spec: TaskSpec,
    ref: ModelRef,
    checkpoint: Path,
    config: RunConfig,
    *,
    prepared_dir: Path,
    features_dir: Path | None = None,
    split: str = "test",
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Score a saved fine-tuned checkpoint once on ``split``: (metrics, predictions by row id)."""
    setup = inference_setup(spec, ref, config)
    predictor = Predictor(spec, checkpoint, setup, device=config.device, precision=config.precision)
    rows = task_rows(spec, prepared_dir, split, max_rows=config.max_eval_samples, seed=config.seed)
    metrics, predictions = predictor.evaluator(rows, features_dir).evaluate(predictor.model)
    return with_intervals(bind(spec), rows, predictions, metrics), predictions


def inference_setup(spec: TaskSpec, ref: ModelRef, config: RunConfig) -> Any:
    """How evaluation encodes and batches for this run: what a served checkpoint must repeat."""
    return InferenceSetup(encode_settings(spec, ref, config), config.eval_batch_size, config.padding)
