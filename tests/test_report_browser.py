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
    _metrics(tmp_path, "nsmc", "mine", _complete({"accuracy": 0.9012, "accuracy_ci_low": 0.89, "accuracy_ci_high": 0.91}))
    _metrics(tmp_path, "nsmc", "koelectra-small-v3", _complete({"accuracy": 0.8801}))
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
    assert any(alt.startswith("NSMC (acc): ours with 95 % intervals") for alt, _, _ in images)  # the per-task view
    script = "all => all.map(t => [...t.rows].map(r => [...r.cells].map(c => c.innerText)))"
    header, *rows = page.eval_on_selector_all("table.board", script)[1]  # Base Model, then Small Model
    mine = next(r for r in rows if r[0] == "Mine (ours)")
    assert header[2].startswith("NSMC (acc)") and mine[2] == "90.12 ± 1.00" and mine[8] == "80.00 / 90.00"
    assert mine[6].startswith("failed [1]")
    small = next(r for r in rows if r[0] == "KoELECTRA-Small-v3 (ours)")
    assert small[2].splitlines() == ["88.01", "published 89.36 (-1.35)"]

    # sorting: a click on a column sorts its rows, best first; a second click reverses; empty cells stay last
    board = "table.board >> nth=1"
    page.click(f"{board} >> th >> nth=2")
    order = page.eval_on_selector(board, "t => [...t.tBodies[0].rows].map(r => r.cells[0].innerText)")
    assert order.index("Mine (ours)") < order.index("KoELECTRA-Small-v3 (ours)"), order
    values = page.eval_on_selector(board, "t => [...t.tBodies[0].rows].map(r => r.cells[2].getAttribute('data-value'))")
    numbers = [float(v) for v in values if v]
    assert numbers == sorted(numbers, reverse=True) and values[len(numbers):] == [""] * (len(values) - len(numbers))
    page.click(f"{board} >> th >> nth=2")
    values = page.eval_on_selector(board, "t => [...t.tBodies[0].rows].map(r => r.cells[2].getAttribute('data-value'))")
    assert [float(v) for v in values if v] == sorted(numbers)

    # every link inside the folder resolves: files exist, anchors have their target
    links = page.eval_on_selector_all("a[href]", "all => all.map(a => a.getAttribute('href'))")
    local = [href for href in links if not href.startswith(("http://", "https://"))]
    assert "results.csv" in local and "#task-nsmc" in local
    for href in local:
        if href.startswith("#"):
            assert page.query_selector(href) is not None, href
        else:
            assert (tmp_path / "reports" / href).is_file(), href
    assert problems == []
    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []
    page.close()
