"""Time turning every KorQuAD 1.0 dev question into QA evaluation features (the span_qa family's encode).

    python benchmarks/korquad_features.py [--path KorQuAD_v1.0_dev.json] [--repeats 3]
    python benchmarks/korquad_features.py --quick   # 300 synthetic questions, one repeat: proves the script runs
    python benchmarks/korquad_features.py --tokenizer hanbert   # HanBERT's: stand-in analyser + WordPiece (needs cc)

Reads the dev file with ``kobench.data.readers.read_rows`` (5,774 questions), trains a cased WordPiece fast
tokenizer on its text with ``kobench.tools.tiny_model`` (untimed; no hub access needed), then times
``SpanQAFamily.encode(..., train=False)`` at max_seq_len 512, stride 128, max_query_len 64 (KorQuAD's
settings): sliding windows with offsets, every window's offset mapping kept for decoding. ``--tokenizer hanbert``
times HanBERT's tokenizer instead (``kobench.tools.hanbert_fixture``'s vendor layout, its stand-in analyser built
with the system C compiler, the vocabulary trained on the same text); the analyser keeps its analyses for the
process, so only the first repeat pays for them. Prints seconds,
features/s and questions/s for each repeat and their median, and peak RSS. Target: <= 15 s on 2 cores.
The last line is ``korquad_features: tokenizer=... median_s=... features_per_second=... target_15s_met=...`` (key=value).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import _common as c


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mirror = Path(os.environ.get("KOBENCH_MIRROR", "mirror"))
    parser.add_argument("--path", type=Path, default=mirror / "korquad" / "KorQuAD_v1.0_dev.json")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--vocab", type=int, default=32000, help="WordPiece vocabulary to aim for")
    parser.add_argument("--max-seq-len", type=int, default=512)
    parser.add_argument("--stride", type=int, default=128)
    parser.add_argument("--max-query-len", type=int, default=64)
    parser.add_argument("--tokenizer", choices=("wordpiece", "hanbert"), default="wordpiece")
    parser.add_argument("--quick", action="store_true", help="synthetic questions in KorQuAD's format, one repeat")
    args = parser.parse_args()
    scratch = tempfile.TemporaryDirectory(prefix="kobench-korquad-")
    if args.quick:
        args.path = c.write_synthetic_korquad(Path(scratch.name) / "KorQuAD_v1.0_dev.json", 300)
        args.repeats, args.vocab = 1, 2000

    from transformers import AutoTokenizer

    from kobench.data.readers import read_rows
    from kobench.families import get_family
    from kobench.families.base import EncodeSettings
    from kobench.tasks import get_task
    from kobench.tools.tiny_model import build_tiny_model

    spec = get_task("korquad")
    family = get_family(spec.family)
    started = time.perf_counter()
    rows = read_rows(spec, args.path, "test")
    read_seconds = time.perf_counter() - started
    texts = list(dict.fromkeys(r["context"] for r in rows)) + [r["question"] for r in rows]
    if args.tokenizer == "hanbert":
        from kobench.config import ModelParams
        from kobench.engine.models import ModelRef, load_tokenizer
        from kobench.tools.hanbert_fixture import DIRECTORY_NAME, write_vendor_directory

        vendor = write_vendor_directory(Path(scratch.name) / DIRECTORY_NAME, texts, vocab_size=args.vocab)
        row = ModelParams(id=str(vendor), local_only=True, tokenizer="hanbert-moran", native_tokenizer=True)
        tokenizer = load_tokenizer(ModelRef("hanbert", row))
    else:
        model_dir = build_tiny_model(
            Path(scratch.name) / "tok",
            texts,
            vocab_size=args.vocab,
            hidden_size=32,
            num_layers=1,
            num_heads=1,
            intermediate_size=32,
        )
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
    settings = EncodeSettings(max_seq_len=args.max_seq_len, doc_stride=args.stride, max_query_len=args.max_query_len)
    print(
        f"{len(rows)} questions from {args.path} (read in {read_seconds:.2f} s); fast tokenizer "
        f"{type(tokenizer).__name__}, vocab {len(tokenizer)}; max_seq_len {settings.max_seq_len}, "
        f"stride {settings.doc_stride}, max_query_len {settings.max_query_len}"
    )
    print(
        f"environment: {c.environment_line('cpu')}; TOKENIZERS_PARALLELISM="
        f"{os.environ.get('TOKENIZERS_PARALLELISM', 'unset (Rust tokenizer uses all cores)')}"
    )

    seconds = []
    for repeat in range(args.repeats):
        with c.PeakMemory() as memory:
            began = time.perf_counter()
            features = family.encode(spec, rows, tokenizer, settings, train=False)
            seconds.append(time.perf_counter() - began)
        n = len(features["input_ids"])
        tokens = sum(len(x) for x in features["input_ids"])
        print(
            f"  repeat {repeat + 1}: {seconds[-1]:.2f} s, {n} features ({tokens} tokens), "
            f"{n / seconds[-1]:.0f} features/s, {len(rows) / seconds[-1]:.0f} questions/s, "
            f"peak RSS {memory.peak_rss:.0f} MiB (+{memory.grew:.0f} MiB)",
            flush=True,
        )
        del features
    scratch.cleanup()
    best = c.median(seconds)
    print(
        f"korquad_features: tokenizer={args.tokenizer} median_s={best:.2f} first_s={seconds[0]:.2f} "
        f"questions={len(rows)} features={n} "
        f"features_per_second={n / best:.0f} questions_per_second={len(rows) / best:.0f} "
        f"peak_rss_mib={c.max_rss_mib():.0f} target_15s_met={max(seconds) <= 15}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
