"""A tiny model trained a few hundred steps on real NSMC text beats the majority baseline (needs the mirror)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

from kobench.config import ModelParams
from kobench.data.fetch import fetch_task
from kobench.data.prepare import prepare_task
from kobench.engine.models import ModelRef
from kobench.engine.training import RunConfig, train
from kobench.tasks import get_task
from kobench.tools.tiny_model import build_tiny_model


def test_tiny_model_beats_majority_on_real_nsmc(tmp_path: Path, mirror: Path) -> None:
    spec = get_task("nsmc")
    fetch_task(spec, tmp_path / "raw", mirror=mirror)
    prepare_task(spec, tmp_path / "raw", tmp_path / "prepared")
    texts = pq.read_table(tmp_path / "prepared" / "train.parquet")["text"].to_pylist()[:30_000]
    model = build_tiny_model(tmp_path / "tiny", texts, vocab_size=4000, hidden_size=128, intermediate_size=256)
    config = RunConfig(lr=1e-3, epochs=1, batch_size=32, max_seq_len=64, max_train_samples=8000, max_eval_samples=2000)
    ref = ModelRef("tiny", ModelParams(id=str(model), local_only=True))
    result = train(spec, ref, config, prepared_dir=tmp_path / "prepared", run_dir=tmp_path / "run")
    from kobench.data.splits import load_split

    gold = [r["label"] for r in load_split(tmp_path / "prepared", "test", max_rows=2000, seed=config.seed)]
    majority = Counter(gold).most_common(1)[0][1] / len(gold)
    assert result.history[-1]["step"] == 250
    print(f"tiny model on real NSMC: test accuracy {result.test['accuracy']:.4f} vs majority {majority:.4f}")
    assert result.test["accuracy"] > majority + 0.1, (result.test, majority)
