"""An edit to a stage's code re-runs exactly that stage (and, through its outputs, the ones after it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dvc_project import make_project, run

OUTPUTS = (
    "data/raw/nsmc/ratings_test.txt",
    "data/prepared/nsmc/meta.json",
    "metrics/nsmc/tiny.json",
    "metrics/nsmc/tiny.study.json",
    "metrics/nsmc/tiny.predictions.jsonl",
    "metrics/nsmc/tiny.recipe.json",
    "reports/results.md",
    "reports/results.csv",
    "reports/index.html",
    "reports/results.json",
    "reports/comparisons.json",
    "reports/plots/ours_vs_published.png",
)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose every stage is recorded in dvc.lock as done (``dvc commit``), with nothing out of date."""
    project = make_project(tmp_path_factory.mktemp("deps"), {"run": {"tasks": ["nsmc"], "models": ["tiny"]}})
    for name in OUTPUTS:
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}\n", encoding="utf-8")
    run(["dvc", "commit", "--force", "--quiet"], project)
    assert json.loads(run(["dvc", "status", "--json"], project).stdout) == {}
    return project


@pytest.mark.parametrize(
    ("module", "stages"),
    [
        # how prepared rows are loaded and subsampled; the report reads the test gold with it
        ("data/splits.py", ["report", "reproduce@nsmc-tiny", "tune@nsmc-tiny"]),
        ("data/readers.py", ["prepare@nsmc"]),  # the prepared data changes, and with it tune's input
        ("data/fetch.py", ["fetch@nsmc"]),
        ("families/classification.py", ["prepare@nsmc", "report", "reproduce@nsmc-tiny", "tune@nsmc-tiny"]),
        ("engine/training.py", ["reproduce@nsmc-tiny", "tune@nsmc-tiny"]),
        ("tuning/study.py", ["tune@nsmc-tiny"]),
        ("tuning/reproduce.py", ["reproduce@nsmc-tiny"]),
        ("report/cells.py", ["report"]),
        ("cli.py", []),  # the command layer decides no number
    ],
)
def test_touching_a_module_outdates_exactly_its_stages(recorded: Path, module: str, stages: list[str]) -> None:
    path = recorded / "src" / "kobench" / module
    original = path.read_text(encoding="utf-8")
    path.write_text(original + "\n# edited\n", encoding="utf-8")
    try:
        assert sorted(json.loads(run(["dvc", "status", "--json"], recorded).stdout)) == stages
    finally:
        path.write_text(original, encoding="utf-8")
