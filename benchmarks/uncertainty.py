"""How fast intervals and significance tests are: one NSMC-sized interval, and a whole report of 8 tasks x 8 rows.

The report's gold test splits have the real sizes of the eight tasks (NSMC 50,000 examples, Naver NER 9,000
sentences, KorQuAD 5,774 questions in 960 paragraphs, ...), with synthetic labels; each of 8 systems predicts
them with its own error rate. Everything runs through kobench's own code: the families' unit statistics,
``metric_intervals``, ``write_report`` (intervals, every column's comparisons, Holm, plots, HTML).
The last line is ``uncertainty: key=value ...`` (seconds).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from kobench.config import Params
from kobench.engine.outputs import write_predictions
from kobench.engine.scoring import with_intervals
from kobench.families import bind
from kobench.metrics.bootstrap import Bootstrap, metric_intervals
from kobench.metrics.unit_stats import Confusion, UnitStats
from kobench.names import metrics_file, predictions_file
from kobench.records import StudyResult, write_study
from kobench.report.tables import write_report
from kobench.tasks import TASKS

SIZES = {"nsmc": 50_000, "naver-ner": 9_000, "paws": 2_000, "kornli": 5_010, "korsts": 1_379, "question-pair": 758,
         "korquad": 5_774, "hate-speech": 471}  # fmt: skip
TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG"]


def _gold(task: str, n: int, rng: np.random.Generator) -> list[dict]:
    family = TASKS[task].family
    if family == "classification":
        labels = len(TASKS[task].labels)
        return [{"id": str(i), "text": "", "text_pair": None, "label": int(rng.integers(labels))} for i in range(n)]
    if family == "regression":
        return [{"id": str(i), "text": "", "text_pair": "", "label": float(rng.integers(0, 51) / 10)} for i in range(n)]
    if family == "token_classification":
        return [
            {"id": str(i), "tokens": ["x"] * (k := int(rng.integers(3, 15))), "tags": list(rng.choice(TAGS, k))}
            for i in range(n)
        ]
    answers = ["서울", "부산광역시", "1926년", "아리랑", "세종대왕"]
    return [
        {"id": str(i), "title": "t", "context": f"paragraph {i // 6}", "question": "q",
         "answers": {"text": [str(rng.choice(answers))], "answer_start": [0]}}
        for i in range(n)
    ]  # fmt: skip


def _prediction(task: str, row: dict, error: float, rng: np.random.Generator) -> object:
    family, wrong = TASKS[task].family, rng.random() < error
    if family == "classification":
        return int((row["label"] + wrong) % len(TASKS[task].labels))
    if family == "regression":
        return row["label"] + float(rng.normal(0, 0.5 + 3 * error))
    if family == "token_classification":
        return [str(rng.choice(TAGS)) if rng.random() < error else tag for tag in row["tags"]]
    return "틀린 답" if wrong else row["answers"]["text"][0]


def _project(root: Path, sizes: dict[str, int], models: int) -> Params:
    rng = np.random.default_rng(0)
    names = [f"model-{i}" for i in range(models)]
    params = Params.model_validate({
        "base": {"paths": {k: str(root / k) for k in ("prepared", "metrics", "outputs", "reports")}},
        "run": {"tasks": list(sizes), "models": names},
        "models": {name: {"id": f"org/{name}", "size": "base"} for name in names},
    })  # fmt: skip
    for task, n in sizes.items():
        spec = TASKS[task]
        task_bound = bind(spec)
        gold = _gold(task, n, rng)
        (root / "prepared" / task).mkdir(parents=True)
        schema = task_bound.family.schema
        pq.write_table(pa.Table.from_pylist(gold, schema=schema), root / "prepared" / task / "test.parquet")
        for i, name in enumerate(names):
            predictions = {row["id"]: _prediction(task, row, 0.08 + 0.01 * i, rng) for row in gold}
            write_predictions(predictions_file(metrics_file(root / "metrics", task, name)), task_bound, predictions)
            test = with_intervals(task_bound, gold, predictions, task_bound.score(gold, predictions))
            write_study(metrics_file(root / "metrics", task, name), StudyResult(
                status="complete", task=task, model=name, model_id=f"org/{name}", model_revision=None, size="base",
                study=f"{task}-{name}", main_metric=spec.main_metric, run_ids={"study": "p", "final": f"run-{i}"},
                trials={"complete": 1}, test=test,
                protocol="validation", best_params={},
            ))  # fmt: skip
    return params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes and 2 rows: seconds, for the test suite")
    args = parser.parse_args()
    scale, models = (50, 2) if args.quick else (1, 8)

    rng = np.random.default_rng(1)
    n = SIZES["nsmc"] // scale
    gold = rng.integers(0, 2, n)
    stats = UnitStats(Confusion(2), "example", np.c_[gold, np.where(rng.random(n) < 0.9, gold, 1 - gold)])
    started = time.perf_counter()
    bounds, _ = metric_intervals(stats, Bootstrap(10_000))
    interval_seconds = time.perf_counter() - started
    print(f"NSMC interval: {n:,} examples, 10,000 resamples: {interval_seconds:.3f} s "
          f"(accuracy [{bounds['accuracy_ci_low']:.4f}, {bounds['accuracy_ci_high']:.4f}])")  # fmt: skip

    with tempfile.TemporaryDirectory(prefix="kobench-uncertainty-") as scratch:
        sizes = {task: max(20, size // scale) for task, size in SIZES.items()}
        params = _project(Path(scratch), sizes, models)
        started = time.perf_counter()
        rows = write_report(params)
        report_seconds = time.perf_counter() - started
        comparisons = json.loads((Path(scratch) / "reports" / "comparisons.json").read_text(encoding="utf-8"))
    count = sum(len(c["comparisons"]) for c in comparisons.values())
    cells = sum(c.ci is not None for r in rows for c in r.cells.values())
    print(f"report: {len(sizes)} tasks x {models} rows, {cells} cells with intervals, {count} paired comparisons "
          f"(bootstrap + randomization, 10,000 draws each, Holm): {report_seconds:.1f} s")  # fmt: skip
    print(
        f"uncertainty: nsmc_interval_s={interval_seconds:.3f} report_s={report_seconds:.1f} "
        f"comparisons={count} cells={cells}"
    )


if __name__ == "__main__":
    main()
