"""Model rows: catalogue names, local directories, hub ids; clear errors offline; remote code only by opt-in."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from kobench.config import ModelParams, Params
from kobench.errors import KobenchError
from kobench.models import ModelRef, load_tokenizer, resolve_model

ROOT = Path(__file__).resolve().parents[1]


def test_local_directory_detects_segment_ids(tiny_models) -> None:  # noqa: ANN001
    assert resolve_model(str(tiny_models("bert")), Params()).row.token_type_ids
    roberta = resolve_model(str(tiny_models("roberta")), Params())
    assert not roberta.row.token_type_ids and roberta.key == "roberta"


def test_catalogue_row_wins_and_hub_id_becomes_a_row() -> None:
    params = Params(models={"mine": ModelParams(id="org/encoder", size="small")})
    assert resolve_model("mine", params).row.size == "small"
    hub = resolve_model("org/other-encoder", params)
    assert hub.id == "org/other-encoder" and not hub.row.trust_remote_code and hub.slug == "org--other-encoder"


def test_hanbert_without_its_directory_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kobench.config import load_params

    monkeypatch.chdir(tmp_path)
    with pytest.raises(KobenchError, match=r"model 'hanbert': local directory HanBert-54kN-torch not found"):
        resolve_model("hanbert", load_params(ROOT / "params.yaml"))


def test_hub_model_offline_fails_fast_with_one_line() -> None:
    from kobench.config import load_params

    ref = resolve_model("koelectra-small-v3", load_params(ROOT / "params.yaml"))
    started = time.perf_counter()
    with pytest.raises(KobenchError) as info:
        load_tokenizer(ref)
    assert time.perf_counter() - started < 20
    message = str(info.value)
    assert message.startswith("model 'koelectra-small-v3': cannot load monologg/koelectra-small-v3-discriminator")
    assert "\n" not in message and "tiny-model" in message


def test_trust_remote_code_only_when_the_row_opts_in(caplog: pytest.LogCaptureFixture) -> None:
    from kobench.models import _load_kwargs

    assert "trust_remote_code" not in _load_kwargs(ModelRef("a", ModelParams(id="x/a")))
    with caplog.at_level(logging.WARNING):
        kwargs = _load_kwargs(ModelRef("kobert", ModelParams(id="monologg/kobert", trust_remote_code=True)))
    assert kwargs["trust_remote_code"] is True and "trust_remote_code=True" in caplog.text
