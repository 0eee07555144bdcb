"""Step 8a: study results for the report: the champion from MLflow, seeds and failures from metrics/*.json."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from kobench.atomic import write_json
from kobench.config import Params
from kobench.families import bind
from kobench.metrics.bootstrap import t_interval
from kobench.names import details_file, metrics_file
from kobench.records import StudyResult, read_recipe, read_study
from kobench.tasks import TASKS
from kobench.tasks.spec import TaskSpec


@dataclass
class Cell:
    """One task x model: our score(s) x100, the published one(s), and why a cell is empty."""

    task: str
    model: str
    status: str  # "complete", "failed", "not run"
    ours: list[float] | None = None  # [main] or, for korquad, [EM, F1]
    std: float | None = None  # of the main metric over tune.final_seeds
    published: list[float] | None = None
    protocol: str | None = None
    reason: str | None = None
    source: str | None = None  # "mlflow champion vN" or the metrics file
    study: StudyResult | None = None  # what the study recorded, for a complete cell
    recipe: float | None = None  # the published recipe's mean of the main metric x100 (kobench reproduce)
    recipe_std: float | None = None
    recipe_seeds: int | None = None
    recipe_ci: tuple[float, float] | None = None  # t-interval of the recipe's mean over its seeds, x100
    ci: list[tuple[float, float]] | None = None  # 95 % bootstrap interval over test units per value, x100
    seed_ci: tuple[float, float] | None = None  # t-interval of the main metric's mean over tune.final_seeds, x100
    run_id: str | None = None  # the MLflow run that scored the test set
    best: bool = False  # best of the column and significantly better than the runner-up (Holm)
    tied: bool = False  # not significantly different from the column's best

    @property
    def half_widths(self) -> list[float] | None:
        """Half the width of each value's interval, x100 (``± h``)."""
        return [round((high - low) / 2, 2) for low, high in self.ci] if self.ci else None

    @property
    def versus_published(self) -> list[str] | None:
        """Per value: ``better`` (our interval above the published number), ``worse`` (below it), or ``within``."""
        if self.ci is None or self.published is None:
            return None
        return [
            "better" if low > published else "worse" if high < published else "within"
            for (low, high), published in zip(self.ci, self.published)
        ]

    @property
    def diff(self) -> list[float] | None:
        """Ours minus published, per value."""
        if self.ours is None or self.published is None:
            return None
        return [round(o - p, 2) for o, p in zip(self.ours, self.published)]

    @property
    def recipe_gap(self) -> float | None:
        """Recipe minus published (main metric): how well the published number reproduces."""
        return None if self.recipe is None or not self.published else round(self.recipe - self.published[-1], 2)

    @property
    def tuning_gain(self) -> float | None:
        """Tuned minus recipe (main metric): what tuning adds over the published recipe."""
        return None if self.recipe is None or not self.ours else round(self.ours[-1] - self.recipe, 2)

    @property
    def recipe_low(self) -> bool:
        """The recipe falls short of the published number by more than 2 std (1.0 point with one seed)."""
        if self.recipe_gap is None:
            return False
        margin = 2 * self.recipe_std if self.recipe_seeds and self.recipe_seeds > 1 else 1.0
        return -self.recipe_gap > margin


@dataclass
class Row:
    """A model row of a results table."""

    model: str
    display: str
    size: str
    size_class: str
    cells: dict[str, Cell]
    ran: bool


def published_table() -> dict[str, Any]:
    """The published numbers shipped with kobench (``published.yaml``)."""
    text = resources.files("kobench.report").joinpath("published.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def display_metrics(spec: TaskSpec) -> tuple[str, ...]:
    """The metric(s) a table shows for a task, as its family decides (KorQuAD: EM / F1)."""
    return bind(spec).display_metrics()


def score_values(spec: TaskSpec, metrics: dict[str, Any]) -> list[float]:
    """The table's value(s) for a task, x100."""
    return [round(100 * metrics[name], 2) for name in display_metrics(spec)]


def _published(published: dict[str, Any], model: str, task: str) -> list[float] | None:
    value = published["rows"].get(model, {}).get("scores", {}).get(task)
    if value is None:
        return None
    return [float(v) for v in value] if isinstance(value, list) else [float(value)]


def studied_models(metrics_root: Path) -> list[str]:
    """Every model with a study details file or a recipe result under ``<metrics>/<task>/``, in name order."""
    found = {
        p.name.removesuffix(suffix)
        for task in TASKS
        for suffix in (".study.json", ".recipe.json")
        for p in (metrics_root / task).glob(f"*{suffix}")
    }
    return sorted(found)


def collect(params: Params, champion_metrics: Any = None) -> list[Row]:
    """Rows for the run set, then every other studied model, then the published rows; a cell for every task.

    A cell shows what its study recorded wherever a study file exists (also a ``kobench tune --model ./dir``
    study outside params.yaml); a run-set cell without one is "missing".

    Args:
        params: the project's params.
        champion_metrics: ``(task, model) -> (metrics dict, source, run id)`` from the registry, or None offline.
    """
    published = published_table()
    ran_models = list(dict.fromkeys([*params.run.models, *studied_models(params.base.paths.metrics)]))
    rows = []
    for model in dict.fromkeys([*ran_models, *published["rows"]]):
        row_params = params.models.get(model)
        pub = published["rows"].get(model, {})
        cells = {task: _with_recipe(params, _cell(params, published, task, model, champion_metrics)) for task in TASKS}
        recorded = next((c.study for c in cells.values() if c.study is not None), None)
        size_class = row_params.size if row_params else recorded.size if recorded else pub.get("class", "base")
        rows.append(
            Row(
                model=model,
                display=(row_params.display if row_params and row_params.display else pub.get("display", model)),
                size=(row_params.published_size if row_params and row_params.published_size else pub.get("size", "")) or "",
                size_class=size_class,
                cells=cells,
                ran=model in ran_models,
            )
        )
    return rows


def _cell(params: Params, published: dict, task: str, model: str, champion_metrics: Any) -> Cell:
    spec = TASKS[task]
    pub = _published(published, model, task)
    metrics_path = metrics_file(params.base.paths.metrics, task, model)
    path = details_file(metrics_path)
    if not path.exists():
        if model in params.run.models and task in params.run.tasks:
            return Cell(task, model, "missing", published=pub, reason=f"{path} not found (study not run yet)")
        return Cell(task, model, "not run", published=pub)
    try:
        saved = read_study(metrics_path)
    except (OSError, ValueError) as exc:
        return Cell(task, model, "failed", published=pub, reason=f"{path}: unreadable ({exc})")
    if not saved.complete:
        return Cell(task, model, "failed", published=pub, reason=saved.reason or "study failed", study=saved)
    metrics, source, run_id = saved.test, str(path), saved.run_ids.get("final")
    if champion_metrics is not None:
        found = champion_metrics(task, model)
        if found is not None:
            metrics, source, run_id = found
    seeds = saved.seeds
    std = round(100 * seeds["std"], 2) if seeds else None
    ours = score_values(spec, metrics)
    seed_ci = None
    if seeds:  # several seeds: the main value is their mean
        ours[-1] = round(100 * seeds["mean"], 2)
        seed_ci = _percent(t_interval(list(seeds.get("test", {}).values())))
    return Cell(
        task, model, "complete", ours=ours, std=std, published=pub, protocol=saved.protocol, source=source, study=saved,
        ci=score_intervals(spec, metrics), seed_ci=seed_ci, run_id=run_id,
    )  # fmt: skip


def score_intervals(spec: TaskSpec, metrics: dict[str, Any]) -> list[tuple[float, float]] | None:
    """The 95 % interval of each table value, x100; None for results recorded without intervals."""
    names = display_metrics(spec)
    if not all(f"{name}_ci_low" in metrics and f"{name}_ci_high" in metrics for name in names):
        return None
    return [_percent((metrics[f"{name}_ci_low"], metrics[f"{name}_ci_high"])) for name in names]


def _percent(interval: tuple[float, float] | None) -> tuple[float, float] | None:
    return None if interval is None else (round(100 * interval[0], 2), round(100 * interval[1], 2))


def _with_recipe(params: Params, cell: Cell) -> Cell:
    """The cell with its published-recipe result, where ``kobench reproduce`` wrote one."""
    try:
        recipe = read_recipe(params.base.paths.metrics, cell.task, cell.model)
    except (OSError, ValueError, TypeError):
        return cell
    if not recipe.complete:
        return cell
    cell.recipe, cell.recipe_std = round(100 * recipe.mean, 2), round(100 * recipe.std, 2)
    cell.recipe_seeds = int(recipe.n)
    cell.recipe_ci = _percent(t_interval(list((recipe.seeds or {}).values())))
    return cell


def write_results_json(path: Path, rows: list[Row]) -> dict[str, Any]:
    """The DVC metric, flat per task and model, numbers only (x100).

    Keys: ``<metric>``, ``ci_low``/``ci_high``, ``published``, ``diff``, ``std`` and ``seed_ci_low``/``_high``.

    Statuses and reasons are in results.csv and results.md; DVC shows only numbers.
    """
    data: dict[str, Any] = {}
    for row in rows:
        for task, cell in row.cells.items():
            if not row.ran or (cell.status == "not run" and cell.recipe is None):
                continue
            names = display_metrics(TASKS[task])
            values: dict[str, float] = {}
            for i, name in enumerate(names):
                suffix = "" if len(names) == 1 else f"_{name}"
                for key, series in ((name, cell.ours), (f"published{suffix}", cell.published), (f"diff{suffix}", cell.diff)):
                    if series:
                        values[key] = series[i]
                if cell.ci:
                    values[f"ci_low{suffix}"], values[f"ci_high{suffix}"] = cell.ci[i]
            if cell.std is not None:
                values["std"] = cell.std
            if cell.seed_ci is not None:
                values["seed_ci_low"], values["seed_ci_high"] = cell.seed_ci
            if cell.recipe is not None:
                values.update(recipe=cell.recipe, recipe_std=cell.recipe_std)
                for key, value in (("recipe_minus_published", cell.recipe_gap), ("tuned_minus_recipe", cell.tuning_gain)):
                    if value is not None:
                        values[key] = value
            if values:  # a failed or missing study has no number: its reason is in results.md / .csv
                data.setdefault(task, {})[row.model] = values
    write_json(path, data)
    return data
