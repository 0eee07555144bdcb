"""One result cell as text, shared by the markdown and HTML tables: values, published, diff and notes."""

from __future__ import annotations

from kobench.report.results import Cell, Row
from kobench.tasks import TASKS

PROTOCOLS = {
    "validation": "validation-selected: checkpoint and hyper-parameters chosen on validation, test scored once",
    "test": "test-selected (†): checkpoint chosen on the test set, as the reference scripts did (optimistic)",
}


def format_values(values: list[float] | None) -> str:
    """``89.36`` or, for KorQuAD, ``82.11 / 91.13``; ``-`` for nothing.

    >>> format_values([82.11, 91.13])
    '82.11 / 91.13'
    """
    return " / ".join(f"{v:.2f}" for v in values) if values else "-"


def format_cell(cell: Cell, bold: bool, notes: list[str]) -> str:
    """``ours ± std (published, Δ diff)``; failures get a numbered note with their reason."""
    published = format_values(cell.published)
    if cell.status in ("failed", "missing"):
        notes.append(f"{cell.model} × {cell.task}: {cell.reason}")
        return f"{cell.status} [{len(notes)}] ({published})"
    if cell.ours is None:
        return f"- ({published})" if cell.published else "-"
    ours = format_values(cell.ours) + (f" ± {cell.std:.2f}" if cell.std is not None else "")
    ours = f"**{ours}**" if bold else ours
    dagger = "†" if cell.protocol == "test" else ""
    diff = " / ".join(f"{d:+.2f}" for d in cell.diff) if cell.diff else "n/a"
    return f"{ours}{dagger} ({published}, Δ {diff})"


def best_per_column(rows: list[Row]) -> dict[str, str]:
    """Model with the best of our main values in each task column."""
    best: dict[str, tuple[float, str]] = {}
    for row in rows:
        for task, cell in row.cells.items():
            if cell.ours and (task not in best or cell.ours[-1] > best[task][0]):
                best[task] = (cell.ours[-1], row.model)
    return {task: model for task, (_, model) in best.items()}


def recipe_rows(rows: list[Row]) -> list[list[str]]:
    """One line per task x model with a published-recipe result: published, recipe, tuned and the two gaps.

    ``⚠`` marks a recipe more than 2 std (1.0 point with one seed) below the published number.
    """
    lines = []
    for row in rows:
        for task, cell in row.cells.items():
            if cell.recipe is None:
                continue
            spread = f" ± {cell.recipe_std:.2f}" if cell.recipe_seeds and cell.recipe_seeds > 1 else ""
            lines.append([
                row.display,
                TASKS[task].published_column,
                f"{cell.published[-1]:.2f}" if cell.published else "-",
                f"{cell.recipe:.2f}{spread} (n={cell.recipe_seeds}){' ⚠' if cell.recipe_low else ''}",
                f"{cell.ours[-1]:.2f}" if cell.ours else "-",
                f"{cell.recipe_gap:+.2f}" if cell.recipe_gap is not None else "n/a",
                f"{cell.tuning_gain:+.2f}" if cell.tuning_gain is not None else "n/a",
            ])  # fmt: skip
    return lines


RECIPE_HEADER = ["model", "task", "published", "recipe (mean ± std, seeds)", "tuned", "recipe − published",
                 "tuned − recipe"]  # fmt: skip
RECIPE_NOTE = (
    "published: the reference scripts' number (test-selected). recipe: the published hyper-parameters under the "
    "same protocol (`kobench reproduce`), so recipe − published is the reproduction gap. tuned: kobench's "
    "validation-selected study, so tuned − recipe is what tuning adds (it also changes the protocol). "
    "⚠: recipe more than 2 std (1.0 point with one seed) below published."
)
