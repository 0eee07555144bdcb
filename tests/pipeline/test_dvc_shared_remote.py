"""A teammate's clone gets data, study results and the report from a DVC remote without training anything.

The first clone commits the setup (params, dvc.yaml, the raw data's lock entry, the remote), runs `dvc repro` and
`dvc push --run-cache`; its results are never committed to git. The second clone (a `git clone` of the first, no
mirror) runs `dvc pull --run-cache` and `dvc repro --pull`: every stage is restored from the run cache. Once the
first clone commits its dvc.lock, a third clone needs only `dvc pull`.

The first clone's model is missing at first: its tune stage fails `dvc repro` instead of being recorded as done,
and once the model is there `dvc repro` trains it (one pipeline serves both checks: DVC runs cost the suite most).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dvc_project import make_project, run
from synthetic import write_raw

pytestmark = pytest.mark.slow

TASK = "hate-speech"
RESULTS = [f"metrics/{TASK}/tiny.json", f"metrics/{TASK}/tiny.study.json", f"metrics/{TASK}/tiny.predictions.jsonl",
           "reports/results.md", "reports/results.json", "reports/results.csv", "reports/index.html",
           "reports/comparisons.json"]


def test_a_failed_tune_stage_is_not_recorded_and_a_second_clone_pulls_the_results_and_trains_nothing(
    tmp_path: Path, tiny_models  # noqa: ANN001
) -> None:
    model_dir = tmp_path / "encoder"  # not there yet: the model is unreachable
    first = make_project(
        tmp_path,
        {
            "run": {"tasks": [TASK], "models": ["tiny"]},
            "models": {"tiny": {"id": str(model_dir), "display": "Tiny", "size": "small", "local_only": True}},
            "data": {"mirror": None, "splits": {}, "max_train_samples": 60, "max_eval_samples": 40},
            "train": {"batch_size": 16, "eval_batch_size": 64, "max_seq_len": 32},
            "tune": {"n_trials": 1,
                     "search_space": {"lr": {"low": 1.0e-3, "high": 3.0e-3}, "epochs": {"low": 1, "high": 1}}},
        },
    )
    write_raw(TASK, first / "data" / "raw" / TASK)  # offline: the upstream files, recorded as fetch's output
    run(["dvc", "commit", "-f", f"fetch@{TASK}"], first)
    remote = tmp_path / "dvc-remote"
    run(["dvc", "remote", "add", "-d", "shared", str(remote)], first)
    run(["git", "add", "-A"], first)
    run(["git", "commit", "-q", "-m", "setup"], first)  # the teammate's starting point: no result in git
    # A failed `dvc repro` takes back the .gitignore entries of the stages that did succeed in it, and the report
    # depends on whole folders (metrics/, data/prepared/) that hold those files: prepare first, on its own, then a
    # repro of tune alone fails, so that the folders end up as a clone's do.
    run(["dvc", "repro", f"prepare@{TASK}"], first)
    with pytest.raises(AssertionError) as failed:
        run(["dvc", "repro", f"tune@{TASK}-tiny"], first)
    assert "model 'tiny': local directory" in str(failed.value)
    assert not (first / "metrics" / TASK / "tiny.json").exists()

    shutil.copytree(tiny_models("bert"), model_dir)  # fixed: the same `dvc repro` now trains it
    trained = run(["dvc", "repro"], first)
    assert f"Running stage 'tune@{TASK}-tiny'" in trained.stdout and "Running stage 'report'" in trained.stdout
    assert json.loads((first / "metrics" / TASK / "tiny.study.json").read_text())["status"] == "complete"
    assert (first / "reports" / "plots").is_dir()
    run(["dvc", "push", "--run-cache"], first)

    second = tmp_path / "teammate"
    run(["git", "clone", "-q", str(first), str(second)], tmp_path)
    run(["dvc", "config", "--local", "core.analytics", "false"], second)
    run(["dvc", "pull", "--run-cache", "--allow-missing"], second)  # results: not in its dvc.lock
    restored = run(["dvc", "repro", "--pull"], second)
    output = restored.stdout + restored.stderr
    assert "Running stage" not in output, output
    for stage in (f"prepare@{TASK}", f"tune@{TASK}-tiny", "report"):
        assert f"Stage '{stage}' is cached - skipping run, checking out outputs" in output, output
    # nothing trained: no Optuna study, no MLflow store, no checkpoint in the teammate's clone
    assert not (second / "optuna.db").exists() and not (second / "mlflow.db").exists()
    assert not (second / "mlruns").exists() and not (second / "outputs").exists()
    assert (second / "data" / "prepared" / TASK).is_dir()
    for name in RESULTS:
        assert (second / name).read_bytes() == (first / name).read_bytes(), name
    assert "Running stage" not in run(["dvc", "repro"], second).stdout  # and it is up to date afterwards

    # the usual flow: the results' dvc.lock is committed; a plain `dvc pull` then checks everything out
    run(["git", "add", "-A"], first)
    run(["git", "commit", "-q", "-m", "results"], first)
    third = tmp_path / "after-commit"
    run(["git", "clone", "-q", str(first), str(third)], tmp_path)
    run(["dvc", "pull"], third)
    assert "Running stage" not in run(["dvc", "repro"], third).stdout
    for name in RESULTS:
        assert (third / name).read_bytes() == (first / name).read_bytes(), name
