"""Step 8b: report plots as PNG (matplotlib, no network): ours vs published, studies, learning curves."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kobench.atomic import save_png
from kobench.report.results import Row
from kobench.tasks import TASKS

log = logging.getLogger(__name__)
Plot = tuple[str, str]  # (title, path relative to the reports folder)


def _figure_module() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _errors(cell: Any) -> list[float]:
    """Distances from our main value down and up to its interval's ends (none without an interval)."""
    if not cell.ci:
        return [0.0, 0.0]
    low, high = cell.ci[-1]
    return [max(0.0, cell.ours[-1] - low), max(0.0, high - cell.ours[-1])]


def _value_limits(values: list[float]) -> tuple[float, float]:
    """An axis range around every value, negative ones too, with a margin.

    >>> _value_limits([-12.0, 40.0])  # a negative Spearman stays on the chart
    (-14.6, 42.6)
    """
    low, high = min([0.0, *values]), max([0.0, *values])
    margin = 0.05 * (high - low or 1.0)
    return low - margin, high + margin


def ours_vs_published(rows: list[Row], path: Path) -> bool:
    """One panel per task that has a score of ours: our value (with its interval) next to the published one."""
    plt = _figure_module()
    tasks = [t for t in TASKS if any(r.cells[t].ours for r in rows)]
    if not tasks:
        return False
    fig, axes = plt.subplots(1, len(tasks), figsize=(4 * len(tasks), 3.4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        ran = [r for r in rows if r.cells[task].ours]
        x = range(len(ran))
        ours = [r.cells[task].ours[-1] for r in ran]
        errors = list(zip(*(_errors(r.cells[task]) for r in ran)))
        ax.bar([i - 0.2 for i in x], ours, 0.4, yerr=errors, capsize=3, label="ours (95 % interval)")
        published = [(i + 0.2, r.cells[task].published[-1]) for i, r in zip(x, ran) if r.cells[task].published]
        if published:
            ax.bar([p for p, _ in published], [v for _, v in published], 0.4, label="published")
        ax.set_xticks(list(x), [r.display for r in ran], rotation=20, ha="right", fontsize=8)
        ax.set_title(TASKS[task].published_column, fontsize=9)
        tops = [v + e for v, e in zip(ours, errors[1])] + [v - e for v, e in zip(ours, errors[0])]
        ax.set_ylim(*_value_limits(tops + [v for _, v in published]))
        ax.axhline(0, color="#888", linewidth=0.6)
    axes[0][0].legend(fontsize=8)
    save_png(fig, path)
    return True


def task_intervals(rows: list[Row], task: str, path: Path) -> bool:
    """Every row of one task: our value with its 95 % interval (filled), the published number (hollow)."""
    plotted = [r for r in rows if r.cells[task].ours or r.cells[task].published]
    if not any(r.cells[task].ours for r in plotted):
        return False
    plt = _figure_module()
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(plotted) + 1.2))
    for y, row in enumerate(plotted):
        cell = row.cells[task]
        if cell.ours:
            low, high = _errors(cell)
            colour = "#1a7f37" if cell.best else "#0969da"
            ax.errorbar(cell.ours[-1], y, xerr=[[low], [high]], fmt="o", color=colour, capsize=3)
        if cell.published:
            ax.plot(cell.published[-1], y, marker="D", markerfacecolor="none", color="#cf222e", linestyle="none")
    ax.set_yticks(range(len(plotted)), [f"{r.display}{' (ours)' if r.ran else ''}" for r in plotted], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"{TASKS[task].published_column} ×100 (dot: ours with 95 % interval; diamond: published)", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    save_png(fig, path)
    return True


def learning_curve(points: dict[str, list[tuple[int, float]]], title: str, path: Path) -> None:
    """Validation metric(s) of a champion's trial against the training step, each on its own axis.

    A loss or an MSE has another scale (and direction) than a correlation or an accuracy: one panel per series.
    """
    plt = _figure_module()
    fig, axes = plt.subplots(len(points), 1, figsize=(5, 1.6 + 1.4 * len(points)), squeeze=False, sharex=True)
    for ax, (name, series) in zip(axes[:, 0], points.items()):
        ax.plot([s for s, _ in series], [v for _, v in series], marker="o")
        ax.set_ylabel(name.removeprefix("validation_"), fontsize=8)
    axes[-1, 0].set_xlabel("step")
    axes[0, 0].set_title(title, fontsize=9)
    save_png(fig, path)


def draw_plots(
    rows: list[Row],
    out: Path,
    *,
    study_plots: Callable[[str, Path], list[Plot]] | None = None,
    curves: Callable[[str], dict[str, list[tuple[int, float]]]] | None = None,
) -> list[Plot]:
    """Every plot the report embeds; a plot that cannot be drawn is logged and skipped, never fatal."""
    plots: list[Plot] = []
    if ours_vs_published(rows, out / "plots" / "ours_vs_published.png"):
        plots.append(("Ours vs published", "plots/ours_vs_published.png"))
    for task, spec in TASKS.items():
        name = f"plots/task-{task}.png"
        if _safely(lambda task=task, name=name: [(task, name)] if task_intervals(rows, task, out / name) else [], task):
            plots.append((f"{spec.published_column}: intervals", name))
    for row in rows:
        for cell in row.cells.values():
            if cell.status != "complete":
                continue
            study = cell.study.study
            if study_plots is not None:
                plots += _safely(functools.partial(study_plots, study, out / "plots"), study)
            run_id = cell.study.run_ids.get("best_trial")
            if curves is not None and run_id:
                name = f"plots/{study}-learning-curve.png"
                draw = functools.partial(_curve, curves, run_id, f"{study}: champion trial", out / name)
                plots += [(f"{study}: learning curve", name)] if _safely(draw, study) else []
    return plots


def _curve(curves: Callable[[str], dict], run_id: str, title: str, path: Path) -> list[Plot]:
    points = curves(run_id)
    if not points:
        return []
    learning_curve(points, title, path)
    return [("curve", str(path))]


def _safely(draw: Callable[[], list[Plot]], what: str) -> list[Plot]:
    try:
        return draw()
    except Exception as exc:  # noqa: BLE001 - a plot is never worth failing the report
        log.warning("plot for %s skipped: %s", what, exc)
        return []
