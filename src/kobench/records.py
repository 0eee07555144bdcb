"""The typed hand-offs between stages: a fine-tune's ``RunResult``, a study's ``StudyResult``, a recipe's ``RecipeResult``.

Training writes a ``RunResult`` as ``outputs/.../metrics.json``; tuning writes a ``StudyResult`` as two files,
read back by the report with the same type, so writer and reader cannot drift apart:

- ``metrics/<task>/<model>.json`` holds only numeric leaves (``test.accuracy``, ``best.lr``,
  ``trials.failed``), so ``dvc metrics show``, ``dvc metrics diff`` and ``dvc exp show`` print short columns;
- ``metrics/<task>/<model>.study.json`` holds the whole ``StudyResult``: status and reason, run ids, the
  trial list, the registered model, protocol, model id and revision, rows used.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from kobench.atomic import write_json
from kobench.names import details_file, recipe_file

Metrics = dict[str, Any]  # metric name -> value (fractions), plus e.g. a per-type report


class RecordError(ValueError):
    """A results file does not hold the record it should (missing or unknown keys)."""


def _from_json(cls: type, data: Any, what: str) -> dict[str, Any]:
    """``data`` checked against the fields of ``cls``: a dict with every required key and no unknown one."""
    if not isinstance(data, dict):
        raise RecordError(f"{what}: expected a JSON object, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise RecordError(f"{what}: unknown key(s) {', '.join(unknown)}")
    required = [
        name for name, f in fields.items() if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    missing = [name for name in required if name not in data]
    if missing:
        raise RecordError(f"{what}: missing key(s) {', '.join(missing)}")
    return data


@dataclass(frozen=True)
class RunResult:
    """One fine-tune: what was trained, the best evaluation, its scores and how fast it ran."""

    task: str
    task_version: int
    model: str
    model_id: str
    model_revision: str | None
    size: str
    main_metric: str
    selection: str
    protocol: str
    config: dict[str, Any]
    best: dict[str, Any]  # step and epoch of the kept checkpoint
    validation: Metrics
    test: Metrics | None  # None for tuning trials: test is never touched there
    history: list[dict[str, Any]]  # one record per evaluation
    stopped_early: bool
    rows: dict[str, int]
    subsampled: dict[str, bool]
    prepared_digest: str
    throughput: dict[str, float]
    device: str
    precision: str
    kobench_version: str

    def to_json(self) -> dict[str, Any]:
        """The ``metrics.json`` content."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> RunResult:
        """A ``metrics.json`` content; RecordError when it is not one."""
        return cls(**_from_json(cls, data, "run result"))


_COMPLETE_ONLY = frozenset(
    {"protocol", "best_trial", "best_params", "validation", "test", "seeds", "registered_model", "registered_version",
     "champion", "rows_subsampled", "rows_used"}
)  # fmt: skip


@dataclass(frozen=True)
class StudyResult:
    """One study of one task x model: complete (best trial tested, registered) or failed (with the reason)."""

    status: Literal["complete", "failed"]
    task: str
    model: str
    model_id: str
    model_revision: str | None
    size: str
    study: str
    main_metric: str
    run_ids: dict[str, str | None]  # study (the parent run), final, best_trial
    trials: dict[str, Any]  # counts by state and one entry per trial with its reason
    reason: str | None = None  # failed only
    protocol: str | None = None  # "validation" or "test" (how the checkpoint was selected)
    best_trial: int | None = None
    best_params: dict[str, Any] | None = None
    validation: Metrics | None = None
    test: Metrics | None = None
    seeds: dict[str, Any] | None = None  # tune.final_seeds: per-seed test score, mean, std
    registered_model: str | None = None
    registered_version: str | None = None
    champion: bool | None = None
    rows_subsampled: dict[str, int | None] | None = None  # the train / eval row limits the study ran with
    rows_used: dict[str, int] | None = None  # rows of each split the final run used

    @property
    def complete(self) -> bool:
        """True when a trial completed and the best one was tested and registered."""
        return self.status == "complete"

    def to_json(self) -> dict[str, Any]:
        """The details file: a failed study has its reason and no scores, a complete one the reverse."""
        order = [
            "status", "task", "model", "model_id", "model_revision", "size", "study", "main_metric", "reason",
            "protocol", "best_trial", "best_params", "validation", "test", "seeds", "run_ids", "registered_model",
            "registered_version", "champion", "trials", "rows_subsampled", "rows_used",
        ]  # fmt: skip
        values = dataclasses.asdict(self)
        skip = {"reason"} if self.complete else _COMPLETE_ONLY
        return {key: values[key] for key in order if key not in skip}

    @classmethod
    def from_json(cls, data: Any) -> StudyResult:
        """A details file's content; RecordError when it is not one."""
        return cls(**_from_json(cls, data, "study result"))

    def metric_view(self) -> dict[str, float]:
        """What ``dvc metrics show`` prints: the main metric on test with its 95 % interval, and on validation.

        The same four keys for every task, so that the studies of a whole run set fit one 120-column table;
        a failed study has none. Everything else (all metrics, best parameters, trials, registry) is in the
        details file.

        >>> StudyResult("complete", "nsmc", "m", "m", None, "base", "nsmc-m", "accuracy", {}, {"complete": 2},
        ...     validation={"accuracy": 0.91}, test={"accuracy": 0.9, "accuracy_ci_low": 0.89,
        ...     "accuracy_ci_high": 0.91, "f1": 0.88}).metric_view()
        {'test': 0.9, 'test_low': 0.89, 'test_high': 0.91, 'validation': 0.91}
        """
        main, view = self.main_metric, {}
        test, validation = self.test or {}, self.validation or {}
        for key, value in (("test", test.get(main)), ("test_low", test.get(f"{main}_ci_low")),
                           ("test_high", test.get(f"{main}_ci_high")), ("validation", validation.get(main))):
            if value is not None:
                view[key] = value
        return view


def write_study(metrics_file: Path, result: StudyResult) -> None:
    """The details first, then the metric (the file DVC records for the stage)."""
    write_json(details_file(metrics_file), result.to_json())
    write_json(metrics_file, result.metric_view())


def read_study(metrics_file: Path) -> StudyResult:
    """The details of a study (what ``write_study`` wrote).

    Raises:
        OSError: the file cannot be read.
        ValueError: it is not JSON (``json.JSONDecodeError``) or not a study result (``RecordError``).
    """
    return StudyResult.from_json(json.loads(details_file(metrics_file).read_text(encoding="utf-8")))


@dataclass(frozen=True)
class RecipeResult:
    """``<metrics>/<task>/<model>.recipe.json``: the published recipe's test main metric over its seeds.

    ``kobench reproduce`` writes it and the report reads it; ``complete`` is 0 (and nothing else is set) when
    the DVC stage is switched off (``run.reproduce: false``).
    """

    complete: int
    mean: float | None = None
    std: float | None = None
    n: int | None = None
    seeds: dict[str, float] | None = None  # seed -> test main metric (a fraction)
    t_interval: tuple[float, float] | None = None  # over seeds; None with one seed

    def __post_init__(self) -> None:
        if self.t_interval is not None:  # JSON gives a list
            object.__setattr__(self, "t_interval", tuple(self.t_interval))

    def to_json(self) -> dict[str, Any]:
        """The file's content: only ``complete`` for a stage that trained nothing."""
        values = dataclasses.asdict(self)
        values["t_interval"] = list(self.t_interval) if self.t_interval is not None else None
        return values if self.complete else {"complete": self.complete}

    @classmethod
    def from_json(cls, data: Any) -> RecipeResult:
        """A recipe file's content; RecordError when it is not one."""
        return cls(**_from_json(cls, data, "recipe result"))


def write_recipe(metrics_root: Path, task: str, model: str, result: RecipeResult) -> Path:
    """Write ``result`` to the recipe file of ``task`` x ``model``; its path."""
    path = recipe_file(metrics_root, task, model)
    write_json(path, result.to_json())
    return path


def read_recipe(metrics_root: Path, task: str, model: str) -> RecipeResult:
    """The recipe result of ``task`` x ``model``.

    Raises:
        OSError: the file cannot be read.
        ValueError: it is not JSON (``json.JSONDecodeError``) or not a recipe result (``RecordError``).
    """
    text = recipe_file(metrics_root, task, model).read_text(encoding="utf-8")
    return RecipeResult.from_json(json.loads(text))
