"""Hermetic test environment: nothing is written outside the test's directories, no network is used."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

ROOT = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("KOBENCH_TEST_MIRROR", ROOT.parent / "shared" / "datasets"))


# Set before any test module is collected: huggingface_hub reads HF_HUB_OFFLINE once, at import time.
_HOME = Path(tempfile.mkdtemp(prefix="kobench-tests-"))
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
os.environ.update(
    HF_HUB_OFFLINE="1",
    TRANSFORMERS_OFFLINE="1",
    HF_HOME=str(_HOME / "hf"),
    MLFLOW_DISABLE_TELEMETRY="true",
    DVC_NO_ANALYTICS="1",
    DVC_SITE_CACHE_DIR=str(_HOME / "dvc-site"),
    MPLCONFIGDIR=str(_HOME / "mpl"),
    TOKENIZERS_PARALLELISM="false",
    KOBENCH_CACHE=str(_HOME / "kobench-cache"),
    # `mlflow server`/`mlflow ui` would start seven job-runner processes, each importing mlflow, that no test uses
    MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
)
if os.environ.get("PYTEST_XDIST_WORKER"):
    # two test workers on a 2-core machine: one torch thread each (children inherit it) instead of 2 x 2 thrashing
    os.environ.setdefault("OMP_NUM_THREADS", "1")
import fork_server  # noqa: E402 - kobench commands and benchmark scripts start without re-importing torch & co

fork_server.install()
for _name in ("KOBENCH_MIRROR", "KOBENCH_OPTUNA_STORAGE", "MLFLOW_TRACKING_URI", "HF_TOKEN"):
    os.environ.pop(_name, None)


# End-to-end modules and tests (real DVC runs, studies, servers, worker processes, signals, the benchmarks, the real
# data): marked `slow`, so `pytest -m "not slow"` is the quick inner loop. The default run still runs them all.
SLOW = (
    "tests/pipeline/",
    "tests/test_benchmarks.py",
    "tests/test_ui.py",
    "tests/test_real_training.py",
    "tests/test_train_tracking.py",
    "tests/test_progress.py",
    "tests/test_models.py",
    "tests/test_hub_rows.py",
    "tests/test_report_browser.py",
    "tests/tuning/",
    "tests/reliability/test_crashes.py",
    "tests/reliability/test_preflight.py",
    "tests/reliability/test_file_modes.py",
    "tests/reliability/test_resource_faults.py",
    "tests/reliability/test_signals.py",
    "tests/reliability/test_security.py",
    "tests/reliability/test_disk_full.py",
    "tests/reliability/test_backups.py",
    "tests/reliability/test_doctor.py",
    "tests/families/test_tokenizer_kinds.py",
    "tests/test_cli.py::test_tiny_model_train_score_from_the_command_line",
    "tests/families/test_span_qa.py::test_oracle_on_korquad_dev",
    "tests/data/test_reuse.py::test_a_study_reads_its_rows_once_and_holds_nothing_after",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the end-to-end tests listed in SLOW (by path or node id prefix) as `slow`."""
    for item in items:
        if item.nodeid.startswith(SLOW):
            item.add_marker(pytest.mark.slow)


# Seconds per module (its tests' junit times, fixtures included) from one full run on the 2-core development
# machine (README, Tests): under pytest-xdist the longest modules start
# first, spread over the workers, so that no worker is left with a long end-to-end module while the other has
# finished. Only the order depends on them; refresh them when a module grows. Modules not listed count 1 s per slow
# test, 0.05 s per other test.
COST = {
    "tests/test_benchmarks.py": 68,
    "tests/families/test_tokenizer_kinds.py": 56,
    "tests/tuning/test_slurm.py": 45,
    "tests/tuning/test_study.py": 43,
    "tests/tuning/test_workers.py": 41,
    "tests/tuning/test_postgres_workers.py": 37,
    "tests/test_hub_rows.py": 36,
    "tests/pipeline/test_dvc_queue.py": 35,
    "tests/tuning/test_storages.py": 30,
    "tests/tuning/test_tracking_accounts.py": 24,
    "tests/tuning/test_champion.py": 24,
    "tests/pipeline/test_dvc_end_to_end.py": 23,
    "tests/pipeline/test_dvc_shared_remote.py": 23,
    "tests/reliability/test_resource_faults.py": 22,
    "tests/families/test_span_qa.py": 20,
    "tests/test_ui.py": 20,
    "tests/reliability/test_crashes.py": 18,
    "tests/reliability/test_quiet.py": 18,
    "tests/test_real_training.py": 17,
    "tests/test_models.py": 16,
    "tests/reliability/test_bad_input.py": 14,
    "tests/tuning/test_concurrent_stores.py": 11,
    "tests/pipeline/test_dvc_code_deps.py": 11,
    "tests/tuning/test_one_finaliser.py": 11,
    "tests/test_cluster.py": 10,
    "tests/test_cli.py": 10,
    "tests/reliability/test_preflight.py": 9,
    "tests/tuning/test_store_template.py": 9,
    "tests/metrics/test_uncertainty.py": 9,
    "tests/pipeline/test_dvc_fetch_prepare.py": 9,
    "tests/tuning/test_reproduce.py": 8,
    "tests/tuning/test_metric_direction.py": 8,
    "tests/test_progress.py": 8,
    "tests/test_train_tracking.py": 8,
    "tests/reliability/test_download_faults.py": 8,
}


class LongestFirst:
    """Order the collected tests for `-n N --dist worksteal`: xdist hands worker i the i-th contiguous share of
    the list (equal counts), runs each share in order and lets an idle worker steal the tail of another's.

    Modules stay whole (their module fixtures are built once) and are dealt longest first into N shares of
    balanced cost; each share runs its longest module first. Without xdist the order is pytest's own."""

    @pytest.hookimpl(trylast=True)  # after -m/-k deselection: the shares are cut from what runs
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
        if workers < 2 or len(items) < 2 * workers:
            return
        modules: dict[str, list[pytest.Item]] = {}
        for item in items:
            modules.setdefault(item.nodeid.split("::", 1)[0], []).append(item)

        def cost(name: str) -> float:
            slow = sum(1 for item in modules[name] if item.get_closest_marker("slow"))
            return COST.get(name, slow + 0.05 * (len(modules[name]) - slow))

        # the count each worker gets at the start, as xdist's worksteal computes it (equal shares)
        left, sizes = len(items), []
        for i in range(workers):
            sizes.append(left // (workers - i))
            left -= sizes[-1]
        shares: list[list[pytest.Item]] = [[] for _ in range(workers)]
        loads = [0.0] * workers
        for name in sorted(modules, key=cost, reverse=True):  # stable: equal costs keep pytest's order
            tests = modules[name]
            fits = [i for i in range(workers) if len(shares[i]) + len(tests) <= sizes[i]]
            if fits:
                target = min(fits, key=lambda i: loads[i])
                shares[target] += tests
                loads[target] += cost(name)
                continue
            for i in sorted(range(workers), key=lambda i: loads[i]):  # no room for it whole: split (a cheap one)
                room = sizes[i] - len(shares[i])
                shares[i] += tests[:room]
                loads[i] += cost(name) * len(tests[:room]) / len(modules[name])
                tests = tests[room:]
        items[:] = [item for share in shares for item in share]


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(LongestFirst(), "kobench-longest-first")


@pytest.fixture(autouse=True)
def _no_tracking_uri_leak():  # noqa: ANN202
    """Tracker sets MLflow's tracking URI, and mlflow exports it as MLFLOW_TRACKING_URI to every later child
    process: a DVC test after a tracking test would log to the earlier test's store. Unset after each test."""
    yield
    if "mlflow" in sys.modules:
        sys.modules["mlflow"].set_tracking_uri(None)


@pytest.fixture(scope="session")
def mirror() -> Path:
    """The real upstream copies (KOBENCH_TEST_MIRROR, or shared/datasets beside the checkout); skips without them."""
    if not (MIRROR / "MANIFEST.md").exists():
        pytest.skip(f"no dataset mirror at {MIRROR}")
    return MIRROR


def _fixture_texts() -> list[str]:
    """Text covering every synthetic task file, for the tokenizers of tiny and hub-fixture models."""
    from kobench.tools.tiny_corpus import corpus_texts
    from synthetic import FILLER, NEGATIVE, POSITIVE

    texts = [*corpus_texts(Path("."), None), " ".join(POSITIVE + NEGATIVE + FILLER)]
    texts.append("혐오 증오 차별 김철수씨는 어제 특별시에")
    return texts + ["그는 언제 태어났나? 어디에서 태어났다. 문서 1900년 2020년"] + [f"{y}년" for y in range(1900, 2021)]


@pytest.fixture(scope="session")
def hub_catalogue():  # noqa: ANN201
    """The project's params, with every published catalogue row written (once per session) as an offline hub
    cache entry under HF_HOME: the loading code then takes the path it takes with internet."""
    from kobench.config import load_params
    from kobench.tools.hub_fixtures import write_hub_fixtures

    params = load_params(ROOT / "params.yaml")
    write_hub_fixtures(Path(os.environ["HF_HOME"]) / "hub", params.models, _fixture_texts())
    return params


@pytest.fixture(scope="session")
def analyser_buildable() -> None:
    """Skips (saying why) where HanBERT's stand-in analyser cannot be built: no C compiler, or a platform that is
    not the vendor library's."""
    from kobench.engine.moran import AnalyserError, check_platform
    from kobench.tools.hanbert_fixture import compiler

    try:
        check_platform()
    except AnalyserError as exc:
        pytest.skip(str(exc))
    if compiler() is None:
        pytest.skip("no C compiler (cc or gcc) to build the stand-in analyser; .ci/run installs gcc")


@pytest.fixture(scope="session")
def hanbert_dir(analyser_buildable: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HanBert-54kN-torch in the vendor's layout with the stand-in analyser, compiled once per session."""
    from kobench.tools.hanbert_fixture import DIRECTORY_NAME, write_vendor_directory

    return write_vendor_directory(tmp_path_factory.mktemp("vendor") / DIRECTORY_NAME, _fixture_texts())


@pytest.fixture(scope="session")
def hanbert_catalogue(hub_catalogue, hanbert_dir: Path):  # noqa: ANN001, ANN201
    """``hub_catalogue`` with the HanBERT row pointing at the session's vendor directory."""
    params = hub_catalogue.model_copy(deep=True)
    params.models["hanbert"] = params.models["hanbert"].model_copy(update={"id": str(hanbert_dir)})
    return params


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """Build (once per session) a tiny model per architecture; returns arch -> directory."""
    from kobench.tools.tiny_model import build_tiny_model

    root = tmp_path_factory.mktemp("tiny-models")
    texts = _fixture_texts()
    cache: dict[str, Path] = {}

    def get(arch: str = "bert") -> Path:
        if arch not in cache:
            cache[arch] = build_tiny_model(root / arch, texts, arch=arch, vocab_size=400)
        return cache[arch]

    return get


@pytest.fixture
def prepared(tmp_path: Path):  # noqa: ANN201
    """Write synthetic raw files for a task and prepare them; returns the prepared directory."""
    from kobench.data.prepare import prepare_task
    from kobench.tasks import get_task
    from synthetic import write_raw

    def make(task: str, **kwargs: int) -> Path:
        raw = write_raw(task, tmp_path / "raw" / task, **kwargs)
        prepare_task(get_task(task), raw, tmp_path / "prepared" / task)
        return tmp_path / "prepared" / task

    return make


@pytest.fixture
def study_setup(tmp_path: Path, prepared, tiny_models, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN001, ANN201
    """Everything run_study needs, with the stores in ``tmp_path`` (the working directory)."""
    from kobench.config import ModelParams, Params
    from kobench.engine.models import ModelRef
    from kobench.engine.runs import run_config
    from kobench.names import StudyPaths
    from kobench.tasks import get_task
    from kobench.tuning.tracking import Tracker

    monkeypatch.chdir(tmp_path)
    prepared_dir = prepared("nsmc", n=60)
    params = Params.model_validate(
        {
            "tune": {"n_trials": 3, "heartbeat_seconds": 1, "storage": f"sqlite:///{tmp_path}/optuna.db",
                     "search_space": {"lr": {"low": 5e-4, "high": 3e-3}, "epochs": {"low": 1, "high": 2}}},
            "train": {"batch_size": 16, "eval_batch_size": 64},
        }
    )
    spec = get_task("nsmc")
    ref = ModelRef("tiny", ModelParams(id=str(tiny_models("bert")), local_only=True, size="small"))
    base = run_config(params, spec, ref, max_seq_len=32)
    paths = StudyPaths(prepared=prepared_dir, features=tmp_path / "features", outputs=tmp_path / "outputs",
                       metrics_file=tmp_path / "metrics" / "nsmc" / "tiny.json")
    tracker = Tracker(f"sqlite:///{tmp_path}/mlflow.db", "kobench")
    return {"spec": spec, "ref": ref, "params": params, "base": base, "paths": paths, "tracker": tracker,
            "storage": params.tune.storage, "tmp": tmp_path}


@pytest.fixture
def cli_project(tmp_path: Path, prepared, tiny_models, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN001, ANN201
    """A project folder (the working directory) with prepared synthetic NSMC, its own MLflow store and a tiny model."""
    monkeypatch.chdir(tmp_path)
    prepared("nsmc", n=60)
    (tmp_path / "params.yaml").write_text(
        f"base: {{paths: {{prepared: {tmp_path / 'prepared'}}}}}\n"
        f"tracking: {{mlflow_uri: 'sqlite:///{tmp_path}/mlflow.db'}}\n", encoding="utf-8"
    )
    return {"root": tmp_path, "model": str(tiny_models("bert"))}


@pytest.fixture
def sigterm_received():  # noqa: ANN201
    """A real SIGTERM delivered to this process and recorded by kobench's handler, as under `kobench ...`."""
    from kobench import interrupts

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    interrupts.stop_on_signals()
    os.kill(os.getpid(), signal.SIGTERM)
    assert interrupts.received() == signal.SIGTERM
    try:
        yield
    finally:
        interrupts._received.clear()
        for signum, handler in saved.items():
            signal.signal(signum, handler)
