"""Step 8c: reports/index.html, a leaderboard page: sortable tables, intervals, coloured differences, run links.

One offline page: figures inlined, a few lines of inline script for sorting, no remote script or font;
every string from a user is escaped. Links point inside the reports folder or at the tracking UI.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable
from pathlib import Path

from kobench.report.cells import (
    COMPARISON_HEADER,
    COMPARISON_NOTE,
    LEGEND,
    PROTOCOLS,
    RECIPE_HEADER,
    RECIPE_NOTE,
    comparison_rows,
    failure_mark,
    format_ours,
    format_values,
    recipe_rows,
)
from kobench.report.results import Cell, Row
from kobench.report.significance import ColumnTest
from kobench.tasks import TASKS

RunLink = Callable[[str], str | None]

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#1f2328;max-width:1500px}"
    "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #d0d7de;padding:4px 8px;font-size:13px;"
    "text-align:center;vertical-align:top}th{background:#f6f8fa}th[data-sort]{cursor:pointer;user-select:none}"
    "th[data-sort]:after{content:' \\2195';color:#8c959f}th.asc:after{content:' \\2191'}th.desc:after{content:' \\2193'}"
    "td:first-child{text-align:left}tr.published td{color:#57606a;background:#fbfbfb}"
    ".value{font-weight:500}.best .value{font-weight:700}.tied .value:after{content:' \\2248'}"
    ".pub,.run{font-size:11px;color:#57606a}.better{color:#1a7f37}.within{color:#57606a}.worse{color:#cf222e}"
    ".failed{color:#cf222e}a{color:#0969da;text-decoration:none}a:hover{text-decoration:underline}"
    "img{max-width:100%;margin:1em 0;border:1px solid #eee}.legend{font-size:13px;color:#57606a;max-width:1100px}"
)
# Click a header: sort the rows by that column's data-value (missing values last); click again: reverse.
_SORT_SCRIPT = """
document.querySelectorAll('table.board th[data-sort]').forEach(function (th) {
  th.addEventListener('click', function (event) {
    if (event.target.closest('a')) return;
    var table = th.closest('table'), body = table.tBodies[0], index = th.cellIndex;
    var descending = !th.classList.contains('desc');
    table.querySelectorAll('th').forEach(function (h) { h.classList.remove('asc', 'desc'); });
    th.classList.add(descending ? 'desc' : 'asc');
    var key = function (row) {
      var raw = row.cells[index].getAttribute('data-value');
      return raw === null || raw === '' ? null : (isNaN(Number(raw)) ? raw : Number(raw));
    };
    Array.from(body.rows).sort(function (a, b) {
      var x = key(a), y = key(b);
      if (x === null || y === null) return (x === null) - (y === null);
      var order = x < y ? -1 : x > y ? 1 : 0;
      return descending ? -order : order;
    }).forEach(function (row) { body.appendChild(row); });
  });
});
"""
OUTPUT_FILES = ("results.md", "results.csv", "results.json", "comparisons.json")


def _e(text: object) -> str:
    return html.escape(str(text))


def inline_markdown(text: str) -> str:
    """Escaped text with markdown's ``**bold**`` and backtick code turned into tags.

    >>> inline_markdown("**ours** <b> `tune.final_seeds`")
    '<strong>ours</strong> &lt;b&gt; <code>tune.final_seeds</code>'
    """
    escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", _e(text))
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def _cell(cell: Cell, published_row: bool, notes: list[str], run_link: RunLink | None) -> str:
    """One table cell: value ± interval linked to its run, the published number and the coloured difference."""
    if cell.status in ("failed", "missing"):
        return f'<td data-value="" class="failed" title="{_e(cell.reason)}">{failure_mark(cell, notes)}</td>'
    if cell.ours is None:
        shown = format_values(cell.published) if published_row else "-"
        value = cell.published[-1] if published_row and cell.published else ""
        return f'<td data-value="{value}">{_e(shown)}</td>'
    classes = "best" if cell.best else "tied" if cell.tied else ""
    text = _e(format_ours(cell)) + ("†" if cell.protocol == "test" else "")
    url = run_link(cell.run_id) if run_link and cell.run_id else None
    value = (
        f'<a class="value" href="{_e(url)}" title="MLflow run {_e(cell.run_id)}">{text}</a>'
        if url
        else f'<span class="value">{text}</span>'
    )
    parts = [value]
    if cell.published:
        versus = cell.versus_published or ["within"] * len(cell.published)
        diffs = " / ".join(f'<span class="{v}">{d:+.2f}</span>' for d, v in zip(cell.diff or [], versus))
        parts.append(f'<div class="pub">published {_e(format_values(cell.published))} ({diffs})</div>')
    if cell.run_id:
        parts.append(f'<div class="run">run {_e(cell.run_id[:8])}</div>')
    return f'<td data-value="{cell.ours[-1]}" class="{classes}">{"".join(parts)}</td>'


def _board(rows: list[Row], notes: list[str], run_link: RunLink | None) -> str:
    head = '<th data-sort="text">model</th><th data-sort="text">size</th>' + "".join(
        f'<th data-sort="number">{_e(TASKS[t].published_column)} <a href="#task-{t}" title="per-task view">&#9662;</a></th>'
        for t in TASKS
    )
    body = []
    for row in rows:
        name = f"{row.display} (ours)" if row.ran else f"{row.display} (published)"
        cells = "".join(_cell(c, not row.ran, notes, run_link) for c in row.cells.values())
        body.append(
            f'<tr class="{"ours" if row.ran else "published"}"><td data-value="{_e(name)}">{_e(name)}</td>'
            f'<td data-value="{_e(row.size)}">{_e(row.size or "-")}</td>{cells}</tr>'
        )
    return f'<table class="board"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _image(out: Path, relative: str, title: str) -> str:
    data = base64.b64encode((out / relative).read_bytes()).decode("ascii")
    caption = _e(title)
    return f'<figure><img alt="{caption}" src="data:image/png;base64,{data}"><figcaption>{caption}</figcaption></figure>'


def _simple_table(header: list[str], lines: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(x)}</td>" for x in line) + "</tr>" for line in lines)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _task_views(rows: list[Row], out: Path, tests: dict[str, ColumnTest]) -> str:
    """Per task: every row's value with its interval (figure) and the column's comparisons."""
    sections = []
    for task, spec in TASKS.items():
        figure = f"plots/task-{task}.png"
        parts = [f'<section id="task-{task}"><h3>{_e(spec.published_column)}</h3>']
        if (out / figure).exists():
            parts.append(_image(out, figure, f"{spec.published_column}: ours with 95 % intervals, published"))
        test = tests.get(task)
        if test and test.comparisons:
            parts.append(_simple_table(COMPARISON_HEADER, comparison_rows(rows, {task: test})))
        elif test and test.note:
            parts.append(f"<p>{_e(test.note)}</p>")
        if len(parts) == 1:
            parts.append("<p>No result of ours in this column yet.</p>")
        sections.append("".join(parts) + "</section>")
    return "".join(sections)


def build_html(  # noqa: PLR0913
    rows: list[Row],
    out: Path,
    plots: list[tuple[str, str]],
    protocols: set[str],
    extra: list[str],
    tests: dict[str, ColumnTest] | None = None,
    run_link: RunLink | None = None,
) -> str:
    """The page: leaderboards, per-task views, the reproduction table, protocol, notes and plots."""
    tests = tests or {}
    notes: list[str] = []
    sections = []
    for title, size_class in (("Base Model", "base"), ("Small Model", "small")):
        group = [r for r in rows if r.size_class == size_class]
        if group:
            sections.append(f"<h2>{title}</h2>{_board(group, notes, run_link)}")
    if recipes := _recipe_section(rows):
        sections.append(recipes)
    items = "".join(f"<li>ours: {inline_markdown(PROTOCOLS[p])}</li>" for p in sorted(protocols))
    items += "".join(f"<li>{inline_markdown(line)}</li>" for line in extra)
    notes_html = "".join(f"<li>{_e(n)}</li>" for n in notes)
    figures = "".join(_image(out, path, title) for title, path in plots if (out / path).exists() and "/task-" not in path)
    files = " · ".join(f'<a href="{name}">{name}</a>' for name in OUTPUT_FILES if (out / name).exists())
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>kobench results</title>"
        f"<style>{_STYLE}</style></head><body><h1>kobench results</h1>"
        f"<p class='legend'>{inline_markdown(LEGEND)}</p><p>Files: {files}</p>"
        f"{''.join(sections)}<h2>Per task</h2><p class='legend'>{_e(COMPARISON_NOTE)}</p>{_task_views(rows, out, tests)}"
        f"<h2>Protocol</h2><ul>{items}"
        "<li>published: test-selected (the reference scripts scored every checkpoint on test)</li></ul>"
        + (f"<h2>Notes</h2><ol>{notes_html}</ol>" if notes else "")
        + f"<h2>Plots</h2>{figures}<script>{_SORT_SCRIPT}</script></body></html>\n"
    )


def _recipe_section(rows: list[Row]) -> str:
    lines = recipe_rows(rows)
    if not lines:
        return ""
    return f"<h2>Reproduction: published recipe vs tuned</h2><p>{_e(RECIPE_NOTE)}</p>{_simple_table(RECIPE_HEADER, lines)}"
