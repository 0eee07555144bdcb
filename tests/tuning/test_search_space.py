"""The generic search space: any tunable setting, validated against its declaration; the old form draws as before."""

from __future__ import annotations

import dataclasses
import math

import optuna
import pytest

from kobench.config import Params
from kobench.engine.runs import run_config
from kobench.settings import RunConfig
from kobench.tuning.study import suggest

optuna.logging.set_verbosity(optuna.logging.ERROR)


def _score(values: dict) -> float:
    """A deterministic objective, so TPE leaves its random start-up trials and models what it saw."""
    return -abs(math.log10(values["lr"]) + 4.3) - 0.1 * abs(values["epochs"] - 3)


def _drawn(objective, seed: int = 42, n: int = 16) -> list[dict]:  # noqa: ANN001
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=n)
    return [t.params for t in study.trials]


@pytest.mark.parametrize(
    ("space", "lr", "epochs"),
    [({}, (1e-5, 1e-4), (2, 5)), ({"lr": {"low": 1e-3, "high": 3e-3}}, (1e-3, 3e-3), (2, 5)),
     ({"epochs": {"low": 1, "high": 2}, "lr": {"low": 5e-4, "high": 3e-3}}, (5e-4, 3e-3), (1, 2))],
)  # fmt: skip
def test_the_lr_epochs_form_draws_the_same_trials_as_before(space: dict, lr: tuple, epochs: tuple) -> None:
    def before(trial: optuna.Trial) -> float:  # Objective.config until the space became generic
        values = {"lr": trial.suggest_float("lr", *lr, log=True), "epochs": trial.suggest_int("epochs", *epochs)}
        return _score(values)

    loaded = Params.model_validate({"tune": {"search_space": space}}).tune.search_space
    assert _drawn(lambda trial: _score(suggest(trial, loaded))) == _drawn(before)


def test_batch_size_and_warmup_are_tuned_and_applied_by_name() -> None:
    from kobench.config import ModelParams
    from kobench.engine.models import ModelRef
    from kobench.tasks import get_task

    params = Params.model_validate({"tune": {"search_space": {
        "batch_size": {"choices": [8, 16, 32]},
        "warmup_ratio": {"type": "float", "low": 0.0, "high": 0.2},
        "weight_decay": {"type": "categorical", "choices": [0.0, 0.01]},
        "max_seq_len": {"type": "int", "low": 32, "high": 128, "step": 32},
    }}})  # fmt: skip
    space = params.tune.search_space
    assert space.settings() == ["batch_size", "max_seq_len", "warmup_ratio", "weight_decay"]  # declaration order
    base = run_config(params, get_task("nsmc"), ModelRef("m", ModelParams(id=".")))
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    for _ in range(5):
        trial = study.ask()
        config = dataclasses.replace(base, **suggest(trial, space))
        assert isinstance(config, RunConfig) and config.batch_size in (8, 16, 32) and 0.0 <= config.warmup_ratio <= 0.2
        assert config.max_seq_len in (32, 64, 96, 128) and config.lr == base.lr  # untuned: the base's
        study.tell(trial, 0.5)
    assert set(study.best_params) == set(space.settings())


@pytest.mark.parametrize(
    ("space", "message"),
    [({"eval_batch_size": {"low": 8, "high": 16}}, "unknown key 'tune.search_space.eval_batch_size'; allowed: lr, epochs"),
     ({"batch_size": {"type": "float", "low": 8, "high": 16}}, "batch_size.type': not allowed; allowed: int, categorical"),
     ({"warmup_ratio": {"type": "float", "low": 0.0, "high": 1.0}}, "warmup_ratio.high': Input should be less than 1"),
     ({"batch_size": {"choices": [16, 0]}}, "batch_size.choices.1': Input should be greater than or equal to 1"),
     ({"batch_size": {"choices": []}}, "categorical takes only a non-empty list of choices"),
     ({"batch_size": {"type": "int", "choices": [16]}}, "int takes low and high"),
     ({"lr": {"type": "float", "low": 1e-5, "high": 1e-3, "step": 1e-5}}, "log and step exclude each other")],
)  # fmt: skip
def test_a_space_is_checked_against_the_settings_it_tunes(tmp_path, space: dict, message: str) -> None:  # noqa: ANN001
    import yaml

    from kobench.config import load_params
    from kobench.errors import ConfigError

    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"tune": {"search_space": space}}), encoding="utf-8")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_params(path)
