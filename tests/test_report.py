"""Report tables from metrics files: cells, best in bold, failures with reasons, seeds, escaping, all outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kobench.config import Params
from kobench.names import metrics_file
from kobench.records import StudyResult, write_study
from kobench.report.tables import write_report


def _params(tmp_path: Path, display: str = "Mine") -> Params:
    return Params.model_validate({
        "base": {"paths": {"metrics": str(tmp_path / "metrics"), "reports": str(tmp_path / "reports")}},
        "run": {"tasks": ["nsmc", "korquad", "korsts"], "models": ["mine", "koelectra-small-v3"]},
        "models": {"mine": {"id": "org/mine", "display": display, "size": "small", "published_size": "20M"},
                   "koelectra-small-v3": {"id": "monologg/koelectra-small-v3-discriminator", "size": "small"}},
    })


def _metrics(tmp_path: Path, task: str, model: str, data: dict) -> None:
    """A study result as the tuning stage writes it (the same type the report reads)."""
    result = StudyResult(
        task=task, model=model, model_id=f"org/{model}", model_revision=None, size="small", study=f"{task}-{model}",
        main_metric="accuracy", run_ids={"study": "p"}, trials={"complete": 1, "pruned": 0, "failed": 0}, **data
    )
    write_study(metrics_file(tmp_path / "metrics", task, model), result)


def _complete(test: dict, **extra: object) -> dict:
    return {"status": "complete", "test": test, "protocol": "validation", "best_params": {}, **extra}


@pytest.fixture
def report(tmp_path: Path):  # noqa: ANN201
    _metrics(tmp_path, "nsmc", "mine", _complete({"accuracy": 0.9012}))
    _metrics(tmp_path, "nsmc", "koelectra-small-v3", _complete({"accuracy": 0.8801},
             seeds={"mean": 0.8850, "std": 0.0031, "seeds": [1, 2], "test": {}}))
    _metrics(tmp_path, "korquad", "mine", _complete({"exact_match": 0.8, "char_f1": 0.9}))
    _metrics(tmp_path, "korsts", "mine", {"status": "failed", "reason": "RuntimeError: CUDA out of memory"})
    return tmp_path


def _row(markdown: str, name: str) -> list[str]:
    line = next(x for x in markdown.splitlines() if x.startswith(f"| {name}"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_cells_show_ours_published_and_difference(report: Path) -> None:
    write_report(_params(report))
    markdown = (report / "reports" / "results.md").read_text(encoding="utf-8")
    mine = _row(markdown, "Mine (ours)")
    # no predictions files to test differences with: nothing is bold (bold needs a significant difference)
    assert mine[1] == "20M" and mine[2] == "90.12 (-, Δ n/a)"
    assert mine[8] == "80.00 / 90.00 (-, Δ n/a)"  # KorQuAD EM / F1
    small = _row(markdown, "KoELECTRA-Small-v3 (ours)")
    assert small[2] == "88.50, sd 0.31 (89.36, Δ -0.86)"  # mean of seeds; this study recorded no test interval
    assert small[3] == "-"  # naver-ner not run by us
    assert _row(markdown, "KoBERT")[2] == "89.59"  # a published row: its number, plainly


def test_a_cell_shows_its_interval_and_where_the_published_number_lies(tmp_path: Path) -> None:
    interval = {"accuracy_ci_low": 0.8911, "accuracy_ci_high": 0.8989, "interval": {"unit": "example", "units": 5000}}
    _metrics(tmp_path, "nsmc", "koelectra-small-v3", _complete({"accuracy": 0.8950, **interval}))  # published 89.36
    _metrics(tmp_path, "nsmc", "mine", _complete({"accuracy": 0.9100, "accuracy_ci_low": 0.9, "accuracy_ci_high": 0.92}))
    _metrics(tmp_path, "korquad", "mine", _complete({"exact_match": 0.8, "char_f1": 0.9, "exact_match_ci_low": 0.79,
             "exact_match_ci_high": 0.81, "char_f1_ci_low": 0.88, "char_f1_ci_high": 0.93}))  # fmt: skip
    write_report(_params(tmp_path))
    markdown = (tmp_path / "reports" / "results.md").read_text(encoding="utf-8")
    assert _row(markdown, "KoELECTRA-Small-v3 (ours)")[2] == "89.50 ± 0.39 (89.36, Δ +0.14 =)"  # published inside
    assert _row(markdown, "Mine (ours)")[8] == "80.00 ± 1.00 / 90.00 ± 2.50 (-, Δ n/a)"
    data = json.loads((tmp_path / "reports" / "results.json").read_text())
    assert data["nsmc"]["koelectra-small-v3"]["ci_low"] == 89.11 and data["nsmc"]["koelectra-small-v3"]["ci_high"] == 89.89
    assert data["korquad"]["mine"]["ci_low_exact_match"] == 79.0 and data["korquad"]["mine"]["ci_high_char_f1"] == 93.0
    csv_lines = (tmp_path / "reports" / "results.csv").read_text(encoding="utf-8").splitlines()
    assert any(line.startswith("koelectra-small-v3,KoELECTRA-Small-v3,small,nsmc,accuracy,89.5,89.11,89.89,0.39,within,")
               for line in csv_lines)  # fmt: skip


def test_failed_study_is_shown_with_its_reason(report: Path) -> None:
    write_report(_params(report))
    markdown = (report / "reports" / "results.md").read_text(encoding="utf-8")
    assert _row(markdown, "Mine (ours)")[6] == "failed [1] (-)"
    assert "1. mine × korsts: RuntimeError: CUDA out of memory" in markdown
    assert "missing" in _row(markdown, "KoELECTRA-Small-v3 (ours)")[6]  # korsts not run yet for this model


def test_outputs_json_csv_html_and_escaping(report: Path) -> None:
    write_report(_params(report, display="<script>alert(1)</script>"))
    data = json.loads((report / "reports" / "results.json").read_text())
    assert data["nsmc"]["mine"] == {"accuracy": 90.12}
    assert data["nsmc"]["koelectra-small-v3"] == {"accuracy": 88.5, "published": 89.36, "diff": -0.86, "std": 0.31}
    assert data["korquad"]["mine"] == {"exact_match": 80.0, "char_f1": 90.0}
    assert data["korsts"] == {"koelectra-small-v3": {"published": 80.79}}  # failed / missing: no number of ours
    csv_lines = (report / "reports" / "results.csv").read_text().splitlines()
    assert "mine,<script>alert(1)</script>,small,korquad,char_f1,90.0,,,,,,,,,,0,0,complete,validation,,,,,,,," in csv_lines
    page = (report / "reports" / "index.html").read_text(encoding="utf-8")
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; (ours)" in page
    assert "data:image/png;base64," in page and '<td data-value="90.12" class=""><span class="value">90.12</span>' in page
    assert (report / "reports" / "plots" / "ours_vs_published.png").stat().st_size > 1000


def test_the_subsampling_note_comes_from_what_each_study_recorded(tmp_path: Path) -> None:
    # params.yaml says nothing about subsampling; the study ran with --max-train-samples 500 --max-eval-samples 200
    _metrics(tmp_path, "nsmc", "mine", _complete({"accuracy": 0.9}, rows_subsampled={"train": 500, "eval": 200}))
    write_report(_params(tmp_path))
    markdown = (tmp_path / "reports" / "results.md").read_text(encoding="utf-8")
    assert "- data: train subsampled to 500 rows, validation and test to 200 rows (as each study recorded;" in markdown
    _metrics(tmp_path, "nsmc", "mine", _complete({"accuracy": 0.9}, rows_subsampled={"train": None, "eval": None}))
    write_report(_params(tmp_path))
    assert "subsampled" not in (tmp_path / "reports" / "results.md").read_text(encoding="utf-8")


def test_a_study_outside_params_yaml_gets_its_own_row_plots_and_protocol_line(tmp_path: Path) -> None:
    # `kobench tune --model ./my-encoder`: not in run.models, not in the catalogue; params.yaml runs only nsmc
    _metrics(tmp_path, "nsmc", "mine", _complete({"accuracy": 0.9}))
    _metrics(tmp_path, "korsts", "my-encoder", _complete(
        {"spearman": 0.812}, best_trial=0, best_params={"lr": 3e-05, "epochs": 2}, rows_used={"train": 500, "test": 100},
        rows_subsampled={"train": 500, "eval": None}, seeds={"seeds": [1, 2], "test": {}, "mean": 0.81, "std": 0.01}))
    asked: list[str] = []
    write_report(_params(tmp_path), study_plots=lambda study, out: asked.append(study) or [])
    markdown = (tmp_path / "reports" / "results.md").read_text(encoding="utf-8")
    row = _row(markdown, "my-encoder (ours)")
    assert row[6] == "81.00, sd 1.00 (-, Δ n/a)"  # KorSTS: the seeds' mean
    assert asked == ["nsmc-mine", "korsts-my-encoder"]  # run set first, then the others
    assert ("- my-encoder × korsts: validation-selected; 1 complete, 0 pruned, 0 failed trials; best lr 3e-05, "
            "epochs 2; rows train 500 / test 100 (subsampled); final seeds 1, 2") in markdown
    assert json.loads((tmp_path / "reports" / "results.json").read_text())["korsts"]["my-encoder"]["spearman"] == 81.0
    html = (tmp_path / "reports" / "index.html").read_text(encoding="utf-8")
    assert "my-encoder (ours)" in html and "my-encoder × korsts: validation-selected" in html


def _recipe(tmp_path: Path, task: str, model: str, seeds: dict) -> None:
    import statistics

    values = list(seeds.values())
    path = tmp_path / "metrics" / task / f"{model}.recipe.json"
    path.write_text(json.dumps({"complete": 1, "mean": statistics.fmean(values), "n": len(values), "seeds": seeds,
                                "std": statistics.stdev(values) if len(values) > 1 else 0.0}), encoding="utf-8")


def test_published_recipe_and_tuned_are_three_labelled_numbers_with_both_gaps(tmp_path: Path) -> None:
    _metrics(tmp_path, "nsmc", "koelectra-small-v3", _complete({"accuracy": 0.8950}))
    _recipe(tmp_path, "nsmc", "koelectra-small-v3", {"1": 0.8920, "2": 0.8950, "3": 0.8935})  # published 89.36: within 2 std
    _metrics(tmp_path, "korsts", "koelectra-small-v3", _complete({"spearman": 0.80}))
    _recipe(tmp_path, "korsts", "koelectra-small-v3", {"42": 0.7900})  # published 80.79: 1.79 below, one seed
    write_report(_params(tmp_path))
    markdown = (tmp_path / "reports" / "results.md").read_text(encoding="utf-8")
    assert "## Reproduction: published recipe vs tuned" in markdown
    line = "| KoELECTRA-Small-v3 | NSMC (acc) | 89.36 | 89.35 ± 0.15 [88.98, 89.72] (n=3) | 89.50 | -0.01 | +0.15 |"
    assert line in markdown
    assert "| KoELECTRA-Small-v3 | KorSTS (spearman) | 80.79 | 79.00 (n=1) ⚠ | 80.00 | -1.79 | +1.00 |" in markdown
    data = json.loads((tmp_path / "reports" / "results.json").read_text())["nsmc"]["koelectra-small-v3"]
    assert (data["recipe"], data["recipe_minus_published"], data["tuned_minus_recipe"]) == (89.35, -0.01, 0.15)
    rows = (tmp_path / "reports" / "results.csv").read_text(encoding="utf-8").splitlines()
    recipe_columns = ",recipe,recipe_std,recipe_seeds,recipe_minus_published,tuned_minus_recipe,recipe_below_published"
    assert rows[0].endswith(recipe_columns)
    korsts = next(r for r in rows if r.startswith("koelectra-small-v3,") and ",korsts," in r)
    assert korsts.endswith(",79.0,0.0,1,-1.79,1.0,1")
    html = (tmp_path / "reports" / "index.html").read_text(encoding="utf-8")
    assert "<h2>Reproduction: published recipe vs tuned</h2>" in html and "<td>79.00 (n=1) ⚠</td>" in html


def test_each_learning_curve_has_its_own_axis(tmp_path: Path) -> None:
    from matplotlib.image import imread

    from kobench.report.plots import learning_curve

    series = {"validation_spearman": [(10, 0.2), (20, 0.5)], "validation_mse": [(10, 3.1), (20, 1.4)]}
    learning_curve(series, "korsts-tiny", tmp_path / "two.png")
    learning_curve({"validation_spearman": series["validation_spearman"]}, "korsts-tiny", tmp_path / "one.png")
    assert imread(tmp_path / "two.png").shape[0] > imread(tmp_path / "one.png").shape[0]  # a panel per series
