"""Training and evaluation throughput of the kobench engine against the reference setup and HF Trainer.

    python benchmarks/throughput.py [--train-samples 2048] [--repeats 3] [--threads N] [--json out.json]
    python benchmarks/throughput.py --quick   # tiny sizes, one repeat, synthetic data: proves the script runs

Same model (a small BERT built with kobench.tools.tiny_model on NSMC text), same samples, same batch size, one epoch
per measurement, every setup repeated ``--repeats`` times after one warm-up, in rotating order:

* kobench   - kobench's training loop with its defaults: dynamic padding, length-grouped batches.
* reference - the same loop with the reference setup: static padding to 128, fp32, random order.
* trainer   - the real ``transformers.Trainer`` with its defaults (DataCollatorWithPadding, random order).
* trainer_grouped - the same Trainer with ``train_sampling_strategy="group_by_length"`` (LengthGroupedSampler).
* kobench_torch_dropout - kobench's setup keeping torch's ``nn.Dropout`` (its CPU dropout lever off, for its ratio).

Then evaluation: ``Evaluator.evaluate`` length-sorted with dynamic padding (kobench) vs static 128 vs
unsorted dynamic. Data: NSMC from the mirror (``--mirror``, default ./mirror), or synthetic text
with NSMC's length distribution where it is absent. The last line printed is
``speedup_vs_reference=X speedup_vs_trainer_default=Y speedup_vs_trainer_grouped=Z paired_vs_trainer_grouped=P
paired_low=L paired_high=H dropout_lever=D loss_gap=G loss_ok=B`` (ratios of median training samples/s; P the median
of the ratios within each rotation round, L-H its distribution-free interval of at least 95 % from those rounds'
order statistics where there are 6 rounds or more (``--repeats``), their whole range with less; G the largest
relative gap between kobench's mean training loss of the epoch and a Trainer setup's, B whether it is within
``--loss-tolerance``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import _common as c


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mirror", type=Path, default=Path(os.environ.get("KOBENCH_MIRROR", "mirror")))
    parser.add_argument("--train-samples", type=int, default=2048)
    parser.add_argument("--eval-samples", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--eval-batch-size", type=int, default=128)
    parser.add_argument("--max-seq-len", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--no-crosscheck", action="store_true", help="skip the one training.train() call")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure here")
    parser.add_argument(
        "--loss-tolerance",
        type=float,
        default=0.05,
        help="largest relative gap allowed between the epoch's mean training loss of kobench and of each Trainer setup",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat, synthetic data (figures mean nothing)")
    args = parser.parse_args()
    args.corpus_rows, args.warm_samples = 20000, 256
    if args.quick:
        args.mirror = Path("/nonexistent")  # the synthetic rows: no fetch and prepare of NSMC
        args.train_samples, args.eval_samples, args.repeats = 96, 64, 1
        args.hidden, args.layers, args.vocab = 32, 1, 500
        args.corpus_rows, args.warm_samples = 400, 32
    return args


def _load_data(args: argparse.Namespace, work: Path) -> dict:
    from kobench.data.splits import load_split

    if (args.mirror / "nsmc" / "ratings_train.txt").exists():
        prepared = c.prepare_nsmc(args.mirror, work)
        return {
            "source": f"NSMC from {args.mirror / 'nsmc'}",
            "prepared": prepared,
            "train": load_split(prepared, "train", max_rows=args.train_samples, seed=args.seed),
            "validation": load_split(prepared, "validation", max_rows=64, seed=args.seed),
            "test": load_split(prepared, "test", max_rows=args.eval_samples, seed=args.seed),
            "corpus": [r["text"] for r in load_split(prepared, "train", max_rows=args.corpus_rows, seed=1) if r["text"]],
        }
    print(f"no NSMC under {args.mirror}: using synthetic text with NSMC's length distribution")
    prepared = work / "prepared" / "nsmc"  # the same rows as files, for the cross-check's training.train()
    sizes = {"train": args.train_samples, "validation": 64, "test": args.eval_samples}
    corpus = c.write_synthetic_prepared(prepared, sizes)
    return {
        "source": "synthetic (NSMC length distribution)",
        "prepared": prepared,
        **{split: load_split(prepared, split, max_rows=n, seed=args.seed) for split, n in sizes.items()},
        "corpus": corpus[: args.corpus_rows],
    }


def _padding_report(lengths: list[int], args: argparse.Namespace) -> dict[str, float]:
    """Real tokens / computed tokens for each batching scheme (what padding costs before any timing)."""
    import random

    from kobench.engine.batching import make_batches

    def efficiency(batches: list[list[int]], width) -> float:
        real = sum(lengths[i] for b in batches for i in b)
        return real / sum(len(b) * width(b) for b in batches)

    longest = lambda b: max(lengths[i] for i in b)
    grouped = make_batches(lengths, args.batch_size, shuffle=True, group_by_length=True, rng=random.Random(0))
    shuffled = make_batches(lengths, args.batch_size, shuffle=True, group_by_length=False, rng=random.Random(0))
    return {
        "kobench": efficiency(grouped, longest),
        "reference": efficiency(shuffled, lambda b: args.max_seq_len),
        "trainer": efficiency(shuffled, longest),
    }


def _collation_report(features: dict, tokenizer, args: argparse.Namespace) -> dict[str, float]:
    """Milliseconds per training batch to build the tensors: kobench's Collator vs DataCollatorWithPadding."""
    import random

    from transformers import DataCollatorWithPadding

    from kobench.engine.batching import Collator, make_batches
    from kobench.families import get_family

    lengths = [len(x) for x in features["input_ids"]]
    batches = make_batches(lengths, args.batch_size, shuffle=True, group_by_length=False, rng=random.Random(1))
    pad_id = tokenizer.pad_token_id
    hf = DataCollatorWithPadding(tokenizer)
    columns = [k for k in ("input_ids", "token_type_ids") if k in features]
    rows = [
        {**{k: features[k][i] for k in columns}, "attention_mask": [1] * lengths[i], "labels": features["labels"][i]}
        for i in range(len(lengths))
    ]
    labels = get_family("classification").label_columns
    dynamic, static = Collator(pad_id, labels), Collator(pad_id, labels, max_length=args.max_seq_len)
    runs = {
        "kobench_dynamic": lambda b: dynamic(features, b, labels=True),
        "kobench_static": lambda b: static(features, b, labels=True),
        "hf_DataCollatorWithPadding": lambda b: hf([rows[i] for i in b]),
    }
    out = {}
    for name, run in runs.items():
        for batch in batches[:5]:
            run(batch)
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            for batch in batches:
                run(batch)
            best = min(best, (time.perf_counter() - started) / len(batches) * 1e3)
        out[name] = best
    return out


def main() -> int:
    args = _args()
    c.quiet_torch(args.threads)
    from kobench.config import ModelParams
    from kobench.engine.models import ModelRef, load_model, load_tokenizer
    from kobench.engine.runtime import Runtime
    from kobench.tasks import get_task
    from kobench.tools.tiny_model import build_tiny_model

    training = c.import_training()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kobench-bench-") as scratch:
        work = args.work or Path(scratch)
        data = _load_data(args, work)
        model_dir = build_tiny_model(
            work / "model",
            data["corpus"],
            arch="bert",
            vocab_size=args.vocab,
            hidden_size=args.hidden,
            num_layers=args.layers,
            num_heads=max(1, args.hidden // 64),
            intermediate_size=4 * args.hidden,
            seed=args.seed,
        )
        ref = ModelRef("bench-bert", ModelParams(id=str(model_dir), local_only=True, token_type_ids=True))
        tokenizer = load_tokenizer(ref)
        pad_id = tokenizer.pad_token_id

        def make_model():
            return load_model(ref, "AutoModelForSequenceClassification", 2)

        feats = {s: c.encode(data[s], tokenizer, args.max_seq_len) for s in ("train", "validation", "test")}
        val = (data["validation"], feats["validation"])
        lengths = [len(x) for x in feats["train"]["input_ids"]]
        n_params = sum(p.numel() for p in make_model().parameters())
        print(
            f"data: {data['source']}; {len(lengths)} train samples, {c.real_tokens(feats['train'])} real tokens "
            f"(mean {c.real_tokens(feats['train']) / len(lengths):.1f}, max {max(lengths)}); "
            f"{len(data['test'])} eval samples"
        )
        print(
            f"model: BERT hidden {args.hidden}, {args.layers} layers, vocab {len(tokenizer)}, "
            f"{n_params / 1e6:.2f} M parameters; batch {args.batch_size}, max_seq_len {args.max_seq_len}"
        )
        print(f"environment: {c.environment_line('cpu')}")
        padding = _padding_report(lengths, args)
        print("padding efficiency (real / computed tokens): " + ", ".join(f"{k} {v:.1%}" for k, v in padding.items()))
        collation = _collation_report(feats["train"], tokenizer, args)
        print("collation, ms per training batch: " + ", ".join(f"{k} {v:.3f}" for k, v in collation.items()))

        run, configs = c.setup_runner(
            training,
            make_model,
            tokenizer,
            val,
            device="cpu",
            bf16=False,
            lr=args.lr,
            batch_size=args.batch_size,
            eval_batch_size=args.eval_batch_size,
            seed=args.seed,
            max_seq_len=args.max_seq_len,
            work=work,
        )
        setups = (*c.SETUPS, "kobench_torch_dropout")  # the last: kobench without its CPU dropout lever
        warm = {k: v[: args.warm_samples] for k, v in feats["train"].items()}
        for name in setups:
            run(name, warm)
        results: dict[str, list[dict]] = {name: [] for name in setups}
        with c.setup_frozen():  # each PeakMemory collection scans only what the runs made
            for repeat in range(args.repeats):
                for name in c.rotated(setups, repeat):
                    with c.PeakMemory() as memory:
                        result = run(name, feats["train"])
                    result.update(peak_rss_mib=memory.peak_rss, rss_growth_mib=memory.grew)
                    results[name].append(result)
                    print(
                        f"  train repeat {repeat + 1} {name:9s} {result['train_samples_per_second']:8.1f} samples/s "
                        f"{result['train_tokens_per_second']:10.1f} tokens/s  ({result['train_seconds']:.2f} s, "
                        f"loss {result['loss']:.4f}, peak RSS {memory.peak_rss:.0f} MiB)",
                        flush=True,
                    )

        train_summary = {
            name: {
                "samples_per_second": c.median([r["train_samples_per_second"] for r in rs]),
                "tokens_per_second": c.median([r["train_tokens_per_second"] for r in rs]),
                "seconds": c.median([r["train_seconds"] for r in rs]),
                "peak_rss_mib": max(r["peak_rss_mib"] for r in rs),
                "rss_growth_mib": max(r["rss_growth_mib"] for r in rs),
                "loss": c.median([r["loss"] for r in rs]),
            }
            for name, rs in results.items()
        }

        # evaluation: one model, three Evaluators over the same test rows
        runtime = Runtime.create("cpu", "fp32")
        model = make_model().eval()
        variants = c.eval_variants(
            model, data["test"], feats["test"], pad_id, runtime, args.eval_batch_size, args.max_seq_len
        )
        eval_tokens = c.real_tokens(feats["test"])
        for evaluator in variants.values():
            c.time_eval(evaluator, model, "cpu")
        eval_runs: dict[str, list[dict]] = {name: [] for name in variants}
        with c.setup_frozen():
            for _ in range(args.repeats):
                for name, evaluator in variants.items():
                    with c.PeakMemory() as memory:
                        seconds, metrics = c.time_eval(evaluator, model, "cpu")
                    eval_runs[name].append(
                        {
                            "seconds": seconds,
                            "peak_rss_mib": memory.peak_rss,
                            "rss_growth_mib": memory.grew,
                            "accuracy": metrics["accuracy"],
                        }
                    )
        accuracies = {name: {r["accuracy"] for r in rs} for name, rs in eval_runs.items()}
        if len(set().union(*accuracies.values())) != 1:
            print(f"WARNING: evaluation variants disagree: {accuracies}")
        n_eval = len(data["test"])
        eval_summary = {
            name: {
                "seconds": c.median([r["seconds"] for r in rs]),
                "samples_per_second": n_eval / c.median([r["seconds"] for r in rs]),
                "tokens_per_second": eval_tokens / c.median([r["seconds"] for r in rs]),
                "peak_rss_mib": max(r["peak_rss_mib"] for r in rs),
                "rss_growth_mib": max(r["rss_growth_mib"] for r in rs),
            }
            for name, rs in eval_runs.items()
        }

        crosscheck = None
        if not args.no_crosscheck:
            config = dataclasses.replace(configs["kobench"], max_train_samples=args.train_samples, max_eval_samples=64)
            result = training.train(
                get_task("nsmc"),
                ref,
                config,
                prepared_dir=data["prepared"],
                run_dir=work / "crosscheck",
                evaluate_test=False,
            )
            crosscheck = result.throughput

    k = train_summary["kobench"]["samples_per_second"]
    speedups = {
        "vs_reference": k / train_summary["reference"]["samples_per_second"],
        "vs_trainer_default": k / train_summary["trainer"]["samples_per_second"],
        "vs_trainer_grouped": k / train_summary["trainer_grouped"]["samples_per_second"],
        "dropout_lever": k / train_summary["kobench_torch_dropout"]["samples_per_second"],
    }
    paired = c.round_ratios(results["kobench"], results["trainer_grouped"])
    speedups["paired_vs_trainer_grouped"] = c.median(paired)
    paired_low, paired_high, paired_coverage = c.median_interval(paired)
    k_loss = train_summary["kobench"]["loss"]
    loss_gaps = {
        n: abs(k_loss - train_summary[n]["loss"]) / train_summary[n]["loss"] for n in ("trainer", "trainer_grouped")
    }
    loss_gap = max(loss_gaps.values())
    ek, es, eu = (eval_summary[n]["samples_per_second"] for n in ("kobench", "static", "unsorted"))
    print()
    print(f"TRAINING (one epoch, {len(lengths)} samples, median of {args.repeats} after a warm-up)")
    print(
        f"  {'setup':28s} {'samples/s':>10s} {'real tok/s':>11s} {'seconds':>8s} {'loss':>7s} {'peak RSS':>9s} {'RSS +':>7s}"
    )
    for name in setups:
        s = train_summary[name]
        print(
            f"  {c.SETUP_LABELS[name]:28s} {s['samples_per_second']:10.1f} {s['tokens_per_second']:11.1f} "
            f"{s['seconds']:8.2f} {s['loss']:7.4f} {s['peak_rss_mib']:7.0f}Mi {s['rss_growth_mib']:5.0f}Mi"
        )
    print(
        f"  kobench / reference = {speedups['vs_reference']:.2f}x   "
        f"kobench / trainer = {speedups['vs_trainer_default']:.2f}x   "
        f"kobench / trainer grouped = {speedups['vs_trainer_grouped']:.2f}x   "
        f"quarter-draw dropout / torch's = {speedups['dropout_lever']:.2f}x"
    )
    print(
        f"  kobench / trainer grouped within each round: median {speedups['paired_vs_trainer_grouped']:.2f}x, "
        f"{paired_coverage:.0%} interval {paired_low:.2f}-{paired_high:.2f} over {len(paired)} rounds "
        f"(rounds: {', '.join(f'{r:.2f}' for r in paired)})"
    )
    print(
        "  mean training loss of the epoch, kobench vs Trainer: "
        + ", ".join(f"{n} {gap:.1%} apart" for n, gap in loss_gaps.items())
        + f" (tolerance {args.loss_tolerance:.0%}: {'met' if loss_gap <= args.loss_tolerance else 'NOT met'})"
    )
    if crosscheck:
        print(
            f"  cross-check, one training.train() call with kobench defaults: "
            f"{crosscheck['train_samples_per_second']} samples/s, {crosscheck['train_tokens_per_second']} tokens/s"
        )
    print(f"EVALUATION (Evaluator.evaluate, {n_eval} samples, batch {args.eval_batch_size}, median of {args.repeats})")
    print(f"  {'setup':28s} {'samples/s':>10s} {'real tok/s':>11s} {'seconds':>8s} {'peak RSS':>9s} {'RSS +':>7s}")
    elabels = {"kobench": "kobench (sorted, dynamic)", "static": "static 128", "unsorted": "unsorted dynamic"}
    for name, s in eval_summary.items():
        print(
            f"  {elabels[name]:28s} {s['samples_per_second']:10.1f} {s['tokens_per_second']:11.1f} "
            f"{s['seconds']:8.2f} {s['peak_rss_mib']:7.0f}Mi {s['rss_growth_mib']:5.0f}Mi"
        )
    print(f"  kobench / static = {ek / es:.2f}x   kobench / unsorted = {ek / eu:.2f}x")
    print(
        f"process peak RSS {c.max_rss_mib():.0f} MiB; total {time.perf_counter() - began:.0f} s; {c.environment_line('cpu')}"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "data": data["source"],
                    "environment": c.environment_line("cpu"),
                    "padding_efficiency": padding,
                    "collation_ms_per_batch": collation,
                    "train": train_summary,
                    "train_runs": results,
                    "eval": eval_summary,
                    "crosscheck": crosscheck,
                    "speedups": speedups,
                    "paired_vs_trainer_grouped_by_round": paired,
                    "paired_vs_trainer_grouped_interval": {
                        "low": paired_low,
                        "high": paired_high,
                        "coverage": paired_coverage,
                    },
                    "loss_gaps": loss_gaps,
                    "eval_speedups": {"vs_static": ek / es, "vs_unsorted": ek / eu},
                },
                indent=2,
                default=float,
            )
            + "\n"
        )
    print(
        f"speedup_vs_reference={speedups['vs_reference']:.2f} "
        f"speedup_vs_trainer_default={speedups['vs_trainer_default']:.2f} "
        f"speedup_vs_trainer_grouped={speedups['vs_trainer_grouped']:.2f} "
        f"paired_vs_trainer_grouped={speedups['paired_vs_trainer_grouped']:.2f} "
        f"paired_low={paired_low:.2f} paired_high={paired_high:.2f} "
        f"dropout_lever={speedups['dropout_lever']:.2f} "
        f"loss_gap={loss_gap:.4f} loss_ok={loss_gap <= args.loss_tolerance}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
