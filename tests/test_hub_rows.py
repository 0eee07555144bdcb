"""Every published catalogue row, from an offline cache laid out like its hub repository (HanBERT: from the vendor's
directory layout with the stand-in analyser), on every family: it trains a few steps, saves, reloads and predicts
identically, and is registered and loadable by alias."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from kobench.data.splits import task_rows
from kobench.engine.models import resolve_model
from kobench.engine.runs import run_config
from kobench.engine.training import evaluate_checkpoint, inference_setup, train
from kobench.families import get_family
from kobench.metrics.registry import metric
from kobench.tasks import get_task
from kobench.tools.hub_fixtures import HUB_REPOS
from kobench.tuning.champion import CHECKPOINT, input_frame, log_champion

ROWS = ["kobert", "xlm-roberta-base", "koelectra-base-v3", "soongsil-bert-base", "distilkobert",
        "koelectra-small-v3", "soongsil-bert-small"]
TASKS = ["nsmc", "question-pair", "korsts", "naver-ner", "korquad"]


def test_every_hub_row_of_the_catalogue_is_covered(hub_catalogue) -> None:  # noqa: ANN001
    published = sorted(key for key, row in hub_catalogue.models.items() if row.id in HUB_REPOS)
    assert published == sorted(ROWS)
    assert all(hub_catalogue.models[key].revision for key in ROWS)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    from kobench.tuning.tracking import Tracker

    uri = f"sqlite:///{tmp_path_factory.mktemp('registry')}/mlflow.db"
    tracker = Tracker(uri, "hub-rows")
    return tracker, tracker.study_run("hub-rows", {}), uri


@pytest.fixture(scope="module")
def prepared_tasks(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    from kobench.data.prepare import prepare_task
    from synthetic import write_raw

    root = tmp_path_factory.mktemp("prepared")
    for task in TASKS:
        prepare_task(get_task(task), write_raw(task, root / "raw" / task), root / task)
    return root


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("key", [*ROWS, "hanbert"])
def test_row_trains_reloads_predicts_identically_and_registers(  # noqa: PLR0913
    key: str, task: str, request: pytest.FixtureRequest, prepared_tasks: Path, registry, tmp_path: Path  # noqa: ANN001
) -> None:
    import mlflow
    import transformers

    # HanBERT: the vendor directory with the stand-in analyser (its row is not a hub repository)
    params, spec = request.getfixturevalue("hanbert_catalogue" if key == "hanbert" else "hub_catalogue"), get_task(task)
    ref = resolve_model(key, params)
    family = get_family(spec.family)
    config = run_config(params, spec, ref, lr=1e-3, epochs=1, batch_size=8, max_seq_len=64, seed=1,
                        max_train_samples=24, max_eval_samples=12)
    result = train(spec, ref, config, prepared_dir=prepared_tasks / task, run_dir=tmp_path / "run")
    assert result.model_revision == params.models[key].revision
    assert result.history and result.test[spec.main_metric] == result.test[spec.main_metric]  # not NaN

    checkpoint = tmp_path / "run" / "checkpoint"
    assert (checkpoint / "model.safetensors").exists() and not (checkpoint / "pytorch_model.bin").exists()
    saved = json.loads((checkpoint / "tokenizer_config.json").read_text())
    assert "auto_map" not in saved  # the checkpoint never points back at code from the model repository
    metrics, predictions = evaluate_checkpoint(spec, ref, checkpoint, config, prepared_dir=prepared_tasks / task)
    written = [json.loads(line) for line in (tmp_path / "run" / "predictions-test.jsonl").read_text().splitlines()]
    assert {r["id"]: r["prediction"] for r in written} == {i: family.to_json(spec, p) for i, p in predictions.items()}
    assert metrics == result.test

    tracker, parent, uri = registry
    run_id = tracker.start_child(parent, f"{task}-{key}", "final", {"model_id": ref.id}, {})
    rows = task_rows(spec, prepared_tasks / task, "test", max_rows=12, seed=1)
    setup = inference_setup(spec, ref, config)
    source, model_id = log_champion(tracker, run_id, checkpoint, task, setup, input_frame(task, rows[:2]))
    version, champion = tracker.register(f"kobench-{task}-{key}", source, run_id, {}, metrics[spec.main_metric],
                                         ranked_by=metric(spec.main_metric), model_id=model_id)
    tracker.end(run_id)
    assert version == "1" and champion
    mlflow.set_tracking_uri(uri)  # models:/ URIs resolve through the global registry URI
    served = mlflow.pyfunc.load_model(f"models:/kobench-{task}-{key}@champion").predict(input_frame(task, rows))
    assert served == [{r["id"]: r["prediction"] for r in written}[row["id"]] for row in rows]
    downloaded = mlflow.artifacts.download_artifacts(f"models:/kobench-{task}-{key}@champion", dst_path=str(tmp_path / "dl"))
    downloaded = Path(downloaded) / CHECKPOINT
    model = getattr(transformers, family.auto_class).from_pretrained(downloaded)
    assert model.config.model_type == json.loads((checkpoint / "config.json").read_text())["model_type"]
    if spec.family in ("classification", "token_classification"):  # label names, not LABEL_0 ...
        assert list(model.config.id2label.values()) == spec.label_names
    if key == "hanbert":  # the tokenizer needs the vendor library: the checkpoint says so, plain transformers refuses
        settings = json.loads((downloaded / "kobench_tokenizer.json").read_text())
        assert settings["kind"] == "hanbert-moran" and settings["needs_native_library"] == "libmoran4dnlp.so"
        assert (downloaded / "vocab_54k.txt").exists() and not (downloaded / "libmoran4dnlp.so").exists()
        with pytest.raises(ValueError):
            transformers.AutoTokenizer.from_pretrained(downloaded)
    else:
        assert transformers.AutoTokenizer.from_pretrained(downloaded).is_fast
    assert not any(name.startswith("transformers_modules") for name in sys.modules)  # no repository code ran
