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


VERSUS_MARKS = {"better": "▲", "within": "=", "worse": "▼"}  # our interval vs the published number
LEGEND = (
    "Each cell: **ours** ± half-width of its 95 % interval (published, Δ ours − published, then ▲ when the "
    "published number lies below our interval, = inside it, ▼ above it), ×100; KorQuAD: EM / F1. "
    "The interval is a percentile bootstrap over test examples (sentences for Naver NER, paragraphs for KorQuAD). "
    "Bold: best of our rows in the column, better than the runner-up by a paired approximate-randomization test, "
    "Holm-corrected over every comparison of the report (p < 0.05). ≈: not significantly different from the "
    "column's best (tied for best). sd: standard deviation over `tune.final_seeds` (the value is then their mean). "
    "Rows without (ours) are the published numbers. -: not run or not published."
)


def format_ours(cell: Cell) -> str:
    """``89.36 ± 0.27`` per value (KorQuAD ``EM ± h / F1 ± h``), then the seeds' sd where several ran."""
    halves = cell.half_widths or [None] * len(cell.ours or [])
    text = " / ".join(f"{v:.2f}" + (f" ± {h:.2f}" if h is not None else "") for v, h in zip(cell.ours or [], halves))
    return text + (f", sd {cell.std:.2f}" if cell.std is not None else "")


def format_versus(cell: Cell) -> str:
    """``89.59, Δ -0.23 =``: the published number, our difference, and where it lies against our interval."""
    diff = " / ".join(f"{d:+.2f}" for d in cell.diff) if cell.diff else "n/a"
    marks = " " + "".join(VERSUS_MARKS[v] for v in cell.versus_published) if cell.versus_published else ""
    return f"{format_values(cell.published)}, Δ {diff}{marks}"


def failure_mark(cell: Cell, notes: list[str]) -> str:
    """``failed [n]`` / ``missing [n]``, the reason appended to ``notes`` as note n."""
    notes.append(f"{cell.model} × {cell.task}: {cell.reason}")
    return f"{cell.status} [{len(notes)}]"


def format_cell(cell: Cell, notes: list[str], published_row: bool = False) -> str:
    """``ours ± h (published, Δ diff =)``; a published row's plain number; failures with a numbered note."""
    if cell.status in ("failed", "missing"):
        return f"{failure_mark(cell, notes)} ({format_values(cell.published)})"
    if cell.ours is None:
        return format_values(cell.published) if published_row else "-"
    ours = f"**{format_ours(cell)}**" if cell.best else format_ours(cell)
    marks = ("†" if cell.protocol == "test" else "") + (" ≈" if cell.tied else "")
    return f"{ours}{marks} ({format_versus(cell)})"


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
            ci = f" [{cell.recipe_ci[0]:.2f}, {cell.recipe_ci[1]:.2f}]" if cell.recipe_ci else ""
            lines.append([
                row.display,
                TASKS[task].published_column,
                f"{cell.published[-1]:.2f}" if cell.published else "-",
                f"{cell.recipe:.2f}{spread}{ci} (n={cell.recipe_seeds}){' ⚠' if cell.recipe_low else ''}",
                f"{cell.ours[-1]:.2f}" if cell.ours else "-",
                f"{cell.recipe_gap:+.2f}" if cell.recipe_gap is not None else "n/a",
                f"{cell.tuning_gain:+.2f}" if cell.tuning_gain is not None else "n/a",
            ])  # fmt: skip
    return lines


RECIPE_HEADER = ["model", "task", "published", "recipe (mean ± std [95 % t-interval], seeds)", "tuned", "recipe − published",
                 "tuned − recipe"]  # fmt: skip
RECIPE_NOTE = (
    "published: the reference scripts' number (test-selected). recipe: the published hyper-parameters under the "
    "same protocol (`kobench reproduce`), so recipe − published is the reproduction gap. tuned: kobench's "
    "validation-selected study, so tuned − recipe is what tuning adds (it also changes the protocol). "
    "⚠: recipe more than 2 std (1.0 point with one seed) below published."
)


COMPARISON_HEADER = ["task", "best", "other", "best − other", "95 % interval", "p bootstrap", "p randomization",
                     "p McNemar", "p Holm"]  # fmt: skip
COMPARISON_NOTE = (
    "Paired on the same test examples (×100 differences): paired bootstrap and approximate randomization, "
    "10,000 draws each; McNemar (exact up to 25 discordant examples) for accuracy; Holm's correction over every "
    "comparison of this report, applied to the randomization p-values."
)


def comparison_rows(rows: list[Row], tests: dict) -> list[list[str]]:
    """One line per comparison of a column's best row with another row."""
    display = {row.model: row.display for row in rows}
    lines = []
    for task, test in tests.items():
        for c in test.comparisons:
            lines.append([
                TASKS[task].published_column, display.get(c.a, c.a), display.get(c.b, c.b), f"{100 * c.difference:+.2f}",
                f"[{100 * c.ci_low:+.2f}, {100 * c.ci_high:+.2f}]", format_p(c.p_bootstrap), format_p(c.p_randomization),
                format_p(c.p_mcnemar) if c.p_mcnemar is not None else "-", format_p(c.p_holm),
            ])  # fmt: skip
    return lines


def format_p(p: float | None) -> str:
    """A p-value with enough digits to read against 0.05.

    >>> format_p(0.00009999), format_p(0.0312), format_p(1.0)
    ('<0.001', '0.031', '1.000')
    """
    return "-" if p is None else "<0.001" if p < 0.001 else f"{p:.3f}"
