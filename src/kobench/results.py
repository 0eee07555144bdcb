"""Step 8a: study results for the report: the champion from MLflow, seeds and failures from metrics/*.json."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from kobench.config import Params
from kobench.spec import TaskSpec
from kobench.study_files import details_path
from kobench.tasks import TASKS


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
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def diff(self) -> list[float] | None:
        """Ours minus published, per value."""
        if self.ours is None or self.published is None:
            return None
        return [round(o - p, 2) for o, p in zip(self.ours, self.published)]


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
    text = resources.files("kobench").joinpath("published.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def score_values(spec: TaskSpec, metrics: dict[str, Any]) -> list[float]:
    """The table's value(s) for a task, x100: KorQuAD shows EM / F1, every other task its main metric."""
    if spec.family == "span_qa":
        return [round(100 * metrics["exact_match"], 2), round(100 * metrics["char_f1"], 2)]
    return [round(100 * metrics[spec.main_metric], 2)]


def _published(published: dict[str, Any], model: str, task: str) -> list[float] | None:
    value = published["rows"].get(model, {}).get("scores", {}).get(task)
    if value is None:
        return None
    return [float(v) for v in value] if isinstance(value, list) else [float(value)]


def collect(params: Params, champion_metrics: Any = None) -> list[Row]:
    """Rows for every model run (params ``run.models``) and every published row, cells for every task.

    Args:
        params: the project's params.
        champion_metrics: ``(task, model) -> (metrics dict, source)`` from the registry, or None offline.
    """
    published = published_table()
    models = list(dict.fromkeys([*params.run.models, *published["rows"]]))
    rows = []
    for model in models:
        row_params = params.models.get(model)
        pub = published["rows"].get(model, {})
        ran = model in params.run.models
        cells = {task: _cell(params, published, task, model, ran, champion_metrics) for task in TASKS}
        rows.append(
            Row(
                model=model,
                display=(row_params.display if row_params and row_params.display else pub.get("display", model)),
                size=(row_params.published_size if row_params and row_params.published_size else pub.get("size", "")) or "",
                size_class=(row_params.size if row_params else pub.get("class", "base")),
                cells=cells,
                ran=ran,
            )
        )
    return rows


def _cell(params: Params, published: dict, task: str, model: str, ran: bool, champion_metrics: Any) -> Cell:
    spec = TASKS[task]
    pub = _published(published, model, task)
    if not ran or task not in params.run.tasks:
        return Cell(task, model, "not run", published=pub)
    path = details_path(params.base.paths.metrics / task / f"{model}.json")
    if not path.exists():
        return Cell(task, model, "missing", published=pub, reason=f"{path} not found (study not run yet)")
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        return Cell(task, model, "failed", published=pub, reason=f"{path}: unreadable ({exc})")
    if saved.get("status") != "complete":
        return Cell(task, model, "failed", published=pub, reason=saved.get("reason", "study failed"))
    metrics, source = saved["test"], str(path)
    if champion_metrics is not None:
        found = champion_metrics(task, model)
        if found is not None:
            metrics, source = found
    seeds = saved.get("seeds")
    std = round(100 * seeds["std"], 2) if seeds else None
    ours = score_values(spec, metrics)
    if seeds:  # several seeds: the main value is their mean
        ours[-1] = round(100 * seeds["mean"], 2)
    return Cell(
        task,
        model,
        "complete",
        ours=ours,
        std=std,
        published=pub,
        protocol=saved.get("protocol"),
        source=source,
        extra={
            "best_params": saved.get("best_params"),
            "study": saved.get("study"),
            "best_trial_run": saved.get("run_ids", {}).get("best_trial"),
            "rows_subsampled": saved.get("rows_subsampled"),
        },
    )


def write_results_json(path: Path, rows: list[Row]) -> dict[str, Any]:
    """The DVC metric, flat per task and model, numbers only (x100): ``<metric>``, ``published``, ``diff``, ``std``.

    Statuses and reasons are in results.csv and results.md; DVC shows only numbers.
    """
    from kobench.atomic import write_json

    data: dict[str, Any] = {}
    for row in rows:
        for task, cell in row.cells.items():
            if not row.ran or cell.status == "not run":
                continue
            names = ["exact_match", "char_f1"] if TASKS[task].family == "span_qa" else [TASKS[task].main_metric]
            values: dict[str, float] = {}
            for i, name in enumerate(names):
                suffix = "" if len(names) == 1 else f"_{name}"
                for key, series in ((name, cell.ours), (f"published{suffix}", cell.published), (f"diff{suffix}", cell.diff)):
                    if series:
                        values[key] = series[i]
            if cell.std is not None:
                values["std"] = cell.std
            if values:  # a failed or missing study has no number: its reason is in results.md / .csv
                data.setdefault(task, {})[row.model] = values
    write_json(path, data)
    return data
