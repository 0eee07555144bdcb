"""A teammate's clone gets data, study results and the report from a DVC remote without training anything.

The first clone commits the setup (params, dvc.yaml, the raw data's lock entry, the remote), runs `dvc repro` and
`dvc push --run-cache`; its results are never committed to git. The second clone (a `git clone` of the first, no
mirror) runs `dvc pull --run-cache` and `dvc repro --pull`: every stage is restored from the run cache. Once the
first clone commits its dvc.lock, a third clone needs only `dvc pull`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dvc_project import make_project, run
from synthetic import write_raw

pytestmark = pytest.mark.slow

TASK = "hate-speech"
RESULTS = [f"metrics/{TASK}/tiny.json", f"metrics/{TASK}/tiny.study.json", f"metrics/{TASK}/tiny.predictions.jsonl",
           "reports/results.md", "reports/results.json", "reports/results.csv", "reports/index.html",
           "reports/comparisons.json"]


def test_second_clone_pulls_results_through_the_run_cache_and_trains_nothing(tmp_path: Path, tiny_models) -> None:  # noqa: ANN001
    first = make_project(
        tmp_path,
        {
            "run": {"tasks": [TASK], "models": ["tiny"]},
            "models": {"tiny": {"id": str(tiny_models("bert")), "display": "Tiny", "size": "small", "local_only": True}},
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
    trained = run(["dvc", "repro"], first)
    assert f"Running stage 'tune@{TASK}-tiny'" in trained.stdout
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
