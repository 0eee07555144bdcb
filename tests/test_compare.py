"""`kobench compare` and the report's significance marks: systems read from predictions files and studies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from kobench.config import Params
from kobench.engine.scoring import score_file
from kobench.errors import DataError, KobenchError
from kobench.names import metrics_file
from kobench.records import StudyResult, write_study
from kobench.report.compare import compare
from kobench.report.tables import write_report
from kobench.tasks import get_task

LABELS = ["negative", "positive"]


def _predictions(path: Path, gold: list[dict], right: int) -> Path:
    """The first ``right`` rows predicted correctly, the rest wrong."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps({"id": r["id"], "prediction": LABELS[r["label"] if i < right else 1 - r["label"]]})
        for i, r in enumerate(gold)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _study(root: Path, model: str, test: dict) -> None:
    result = StudyResult(
        status="complete", task="nsmc", model=model, model_id=f"org/{model}", model_revision=None, size="base",
        study=f"nsmc-{model}", main_metric="accuracy", run_ids={"study": "p", "final": f"run-{model}"},
        trials={"complete": 1, "pruned": 0, "failed": 0}, test=test, protocol="validation",
        best_params={},
    )  # fmt: skip
    write_study(metrics_file(root / "metrics", "nsmc", model), result)


@pytest.fixture
def project(prepared, tmp_path: Path) -> tuple[Path, list[dict]]:  # noqa: ANN001
    """A project folder: nsmc prepared (200 test rows), studies a (all right), b (60 % right), c (59.5 %)."""
    directory = prepared("nsmc", n=200)
    gold = pq.read_table(directory / "test.parquet").to_pylist()
    params = {
        "base": {"paths": {"prepared": str(directory.parent), "metrics": str(tmp_path / "metrics"),
                           "outputs": str(tmp_path / "outputs"), "reports": str(tmp_path / "reports")}},
        "run": {"tasks": ["nsmc"], "models": ["a", "b", "c"]},
        "models": {m: {"id": f"org/{m}", "size": "base"} for m in "abc"},
        "report": {"plots": False},
    }  # fmt: skip
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    for model, right in (("a", len(gold)), ("b", int(0.6 * len(gold))), ("c", int(0.595 * len(gold)))):
        path = _predictions(tmp_path / "metrics" / "nsmc" / f"{model}.predictions.jsonl", gold, right)
        scored = score_file(get_task("nsmc"), directory, path)  # with intervals, as a final run records them
        _study(tmp_path, model, {k: v for k, v in scored.items() if k not in ("task", "split", "rows")})
    return tmp_path, gold


def _params(root: Path) -> Params:
    return Params.model_validate(yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8")))


def _no_download(uri: str, folder: Path) -> Path:
    raise AssertionError("no registry in this test")


def test_compare_prints_intervals_and_paired_tests_and_writes_json(project) -> None:  # noqa: ANN001
    root, gold = project
    done = subprocess.run(
        [sys.executable, "-m", "kobench.cli", "compare", "nsmc-a", "b", str(root / "metrics/nsmc/c.predictions.jsonl"),
         "--task", "nsmc", "--json", "out.json"],
        cwd=root, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"nsmc: 3 systems on the same {len(gold)} test examples" in done.stdout
    data = json.loads((root / "out.json").read_text(encoding="utf-8"))
    assert [s["system"] for s in data["scores"]] == ["nsmc-a", "b", str(root / "metrics/nsmc/c.predictions.jsonl")]
    assert data["scores"][0]["score"] == 1.0 and data["scores"][1]["score"] == pytest.approx(0.6)
    a_b, a_c, b_c = data["comparisons"]
    assert a_b["difference"] == pytest.approx(0.4) and a_b["ci_low"] > 0.3 and a_b["p_holm"] < 0.001
    assert a_b["p_mcnemar"] < 1e-6 and b_c["p_holm"] > 0.5  # one example apart: no evidence
    assert data["bootstrap"] == {"resamples": 10_000, "seed": 0, "level": 0.95}
    assert b_c["p_holm"] >= b_c["p_randomization"] and a_c["p_holm"] >= a_c["p_randomization"]


def test_compare_refuses_systems_scored_on_different_examples(project, tmp_path: Path) -> None:  # noqa: ANN001
    root, gold = project
    fewer = _predictions(tmp_path / "fewer.jsonl", gold[:-3], len(gold))
    with pytest.raises(DataError, match=r"nsmc-a and .*fewer.jsonl scored different test examples: 3 only in nsmc-a"):
        compare(get_task("nsmc"), _params(root), ["nsmc-a", str(fewer)], _no_download)
    with pytest.raises(KobenchError, match=r"unknown study 'nsmc-zzz' for task nsmc \(studies: nsmc-a, nsmc-b, nsmc-c\)"):
        compare(get_task("nsmc"), _params(root), ["nsmc-a", "nsmc-zzz"], _no_download)
    with pytest.raises(DataError, match=r"missing.jsonl: not found"):
        compare(get_task("nsmc"), _params(root), ["nsmc-a", str(tmp_path / "missing.jsonl")], _no_download)
    with pytest.raises(KobenchError, match="at least two different systems"):
        compare(get_task("nsmc"), _params(root), ["nsmc-a", "nsmc-a"], _no_download)


def test_compare_failure_is_one_line_and_exit_2(project) -> None:  # noqa: ANN001
    root, _ = project
    done = subprocess.run([sys.executable, "-m", "kobench.cli", "compare", "a", "nope", "--task", "nsmc"],
                          cwd=root, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        "error: unknown study 'nope' for task nsmc (studies: nsmc-a, nsmc-b, nsmc-c); give a study name, a models:/ URI "
        "or a predictions file"
    ]


def test_the_report_bolds_only_a_significant_best_and_marks_ties(project) -> None:  # noqa: ANN001
    root, _ = project
    write_report(_params(root), run_link=lambda run_id: f"http://ui.example/#/experiments/1/runs/{run_id}")
    markdown = (root / "reports" / "results.md").read_text(encoding="utf-8")
    cells = {
        line.split("|")[1].strip(): line.split("|")[3].strip()
        for line in markdown.splitlines()
        if line.startswith("| ") and "(ours)" in line
    }
    assert cells["a (ours)"].startswith("**100.00 ± 0.00**")
    assert cells["b (ours)"].startswith("60.00 ± ") and " ≈" not in cells["b (ours)"]  # far below a: not tied
    assert "## Significance: the best row of each column against the others" in markdown
    comparisons = json.loads((root / "reports" / "comparisons.json").read_text(encoding="utf-8"))["nsmc"]
    assert comparisons["best"] == "a" and comparisons["significant"] is True
    assert [c["b"] for c in comparisons["comparisons"]] == ["b", "c"]
    page = (root / "reports" / "index.html").read_text(encoding="utf-8")
    assert 'href="http://ui.example/#/experiments/1/runs/run-a"' in page and "run run-a" in page


def test_a_column_whose_best_is_not_significant_marks_the_tie(project) -> None:  # noqa: ANN001
    root, _ = project
    (root / "metrics" / "nsmc" / "a.predictions.jsonl").unlink()
    (root / "metrics" / "nsmc" / "a.study.json").unlink()
    (root / "metrics" / "nsmc" / "a.json").unlink()
    params = _params(root)
    write_report(params.model_copy(update={"run": params.run.model_copy(update={"models": ["b", "c"]})}))
    markdown = (root / "reports" / "results.md").read_text(encoding="utf-8")
    cells = {
        line.split("|")[1].strip(): line.split("|")[3].strip()
        for line in markdown.splitlines()
        if line.startswith("| ") and "(ours)" in line
    }
    assert "**" not in cells["b (ours)"] and cells["b (ours)"].startswith("60.00 ± ") and "≈" in cells["b (ours)"]
    assert "≈" in cells["c (ours)"]
