"""`dvc exp run --queue` + `dvc queue start -j 2`: two studies in parallel on one local MLflow and Optuna store."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

from dvc_project import make_project, run
from synthetic import write_raw


def _registered(store: Path) -> int:
    """Model versions in the MLflow store (0 until it has its tables)."""
    try:
        with closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)) as db:
            return db.execute("select count(*) from model_versions").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_two_queued_experiments_run_in_parallel_on_shared_stores(tmp_path: Path, tiny_models) -> None:  # noqa: ANN001
    stores = tmp_path / "stores"
    project = make_project(
        tmp_path,
        {
            "run": {"tasks": ["korsts", "question-pair"], "models": ["tiny"]},
            "models": {"tiny": {"id": str(tiny_models("bert")), "size": "small", "local_only": True}},
            "data": {"mirror": None, "splits": {}, "max_train_samples": 100, "max_eval_samples": 80},
            "train": {"batch_size": 16, "max_seq_len": 32},
            "tune": {"n_trials": 2, "storage": f"sqlite:///{stores}/optuna.db",
                     "search_space": {"lr": {"low": 1.0e-3, "high": 3.0e-3}, "epochs": {"low": 1, "high": 1}}},
            # queued experiments run in temporary copies of the repository: stores need absolute paths
            "tracking": {"mlflow_uri": f"sqlite:///{stores}/mlflow.db"},
        },
    )
    for task in ("korsts", "question-pair"):
        write_raw(task, project / "data" / "raw" / task)
        run(["dvc", "commit", "-f", f"fetch@{task}"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "baseline"], project)
    for task in ("korsts", "question-pair"):
        run(["dvc", "exp", "run", "--queue", "-S", f"run.tasks=[{task}]"], project)
    run(["dvc", "queue", "start", "-j", "2"], project, spawns_daemons=True)
    try:
        # `dvc queue status` costs a DVC start-up: asked every 15 s (a failure shows there), and every 2 s once both
        # studies have registered their champions (the experiments then only report and commit)
        deadline, asked = time.monotonic() + 400, 0.0
        while time.monotonic() < deadline:
            if _registered(stores / "mlflow.db") == 2 or time.monotonic() - asked > 15:
                asked = time.monotonic()
                status = run(["dvc", "queue", "status"], project).stdout
                if "Running" not in status and "Queued" not in status:
                    break
            time.sleep(2)
    finally:
        run(["dvc", "queue", "stop", "--kill"], project, spawns_daemons=True)
    if status.count("Success") != 2:  # show why an experiment failed
        names = [line.split()[1] for line in status.splitlines() if "Failed" in line]
        logs = "\n".join(run(["dvc", "queue", "logs", name], project).stdout[-3000:] for name in names)
        raise AssertionError(f"{status}\n{logs}")
    with sqlite3.connect(stores / "mlflow.db") as db:
        runs = db.execute(
            "select r.name, r.status, t.value from runs r join tags t on t.run_uuid = r.run_uuid "
            "where t.key = 'kobench.study'"
        ).fetchall()
        versions = db.execute("select name, version from model_versions").fetchall()
    studies = {study for _, _, study in runs}
    assert studies == {"korsts-tiny", "question-pair-tiny"} and all(status == "FINISHED" for _, status, _ in runs)
    assert sorted(name for name, _, _ in runs if name.startswith("trial-")) == ["trial-0", "trial-0", "trial-1", "trial-1"]
    assert sorted(name for name, _ in versions) == ["kobench-korsts-tiny", "kobench-question-pair-tiny"]
