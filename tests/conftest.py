"""Hermetic test environment: nothing is written outside the test's directories, no network is used."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

ROOT = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("KOBENCH_TEST_MIRROR", ROOT.parent / "shared" / "datasets"))


@pytest.fixture(autouse=True, scope="session")
def _hermetic_env(tmp_path_factory: pytest.TempPathFactory) -> None:
    home = tmp_path_factory.mktemp("home")
    os.environ.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HOME=str(home / "hf"),
        MLFLOW_DISABLE_TELEMETRY="true",
        DVC_NO_ANALYTICS="1",
        DVC_SITE_CACHE_DIR=str(home / "dvc-site"),
        MPLCONFIGDIR=str(home / "mpl"),
        TOKENIZERS_PARALLELISM="false",
    )
    os.environ.pop("KOBENCH_MIRROR", None)
    os.environ.pop("MLFLOW_TRACKING_URI", None)


@pytest.fixture
def mirror() -> Path:
    """The real upstream copies in ../shared/datasets; skips the test where they are absent."""
    if not (MIRROR / "MANIFEST.md").exists():
        pytest.skip(f"no dataset mirror at {MIRROR}")
    return MIRROR
