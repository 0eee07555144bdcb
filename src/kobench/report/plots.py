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


def ours_vs_published(rows: list[Row], path: Path) -> bool:
    """One panel per task that has a score of ours: our value next to the published one, per model."""
    plt = _figure_module()
    tasks = [t for t in TASKS if any(r.cells[t].ours for r in rows)]
    if not tasks:
        return False
    fig, axes = plt.subplots(1, len(tasks), figsize=(4 * len(tasks), 3.4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        ran = [r for r in rows if r.cells[task].ours]
        x = range(len(ran))
        ax.bar([i - 0.2 for i in x], [r.cells[task].ours[-1] for r in ran], 0.4, label="ours")
        ax.bar([i + 0.2 for i in x], [(r.cells[task].published or [0])[-1] for r in ran], 0.4, label="published")
        ax.set_xticks(list(x), [r.display for r in ran], rotation=20, ha="right", fontsize=8)
        ax.set_title(TASKS[task].published_column, fontsize=9)
        ax.set_ylim(0, 100)
    axes[0][0].legend(fontsize=8)
    save_png(fig, path)
    return True


def learning_curve(points: dict[str, list[tuple[int, float]]], title: str, path: Path) -> None:
    """Validation metric(s) of a champion's trial against the training step."""
    plt = _figure_module()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for name, series in points.items():
        ax.plot([s for s, _ in series], [v for _, v in series], marker="o", label=name)
    ax.set_xlabel("step")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
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
