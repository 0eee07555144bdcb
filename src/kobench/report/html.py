"""Step 8c: reports/index.html, one self-contained page (images inlined, no CDN), every string escaped."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from kobench.report.cells import PROTOCOLS, RECIPE_HEADER, RECIPE_NOTE, best_per_column, format_cell, recipe_rows
from kobench.report.results import Row
from kobench.tasks import TASKS

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}"
    "th,td{border:1px solid #ccc;padding:4px 8px;font-size:13px;text-align:center}th{background:#f3f3f3}"
    "td:first-child{text-align:left}img{max-width:100%;margin:1em 0;border:1px solid #eee}"
)


def _cell_html(text: str) -> str:
    """Escape, then turn the markdown bold marker into <strong> (escaping leaves asterisks alone)."""
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(text))


def _table(rows: list[Row], notes: list[str]) -> str:
    best = best_per_column(rows)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["", "Size", *(TASKS[t].published_column for t in TASKS)])
    body = []
    for row in rows:
        name = f"{row.display} (ours)" if row.ran else row.display
        cells = [format_cell(c, best.get(t) == row.model, notes) for t, c in row.cells.items()]
        tds = "".join(f"<td>{_cell_html(x)}</td>" for x in [name, row.size or "-", *cells])
        body.append(f"<tr>{tds}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _image(out: Path, relative: str, title: str) -> str:
    data = base64.b64encode((out / relative).read_bytes()).decode("ascii")
    caption = html.escape(title)
    return f'<figure><img alt="{caption}" src="data:image/png;base64,{data}"><figcaption>{caption}</figcaption></figure>'


def build_html(rows: list[Row], out: Path, plots: list[tuple[str, str]], protocols: set[str], extra: list[str]) -> str:
    """The page: the same tables, protocol lines and plots as results.md."""
    notes: list[str] = []
    sections = []
    for title, size_class in (("Base Model", "base"), ("Small Model", "small")):
        group = [r for r in rows if r.size_class == size_class]
        if group:
            sections.append(f"<h2>{title}</h2>{_table(group, notes)}")
    if recipes := recipe_rows(rows):
        head = "".join(f"<th>{html.escape(h)}</th>" for h in RECIPE_HEADER)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(x)}</td>" for x in line) + "</tr>" for line in recipes)
        sections.append(f"<h2>Reproduction: published recipe vs tuned</h2><p>{html.escape(RECIPE_NOTE)}</p>"
                        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")  # fmt: skip
    items = "".join(f"<li>ours: {html.escape(PROTOCOLS[p])}</li>" for p in sorted(protocols))
    items += "".join(f"<li>{html.escape(line)}</li>" for line in extra)
    notes_html = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    figures = "".join(_image(out, path, title) for title, path in plots if (out / path).exists())
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>kobench results</title>"
        f"<style>{_STYLE}</style></head><body><h1>kobench results</h1>"
        "<p>Each cell: <strong>ours</strong> (published, Δ ours − published), ×100; KorQuAD EM / F1.</p>"
        f"{''.join(sections)}<h2>Protocol</h2><ul>{items}"
        "<li>published: test-selected (the reference scripts scored every checkpoint on test)</li></ul>"
        + (f"<h2>Notes</h2><ol>{notes_html}</ol>" if notes else "")
        + f"<h2>Plots</h2>{figures}</body></html>\n"
    )
