"""One fine-tune per family end to end on CPU with a tiny model: outputs, metrics, determinism, protocol."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kobench.config import ModelParams
from kobench.engine.models import ModelRef
from kobench.engine.scoring import score_file
from kobench.engine.training import RunConfig, eval_points, train
from kobench.records import RunResult
from kobench.tasks import get_task


def _ref(directory: Path, token_type_ids: bool = True) -> ModelRef:
    return ModelRef("tiny", ModelParams(id=str(directory), local_only=True, token_type_ids=token_type_ids))


def _train(task: str, prepared: Path, model: Path, run_dir: Path, **config: object) -> dict:
    defaults = {"lr": 2e-3, "epochs": 2, "batch_size": 16, "eval_batch_size": 64, "seed": 1}
    return train(get_task(task), _ref(model), RunConfig(**{**defaults, **config}), prepared_dir=prepared,
                 run_dir=run_dir, features_dir=run_dir.parent / "features")


@pytest.mark.parametrize(
    ("task", "main", "auto_class"),
    [
        ("nsmc", "accuracy", "AutoModelForSequenceClassification"),
        ("paws", "accuracy", "AutoModelForSequenceClassification"),
        ("hate-speech", "macro_f1", "AutoModelForSequenceClassification"),
        ("korsts", "spearman", "AutoModelForSequenceClassification"),
        ("naver-ner", "entity_f1", "AutoModelForTokenClassification"),
        ("korquad", "char_f1", "AutoModelForQuestionAnswering"),
    ],
)
def test_family_end_to_end(task, main, auto_class, prepared, tiny_models, tmp_path: Path) -> None:  # noqa: ANN001
    import transformers

    directory = prepared(task)
    result = _train(task, directory, tiny_models("bert"), tmp_path / "run", max_seq_len=64)
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert RunResult.from_json(saved) == result  # the file is the typed result, nothing more or less
    assert saved["main_metric"] == main and main in saved["test"] and main in saved["validation"]
    assert saved["protocol"].startswith("validation-selected") and len(saved["history"]) == 2
    # the predictions file scores to exactly the reported test metrics, through the same metric code
    rescored = score_file(get_task(task), directory, tmp_path / "run" / "predictions-test.jsonl")
    assert rescored[main] == result.test[main]
    model = getattr(transformers, auto_class).from_pretrained(tmp_path / "run" / "checkpoint")
    assert (tmp_path / "run" / "checkpoint" / "model.safetensors").exists()
    assert type(model).__name__ == "Bert" + auto_class.removeprefix("AutoModel")


def test_classification_learns_synthetic_sentiment(prepared, tiny_models, tmp_path: Path) -> None:  # noqa: ANN001
    result = _train("nsmc", prepared("nsmc", n=200), tiny_models("bert"), tmp_path / "run", epochs=6)
    assert result.test["accuracy"] >= 0.9


def test_same_seed_gives_identical_metrics(prepared, tiny_models, tmp_path: Path) -> None:  # noqa: ANN001
    directory = prepared("korsts")
    first = _train("korsts", directory, tiny_models("bert"), tmp_path / "a")
    second = _train("korsts", directory, tiny_models("bert"), tmp_path / "b")
    assert first.history == second.history and first.test == second.test


def test_test_selection_is_labelled_everywhere(prepared, tiny_models, tmp_path: Path) -> None:  # noqa: ANN001
    result = _train("nsmc", prepared("nsmc"), tiny_models("bert"), tmp_path / "run", selection="test")
    assert result.protocol.startswith("test-selected") and all("test" in h for h in result.history)
    best = max(result.history, key=lambda h: h["test"]["accuracy"])
    assert result.test["accuracy"] == best["test"]["accuracy"]


def test_roberta_type_model_gets_no_segment_ids(prepared, tiny_models, tmp_path: Path) -> None:  # noqa: ANN001
    directory = prepared("question-pair")
    ref = _ref(tiny_models("roberta"), token_type_ids=False)
    config = RunConfig(lr=1e-3, epochs=1, batch_size=16, padding="max_length", max_seq_len=48)
    result = train(get_task("question-pair"), ref, config, prepared_dir=directory, run_dir=tmp_path / "run",
                   features_dir=tmp_path / "features")
    rescored = score_file(get_task("question-pair"), directory, tmp_path / "run" / "predictions-test.jsonl")
    assert rescored["accuracy"] == result.test["accuracy"]
    cached = list((tmp_path / "features" / "question-pair").glob("*.parquet"))
    import pyarrow.parquet as pq

    assert cached and all("token_type_ids" not in pq.read_schema(p).names for p in cached)


def test_feature_cache_is_reused_and_keyed_by_settings(prepared, tiny_models, tmp_path: Path) -> None:  # noqa: ANN001
    directory = prepared("nsmc")
    _train("nsmc", directory, tiny_models("bert"), tmp_path / "a", epochs=1)
    files = set((tmp_path / "features" / "nsmc").glob("*.parquet"))
    _train("nsmc", directory, tiny_models("bert"), tmp_path / "b", epochs=1)
    assert set((tmp_path / "features" / "nsmc").glob("*.parquet")) == files and len(files) == 3
    _train("nsmc", directory, tiny_models("bert"), tmp_path / "c", epochs=1, max_seq_len=32)
    assert len(set((tmp_path / "features" / "nsmc").glob("*.parquet"))) == 6


def test_subsampling_is_recorded(prepared, tiny_models, tmp_path: Path) -> None:  # noqa: ANN001
    result = _train("nsmc", prepared("nsmc"), tiny_models("bert"), tmp_path / "run", epochs=1,
                    max_train_samples=10, max_eval_samples=8)
    assert result.rows == {"train": 10, "validation": 4, "test": 8}
    assert result.subsampled == {"train": True, "validation": False, "test": True}


@pytest.mark.parametrize(
    ("steps", "per_epoch", "points"),
    [(125, 1, {125}), (125, 2, {62, 125}), (125, 4, {31, 62, 94, 125}), (3, 4, {1, 2, 3}), (1, 2, {1})],
)
def test_evaluation_points_end_each_epoch_and_never_fall_before_its_first_step(
    steps: int, per_epoch: int, points: set[int]
) -> None:
    assert eval_points(steps, per_epoch) == points
