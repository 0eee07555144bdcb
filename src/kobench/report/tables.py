"""Step 8: metrics/*.json + MLflow champions -> reports/results.{md,json,csv}, plots and index.html."""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path
from typing import Any

from kobench.atomic import write_json, write_text
from kobench.config import Params
from kobench.report.cells import (
    COMPARISON_HEADER,
    COMPARISON_NOTE,
    LEGEND,
    PROTOCOLS,
    RECIPE_HEADER,
    RECIPE_NOTE,
    comparison_rows,
    format_cell,
    recipe_rows,
)
from kobench.report.html import build_html
from kobench.report.results import Row, collect, display_metrics, write_results_json
from kobench.report.significance import ColumnTest, column_tests
from kobench.tasks import TASKS


def markdown_table(rows: list[Row], notes: list[str]) -> str:
    """One results table shaped like the published one."""
    header = ["", "Size", *(TASKS[t].published_column for t in TASKS)]
    lines = ["| " + " | ".join(header) + " |", "| :-- | :-: |" + " :-: |" * len(TASKS)]
    for row in rows:
        cells = [format_cell(c, notes, published_row=not row.ran) for c in row.cells.values()]
        name = f"{row.display} (ours)" if row.ran else row.display
        lines.append("| " + " | ".join([name, row.size or "-", *cells]) + " |")
    return "\n".join(lines)


def subsampling_note(rows: list[Row]) -> str | None:
    """A protocol line when a study ran on subsampled data: a quick run, not comparable to published numbers.

    Read from what each study recorded, not from params.yaml, which a command-line override or a later edit
    may contradict.
    """
    sizes = sorted(
        {
            (limits.get("train"), limits.get("eval"))
            for row in rows
            for cell in row.cells.values()
            if cell.study and (limits := cell.study.rows_subsampled) and (limits.get("train") or limits.get("eval"))
        },
        key=str,
    )
    if not sizes:
        return None
    described = "; ".join(
        f"train subsampled to {train or 'all'} rows, validation and test to {evaluation or 'all'} rows"
        for train, evaluation in sizes
    )
    return (
        f"data: {described} (as each study recorded; `data.max_train_samples`, `data.max_eval_samples`, "
        "`--max-*-samples`): a quick run, not comparable to the published numbers"
    )


def study_lines(rows: list[Row]) -> list[str]:
    """One protocol line per study, from what it recorded: selection, trials, best parameters, rows, seeds."""
    lines = []
    for row in rows:
        for task, cell in row.cells.items():
            study = cell.study
            if study is None:
                continue
            counts = ", ".join(f"{study.trials.get(state, 0)} {state}" for state in ("complete", "pruned", "failed"))
            if not study.complete:
                lines.append(f"{row.model} × {task}: failed ({counts} trials)")
                continue
            best = ", ".join(
                f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in (study.best_params or {}).items()
            )
            used = " / ".join(f"{split} {n:,}" for split, n in (study.rows_used or {}).items())
            limits = study.rows_subsampled or {}
            subsampled = " (subsampled)" if limits.get("train") or limits.get("eval") else ""
            seeds = f"; final seeds {', '.join(map(str, study.seeds['seeds']))}" if study.seeds else ""
            lines.append(
                f"{row.model} × {task}: {study.protocol}-selected; {counts} trials"
                + (f"; best {best}" if best else "")
                + (f"; rows {used}{subsampled}" if used else "")
                + seeds
            )
    return lines


def build_markdown(
    rows: list[Row], plots: list[tuple[str, str]], protocols: set[str], extra: list[str], tests: dict[str, ColumnTest]
) -> str:
    """results.md: Base and Small tables, the significance tests, the protocol, notes and the plots."""
    notes: list[str] = []
    parts = ["# kobench results", "", LEGEND, ""]
    for title, size_class in (("Base Model", "base"), ("Small Model", "small")):
        group = [r for r in rows if r.size_class == size_class]
        if group:
            parts += [f"## {title}", "", markdown_table(group, notes), ""]
    if lines := comparison_rows(rows, tests):
        parts += ["## Significance: the best row of each column against the others", "", COMPARISON_NOTE, ""]
        parts += ["| " + " | ".join(COMPARISON_HEADER) + " |", "|" + " :-- |" * 3 + " --: |" * 6]
        parts += ["| " + " | ".join(line) + " |" for line in lines] + [""]
    if recipes := recipe_rows(rows):
        parts += ["## Reproduction: published recipe vs tuned", "", RECIPE_NOTE, ""]
        parts += ["| " + " | ".join(RECIPE_HEADER) + " |", "|" + " :-- |" * 2 + " --: |" * 5]
        parts += ["| " + " | ".join(line) + " |" for line in recipes] + [""]
    parts += ["## Protocol", ""] + [f"- ours: {PROTOCOLS[p]}" for p in sorted(protocols)]
    parts += ["- published: test-selected (the reference scripts scored every checkpoint on test)"]
    parts += [f"- {line}" for line in extra] + [""]
    if notes:
        parts += ["## Notes", ""] + [f"{i}. {note}" for i, note in enumerate(notes, 1)] + [""]
    if plots:
        parts += ["## Plots", ""] + [f"![{title}]({path})" for title, path in plots] + [""]
    return "\n".join(parts)


CSV_HEADER = [
    "model", "display", "size_class", "task", "metric", "ours", "ci_low", "ci_high", "half_width", "versus_published",
    "std", "seed_ci_low", "seed_ci_high", "published", "diff", "best", "tied", "status", "protocol", "reason", "run_id",
    "recipe", "recipe_std", "recipe_seeds", "recipe_minus_published", "tuned_minus_recipe", "recipe_below_published",
]  # fmt: skip


def results_csv(rows: list[Row]) -> str:
    """Long format: one line per model x task x value, with its interval, published number and marks."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for row in rows:
        for task, cell in row.cells.items():
            names = display_metrics(TASKS[task])
            for i, metric in enumerate(names):
                ours, published, diff, ci, half, versus = (
                    values[i] if values else None
                    for values in (cell.ours, cell.published, cell.diff, cell.ci, cell.half_widths, cell.versus_published)
                )
                main = i == len(names) - 1
                seed_ci = cell.seed_ci if main and cell.seed_ci else (None, None)
                recipe = [cell.recipe, cell.recipe_std, cell.recipe_seeds, cell.recipe_gap, cell.tuning_gain,
                          int(cell.recipe_low)] if cell.recipe is not None and main else [None] * 6  # fmt: skip
                writer.writerow([
                    row.model, row.display, row.size_class, task, metric, ours, *(ci or (None, None)), half, versus,
                    cell.std, *seed_ci, published, diff, int(cell.best), int(cell.tied), cell.status, cell.protocol,
                    cell.reason, cell.run_id, *recipe,
                ])  # fmt: skip
    return out.getvalue()


def mark_significance(rows: list[Row], tests: dict[str, ColumnTest]) -> None:
    """Bold and tie marks on the cells, from each column's Holm-corrected comparisons."""
    for row in rows:
        for task, cell in row.cells.items():
            test = tests.get(task)
            if test is None or not test.comparisons:
                continue
            cell.best = test.significant and row.model == test.best
            cell.tied = row.model in test.tied and not cell.best


def write_report(
    params: Params, champion_metrics: Any = None, study_plots: Any = None, curves: Any = None, run_link: Any = None
) -> list[Row]:
    """Write every report file atomically; return the rows.

    ``run_link``: MLflow run id -> its address in the tracking UI, or None where there is none to link to.
    """
    from kobench.report.plots import draw_plots

    out = params.base.paths.reports
    (out / "plots").mkdir(parents=True, exist_ok=True)  # a declared DVC output, even when nothing can be drawn
    rows = collect(params, champion_metrics)
    candidates = {task: [r.model for r in rows if r.cells[task].status == "complete"] for task in TASKS}
    tests = column_tests(params, candidates)
    mark_significance(rows, tests)
    plots = draw_plots(rows, out, study_plots=study_plots, curves=curves) if params.report.plots else []
    protocols = {c.protocol for r in rows for c in r.cells.values() if c.protocol} or {"validation"}
    extra = ([note] if (note := subsampling_note(rows)) else []) + study_lines(rows)
    extra += [test.note for test in tests.values() if test.note]
    markdown = build_markdown(rows, plots, protocols, extra, tests)
    write_results_json(out / "results.json", rows)
    write_json(out / "comparisons.json", comparisons_json(tests))
    write_text(out / "results.csv", results_csv(rows))
    write_text(out / "results.md", markdown)
    write_text(out / "index.html", build_html(rows, out, plots, protocols, extra, tests, run_link))
    return rows


def comparisons_json(tests: dict[str, ColumnTest]) -> dict[str, Any]:
    """Every comparison of the report, per task (fractions): difference, interval, p-values, Holm."""
    return {
        task: {"metric": test.metric, "best": test.best, "significant": test.significant,
               "comparisons": [dataclasses.asdict(c) for c in test.comparisons]}
        for task, test in tests.items() if test.comparisons
    }  # fmt: skip


def report_path(params: Params) -> Path:
    """Where results.md goes."""
    return params.base.paths.reports / "results.md"
