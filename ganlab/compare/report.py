"""The comparison as one self-contained static HTML file (images as base64 data URIs)."""

from __future__ import annotations

import base64
import html
import time
from collections.abc import Sequence
from pathlib import Path

from ganlab.compare.collect import RunSummary
from ganlab.compare.table import Table, format_cell

STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; }
table { border-collapse: collapse; font-size: 13px; margin-bottom: 24px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; white-space: nowrap; }
th { background: #f0f0f0; }
td.text { text-align: left; }
.grids { display: flex; flex-wrap: wrap; gap: 16px; }
.grids figure { margin: 0; text-align: center; font-size: 12px; }
.grids img { width: 200px; image-rendering: pixelated; border: 1px solid #ccc; }
img.curves { max-width: 100%; }
.scroll { overflow-x: auto; max-width: 100%; }
"""


def data_uri(path: Path) -> str:
    """A PNG file as a ``data:`` URI."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def table_html(table: Table, table_id: str, spread: bool = False) -> str:
    """A table; with ``spread`` medians read ``median [min–max]`` and min/max columns go."""
    columns = [c for c in table.columns
               if not (spread and (c.endswith(" min") or c.endswith(" max")))]
    heads = [c[:-len(" median")] + " (median [min–max])" if spread and c.endswith(" median")
             else c for c in columns]
    out = [f'<div class="scroll"><table id="{table_id}"><thead><tr>'
           + "".join(f"<th>{html.escape(h)}</th>" for h in heads) + "</tr></thead><tbody>"]
    for row in table.rows:
        cells = []
        for column in columns:
            value = row.get(column)
            text = format_cell(value)
            if spread and column.endswith(" median") and text:
                base = column[:-len(" median")]
                text += (f" [{format_cell(row.get(base + ' min'))}–"
                         f"{format_cell(row.get(base + ' max'))}]")
            kind = "" if isinstance(value, (int, float)) else ' class="text"'
            cells.append(f"<td{kind}>{html.escape(text)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out)


def report_html(runs: Sequence[RunSummary], table: Table,
                 by_config: Table | None, curves_png: Path | None,
                 protocol_lines: Sequence[str]) -> str:
    """The report's HTML text: the tables, the curves and every run's last sample grid."""
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>ganlab compare</title>", f"<style>{STYLE}</style></head><body>",
             "<h1>ganlab compare</h1>",
             f"<p>{len(runs)} runs, compared {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
             ".</p>", "<h2>Runs</h2>", table_html(table, "runs")]
    if protocol_lines:
        parts.append("<p>Evaluation protocols (metrics.json):</p><ul>"
                     + "".join(f"<li>{html.escape(line)}</li>" for line in protocol_lines)
                     + "</ul>")
    if by_config is not None:
        parts += ["<h2>Per configuration, over seeds</h2>",
                  table_html(by_config, "configurations", spread=True)]
    if curves_png is not None:
        parts += ["<h2>Curves</h2>",
                  f'<img class="curves" alt="metric curves" src="{data_uri(curves_png)}">']
    grids = [run for run in runs if run.last_samples is not None]
    if grids:
        parts.append("<h2>Last sample grids</h2><div class=\"grids\">")
        parts += [f'<figure><img alt="{html.escape(run.label)}" src="{data_uri(run.last_samples)}">'
                  f"<figcaption>{html.escape(run.label)}<br>{run.last_samples.stem}"
                  "</figcaption></figure>" for run in grids]
        parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts)
