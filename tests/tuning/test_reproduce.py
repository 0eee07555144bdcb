"""`kobench reproduce`: the published recipe (with the XLM-R and small-model changes) under the reference protocol,
one tracked run per seed under a parent, mean and std in <model>.recipe.json; the DVC stage's off switch."""

from __future__ import annotations

import json
import statistics

import pytest
from typer.testing import CliRunner

from kobench.cli import app
from kobench.engine.models import resolve_model
from kobench.engine.runs import recipe_config
from kobench.tasks import get_task


@pytest.mark.parametrize(
    ("key", "task", "expected"),
    [
        ("koelectra-base-v3", "nsmc", {"lr": 5e-5, "epochs": 10, "batch_size": 32, "warmup_ratio": 0.0, "seed": 42}),
        ("xlm-roberta-base", "nsmc", {"lr": 1e-5, "warmup_ratio": 0.1, "seed": 42}),  # TASKS.md's XLM-R changes
        ("xlm-roberta-base", "korsts", {"lr": 5e-5, "seed": 777}),
        ("xlm-roberta-base", "paws", {"lr": 1e-5, "batch_size": 32}),
        ("koelectra-small-v3", "paws", {"lr": 3e-5, "batch_size": 64, "epochs": 15}),  # small models: bigger batches
        ("koelectra-small-v3", "kornli", {"batch_size": 128}),
        ("distilkobert", "korquad", {"batch_size": 32, "max_seq_len": 512, "epochs": 7}),
        ("kobert", "korquad", {"batch_size": 8}),
    ],
)
def test_the_recipe_follows_the_reference_configs(hub_catalogue, key: str, task: str, expected: dict) -> None:  # noqa: ANN001
    config = recipe_config(hub_catalogue, get_task(task), resolve_model(key, hub_catalogue))
    assert {k: getattr(config, k) for k in expected} == expected
    assert config.selection == "test" and config.weight_decay == 0.0 and config.max_grad_norm == 1.0


@pytest.fixture
def project(cli_project: dict) -> dict:
    return cli_project


def test_two_seeds_are_two_tracked_runs_under_one_parent(project: dict) -> None:
    from mlflow.tracking import MlflowClient

    out = CliRunner().invoke(app, ["reproduce", "--task", "nsmc", "--model", project["model"], "--seeds", "1,2"])
    assert out.exit_code == 0, out.output
    saved = json.loads((project["root"] / "metrics" / "nsmc" / "bert.recipe.json").read_text())
    values = list(saved["seeds"].values())
    assert saved["complete"] == 1 and saved["n"] == 2 and sorted(saved["seeds"]) == ["1", "2"]
    assert saved["mean"] == pytest.approx(statistics.fmean(values))
    assert saved["std"] == pytest.approx(statistics.stdev(values))
    client = MlflowClient(f"sqlite:///{project['root']}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("kobench").experiment_id])
    [parent] = [r for r in runs if r.data.tags["kobench.kind"] == "recipe"]
    seeds = [r for r in runs if r.data.tags["kobench.kind"] == "recipe-seed"]
    assert parent.info.status == "FINISHED" and parent.data.params["lr"] == "5e-05" and parent.data.params["epochs"] == "10"
    assert sorted(r.data.params["seed"] for r in seeds) == ["1", "2"]
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id and r.info.status == "FINISHED" for r in seeds)
    assert all(r.data.params["selection"] == "test" and "test_at_step_accuracy" in r.data.metrics for r in seeds)
    assert sorted(r.data.metrics["test_accuracy"] for r in seeds) == sorted(values)


def test_the_dvc_stage_trains_nothing_unless_switched_on(project: dict) -> None:
    out = CliRunner().invoke(app, ["reproduce", "--task", "nsmc", "--model", project["model"], "--stage"])
    assert out.exit_code == 0 and "run.reproduce is false" in out.output
    assert json.loads((project["root"] / "metrics" / "nsmc" / "bert.recipe.json").read_text()) == {"complete": 0}
    assert not (project["root"] / "mlflow.db").exists()
