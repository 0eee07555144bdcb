"""Step 8d: which differences between rows are real: paired tests on the systems' test predictions, Holm-corrected.

Each system is read back from its predictions file (the ``kobench score`` format) and scored against the
prepared gold rows into unit statistics; systems are only compared on the very same test examples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kobench.config import Params
from kobench.data.splits import task_rows
from kobench.engine.scoring import read_predictions
from kobench.errors import DataError
from kobench.families import bind
from kobench.metrics.bootstrap import Bootstrap
from kobench.metrics.significance import Comparison, paired_comparisons, with_holm
from kobench.metrics.unit_stats import UnitStats
from kobench.names import metrics_file, predictions_file
from kobench.tasks import TASKS
from kobench.tasks.spec import TaskSpec

ALPHA = 0.05  # family-wise error rate of the table's significance marks


def final_predictions(metrics_root: Path, task: str, model: str) -> Path:
    """The test predictions of a study's final run, kept beside its metrics file."""
    return predictions_file(metrics_file(metrics_root, task, model))


def scored_systems(spec: TaskSpec, prepared_dir: Path, files: dict[str, Path]) -> dict[str, UnitStats]:
    """Unit statistics of each named predictions file against the gold test rows they predict.

    Raises:
        DataError: a file is unreadable or malformed, predicts an id the test split lacks, or the systems
            did not predict the same examples (one line naming both systems and example ids).
    """
    predicted = {name: read_predictions(path, spec)[0] for name, path in files.items()}
    names = list(predicted)
    for name, found in predicted.items():
        if not found:
            raise DataError(files[name], f"{name} holds no prediction (a failed study has none)")
    reference = set(predicted[names[0]])
    for name in names[1:]:
        ids = set(predicted[name])
        if ids != reference:
            only_a, only_b = sorted(reference - ids), sorted(ids - reference)
            raise DataError(
                files[name],
                f"{names[0]} and {name} scored different test examples: {len(only_a)} only in {names[0]}"
                f"{' (e.g. ' + ', '.join(only_a[:3]) + ')' if only_a else ''}, {len(only_b)} only in {name}"
                f"{' (e.g. ' + ', '.join(only_b[:3]) + ')' if only_b else ''}",
            )
    rows = [row for row in task_rows(spec, prepared_dir, "test") if row["id"] in reference]
    if len(rows) != len(reference):
        known = {row["id"] for row in rows}
        unknown = sorted(reference - known)
        raise DataError(
            files[names[0]], f"{len(unknown)} id(s) not in the prepared test split, e.g. {', '.join(unknown[:3])}"
        )
    task = bind(spec)
    return {name: task.unit_stats(rows, predicted[name]) for name in names}


@dataclass
class ColumnTest:
    """A task column's significance: the best row, the rows tied with it, and the comparisons behind them."""

    task: str
    metric: str
    best: str | None = None
    significant: bool = False  # the best beats the runner-up after Holm's correction
    tied: set[str] = field(default_factory=set)  # rows not significantly below the best (the best included)
    comparisons: list[Comparison] = field(default_factory=list)
    note: str | None = None  # why the column has no test


def column_tests(
    params: Params, candidates: dict[str, list[str]], settings: Bootstrap = Bootstrap()
) -> dict[str, ColumnTest]:
    """Per task, the best of our rows against each other row on the main metric, Holm-corrected over the table.

    Args:
        params: the project's params (prepared data and metrics folders).
        candidates: task -> models with a complete study in that column.
        settings: draws of the paired bootstrap and the randomization test.
    """
    tests: dict[str, ColumnTest] = {}
    for task, models in candidates.items():
        spec = TASKS[task]
        test = tests[task] = ColumnTest(task, spec.main_metric)
        if len(models) < 2:
            continue
        files = {m: final_predictions(params.base.paths.metrics, task, m) for m in models}
        try:
            systems = scored_systems(spec, params.base.paths.prepared / task, files)
        except (DataError, OSError) as exc:
            test.note = f"no significance test: {exc}"
            continue
        scores = {name: stats.point()[spec.main_metric] for name, stats in systems.items()}
        ranked = sorted(scores, key=scores.__getitem__, reverse=True)
        test.best = ranked[0]
        test.comparisons = paired_comparisons(systems, spec.main_metric, [(test.best, o) for o in ranked[1:]], settings)
    _apply_holm(tests)
    return tests


def _apply_holm(tests: dict[str, ColumnTest]) -> None:
    """One Holm family: every comparison of the table."""
    flat = [c for test in tests.values() for c in test.comparisons]
    corrected = iter(with_holm(flat))
    for test in tests.values():
        test.comparisons = [next(corrected) for _ in test.comparisons]
        if not test.comparisons:
            continue
        test.tied = {test.best} | {c.b for c in test.comparisons if c.p_holm >= ALPHA}
        test.significant = test.comparisons[0].p_holm < ALPHA
