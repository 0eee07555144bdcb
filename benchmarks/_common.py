"""Shared pieces of the benchmark scripts: data, model, the three training setups, evaluation variants, memory.

Not a test module and not part of the package. Everything measured as "kobench" goes through the engine's
own code: ``kobench.engine.training._TrainLoop`` (the loop ``training.train`` runs), ``kobench.engine.batching.Collator`` /
``make_batches`` and ``kobench.engine.evaluation.Evaluator``. The scripts add ``src`` to ``sys.path`` so they also run
from a bare copy of the working tree (the GPU machine has no installed kobench).
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import importlib.util
import math
import os
import random
import resource
import statistics
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Self

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Character lengths of NSMC ratings_train.txt documents (135,000 rows after the validation carve-out) at
# every 2.5th percentile, 0..100: synthetic text drawn from this has NSMC's length distribution.
NSMC_CHAR_PERCENTILES = (
    0,
    4,
    6,
    8,
    10,
    11,
    12,
    13,
    14,
    15,
    16,
    17,
    18,
    19,
    20,
    21,
    22,
    23,
    24,
    25,
    27,
    28,
    29,
    31,
    32,
    34,
    35,
    37,
    39,
    40,
    42,
    44,
    46,
    50,
    57,
    65,
    75,
    88,
    107,
    132,
    158,
)
_POSITIVE = ("최고", "재밌다", "감동", "추천", "명작", "좋다", "훌륭", "웃기다")
_NEGATIVE = ("최악", "지루", "별로", "실망", "아깝다", "졸작", "짜증", "노잼")
_SYLLABLES = "이다는고화영지하가도나아에기한의만어보은라게을리서요로니들인재시그스없정데무미면사말대해마있진를점감연네자거"


# --------------------------------------------------------------------------------------------- environment
def block_modules(names: list[str]) -> None:
    """Make ``import name`` fail for each name, as on a machine without those packages (the GPU machine)."""
    for name in names:
        if name in sys.modules and sys.modules[name] is not None:
            raise RuntimeError(f"{name} was already imported; call block_modules first")
        sys.modules[name] = None  # type: ignore[assignment] - None in sys.modules means "not importable"


def _stub(name: str, doc: str, attributes: tuple[str, ...]) -> None:
    """Register an importable placeholder module whose functions raise when called."""

    def unavailable(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError(f"{name} is a stub here: {doc}")

    module = types.ModuleType(name)
    module.__doc__ = f"stub: {doc}"
    for attribute in attributes:
        setattr(module, attribute, unavailable)
    sys.modules[name] = module


def import_training() -> types.ModuleType:
    """``kobench.engine.training``, importable where pydantic or seqeval is missing (the GPU machine).

    ``training`` imports ``kobench.engine.models`` only for ``train()``/``evaluate_checkpoint()`` (loading a model by
    catalogue row, which needs ``kobench.config`` and so pydantic), and ``kobench.metrics`` imports seqeval for
    NER only; ``RunConfig``, ``_TrainLoop``, the Evaluator and the classification family need neither. Where
    they are missing, placeholder modules are registered first (calling into them raises), so the GPU machine
    runs kobench's real loop and evaluator.
    """
    if importlib.util.find_spec("pydantic") is None and "kobench.engine.models" not in sys.modules:
        _stub(
            "kobench.engine.models",
            "pydantic is not installed, so catalogue models cannot be loaded",
            ("ModelRef", "check_fit", "load_config", "load_model", "load_tokenizer"),
        )
    if importlib.util.find_spec("seqeval") is None and "seqeval.metrics" not in sys.modules:
        _stub("seqeval", "seqeval is not installed (only NER scoring needs it)", ())
        _stub(
            "seqeval.metrics",
            "seqeval is not installed (only NER scoring needs it)",
            ("classification_report", "f1_score", "precision_score", "recall_score"),
        )
        sys.modules["seqeval.metrics"].__path__ = []  # a package: NER's unit statistics import a submodule
        _stub("seqeval.metrics.sequence_labeling", "seqeval is not installed (only NER scoring needs it)", ("get_entities",))
    return importlib.import_module("kobench.engine.training")


def stubbed() -> list[str]:
    """Names of the modules import_training replaced by placeholders."""
    return sorted(
        name for name, module in sys.modules.items() if module is not None and (module.__doc__ or "").startswith("stub: ")
    )


def quiet_torch(threads: int | None) -> None:
    """torch.set_num_threads when asked (a busy machine thrashes with more), and transformers' logs silenced."""
    import torch
    from transformers.utils import logging as hf_logging

    if threads:
        torch.set_num_threads(threads)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def environment_line(device: str) -> str:
    """One line naming what the numbers were measured on."""
    import torch
    import transformers

    parts = [f"torch {torch.__version__}", f"transformers {transformers.__version__}"]
    if device == "cuda":
        parts.append(f"GPU {torch.cuda.get_device_name(0)}")
    else:
        load = os.getloadavg()
        parts.append(
            f"CPU cores {os.cpu_count()}, torch threads {torch.get_num_threads()}, "
            f"load average {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}"
        )
    return "; ".join(parts)


# --------------------------------------------------------------------------------------------- memory
def rss_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def max_rss_mib() -> float:
    """The process's peak resident set size so far (getrusage: KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextlib.contextmanager
def setup_frozen() -> Iterator[None]:
    """Keep what the timing loop's setup made (modules, data, tokenizer) out of the collector's scans meanwhile.

    ``PeakMemory`` collects before each measurement so that one run's garbage is not counted in the next; a full
    collection scans every tracked object, 0.3-0.5 s with torch and transformers loaded, 24 times in a default
    ``throughput.py`` run (5 training setups and 3 evaluators, 3 repeats each). Frozen right after a full
    collection (so no garbage is pinned), the setup's objects are skipped, and each collection scans only what the
    runs made. Unfrozen at the end, unless frozen before.
    """
    gc.collect()
    outer = gc.get_freeze_count() > 0
    gc.freeze()
    try:
        yield
    finally:
        if not outer:
            gc.unfreeze()


class PeakMemory:
    """Peak RSS while the block runs (sampled every 5 ms by a thread) and, on CUDA, peak allocated GPU memory.

    RSS is per process: ``peak_rss`` is the process's resident size at its highest during the block, and
    ``grew`` how far that is above the size at the start (memory the block needed beyond what was resident).
    """

    def __init__(self, device: str = "cpu", interval: float = 0.005) -> None:
        self.device, self.interval = device, interval
        self.start_rss = self.peak_rss = 0.0
        self.gpu_peak: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        import psutil

        process = psutil.Process()
        while not self._stop.is_set():
            self.peak_rss = max(self.peak_rss, process.memory_info().rss / 2**20)
            self._stop.wait(self.interval)

    def __enter__(self) -> Self:
        gc.collect()
        if self.device == "cuda":
            import torch

            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        self.start_rss = self.peak_rss = rss_mib()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device == "cuda":
            import torch

            torch.cuda.synchronize()
            self.gpu_peak = torch.cuda.max_memory_allocated() / 2**20
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak_rss = max(self.peak_rss, rss_mib())

    @property
    def grew(self) -> float:
        return self.peak_rss - self.start_rss


# --------------------------------------------------------------------------------------------- data
def synthetic_nsmc_rows(n: int, seed: int, prefix: str = "s") -> list[dict[str, Any]]:
    """Rows shaped like prepared NSMC rows, with NSMC's character-length distribution and a learnable label.

    Text is Hangul words of 1-4 syllables with spaces and the odd '..', plus sentiment words that match the
    label nine times in ten, so a fine-tune has something real to learn.
    """
    rng = random.Random(seed)
    points = NSMC_CHAR_PERCENTILES
    rows = []
    for index in range(n):
        q = rng.random() * (len(points) - 1)
        low = int(q)
        target = max(2, round(points[low] + (points[min(low + 1, len(points) - 1)] - points[low]) * (q - low)))
        label = rng.randint(0, 1)
        words = []
        while sum(len(w) + 1 for w in words) < target:
            if rng.random() < 0.15:
                agree = rng.random() < 0.9
                words.append(rng.choice(_POSITIVE if (label == 1) == agree else _NEGATIVE))
            else:
                word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 4)))
                words.append(word + (".." if rng.random() < 0.08 else ""))
        rows.append({"id": f"{prefix}{index}", "text": " ".join(words)[:target], "text_pair": None, "label": label})
    return rows


def nsmc_rows_from_files(directory: Path, n_train: int, n_test: int, seed: int) -> tuple[list, list]:
    """(train rows, test rows) read straight from ``ratings_train.txt`` / ``ratings_test.txt`` in ``directory``.

    Uses kobench's own reader (no pyarrow, no prepare step), so it works on the GPU machine; a head-only
    sample (``head -n 5001 ratings_train.txt``) is enough.
    """
    from kobench.data.readers import read_rows
    from kobench.tasks import get_task

    spec = get_task("nsmc")
    out = []
    for name, split, n in (("ratings_train.txt", "train", n_train), ("ratings_test.txt", "test", n_test)):
        rows = read_rows(spec, directory / name, split)
        if len(rows) > n:
            keep = sorted(random.Random(seed).sample(range(len(rows)), n))
            rows = [rows[i] for i in keep]
        out.append(rows)
    return out[0], out[1]


def write_synthetic_korquad(path: Path, n_questions: int, seed: int = 0) -> Path:
    """A KorQuAD 1.0 (SQuAD JSON) file of ``n_questions`` over long synthetic Hangul contexts, each answerable.

    Contexts of ~800 characters (several windows at max_seq_len 512 with a small vocabulary), three questions
    each, the answer a span of the context with its character offset.
    """
    import json

    rng = random.Random(seed)
    paragraphs = []
    for index in range(0, n_questions, 3):
        context = " ".join(r["text"] for r in synthetic_nsmc_rows(24, seed * 100_003 + index, "k"))
        qas = []
        for q in range(min(3, n_questions - index)):
            words = context.split()
            start_word = rng.randrange(max(1, len(words) - 3))
            answer = " ".join(words[start_word : start_word + rng.randint(1, 3)])
            question = " ".join(rng.sample(words, min(5, len(words)))) + "?"
            answers = [{"text": answer, "answer_start": context.index(answer)}]
            qas.append({"id": f"q{index + q}", "question": question, "answers": answers})
        paragraphs.append({"context": context, "qas": qas})
    articles = [{"title": f"문서{i}", "paragraphs": paragraphs[i : i + 5]} for i in range(0, len(paragraphs), 5)]
    path.write_text(json.dumps({"version": "KorQuAD_v1.0_dev", "data": articles}, ensure_ascii=False), encoding="utf-8")
    return path


def write_synthetic_prepared(prepared: Path, sizes: dict[str, int]) -> list[str]:
    """Synthetic NSMC-like ``{split}.parquet`` files in ``prepared`` (what ``kobench prepare`` writes); their texts.

    ``sizes`` maps split to rows, e.g. ``{"train": 4000, "validation": 1000, "test": 1000}``.
    """
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    prepared.mkdir(parents=True, exist_ok=True)
    texts = []
    for split, n in sizes.items():
        rows = synthetic_nsmc_rows(n, seed=len(split), prefix=split)
        pq.write_table(pa.Table.from_pylist(rows), prepared / f"{split}.parquet")
        texts += [r["text"] for r in rows]
    (prepared / "meta.json").write_text(json.dumps({"task": "nsmc"}))
    return texts


def prepare_nsmc(mirror: Path, work: Path) -> Path:  # mirror: the datasets root holding nsmc/
    """Fetch NSMC from the local mirror and prepare it with kobench (as ``kobench fetch/prepare`` do)."""
    from kobench.data.fetch import fetch_task
    from kobench.data.prepare import prepare_task
    from kobench.tasks import get_task

    spec = get_task("nsmc")
    raw, prepared = work / "raw" / "nsmc", work / "prepared" / "nsmc"
    fetch_task(spec, raw, mirror=mirror)
    if not (prepared / "meta.json").exists():
        prepare_task(spec, raw, prepared)
    return prepared


def encode(rows: list[dict[str, Any]], tokenizer: Any, max_seq_len: int, *, token_type_ids: bool = True) -> dict:
    """NSMC features through the classification family's own encode (train=True adds labels)."""
    from kobench.families import get_family
    from kobench.families.base import EncodeSettings
    from kobench.tasks import get_task

    spec = get_task("nsmc")
    settings = EncodeSettings(max_seq_len=max_seq_len, token_type_ids=token_type_ids)
    return get_family(spec.family).encode(spec, rows, tokenizer, settings, train=True)


def real_tokens(features: dict) -> int:
    return sum(len(x) for x in features["input_ids"])


# --------------------------------------------------------------------------------------------- training setups
SETUPS = ("kobench", "reference", "trainer", "trainer_grouped")
SETUP_LABELS = {
    "kobench": "kobench (dynamic, grouped)",
    "reference": "reference (static 128, fp32)",
    "trainer": "HF Trainer defaults",
    "trainer_grouped": "HF Trainer, group_by_length",
    "kobench_torch_dropout": "kobench, torch nn.Dropout",
}


def rotated(names: tuple[str, ...], repeat: int) -> tuple[str, ...]:
    """``names`` rotated by ``repeat``: over the repeats each setup runs in every position, so load drift hits all alike."""
    shift = repeat % len(names)
    return names[shift:] + names[:shift]


def round_ratios(runs: list[dict], baseline: list[dict]) -> list[float]:
    """samples/s of ``runs`` over ``baseline``'s, round by round (both lists in repeat order): steadier than a ratio of
    medians where the machine's speed moves within a run, since both setups of a round ran close together."""
    return [
        a["train_samples_per_second"] / b["train_samples_per_second"] for a, b in zip(runs, baseline, strict=True)
    ]


def setup_runner(  # noqa: PLR0913
    training: types.ModuleType,
    make_model: Callable[[], Any],
    tokenizer: Any,
    val: tuple,
    *,
    device: str,
    bf16: bool,
    lr: float,
    batch_size: int,
    eval_batch_size: int,
    seed: int,
    max_seq_len: int,
    work: Path,
) -> tuple[Callable[[str, dict], dict[str, float]], dict[str, Any]]:
    """``run(setup, features)``: one training epoch of the named setup, the same model, samples and settings;
    and the RunConfigs of the two kobench-engine setups.

    kobench: RunConfig defaults (bf16 autocast when ``bf16``); reference: static padding to ``max_seq_len``,
    random order, fp32; trainer: ``transformers.Trainer`` defaults; trainer_grouped: the same with
    ``train_sampling_strategy="group_by_length"`` (its ``LengthGroupedSampler``).
    """
    common = {
        "lr": lr,
        "epochs": 1,
        "batch_size": batch_size,
        "eval_batch_size": eval_batch_size,
        "seed": seed,
        "max_seq_len": max_seq_len,
        "save_checkpoint": False,
        "device": device,
    }
    configs = {
        "kobench": training.RunConfig(**common, precision="bf16" if bf16 else "auto"),
        "reference": training.RunConfig(**common, padding="max_length", group_by_length=False, precision="fp32"),
    }
    pad_id = tokenizer.pad_token_id

    def run(name: str, features: dict) -> dict[str, float]:
        if name in ("trainer", "trainer_grouped"):
            sampling = "group_by_length" if name == "trainer_grouped" else "random"
            return trainer_epoch(
                make_model,
                features,
                tokenizer,
                device=device,
                bf16=bf16,
                batch_size=batch_size,
                lr=lr,
                seed=seed,
                work=work,
                sampling=sampling,
            )
        if name == "kobench_torch_dropout":  # the dropout lever alone: kobench's loop keeping torch's nn.Dropout
            with _torch_dropout(training):
                return kobench_epoch(training, make_model, features, val, configs["kobench"], pad_id)
        return kobench_epoch(training, make_model, features, val, configs[name], pad_id)

    return run, configs


@contextlib.contextmanager
def _torch_dropout(training: types.ModuleType) -> Iterator[None]:
    """``_TrainLoop`` leaves the model's ``nn.Dropout`` as it is (no quarter-draw dropout on CPU)."""
    swap = training.use_quarter_draw_dropout
    training.use_quarter_draw_dropout = lambda _model: 0
    try:
        yield
    finally:
        training.use_quarter_draw_dropout = swap


def kobench_epoch(
    training: types.ModuleType, make_model: Callable[[], Any], features: dict, val: tuple, config: Any, pad_id: int
) -> dict[str, float]:
    """One epoch through kobench's training loop (``_TrainLoop``, as ``train()`` builds it); its own timer.

    ``val`` is ``(rows, features)`` for the end-of-epoch validation the loop always runs (not timed by it).
    """
    from kobench.engine.batching import Collator
    from kobench.engine.evaluation import Evaluator
    from kobench.engine.runtime import Runtime
    from kobench.families import bind, get_family
    from kobench.families.base import EncodeSettings
    from kobench.tasks import get_task

    spec = get_task("nsmc")
    family = get_family(spec.family)
    runtime = Runtime.create(config.device, config.precision)
    training._seed_everything(config.seed)
    model = make_model().to(runtime.device)
    collator = Collator(
        pad_id,
        family.label_columns,
        max_length=config.max_seq_len if config.padding == "max_length" else None,
        multiple_of=runtime.pad_multiple,
    )
    settings = EncodeSettings(max_seq_len=config.max_seq_len)
    evaluators = {"validation": Evaluator(bind(spec), val[0], val[1], settings, collator, runtime, config.eval_batch_size)}
    loop = training._TrainLoop(spec, model, config, runtime, features, collator, evaluators, None)
    history, _ = loop.run()
    result = dict(loop.throughput())
    result["samples"], result["tokens"] = loop.samples, loop.tokens
    result["loss"] = history[-1]["train_loss"]
    del loop, model, evaluators
    return result


def trainer_epoch(
    make_model: Callable[[], Any],
    features: dict,
    tokenizer: Any,
    *,
    device: str,
    bf16: bool,
    batch_size: int,
    lr: float,
    seed: int,
    work: Path,
    sampling: str = "random",
) -> dict[str, float]:
    """One epoch of the real ``transformers.Trainer`` with its defaults (random order, DataCollatorWithPadding).

    ``sampling="group_by_length"`` is what a careful user switches on for variable-length text: Trainer's
    ``LengthGroupedSampler`` (mega-batches of 50 batches sorted by length, as kobench's pools). Only what must
    change is set: no reporting, saving, evaluation or logging, the batch size, learning rate
    and seed of the kobench runs, and bf16 where kobench uses it. The data is a plain list of dicts (the
    fastest thing to index; a ``datasets.Dataset`` would only add per-row Arrow reads). The epoch is timed
    between the ``on_epoch_begin``/``on_epoch_end`` callbacks, like kobench's loop timer (setup excluded).
    """
    import torch
    from transformers import DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments
    from transformers.trainer_callback import PrinterCallback
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    columns = [c for c in ("input_ids", "token_type_ids") if c in features]
    dataset = [
        {
            **{c: features[c][i] for c in columns},
            "attention_mask": [1] * len(features["input_ids"][i]),
            "labels": features["labels"][i],
        }
        for i in range(len(features["input_ids"]))
    ]

    class EpochTimer(TrainerCallback):
        seconds = 0.0

        def _sync(self) -> None:
            if device == "cuda":
                torch.cuda.synchronize()

        def on_epoch_begin(self, args, state, control, **kwargs):
            self._sync()
            self.started = time.perf_counter()

        def on_epoch_end(self, args, state, control, **kwargs):
            self._sync()
            self.seconds += time.perf_counter() - self.started

    torch.manual_seed(seed)
    model = make_model()
    timer = EpochTimer()
    args = TrainingArguments(
        output_dir=str(work / "trainer"),
        per_device_train_batch_size=batch_size,
        num_train_epochs=1,
        learning_rate=lr,
        seed=seed,
        report_to="none",
        save_strategy="no",
        eval_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
        use_cpu=device == "cpu",
        bf16=bf16,
        train_sampling_strategy=sampling,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=DataCollatorWithPadding(tokenizer),
        callbacks=[timer],
    )
    trainer.remove_callback(PrinterCallback)  # it would print the end-of-training metrics dict
    output = trainer.train()
    samples, tokens = len(dataset), real_tokens(features)
    seconds = max(timer.seconds, 1e-9)
    del trainer, model
    return {
        "train_seconds": round(seconds, 3),
        "train_samples_per_second": round(samples / seconds, 2),
        "train_tokens_per_second": round(tokens / seconds, 1),
        "samples": samples,
        "tokens": tokens,
        "loss": output.training_loss,
    }


# --------------------------------------------------------------------------------------------- evaluation
def eval_variants(
    model: Any, rows: list, features: dict, pad_id: int, runtime: Any, batch_size: int, max_seq_len: int
) -> dict[str, Any]:
    """Three Evaluators over the same rows: kobench's (length-sorted, dynamic), static 128, unsorted dynamic.

    All three run ``Evaluator.evaluate`` (predict, decode, score); they differ only in the collator's padding
    and, for the unsorted one, in the batch order (file order, as a plain DataLoader would give).
    """
    from kobench.engine.batching import Collator
    from kobench.engine.evaluation import Evaluator
    from kobench.families import bind, get_family
    from kobench.families.base import EncodeSettings
    from kobench.tasks import get_task

    spec = get_task("nsmc")
    family = get_family(spec.family)
    settings = EncodeSettings(max_seq_len=max_seq_len)
    dynamic = Collator(pad_id, family.label_columns, multiple_of=runtime.pad_multiple)
    static = Collator(pad_id, family.label_columns, max_length=max_seq_len)
    variants = {
        "kobench": Evaluator(bind(spec), rows, features, settings, dynamic, runtime, batch_size),
        "static": Evaluator(bind(spec), rows, features, settings, static, runtime, batch_size),
        "unsorted": Evaluator(bind(spec), rows, features, settings, dynamic, runtime, batch_size),
    }
    n = len(features["input_ids"])
    variants["unsorted"].batches = [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]
    return variants


def time_eval(evaluator: Any, model: Any, device: str) -> tuple[float, dict]:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    metrics, _ = evaluator.evaluate(model)
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started, metrics


# --------------------------------------------------------------------------------------------- reporting
def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def median_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """A distribution-free interval for the median of ``values``: (low, high, coverage).

    The order statistics x_(k) and x_(n+1-k), with k the largest for which the coverage, 1 - 2 P(Binomial(n, 1/2) < k),
    is still at least ``confidence`` (k = 1, the smallest and largest value, where no k reaches it: the coverage
    returned then says how much less it is). It assumes only that the rounds are independent draws of one ratio.
    """
    ordered, n = sorted(values), len(values)
    if n == 0:
        return math.nan, math.nan, math.nan

    def coverage(k: int) -> float:
        return 1 - 2 * sum(math.comb(n, i) for i in range(k)) / 2**n

    k = 1
    while k + 1 <= (n + 1) // 2 and coverage(k + 1) >= confidence:
        k += 1
    return ordered[k - 1], ordered[n - k], coverage(k)


def fmt(value: float, digits: int = 1) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.{digits}f}"
