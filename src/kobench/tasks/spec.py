"""Task metadata: what a benchmark task is, as frozen data (no I/O, no code paths per task)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

Family = str  # the name of a module of kobench.families: classification, regression, token_classification, span_qa
Split = Literal["train", "validation", "test"]
SPLITS: tuple[Split, ...] = ("train", "validation", "test")


@dataclass(frozen=True)
class SourceFile:
    """One upstream file, pinned to a commit and a hash.

    ``name`` is the file name under ``data/raw/<task>/`` and the name looked up in a mirror.
    Files too large for the offline mirror are pinned by their git blob SHA-1 (what upstream publishes)
    when no sha256 is known; either hash is verified on every fetch.
    """

    name: str
    url: str
    sha256: str | None = None
    git_sha1: str | None = None
    size: int | None = None

    def __post_init__(self) -> None:
        if not (self.sha256 or self.git_sha1):
            raise ValueError(f"source {self.name}: pin a sha256 or a git blob sha1")


@dataclass(frozen=True)
class Label:
    """A class: the raw value as written upstream and the name kobench reports."""

    raw: str
    name: str


@dataclass(frozen=True)
class Columns:
    """Which upstream field plays which role (delimited formats)."""

    text: str | None = None
    text_pair: str | None = None
    label: str | None = None
    id: str | None = None


@dataclass(frozen=True)
class RecipeChange:
    """How the reference scripts changed a task's recipe for some models (TASKS.md)."""

    applies_to: Literal["xlm-roberta", "small"]  # the XLM-R model type, or every small model
    lr: float | None = None
    batch_size: int | None = None
    warmup_ratio: float | None = None
    seed: int | None = None


@dataclass(frozen=True)
class Hyperparameters:
    """The published reference configuration (TASKS.md): ``kobench reproduce`` runs it, tuning is centred on it."""

    lr: float
    epochs: int
    batch_size: int
    max_seq_len: int = 128
    doc_stride: int = 128
    max_query_len: int = 64
    max_answer_len: int = 30
    n_best: int = 20
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    seed: int = 42
    changes: tuple[RecipeChange, ...] = ()

    def recipe(self, kinds: set[str]) -> dict[str, float | int]:
        """lr, epochs, batch size, max_seq_len, warm-up, weight decay, clipping and seed for a model of ``kinds``.

        >>> Hyperparameters(5e-5, 10, 32, changes=(RecipeChange("xlm-roberta", lr=1e-5, warmup_ratio=0.1),)).recipe(
        ...     {"xlm-roberta"})["lr"]
        1e-05
        """
        values = {"lr": self.lr, "epochs": self.epochs, "batch_size": self.batch_size, "max_seq_len": self.max_seq_len,
                  "warmup_ratio": self.warmup_ratio, "weight_decay": self.weight_decay,
                  "max_grad_norm": self.max_grad_norm, "seed": self.seed}  # fmt: skip
        for change in self.changes:
            if change.applies_to in kinds:
                values.update({k: v for k, v in dataclasses.asdict(change).items() if k != "applies_to" and v is not None})
        return values


@dataclass(frozen=True)
class TaskSpec:
    """A benchmark task as a declaration: sources, split roles, reader, labels and metric."""

    name: str
    family: Family
    sources: tuple[SourceFile, ...]
    # split -> source file name; a missing "validation" is carved from train (seeded)
    splits: tuple[tuple[Split, str], ...]
    reader: str
    main_metric: str
    published_column: str
    columns: Columns = field(default_factory=Columns)
    labels: tuple[Label, ...] = ()
    quoting: Literal["none", "csv"] = "none"
    # rows whose text or text_pair is empty are dropped from these splits only (paws train)
    skip_empty_in: tuple[Split, ...] = ()
    hyperparameters: Hyperparameters = field(default_factory=lambda: Hyperparameters(5e-5, 10, 32))
    description: str = ""
    version: int = 1

    def source_for(self, split: str) -> SourceFile | None:
        """The upstream file that feeds ``split``, or None when the split is carved from train."""
        by_name = {s.name: s for s in self.sources}
        return next((by_name[f] for sp, f in self.splits if sp == split), None)

    @property
    def carved_validation(self) -> bool:
        """True when ``validation`` is carved from train rather than read from an upstream dev file."""
        return self.source_for("validation") is None

    @property
    def label_names(self) -> list[str]:
        """Class names in label-id order."""
        return [label.name for label in self.labels]
