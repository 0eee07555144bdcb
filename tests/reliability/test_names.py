"""Names from users that become paths are plain names: `..`, absolute paths and separators are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kobench.cli import app
from kobench.config import load_params
from kobench.errors import ConfigError


@pytest.mark.parametrize("name", ["../../../../x", "/tmp/kobench-escape", "a/b", "..", "a\\b"])
def test_a_run_name_that_is_not_a_plain_name_is_refused_and_nothing_is_written(
    name: str, tmp_path: Path, prepared, tiny_models, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    monkeypatch.chdir(tmp_path)
    prepared("nsmc", n=40)
    (tmp_path / "params.yaml").write_text(f"base: {{paths: {{prepared: {tmp_path / 'prepared'}}}}}\n", encoding="utf-8")
    model = str(tiny_models("bert"))
    before = {p for p in tmp_path.parent.rglob("*")}
    out = CliRunner().invoke(app, ["train", "--task", "nsmc", "--model", model, "--epochs", "1",
                                   "--run-name", name, "--no-track"])
    assert isinstance(out.exception, ConfigError)
    assert str(out.exception) == f"--run-name {name!r}: not a plain name (no '/', '\\', '.' or '..', at most 200 characters)"
    assert {p for p in tmp_path.parent.rglob("*")} == before and not Path("/tmp/kobench-escape").exists()


def test_a_model_key_that_is_not_a_plain_name_is_refused_at_load(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("models: {'../evil': {id: org/evil}}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"models: model key '../evil': not a plain name"):
        load_params(path)
