"""A study's two result files: the DVC metric (numbers only) and the details beside it.

``metrics/<task>/<model>.json`` holds only numeric leaves (``test.accuracy``, ``best.lr``,
``trials.failed``), so ``dvc metrics show``, ``dvc metrics diff`` and ``dvc exp show`` print short columns.
``metrics/<task>/<model>.study.json`` holds the rest: status and reason, run ids, the trial list, the
registered model, protocol, model id and revision, rows used. The report reads the details file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kobench.atomic import write_json


def details_path(metrics_file: Path) -> Path:
    """``<model>.study.json`` beside the metric file ``<model>.json``."""
    return metrics_file.with_name(f"{metrics_file.stem}.study.json")


def _numbers(values: dict[str, Any] | None) -> dict[str, float]:
    return {k: v for k, v in (values or {}).items() if isinstance(v, int | float) and not isinstance(v, bool)}


def metric_view(result: dict[str, Any]) -> dict[str, Any]:
    """The numeric leaves of a study result, grouped for DVC.

    >>> metric_view({"status": "complete", "test": {"accuracy": 0.9, "report": {}}, "best_trial": 1,
    ...              "best_params": {"lr": 3e-05, "epochs": 2}, "trials": {"complete": 2, "pruned": 0, "failed": 1},
    ...              "registered_version": "4", "champion": True})
    {'complete': 1, 'test': {'accuracy': 0.9}, 'best': {'trial': 1, 'lr': 3e-05, 'epochs': 2}, \
'trials': {'complete': 2, 'pruned': 0, 'failed': 1}, 'registry': {'version': 4, 'champion': 1}}
    """
    view: dict[str, Any] = {"complete": int(result.get("status") == "complete")}
    for split in ("validation", "test"):
        if result.get(split):
            view[split] = _numbers(result[split])
    if result.get("best_params"):
        view["best"] = {"trial": result["best_trial"], **_numbers(result["best_params"])}
    view["trials"] = {k: result["trials"][k] for k in ("complete", "pruned", "failed") if k in result.get("trials", {})}
    if result.get("seeds"):
        view["seeds"] = {"mean": result["seeds"]["mean"], "std": result["seeds"]["std"]}
    if result.get("registered_version"):
        view["registry"] = {"version": int(result["registered_version"]), "champion": int(bool(result["champion"]))}
    return view


def write_study(metrics_file: Path, result: dict[str, Any]) -> None:
    """The details first, then the metric (the file DVC records for the stage)."""
    write_json(details_path(metrics_file), result)
    write_json(metrics_file, metric_view(result))


def read_study(metrics_file: Path) -> dict[str, Any]:
    """The details of a study (what ``write_study`` wrote); ``json.JSONDecodeError`` / ``OSError`` as raised."""
    return json.loads(details_path(metrics_file).read_text(encoding="utf-8"))
