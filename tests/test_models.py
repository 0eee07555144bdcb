"""Model rows: catalogue names, local directories, hub ids; clear errors offline; remote code only by opt-in."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from kobench.config import ModelParams, Params
from kobench.engine.models import ModelRef, load_tokenizer, resolve_model
from kobench.errors import KobenchError

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

    row = resolve_model("koelectra-small-v3", load_params(ROOT / "params.yaml")).row
    ref = ModelRef("koelectra-small-v3", row.model_copy(update={"revision": "f" * 40}))  # a revision no cache holds
    started = time.perf_counter()
    with pytest.raises(KobenchError) as info:
        load_tokenizer(ref)
    assert time.perf_counter() - started < 20
    message = str(info.value)
    assert message.startswith("model 'koelectra-small-v3': cannot load monologg/koelectra-small-v3-discriminator")
    assert "\n" not in message and "tiny-model" in message


def test_trust_remote_code_only_when_the_row_opts_in(caplog: pytest.LogCaptureFixture) -> None:
    from kobench.engine.models import load_kwargs

    assert "trust_remote_code" not in load_kwargs(ModelRef("a", ModelParams(id="x/a")))
    with caplog.at_level(logging.WARNING):
        kwargs = load_kwargs(ModelRef("kobert", ModelParams(id="monologg/kobert", trust_remote_code=True)))
    assert kwargs["trust_remote_code"] is True and "trust_remote_code=True" in caplog.text


def _kobench(*args: str, cwd: Path, **env: str):  # noqa: ANN202
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "kobench.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)


def test_models_lists_revision_kind_parameters_and_cache(hub_catalogue, tmp_path: Path) -> None:  # noqa: ANN001
    result = _kobench("models", "--params", str(ROOT / "params.yaml"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert set(lines) == set(hub_catalogue.models)
    assert "38279184ba64" in lines["kobert"] and "SentencePiece + vocab.txt" in lines["kobert"]
    assert "byte-level BPE" in lines["soongsil-bert-small"] and lines["soongsil-bert-small"].endswith("cached")
    assert "WordPiece" in lines["koelectra-small-v3"] and "SentencePiece unigram" in lines["xlm-roberta-base"]
    assert lines["hanbert"].endswith("absent")


def test_models_check_prints_one_line_per_row_and_fails_on_any(hub_catalogue, tmp_path: Path) -> None:  # noqa: ANN001
    ok = _kobench("models", "--params", str(ROOT / "params.yaml"), "--check", "--weights", "kobert", "soongsil-bert-small",
                  cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert [line.split()[:2] for line in ok.stdout.splitlines()] == [["ok", "kobert:"], ["ok", "soongsil-bert-small:"]]
    assert "parameters" in ok.stdout
    empty = tmp_path / "empty-hf"
    bad = _kobench("models", "--params", str(ROOT / "params.yaml"), "--check", cwd=tmp_path, HF_HOME=str(empty))
    assert bad.returncode == 1 and "Traceback" not in bad.stdout + bad.stderr
    lines = bad.stdout.splitlines()
    assert len(lines) == len(hub_catalogue.models) and all(line.startswith("FAIL  model '") for line in lines)
    assert any("HanBert-54kN-torch not found" in line for line in lines)


def test_hub_fixtures_refuse_the_active_cache(tmp_path: Path) -> None:
    import os

    result = _kobench("hub-fixtures", "--cache", str(Path(os.environ["HF_HOME"]) / "hub"), cwd=tmp_path)
    assert result.returncode == 2 and "is the active Hugging Face cache" in result.stderr
    written = _kobench("hub-fixtures", "--params", str(ROOT / "params.yaml"), "--cache", str(tmp_path / "hub"),
                       "koelectra-small-v3", cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    snapshot = tmp_path / "hub" / "models--monologg--koelectra-small-v3-discriminator" / "snapshots"
    assert sorted(p.name for p in (snapshot / "7488f8db0f208beff4a1f3f9bb3ed04650a89ed7").iterdir()) == [
        "config.json", "pytorch_model.bin", "tokenizer_config.json", "vocab.txt"]
    refs = tmp_path / "hub" / "models--monologg--koelectra-small-v3-discriminator" / "refs" / "main"
    assert refs.read_text() == "7488f8db0f208beff4a1f3f9bb3ed04650a89ed7"


def test_revision_must_be_a_full_commit(tmp_path: Path) -> None:
    from kobench.config import load_params
    from kobench.errors import ConfigError

    (tmp_path / "params.yaml").write_text("models:\n  mine:\n    id: org/model\n    revision: main\n")
    with pytest.raises(ConfigError, match=r"key 'models.mine.revision': revision must be a full 40-hex commit"):
        load_params(tmp_path / "params.yaml")


def test_a_mistyped_model_gets_did_you_mean_at_once(tmp_path: Path) -> None:
    result = _kobench("train", "--task", "nsmc", "--model", "koelectra-small", "--params", str(ROOT / "params.yaml"),
                      cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: unknown model 'koelectra-small' (did you mean 'koelectra-small-v3'?)")
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_unreachable_hub_fails_after_one_attempt_naming_id_cache_and_offline(tmp_path: Path) -> None:
    import time

    from kobench.data.prepare import prepare_task
    from kobench.tasks import get_task
    from synthetic import write_raw

    write_raw("nsmc", tmp_path / "data" / "raw" / "nsmc")  # prepared in this process: one start fewer
    prepare_task(get_task("nsmc"), tmp_path / "data" / "raw" / "nsmc", tmp_path / "data" / "prepared" / "nsmc")
    started = time.perf_counter()
    # a closed port on this machine stands in for an unreachable hub
    result = _kobench("train", "--task", "nsmc", "--model", "org/not-cached-encoder", cwd=tmp_path,
                      HF_HUB_OFFLINE="0", HF_ENDPOINT="http://127.0.0.1:9")
    assert time.perf_counter() - started < 30
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: model 'org/not-cached-encoder': org/not-cached-encoder is "
                                                   "not in the Hugging Face cache (")
    assert "http://127.0.0.1:9 cannot be reached" in lines[0] and "HF_HUB_OFFLINE=1" in lines[0]
    assert "offline: `kobench tiny-model --out models/tiny`, then --model tiny" in lines[0]  # the offline path


def test_a_cached_row_loads_when_the_hub_is_unreachable(hub_catalogue, tmp_path: Path) -> None:  # noqa: ANN001
    result = _kobench("models", "--params", str(ROOT / "params.yaml"), "--check", "koelectra-small-v3", cwd=tmp_path,
                      HF_HUB_OFFLINE="0", HF_ENDPOINT="http://127.0.0.1:9")
    assert result.returncode == 0 and result.stdout.startswith("ok    koelectra-small-v3: ok"), result.stdout
