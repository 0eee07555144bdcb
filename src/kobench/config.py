"""params.yaml -> typed, validated Params (the single user-facing configuration)."""

from __future__ import annotations

import difflib
import functools
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

import kobench.settings as settings
from kobench.choices import PRECISIONS, Device, Padding, Precision, Selection, Split  # noqa: F401
from kobench.errors import ConfigError
from kobench.names import plain_segment
from kobench.tasks import TASKS

DEFAULT_PARAMS = Path("params.yaml")

# The types of every value a user gives, in params.yaml or as a command-line option (RunOptions below): one
# definition, so both refuse the same values. Numbers are strict: a quoted '1e-3' or `true` is not a number.
# The enumerations live in kobench.choices (no pydantic there, for the GPU machine).
Count = Annotated[StrictInt, Field(ge=1)]  # epochs, batch sizes, trials, rows, workers
Seed = StrictInt
LearningRate = Annotated[StrictFloat, Field(gt=0.0)]  # sampled on a log scale: 0 has no logarithm
SeqLen = Annotated[StrictInt, Field(gt=8)]
Fraction = Annotated[StrictFloat, Field(gt=0.0, lt=1.0)]
Ratio = Annotated[StrictFloat, Field(ge=0.0, lt=1.0)]
NonNegative = Annotated[StrictFloat, Field(ge=0.0)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PathsParams(_Section):
    """Where each stage reads and writes (dvc.yaml uses the same keys)."""

    raw: Path = Path("data/raw")
    prepared: Path = Path("data/prepared")
    features: Path = Path("data/features")
    outputs: Path = Path("outputs")
    metrics: Path = Path("metrics")
    reports: Path = Path("reports")


class BaseParams(_Section):
    """Seed and paths shared by every stage."""

    seed: Seed = settings.default("seed")
    paths: PathsParams = PathsParams()


def _field_type(name: str) -> Any:
    """The pydantic type of run setting ``name``: strict numbers with its declared bounds, its Literal, or None."""
    declared = settings.SETTINGS[name]
    allowed = settings.choices(name)
    strict = {float: StrictFloat, int: StrictInt, bool: StrictBool}
    base = Literal[allowed] if allowed is not None else strict[settings.kind(name)]
    bounds = {k: getattr(declared, k) for k in ("gt", "ge", "lt") if getattr(declared, k) is not None}
    typed = Annotated[base, Field(**bounds)] if bounds else base
    return typed | None if settings.optional(name) else typed


DistributionType = Literal["float", "int", "categorical"]
LEGACY_SPACE = {"lr": {"low": 1e-5, "high": 1e-4}, "epochs": {"low": 2, "high": 5}}  # the default space


class Distribution(_Section):
    """How a search space draws one setting: ``float``, ``int`` (``low``, ``high``, ``log``, ``step``) or ``categorical``.

    Each tunable setting gets its own subclass (``distribution_model``), whose ``low``, ``high`` and ``choices``
    have that setting's type and bounds.
    """

    setting: ClassVar[str]
    type: DistributionType
    low: Any = None
    high: Any = None
    log: StrictBool = False
    step: Annotated[StrictFloat, Field(gt=0.0)] | Annotated[StrictInt, Field(ge=1)] | None = None
    choices: list[Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _natural_type(cls, data: Any) -> Any:
        """Without ``type``: categorical when ``choices`` are given, else the setting's own (lr: float on a log scale)."""
        if isinstance(data, dict) and "type" not in data:
            numeric = settings.kind(cls.setting) in (int, float) and settings.choices(cls.setting) is None
            natural = settings.kind(cls.setting).__name__ if numeric else "categorical"
            data = {**data, "type": "categorical" if "choices" in data else natural}
        if isinstance(data, dict) and data.get("type") == "float" and "log" not in data:
            data = {**data, "log": settings.SETTINGS[cls.setting].log}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Distribution:
        if self.type == "categorical":
            if not self.choices or self.low is not None or self.high is not None or self.step is not None or self.log:
                raise ValueError("categorical takes only a non-empty list of choices")
            _unique(self.choices)
            return self
        if self.choices is not None or self.low is None or self.high is None:
            raise ValueError(f"{self.type} takes low and high (and optionally log, step), not choices")
        if self.low > self.high:
            raise ValueError(f"low {self.low} > high {self.high}")
        if self.log and self.step is not None:
            raise ValueError("log and step exclude each other")
        if self.type == "int" and self.step is not None and not isinstance(self.step, int):
            raise ValueError(f"an int distribution's step is an integer, got {self.step!r}")
        return self

    def bounds(self) -> tuple[Any, Any]:
        """(lowest, highest) value it can draw."""
        return (self.low, self.high) if self.type != "categorical" else (min(self.choices), max(self.choices))


@functools.cache
def distribution_model(name: str) -> type[Distribution]:
    """The distribution of setting ``name``: its type's kinds, its bounds on ``low``/``high``/``choices``."""
    kind = settings.kind(name)
    numeric = kind in (int, float) and settings.choices(name) is None
    kinds = (kind.__name__, "categorical") if numeric else ("categorical",)
    value = _field_type(name)
    bound = value.__args__[0] if settings.optional(name) else value  # low and high are never null
    fields: dict[str, Any] = {"type": (Literal[kinds], ...), "choices": (list[value] | None, None)}
    if numeric:
        fields |= {"low": (bound | None, None), "high": (bound | None, None)}
    model = create_model(f"Distribution_{name}", __base__=Distribution, **fields)
    model.setting = name
    return model


class _Space(_Section):
    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        """The form from before any setting was tunable, read as it was then.

        ``{lr: {low, high}, epochs: {low, high}}``: entries without ``type`` that name only lr and epochs; the one
        it leaves out keeps its default range.
        """
        if isinstance(data, dict) and set(data) <= set(LEGACY_SPACE):
            if all(isinstance(v, dict) and "type" not in v for v in data.values()):
                return {**LEGACY_SPACE, **data}
        return data

    @model_validator(mode="after")
    def _not_empty(self) -> _Space:
        if not self.settings():
            raise ValueError("the search space tunes nothing; give at least one setting")
        return self

    def items(self) -> list[tuple[str, Distribution]]:
        """(setting, distribution) in the settings' declaration order: the order trials draw them in."""
        return [(name, dist) for name in settings.tunable() if (dist := getattr(self, name)) is not None]

    def settings(self) -> list[str]:
        """The run settings this space tunes."""
        return [name for name, _ in self.items()]

    def bounds(self, name: str, fixed: Any) -> tuple[Any, Any]:
        """(lowest, highest) value of ``name`` over the space; ``fixed`` twice when it is not tuned."""
        dist = getattr(self, name)
        return dist.bounds() if dist is not None else (fixed, fixed)


SearchSpaceParams = create_model(
    "SearchSpaceParams",
    __base__=_Space,
    __doc__="What Optuna tunes: any tunable run setting (``settings.tunable()``) mapped to its distribution.",
    **{name: (distribution_model(name) | None, None) for name in settings.tunable()},
)


class ModelParams(_Section):
    """One row of the model catalogue: a hub id or a local directory, and how to load it."""

    id: str
    display: str | None = None
    size: Literal["base", "small"] = "base"
    published_size: str | None = None  # the "Size" column of the published table
    trust_remote_code: StrictBool = False  # explicit opt-in per row: runs code from the model repository
    token_type_ids: StrictBool = True  # False for XLM-R, DistilBERT and RoBERTa-type models
    local_only: StrictBool = False  # HanBERT: never fetched from a hub
    revision: str | None = None  # full 40-hex commit of the hub repository; None follows its main branch
    # how the tokenizer is built: from the repository's own files (auto), or a fast tokenizer made by kobench
    # from a SentencePiece model plus vocab.txt (KoBERT, DistilKoBERT: no code from the repository runs), or
    # HanBERT's: the vendor's compiled morpheme analyser, then WordPiece over vocab_54k.txt
    tokenizer: Literal["auto", "sentencepiece-vocab", "hanbert-moran"] = "auto"
    native_tokenizer: bool = False  # explicit opt-in per row: loads the vendor's native library (hanbert-moran)
    # this model's own search space, before tune.overrides and tune.search_space (a random-init model needs
    # learning rates ten times a pretrained one's)
    search_space: SearchSpaceParams | None = None

    @field_validator("revision")
    @classmethod
    def _full_commit(cls, revision: str | None) -> str | None:
        if revision is not None and not re.fullmatch(r"[0-9a-f]{40}", revision):
            raise ValueError(f"revision must be a full 40-hex commit id, got {revision!r}")
        return revision


class RunParams(_Section):
    """Which tasks and models `dvc repro` runs."""

    tasks: list[str] = []
    models: list[str] = []
    reproduce: StrictBool = False  # dvc repro also runs each cell's published recipe (kobench reproduce)
    reproduce_seeds: list[Seed] = []  # seeds of the recipe runs; empty: the recipe's own seed

    @field_validator("tasks", "models", "reproduce_seeds")
    @classmethod
    def _no_duplicates(cls, values: list) -> list:
        return _unique(values)


class DataParams(_Section):
    """Fetch and prepare options, and subsampling for quick runs."""

    mirror: Path | None = None
    validation_fraction: Fraction = 0.1
    split_seed: Seed = 42
    # per task: the splits to fetch and prepare (e.g. only test when a train file is unavailable)
    splits: dict[str, list[Split]] = {}
    max_train_samples: Count | None = None
    max_eval_samples: Count | None = None

    @field_validator("splits")
    @classmethod
    def _no_duplicate_splits(cls, splits: dict[str, list[str]]) -> dict[str, list[str]]:
        for task, names in splits.items():
            if not names:
                raise ValueError(f"data.splits.{task} is empty; list at least one of train, validation, test")
            _unique(names)
        return splits


TrainParams = create_model(
    "TrainParams",
    __base__=_Section,
    __doc__="Defaults of every fine-tune (``settings.RunConfig`` declares them; the CLI and trials override them).",
    **{name: (_field_type(name), settings.default(name)) for name in settings.in_section("train")},
    # device slots that trials lease (engine/devices.py): auto = every visible GPU (none on a CPU-only machine),
    # or a list of GPU indices and "cpu" entries; trials_per_device slots on each
    devices=(Literal["auto"] | list[Annotated[StrictInt, Field(ge=0)] | Literal["cpu"]], "auto"),
    trials_per_device=(Count, 1),
)


class TuneParams(_Section):
    """Study budget, sampler, pruner, search space, extra seeds and storage."""

    n_trials: Count = 4
    sampler_seed: Seed = 42
    pruner: Literal["median", "none"] = "median"
    search_space: SearchSpaceParams = SearchSpaceParams.model_validate({})
    overrides: dict[str, SearchSpaceParams] = {}  # per task
    final_seeds: list[Seed] = []
    max_failures: Count = 3  # consecutive failed trials after which a study stops
    heartbeat_seconds: Count = 60
    storage: str = "sqlite:///optuna.db"
    workers: Count | None = None  # processes per study on this machine; None: one per device slot

    @field_validator("final_seeds")
    @classmethod
    def _no_duplicates(cls, values: list) -> list:
        return _unique(values)


class TrackingParams(_Section):
    """Where MLflow logs."""

    mlflow_uri: str | None = None  # None: MLflow's default sqlite:///mlflow.db + ./mlruns
    experiment: str = "kobench"
    log_system_metrics: StrictBool = False


class ReportParams(_Section):
    """Report options."""

    plots: StrictBool = True
    tracking_ui: str | None = None  # address the report links runs to; None: the tracking server, else `kobench ui`'s

    @field_validator("tracking_ui")
    @classmethod
    def _web_address(cls, address: str | None) -> str | None:
        if address is not None and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", address):
            raise ValueError("must be an http(s):// address")
        return address


class Params(_Section):
    """The whole params.yaml."""

    base: BaseParams = BaseParams()
    run: RunParams = RunParams()
    models: dict[str, ModelParams] = {}
    data: DataParams = DataParams()
    train: TrainParams = TrainParams()
    tune: TuneParams = TuneParams()
    tracking: TrackingParams = TrackingParams()
    report: ReportParams = ReportParams()

    @field_validator("models")
    @classmethod
    def _plain_model_keys(cls, models: dict[str, ModelParams]) -> dict[str, ModelParams]:
        for key in models:
            try:
                plain_segment(key, "model key")
            except ConfigError as exc:
                raise ValueError(f"models: {exc}") from None
        return models

    @field_validator("data")
    @classmethod
    def _known_split_tasks(cls, data: DataParams) -> DataParams:
        for name in data.splits:
            _check_name(name, TASKS, "task", "data.splits")
        return data

    @model_validator(mode="after")
    def _known_names(self) -> Params:
        for i, name in enumerate(self.run.tasks):
            _check_name(name, TASKS, "task", f"run.tasks[{i}]")
        for i, name in enumerate(self.run.models):
            _check_name(name, self.models, "model", f"run.models[{i}]")
        for name in self.tune.overrides:
            _check_name(name, TASKS, "task", "tune.overrides")
        self._tunable_splits()
        return self

    def _tunable_splits(self) -> None:
        """A task that is tuned (run.tasks with run.models) needs all three splits: said at the first command.

        Otherwise fetch and prepare succeed on what data.splits allows and only tune fails, asking for prepare.
        """
        if not self.run.models:
            return
        for i, task in enumerate(self.run.tasks):
            missing = [s for s in ("train", "validation", "test") if s not in self.splits_for(task)]
            if missing:
                raise ValueError(
                    f"run.tasks[{i}]: {task} is tuned, which needs train, validation and test, but data.splits.{task} "
                    f"leaves out {', '.join(missing)}; remove {task} from run.tasks (its test split can still be "
                    f"scored: kobench score) or fetch its files with network and drop data.splits.{task}"
                )

    def splits_for(self, task: str) -> tuple[str, ...]:
        """The splits to fetch and prepare for ``task`` (all three unless data.splits says otherwise)."""
        return tuple(self.data.splits.get(task, ("train", "validation", "test")))


RunOptions = create_model(
    "RunOptions",
    __base__=_Section,
    __doc__="Command-line options of ``train``, ``tune`` and ``reproduce``, typed as the settings they override.",
    **{name: (_field_type(name) | None, None) for name in settings.options()},
    n_trials=(Count | None, None),
    workers=(Count | None, None),
)


def check_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options that were given (not None), checked as params.yaml checks the same keys.

    Raises:
        ConfigError: one line naming the option (``--n-trials``) and what it allows.
    """
    given = {k: v for k, v in options.items() if v is not None}
    try:
        RunOptions.model_validate(given)
    except ValidationError as exc:
        error = exc.errors()[0]
        flag = "--" + str(error["loc"][0]).replace("_", "-")
        raise ConfigError(f"{flag} {error.get('input')!r}: {_message(error)}") from None
    return given


def _message(error: Any) -> str:
    """Pydantic's message; for a choice, the allowed values as a plain list."""
    if error["type"] == "literal_error":
        allowed = error["ctx"]["expected"].replace("'", "").replace(" or ", ", ")
        return f"not allowed; allowed: {allowed}"
    return error["msg"].removeprefix("Value error, ")


def _unique(values: list) -> list:
    seen = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{value!r} is listed twice; list each once")
        seen.add(value)
    return values


def _check_name(name: str, allowed: object, kind: str, key: str) -> None:
    if name not in allowed:
        close = difflib.get_close_matches(name, list(allowed), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ValueError(f"unknown {kind} '{name}'{hint} at {key}; allowed: {', '.join(allowed) or '(none defined)'}")


# environment variable -> (section, key) it overrides; a command-line option overrides both
ENVIRONMENT = {
    "KOBENCH_MIRROR": ("data", "mirror"),
    "KOBENCH_OPTUNA_STORAGE": ("tune", "storage"),
    "MLFLOW_TRACKING_URI": ("tracking", "mlflow_uri"),
}
MLFLOW_DEFAULT_URI = "sqlite:///mlflow.db"  # MLflow's own default local store (with ./mlruns for artifacts)


def load_params(
    path: Path | str = DEFAULT_PARAMS, *, missing_ok: bool = False, environ: Mapping[str, str] | None = None
) -> Params:
    """Load and validate ``path``, then apply the environment (``ENVIRONMENT``) over it.

    Precedence, highest first: a command-line option, the environment variable, params.yaml, the default.
    With ``missing_ok`` an absent file gives the defaults.

    Raises:
        ConfigError: one line naming the file, the key and what is allowed.
    """
    params = _read_params(Path(path), missing_ok)
    environ = os.environ if environ is None else environ
    for variable, (section, key) in ENVIRONMENT.items():
        if environ.get(variable):
            value = Path(environ[variable]) if key == "mirror" else environ[variable]
            updated = getattr(params, section).model_copy(update={key: value})
            params = params.model_copy(update={section: updated})
    return params


class Yaml12Loader(yaml.SafeLoader):
    """YAML 1.2's numbers: ``1e-5`` is a float (PyYAML's YAML 1.1 reads it as a string; DVC's ``-S`` writes it)."""


Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"), list("-+0123456789")
)


def _read_params(path: Path, missing_ok: bool) -> Params:
    if missing_ok and not path.exists():
        return Params()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found (run from the project root or pass --params)") from None
    return params_from_text(text, path)


def params_from_text(text: str, path: Path) -> Params:
    """Validate params.yaml's ``text`` (read from ``path``, which the errors name), without the environment."""
    try:
        raw = yaml.load(text, Loader=Yaml12Loader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    try:
        return Params.model_validate(raw or {})
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_one_line(exc)}") from None


def _one_line(exc: ValidationError) -> str:
    error = exc.errors()[0]
    key = ".".join(str(p) for p in error["loc"]) or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(error["loc"][:-1])
        return f"unknown key '{key}'" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
    if error["type"] == "missing":
        return f"missing key '{key}'"
    if ("unknown " in message and " at " in message) or not error["loc"]:  # a whole-file rule names its own keys
        return message
    return f"key '{key}': {_message(error)} (got {error.get('input')!r})"


def _allowed_keys(loc: tuple) -> list[str]:
    """The field names of the section at ``loc`` (dict levels such as ``models.<name>`` are skipped)."""
    model: type[BaseModel] = Params
    skip_next = False
    for part in loc:
        if skip_next:
            skip_next = False
            continue
        annotation = model.model_fields[str(part)].annotation
        if getattr(annotation, "__origin__", None) is dict:
            annotation, skip_next = annotation.__args__[1], True
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)
