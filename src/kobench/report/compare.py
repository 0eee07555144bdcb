"""`kobench compare`: systems scored on the same test examples, each with its interval, every pair tested.

A system is a study (``<task>-<model>`` or the model key), a registered model (``models:/name@alias`` or
``models:/name/version``, whose final run logged its test predictions), or a predictions file in the
``kobench score`` format.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kobench.config import Params
from kobench.errors import KobenchError
from kobench.families import bind
from kobench.metrics.bootstrap import Bootstrap, metric_intervals
from kobench.metrics.significance import Comparison, paired_comparisons, with_holm
from kobench.names import details_file, metrics_file, study_name
from kobench.report.cells import format_p
from kobench.report.results import studied_models
from kobench.report.significance import final_predictions, scored_systems
from kobench.tasks.spec import TaskSpec

Download = Callable[[str, Path], Path]  # models:/ URI, folder -> the run's predictions file downloaded there


@dataclass(frozen=True)
class SystemScore:
    """One system's score on one metric, with its 95 % interval (fractions)."""

    system: str
    metric: str
    score: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class CompareResult:
    """What `kobench compare` prints and writes as JSON."""

    task: str
    unit: str
    units: int
    bootstrap: dict[str, Any]
    scores: list[SystemScore]
    comparisons: list[Comparison]

    def to_json(self) -> dict[str, Any]:
        """The JSON file: scores and comparisons as fractions, p-values as they are."""
        return dataclasses.asdict(self)


def resolve_system(name: str, spec: TaskSpec, params: Params, download: Download, scratch: Path) -> Path:
    """The predictions file behind a system name.

    Raises:
        KobenchError: an unknown study (naming the studies of the task), or a study without final predictions.
    """
    if name.startswith("models:/"):
        return download(name, scratch / str(len(list(scratch.iterdir()))))
    path = Path(name)
    if path.suffix in (".jsonl", ".json") or path.is_file():
        return path
    model = name.removeprefix(f"{spec.name}-")
    metrics_root = params.base.paths.metrics
    if not details_file(metrics_file(metrics_root, spec.name, model)).exists():
        known = [
            study_name(spec.name, m)
            for m in studied_models(metrics_root)
            if details_file(metrics_file(metrics_root, spec.name, m)).exists()
        ]
        raise KobenchError(
            f"unknown study {name!r} for task {spec.name} (studies: {', '.join(known) or 'none yet'}); "
            "give a study name, a models:/ URI or a predictions file"
        )
    predictions = final_predictions(metrics_root, spec.name, model)
    if not predictions.exists():
        raise KobenchError(f"study {study_name(spec.name, model)} has no final predictions at {predictions}")
    return predictions


def compare(
    spec: TaskSpec, params: Params, names: list[str], download: Download, settings: Bootstrap = Bootstrap()
) -> CompareResult:
    """Every system's interval and every pair's paired tests on each metric the task's table shows."""
    if len(set(names)) != len(names) or len(names) < 2:
        raise KobenchError(f"compare needs at least two different systems, got {', '.join(names) or 'none'}")
    with tempfile.TemporaryDirectory(prefix="kobench-compare-") as scratch:
        files = {name: resolve_system(name, spec, params, download, Path(scratch)) for name in names}
        systems = scored_systems(spec, params.base.paths.prepared / spec.name, files)
    metrics = bind(spec).display_metrics()
    bounds = {name: metric_intervals(s, settings)[0] for name, s in systems.items()}  # the intervals runs record
    scores, comparisons = [], []
    for metric in metrics:
        scores += [
            SystemScore(name, metric, s.point()[metric], bounds[name][f"{metric}_ci_low"], bounds[name][f"{metric}_ci_high"])
            for name, s in systems.items()
        ]
        comparisons += paired_comparisons(systems, metric, settings=settings)
    first = next(iter(systems.values()))
    return CompareResult(spec.name, first.unit, first.n, dataclasses.asdict(settings), scores, with_holm(comparisons))


def render(result: CompareResult) -> str:
    """The table `kobench compare` prints (values x100)."""
    width = max(len(s.system) for s in result.scores)
    lines = [
        f"{result.task}: {len({s.system for s in result.scores})} systems on the same {result.units:,} test "
        f"{result.unit}s; 95 % percentile bootstrap intervals and paired tests, {result.bootstrap['resamples']:,} draws "
        f"(seed {result.bootstrap['seed']})",
        "",
        f"{'system':<{width}}  {'metric':<12} {'score':>7}  95 % interval",
    ]
    lines += [
        f"{s.system:<{width}}  {s.metric:<12} {100 * s.score:7.2f}  [{100 * s.ci_low:.2f}, {100 * s.ci_high:.2f}]"
        for s in result.scores
    ]
    lines += [
        "",
        f"{'a − b':<{2 * width + 5}} {'metric':<12} {'Δ':>7}  {'95 % interval':<18} p boot   p rand   p McN    p Holm",
    ]
    for c in result.comparisons:
        mcnemar = format_p(c.p_mcnemar) if c.p_mcnemar is not None else "-"
        lines.append(
            f"{c.a + ' − ' + c.b:<{2 * width + 5}} {c.metric:<12} {100 * c.difference:+7.2f}  "
            f"{f'[{100 * c.ci_low:+.2f}, {100 * c.ci_high:+.2f}]':<18} {format_p(c.p_bootstrap):<8} "
            f"{format_p(c.p_randomization):<8} {mcnemar:<8} {format_p(c.p_holm)}"
        )
    lines += ["", "p Holm: the randomization p-values corrected over every comparison above (family-wise 5 %)."]
    return "\n".join(lines)
