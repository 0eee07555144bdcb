"""params.yaml validation: typed sections, one-line errors naming the key and the allowed values."""

from __future__ import annotations

from pathlib import Path

import pytest

from kobench.config import load_params
from kobench.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def _load(tmp_path: Path, text: str):  # noqa: ANN202
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    return load_params(path)


def test_project_params_load_with_the_eight_published_rows() -> None:
    params = load_params(ROOT / "params.yaml")
    assert {"kobert", "xlm-roberta-base", "hanbert", "koelectra-base-v3", "soongsil-bert-base"} <= set(params.models)
    assert {"distilkobert", "koelectra-small-v3", "soongsil-bert-small"} <= set(params.models)
    assert not any(row.trust_remote_code for row in params.models.values())  # no row runs repository code
    assert params.models["kobert"].tokenizer == params.models["distilkobert"].tokenizer == "sentencepiece-vocab"
    assert not params.models["xlm-roberta-base"].token_type_ids and params.models["hanbert"].local_only
    displays = [row.display for row in params.models.values()]
    assert len(set(displays)) == len(displays)  # one name, one row (the report shows both sizes side by side)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("run: {tasks: [nsmcc]}", "unknown task 'nsmcc' (did you mean 'nsmc'?) at run.tasks[0]; allowed: nsmc, naver-ner"),
        ("models: {a: {id: x}}\nrun: {models: [b]}", "unknown model 'b' at run.models[0]; allowed: a"),
        ("train: {batch_size: many}", "key 'train.batch_size': Input should be a valid integer"),
        ("train: {batchsize: 8}", "unknown key 'train.batchsize'; allowed: batch_size, eval_batch_size"),
        ("models: {a: {id: x, trust: true}}", "unknown key 'models.a.trust'; allowed: id, display"),
        ("data: {validation_fraction: 1.5}", "key 'data.validation_fraction': Input should be less than 1"),
        ("tune: {search_space: {lr: {low: 1, high: 0.1}}}", "key 'tune.search_space.lr': low 1.0 > high 0.1"),
        ("bogus: 1", "unknown key 'bogus'; allowed: base, run, models"),
        ("run: [1", "invalid YAML"),
    ],
)
def test_bad_params_fail_with_one_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert str(info.value).startswith(str(tmp_path / "params.yaml"))


def test_splits_per_task(tmp_path: Path) -> None:
    params = _load(tmp_path, "data: {splits: {naver-ner: [test]}}")
    assert params.splits_for("naver-ner") == ("test",) and params.splits_for("nsmc") == ("train", "validation", "test")


def test_a_tuned_task_without_its_train_split_is_refused_at_load(tmp_path: Path) -> None:
    """Said once, by the first command (fetch under `dvc repro`), not by tune after fetch and prepare succeeded."""
    scored_only = "run: {tasks: [nsmc, naver-ner], models: []}\ndata: {splits: {naver-ner: [test]}}"
    assert _load(tmp_path, scored_only).splits_for("naver-ner") == ("test",)  # nothing is tuned: allowed
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, scored_only.replace("models: []", "models: [tiny]") + "\nmodels: {tiny: {id: models/tiny}}")
    assert str(info.value) == (
        f"{tmp_path / 'params.yaml'}: run.tasks[1]: naver-ner is tuned, which needs train, validation and test, but "
        "data.splits.naver-ner leaves out train, validation; remove naver-ner from run.tasks (its test split can still "
        "be scored: kobench score) or fetch its files with network and drop data.splits.naver-ner"
    )


def test_a_model_row_search_space_comes_before_task_overrides_and_the_default() -> None:
    from kobench.config import distribution_model
    from kobench.engine.models import resolve_model
    from kobench.tuning.study import search_space

    params = load_params(ROOT / "params.yaml")
    tiny = params.models["tiny"].model_copy(update={"id": "."})  # its own space, as published in params.yaml
    assert search_space(params, "nsmc", resolve_model("koelectra-small-v3", params)) == params.tune.search_space
    from kobench.engine.models import ModelRef

    assert search_space(params, "nsmc", ModelRef("tiny", tiny)).lr.low == 1.0e-3
    epochs = distribution_model("epochs").model_validate({"low": 7, "high": 9})
    overridden = params.model_copy(update={"tune": params.tune.model_copy(
        update={"overrides": {"nsmc": params.tune.search_space.model_copy(update={"epochs": epochs})}})})
    assert search_space(overridden, "nsmc", ModelRef("tiny", tiny)).lr.low == 1.0e-3
    assert search_space(overridden, "nsmc", resolve_model("koelectra-small-v3", params)).bounds("epochs", 1) == (7, 9)


def test_the_environment_overrides_params_yaml_and_an_empty_variable_does_not(tmp_path: Path) -> None:
    text = "data: {mirror: /yaml/mirror}\ntune: {storage: 'sqlite:///yaml.db'}\ntracking: {mlflow_uri: 'sqlite:///m.db'}\n"
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    plain = load_params(path, environ={})
    assert (plain.data.mirror, plain.tune.storage, plain.tracking.mlflow_uri) == (
        Path("/yaml/mirror"), "sqlite:///yaml.db", "sqlite:///m.db"
    )
    environ = {"KOBENCH_MIRROR": "/env/mirror", "KOBENCH_OPTUNA_STORAGE": "postgresql://h/o", "MLFLOW_TRACKING_URI": ""}
    over = load_params(path, environ=environ)
    assert (over.data.mirror, over.tune.storage, over.tracking.mlflow_uri) == (
        Path("/env/mirror"), "postgresql://h/o", "sqlite:///m.db"
    )
    assert load_params(tmp_path / "absent.yaml", missing_ok=True, environ=environ).tune.storage == "postgresql://h/o"
