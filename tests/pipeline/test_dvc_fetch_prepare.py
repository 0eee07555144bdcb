"""`dvc repro` of the fetch and prepare stages in a temporary git repository with a mirror (real DVC)."""

from __future__ import annotations

import json
from pathlib import Path

from dvc_project import make_project, run


def test_dvc_repro_fetch_prepare_then_nothing_to_do(tmp_path: Path, mirror: Path) -> None:
    project = make_project(
        tmp_path, {"run": {"tasks": ["korsts", "naver-ner"], "models": []}, "data": {"splits": {"naver-ner": ["test"]}}}
    )
    env = {"KOBENCH_MIRROR": str(mirror)}
    first = run(["dvc", "repro", "--glob", "prepare@*"], project, env)
    assert "Running stage 'prepare@korsts'" in first.stdout
    meta = json.loads((project / "data/prepared/korsts/meta.json").read_text())
    assert meta["splits"]["test"]["rows"] == 1_379
    assert json.loads((project / "data/prepared/naver-ner/meta.json").read_text())["splits"]["test"]["rows"] == 9_000
    second = run(["dvc", "repro", "--glob", "prepare@*"], project, env)
    assert "Running stage" not in second.stdout
    status = run(["dvc", "status"], project, env).stdout
    assert "fetch@" not in status and "prepare@" not in status  # only the not-yet-run tune/report stages
