"""The typed hand-offs: exact key sets per study status, and files that are not a record are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kobench.names import details_file, metrics_file
from kobench.records import RecordError, RunResult, StudyResult, read_study, write_study

IDENTITY = {"task": "nsmc", "model": "m", "model_id": "org/m", "model_revision": None, "size": "base",
            "study": "nsmc-m", "main_metric": "accuracy", "run_ids": {"study": "p"}, "trials": {"complete": 0}}


def test_a_failed_study_has_its_reason_and_no_scores(tmp_path: Path) -> None:
    failed = StudyResult("failed", **IDENTITY, reason="ValueError: loss is nan")
    path = metrics_file(tmp_path, "nsmc", "m")
    write_study(path, failed)
    details = json.loads(details_file(path).read_text())
    assert list(details) == ["status", "task", "model", "model_id", "model_revision", "size", "study", "main_metric",
                             "reason", "run_ids", "trials"]
    assert read_study(path) == failed and json.loads(path.read_text()) == {}  # no score to show


def test_a_complete_study_round_trips_without_a_reason(tmp_path: Path) -> None:
    done = StudyResult("complete", **IDENTITY, protocol="validation", best_trial=1, best_params={"lr": 3e-5},
                       validation={"accuracy": 0.8}, test={"accuracy": 0.75}, registered_model="kobench-nsmc-m",
                       registered_version="2", champion=True, rows_subsampled={"train": None, "eval": None})
    path = metrics_file(tmp_path, "nsmc", "m")
    write_study(path, done)
    assert "reason" not in json.loads(details_file(path).read_text()) and read_study(path) == done
    assert json.loads(path.read_text()) == {"test": 0.75, "validation": 0.8}  # the DVC view: main metric only


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({**IDENTITY, "status": "complete", "score": 1}, r"unknown key\(s\) score"),
        ({k: v for k, v in IDENTITY.items() if k != "study"} | {"status": "failed"}, r"missing key\(s\) study"),
        ([1, 2], "expected a JSON object, got list"),
    ],
)
def test_what_is_not_a_study_result_is_refused(data: object, message: str) -> None:
    with pytest.raises(RecordError, match=message):
        StudyResult.from_json(data)


def test_a_run_result_needs_every_field() -> None:
    with pytest.raises(RecordError, match="missing key"):
        RunResult.from_json({"task": "nsmc"})
