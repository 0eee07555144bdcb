"""`dvc repro` end to end (fetch -> prepare -> tune -> report) in a temporary git repository, real DVC/Optuna/MLflow."""

from __future__ import annotations

import json
import re
from pathlib import Path

from dvc_project import make_project, run
from synthetic import write_raw


def test_dvc_repro_builds_the_table_and_a_second_repro_does_nothing(tmp_path: Path, tiny_models) -> None:  # noqa: ANN001
    project = make_project(
        tmp_path,
        {
            "run": {"tasks": ["hate-speech", "naver-ner"], "models": ["tiny"]},
            "models": {"tiny": {"id": str(tiny_models("bert")), "display": "Tiny", "size": "small", "local_only": True}},
            "data": {"mirror": None, "splits": {}, "max_train_samples": 120, "max_eval_samples": 100},
            "train": {"batch_size": 16, "eval_batch_size": 64, "max_seq_len": 32},
            "tune": {"n_trials": 2,
                     "search_space": {"lr": {"low": 1.0e-3, "high": 3.0e-3}, "epochs": {"low": 1, "high": 2}}},
        },
    )
    # offline: upstream files made locally and recorded as the fetch stages' outputs
    for task in ("hate-speech", "naver-ner"):
        write_raw(task, project / "data" / "raw" / task)
        run(["dvc", "commit", "-f", f"fetch@{task}"], project)
    first = run(["dvc", "repro"], project)
    assert "Running stage 'tune@naver-ner-tiny'" in first.stdout and "Running stage 'report'" in first.stdout
    results = (project / "reports" / "results.md").read_text(encoding="utf-8")
    row = next(line for line in results.splitlines() if line.startswith("| Tiny (ours)"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3][0].isdigit() or cells[3].startswith("**")  # Naver NER
    assert cells[9][0].isdigit() or cells[9].startswith("**")  # Korean-Hate-Speech
    data = json.loads((project / "reports" / "results.json").read_text())
    for task, metric in (("naver-ner", "entity_f1"), ("hate-speech", "macro_f1")):  # the study's test score, x100
        tested = json.loads((project / "metrics" / task / "tiny.study.json").read_text())["test"][metric]
        assert data[task]["tiny"][metric] == round(100 * tested, 2)
    html = (project / "reports" / "index.html").read_text(encoding="utf-8")
    # one offline page: images inlined, no remote script or font; links to http go to the tracking UI only
    assert "data:image/png;base64," in html and "<script src" not in html and "@import" not in html
    assert all(src.startswith("data:") for src in re.findall(r'src="([^"]*)"', html))
    assert {url.split("/#/")[0] for url in re.findall(r'href="(http[^"]*)"', html)} <= {"http://127.0.0.1:5000"}
    for task in ("hate-speech", "naver-ner"):
        saved = json.loads((project / "metrics" / task / "tiny.study.json").read_text())
        assert saved["status"] == "complete" and saved["champion"] and saved["registered_version"] == "1"
    shown = run(["dvc", "metrics", "show"], project).stdout.splitlines()
    assert shown[0].split() == ["Path", "test", "test_high", "test_low", "validation"]  # one row per study, same keys
    # the longest path of a real run set (metrics/question-pair/soongsil-bert-small.json) still fits 120 columns
    widest_path = max(len(line.split()[0]) for line in shown[1:])
    assert max(map(len, shown)) - widest_path + len("metrics/question-pair/soongsil-bert-small.json") <= 120, shown
    second = run(["dvc", "repro"], project)
    assert "Running stage" not in second.stdout and "up to date" in second.stdout
