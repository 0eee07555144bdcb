"""A run's settings declared once (``kobench.settings``): RunConfig, params.yaml's train section and the options."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from kobench import settings
from kobench.config import Params, RunOptions, TrainParams, check_options, load_params
from kobench.errors import ConfigError, KobenchError
from kobench.families.base import EncodeSettings
from kobench.settings import RunConfig
from kobench.tasks import get_task
from kobench.tasks.spec import Hyperparameters


def test_params_and_options_are_made_from_the_declaration() -> None:
    train = TrainParams()
    for name in settings.in_section("train"):  # one default per setting, wherever it is read
        assert getattr(train, name) == settings.default(name)
    assert Params().base.seed == settings.default("seed") == RunConfig(lr=1e-3, epochs=1).seed
    assert set(RunOptions.model_fields) == {*settings.options(), "n_trials", "workers"}
    assert "lr" not in settings.options(recipe=False) and "device" in settings.options(recipe=False)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"lr": 0.0}, "run setting lr=0.0: must be > 0.0"),
        ({"epochs": 1.5}, "run setting epochs=1.5: must be an integer"),
        ({"warmup_ratio": 1.0}, "run setting warmup_ratio=1.0: must be < 1.0"),
        ({"padding": "left"}, "run setting padding='left': not allowed; allowed: dynamic, max_length"),
        ({"precision": "fp16"}, "allowed: auto, fp32, bf16"),
        ({"device": "tpu"}, "allowed: auto, cpu, cuda, cuda:N"),
        ({"group_by_length": 1}, "must be true or false"),
        ({"max_train_samples": 0}, "must be >= 1"),
    ],
)
def test_a_run_config_checks_its_values_when_made(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        RunConfig(**{"lr": 1e-3, "epochs": 1, **values})
    assert RunConfig(lr=1e-3, epochs=1, device="cuda:1", max_seq_len=None).device == "cuda:1"  # a leased slot


def test_params_and_options_refuse_what_run_config_refuses(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("train: {warmup_ratio: 1.0}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="key 'train.warmup_ratio': Input should be less than 1"):
        load_params(path)
    with pytest.raises(ConfigError, match="--padding 'left': not allowed; allowed: dynamic, max_length"):
        check_options({"padding": "left"})
    assert check_options({"max_grad_norm": None, "batch_size": 8}) == {"batch_size": 8}


def test_a_recorded_config_is_the_declaration_as_a_dict() -> None:
    config = RunConfig(lr=1e-3, epochs=2)
    recorded = dataclasses.asdict(config)  # RunResult.config and the MLflow parameters
    assert list(recorded) == list(settings.SETTINGS) and RunConfig(**recorded) == config


def test_encode_settings_take_the_task_published_encoding() -> None:
    published = {f.name: f.default for f in dataclasses.fields(Hyperparameters)}
    plain = EncodeSettings(max_seq_len=512)
    assert (plain.doc_stride, plain.max_query_len, plain.max_answer_len, plain.n_best) == tuple(
        published[k] for k in ("doc_stride", "max_query_len", "max_answer_len", "n_best")
    )
    korquad = EncodeSettings.for_task(get_task("korquad").hyperparameters, token_type_ids=False)
    assert korquad.max_seq_len == 512 and korquad.doc_stride == 128 and not korquad.token_type_ids
    assert EncodeSettings.for_task(get_task("korquad").hyperparameters, 64).max_query_len == 16


def test_train_tune_and_reproduce_share_the_option_group(tmp_path: Path, tiny_models, monkeypatch) -> None:  # noqa: ANN001
    from typer.testing import CliRunner

    from kobench.cli import app

    helps = {name: CliRunner().invoke(app, [name, "--help"], env={"COLUMNS": "200"}).output for name in
             ("train", "tune", "reproduce")}  # fmt: skip
    for flag in ("--batch-size", "--max-seq-len", "--padding", "--precision", "--selection", "--device", "--lr"):
        assert flag in helps["train"] and flag in helps["tune"]
    assert "--device" in helps["reproduce"] and "--lr" not in helps["reproduce"]  # the recipe fixes lr

    monkeypatch.chdir(tmp_path)  # a setting the space tunes cannot also be fixed on the command line
    out = CliRunner().invoke(app, ["tune", "--task", "nsmc", "--model", str(tiny_models("bert")), "--lr", "1e-4"])
    assert isinstance(out.exception, KobenchError) and "--lr: tuned by the search space" in str(out.exception)
