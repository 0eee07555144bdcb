"""One metadata check per task: family, metric, splits, sources, labels, hyper-parameters and published numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from kobench.data.readers import READERS, read_rows
from kobench.families import family_names, get_family
from kobench.report.results import published_table
from kobench.tasks import ALL_TASKS
from kobench.tasks.spec import SPLITS
from synthetic import write_raw

# gold rows as perfect predictions, per family: what scoring a task's own answers must give
ORACLE = {
    "classification": lambda row: row["label"],
    "regression": lambda row: row["label"],
    "token_classification": lambda row: list(row["tags"]),
    "span_qa": lambda row: row["answers"]["text"][0],
}
# a wrong answer per family, for every other row: the unit statistics must score it as the family does
WRONG = {
    "classification": lambda spec, row: (row["label"] + 1) % len(spec.labels),
    "regression": lambda spec, row: row["label"] + 1.5,
    "token_classification": lambda spec, row: ["O"] * len(row["tags"]),
    "span_qa": lambda spec, row: "",
}


@pytest.fixture(scope="module")
def published() -> dict:
    return published_table()


@pytest.mark.parametrize("spec", ALL_TASKS, ids=lambda s: s.name)
def test_task_declaration(spec, published: dict, tmp_path: Path) -> None:  # noqa: ANN001
    assert spec.family in family_names() and spec.reader in READERS
    family = get_family(spec.family)

    # splits: train and test from declared upstream files; validation from one, or carved from train
    declared = dict(spec.splits)
    assert {"train", "test"} <= set(declared) <= set(SPLITS)
    assert set(declared.values()) <= {s.name for s in spec.sources}
    assert len({s.name for s in spec.sources}) == len(spec.sources)
    assert all(s.url.startswith("https://") and len(s.sha256 or s.git_sha1) in (64, 40) for s in spec.sources)
    assert spec.carved_validation == ("validation" not in declared)

    # labels: a class per logit for heads over labels; none for regression and QA
    assert len(spec.labels) == (0 if spec.family in ("regression", "span_qa") else family.num_labels(spec))
    assert len(set(spec.label_names)) == len(spec.labels)

    # the main metric and the displayed ones are keys of what the family scores; perfect answers score 1
    rows = read_rows(spec, write_raw(spec.name, tmp_path) / declared["test"], "test")
    scores = family.score(spec, rows, {row["id"]: ORACLE[spec.family](row) for row in rows})
    assert {spec.main_metric, *family.display_metrics(spec)} <= set(scores)
    assert scores[spec.main_metric] == pytest.approx(1.0)

    # intervals and paired tests score from unit statistics: on the same predictions they equal the family's metrics
    mixed = {row["id"]: (WRONG[spec.family](spec, row) if i % 2 else ORACLE[spec.family](row)) for i, row in enumerate(rows)}
    official = family.score(spec, rows, mixed)
    stats = family.unit_stats(spec, rows, mixed)
    assert stats.point() == pytest.approx({k: official[k] for k in stats.kind.metrics}, abs=1e-12)
    assert set(family.display_metrics(spec)) <= set(stats.kind.metrics)

    # the published table has this task's column for the reference model of every published row
    values = [row["scores"].get(spec.name) for row in published["rows"].values()]
    width = len(family.display_metrics(spec))
    assert sum(v is not None for v in values) >= 6
    assert all(len(v) == width if isinstance(v, list) else width == 1 for v in values if v is not None)
    assert spec.published_column

    # published hyper-parameters (TASKS.md): every task fine-tunes at a sane learning rate, epochs and length
    hp = spec.hyperparameters
    assert 1e-6 < hp.lr < 1e-3 and hp.epochs >= 1 and hp.batch_size >= 8 and hp.max_seq_len in (128, 512)
