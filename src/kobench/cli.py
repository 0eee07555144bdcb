"""Command line: thin commands that dvc.yaml calls; heavy libraries are imported inside each command."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from kobench.errors import KobenchError

app = typer.Typer(
    help="kobench: fine-tune, tune and report Korean language models on the KoELECTRA benchmark tasks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
ParamsOpt = Annotated[Path, typer.Option("--params", help="params.yaml to read.")]
SplitsOpt = Annotated[
    Optional[str], typer.Option("--splits", help="Comma-separated subset of train,validation,test.")
]


def _splits(value: str | None, params, task: str) -> tuple[str, ...]:  # noqa: ANN001
    if value is None:
        return params.splits_for(task)
    splits = tuple(s.strip() for s in value.split(",") if s.strip())
    bad = [s for s in splits if s not in ("train", "validation", "test")]
    if bad or not splits:
        raise KobenchError(f"--splits: unknown split {bad[0] if bad else value!r}; allowed: train, validation, test")
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
    from kobench.fetch import fetch_task
    from kobench.tasks import get_task

    params = load_params(params_file, missing_ok=True)
    spec = get_task(task)
    env_mirror = os.environ.get("KOBENCH_MIRROR")
    mirror = mirror or (Path(env_mirror) if env_mirror else None) or params.data.mirror
    for item in fetch_task(spec, params.base.paths.raw / task, mirror=mirror, splits=_splits(splits, params, task)):
        typer.echo(f"{task}: {item.name} {item.how} -> {item.path}")


@app.command()
def prepare(task: str, splits: SplitsOpt = None, params_file: ParamsOpt = Path("params.yaml")) -> None:
    """Parse data/raw/TASK into data/prepared/TASK/{train,validation,test}.parquet and meta.json."""
    from kobench.config import load_params
    from kobench.prepare import prepare_task
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


def main() -> None:
    """Entry point: user-facing errors become one line on stderr and exit code 2."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        app()
    except KobenchError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
