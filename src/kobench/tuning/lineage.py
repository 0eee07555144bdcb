"""Data lineage in MLflow: the prepared splits a run used, as dataset inputs (the UI's dataset column).

Each split is one dataset: its name says the task, the split and any subsampling
(``nsmc/train (2,000 of 135,000 rows, seed 42)``), its digest is the prepared data hash that the runs' tags
carry (``kobench.prepared_digest``, first 32 hex digits: MLflow's limit), its source is the pinned upstream
file, and its profile counts the rows actually used. Runs on different data, or subsampled differently, show
different datasets.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from kobench.families.base import Row
from kobench.names import Tag
from kobench.tasks.spec import TaskSpec

DIGEST_LENGTH = 32  # MLflow stores a dataset digest in 36 characters


def dataset_inputs(
    spec: TaskSpec, prepared_dir: Path, rows: dict[str, list[Row]], digest: str, seed: int
) -> list[Any]:
    """``mlflow.entities.DatasetInput`` of each split in ``rows`` (rows as used, after subsampling)."""
    import pandas as pd
    import pyarrow.parquet as pq
    from mlflow.data import from_pandas
    from mlflow.data.http_dataset_source import HTTPDatasetSource
    from mlflow.entities import DatasetInput, InputTag

    inputs = []
    for split, split_rows in rows.items():
        total = pq.ParquetFile(prepared_dir / f"{split}.parquet").metadata.num_rows
        used = len(split_rows)
        name = f"{spec.name}/{split}" + (f" ({used:,} of {total:,} rows, seed {seed})" if used < total else "")
        source = spec.source_for("train" if split == "validation" and spec.carved_validation else split)
        with warnings.catch_warnings():  # schema hints about integer columns: these rows have no missing values
            warnings.simplefilter("ignore")
            frame = pd.DataFrame(split_rows)
            dataset = from_pandas(frame, source=HTTPDatasetSource(source.url), name=name, digest=digest[:DIGEST_LENGTH])
            entity = dataset._to_mlflow_entity()  # computes the schema
        tags = {
            "mlflow.data.context": split,
            Tag.ROWS: str(used),
            Tag.ROWS_PREPARED: str(total),
            Tag.SUBSAMPLED: str(used < total).lower(),
            Tag.PREPARED_DIGEST: digest,
            "kobench.upstream_sha256": source.sha256 or "",
            "kobench.upstream_git_sha1": source.git_sha1 or "",
        }
        inputs.append(DatasetInput(entity, tags=[InputTag(k, v) for k, v in tags.items() if v]))
    return inputs
