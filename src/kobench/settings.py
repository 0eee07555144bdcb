"""A run's settings, declared once: type, default, bounds, where params.yaml keeps it, option help, tunable or not.

``RunConfig`` is what one fine-tune runs with (and what its ``metrics.json`` and MLflow parameters record). From
the same declaration ``config`` builds params.yaml's ``train`` section and the command-line checks, the CLI
builds the option group of ``train``, ``tune`` and ``reproduce``, and the search space accepts the settings marked
tunable. No pydantic here: the GPU machine imports the engine without it, and ``kobench --help`` imports this.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from kobench.choices import Device, Padding, Precision, Selection
from kobench.errors import ConfigError

Section = Literal["task", "base", "train", "data"]  # where a run's default comes from (see ``engine.runs``)


@dataclass(frozen=True)
class Setting:
    """What a run setting's declaration says besides its type and default."""

    section: Section = "train"  # task: the task's published value; base: base.<name>; train/data: <section>.<name>
    help: str | None = None  # the command-line option's help; None: no option
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    log: bool = False  # sampled on a log scale when tuned
    tunable: bool = False  # may appear in tune.search_space
    recipe: bool = False  # fixed by a task's published recipe (``kobench reproduce`` takes no option for it)
    choices: Any = None  # the Literal that params.yaml and the CLI allow, where the type is wider (device)


def _setting(default: Any = dataclasses.MISSING, **declared: Any) -> Any:
    return field(default=default, metadata={"kobench": Setting(**declared)})


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one fine-tune; values are checked against their declaration when it is made.

    Raises:
        ConfigError: a value of the wrong type, outside its bounds or not among its choices (one line).
    """

    lr: float = _setting(section="task", gt=0.0, log=True, tunable=True, recipe=True,
                         help="Learning rate (default: the task's published one).")  # fmt: skip
    epochs: int = _setting(section="task", ge=1, tunable=True, recipe=True,
                           help="Epochs (default: the task's published number).")  # fmt: skip
    batch_size: int = _setting(32, ge=1, tunable=True, recipe=True, help="Training batch size.")
    eval_batch_size: int = _setting(128, ge=1)
    seed: int = _setting(42, section="base", tunable=True, recipe=True, help="Training seed (default base.seed).")
    max_seq_len: int | None = _setting(None, gt=8, tunable=True, recipe=True, help="Override the task's max_seq_len.")
    warmup_ratio: float = _setting(0.0, ge=0.0, lt=1.0, tunable=True, recipe=True)
    weight_decay: float = _setting(0.0, ge=0.0, tunable=True, recipe=True)
    max_grad_norm: float = _setting(1.0, gt=0.0, tunable=True, recipe=True)
    evals_per_epoch: int = _setting(1, ge=1, recipe=True)
    padding: Padding = _setting("dynamic", help="dynamic or max_length.")
    group_by_length: bool = _setting(True)
    precision: Precision = _setting("auto", help="auto, fp32 or bf16.")
    selection: Selection = _setting("validation", recipe=True, help="validation (default) or test (reference protocol).")
    device: str = _setting("auto", choices=Device, help="auto, cpu or cuda.")  # a leased slot: cuda:N
    save_checkpoint: bool = _setting(True)
    max_train_samples: int | None = _setting(None, section="data", ge=1, help="Subsample train (seeded).")
    max_eval_samples: int | None = _setting(None, section="data", ge=1, help="Subsample validation and test (seeded).")

    def __post_init__(self) -> None:
        for name in SETTINGS:
            problem = check(name, getattr(self, name))
            if problem:
                raise ConfigError(f"run setting {name}={getattr(self, name)!r}: {problem}")

    def row_limits(self) -> dict[str, int | None]:
        """The most rows each split is subsampled to (None: all of it)."""
        return {"train": self.max_train_samples, "validation": self.max_eval_samples, "test": self.max_eval_samples}


SETTINGS: dict[str, Setting] = {f.name: f.metadata["kobench"] for f in dataclasses.fields(RunConfig)}


@functools.cache
def setting_type(name: str) -> Any:
    """The declared type of setting ``name`` (``int | None``, a ``Literal``, ...)."""
    return typing.get_type_hints(RunConfig)[name]


def default(name: str) -> Any:
    """The declared default of setting ``name`` (``dataclasses.MISSING`` for lr and epochs: the task's)."""
    return RunConfig.__dataclass_fields__[name].default


def kind(name: str) -> type:
    """``float``, ``int``, ``bool`` or ``str`` (for a choice): what a value of ``name`` is, None aside."""
    hint = setting_type(name)
    args = [a for a in typing.get_args(hint) if a is not type(None)] if typing.get_origin(hint) is not Literal else []
    base = args[0] if len(args) == 1 else hint
    return str if typing.get_origin(base) is Literal else base


def choices(name: str) -> tuple[Any, ...] | None:
    """The values params.yaml and the CLI allow for a choice setting; None for numbers and switches."""
    declared = SETTINGS[name].choices or setting_type(name)
    return typing.get_args(declared) if typing.get_origin(declared) is Literal else None


def optional(name: str) -> bool:
    """Whether None is a value of ``name`` (the task's max_seq_len, no subsampling)."""
    return type(None) in typing.get_args(setting_type(name))


def check(name: str, value: Any) -> str | None:
    """What is wrong with ``value`` for setting ``name``, or None.

    >>> check("warmup_ratio", 1.0), check("padding", "left"), check("device", "cuda:1")
    ('must be < 1.0', 'not allowed; allowed: dynamic, max_length', None)
    """
    declared = SETTINGS[name]
    if value is None:
        return None if optional(name) else "must not be null"
    expected = kind(name)
    if expected is str:
        if name == "device":
            return None if isinstance(value, str) and re.fullmatch(r"auto|cpu|cuda(:[0-9]+)?", value) else (
                "not allowed; allowed: auto, cpu, cuda, cuda:N")  # fmt: skip
        allowed = choices(name)
        return None if value in allowed else f"not allowed; allowed: {', '.join(allowed)}"
    if expected is bool:
        return None if isinstance(value, bool) else "must be true or false"
    if isinstance(value, bool) or not isinstance(value, int | float) or (expected is int and not isinstance(value, int)):
        return f"must be {'an integer' if expected is int else 'a number'}"
    for bound, holds, sign in (("gt", operator.gt, ">"), ("ge", operator.ge, ">="), ("lt", operator.lt, "<")):
        limit = getattr(declared, bound)
        if limit is not None and not holds(value, limit):
            return f"must be {sign} {limit}"
    return None


def in_section(section: Section) -> list[str]:
    """The settings whose default params.yaml keeps under ``section`` (``train``: the train section's run keys)."""
    return [name for name, s in SETTINGS.items() if s.section == section]


def options(*, recipe: bool = True) -> list[str]:
    """The settings the command-line option group offers; ``recipe=False`` leaves out what a recipe fixes."""
    return [name for name, s in SETTINGS.items() if s.help is not None and (recipe or not s.recipe)]


def tunable() -> list[str]:
    """The settings a search space may tune, in declaration order (the order trials suggest them)."""
    return [name for name, s in SETTINGS.items() if s.tunable]
