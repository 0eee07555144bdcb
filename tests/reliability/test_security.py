"""Security: safetensors or weights_only pickles, remote code by opt-in only, no credentials in tracking, loopback UIs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kobench.config import ModelParams
from kobench.engine.models import ModelRef, load_model
from kobench.errors import KobenchError
from kobench.tuning.context import StudyContext
from kobench.tuning.study import run_study

ROOT = Path(__file__).resolve().parents[2]
SECRET = "hf_SECRETtoken0123456789abcdef"


def _bin_only_copy(source: Path, target: Path, state: object) -> ModelRef:
    """``source`` with its safetensors replaced by a pickled ``pytorch_model.bin`` holding ``state``."""
    import shutil

    import torch

    shutil.copytree(source, target, ignore=shutil.ignore_patterns("model.safetensors"))
    torch.save(state, target / "pytorch_model.bin")
    return ModelRef(target.name, ModelParams(id=str(target), local_only=True))


class _RunsCode:
    """A pickle payload that would run a command when unpickled."""

    def __reduce__(self):  # noqa: ANN204
        import os

        return (os.system, ("touch pwned",))


def test_bin_weights_load_through_weights_only(tiny_models, tmp_path: Path) -> None:  # noqa: ANN001
    import torch
    from transformers import AutoModel

    source = AutoModel.from_pretrained(tiny_models("bert"))
    ref = _bin_only_copy(tiny_models("bert"), tmp_path / "bin-only", source.state_dict())
    loaded = load_model(ref, "AutoModelForSequenceClassification", 2)
    assert torch.equal(loaded.bert.embeddings.word_embeddings.weight, source.embeddings.word_embeddings.weight)


def test_a_pickle_that_runs_code_is_refused(tiny_models, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    ref = _bin_only_copy(tiny_models("bert"), tmp_path / "hostile", {"weight": _RunsCode()})
    with pytest.raises(KobenchError, match=r"model 'hostile': refused the pickled weights of .*would run code"):
        load_model(ref, "AutoModelForSequenceClassification", 2)
    assert not (tmp_path / "pwned").exists()


def test_no_remote_safetensors_conversion(tiny_models) -> None:  # noqa: ANN001
    import os
    import threading

    load_model(ModelRef("tiny", ModelParams(id=str(tiny_models("bert")), local_only=True)), "AutoModel", 2)
    assert os.environ["DISABLE_SAFETENSORS_CONVERSION"] == "1"
    assert not [t for t in threading.enumerate() if "conversion" in t.name]


def test_credentials_never_reach_mlflow_or_the_console(
    study_setup, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture  # noqa: ANN001
) -> None:
    monkeypatch.setenv("HF_TOKEN", SECRET)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", SECRET)
    setup = study_setup
    context = StudyContext(setup["spec"], setup["ref"], setup["params"], setup["base"], setup["paths"], setup["tracker"])
    run_study(context, n_trials=2, storage_url=setup["storage"])
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
    assert SECRET not in setup["paths"].metrics_file.with_name("tiny.study.json").read_text()


def test_documented_ui_commands_bind_loopback() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"`((?:mlflow (?:ui|server)|optuna-dashboard) [^`]*)`", readme)
    assert commands and all("--host 127.0.0.1" in c for c in commands), commands
