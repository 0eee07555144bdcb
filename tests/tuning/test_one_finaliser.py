"""Two `kobench tune` of one study started together (two terminals, no --workers) finalise it once: one final
run, one registered version, and metrics files that agree with the registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import optuna
import yaml

from kobench.tuning.tracking import Tracker


def test_two_processes_of_one_study_elect_one_finaliser(cli_project: dict) -> None:
    root = cli_project["root"]
    params = {"base": {"paths": {"prepared": str(root / "prepared")}},
              "tracking": {"mlflow_uri": f"sqlite:///{root}/mlflow.db"},
              "models": {"tiny": {"id": cli_project["model"], "size": "small", "local_only": True}},
              "tune": {"n_trials": 2, "storage": f"sqlite:///{root}/optuna.db",
                       "search_space": {"lr": {"low": 1.0e-3, "high": 3.0e-3}, "epochs": {"low": 1, "high": 1}}}}
    (root / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    Tracker(f"sqlite:///{root}/mlflow.db", "kobench")  # the stores exist: the two start their studies, not the schema
    optuna.storages.RDBStorage(f"sqlite:///{root}/optuna.db").engine.dispose()
    command = [sys.executable, "-m", "kobench.cli", "tune", "--task", "nsmc", "--model", "tiny", "--max-seq-len", "32"]
    processes = [subprocess.Popen(command, cwd=root, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=900) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs

    study = optuna.load_study(study_name="nsmc-tiny", storage=f"sqlite:///{root}/optuna.db")
    assert len(study.trials) == 2  # the shared budget
    tracker = Tracker(f"sqlite:///{root}/mlflow.db", "kobench")
    parent = study.user_attrs["mlflow_parent_run_id"]
    assert len(tracker.children(parent, "final")) == 1  # one final step, not one per process
    versions = tracker.client.search_model_versions("name='kobench-nsmc-tiny'")
    assert [int(v.version) for v in versions] == [1]
    waited = [err for _, err in outputs if "finalised by" in err]
    assert len(waited) == 1 and "not registered again" in waited[0], outputs
    saved = json.loads((root / "metrics" / "nsmc" / "tiny.study.json").read_text())
    assert (saved["registered_version"], saved["champion"]) == ("1", True)  # the study file agrees with the registry
    first, second = (out.strip().splitlines()[-1] for out, _ in outputs)
    assert first == second and first.endswith("kobench-nsmc-tiny v1 @champion")  # both report the one result
