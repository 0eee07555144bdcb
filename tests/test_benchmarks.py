"""Every script under benchmarks/ runs end to end on CPU in its ``--quick`` mode and ends with its figures.

Benchmarks are scripts that print figures, not timed tests: these tests only assert that each one runs
through (every section, no error) and that its last line is the parseable summary the README documents.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

pytestmark = pytest.mark.slow


def run_script(script: str, *args: str, cwd: Path) -> tuple[dict[str, str], str]:
    """Run ``benchmarks/<script> --quick ARGS`` from ``cwd``: (the last line's key=value fields, stdout)."""
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert proc.returncode == 0, f"{script} exited {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    last = proc.stdout.strip().splitlines()[-1]
    fields = dict(token.split("=", 1) for token in last.split() if "=" in token)
    assert fields, f"{script}: no key=value figures in its last line: {last!r}"
    return fields, proc.stdout


def positive(value: str) -> float:
    number = float(value)
    assert math.isfinite(number) and number > 0, value
    return number


def test_throughput_quick(tmp_path: Path) -> None:
    out = tmp_path / "throughput.json"
    fields, stdout = run_script("throughput.py", "--json", str(out), cwd=tmp_path)
    ratios = ("speedup_vs_reference", "speedup_vs_trainer_default", "speedup_vs_trainer_grouped", "dropout_lever")
    for key in (*ratios, "paired_vs_trainer_grouped"):
        positive(fields[key])
    assert 0 <= float(fields["loss_gap"]) and fields["loss_ok"] == "True"
    figures = json.loads(out.read_text())
    assert set(figures["train"]) == {"kobench", "reference", "trainer", "trainer_grouped", "kobench_torch_dropout"}
    assert all(positive(str(s["samples_per_second"])) and s["loss"] > 0 for s in figures["train"].values())
    assert positive(str(figures["crosscheck"]["train_samples_per_second"]))  # a real training.train() ran
    runs = zip(figures["train_runs"]["kobench"], figures["train_runs"]["trainer_grouped"], strict=True)
    by_round = [a["train_samples_per_second"] / b["train_samples_per_second"] for a, b in runs]
    assert figures["paired_vs_trainer_grouped_by_round"] == pytest.approx(by_round)
    interval = figures["paired_vs_trainer_grouped_interval"]
    assert interval["low"] <= figures["speedups"]["paired_vs_trainer_grouped"] <= interval["high"]
    assert float(fields["paired_low"]) == pytest.approx(interval["low"], abs=0.005)
    assert float(fields["paired_high"]) == pytest.approx(interval["high"], abs=0.005)
    assert "WARNING" not in stdout  # the evaluation variants agree on accuracy


def test_median_interval_is_the_order_statistics_with_binomial_coverage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import _common

    rounds = [1.62, 1.13, 1.32, 1.42, 1.20, 1.34, 1.35, 1.32, 1.42]
    low, high, coverage = _common.median_interval(rounds)
    # n = 9: x(2)..x(8) covers 1 - 2 * (1 + 9) / 512 = 96.1 %; x(3)..x(7) only 82 %
    assert (low, high) == (1.20, 1.42) and coverage == pytest.approx(1 - 20 / 512)
    low, high, coverage = _common.median_interval(rounds, confidence=0.8)
    assert (low, high) == (1.32, 1.42) and coverage == pytest.approx(1 - 2 * 46 / 512)
    assert _common.median_interval([3.0, 1.0, 2.0]) == (1.0, 3.0, 0.75)  # too few rounds: the range, and its coverage
    assert all(math.isnan(v) for v in _common.median_interval([]))
    # 30 rounds: k = 10 (1 - 2 P(X <= 9) = 95.7 %), k = 11 falls to 90.1 %
    low, high, coverage = _common.median_interval([float(v) for v in range(30)])
    assert (low, high) == (9.0, 20.0) and 0.95 <= coverage < 0.96


def test_setup_frozen_pins_no_garbage_and_unfreezes(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc
    import weakref

    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import _common

    class Node:
        pass

    garbage = Node()
    garbage.self = garbage  # a reference cycle: only the collector frees it
    dead = weakref.ref(garbage)
    del garbage
    before = gc.get_freeze_count()
    with _common.setup_frozen():
        assert dead() is None, "garbage made before the freeze was frozen instead of collected"
        assert gc.get_freeze_count() > before
        made = Node()
        made.self = made
        made_ref = weakref.ref(made)
        del made
        gc.collect()
        assert made_ref() is None, "what the runs make is still collected"
    assert gc.get_freeze_count() == before


def test_gpu_check_quick_runs_every_section_on_cpu(tmp_path: Path) -> None:
    fields, _ = run_script("gpu_check.py", "--device", "cpu", "--simulate-device-env", "--out", str(tmp_path), cwd=tmp_path)
    assert fields["errors"] == "0"
    for key in ("speedup_vs_reference", "speedup_vs_trainer_default", "speedup_vs_trainer_grouped"):
        positive(fields[key])
    assert positive(fields["paired_low"]) <= positive(fields["paired_vs_trainer_grouped"]) <= positive(fields["paired_high"])
    assert 0 <= float(fields["finetune_test_accuracy"]) <= 1
    assert [positive(v) for v in fields["trials_per_hour_1_2"].split("/")]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert {"throughput", "eval", "finetune", "trials_per_device"} <= set(report) and report["errors"] == []
    assert set(report["throughput"]["summary"]) == {"kobench", "reference", "trainer", "trainer_grouped"}
    assert "kobench.engine.models" in report["stubbed_modules"]  # ran without pydantic, as on the GPU machine
    assert "kobench.engine.models" in report["trials_per_device"]["stubbed_modules"]  # and so did its trial processes


def test_trial_overhead_quick(tmp_path: Path) -> None:
    out = tmp_path / "overhead.json"
    fields, _ = run_script("trial_overhead.py", "--json", str(out), cwd=tmp_path)
    positive(fields["study_wall_s"])
    assert 0 < float(fields["non_training_share"]) < 1
    figures = json.loads(out.read_text())
    assert figures["study"]["trials"] == 2 and figures["study"]["phases"]["training steps"] > 0
    assert figures["checkpoint"]["save_pretrained_s"] > 0
    assert set(figures["imports"]) == {"kobench --help", "import kobench.cli"}  # --quick: the light ones


@pytest.mark.parametrize("tokenizer", ["wordpiece", "hanbert"])
def test_korquad_features_quick(tmp_path: Path, tokenizer: str, request: pytest.FixtureRequest) -> None:
    if tokenizer == "hanbert":
        request.getfixturevalue("analyser_buildable")
    fields, _ = run_script("korquad_features.py", "--tokenizer", tokenizer, cwd=tmp_path)
    assert fields["tokenizer"] == tokenizer and int(fields["questions"]) == 300
    assert int(fields["features"]) > 300  # long contexts become several windows
    positive(fields["features_per_second"])


def test_uncertainty_quick(tmp_path: Path) -> None:
    fields, stdout = run_script("uncertainty.py", cwd=tmp_path)
    positive(fields["nsmc_interval_s"])
    positive(fields["report_s"])
    assert fields["comparisons"] == "8" and fields["cells"] == "16"  # 8 tasks x 2 rows: one comparison per column
    assert "NSMC interval: 1,000 examples, 10,000 resamples" in stdout


def test_study_quick(tmp_path: Path) -> None:
    out = tmp_path / "study.json"
    twice = ("--evals-per-epoch", "2", "--trainer-evals-per-epoch", "2")
    fields, stdout = run_script("study.py", "--json", str(out), *twice, cwd=tmp_path)
    for key in ("kobench_seconds", "trainer_seconds", "speedup"):
        positive(fields[key])
    for key in ("kobench_best", "trainer_best"):
        assert 0 <= float(fields[key]) <= 1
    assert fields["time_to_peer_best"] == "none" or positive(fields["time_to_peer_best"])
    figures = json.loads(out.read_text())
    for side in ("kobench", "trainer"):
        assert len(figures[side]["trials"]) == 2 and figures[side]["phases"]["training steps"] > 0
    # the same sampler seed, names and order: both studies draw the same hyperparameters
    assert [(t["lr"], t["epochs"]) for t in figures["kobench"]["trials"]] == [
        (t["lr"], t["epochs"]) for t in figures["trainer"]["trials"]
    ]
    # both reported to the pruner twice an epoch (kobench's evals_per_epoch, the peer's callback)
    for side in ("kobench", "trainer"):
        for t in figures[side]["trials"]:
            assert t["reports"] == 2 * t["epochs_trained"], (side, t)
            assert t["state"] != "COMPLETE" or t["epochs_trained"] == t["epochs"], (side, t)
    assert figures["kobench"]["phases"]["tracking (MLflow)"] > 0 and "wall time by exclusive phase" in stdout


def test_study_refuses_fewer_than_one_evaluation_an_epoch(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "study.py"), "--quick", "--trainer-evals-per-epoch", "0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines()[-1] == "study.py: error: --trainer-evals-per-epoch must be at least 1, got 0"
