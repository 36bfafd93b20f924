"""Native charts of a generated tab in an xlsx package: one drawing part for the tab, one chart
part per chart, their relationships and content types (DrawingML, as Excel, WPS and LibreOffice
read it). The parts are named after the tab's sheet part (`xl/drawings/kakosheet_sheetN.xml`,
`xl/charts/kakosheet_sheetN_K.xml`), so a later sync overwrites its own parts and never touches
another drawing or chart of the workbook. Each series names its range on the tab and carries the
values as cached, for a reader that does not recompute."""

from __future__ import annotations

import math
import posixpath
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

from ..patch import Chart, GeneratedTab
from .xlsxpkg import REL_NS, col_letters

CHART_NS = "http://schemas.openxmlformats.org/drawingml/2006/chart"
DRAWING_NS = "http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing"
A_NS = "http://schemas.openxmlformats.org/drawingml/2006/main"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
DRAWING_TYPE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/drawing"
CHART_TYPE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/chart"
DRAWING_CT = "application/vnd.openxmlformats-officedocument.drawing+xml"
CHART_CT = "application/vnd.openxmlformats-officedocument.drawingml.chart+xml"
PREFIX = "kakosheet_"  # the parts this module names, and only these, are its own
COLOURS = ("4472C4", "ED7D31", "A5A5A5", "FFC000")


def part_names(sheet_part: str, count: int) -> tuple[str, list[str]]:
    """The drawing part and the chart parts of the generated tab in `sheet_part`."""
    stem = posixpath.splitext(posixpath.basename(sheet_part))[0]
    return f"xl/drawings/{PREFIX}{stem}.xml", [f"xl/charts/{PREFIX}{stem}_{k}.xml" for k in range(1, count + 1)]


def is_own_part(name: str, sheet_part: str) -> bool:
    """Whether `name` is a drawing or chart part (or their relationships) made here for `sheet_part`."""
    stem = posixpath.splitext(posixpath.basename(sheet_part))[0]
    base = posixpath.basename(name)
    return base.startswith((f"{PREFIX}{stem}.", f"{PREFIX}{stem}_")) and name.startswith(("xl/drawings/", "xl/charts/"))


def sheet_rels(drawing_part: str, sheet_part: str) -> bytes:
    target = posixpath.relpath(drawing_part, posixpath.dirname(sheet_part))
    return _rels([("rId1", DRAWING_TYPE, target)])


def drawing_rels(chart_parts: Sequence[str], drawing_part: str) -> bytes:
    base = posixpath.dirname(drawing_part)
    return _rels([(f"rId{k}", CHART_TYPE, posixpath.relpath(p, base)) for k, p in enumerate(chart_parts, start=1)])


def _rels(items: Sequence[tuple[str, str, str]]) -> bytes:
    body = "".join(f'<Relationship Id="{rid}" Type="{kind}" Target="{escape(target)}"/>' for rid, kind, target in items)
    return f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{PKG_REL_NS}">{body}</Relationships>'.encode()


def drawing_xml(charts: Sequence[Chart]) -> bytes:
    """The drawing of the tab: each chart anchored at its cell, spanning its size in cells."""
    anchors = []
    for k, chart in enumerate(charts, start=1):
        col, row = chart.anchor
        cols, rows = chart.size
        anchors.append(
            '<xdr:twoCellAnchor editAs="oneCell">'
            f"<xdr:from><xdr:col>{col}</xdr:col><xdr:colOff>0</xdr:colOff><xdr:row>{row}</xdr:row><xdr:rowOff>0</xdr:rowOff></xdr:from>"
            f"<xdr:to><xdr:col>{col + cols}</xdr:col><xdr:colOff>0</xdr:colOff><xdr:row>{row + rows}</xdr:row><xdr:rowOff>0</xdr:rowOff></xdr:to>"
            f'<xdr:graphicFrame macro=""><xdr:nvGraphicFramePr><xdr:cNvPr id="{k + 1}" name="{escape(chart.title, {chr(34): "&quot;"})}"/><xdr:cNvGraphicFramePr/></xdr:nvGraphicFramePr>'
            '<xdr:xfrm><a:off x="0" y="0"/><a:ext cx="0" cy="0"/></xdr:xfrm>'
            f'<a:graphic><a:graphicData uri="{CHART_NS}"><c:chart xmlns:c="{CHART_NS}" xmlns:r="{REL_NS}" r:id="rId{k}"/></a:graphicData></a:graphic>'
            "</xdr:graphicFrame><xdr:clientData/></xdr:twoCellAnchor>"
        )
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<xdr:wsDr xmlns:xdr="{DRAWING_NS}" xmlns:a="{A_NS}">' + "".join(anchors) + "</xdr:wsDr>").encode("utf-8")


def _ref(tab: str, col: int, first: int, last: int) -> str:
    quoted = "'" + tab.replace("'", "''") + "'"
    letter = col_letters(col)
    return f"{quoted}!${letter}${first}:${letter}${last}"


def _cell(rows: Sequence[Sequence[Any]], row: int, col: int) -> Any:
    r = rows[row - 1] if 0 < row <= len(rows) else ()
    return r[col] if col < len(r) else None


def _str_cache(values: Sequence[Any]) -> str:
    pts = "".join(f'<c:pt idx="{i}"><c:v>{escape(str(v))}</c:v></c:pt>' for i, v in enumerate(values) if v is not None)
    return f'<c:strCache><c:ptCount val="{len(values)}"/>{pts}</c:strCache>'


def _num_cache(values: Sequence[Any], fmt: str) -> str:
    pts = "".join(
        f'<c:pt idx="{i}"><c:v>{float(v)!r}</c:v></c:pt>' for i, v in enumerate(values) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    )
    return f'<c:numCache><c:formatCode>{escape(fmt)}</c:formatCode><c:ptCount val="{len(values)}"/>{pts}</c:numCache>'


def chart_xml(tab: GeneratedTab, chart: Chart) -> bytes:
    """The chart part: a bar, column or line chart of the tab's own ranges, with a second value
    axis on the right for the series marked secondary (drawn as lines)."""
    rows = tab.rows
    col, first, last = chart.categories
    cats = [_cell(rows, r, col) for r in range(first, last + 1)]
    cat_xml = f"<c:cat><c:strRef><c:f>{escape(_ref(tab.name, col, first, last))}</c:f>{_str_cache(cats)}</c:strRef></c:cat>"

    def series(k: int, s: Any) -> str:
        values = [_cell(rows, r, s.column) for r in range(first, last + 1)]
        name_ref = _ref(tab.name, s.column, chart.header_row, chart.header_row).split(":")[0]
        fmt = "0%" if s.percent else "General"
        colour = COLOURS[k % len(COLOURS)]
        line = s.secondary or chart.kind == "line"
        look = (
            f'<c:spPr><a:ln w="28575"><a:solidFill><a:srgbClr val="{colour}"/></a:solidFill></a:ln></c:spPr><c:marker><c:symbol val="circle"/><c:size val="5"/></c:marker>'
            if line
            else f'<c:spPr><a:solidFill><a:srgbClr val="{colour}"/></a:solidFill></c:spPr><c:invertIfNegative val="0"/>'
        )
        return (
            f'<c:ser><c:idx val="{k}"/><c:order val="{k}"/>'
            f"<c:tx><c:strRef><c:f>{escape(name_ref)}</c:f>{_str_cache([s.name])}</c:strRef></c:tx>{look}{cat_xml}"
            f"<c:val><c:numRef><c:f>{escape(_ref(tab.name, s.column, first, last))}</c:f>{_num_cache(values, fmt)}</c:numRef></c:val>"
            + ('<c:smooth val="0"/>' if line else "")
            + "</c:ser>"
        )

    primary = [(k, s) for k, s in enumerate(chart.series) if not s.secondary]
    secondary = [(k, s) for k, s in enumerate(chart.series) if s.secondary]
    plots = []
    if primary:
        body = "".join(series(k, s) for k, s in primary)
        if chart.kind == "line":
            plots.append(f'<c:lineChart><c:grouping val="standard"/><c:varyColors val="0"/>{body}<c:marker val="1"/><c:axId val="1001"/><c:axId val="1002"/></c:lineChart>')
        else:
            direction = "bar" if chart.kind == "bar" else "col"
            plots.append(
                f'<c:barChart><c:barDir val="{direction}"/><c:grouping val="clustered"/><c:varyColors val="0"/>{body}'
                '<c:gapWidth val="60"/><c:axId val="1001"/><c:axId val="1002"/></c:barChart>'
            )
    if secondary:
        body = "".join(series(k, s) for k, s in secondary)
        plots.append(f'<c:lineChart><c:grouping val="standard"/><c:varyColors val="0"/>{body}<c:marker val="1"/><c:axId val="2001"/><c:axId val="2002"/></c:lineChart>')
    horizontal = chart.kind == "bar"
    percent = any(s.percent for _, s in primary)
    axes = (
        f'<c:catAx><c:axId val="1001"/><c:scaling><c:orientation val="{"maxMin" if horizontal else "minMax"}"/></c:scaling><c:delete val="0"/>'
        f'<c:axPos val="{"l" if horizontal else "b"}"/><c:numFmt formatCode="General" sourceLinked="0"/><c:majorTickMark val="none"/><c:minorTickMark val="none"/>'
        '<c:tickLblPos val="nextTo"/><c:crossAx val="1002"/><c:crosses val="autoZero"/><c:auto val="1"/><c:lblAlgn val="ctr"/><c:lblOffset val="100"/><c:noMultiLvlLbl val="0"/></c:catAx>'
        f'<c:valAx><c:axId val="1002"/><c:scaling><c:orientation val="minMax"/></c:scaling><c:delete val="0"/><c:axPos val="{"t" if horizontal else "l"}"/>'
        f'<c:majorGridlines/><c:numFmt formatCode="{"0%" if percent else "General"}" sourceLinked="0"/><c:majorTickMark val="none"/><c:minorTickMark val="none"/>'
        f'<c:tickLblPos val="nextTo"/><c:crossAx val="1001"/><c:crosses val="{"max" if horizontal else "autoZero"}"/><c:crossBetween val="between"/></c:valAx>'
    )
    if secondary:
        share = any(s.percent for _, s in secondary)
        axes += (
            '<c:catAx><c:axId val="2001"/><c:scaling><c:orientation val="minMax"/></c:scaling><c:delete val="1"/><c:axPos val="b"/>'
            '<c:majorTickMark val="none"/><c:minorTickMark val="none"/><c:tickLblPos val="nextTo"/><c:crossAx val="2002"/><c:crosses val="autoZero"/>'
            '<c:auto val="1"/><c:lblAlgn val="ctr"/><c:lblOffset val="100"/><c:noMultiLvlLbl val="0"/></c:catAx>'
            '<c:valAx><c:axId val="2002"/><c:scaling><c:orientation val="minMax"/>' + ('<c:max val="1"/><c:min val="0"/>' if share and chart.kind != "line" else "") + "</c:scaling>"
            f'<c:delete val="0"/><c:axPos val="r"/><c:numFmt formatCode="{"0%" if share else "General"}" sourceLinked="0"/><c:majorTickMark val="out"/>'
            '<c:minorTickMark val="none"/><c:tickLblPos val="nextTo"/><c:crossAx val="2001"/><c:crosses val="max"/><c:crossBetween val="between"/></c:valAx>'
        )
    legend = '<c:legend><c:legendPos val="b"/><c:overlay val="0"/></c:legend>' if len(chart.series) > 1 else ""
    title = (
        f'<c:title><c:tx><c:rich><a:bodyPr/><a:lstStyle/><a:p><a:pPr><a:defRPr sz="1200" b="1"/></a:pPr><a:r><a:rPr lang="{chart.lang}" sz="1200" b="1"/>'
        f'<a:t>{escape(chart.title)}</a:t></a:r></a:p></c:rich></c:tx><c:overlay val="0"/></c:title>'
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<c:chartSpace xmlns:c="{CHART_NS}" xmlns:a="{A_NS}" xmlns:r="{REL_NS}">'
        f'<c:roundedCorners val="0"/><c:chart>{title}<c:autoTitleDeleted val="0"/><c:plotArea><c:layout/>{"".join(plots)}{axes}</c:plotArea>'
        f'{legend}<c:plotVisOnly val="1"/><c:dispBlanksAs val="gap"/></c:chart></c:chartSpace>'
    ).encode()
