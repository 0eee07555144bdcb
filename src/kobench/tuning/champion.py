"""The registered champion as an MLflow Model: a pyfunc over the family's own encode, inference and decode.

``mlflow.pyfunc.load_model("models:/kobench-<task>-<model>@champion").predict(df)`` takes the task's input
columns (``text``/``text_pair``; ``tokens``; ``context``/``question``) and returns one prediction per row in the
``kobench score`` format: exactly what ``predictions-test.jsonl`` holds for the same rows. The Hugging Face
files stay whole under ``artifacts/checkpoint/`` of the downloaded model (``CHECKPOINT``), so
``AutoModelFor*.from_pretrained`` loads them as well.
"""

from __future__ import annotations

import csv
import json
import sys
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow

from kobench.atomic import write_text
from kobench.engine.inference import InferenceSetup, Predictor
from kobench.errors import DataError, InputError, KobenchError
from kobench.families import bind
from kobench.families.base import Row
from kobench.tasks import get_task
from kobench.tasks.spec import TaskSpec

ENTRY = Path(__file__).with_name("champion_entry.py")  # the models-from-code file MLflow stores with the model
SETUP_FILE = "kobench.json"
CHECKPOINT = "artifacts/checkpoint"  # the Hugging Face files inside a downloaded champion
# what the pyfunc imports at load time, pinned to the versions that trained it
REQUIREMENTS = ("mlflow", "torch", "transformers", "tokenizers", "safetensors", "numpy", "pandas", "pyarrow",
                "scikit-learn", "scipy", "seqeval", "pydantic", "pyyaml", "sentencepiece", "protobuf")  # fmt: skip


def pinned_requirements() -> list[str]:
    """``name==version`` of every package the served model imports, as installed now."""
    return [f"{name}=={metadata.version(name)}" for name in REQUIREMENTS]


def input_frame(task: str, rows: list[Row]) -> Any:
    """The served model's input for prepared ``rows``: the task's input columns, one row each."""
    import pandas as pd

    spec = get_task(task)
    columns = bind(spec).input_columns()
    return pd.DataFrame({c: [r[c] for r in rows] for c in columns})


class ChampionModel(mlflow.pyfunc.PythonModel):
    """A kobench checkpoint of one task: DataFrame of inputs in, predictions in the ``kobench score`` format out."""

    def load_context(self, context: Any) -> None:
        """Load the checkpoint and the setup it was evaluated with (``kobench.json``)."""
        stored = json.loads(Path(context.artifacts["setup"]).read_text(encoding="utf-8"))
        self.spec = get_task(stored["task"])
        self.task = bind(self.spec)
        self.predictor = Predictor(self.spec, Path(context.artifacts["checkpoint"]), InferenceSetup.from_json(stored))

    def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201 - MLflow reads type hints as a schema
        """One prediction per input row, in input order (the caller keeps its own ids)."""
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

        records = model_input.to_dict(orient="records")
        ids = [str(i) for i in range(len(records))]
        rows = []
        for record, row_id in zip(records, ids):
            try:
                rows.append(self.task.input_row(record, row_id))
            except InputError as exc:  # a number or null where text belongs: the caller's error (HTTP 400 served)
                raise MlflowException(f"row {row_id}: {exc}", INVALID_PARAMETER_VALUE) from None
        predictions = self.predictor.predict(rows)
        return [self.task.to_json(predictions[row_id]) for row_id in ids]


def log_champion(
    tracker: Any, run_id: str, checkpoint: Path, task: str, setup: InferenceSetup, example: Any
) -> tuple[str, str]:
    """Log ``checkpoint`` of ``task`` as the run's MLflow Model (this pyfunc); return (model URI, model id).

    ``setup`` (how evaluation encoded and batched) is stored beside the checkpoint, so the served model repeats it.
    """
    with tempfile.TemporaryDirectory(prefix="kobench-model-") as scratch:
        setup_file = Path(scratch) / SETUP_FILE
        setup_file.write_text(json.dumps({"task": task, **setup.to_json()}, indent=2), encoding="utf-8")
        artifacts = {"checkpoint": str(checkpoint), "setup": str(setup_file)}
        return tracker.log_pyfunc(run_id, ENTRY, artifacts, example, pinned_requirements())


def model_card(spec: TaskSpec, ref: Any, config: Any, validation: dict, test: dict, digest: str, rows: dict) -> str:
    """The registered version's description: what it is, how good, on which data, how to load it."""
    main = spec.main_metric
    protocol = {"validation": "validation-selected (checkpoint and hyper-parameters chosen on validation, test scored "
                "once)", "test": "test-selected (checkpoint chosen on test, as the reference scripts did: optimistic)"}
    used = ", ".join(f"{split} {len(split_rows):,}" for split, split_rows in rows.items())
    sources = ", ".join(s.url for s in spec.sources)
    columns = ", ".join(bind(spec).input_columns())
    return "\n".join([
        f"kobench champion candidate for **{spec.name}** ({spec.family}): {spec.description}",
        "",
        f"- score: test {main} **{test[main]:.4f}**, validation {main} {validation[main]:.4f}",
        f"- protocol: {protocol[config.selection]}",
        f"- data: prepared digest {digest}; rows used {used}"
        + (f" (subsampled: train {config.max_train_samples}, eval {config.max_eval_samples})"
           if config.max_train_samples or config.max_eval_samples else ""),
        f"- upstream: {sources}",
        f"- base model: {ref.id} at revision {ref.row.revision or 'unpinned'}",
        f"- hyper-parameters: lr {config.lr:.3g}, epochs {config.epochs}, batch size {config.batch_size}, "
        f"max_seq_len {config.max_seq_len or spec.hyperparameters.max_seq_len}, warmup {config.warmup_ratio}, "
        f"weight decay {config.weight_decay}, seed {config.seed}",
        f"- inputs: a DataFrame with {columns}; outputs: one prediction per row, in order, as in "
        "`kobench score`",
        "- load: `mlflow.pyfunc.load_model(\"models:/<name>@champion\")`; Hugging Face files under "
        f"`{CHECKPOINT}/`",
    ])  # fmt: skip


def read_inputs(path: Path, task: str) -> tuple[list[str], Any]:
    """(ids, input DataFrame) of a JSONL or CSV file of the task's input columns and an optional ``id``.

    In CSV, naver-ner's ``tokens`` are the eojeols separated by spaces; in JSONL, a list or such a string.

    Raises:
        DataError: unreadable file, bad JSON, or a missing input column, with file:line.
    """
    import pandas as pd

    spec = get_task(task)
    task_bound = bind(spec)
    columns = task_bound.input_columns()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"unreadable ({exc})") from None
    if path.suffix == ".csv":
        records = [(number, record) for number, record in enumerate(csv.DictReader(text.splitlines()), start=2)]
    elif path.suffix in (".jsonl", ".json"):
        records = []
        for number, line in enumerate(text.split("\n"), start=1):
            if line.strip():
                try:
                    records.append((number, json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise DataError(path, f"bad JSON ({exc})", number) from None
    else:
        raise DataError(path, "expected a .jsonl or .csv file")
    ids, frame = [], {c: [] for c in columns}
    for number, record in records:
        missing = [c for c in columns if not isinstance(record, dict) or record.get(c) in (None, "")]
        if missing:
            raise DataError(path, f"missing input column(s) {', '.join(missing)}; {task} takes {', '.join(columns)}", number)
        ids.append(str(record.get("id", number)))
        try:
            row = task_bound.input_row(record, ids[-1])  # the column types the signature declares
        except InputError as exc:
            raise DataError(path, str(exc), number) from None
        for column in columns:
            frame[column].append(row[column])
    if len(set(ids)) != len(ids):
        raise DataError(path, "duplicate ids")
    return ids, pd.DataFrame(frame)


def predict_file(
    task: str, model_uri: str, input_path: Path, output_path: Path | None, before_load: Callable[[], None] | None = None
) -> int:
    """Predict every row of ``input_path`` with the MLflow Model at ``model_uri``; write ``kobench score`` JSONL.

    ``before_load`` runs once the input is read and checked, before the model is looked up (the CLI points MLflow
    at its store there).

    Returns:
        The number of predictions, written atomically to ``output_path`` (stdout when None).
    """
    from mlflow.exceptions import MlflowException

    ids, frame = read_inputs(input_path, task)
    if before_load is not None:
        before_load()
    try:
        model = mlflow.pyfunc.load_model(model_uri)
    except (MlflowException, OSError) as exc:
        raise KobenchError(f"{model_uri}: cannot load the model ({str(exc).splitlines()[0][:300]})") from None
    predictions = model.predict(frame) if ids else []
    lines = "".join(json.dumps({"id": i, "prediction": p}, ensure_ascii=False) + "\n" for i, p in zip(ids, predictions))
    if output_path is None:
        sys.stdout.write(lines)
    else:
        write_text(output_path, lines)
    return len(ids)
