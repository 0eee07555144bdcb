"""GPU check (about 5 minutes on one H100/H200): bf16 training throughput and MFU, eval throughput, a real fine-tune.

    python benchmarks/gpu_check.py                       # on the GPU machine (device cuda)
    python benchmarks/gpu_check.py --nsmc DIR            # DIR holds ratings_train.txt / ratings_test.txt (or heads)
    python benchmarks/gpu_check.py --device cpu --quick  # end-to-end smoke run on a CPU (tiny sizes, fp32)

Runs only with what the GPU machine has (torch, transformers, accelerate, tokenizers, numpy, pyarrow,
scikit-learn): no pydantic, datasets, mlflow, optuna, dvc or seqeval. ``kobench`` is imported from ``src``
of this working tree; ``kobench.engine.training`` is imported with ``kobench.engine.models`` stubbed where pydantic is
missing (see ``_common.import_training``), so the measured loop is kobench's own ``_TrainLoop``.
``--simulate-device-env`` blocks those packages here, to prove the script needs none of them.

1. Training throughput, BERT-base-sized random-init model (hidden 768, 12 layers, 12 heads, vocab 32000), one
   epoch per run, median of ``--repeats`` after a warm-up: kobench (bf16 autocast, dynamic padding to a
   multiple of 8, length-grouped) vs the reference (static 128, fp32 - TF32 matmuls on CUDA, random order)
   vs ``transformers.Trainer`` defaults (DataCollatorWithPadding, random order) with ``bf16=True``, and the same
   Trainer with ``train_sampling_strategy="group_by_length"``.
   MFU = 6 x parameters x real (non-pad) tokens / seconds / peak dense bf16 FLOP/s of the device.
2. Evaluation throughput of the same model: Evaluator sorted+dynamic vs static 128 vs unsorted dynamic.
3. A short fine-tune + evaluation of a small model (hidden 256, 4 layers) on NSMC sentiment through kobench's
   loop and Evaluator; test accuracy. Real NSMC needs ``--nsmc DIR`` (the machine gets only the git working
   tree: copy a sample into an ignored folder and carry it, see benchmarks/README.md); otherwise synthetic
   NSMC-like text with a planted sentiment signal is used and the accuracy says only that learning works.
4. Trials per device: a KoELECTRA-Small-sized model (ELECTRA, hidden 256, 12 layers, 4 heads) trained as 1, 2 and 4
   concurrent trial processes on the same device (what ``train.trials_per_device`` allows), one short trial
   each (``--trial-samples`` rows, one epoch, batch 32, bf16, then validation); trials/hour = trials / wall.
   The processes come from a fork server that imported torch, transformers and scikit-learn once (never CUDA),
   and block what ``--simulate-device-env`` blocks.

The last line is ``gpu_check: ...`` with the headline figures; ``--out DIR`` (default ``$OUT`` when set)
also gets ``gpu_check.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

import _common as c

DEVICE_MISSING = ["pydantic", "datasets", "mlflow", "optuna", "dvc", "seqeval"]
# what the fork server of section 4 imports once for every trial process (none of them imports DEVICE_MISSING)
TRIAL_PRELOAD = ["torch", "transformers", "transformers.models.electra.modeling_electra", "sklearn.metrics"]

# Peak dense (no sparsity) bf16 tensor-core FLOP/s by device name; first match wins (more specific first).
PEAK_BF16 = (
    ("GH200", 989e12),
    ("H200", 989e12),
    ("H100 NVL", 835e12),
    ("H100 PCIe", 756e12),
    ("H100", 989e12),
    ("H800", 989e12),
    ("H20", 148e12),
    ("B200", 2250e12),
    ("A100", 312e12),
    ("A800", 312e12),
    ("L40S", 362e12),
    ("L40", 181e12),
    ("L4", 121e12),
    ("A10G", 70e12),
    ("A10", 125e12),
)


def peak_flops(name: str, override: float | None) -> float | None:
    if override:
        return override * 1e12
    return next((peak for key, peak in PEAK_BF16 if key.lower() in name.lower()), None)


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat: proves the script runs")
    parser.add_argument("--nsmc", type=Path, default=None, help="folder with ratings_train.txt/ratings_test.txt")
    parser.add_argument("--train-samples", type=int, default=None, help="throughput samples (default 8192)")
    parser.add_argument("--repeats", type=int, default=None, help="default 3 (quick: 1)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--ft-train-samples", type=int, default=None, help="fine-tune rows (default 20000)")
    parser.add_argument("--ft-epochs", type=int, default=None, help="fine-tune epochs (default 2)")
    parser.add_argument("--skip-throughput", action="store_true", help="only the fine-tune and the trials per device")
    parser.add_argument("--trial-samples", type=int, default=None, help="rows per concurrent trial (default 20000)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="override the device's bf16 peak")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU runs)")
    parser.add_argument("--budget-s", type=float, default=300, help="skip what would start after this")
    parser.add_argument("--out", type=Path, default=Path(os.environ["OUT"]) if os.environ.get("OUT") else None)
    parser.add_argument(
        "--simulate-device-env",
        action="store_true",
        help=f"make {', '.join(DEVICE_MISSING)} unimportable, as on the GPU machine",
    )
    return parser.parse_args()


def _data(args: argparse.Namespace, n_train: int, n_test: int) -> dict:
    """Rows for every section: real NSMC from --nsmc (or the local mirror), else synthetic."""
    mirror = Path(os.environ.get("KOBENCH_MIRROR", "mirror")) / "nsmc"
    folder = args.nsmc or (mirror if (mirror / "ratings_train.txt").exists() else None)
    if folder is not None:
        train, test = c.nsmc_rows_from_files(folder, n_train + 20000, n_test, seed=42)
        train = [r for r in train if r["text"]]
        return {
            "source": f"NSMC from {folder}",
            "train": train[:n_train],
            "corpus": [r["text"] for r in train],
            "test": test,
            "real": True,
        }
    train = c.synthetic_nsmc_rows(n_train, 42, "tr")
    return {
        "source": "synthetic (NSMC length distribution, planted sentiment words)",
        "train": train,
        "corpus": [r["text"] for r in train[:20000]],
        "test": c.synthetic_nsmc_rows(n_test, 43, "te"),
        "real": False,
    }


class Budget:
    def __init__(self, seconds: float) -> None:
        self.started, self.seconds = time.perf_counter(), seconds

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def left(self) -> bool:
        return self.elapsed < self.seconds


def throughput_section(args, sizes, data, tokenizer, training, budget, report) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, BertConfig

    device, cuda = args.device, args.device == "cuda"
    pad_id = tokenizer.pad_token_id
    config = BertConfig(
        vocab_size=len(tokenizer) if args.quick else max(32000, len(tokenizer)),
        hidden_size=sizes["hidden"],
        num_hidden_layers=sizes["layers"],
        num_attention_heads=sizes["heads"],
        intermediate_size=4 * sizes["hidden"],
        max_position_embeddings=512,
        num_labels=2,
        pad_token_id=pad_id,
    )

    def make_model():
        with torch.device(device):  # initialise in place: no 440 MB copy per run
            return AutoModelForSequenceClassification.from_config(config, dtype=torch.float32)

    n_params = sum(p.numel() for p in make_model().parameters())
    features = c.encode(data["train"][: sizes["train"]], tokenizer, 128)
    val_rows = data["test"][:64]
    val = (val_rows, c.encode(val_rows, tokenizer, 128))
    tokens = c.real_tokens(features)
    peak = peak_flops(torch.cuda.get_device_name(0) if cuda else "cpu", args.peak_tflops)
    report["throughput"] = {
        "parameters": n_params,
        "samples": len(features["input_ids"]),
        "real_tokens": tokens,
        "peak_flops": peak,
    }
    print(
        f"[1] training throughput: BERT hidden {sizes['hidden']}, {sizes['layers']} layers, "
        f"{n_params / 1e6:.1f} M parameters; {len(features['input_ids'])} samples, {tokens} real tokens; "
        f"batch {args.batch_size}; peak dense bf16 {f'{peak / 1e12:.0f} TFLOP/s' if peak else 'unknown (no MFU)'}",
        flush=True,
    )
    run, _ = c.setup_runner(
        training,
        make_model,
        tokenizer,
        val,
        device=device,
        bf16=cuda,
        lr=5e-5,
        batch_size=args.batch_size,
        eval_batch_size=128,
        seed=42,
        max_seq_len=128,
        work=Path(report["_work"]),
    )
    setups = c.SETUPS
    warm = {k: v[: sizes["warm"]] for k, v in features.items()}
    for name in setups:
        run(name, warm)
    runs: dict[str, list[dict]] = {name: [] for name in setups}
    with c.setup_frozen():  # each PeakMemory collection scans only what the runs made
        for repeat in range(sizes["repeats"]):
            if repeat and not budget.left():
                print(f"  budget of {budget.seconds:.0f} s reached: stopping after {repeat} repeat(s)")
                break
            for name in c.rotated(setups, repeat):
                with c.PeakMemory(device) as memory:
                    result = run(name, features)
                result.update(peak_rss_mib=memory.peak_rss, gpu_peak_mib=memory.gpu_peak)
                if peak:
                    result["mfu"] = 6 * n_params * result["tokens"] / result["train_seconds"] / peak
                runs[name].append(result)
                print(
                    f"  repeat {repeat + 1} {name:9s} {result['train_samples_per_second']:9.1f} samples/s "
                    f"{result['train_tokens_per_second']:11.1f} tokens/s  "
                    f"MFU {c.fmt(result.get('mfu', float('nan')) * 100, 2)}"
                    f"  GPU peak {c.fmt(memory.gpu_peak or float('nan'), 0)} MiB  RSS {memory.peak_rss:.0f} MiB",
                    flush=True,
                )
                if cuda:
                    torch.cuda.empty_cache()
    summary = {}
    for name, rs in runs.items():
        summary[name] = {
            "samples_per_second": c.median([r["train_samples_per_second"] for r in rs]),
            "tokens_per_second": c.median([r["train_tokens_per_second"] for r in rs]),
            "mfu": c.median([r["mfu"] for r in rs]) if peak else None,
            "gpu_peak_mib": max((r["gpu_peak_mib"] or 0) for r in rs) if cuda else None,
            "peak_rss_mib": max(r["peak_rss_mib"] for r in rs),
        }
    k = summary["kobench"]["samples_per_second"]
    paired = c.round_ratios(runs["kobench"], runs["trainer_grouped"])
    interval = dict(zip(("low", "high", "coverage"), c.median_interval(paired), strict=True))
    report["throughput"].update(
        summary=summary,
        runs=runs,
        speedup_vs_reference=k / summary["reference"]["samples_per_second"],
        speedup_vs_trainer_default=k / summary["trainer"]["samples_per_second"],
        speedup_vs_trainer_grouped=k / summary["trainer_grouped"]["samples_per_second"],
        paired_vs_trainer_grouped=c.median(paired),
        paired_vs_trainer_grouped_interval=interval,
    )
    for name, s in summary.items():
        mfu = f"{s['mfu'] * 100:.2f}%" if s["mfu"] is not None else "n/a"
        print(
            f"  median {name:9s} {s['samples_per_second']:9.1f} samples/s {s['tokens_per_second']:11.1f} tokens/s MFU {mfu}"
        )
    print(
        f"  speedup vs reference {report['throughput']['speedup_vs_reference']:.2f}x, vs Trainer defaults "
        f"{report['throughput']['speedup_vs_trainer_default']:.2f}x, vs Trainer group_by_length "
        f"{report['throughput']['speedup_vs_trainer_grouped']:.2f}x (within each round: "
        f"{report['throughput']['paired_vs_trainer_grouped']:.2f}x, {interval['coverage']:.0%} interval "
        f"{interval['low']:.2f}-{interval['high']:.2f})",
        flush=True,
    )

    # [2] evaluation throughput with the same architecture
    from kobench.engine.runtime import Runtime

    runtime = Runtime.create(device, "bf16" if cuda else "auto")
    model = make_model().eval()
    test_rows = data["test"][: sizes["eval"]]
    test_features = c.encode(test_rows, tokenizer, 128)
    eval_tokens = c.real_tokens(test_features)
    variants = c.eval_variants(model, test_rows, test_features, pad_id, runtime, 128, 128)
    eval_summary = {}
    for name, evaluator in variants.items():
        c.time_eval(evaluator, model, device)
        seconds = []
        with c.PeakMemory(device) as memory:
            for _ in range(sizes["repeats"]):
                seconds.append(c.time_eval(evaluator, model, device)[0])
        best = c.median(seconds)
        eval_summary[name] = {
            "samples_per_second": len(test_rows) / best,
            "tokens_per_second": eval_tokens / best,
            "gpu_peak_mib": memory.gpu_peak,
            "peak_rss_mib": memory.peak_rss,
        }
        print(
            f"[2] eval {name:9s} {len(test_rows) / best:9.1f} samples/s {eval_tokens / best:11.1f} tokens/s  "
            f"GPU peak {c.fmt(memory.gpu_peak or float('nan'), 0)} MiB",
            flush=True,
        )
    report["eval"] = eval_summary
    del model


def finetune_section(args, sizes, data, corpus_model, training, report) -> None:
    """Fine-tune the small model with kobench's loop, keep the best epoch on validation, score test once."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from kobench.engine.batching import Collator
    from kobench.engine.evaluation import Evaluator
    from kobench.engine.runtime import Runtime
    from kobench.families import bind, get_family
    from kobench.families.base import EncodeSettings
    from kobench.tasks import get_task

    spec = get_task("nsmc")
    family = get_family(spec.family)
    tokenizer = AutoTokenizer.from_pretrained(corpus_model)
    train_rows = data["train"][: sizes["ft_train"]]
    held = data["test"][: sizes["ft_val"] + sizes["ft_test"]]
    val_rows, test_rows = held[: sizes["ft_val"]], held[sizes["ft_val"] :]
    settings = EncodeSettings(max_seq_len=128)
    feats = {
        name: c.encode(rows, tokenizer, 128)
        for name, rows in (("train", train_rows), ("validation", val_rows), ("test", test_rows))
    }
    config = training.RunConfig(
        lr=sizes["ft_lr"],
        epochs=sizes["ft_epochs"],
        batch_size=32,
        warmup_ratio=0.1,
        weight_decay=0.01,
        seed=42,
        max_seq_len=128,
        device=args.device,
        precision="bf16" if args.device == "cuda" else "auto",
    )
    runtime = Runtime.create(config.device, config.precision)
    training._seed_everything(config.seed)
    model = AutoModelForSequenceClassification.from_pretrained(corpus_model, num_labels=2, dtype=torch.float32).to(
        runtime.device
    )
    collator = Collator(tokenizer.pad_token_id, family.label_columns, multiple_of=runtime.pad_multiple)
    evaluators = {
        s: Evaluator(bind(spec), rows, feats[s], settings, collator, runtime, 128)
        for s, rows in (("validation", val_rows), ("test", test_rows))
    }
    started = time.perf_counter()
    loop = training._TrainLoop(spec, model, config, runtime, feats["train"], collator, evaluators, None)
    history, best = loop.run()
    model.load_state_dict(best["state"])
    test_metrics, _ = evaluators["test"].evaluate(model)
    report["finetune"] = {
        "data": data["source"],
        "train_rows": len(train_rows),
        "validation_rows": len(val_rows),
        "test_rows": len(test_rows),
        "epochs": config.epochs,
        "lr": config.lr,
        "best_epoch": best["epoch"],
        "validation": best["validation"],
        "test": test_metrics,
        "throughput": loop.throughput(),
        "history": [{k: h[k] for k in ("step", "epoch", "train_loss", "validation")} for h in history],
        "wall_seconds": time.perf_counter() - started,
    }
    for h in history:
        print(
            f"  epoch {h['epoch']:.0f}: train loss {h['train_loss']:.4f}, validation accuracy "
            f"{h['validation']['accuracy']:.4f}"
        )
    print(
        f"[3] fine-tune: {len(train_rows)} rows x {config.epochs} epochs, {loop.throughput()['train_samples_per_second']}"
        f" samples/s; test accuracy {test_metrics['accuracy']:.4f} on {len(test_rows)} rows ({data['source']})",
        flush=True,
    )


def _trial_process(  # noqa: PLR0913
    model_dir: str, features_path: str, device: str, threads: int, blocked: list[str],
    ready: object, start: object, results: object,
) -> None:
    """One trial in its own process: kobench's loop on the saved features, one epoch, then validation.

    ``blocked``: the packages the parent made unimportable (``--simulate-device-env``), made so here too before
    kobench is imported, so that a trial process needs no more than the GPU machine has.
    """
    import pickle

    c.block_modules(blocked)
    import torch
    from transformers import AutoModelForSequenceClassification

    c.quiet_torch(threads)
    training = c.import_training()
    from kobench.engine.batching import Collator
    from kobench.engine.evaluation import Evaluator
    from kobench.engine.runtime import Runtime
    from kobench.families import bind, get_family
    from kobench.families.base import EncodeSettings
    from kobench.tasks import get_task

    with open(features_path, "rb") as handle:
        feats, pad_id, val_rows = pickle.load(handle)
    spec = get_task("nsmc")
    family = get_family(spec.family)
    config = training.RunConfig(lr=1e-4, epochs=1, batch_size=32, seed=0, max_seq_len=128, device=device,
                                precision="bf16" if device.startswith("cuda") else "auto")  # fmt: skip
    runtime = Runtime.create(config.device, config.precision)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2, dtype=torch.float32)
    model = model.to(runtime.device)
    collator = Collator(pad_id, family.label_columns, multiple_of=runtime.pad_multiple)
    settings = EncodeSettings(max_seq_len=128)
    evaluators = {"validation": Evaluator(bind(spec), val_rows, feats["validation"], settings, collator, runtime, 128)}
    ready.put(True)
    start.wait()  # every trial of the round starts together, once all have loaded
    began = time.perf_counter()
    loop = training._TrainLoop(spec, model, config, runtime, feats["train"], collator, evaluators, None)
    loop.run()
    runtime.synchronize()
    results.put((time.perf_counter() - began, c.stubbed()))


def concurrency_section(args, sizes, data, report) -> None:
    """Trials/hour of a KoELECTRA-Small-sized model with 1, 2 and 4 trials sharing one device."""
    import multiprocessing
    import pickle

    from transformers import AutoTokenizer

    from kobench.tools.tiny_model import build_tiny_model
    from kobench.tuning.workers import shared_threads

    work = Path(report["_work"])
    small = {"hidden_size": 64, "num_layers": 1, "num_heads": 1, "intermediate_size": 128} if args.quick else {
        "hidden_size": 256, "num_layers": 12, "num_heads": 4, "intermediate_size": 1024}  # fmt: skip
    model_dir = build_tiny_model(work / "electra-small", data["corpus"][:20000], arch="electra",
                                 vocab_size=2000 if args.quick else 8000, seed=0,
                                 **small)  # fmt: skip
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    train_rows, val_rows = data["train"][: sizes["trial_train"]], data["test"][: sizes["ft_val"]]
    feats = {"train": c.encode(train_rows, tokenizer, 128), "validation": c.encode(val_rows, tokenizer, 128)}
    features_path = work / "trial-features.pkl"
    features_path.write_bytes(pickle.dumps((feats, tokenizer.pad_token_id, val_rows)))
    # CUDA cannot be forked from a process that has used it; a fork server that has only imported the libraries
    # (never touched the device) can: each trial process starts without paying those imports (5-8 s each) again
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(TRIAL_PRELOAD)
    # should an import ask whether CUDA is there, NVML answers, and the server can still fork (torch.cuda.is_available)
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    device = "cuda:0" if args.device == "cuda" else "cpu"
    blocked = DEVICE_MISSING if args.simulate_device_env else []
    rounds, stubbed = {}, set()
    for k in sizes["trials_per_device"]:
        ready, start, results = context.Queue(), context.Event(), context.Queue()
        threads = shared_threads(k)  # as kobench's workers: k trials of all the cores each would oversubscribe them
        procs = [context.Process(target=_trial_process, args=(str(model_dir), str(features_path), device, threads,
                                                               blocked, ready, start, results))
                 for _ in range(k)]  # fmt: skip
        for proc in procs:
            proc.start()
        for _ in procs:  # the clock starts once every process has imported torch and loaded its model
            ready.get(timeout=600)
        began = time.perf_counter()
        start.set()
        walls = []
        for _ in procs:
            seconds, placeholders = results.get(timeout=1800)
            walls.append(seconds)
            stubbed.update(placeholders)
        wall = time.perf_counter() - began
        for proc in procs:
            proc.join()
        rounds[k] = {"wall_s": wall, "trial_s": walls, "trials_per_hour": k * 3600 / wall}
        print(f"[4] {k} trial(s) per device: {wall:.1f} s wall, {k * 3600 / wall:.0f} trials/hour "
              f"({len(train_rows)} rows x 1 epoch each)", flush=True)  # fmt: skip
    report["trials_per_device"] = {"train_rows": len(train_rows), "rounds": rounds, "stubbed_modules": sorted(stubbed)}


def main() -> int:
    args = _args()
    if args.simulate_device_env:
        c.block_modules(DEVICE_MISSING)
    budget = Budget(args.budget_s)
    import torch

    c.quiet_torch(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; run it on the GPU machine, or pass --device cpu --quick")
        return 2
    from kobench.tools.tiny_model import build_tiny_model

    training = c.import_training()
    quick = args.quick
    sizes = {
        "hidden": 64 if quick else 768,
        "layers": 1 if quick else 12,
        "heads": 1 if quick else 12,
        "train": args.train_samples or (64 if quick else 8192),
        "warm": 32 if quick else 256,
        "eval": 64 if quick else 2000,
        "repeats": args.repeats or (1 if quick else 3),
        "ft_train": 256 if quick else 20000,
        "ft_val": 64 if quick else 1000,
        "ft_test": 256 if quick else 5000,
        "ft_epochs": 1 if quick else 2,
        "ft_lr": 5e-4,
        "trial_train": args.trial_samples or (256 if quick else 20000),
        "trials_per_device": (1, 2) if quick else (1, 2, 4),
    }
    if args.ft_train_samples:
        sizes["ft_train"] = args.ft_train_samples
    if args.ft_epochs:
        sizes["ft_epochs"] = args.ft_epochs
    import tempfile

    report: dict = {
        "device": args.device,
        "quick": quick,
        "sizes": sizes,
        "environment": c.environment_line(args.device),
        "simulated_device_env": args.simulate_device_env,
        "stubbed_modules": c.stubbed(),
    }
    print(f"gpu_check on {report['environment']}; placeholder modules: {', '.join(c.stubbed()) or 'none'}", flush=True)
    errors = []
    with tempfile.TemporaryDirectory(prefix="kobench-gpu-") as scratch:
        report["_work"] = scratch
        data = _data(args, max(sizes["train"], sizes["ft_train"]), sizes["eval"] + sizes["ft_val"] + sizes["ft_test"])
        print(f"data: {data['source']}: {len(data['train'])} train rows, {len(data['test'])} test rows", flush=True)
        small = {"hidden_size": 64, "num_layers": 1, "num_heads": 1, "intermediate_size": 128} if quick else {
            "hidden_size": 256, "num_layers": 4, "num_heads": 4, "intermediate_size": 1024}  # fmt: skip
        model_dir = build_tiny_model(
            Path(scratch) / "small", data["corpus"][:20000], vocab_size=2000 if quick else 8000, seed=0, **small
        )
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        for name, section in (
            ("throughput", lambda: throughput_section(args, sizes, data, tokenizer, training, budget, report)),
            ("finetune", lambda: finetune_section(args, sizes, data, model_dir, training, report)),
            ("concurrency", lambda: concurrency_section(args, sizes, data, report)),
        ):
            if name == "throughput" and args.skip_throughput:
                continue
            if not budget.left():
                print(f"skipping {name}: {budget.elapsed:.0f} s elapsed, budget {budget.seconds:.0f} s")
                errors.append(f"{name}: skipped (budget)")
                continue
            try:
                section()
            except Exception as exc:  # noqa: BLE001 - report and go on to the next section
                traceback.print_exc()
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
            if args.device == "cuda":
                torch.cuda.empty_cache()
        report.pop("_work")
    report["errors"], report["seconds"] = errors, budget.elapsed
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    t = report.get("throughput", {})
    interval = t.get("paired_vs_trainer_grouped_interval", {})
    mfu = (t.get("summary") or {}).get("kobench", {}).get("mfu")
    ft = report.get("finetune", {}).get("test", {}).get("accuracy")
    per_device = report.get("trials_per_device", {}).get("rounds", {})
    trials_hour = "/".join(f"{per_device[k]['trials_per_hour']:.0f}" for k in sorted(per_device)) or "n/a"
    print(
        f"gpu_check: device={args.device}{' quick' if quick else ''} seconds={budget.elapsed:.0f} "
        f"speedup_vs_reference={c.fmt(t.get('speedup_vs_reference', float('nan')), 2)} "
        f"speedup_vs_trainer_default={c.fmt(t.get('speedup_vs_trainer_default', float('nan')), 2)} "
        f"speedup_vs_trainer_grouped={c.fmt(t.get('speedup_vs_trainer_grouped', float('nan')), 2)} "
        f"paired_vs_trainer_grouped={c.fmt(t.get('paired_vs_trainer_grouped', float('nan')), 2)} "
        f"paired_low={c.fmt(interval.get('low', float('nan')), 2)} "
        f"paired_high={c.fmt(interval.get('high', float('nan')), 2)} "
        f"mfu_kobench={'n/a' if mfu is None else f'{mfu * 100:.2f}%'} "
        f"finetune_test_accuracy={'n/a' if ft is None else f'{ft:.4f}'} "
        f"trials_per_hour_{'_'.join(str(k) for k in sorted(per_device)) or 'n/a'}={trials_hour} errors={len(errors)}"
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
