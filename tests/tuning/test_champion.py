"""The registered champion is an MLflow Model: pyfunc predictions equal predictions-test.jsonl for every family,
`mlflow models serve` answers, `kobench predict` grades any version, and every run records its datasets."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from http_server import wait_until_up
from kobench.config import ModelParams, Params
from kobench.data.splits import task_rows
from kobench.engine.models import ModelRef
from kobench.engine.runs import run_config
from kobench.errors import KobenchError
from kobench.families import bind
from kobench.names import StudyPaths, registered_model
from kobench.tasks import get_task
from kobench.tuning.champion import CHECKPOINT, input_frame
from kobench.tuning.context import StudyContext
from kobench.tuning.study import run_study
from kobench.tuning.tracking import Tracker

FAMILIES = {"nsmc": "classification", "korsts": "regression", "naver-ner": "token_classification", "korquad": "span_qa"}


def _study(task: str, root: Path, prepared, tiny_models) -> dict:  # noqa: ANN001
    """One real one-trial study of ``task`` on a tiny model, its stores under ``root``."""
    params = Params.model_validate({
        "tune": {"n_trials": 1, "storage": f"sqlite:///{root}/optuna.db",
                 "search_space": {"lr": {"low": 1e-3, "high": 1e-3}, "epochs": {"low": 1, "high": 1}}},
        "train": {"batch_size": 16, "eval_batch_size": 8},  # several evaluation batches: their order matters
    })
    spec = get_task(task)
    ref = ModelRef("tiny", ModelParams(id=str(tiny_models("bert")), local_only=True, size="small"))
    base = run_config(params, spec, ref, max_seq_len=64)
    paths = StudyPaths(prepared=prepared(task), features=root / "features", outputs=root / "outputs" / task,
                       metrics_file=root / "metrics" / task / "tiny.json")
    tracker = Tracker(f"sqlite:///{root}/mlflow.db", "kobench")
    result = run_study(StudyContext(spec, ref, params, base, paths, tracker), n_trials=1, storage_url=params.tune.storage)
    assert result.complete
    return {"spec": spec, "paths": paths, "tracker": tracker, "result": result, "uri": tracker.uri}


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory, tiny_models) -> dict:  # noqa: ANN001
    from kobench.data.prepare import prepare_task
    from synthetic import write_raw

    root = tmp_path_factory.mktemp("champions")

    def prepared(task: str) -> Path:
        prepare_task(get_task(task), write_raw(task, root / "raw" / task), root / "prepared" / task)
        return root / "prepared" / task

    return {task: _study(task, root, prepared, tiny_models) for task in FAMILIES}


def _written(study: dict) -> list[dict]:
    lines = (study["paths"].outputs / "final" / "predictions-test.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize("task", FAMILIES)
def test_the_champion_pyfunc_predicts_what_predictions_test_holds(studies: dict, task: str) -> None:
    import mlflow
    import transformers

    study, spec = studies[task], get_task(task)
    mlflow.set_tracking_uri(study["uri"])
    uri = f"models:/{registered_model(task, 'tiny')}@champion"
    model = mlflow.pyfunc.load_model(uri)
    rows = task_rows(spec, study["paths"].prepared, "test")
    predicted = model.predict(input_frame(task, rows))
    assert [{"id": r["id"], "prediction": p} for r, p in zip(rows, predicted)] == _written(study)
    column = bind(spec).input_columns()[-1]
    bad = input_frame(task, rows[:2]).astype(object)
    bad.loc[1, column] = 5  # a number where text (or a list of eojeols) belongs is refused, not stringified
    # (a list column is refused by MLflow's own schema check first: "Expected data to be list ..., got int")
    message = "got int" if column == "tokens" else rf"row 1: column '{column}': expected a string, got int 5"
    with pytest.raises(mlflow.exceptions.MlflowException, match=message):
        model.predict(bad)

    info = model.metadata
    assert [c["name"] for c in json.loads(info.signature.to_dict()["inputs"])] == list(input_frame(task, rows[:1]))
    assert info.saved_input_example_info["type"] == "dataframe"
    requirements = (Path(mlflow.artifacts.download_artifacts(uri)) / "requirements.txt").read_text()
    assert "torch==" in requirements and "transformers==" in requirements
    client = study["tracker"].client
    version = client.get_model_version_by_alias(registered_model(task, "tiny"), "champion")
    assert version.run_id == study["result"].run_ids["final"] and version.source.startswith("models:/m-")
    for line in (f"**{spec.name}** ({FAMILIES[task]})", "prepared digest", "base model:", "hyper-parameters: lr"):
        assert line in version.description
    local = Path(mlflow.artifacts.download_artifacts(uri)) / CHECKPOINT
    auto = getattr(transformers, {"span_qa": "AutoModelForQuestionAnswering",
                                  "token_classification": "AutoModelForTokenClassification"}.get(FAMILIES[task],
                                  "AutoModelForSequenceClassification"))
    assert auto.from_pretrained(local).config.model_type == "bert"


def test_every_trial_and_the_final_run_record_their_datasets(studies: dict) -> None:
    study = studies["nsmc"]
    client, result = study["tracker"].client, study["result"]
    trial = study["tracker"].children(result.run_ids["study"], "trial")[0]
    digest = client.get_run(result.run_ids["study"]).data.tags["kobench.prepared_digest"]
    expected = {trial.info.run_id: ["train", "validation"], result.run_ids["final"]: ["train", "validation", "test"]}
    for run_id, splits in expected.items():
        inputs = client.get_run(run_id).inputs.dataset_inputs
        by_split = {next(t.value for t in i.tags if t.key == "mlflow.data.context"): i for i in inputs}
        assert sorted(by_split) == sorted(splits)
        for split, item in by_split.items():
            tags = {t.key: t.value for t in item.tags}
            assert item.dataset.name == f"nsmc/{split}" and item.dataset.digest == digest[:32]
            assert tags["kobench.prepared_digest"] == digest and tags["kobench.subsampled"] == "false"
            assert json.loads(item.dataset.profile)["num_rows"] == int(tags["kobench.rows"]) > 0
            assert json.loads(item.dataset.source)["url"].startswith("https://raw.githubusercontent.com/e9t/nsmc/")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_mlflow_models_serve_answers_invocations(studies: dict, tmp_path: Path) -> None:
    study, port = studies["korsts"], _free_port()
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "MLFLOW_TRACKING_URI": study["uri"], "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    uri = f"models:/{registered_model('korsts', 'tiny')}@champion"
    server = subprocess.Popen(
        [str(Path(bin_dir) / "mlflow"), "models", "serve", "-m", uri, "--env-manager", "local", "--host", "127.0.0.1",
         "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=(tmp_path / "serve.log").open("w"),
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/ping", server, tmp_path / "serve.log")
        rows = task_rows(get_task("korsts"), study["paths"].prepared, "test")  # the same batches as the final run
        body = {"dataframe_split": input_frame("korsts", rows).to_dict(orient="split")}
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        answer = json.loads(urllib.request.urlopen(request, timeout=60).read())
        expected = {r["id"]: r["prediction"] for r in _written(study)}
        assert answer["predictions"] == [expected[r["id"]] for r in rows]
        for data, got in ([[None, "식사를 했다"]], "null"), ([["밥을 먹었다", "좋다"], ["밥", None]], "null"):
            body = {"dataframe_split": {"columns": ["text", "text_pair"], "data": data}}
            request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=json.dumps(body).encode(),
                                             headers={"Content-Type": "application/json"})
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=60)
            assert refused.value.code == 400
            message = json.loads(refused.value.read())["message"]
            assert f"column '{'text' if data[0][0] is None else 'text_pair'}': expected a string, got {got}" in message
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_kobench_predict_writes_what_kobench_score_grades(studies: dict, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from kobench.cli import app
    from kobench.engine.scoring import score_file

    study, spec = studies["naver-ner"], get_task("naver-ner")
    rows = task_rows(spec, study["paths"].prepared, "test")
    inputs = tmp_path / "inputs.csv"  # CSV: the eojeols space-separated
    with inputs.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerows([("id", "tokens"), *((r["id"], " ".join(r["tokens"])) for r in rows)])
    uri = f"models:/{registered_model('naver-ner', 'tiny')}@champion"
    env = {"MLFLOW_TRACKING_URI": study["uri"]}
    out = CliRunner().invoke(app, ["predict", "--task", "naver-ner", "--model-uri", uri, "--input", str(inputs),
                                   "--output", str(tmp_path / "p.jsonl")], env=env)
    assert out.exit_code == 0, out.output
    assert score_file(spec, study["paths"].prepared, tmp_path / "p.jsonl") == {
        "task": "naver-ner", "split": "test", "rows": len(rows), **study["result"].test
    }
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "text": "no tokens"}\n', encoding="utf-8")
    out = CliRunner().invoke(app, ["predict", "--task", "naver-ner", "--model-uri", uri, "--input", str(bad)], env=env)
    assert out.exit_code != 0 and f"{bad}:1: missing input column(s) tokens" in str(out.exception)


def test_kobench_predict_stops_at_a_signal_and_writes_nothing(studies: dict, tmp_path: Path, sigterm_received) -> None:  # noqa: ANN001
    import mlflow

    from kobench.interrupts import Interrupted
    from kobench.tuning.champion import predict_file

    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(f'{{"id": {i}, "text": "좋은 영화 {i}"}}\n' for i in range(300)), encoding="utf-8")
    mlflow.set_tracking_uri(studies["nsmc"]["uri"])
    with pytest.raises(Interrupted):
        predict_file("nsmc", f"models:/{registered_model('nsmc', 'tiny')}@champion", inputs, tmp_path / "out.jsonl")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]  # no output, no temporary file


UNITS = {"nsmc": "example", "korsts": "example", "naver-ner": "sentence", "korquad": "paragraph"}


@pytest.mark.parametrize("task", FAMILIES)
def test_every_test_metric_carries_its_interval_in_records_files_and_mlflow(studies: dict, task: str) -> None:
    study, spec = studies[task], get_task(task)
    test = study["result"].test
    assert test["interval"]["unit"] == UNITS[task] and test["interval"]["resamples"] == 10_000
    for metric in bind(spec).display_metrics():
        assert test[f"{metric}_ci_low"] <= test[metric] <= test[f"{metric}_ci_high"]
    view = json.loads(study["paths"].metrics_file.read_text(encoding="utf-8"))  # what `dvc metrics show` prints
    assert (view["test_low"], view["test_high"]) == (test[f"{spec.main_metric}_ci_low"], test[f"{spec.main_metric}_ci_high"])
    final = study["tracker"].client.get_run(study["result"].run_ids["final"]).data.metrics
    assert final[f"test_{spec.main_metric}_ci_high"] == pytest.approx(test[f"{spec.main_metric}_ci_high"])
    assert not any(key.startswith("test_interval") for key in final)  # how it was drawn is no metric


def test_compare_pairs_a_registered_champion_with_a_predictions_file(studies: dict) -> None:
    from kobench.report.compare import compare
    from kobench.tuning.tracking import download_predictions

    study = studies["korsts"]
    params = Params.model_validate({"base": {"paths": {"prepared": str(study["paths"].prepared.parent)}}})
    uri = f"models:/{registered_model('korsts', 'tiny')}@champion"
    written = str(study["paths"].outputs / "final" / "predictions-test.jsonl")
    download = lambda u, folder: download_predictions(study["tracker"], u, folder)  # noqa: E731
    result = compare(get_task("korsts"), params, [uri, written], download)
    (comparison,) = result.comparisons  # the champion's own predictions: no difference at all
    assert comparison.difference == 0 and comparison.p_randomization == 1.0 and comparison.p_holm == 1.0
    assert result.scores[0].score == pytest.approx(study["result"].test["spearman"], abs=1e-12)
    with pytest.raises(KobenchError, match=r"models:/kobench-korsts-tiny/99: no such registered model version"):
        compare(get_task("korsts"), params, ["models:/kobench-korsts-tiny/99", written], download)


@pytest.mark.parametrize(("line", "message"), [
    ('{"text": 5}', "column 'text': expected a string, got int 5"),
    ('{"text": ["a"]}', "column 'text': expected a string, got list ['a']"),
    ('{"text": null}', "missing input column(s) text; nsmc takes text"),
])
def test_kobench_predict_refuses_input_that_is_not_text_before_loading_a_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str, message: str
) -> None:
    from typer.testing import CliRunner

    from kobench.cli import app
    from kobench.errors import DataError

    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "좋다"}\n' + line + "\n", encoding="utf-8")
    out = CliRunner().invoke(app, ["predict", "--task", "nsmc", "--model-uri", "models:/absent/1", "--input", str(bad),
                                   "--output", str(tmp_path / "p.jsonl")])
    assert isinstance(out.exception, DataError) and str(out.exception) == f"{bad}:2: {message}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl"]  # no store, no output


def test_kobench_predict_prints_no_library_noise(studies: dict, tmp_path: Path) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"id": "a", "text": "정말 재밌다"}\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("KOBENCH_VERBOSE", "MLFLOW_LOGGING_LEVEL")}
    uri = f"models:/{registered_model('nsmc', 'tiny')}@champion"
    done = subprocess.run([sys.executable, "-m", "kobench.cli", "predict", "--task", "nsmc", "--model-uri", uri,
                           "--input", str(inputs)], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**env, "MLFLOW_TRACKING_URI": studies["nsmc"]["uri"]})
    assert done.returncode == 0 and json.loads(done.stdout)["id"] == "a", done.stderr
    assert done.stderr == ""  # no "Add type hints to the predict method" warning, no INFO lines
