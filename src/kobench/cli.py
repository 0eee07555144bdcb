"""Command line: thin commands that dvc.yaml calls; heavy libraries are imported inside each command."""

from __future__ import annotations

import inspect
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

import kobench.settings as settings
from kobench.errors import KobenchError

app = typer.Typer(
    help="kobench: fine-tune, tune and report Korean language models on the KoELECTRA benchmark tasks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _options(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or progress lines.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show the libraries' own log lines and warnings too.")
    ] = False,
) -> None:
    """Options for every command."""
    if quiet:
        os.environ["KOBENCH_QUIET"] = "1"
    if verbose:
        os.environ["KOBENCH_VERBOSE"] = "1"


# warnings that tell a library's user something kobench has handled, one regular expression each
LIBRARY_WARNINGS = (
    r"(?s).*Add type hints to the .predict. method",  # MLflow, on every load of a pyfunc without type hints
    r"(?s).*The interface can change in the future",  # Optuna's ExperimentalWarning (heartbeats, plots)
)


def _quiet_libraries() -> None:
    """Libraries' INFO lines (alembic, MLflow's store set-up) and known warnings off the terminal.

    kobench's own INFO lines stay. ``--verbose`` (or ``KOBENCH_VERBOSE=1``) shows everything.
    """
    import warnings

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("kobench").setLevel(logging.INFO)
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # MLflow sets up its own logger when imported
    for pattern in LIBRARY_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    # MLflow re-enables UserWarnings inside its own calls (catch_warnings + simplefilter "once"), which puts its
    # filter before ours: the display hook drops them too (catch_warnings restores, never replaces, the hook)
    import re

    known = [re.compile(pattern, re.IGNORECASE) for pattern in LIBRARY_WARNINGS]
    show = warnings.showwarning

    def show_unknown(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001, PLR0913
        if not any(p.match(str(message)) for p in known):
            show(message, category, filename, lineno, file, line)

    warnings.showwarning = show_unknown


def _verbose(args: list[str]) -> bool:
    """``--verbose`` among the global options (those before the command), or ``KOBENCH_VERBOSE=1``."""
    for arg in args:
        if not arg.startswith("-"):
            break
        if arg in ("--verbose", "-v"):
            os.environ["KOBENCH_VERBOSE"] = "1"
    return os.environ.get("KOBENCH_VERBOSE") == "1"


MLFLOW_UI_PORT = 5000  # `kobench ui`'s MLflow UI, which the report links runs to by default
ParamsOpt = Annotated[Path, typer.Option("--params", help="params.yaml to read.")]
TaskOpt = Annotated[str, typer.Option("--task", help="Task name.")]
ModelOpt = Annotated[str, typer.Option("--model", help="Catalogue name, hub id or local model directory.")]


def run_options(*, recipe: bool = True) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The option group of ``train``, ``tune`` and ``reproduce``, made from ``settings.RunConfig``'s declaration.

    Each setting with a ``help`` becomes an option (``--batch-size``, ``--precision``, ...) placed before
    ``--params``; the command receives those given as ``**given`` and ``config.check_options`` checks them as
    params.yaml checks the same keys. ``recipe=False`` leaves out what a task's published recipe fixes.
    """

    def add(command: Callable[..., None]) -> Callable[..., None]:
        signature = inspect.signature(command, eval_str=True)
        keep = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in signature.parameters.values()
                if p.kind is not inspect.Parameter.VAR_KEYWORD]  # fmt: skip
        group = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=_setting_option(name))
            for name in settings.options(recipe=recipe)
        ]
        at = next(i for i, p in enumerate(keep) if p.name == "params_file")
        command.__signature__ = signature.replace(parameters=[*keep[:at], *group, *keep[at:]])
        command.__annotations__ = {**command.__annotations__, **{p.name: p.annotation for p in group}}
        return command

    return add


def _setting_option(name: str) -> Any:
    """``Optional[float|int|str]`` with the declared help (a choice is a string, checked by ``check_options``)."""
    return Annotated[Optional[settings.kind(name)], typer.Option(help=settings.SETTINGS[name].help)]  # noqa: UP045


def _given(values: dict[str, Any]) -> dict[str, Any]:
    """The setting options that were given on the command line."""
    return {name: value for name, value in values.items() if value is not None}


SplitsOpt = Annotated[Optional[str], typer.Option("--splits", help="Comma-separated subset of train,validation,test.")]


def _splits(value: str | None, params, task: str) -> tuple[str, ...]:  # noqa: ANN001
    if value is None:
        return params.splits_for(task)
    splits = tuple(s.strip() for s in value.split(",") if s.strip())
    bad = [s for s in splits if s not in ("train", "validation", "test")]
    if bad or not splits:
        raise KobenchError(f"--splits: unknown split {bad[0] if bad else value!r}; allowed: train, validation, test")
    if len(set(splits)) != len(splits):
        raise KobenchError(f"--splits {value!r}: a split is listed twice; list each once")
    return splits


@app.command()
def fetch(
    task: str,
    mirror: Annotated[Optional[Path], typer.Option(help="Local mirror laid out as DIR/TASK/... .")] = None,
    splits: SplitsOpt = None,
    params_file: ParamsOpt = Path("params.yaml"),
) -> None:
    """Download (or copy from a mirror) and verify the upstream files of TASK into data/raw/TASK."""
    from kobench.config import load_params
    from kobench.data.fetch import fetch_task
    from kobench.tasks import get_task

    params = load_params(params_file, missing_ok=True)
    spec = get_task(task)
    mirror = mirror or params.data.mirror
    for item in fetch_task(spec, params.base.paths.raw / task, mirror=mirror, splits=_splits(splits, params, task)):
        typer.echo(f"{task}: {item.name} {item.how} -> {item.path}")


@app.command()
def prepare(task: str, splits: SplitsOpt = None, params_file: ParamsOpt = Path("params.yaml")) -> None:
    """Parse data/raw/TASK into data/prepared/TASK/{train,validation,test}.parquet and meta.json."""
    from kobench.config import load_params
    from kobench.data.prepare import prepare_task
    from kobench.tasks import get_task

    params = load_params(params_file, missing_ok=True)
    paths = params.base.paths
    meta = prepare_task(
        get_task(task),
        paths.raw / task,
        paths.prepared / task,
        splits=_splits(splits, params, task),
        validation_fraction=params.data.validation_fraction,
        split_seed=params.data.split_seed,
    )
    counts = ", ".join(f"{s} {info['rows']:,}" for s, info in meta["splits"].items())
    typer.echo(f"{task}: {counts} -> {paths.prepared / task}")


@app.command()
@run_options()
def train(
    task: TaskOpt,
    model: ModelOpt,
    run_name: Annotated[Optional[str], typer.Option(help="Folder name under outputs/<task>/<model>/.")] = None,
    register: Annotated[bool, typer.Option(help="Register the run's model (@champion moves if it is better).")] = False,
    track: Annotated[bool, typer.Option(help="Log the run to MLflow (--no-track: only the output folder).")] = True,
    params_file: ParamsOpt = Path("params.yaml"),
    **given: Any,
) -> None:
    """Fine-tune MODEL on TASK once: best checkpoint on validation, scored once on test, tracked in MLflow."""
    import dataclasses
    import json

    from kobench.engine.devices import lease, resolve_slots
    from kobench.engine.training import train as train_run
    from kobench.names import run_dir

    if register and not track:
        raise KobenchError("--register needs tracking: drop --no-track")
    params, spec, ref, config = _run_setup(params_file, task, model, given)
    paths = params.base.paths
    stores = {"MLflow store": _tracking_uri(params)} if track else None
    _preflight(params, spec, ref, config, stores)
    folder = run_dir(paths.outputs, task, ref.slug, run_name)
    with lease(resolve_slots(params.train.devices, params.train.trials_per_device), f"train {task} {ref.key}") as held:
        if held is not None:
            config = dataclasses.replace(config, device=held.slot.device)
        where = {"prepared_dir": paths.prepared / task, "run_dir": folder, "features_dir": paths.features}
        if track:
            from kobench.tuning.single import tracked_train

            result, run_id = tracked_train(spec, ref, config, tracker=_tracker(params), register=register, **where)
        else:
            result, run_id = train_run(spec, ref, config, **where), None
    summary = {k: getattr(result, k) for k in ("task", "model", "protocol", "validation", "test")}
    typer.echo(json.dumps({**summary, "mlflow_run_id": run_id}, indent=2, ensure_ascii=False, default=str))


@app.command()
def score(
    task: str,
    predictions: Annotated[Path, typer.Option("--predictions", help='JSONL of {"id", "prediction"}.')],
    split: Annotated[str, typer.Option(help="Gold split to score against.")] = "test",
    params_file: ParamsOpt = Path("params.yaml"),
) -> None:
    """Score a predictions file against the prepared gold split; print the metrics as JSON."""
    import json

    from kobench.config import load_params
    from kobench.engine.scoring import score_file
    from kobench.tasks import get_task

    params = load_params(params_file, missing_ok=True)
    metrics = score_file(get_task(task), params.base.paths.prepared / task, predictions, split)
    typer.echo(json.dumps(metrics, indent=2, ensure_ascii=False))


@app.command()
def compare(
    systems: Annotated[list[str], typer.Argument(help="Two or more: study names (<task>-<model> or the model key), "
                                                      "models:/name@alias or models:/name/version, predictions files.")],
    task: TaskOpt,
    json_file: Annotated[Optional[Path], typer.Option("--json", help="Also write the table as JSON here.")] = None,
    params_file: ParamsOpt = Path("params.yaml"),
) -> None:
    """Compare systems on the same test examples: intervals, paired bootstrap, randomization, McNemar, Holm."""
    from kobench.atomic import write_json
    from kobench.config import load_params
    from kobench.report.compare import compare as compare_systems
    from kobench.report.compare import render
    from kobench.tasks import get_task

    params = load_params(params_file, missing_ok=True)

    def download(uri: str, folder: Path) -> Path:
        from kobench.tuning.tracking import Tracker, download_predictions

        tracker = Tracker(_stored_tracking_uri(params, params_file), params.tracking.experiment)
        return download_predictions(tracker, uri, folder)

    result = compare_systems(get_task(task), params, systems, download)
    typer.echo(render(result))
    if json_file is not None:
        write_json(json_file, result.to_json())


@app.command()
def predict(
    task: TaskOpt,
    model_uri: Annotated[str, typer.Option("--model-uri", help="e.g. models:/kobench-nsmc-tiny@champion.")],
    input_file: Annotated[Path, typer.Option("--input", help="JSONL or CSV of the task's input columns (and an id).")],
    output: Annotated[Optional[Path], typer.Option(help="JSONL to write (default: standard output).")] = None,
    params_file: ParamsOpt = Path("params.yaml"),
) -> None:
    """Predict a file with a registered (or any logged) kobench model; the output is what `kobench score` grades."""
    import mlflow

    from kobench.config import load_params
    from kobench.tasks import get_task
    from kobench.tuning.champion import predict_file

    get_task(task)
    params = load_params(params_file, missing_ok=True)

    def store() -> None:  # after the input is checked: a bad input is reported before a missing store
        stored = model_uri.startswith(("models:/", "runs:/"))  # a registered or logged model: read from the store
        mlflow.set_tracking_uri(_stored_tracking_uri(params, params_file) if stored else _tracking_uri(params))

    count = predict_file(task, model_uri, input_file, output, before_load=store)
    if output is not None:
        typer.echo(f"{task}: {count:,} predictions -> {output}")


@app.command("tiny-model")
def tiny_model(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the model and tokenizer to.")],
    arch: Annotated[str, typer.Option(help="bert, electra or roberta.")] = "bert",
    corpus: Annotated[Optional[str], typer.Option(help="Prepared task whose text trains the tokenizer.")] = None,
    vocab_size: Annotated[int, typer.Option(help="Tokenizer vocabulary size (a target).")] = 3000,
    seed: Annotated[int, typer.Option(help="Seed of the random weights.")] = 0,
    params_file: ParamsOpt = Path("params.yaml"),
) -> None:
    """Build a small randomly initialised model with a tokenizer trained on task text (offline use, tests)."""
    from kobench.config import load_params
    from kobench.tools.tiny_corpus import corpus_texts
    from kobench.tools.tiny_model import ARCHS, build_tiny_model

    if arch not in ARCHS:
        raise KobenchError(f"--arch {arch!r}: not allowed; allowed: {', '.join(ARCHS)}")
    if vocab_size < 1:
        raise KobenchError(f"--vocab-size {vocab_size}: at least 1")

    params = load_params(params_file, missing_ok=True)
    texts = corpus_texts(params.base.paths.prepared, corpus)
    build_tiny_model(out, texts, arch=arch, vocab_size=vocab_size, seed=seed)
    typer.echo(f"tiny {arch} model -> {out}")


@app.command()
def models(
    names: Annotated[Optional[list[str]], typer.Argument(help="Catalogue keys (default: every row).")] = None,
    check: Annotated[bool, typer.Option("--check", help="Load each tokenizer and config; one line per row.")] = False,
    weights: Annotated[bool, typer.Option("--weights", help="With --check, load the weights too.")] = False,
    pin: Annotated[
        bool, typer.Option("--pin", help="Write each row's current hub head into params.yaml (needs network).")
    ] = False,
    params_file: ParamsOpt = Path("params.yaml"),
) -> None:
    """List the model catalogue (id, pinned revision, size, parameters, tokenizer kind, cached?) or check rows."""
    from kobench.config import load_params
    from kobench.tools.model_check import check as check_row
    from kobench.tools.model_check import describe, format_table

    params = load_params(params_file, missing_ok=not pin)
    keys = names or list(params.models)
    unknown = [k for k in keys if k not in params.models]
    if unknown:
        from kobench.config import _check_name

        try:
            _check_name(unknown[0], params.models, "model", "models")
        except ValueError as exc:
            raise KobenchError(str(exc)) from None
    if pin:
        from kobench.tools.pins import hub_rows, pin_rows

        for item in pin_rows(params_file, params, hub_rows(params, names)):
            change = "unchanged" if item.old == item.new else f"{item.old or '(main)'} -> {item.new}"
            typer.echo(f"{item.key:<22} {item.repo:<45} {change}")
        return
    if not check:
        typer.echo(format_table([describe(k, params.models[k]) for k in keys]))
        return
    failed = 0
    for key in keys:
        ok, line = check_row(key, params, weights=weights)
        failed += not ok
        typer.echo(("ok    " if ok else "FAIL  ") + line)
    if failed:
        raise typer.Exit(1)


@app.command("hub-fixtures")
def hub_fixtures(
    cache: Annotated[Path, typer.Option("--cache", help="Hub cache folder to write (never the active HF cache).")],
    names: Annotated[Optional[list[str]], typer.Argument(help="Catalogue keys (default: every published row).")] = None,
    corpus: Annotated[Optional[str], typer.Option(help="Prepared task whose text trains the tokenizers.")] = None,
    params_file: ParamsOpt = Path("params.yaml"),
) -> None:
    """Write tiny random-weight stand-ins of the published hub repositories (real layout) for offline tests."""
    from kobench.config import load_params
    from kobench.tools.hub_fixtures import write_hub_fixtures
    from kobench.tools.model_check import fixture_target_is_safe
    from kobench.tools.tiny_corpus import corpus_texts

    fixture_target_is_safe(cache)
    params = load_params(params_file, missing_ok=True)
    rows = {k: v for k, v in params.models.items() if not names or k in names}
    written = write_hub_fixtures(cache, rows, corpus_texts(params.base.paths.prepared, corpus))
    for key, snapshot in written.items():
        typer.echo(f"{key}: {snapshot}")
    typer.echo(f"use with: HF_HUB_CACHE={cache} HF_HUB_OFFLINE=1 kobench train --task ... --model <key>")


@app.command("hanbert-fixture")
def hanbert_fixture(
    out: Annotated[Path, typer.Option("--out", help="Directory to write (e.g. HanBert-54kN-torch); replaced whole.")],
    corpus: Annotated[Optional[str], typer.Option(help="Prepared task whose text trains the vocabulary.")] = None,
    params_file: ParamsOpt = Path("params.yaml"),
) -> None:
    """Write a tiny HanBert-54kN-torch in the vendor layout, with a stand-in analyser built by the C compiler."""
    from kobench.config import load_params
    from kobench.tools.hanbert_fixture import write_vendor_directory
    from kobench.tools.tiny_corpus import corpus_texts

    params = load_params(params_file, missing_ok=True)
    written = write_vendor_directory(out, corpus_texts(params.base.paths.prepared, corpus))
    typer.echo(f"hanbert: {written} (stand-in analyser, random weights)")
    typer.echo(f"use with: models.hanbert.id: {written} in params.yaml, then kobench train --task ... --model hanbert")


@app.command()
@run_options()
def tune(
    task: TaskOpt,
    model: ModelOpt,
    n_trials: Annotated[Optional[int], typer.Option(help="Total trial budget of the study (default tune.n_trials).")] = None,
    storage: Annotated[
        Optional[str],
        typer.Option(help="Optuna storage: an RDB URL, journal:///FILE or grpc://HOST:PORT (default tune.storage)."),
    ] = None,
    workers: Annotated[
        Optional[int], typer.Option(help="Worker processes on this machine (default tune.workers, else one per slot).")
    ] = None,
    worker: Annotated[bool, typer.Option(hidden=True, help="Run trials only (a worker of --workers).")] = False,
    params_file: ParamsOpt = Path("params.yaml"),
    **given: Any,
) -> None:
    """Tune MODEL on TASK with Optuna over tune.search_space; track in MLflow; register the best checkpoint."""
    import time

    started = time.time()  # a concurrent process's final step after this moment is this one's too
    from kobench.config import check_options
    from kobench.engine.devices import resolve_slots
    from kobench.names import StudyPaths, metrics_file, study_outputs
    from kobench.tuning.context import StudyContext
    from kobench.tuning.study import run_study, search_space, work
    from kobench.tuning.workers import use_shared_threads, watch_starter, worker_command

    # a worker of --workers, or a study of `kobench queue`: its share of the cores, and it ends with its starter
    use_shared_threads()
    watch_starter()
    check_options({"n_trials": n_trials, "workers": workers})  # the bounds of tune.n_trials and tune.workers
    params, spec, ref, base = _run_setup(params_file, task, model, given)
    searched = [name for name in _given(given) if name in search_space(params, task, ref).settings()]
    if searched:
        flag = "--" + searched[0].replace("_", "-")
        raise KobenchError(f"{flag}: tuned by the search space; drop the option, or the setting from the space")
    paths = params.base.paths
    url = storage or params.tune.storage
    _preflight(params, spec, ref, base, {"Optuna storage": url, "MLflow store": _tracking_uri(params)})
    study_paths = StudyPaths(
        prepared=paths.prepared / task,
        features=paths.features,
        outputs=study_outputs(paths.outputs, task, ref.slug),
        metrics_file=metrics_file(paths.metrics, task, ref.slug),
    )
    slots = tuple(resolve_slots(params.train.devices, params.train.trials_per_device))
    context = StudyContext(spec, ref, params, base, study_paths, _tracker(params), slots)
    budget = n_trials or params.tune.n_trials
    if worker:
        work(context, n_trials=budget, storage_url=url)
        return
    result = run_study(
        context,
        n_trials=budget,
        storage_url=url,
        workers=workers or params.tune.workers or max(1, len(slots)),
        worker_command=worker_command(sys.argv[1:]),
        started=started,
    )
    if not result.complete:
        # non-zero: DVC must not record the stage as done, so a re-run after the fix trains again
        typer.echo(f"error: study {result.study} has no completed trial: {result.reason}", err=True)
        raise typer.Exit(1)
    main = result.main_metric
    typer.echo(
        f"{result.study}: best trial {result.best_trial} {result.best_params} validation {main} "
        f"{result.validation[main]:.4f} test {main} {result.test[main]:.4f} -> "
        f"{result.registered_model} v{result.registered_version}{' @champion' if result.champion else ''}"
    )


@app.command("storage-proxy")
def storage_proxy(
    storage: Annotated[str, typer.Option(help="The database the proxy serves (an RDB URL, e.g. postgresql+psycopg2://…).")],
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 13000,
    threads: Annotated[int, typer.Option(min=2, help="Server threads answering the workers.")] = 32,
) -> None:
    """Serve an Optuna storage to many `kobench tune --storage grpc://HOST:PORT` workers (until Ctrl-C or SIGTERM)."""
    from sqlalchemy.engine import make_url

    from kobench.tuning.storages import serve_proxy

    shown = make_url(storage).render_as_string(hide_password=True) if "://" in storage else storage
    serve_proxy(storage, host, port, threads=threads, ready=f"serving {shown} at grpc://{host}:{port}")


@app.command()
@run_options(recipe=False)
def reproduce(
    task: TaskOpt,
    model: ModelOpt,
    seeds: Annotated[
        Optional[str], typer.Option(help="Comma-separated seeds (default run.reproduce_seeds, else the recipe's).")
    ] = None,
    stage: Annotated[bool, typer.Option(hidden=True, help="dvc.yaml: do nothing unless run.reproduce is true.")] = False,
    params_file: ParamsOpt = Path("params.yaml"),
    **given: Any,
) -> None:
    """Train the published recipe of TASK x MODEL once per seed (reference protocol); write <model>.recipe.json."""
    from kobench.config import check_options
    from kobench.names import recipe_file, study_outputs
    from kobench.records import RecipeResult, write_recipe

    overrides = check_options(given)
    chosen = _seeds(seeds)
    params, spec, ref = _task_and_model(params_file, task, model)
    paths = params.base.paths
    if stage and not params.run.reproduce:  # answered before torch is imported: a switched-off stage costs nothing
        write_recipe(paths.metrics, task, ref.slug, RecipeResult(complete=0))  # the stage's output
        typer.echo(f"{task}-{ref.slug}: run.reproduce is false, nothing trained")
        return
    from kobench.engine.devices import resolve_slots
    from kobench.engine.runs import recipe_config
    from kobench.tuning.reproduce import reproduce as run_recipe
    chosen = chosen or list(params.run.reproduce_seeds)
    config = recipe_config(params, spec, ref, **overrides)
    _preflight(params, spec, ref, config, {"MLflow store": _tracking_uri(params)})
    summary = run_recipe(
        spec, ref, params, chosen, prepared_dir=paths.prepared / task, outputs=study_outputs(paths.outputs, task, ref.slug),
        features_dir=paths.features, metrics_root=paths.metrics, tracker=_tracker(params),
        slots=resolve_slots(params.train.devices, params.train.trials_per_device), overrides=overrides,
    )  # fmt: skip
    typer.echo(f"{task}-{ref.slug} recipe: test {spec.main_metric} {summary.mean:.4f} ± {summary.std:.4f} "
               f"over {summary.n} seed(s) -> {recipe_file(paths.metrics, task, ref.slug)}")  # fmt: skip


def _seeds(value: str | None) -> list[int]:
    """``--seeds 1,2,3`` as distinct integers (none given: an empty list)."""
    if not value:
        return []
    try:
        seeds = [int(s) for s in value.split(",")]
    except ValueError:
        raise KobenchError(f"--seeds: expected comma-separated integers, got {value!r}") from None
    if len(set(seeds)) != len(seeds):
        raise KobenchError(f"--seeds {value!r}: a seed is listed twice; list each once")
    return seeds


@app.command()
def plan(
    measure: Annotated[bool, typer.Option(help="Time a few training steps where no earlier run recorded one.")] = True,
    workers: Annotated[
        Optional[int], typer.Option(min=1, help="Workers per study for the wall hours (default: the suggested number).")
    ] = None,
    params_file: ParamsOpt = Path("params.yaml"),
) -> None:
    """Before spending: fine-tunes, samples, device-hours and wall hours of the run set, and a suggested --workers."""
    from kobench.config import load_params
    from kobench.tuning.plan import format_cluster, format_plan
    from kobench.tuning.plan import plan as make_plan

    params = load_params(params_file)
    costs = make_plan(params, measure=measure)
    typer.echo(format_plan(costs))
    typer.echo(format_cluster(costs, params.tune.n_trials, workers))


@app.command()
def queue(
    parallel: Annotated[
        Optional[int], typer.Option(help="Studies at once (default: one per device slot, at least one).")
    ] = None,
    params_file: ParamsOpt = Path("params.yaml"),
) -> None:
    """Run every task x model of run.tasks x run.models as parallel studies over the device slots, longest first."""
    from kobench.config import load_params
    from kobench.engine.devices import resolve_slots
    from kobench.tuning.queue import plan
    from kobench.tuning.workers import run_processes

    if parallel is not None and parallel < 1:
        raise KobenchError(f"--parallel {parallel}: at least 1")
    params = load_params(params_file)
    studies = plan(params)
    if not studies:
        raise KobenchError(f"{params_file}: run.tasks x run.models is empty")
    at_once = parallel or max(1, len(resolve_slots(params.train.devices, params.train.trials_per_device)))
    typer.echo(f"{len(studies)} studies, {at_once} at a time, longest first: "
               + ", ".join(f"{s.task}-{s.model}" for s in studies))  # fmt: skip

    def ended(index: int, code: int) -> None:
        study = studies[index]
        typer.echo(f"{study.task}-{study.model}: {'done' if code == 0 else f'failed (exit {code})'}")

    codes = run_processes([s.command(params_file) for s in studies], at_once, on_exit=ended)
    failed = [f"{s.task}-{s.model}" for s, code in zip(studies, codes) if code != 0]
    if failed:
        typer.echo(f"error: {len(failed)} of {len(studies)} studies failed: {', '.join(failed)}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{len(studies)} studies done; `kobench report` builds the table")


@app.command()
def doctor(
    fix: Annotated[bool, typer.Option(help="Fail dead owners' RUNNING trials, end orphaned RUNNING runs.")] = False,
    params_file: ParamsOpt = Path("params.yaml"),
) -> None:
    """Check params, prepared data, the stores, the cache and the devices; exit 1 on a problem."""
    from kobench.tools.doctor import PROBLEM, diagnose, format_findings

    found = diagnose(params_file, None, fix=fix)
    typer.echo(format_findings(found))
    if any(f.status == PROBLEM for f in found):
        raise typer.Exit(1)


@app.command()
def backup(params_file: ParamsOpt = Path("params.yaml")) -> None:
    """Copy the local SQLite stores (Optuna, MLflow) consistently to backups/<timestamp>/."""
    from kobench.config import load_params
    from kobench.tuning.stores import backup as copy_stores
    from kobench.tuning.stores import remove_partial_backups

    params = load_params(params_file, missing_ok=True)
    for leftover in remove_partial_backups():
        typer.echo(f"removed {leftover}: left by a backup that did not finish")
    copies = copy_stores({"Optuna storage": params.tune.storage, "MLflow store": _tracking_uri(params)})
    if not copies:
        raise KobenchError("no local SQLite store to back up (servers back up on their own)")
    for what, path in copies.items():
        typer.echo(f"{what}: {path}")


@app.command()
def report(params_file: ParamsOpt = Path("params.yaml")) -> None:
    """Rebuild the published tables from MLflow champions and metrics/*.json into reports/."""
    from kobench.config import load_params
    from kobench.interrupts import check as check_interrupted
    from kobench.report.tables import report_path, write_report
    from kobench.tuning.plots import study_plots
    from kobench.tuning.tracking import champion_metrics, metric_curves

    params = load_params(params_file)
    import kobench.metrics  # noqa: F401 - the long imports (scikit-learn, scipy, matplotlib) before the first safe point

    if params.report.plots:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot  # noqa: F401
    check_interrupted()  # a signal during the imports: nothing written yet
    # no local store yet: there is no champion to read, and reading must not create a store
    tracker = None if _missing_local_store(params) is not None else _tracker(params)
    storage = params.tune.storage
    uri = _tracking_uri(params)
    ui = params.report.tracking_ui or (uri if uri.startswith(("http://", "https://")) else f"http://127.0.0.1:{MLFLOW_UI_PORT}")

    def checked(step):  # noqa: ANN001, ANN202 - every cell, plot and curve is a safe point to stop at
        def run(*args):  # noqa: ANN002, ANN202
            check_interrupted()
            return step(*args)

        return run

    rows = write_report(
        params,
        champion_metrics=checked(lambda task, model: champion_metrics(tracker, task, model) if tracker else None),
        study_plots=checked(lambda study, out: study_plots(study, storage, out)),
        curves=checked(lambda run_id: metric_curves(tracker, run_id) if tracker else {}),
        run_link=(lambda run: f"{ui.rstrip('/')}/#/experiments/{tracker.experiment_id}/runs/{run}") if tracker else None,
    )
    done = sum(c.status == "complete" for r in rows for c in r.cells.values())
    typer.echo(f"{done} result cell(s) -> {report_path(params)}")


@app.command()
def ui(
    mlflow_port: Annotated[int, typer.Option(help="Port of the MLflow UI.")] = MLFLOW_UI_PORT,
    optuna_port: Annotated[int, typer.Option(help="Port of the Optuna dashboard.")] = 8080,
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    params_file: ParamsOpt = Path("params.yaml"),
) -> None:
    """Start the MLflow UI and the Optuna dashboard over this project's stores; Ctrl-C stops both."""
    from kobench.config import load_params
    from kobench.tools.ui import run, services

    params = load_params(params_file, missing_ok=True)
    raise typer.Exit(run(services(_tracking_uri(params), params.tune.storage, host, mlflow_port, optuna_port)))


def _run_setup(params_file: Path, task: str, model: str, options: dict):  # noqa: ANN202
    """Params, task, model and the RunConfig with every command-line option that was given."""
    from kobench.config import check_options
    from kobench.engine.runs import run_config

    given = check_options(options)  # before anything is loaded: a bad option is one line, nothing created
    params, spec, ref = _task_and_model(params_file, task, model)
    config = run_config(params, spec, ref, **given)
    return params, spec, ref, config


def _tracking_uri(params) -> str:  # noqa: ANN001
    """MLflow: MLFLOW_TRACKING_URI or tracking.mlflow_uri (load_params applied the first), else MLflow's default."""
    from kobench.config import MLFLOW_DEFAULT_URI

    return params.tracking.mlflow_uri or MLFLOW_DEFAULT_URI


def _missing_local_store(params) -> Path | None:  # noqa: ANN001
    """The local SQLite MLflow store that does not exist yet (reading must not create it); None otherwise."""
    from kobench.storelock import sqlite_path

    local = sqlite_path(_tracking_uri(params))
    return local if local is not None and not local.exists() else None


def _stored_tracking_uri(params, params_file: Path) -> str:  # noqa: ANN001
    """The tracking URI for commands that only read: a local store that does not exist is one line, not created."""
    if (local := _missing_local_store(params)) is not None:
        where = "" if params_file.exists() else f"; no {params_file} here either: run from the project root"
        raise KobenchError(f"no MLflow store at {local.resolve()}: nothing has been tracked here{where} "
                           "(or set MLFLOW_TRACKING_URI to the tracking server)")
    return _tracking_uri(params)


def _tracker(params):  # noqa: ANN001, ANN202
    from kobench.tuning.tracking import Tracker

    return Tracker(_tracking_uri(params), params.tracking.experiment, system_metrics=params.tracking.log_system_metrics)


def _preflight(params, spec, ref, config, stores: dict[str, str] | None = None) -> None:  # noqa: ANN001
    """Data, model, device and stores checked before anything is created (one line and exit 2 otherwise)."""
    from kobench.engine.preflight import preflight

    preflight(
        spec,
        ref,
        prepared_dir=params.base.paths.prepared / spec.name,
        splits=("train", "validation", "test"),
        device=config.device,
        precision=config.precision,
        stores=stores,
    )


def _task_and_model(params_file: Path, task: str, model: str):  # noqa: ANN202
    from kobench.config import load_params
    from kobench.engine.models import resolve_model
    from kobench.tasks import get_task

    params = load_params(params_file, missing_ok=True)
    return params, get_task(task), resolve_model(model, params)


# --- studies on a cluster through its scheduler (Slurm, Kubernetes); extra options are kobench tune's ---
ClusterTune = {"allow_extra_args": True, "ignore_unknown_options": True}
ClusterWorkersOpt = Annotated[int, typer.Option(min=1, help="Tasks at once: one worker each; task 0 also finalises.")]


@app.command(context_settings=ClusterTune)
def slurm(  # noqa: PLR0913
    ctx: typer.Context,
    task: TaskOpt,
    model: ModelOpt,
    workers: ClusterWorkersOpt,
    gres: Annotated[Optional[str], typer.Option(help="Per task, e.g. gpu:1 (default: the cluster's).")] = None,
    time: Annotated[Optional[str], typer.Option(help="Time limit per task, e.g. 12:00:00.")] = None,
    partition: Annotated[Optional[str], typer.Option(help="Slurm partition.")] = None,
    nodelist: Annotated[
        Optional[str], typer.Option(help="Run every task on these nodes (one node: SQLite stores allowed).")
    ] = None,
    cpus_per_task: Annotated[Optional[int], typer.Option(min=1, help="CPUs per task.")] = None,
    mem: Annotated[Optional[str], typer.Option(help="Memory per task, e.g. 32G.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="The script (default slurm/<task>-<model>.sbatch).")] = None,
    submit: Annotated[bool, typer.Option(help="Run sbatch on it.")] = False,
    params_file: ParamsOpt = Path("params.yaml"),
) -> None:
    """Write a Slurm array script of WORKERS tasks on one study (--submit: sbatch it); other options go to kobench tune."""
    from kobench.atomic import write_text
    from kobench.tuning.cluster import check_shared_stores
    from kobench.tuning.slurm import SlurmJob, sbatch_script
    from kobench.tuning.slurm import submit as sbatch

    tune_args, options, params, study = _cluster_tune(ctx.args, task, model, params_file)
    storage = options["storage"] or params.tune.storage
    one_node = nodelist is not None and "," not in nodelist and "[" not in nodelist
    check_shared_stores({"Optuna storage": storage, "MLflow store": _tracking_uri(params)}, workers, one_node=one_node)
    project = Path.cwd().resolve()
    job = SlurmJob(f"kobench-{study}", workers, project, project / "slurm" / "logs", gres, time, partition, nodelist,
                   cpus_per_task, mem)  # fmt: skip
    script = out or Path("slurm") / f"{study}.sbatch"
    job.logs.mkdir(parents=True, exist_ok=True)  # sbatch does not create the logs' folder: the tasks would vanish
    write_text(script, sbatch_script(job, [sys.executable, "-m", "kobench.cli"], tune_args))
    logs = job.logs / f"{job.name}-%A_%a.log"
    typer.echo(f"{script}: {workers} array task(s) on study {study}; logs {logs}")
    if submit:
        job_id = sbatch(script)
        logs = job.logs / f"{job.name}-{job_id}_<task>.log"
        typer.echo(f"submitted job {job_id}: logs {logs}; stop it with scancel {job_id}")


@app.command("k8s-job", context_settings=ClusterTune)
def k8s_job(  # noqa: PLR0913
    ctx: typer.Context,
    task: TaskOpt,
    model: ModelOpt,
    workers: ClusterWorkersOpt,
    image: Annotated[str, typer.Option(help="Container image with kobench installed.")],
    secret: Annotated[str, typer.Option(help="Secret with the stores' URLs and credentials.")] = "kobench-stores",
    gpus: Annotated[int, typer.Option(min=0, help="nvidia.com/gpu per pod.")] = 1,
    workdir: Annotated[str, typer.Option(help="The project folder in the container.")] = "/project",
    claim: Annotated[Optional[str], typer.Option(help="PersistentVolumeClaim mounted at --workdir.")] = None,
    name: Annotated[Optional[str], typer.Option(help="The Job's name (default kobench-<task>-<model>).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Write the manifest here (default: print it).")] = None,
    params_file: ParamsOpt = Path("params.yaml"),
) -> None:
    """Render a Kubernetes Indexed Job of WORKERS pods on one study; other options go to kobench tune."""
    from kobench.atomic import write_text
    from kobench.tuning.kubernetes import indexed_job, job_name, to_yaml

    tune_args, _, _, study = _cluster_tune(ctx.args, task, model, params_file)
    manifest = indexed_job(name or job_name(study), workers=workers, image=image, tune_args=tune_args, secret=secret,
                           gpus=gpus, workdir=workdir, claim=claim)  # fmt: skip
    if out is None:
        typer.echo(to_yaml(manifest), nl=False)
        return
    write_text(out, to_yaml(manifest))
    typer.echo(f"{out}: Job {manifest['metadata']['name']}, {workers} pod(s) on study {study}; kubectl apply -f {out}")


def _cluster_tune(extra: list[str], task: str, model: str, params_file: Path):  # noqa: ANN202
    """``kobench tune``'s arguments for a cluster task, as tune parses them, params and the study name."""
    from kobench.names import study_name
    from kobench.tuning.cluster import check_tune_args

    check_tune_args(extra)
    args = ["tune", "--task", task, "--model", model, *extra]
    if params_file != Path("params.yaml"):
        args += ["--params", str(params_file)]
    options = _cluster_tune_options(args)
    params, spec, ref = _task_and_model(params_file, task, model)
    return args, options, params, study_name(spec.name, ref.slug)


def _cluster_tune_options(args: list[str]) -> dict:
    """``args`` (``tune …``) parsed by the tune command itself: an unknown or malformed option is one line."""
    import shlex

    import click

    command = typer.main.get_command(app).commands["tune"]  # type: ignore[attr-defined]
    try:
        with command.make_context("kobench tune", list(args[1:])) as context:
            return dict(context.params)
    except click.ClickException as exc:
        raise KobenchError(f"kobench {shlex.join(args)}: {exc.format_message()}") from None


def main() -> None:
    """Entry point: user-facing errors become one line on stderr and exit code 2."""
    from kobench.interrupts import received, stop_on_signals

    if _verbose(sys.argv[1:]):
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    else:
        _quiet_libraries()
    stop_on_signals()
    try:
        app()
    except KobenchError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except (KeyboardInterrupt, SystemExit) as exc:
        # typer turns an interruption into exit 130; the code tells which signal it was: 130 SIGINT, 143 SIGTERM
        if isinstance(exc, SystemExit) and received() is None:
            raise
        signum = received() or signal.SIGINT
        typer.echo(f"interrupted ({signal.Signals(signum).name})", err=True)
        # every clean-up ran in the finally blocks above; skip the interpreter's teardown of torch, transformers
        # and MLflow, which took 10 s after a SIGTERM on a loaded machine (a scheduler's grace period is finite)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(128 + signum)


if __name__ == "__main__":
    main()
