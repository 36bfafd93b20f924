"""The summary tabs written out for email, a wiki or a meeting, without touching the workbook:
Markdown and CSV (one file per tab), one HTML page with the charts (drawn by matplotlib, as SVG
whose text the browser sets, so Chinese shows in any browser's fonts), or a standalone xlsx of
the summary tabs with their native charts. The tables are those a sync would write now (a dry
run), so the files always agree with the workbook's tabs.

Text that a spreadsheet would take for a formula (starting with = + - @, a tab or a carriage
return) is written with a leading apostrophe in every format: opened in Excel or WPS, a CSV
cell never runs.
"""

from __future__ import annotations

import csv
import html
import io
import re
import warnings
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from .backends.base import Backend
from .patch import Chart, GeneratedTab, Patch
from .template import STATE_TAB

FORMATS = ("md", "csv", "html", "xlsx")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
COLOURS = ("#4472C4", "#ED7D31", "#A5A5A5", "#FFC000")  # as the xlsx charts draw their series


def summary_tabs(backend: Backend, now: datetime) -> tuple[list[GeneratedTab], str]:
    """The summary tabs a sync of `backend` at `now` would write, and the workbook's language;
    nothing is written."""
    from .sync import Sync

    job = Sync(backend, now, dry_run=True)
    job.run()
    assert job.plan is not None
    generated = job.plan.built[-1]
    return [g for g in generated if g.name != STATE_TAB and not g.hidden], job.plan.summary.lang


def safe(value: Any) -> Any:
    """`value`, with text a spreadsheet would take for a formula made plain text."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def shown(value: Any, fmt: str | None = None) -> str:
    """A cell as text: percentages as the tab formats them, dates without seconds, safe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and fmt and fmt.endswith("%"):
        decimals = len(fmt.split(".")[1]) - 1 if "." in fmt else 0
        return f"{value:.{decimals}%}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:g}" if abs(value) < 1e15 else str(value)
    return str(safe(value))


def blocks(tab: GeneratedTab) -> list[tuple[str | None, list[list[Any]], int]]:
    """The tables of a tab: (heading or None, rows with the header first, 1-based row of the
    header), split at blank rows; a one-cell row before a table is its heading."""
    out: list[tuple[str | None, list[list[Any]], int]] = []
    heading: str | None = None
    current: list[list[Any]] = []
    start = 0
    for r, row in enumerate(tab.rows[1:], start=2):
        if not any(v not in (None, "") for v in row):
            if current:
                out.append((heading, current, start))
            heading, current = None, []
            continue
        if not current and len([v for v in row if v not in (None, "")]) == 1 and heading is None and r + 1 <= len(tab.rows) and len(tab.rows[r]) > 1:
            heading = str(row[0])
            continue
        if not current:
            start = r
        current.append(list(row))
    if current:
        out.append((heading, current, start))
    return out


def _slug(name: str) -> str:
    return re.sub(r"[\\/:*?\"<>|\s]+", "_", name).strip("_") or "tab"


def write_md(tabs: Sequence[GeneratedTab], out: Path) -> list[Path]:
    written = []
    for tab in tabs:
        lines = [f"# {_md(tab.name)}", "", _md(str(tab.rows[0][0])) if tab.rows and tab.rows[0] else "", ""]
        for heading, rows, first in blocks(tab):
            if heading:
                lines += [f"## {_md(heading)}", ""]
            width = max(len(r) for r in rows)
            body = [[_md(shown(r[c] if c < len(r) else None, tab.row_formats(first + i).get(c))) for c in range(width)] for i, r in enumerate(rows)]
            lines.append("| " + " | ".join(body[0]) + " |")
            lines.append("|" + "---|" * width)
            lines += ["| " + " | ".join(r) + " |" for r in body[1:]]
            lines.append("")
        path = out / f"{_slug(tab.name)}.md"
        path.write_text("\n".join(lines), encoding="utf-8")
        written.append(path)
    return written


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def write_csv(tabs: Sequence[GeneratedTab], out: Path) -> list[Path]:
    """One file per tab, UTF-8 with a byte-order mark (so that Excel reads the Chinese), the tab's
    rows as they are (numbers as numbers), formula-like text made plain."""
    written = []
    for tab in tabs:
        buf = io.StringIO()
        w = csv.writer(buf)
        for row in tab.rows:
            w.writerow(["" if v is None else v.strftime("%Y-%m-%d %H:%M") if isinstance(v, datetime) else safe(v) for v in row])
        path = out / f"{_slug(tab.name)}.csv"
        path.write_text("\ufeff" + buf.getvalue(), encoding="utf-8")
        written.append(path)
    return written


def chart_svg(tab: GeneratedTab, chart: Chart) -> str:
    """The chart drawn by matplotlib from the tab's own cells, as an SVG element."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: the browser sets it, in its own (CJK) fonts
    col, first, last = chart.categories
    rows = tab.rows[first - 1 : last]
    labels = [str(r[col]) if col < len(r) and r[col] is not None else "" for r in rows]

    def values(c: int) -> list[float]:
        return [float(r[c]) if c < len(r) and isinstance(r[c], (int, float)) else float("nan") for r in rows]

    with warnings.catch_warnings():  # a glyph matplotlib's font lacks (Chinese) is set by the browser: text stays text
        warnings.filterwarnings("ignore", "Glyph .* missing from font")
        return _draw(plt, PercentFormatter, tab, chart, labels, values)


def _draw(plt: Any, PercentFormatter: Any, tab: GeneratedTab, chart: Chart, labels: list[str], values: Any) -> str:  # noqa: N803
    fig, ax = plt.subplots(figsize=(8, max(3.5, 0.32 * len(labels)) if chart.kind == "bar" else 4.2), dpi=100)
    try:
        primary = [s for s in chart.series if not s.secondary]
        secondary = [s for s in chart.series if s.secondary]
        handles = []
        for k, s in enumerate(primary):
            colour = COLOURS[k % len(COLOURS)]
            if chart.kind == "bar":
                handles.append(ax.barh(labels, values(s.column), color=colour, label=s.name))
                ax.invert_yaxis()
                if s.percent:
                    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
            elif chart.kind == "column":
                handles.append(ax.bar(labels, values(s.column), color=colour, label=s.name))
            else:
                (line,) = ax.plot(labels, values(s.column), color=colour, marker="o", label=s.name)
                handles.append(line)
            if s.percent and chart.kind != "bar":
                ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        if secondary:
            right = ax.twinx()
            for k, s in enumerate(secondary, start=len(primary)):
                (line,) = right.plot(labels, values(s.column), color=COLOURS[k % len(COLOURS)], marker="o", label=s.name)
                handles.append(line)
                if s.percent:
                    right.yaxis.set_major_formatter(PercentFormatter(1.0))
                    if chart.kind != "line":
                        right.set_ylim(0, 1.05)
        if chart.kind != "bar":
            ax.tick_params(axis="x", labelrotation=45)
            for t in ax.get_xticklabels():
                t.set_horizontalalignment("right")
        ax.set_title(chart.title)
        ax.grid(axis="x" if chart.kind == "bar" else "y", alpha=0.3)
        if len(chart.series) > 1:
            ax.legend(handles=handles, labels=[s.name for s in chart.series], loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=len(chart.series), frameon=False)
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", bbox_inches="tight")
    finally:
        plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]
    return re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1 class="chart" role="img" aria-label="' + html.escape(chart.title, quote=True) + '"', svg, count=1)


PAGE_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif; margin: 0 auto; max-width: 1200px; padding: 12px; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 2px solid #DDEBF7; } h3 { font-size: 1em; }
nav a { display: inline-block; margin: 0 12px 6px 0; }
.note { color: #555; font-size: 0.9em; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; margin-bottom: 1em; }
table { border-collapse: collapse; font-size: 0.85em; white-space: nowrap; }
th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: left; }
th { background: #DDEBF7; position: sticky; top: 0; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
svg.chart { width: 100%; height: auto; max-width: 800px; display: block; margin: 0.5em 0 1em; }
"""


def write_html(tabs: Sequence[GeneratedTab], out: Path, lang: str) -> list[Path]:
    """One page: a contents line, then each tab with its charts first and its tables below."""
    parts = [
        f'<!DOCTYPE html>\n<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>kakosheet {'报表' if lang == 'zh' else 'report'}</title><style>{PAGE_STYLE}</style></head><body>",
        f"<h1>{'kakosheet 报表' if lang == 'zh' else 'kakosheet report'}</h1>",
        "<nav>" + "".join(f'<a href="#t{i}">{html.escape(t.name)}</a>' for i, t in enumerate(tabs)) + "</nav>",
    ]
    for i, tab in enumerate(tabs):
        parts.append(f'<section id="t{i}"><h2>{html.escape(tab.name)}</h2>')
        if tab.rows and tab.rows[0]:
            parts.append(f'<p class="note">{html.escape(shown(tab.rows[0][0]))}</p>')
        parts += [chart_svg(tab, chart) for chart in tab.charts]
        for heading, rows, first in blocks(tab):
            if heading:
                parts.append(f"<h3>{html.escape(shown(heading))}</h3>")
            width = max(len(r) for r in rows)
            head = "".join(f"<th>{html.escape(shown(v))}</th>" for v in rows[0])
            body = []
            for k, r in enumerate(rows[1:], start=1):
                fmts = tab.row_formats(first + k)
                cells = []
                for c in range(width):
                    v = r[c] if c < len(r) else None
                    cls = ' class="n"' if isinstance(v, (int, float)) and not isinstance(v, bool) else ""
                    cells.append(f"<td{cls}>{html.escape(shown(v, fmts.get(c)))}</td>")
                body.append("<tr>" + "".join(cells) + "</tr>")
            parts.append(f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>')
        parts.append("</section>")
    parts.append("</body></html>")
    path = out / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return [path]


def write_xlsx(tabs: Sequence[GeneratedTab], out: Path) -> list[Path]:
    """A workbook of the summary tabs alone, each with its charts, written by the same package
    writer as a sync (an empty workbook first, whose one sheet the first tab replaces)."""
    import openpyxl

    from .backends.xlsx import XlsxBackend

    path = out / "report.xlsx"
    path.unlink(missing_ok=True)
    book = openpyxl.Workbook()
    book.active.title = tabs[0].name if tabs else "Report"
    book.save(path)
    backend = XlsxBackend(path, backups=0)
    backend.read()
    backend.apply(Patch(generated=list(tabs)))
    return [path]


def export(backend: Backend, now: datetime, fmt: str, out: Path) -> list[Path]:
    """Write the summary tabs of `backend` at `now` to folder `out` in format `fmt`; the files written."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: use one of {', '.join(FORMATS)}")
    tabs, lang = summary_tabs(backend, now)
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "md":
        return write_md(tabs, out)
    if fmt == "csv":
        return write_csv(tabs, out)
    if fmt == "html":
        return write_html(tabs, out, lang)
    return write_xlsx(tabs, out)
