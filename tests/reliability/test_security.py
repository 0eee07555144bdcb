"""Security: safetensors only, remote code only by opt-in, no credentials in tracking or output, loopback UIs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kobench.config import ModelParams
from kobench.errors import KobenchError
from kobench.models import ModelRef, load_model
from kobench.tuning import run_study

ROOT = Path(__file__).resolve().parents[2]
SECRET = "hf_SECRETtoken0123456789abcdef"


def test_pickle_checkpoints_are_refused(tiny_models, tmp_path: Path) -> None:  # noqa: ANN001
    import shutil

    import torch
    from transformers import AutoModel

    source = tiny_models("bert")
    shutil.copytree(source, tmp_path / "pickled", ignore=shutil.ignore_patterns("model.safetensors"))
    torch.save(AutoModel.from_pretrained(source).state_dict(), tmp_path / "pickled" / "pytorch_model.bin")
    ref = ModelRef("pickled", ModelParams(id=str(tmp_path / "pickled"), local_only=True))
    with pytest.raises(KobenchError, match=r"model 'pickled': cannot load"):
        load_model(ref, "AutoModelForSequenceClassification", 2)


def test_credentials_never_reach_mlflow_or_the_console(
    study_setup, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture  # noqa: ANN001
) -> None:
    monkeypatch.setenv("HF_TOKEN", SECRET)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", SECRET)
    setup = study_setup
    run_study(setup["spec"], setup["ref"], setup["params"], setup["base"], setup["paths"], n_trials=2,
              storage_url=setup["storage"], tracker=setup["tracker"])
    client = setup["tracker"].client
    runs = client.search_runs([setup["tracker"].experiment_id])
    assert len(runs) >= 4
    for run in runs:
        assert SECRET not in repr(run.data.params) and SECRET not in repr(run.data.tags)
    for version in client.search_model_versions("name='kobench-nsmc-tiny'"):
        assert SECRET not in repr(version.tags)
    captured = capfd.readouterr()
    assert SECRET not in captured.out and SECRET not in captured.err
    assert SECRET not in setup["paths"].metrics_file.read_text()


def test_documented_ui_commands_bind_loopback() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"`((?:mlflow (?:ui|server)|optuna-dashboard) [^`]*)`", readme)
    assert commands and all("--host 127.0.0.1" in c for c in commands), commands
