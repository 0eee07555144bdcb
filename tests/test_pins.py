"""`kobench models --pin` against a local server that answers as the Hugging Face hub's API does."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kobench.config import load_params
from kobench.errors import KobenchError
from kobench.tools.pins import set_revision

OLD = "38279184ba645e8c94d709fbe92eb5bcb47312c1"
HEADS = {"monologg/kobert": "1234567890" * 4, "FacebookAI/xlm-roberta-base": "ab" * 20}  # digits only: quoted

PARAMS = f"""\
# the catalogue of this test
models:
  kobert:
    id: monologg/kobert
    revision: {OLD}  # pinned by hand
    display: KoBERT
    tokenizer: sentencepiece-vocab
  xlm-roberta-base:
    id: FacebookAI/xlm-roberta-base   # no revision yet
    token_type_ids: false
  tiny:
    id: models/tiny
    local_only: true
    search_space: {{lr: {{low: 1.0e-3, high: 3.0e-3}}, epochs: {{low: 3, high: 5}}}}
"""


@contextmanager
def fake_hub() -> Iterator[str]:
    """The hub's model-info and file-resolve endpoints for HEADS; any other revision is `RevisionNotFound`."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _missing(self, code: str) -> None:
            self.send_response(404)
            self.send_header("X-Error-Code", code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_HEAD(self) -> None:  # noqa: N802
            self.do_GET()

        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?")[0]
            if path.startswith("/api/models/"):
                # /api/models/<org>/<name>[/revision/<rev> | /tree/<rev>]
                org, name, *rest = path[len("/api/models/"):].split("/")
                repo, revision = f"{org}/{name}", rest[1] if len(rest) > 1 else ""
                if repo not in HEADS:
                    return self._missing("RepoNotFound")
                if revision and revision != HEADS[repo]:
                    return self._missing("RevisionNotFound")
                body = json.dumps({"id": repo, "sha": HEADS[repo], "siblings": []}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return None
            return self._missing("RevisionNotFound")  # /<repo>/resolve/<revision>/<file> of an unknown revision

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def kobench(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kobench.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


@pytest.fixture(scope="module")
def hub() -> Iterator[str]:
    with fake_hub() as endpoint:
        yield endpoint


def test_pin_writes_each_head_and_keeps_every_other_character(hub: str, tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text(PARAMS, encoding="utf-8")
    result = kobench("models", "--pin", cwd=tmp_path, HF_HUB_OFFLINE="0", HF_ENDPOINT=hub)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["kobert", "monologg/kobert", OLD, "->", HEADS["monologg/kobert"]]
    assert lines[1].split() == ["xlm-roberta-base", "FacebookAI/xlm-roberta-base", "(main)", "->", "ab" * 20]
    assert len(lines) == 2  # the local row is not a hub repository
    expected = (PARAMS.replace(OLD, f"'{HEADS['monologg/kobert']}'")  # quoted, or YAML would read a number
                .replace("# no revision yet\n", f"# no revision yet\n    revision: {'ab' * 20}\n"))
    assert (tmp_path / "params.yaml").read_text(encoding="utf-8") == expected
    models = load_params(tmp_path / "params.yaml").models
    assert models["kobert"].revision == HEADS["monologg/kobert"]

    again = kobench("models", "--pin", "kobert", cwd=tmp_path, HF_HUB_OFFLINE="0", HF_ENDPOINT=hub)
    assert again.returncode == 0 and again.stdout.split()[-1] == "unchanged", again.stdout + again.stderr


def test_pin_failures_are_one_line_and_leave_the_file(hub: str, tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text(PARAMS, encoding="utf-8")
    offline = kobench("models", "--pin", "kobert", cwd=tmp_path, HF_HUB_OFFLINE="1")
    local = kobench("models", "--pin", "tiny", cwd=tmp_path, HF_HUB_OFFLINE="0", HF_ENDPOINT=hub)
    for result, says in ((offline, "needs the network: HF_HUB_OFFLINE is set"), (local, "is a local directory")):
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and says in result.stderr, result.stderr
    assert (tmp_path / "params.yaml").read_text(encoding="utf-8") == PARAMS


def test_a_revision_the_hub_does_not_know_names_the_row_and_the_pin_command(hub: str, tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text(PARAMS, encoding="utf-8")
    result = kobench("models", "--check", "kobert", cwd=tmp_path, HF_HUB_OFFLINE="0", HF_ENDPOINT=hub)
    assert result.returncode == 1
    assert result.stdout.strip() == (
        f"FAIL  model 'kobert': the hub does not know revision {OLD} of monologg/kobert; "
        f"`kobench models --pin kobert` pins its current head"
    ), result.stdout + result.stderr


def test_set_revision_refuses_a_flow_style_catalogue() -> None:
    flow = "models: {kobert: {id: monologg/kobert}}\n"
    with pytest.raises(KobenchError, match="edit its revision by hand"):
        set_revision(flow, "kobert", "ab" * 20, source=Path("params.yaml"))
