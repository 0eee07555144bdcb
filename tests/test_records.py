"""The typed hand-offs: exact key sets per study status, and files that are not a record are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kobench.names import details_file, metrics_file
from kobench.records import RecordError, RunResult, StudyResult, read_study, write_study

IDENTITY = {"task": "nsmc", "model": "m", "model_id": "org/m", "model_revision": None, "size": "base",
            "study": "nsmc-m", "main_metric": "accuracy", "run_ids": {"study": "p"}, "trials": {"complete": 0}}


def test_a_failed_study_has_its_reason_and_no_scores(tmp_path: Path) -> None:
    failed = StudyResult("failed", **IDENTITY, reason="ValueError: loss is nan")
    path = metrics_file(tmp_path, "nsmc", "m")
    write_study(path, failed)
    details = json.loads(details_file(path).read_text())
    assert list(details) == ["status", "task", "model", "model_id", "model_revision", "size", "study", "main_metric",
                             "reason", "run_ids", "trials"]
    assert read_study(path) == failed and json.loads(path.read_text()) == {}  # no score to show


def test_a_complete_study_round_trips_without_a_reason(tmp_path: Path) -> None:
    done = StudyResult("complete", **IDENTITY, protocol="validation", best_trial=1, best_params={"lr": 3e-5},
                       validation={"accuracy": 0.8}, test={"accuracy": 0.75}, registered_model="kobench-nsmc-m",
                       registered_version="2", champion=True, rows_subsampled={"train": None, "eval": None})
    path = metrics_file(tmp_path, "nsmc", "m")
    write_study(path, done)
    assert "reason" not in json.loads(details_file(path).read_text()) and read_study(path) == done
    assert json.loads(path.read_text()) == {"test": 0.75, "validation": 0.8}  # the DVC view: main metric only


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({**IDENTITY, "status": "complete", "score": 1}, r"unknown key\(s\) score"),
        ({k: v for k, v in IDENTITY.items() if k != "study"} | {"status": "failed"}, r"missing key\(s\) study"),
        ([1, 2], "expected a JSON object, got list"),
    ],
)
def test_what_is_not_a_study_result_is_refused(data: object, message: str) -> None:
    with pytest.raises(RecordError, match=message):
        StudyResult.from_json(data)


def test_a_run_result_needs_every_field() -> None:
    with pytest.raises(RecordError, match="missing key"):
        RunResult.from_json({"task": "nsmc"})


def test_a_recipe_result_round_trips_and_an_off_stage_writes_only_complete(tmp_path: Path) -> None:
    from kobench.records import RecipeResult, read_recipe, write_recipe

    done = RecipeResult(complete=1, mean=0.9, std=0.01, n=2, seeds={"1": 0.89, "2": 0.91}, t_interval=(0.8, 1.0))
    path = write_recipe(tmp_path, "nsmc", "m", done)
    assert path == tmp_path / "nsmc" / "m.recipe.json" and read_recipe(tmp_path, "nsmc", "m") == done
    assert json.loads(path.read_text())["t_interval"] == [0.8, 1.0]
    write_recipe(tmp_path, "nsmc", "m", RecipeResult(complete=0))
    assert json.loads(path.read_text()) == {"complete": 0} and not read_recipe(tmp_path, "nsmc", "m").complete
    with pytest.raises(RecordError, match=r"recipe result: unknown key\(s\) median"):
        RecipeResult.from_json({"complete": 1, "median": 0.9})


# Files exactly as kobench wrote them before the settings, the search space and the recipe record were typed.
OLD_RECIPE = {"complete": 1, "mean": 0.8935, "std": 0.0015, "n": 3, "seeds": {"1": 0.892, "2": 0.895, "3": 0.8935},
              "t_interval": [0.8898, 0.8972]}
OLD_DETAILS = {"status": "complete", **IDENTITY, "protocol": "validation", "best_trial": 1,
               "best_params": {"lr": 3e-05, "epochs": 2}, "validation": {"accuracy": 0.8}, "test": {"accuracy": 0.75},
               "seeds": None, "registered_model": "kobench-nsmc-m", "registered_version": "2", "champion": True,
               "rows_subsampled": {"train": None, "eval": None}, "rows_used": {"train": 10}}
OLD_RUN_CONFIG = {"lr": 3e-05, "epochs": 2, "batch_size": 32, "eval_batch_size": 128, "seed": 42, "max_seq_len": None,
                  "warmup_ratio": 0.0, "weight_decay": 0.0, "max_grad_norm": 1.0, "evals_per_epoch": 1,
                  "padding": "dynamic", "group_by_length": True, "precision": "auto", "selection": "validation",
                  "device": "auto", "save_checkpoint": True, "max_train_samples": None, "max_eval_samples": None}


def test_records_written_before_this_version_still_load(tmp_path: Path) -> None:
    from kobench.records import RecipeResult
    from kobench.settings import RunConfig

    assert RecipeResult.from_json(OLD_RECIPE).mean == 0.8935
    details_file(metrics_file(tmp_path, "nsmc", "m")).parent.mkdir(parents=True)
    details_file(metrics_file(tmp_path, "nsmc", "m")).write_text(json.dumps(OLD_DETAILS))
    assert read_study(metrics_file(tmp_path, "nsmc", "m")).best_params == {"lr": 3e-05, "epochs": 2}
    assert RunConfig(**OLD_RUN_CONFIG).lr == 3e-05  # a run's recorded config is a RunConfig again
