"""reports/index.html in a real headless Chromium: images decode, tables hold their cells, no error, no network."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kobench.report.tables import write_report
from test_report import _complete, _metrics, _params

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


@pytest.fixture(scope="module")
def browser():  # noqa: ANN201
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
    executable = next((found for name in BROWSERS if (found := shutil.which(name))), None)
    if executable is None:
        pytest.skip("no Chromium on PATH (Debian: apt-get install chromium; .ci/run installs it)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


def test_the_html_report_renders_offline_in_chromium(browser, tmp_path: Path) -> None:  # noqa: ANN001
    _metrics(tmp_path, "nsmc", "mine", _complete({"accuracy": 0.9012}))
    _metrics(tmp_path, "korquad", "mine", _complete({"exact_match": 0.8, "char_f1": 0.9}))
    _metrics(tmp_path, "korsts", "mine", {"status": "failed", "reason": "RuntimeError: CUDA out of memory"})
    write_report(_params(tmp_path))
    page = browser.new_page()
    problems: list[str] = []
    requests: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    page.goto((tmp_path / "reports" / "index.html").as_uri())
    page.wait_for_load_state("load")

    images = page.eval_on_selector_all("img", "all => all.map(i => [i.alt, i.complete, i.naturalWidth])")
    assert images and all(complete and width > 100 for _, complete, width in images), images
    assert "Ours vs published" in [alt for alt, _, _ in images]
    script = "all => all.map(t => [...t.rows].map(r => [...r.cells].map(c => c.innerText)))"
    tables = page.eval_on_selector_all("table", script)
    header, *rows = tables[0] + tables[1]  # Base Model, then Small Model
    mine = next(r for r in rows if r[0] == "Mine (ours)")
    assert header[2] == "NSMC (acc)" and mine[2] == "90.12 (-, Δ n/a)" and mine[8] == "80.00 / 90.00 (-, Δ n/a)"
    assert mine[6].startswith("failed [1]")
    kobert = next(r for r in rows if r[0] == "KoBERT")
    assert kobert[1] == "351M" and kobert[2] == "- (89.59)"  # published only
    bold = page.eval_on_selector_all("td strong", "all => all.map(s => s.innerText)")
    assert "90.12" in bold and "80.00 / 90.00" in bold  # best of the column
    assert problems == []
    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []
    page.close()
