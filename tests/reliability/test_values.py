"""Every value is checked where it enters: params.yaml and command-line options share one typed definition,
and a bad value is one line naming the key (or option) and what it allows, exit 2, nothing created."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kobench.cli import app
from kobench.errors import ConfigError, KobenchError

CREATED = ("optuna.db", "mlflow.db", "mlruns", "outputs", "metrics", "reports", "data")


def _nothing_created(root: Path) -> bool:
    return not any((root / name).exists() for name in CREATED)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the in-process commands read ./params.yaml


def _project(tmp_path: Path, text: str = "") -> Path:
    (tmp_path / "params.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def test_an_lr_range_from_zero_is_refused_at_load_by_the_real_cli(tmp_path: Path) -> None:
    # issue case: lr low 0 on a log scale made every trial fail while sampling, and the study never ended
    project = _project(tmp_path, "tune: {search_space: {lr: {low: 0, high: 1.0e-3}}}\n")
    result = subprocess.run([sys.executable, "-m", "kobench.cli", "tune", "--task", "nsmc", "--model", "tiny"],
                            cwd=project, capture_output=True, text=True, env=dict(os.environ), timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: params.yaml: key 'tune.search_space.lr.low': Input should be greater than 0 (got 0)"
    ]
    assert _nothing_created(project)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("tune: {search_space: {epochs: {low: 0, high: 0}}}",
         "key 'tune.search_space.epochs.low': Input should be greater than or equal to 1"),
        ("tune: {search_space: {epochs: {low: 1, high: 1.5}}}",
         "key 'tune.search_space.epochs.high': Input should be a valid integer (got 1.5)"),
        ("tune: {search_space: {lr: {low: '1e-5', high: 1.0e-3}}}",
         "key 'tune.search_space.lr.low': Input should be a valid number (got '1e-5')"),
        ("tune: {search_space: {lr: {low: 1.0e-3, high: 1.0e-5}}}", "key 'tune.search_space.lr': low 0.001 > high 1e-05"),
        ("models: {t: {id: x, search_space: {lr: {low: -1.0, high: 1.0}}}}",
         "key 'models.t.search_space.lr.low': Input should be greater than 0"),
        ("tune: {n_trials: 0}", "key 'tune.n_trials': Input should be greater than or equal to 1 (got 0)"),
        ("tune: {n_trials: true}", "key 'tune.n_trials': Input should be a valid integer (got True)"),
        ("train: {batch_size: 0}", "key 'train.batch_size': Input should be greater than or equal to 1 (got 0)"),
        ("report: {tracking_ui: mlflow.lab}", "key 'report.tracking_ui': must be an http(s):// address (got 'mlflow.lab')"),
        ("train: {eval_batch_size: '64'}", "key 'train.eval_batch_size': Input should be a valid integer (got '64')"),
        ("train: {precision: fp16}", "key 'train.precision': not allowed; allowed: auto, fp32, bf16 (got 'fp16')"),
        ("train: {selection: tset}", "key 'train.selection': not allowed; allowed: validation, test (got 'tset')"),
        ("train: {padding: longest}", "key 'train.padding': not allowed; allowed: dynamic, max_length (got 'longest')"),
        ("train: {device: gpu}", "key 'train.device': not allowed; allowed: auto, cpu, cuda (got 'gpu')"),
        ("run: {tasks: [nsmc, korsts, nsmc]}", "key 'run.tasks': 'nsmc' is listed twice; list each once"),
        ("models: {a: {id: x}}\nrun: {models: [a, a]}", "key 'run.models': 'a' is listed twice; list each once"),
        ("tune: {final_seeds: [1, 1]}", "key 'tune.final_seeds': 1 is listed twice; list each once"),
    ],
)
def test_a_bad_value_in_params_yaml_is_one_line_and_creates_nothing(tmp_path: Path, text: str, fragment: str) -> None:
    project = _project(tmp_path, text)
    out = CliRunner().invoke(app, ["tune", "--task", "nsmc", "--model", "tiny"], catch_exceptions=True)
    assert isinstance(out.exception, ConfigError), out.output
    message = str(out.exception)
    assert message.startswith("params.yaml: ") and fragment in message and "\n" not in message
    assert _nothing_created(project)


def test_yaml_exponents_without_a_dot_are_numbers(tmp_path: Path) -> None:
    from kobench.config import load_params

    params = load_params(_project(tmp_path, "tune: {search_space: {lr: {low: 1e-5, high: 3E-4}}}\n") / "params.yaml")
    assert (params.tune.search_space.lr.low, params.tune.search_space.lr.high) == (1e-5, 3e-4)


@pytest.mark.parametrize(
    ("command", "args", "message"),
    [
        ("train", ["--precision", "fp16"], "--precision 'fp16': not allowed; allowed: auto, fp32, bf16"),
        ("train", ["--selection", "tset"], "--selection 'tset': not allowed; allowed: validation, test"),
        ("train", ["--padding", "longest"], "--padding 'longest': not allowed; allowed: dynamic, max_length"),
        ("train", ["--device", "gpu"], "--device 'gpu': not allowed; allowed: auto, cpu, cuda"),
        ("train", ["--lr", "0"], "--lr 0.0: Input should be greater than 0"),
        ("train", ["--epochs", "0"], "--epochs 0: Input should be greater than or equal to 1"),
        ("train", ["--batch-size", "0"], "--batch-size 0: Input should be greater than or equal to 1"),
        ("train", ["--max-seq-len", "8"], "--max-seq-len 8: Input should be greater than 8"),
        ("tune", ["--n-trials", "0"], "--n-trials 0: Input should be greater than or equal to 1"),
        ("tune", ["--workers", "0"], "--workers 0: Input should be greater than or equal to 1"),
        ("tune", ["--max-train-samples", "0"], "--max-train-samples 0: Input should be greater than or equal to 1"),
        ("tune", ["--precision", "fp16"], "--precision 'fp16': not allowed; allowed: auto, fp32, bf16"),
        ("reproduce", ["--device", "tpu"], "--device 'tpu': not allowed; allowed: auto, cpu, cuda"),
        ("reproduce", ["--seeds", "1,1"], "--seeds '1,1': a seed is listed twice; list each once"),
    ],
)
def test_a_bad_option_is_refused_as_params_yaml_refuses_its_key(
    tmp_path: Path, command: str, args: list[str], message: str
) -> None:
    project = _project(tmp_path)
    out = CliRunner().invoke(app, [command, "--task", "nsmc", "--model", "tiny", *args])
    assert isinstance(out.exception, KobenchError) and str(out.exception) == message, out.output
    assert _nothing_created(project)


def test_a_bad_option_exits_2_with_one_line_through_the_real_cli(tmp_path: Path) -> None:
    project = _project(tmp_path)
    result = subprocess.run([sys.executable, "-m", "kobench.cli", "train", "--task", "nsmc", "--model", "tiny",
                             "--precision", "fp16"], cwd=project, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: --precision 'fp16': not allowed; allowed: auto, fp32, bf16"]
    assert _nothing_created(project)


def test_the_runtime_refuses_an_unknown_precision_or_device() -> None:
    from kobench.engine.runtime import Runtime

    with pytest.raises(KobenchError, match=r"train.precision 'fp16': not allowed; allowed: auto, fp32, bf16"):
        Runtime.create("cpu", "fp16")
    with pytest.raises(KobenchError, match=r"train.device 'gpu': not allowed"):
        Runtime.create("gpu", "fp32")
    assert Runtime.create("cpu", "fp32").precision == "fp32"


def test_duplicate_splits_are_refused(tmp_path: Path) -> None:
    project = _project(tmp_path)
    out = CliRunner().invoke(app, ["prepare", "nsmc", "--splits", "test,test"])
    assert str(out.exception) == "--splits 'test,test': a split is listed twice; list each once"
    assert _nothing_created(project)


@pytest.mark.parametrize("command", [["plan", "--no-measure"], ["queue"], ["doctor"]])
def test_a_task_listed_twice_is_refused_by_every_command_that_reads_the_run_set(tmp_path: Path, command: list) -> None:
    project = _project(tmp_path, "run: {tasks: [nsmc, nsmc], models: []}\n")
    out = CliRunner().invoke(app, command)
    text = str(out.exception) if isinstance(out.exception, KobenchError) else out.output
    assert "key 'run.tasks': 'nsmc' is listed twice; list each once" in text and out.exit_code != 0
    assert _nothing_created(project)


@pytest.mark.parametrize(("variable", "value"), [("KOBENCH_TORCH_THREADS", "0"), ("KOBENCH_TORCH_THREADS", "two"),
                                                 ("KOBENCH_STARTED_BY", "-5")])  # fmt: skip
def test_a_bad_process_variable_is_one_line_before_tune_does_anything(tmp_path: Path, variable: str, value: str) -> None:
    project = _project(tmp_path)
    env = {**os.environ, variable: value}
    result = subprocess.run([sys.executable, "-m", "kobench.cli", "tune", "--task", "nsmc", "--model", "tiny"],
                            cwd=project, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {variable}={value!r}: not a whole number >= 1 (kobench sets it for the processes it starts)"
    ]
    assert _nothing_created(project)
