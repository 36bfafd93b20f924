"""Worksheet XML: set cells inside `<sheetData>` without touching anything else, and write generated tabs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from xml.sax.saxutils import escape

from ..patch import GeneratedTab
from ..table import excel_serial
from .xlsx_styles import Styles
from .xlsxpkg import MAIN_NS, REL_NS, PackageError, _attrs, col_index, col_letters

_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.S)
_ATTR_R = re.compile(rb'\br="([A-Z]*)(\d*)"')
_ATTR_S = re.compile(rb'\bs="(\d+)"')
_ROW_NUMBER = re.compile(rb'\br="(\d+)"')
_ATTR_SPANS = re.compile(rb'\s+spans="[^"]*"')
_ROW_STYLE = re.compile(rb'\bs="(\d+)"[^>]*?\bcustomFormat="(?:1|true)"|\bcustomFormat="(?:1|true)"[^>]*?\bs="(\d+)"')

_PRESERVE = re.compile(r"^\s|\s$|[\t\n\r]")
_NEEDS_ESCAPE = re.compile("[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: str) -> str:
    if _NEEDS_ESCAPE.search(value) is None:
        return value
    return escape(_ILLEGAL_XML.sub("", value))


# -- values -------------------------------------------------------------------------------


def cell_xml(prefix: str, ref: str, value: Any, style: int | None, date1904: bool) -> str:
    """One `<c>` element holding `value`; text is always an inline string, never a formula."""
    tail = _cell_tail(prefix, value, style, date1904)
    return f'<{prefix}c r="{ref}"{tail}' if tail else ""


def _cell_tail(prefix: str, value: Any, style: int | None, date1904: bool) -> str:
    """A `<c>` element after its reference: attributes and content ('' for a blank, unstyled cell)."""
    s = f' s="{style}"' if style is not None else ""
    if type(value) is str and value:
        return f"{s} {_inline(prefix, value)}"
    if value is None or value == "":
        return f"{s}/>" if s else ""
    if isinstance(value, bool):
        return f'{s} t="b"><{prefix}v>{int(value)}</{prefix}v></{prefix}c>'
    if isinstance(value, (datetime, date)):
        return f"{s}><{prefix}v>{excel_serial(value, date1904)!r}</{prefix}v></{prefix}c>"
    if isinstance(value, (int, float)):
        return f"{s}><{prefix}v>{value!r}</{prefix}v></{prefix}c>"
    return f"{s} {_inline(prefix, str(value))}"


def _inline(prefix: str, value: str) -> str:
    """The rest of a `<c>` start tag and its content for a text value (as Excel does, whitespace
    is marked to be kept only where a reader could lose it)."""
    space = ' xml:space="preserve"' if _PRESERVE.search(value) else ""
    return f't="inlineStr"><{prefix}is><{prefix}t{space}>{_text(value)}</{prefix}t></{prefix}is></{prefix}c>'


# -- worksheets ---------------------------------------------------------------------------


@dataclass
class SheetPatch:
    """New values for cells of one worksheet: row -> {0-based column -> value}."""

    cells: dict[int, dict[int, Any]]
    header_row: int = 0
    header_style: int | None = None  # style for new cells in the header row


def _column_styles(xml: bytes) -> dict[int, int]:
    out = {}
    m = re.search(rb"<(?:\w+:)?cols>(.*?)</(?:\w+:)?cols>", xml, re.S)
    if m:
        for col in re.finditer(rb"<(?:\w+:)?col\b([^>]*?)/?>", m.group(1)):
            attrs = _attrs(col.group(1).decode())
            if "style" in attrs:
                for c in range(int(attrs["min"]) - 1, int(attrs["max"])):
                    out[c] = int(attrs["style"])
    return out


def patch_worksheet(xml: bytes, patch: SheetPatch, styles: Styles, date1904: bool) -> tuple[list[Any], bool]:
    """`xml` with the cells of `patch` set, as pieces to write one after another (unchanged stretches
    are views of `xml`, not copies); and whether a formula cell was overwritten."""
    sd = re.search(rb"<(\w+:)?sheetData\b[^>]*?(/?)>", xml)
    if sd is None:
        raise PackageError("worksheet has no sheetData")
    prefix = (sd.group(1) or b"").decode()
    if sd.group(2):  # <sheetData/>: no rows yet
        xml = xml[: sd.start()] + f"<{prefix}sheetData></{prefix}sheetData>".encode() + xml[sd.end() :]
        sd = re.search(rb"<(\w+:)?sheetData\b[^>]*?>", xml)
        assert sd is not None
    body_start = sd.end()
    body_end = xml.index(f"</{prefix}sheetData>".encode(), body_start)
    cells = _Cells(prefix, patch, styles, _column_styles(xml[: sd.start()]), date1904)
    order = sorted(patch.cells)  # rows to write, consumed front to back
    nxt = 0
    view = memoryview(xml)
    out: list[Any] = [xml[:body_start]]
    pos = body_start
    implicit = 0
    formula = False
    close = f"</{prefix}row>".encode()
    open_row = f"<{prefix}row".encode()
    row_start = re.compile(rb"<" + re.escape(prefix.encode()) + rb"row\b([^>]*?)(/?)>")  # a literal start scans fast
    for m in row_start.finditer(xml, body_start, body_end):
        if nxt == len(order):
            break
        attrs = m.group(1)
        r = _ROW_NUMBER.search(attrs)
        row = int(r.group(1)) if r else implicit + 1
        implicit = row
        while nxt < len(order) and order[nxt] < row:  # rows the sheet lacks: add them in order
            out.append(view[pos : m.start()])
            pos = m.start()
            out.append(cells.new_row(order[nxt], patch.cells[order[nxt]]))
            nxt += 1
        if nxt == len(order) or order[nxt] != row:
            continue
        nxt += 1
        end = m.end() if m.group(2) else xml.index(close, m.end()) + len(close)
        inner = b"" if m.group(2) else xml[m.end() : end - len(close)]
        rs = None
        if b"customFormat" in attrs and (row_style := _ROW_STYLE.search(attrs)):
            rs = int(row_style.group(1) or row_style.group(2))
        new_inner, had_formula = cells.patch_row(row, inner, patch.cells[row], rs)
        formula |= had_formula
        if b"spans" in attrs:
            attrs = _ATTR_SPANS.sub(b"", attrs)
        out.append(view[pos : m.start()])
        out.append(b"".join((open_row, attrs, b">", new_inner, close)))
        pos = end
    out.append(view[pos:body_end])
    out.extend(cells.new_row(row, patch.cells[row]) for row in order[nxt:])
    out.append(view[body_end:])
    max_col = max((col for writes in patch.cells.values() for col in writes), default=-1)
    out[0] = _widen_dimension(out[0], max_col, max(patch.cells, default=0))  # <dimension> comes before the cells
    return out, formula


class _Cells:
    """Writes the cells of one worksheet: what every row of it shares (prefix, styles, date system)."""

    def __init__(self, prefix: str, patch: SheetPatch, styles: Styles, col_styles: dict[int, int], date1904: bool):
        self.prefix = prefix
        self.bprefix = prefix.encode()
        self.patch = patch
        self.styles = styles
        self.col_styles = col_styles
        self.date1904 = date1904
        self._letters: dict[int, str] = {}
        self._tails: dict[tuple[int | None, type, Any], str] = {}

    def cell(self, row: int, col: int, value: Any, current: int | None, row_style: int | None) -> str:
        """The cell's XML. Its style: the cell's own, else the header's, the row's or the column's;
        dates get a date format."""
        style = current
        if style is None:
            if row == self.patch.header_row and self.patch.header_style is not None:
                style = self.patch.header_style
            else:
                style = row_style if row_style is not None else self.col_styles.get(col)
        when = isinstance(value, (datetime, date))
        if when:
            style = self.styles.date_style(style)
        letters = self._letters.get(col)
        if letters is None:
            letters = self._letters[col] = col_letters(col)
        if when:  # dates rarely repeat: not worth remembering
            tail = _cell_tail(self.prefix, value, style, self.date1904)
        else:  # the engine writes the same few texts and numbers over and over
            key = (style, type(value), value)
            tail = self._tails.get(key)
            if tail is None:
                tail = self._tails[key] = _cell_tail(self.prefix, value, style, self.date1904)
        return f'<{self.prefix}c r="{letters}{row}"{tail}' if tail else ""

    def new_row(self, row: int, writes: dict[int, Any]) -> bytes:
        cells = "".join(self.cell(row, col, value, None, None) for col, value in sorted(writes.items()))
        return f'<{self.prefix}row r="{row}">{cells}</{self.prefix}row>'.encode()

    def patch_row(self, row: int, inner: bytes, writes: dict[int, Any], row_style: int | None) -> tuple[bytes, bool]:
        """The row's cells with `writes` applied, and whether a formula was overwritten.

        A fast path finds the written cells by their reference and adds new ones in place; rows
        whose cells carry no references are parsed cell by cell."""
        fast = self._fast(row, inner, writes, row_style)
        return fast if fast is not None else self._full(row, inner, writes, row_style)

    def _fast(self, row: int, inner: bytes, writes: dict[int, Any], row_style: int | None) -> tuple[bytes, bool] | None:
        bprefix = self.bprefix
        last_open = inner.rfind(b"<" + bprefix + b"c ")
        if inner.find(b"<" + bprefix + b"c>", last_open + 1) >= 0 or inner.find(b"<" + bprefix + b"c/", last_open + 1) >= 0:
            return None  # cells without references: count them the slow way
        last_col = -1
        if last_open >= 0:
            r = _ATTR_R.search(inner, last_open, inner.index(b">", last_open))
            if r is None or not r.group(1):
                return None
            last_col = col_index(r.group(1))
        order = sorted(writes)
        if order[0] > last_col:  # the common first sync: engine columns still empty, all to append
            appended = "".join([self.cell(row, col, writes[col], None, row_style) for col in order]).encode()
            if b"extLst" not in inner:
                return inner + appended, False
            return self._append(inner, [appended]), False
        edits: list[tuple[int, int, int, str]] = []  # start, end, column, new xml
        appended_cells: list[str] = []
        formula = False
        for col in order:
            value = writes[col]
            found = None if col > last_col else _find_cell(bprefix, inner, f"{col_letters(col)}{row}".encode())
            if found is not None:
                start, end = found
                raw = inner[start:end]
                s = _ATTR_S.search(raw, 0, raw.index(b">"))
                formula |= re.search(rb"<(?:\w+:)?f\b", raw) is not None
                edits.append((start, end, col, self.cell(row, col, value, int(s.group(1)) if s else None, row_style)))
            elif col > last_col:
                appended_cells.append(self.cell(row, col, value, None, row_style))
            else:  # a new cell before an existing one: find the next cell to its right
                follower = next((f for c in range(col + 1, last_col + 1) if (f := _find_cell(bprefix, inner, f"{col_letters(c)}{row}".encode()))), None)
                if follower is None:
                    return None
                edits.append((follower[0], follower[0], col, self.cell(row, col, value, None, row_style)))
        out: list[bytes] = []
        pos = 0
        for start, end, _, xml in sorted(edits, key=lambda e: e[:3]):
            out.append(inner[pos:start])
            out.append(xml.encode())
            pos = end
        out.append(inner[pos:])
        if appended_cells:
            return self._append(b"".join(out), ["".join(appended_cells).encode()]), formula
        return b"".join(out), formula

    @staticmethod
    def _append(inner: bytes, cells: list[bytes]) -> bytes:
        """`inner` with `cells` after its last cell (before a trailing extLst, which stays last)."""
        ext = re.search(rb"<(?:\w+:)?extLst\b", inner) if b"extLst" in inner else None
        at = ext.start() if ext else len(inner)
        return b"".join([inner[:at], *cells, inner[at:]])

    def _full(self, row: int, inner: bytes, writes: dict[int, Any], row_style: int | None) -> tuple[bytes, bool]:
        cells: list[tuple[int, bytes]] = []
        implicit = -1
        formula = False
        pos = 0
        for m in _CELL.finditer(inner):
            r = _ATTR_R.search(m.group(1))
            col = col_index(r.group(1)) if r and r.group(1) else implicit + 1
            implicit = col
            cells.append((col, inner[m.start() : m.end()]))
            pos = m.end()
        tail = inner[pos:]  # anything after the last cell (e.g. an extLst) stays last
        existing = {col for col, _ in cells}
        rebuilt: list[tuple[int, bytes]] = []
        for col, raw in cells:
            if col in writes:
                s = _ATTR_S.search(raw.split(b">", 1)[0])
                formula |= re.search(rb"<(?:\w+:)?f\b", raw) is not None
                rebuilt.append((col, self.cell(row, col, writes[col], int(s.group(1)) if s else None, row_style).encode()))
            else:
                rebuilt.append((col, raw))
        rebuilt += [(col, self.cell(row, col, value, None, row_style).encode()) for col, value in writes.items() if col not in existing]
        rebuilt.sort(key=lambda item: item[0])
        return b"".join(raw for _, raw in rebuilt) + tail, formula


def _find_cell(prefix: bytes, inner: bytes, ref: bytes) -> tuple[int, int] | None:
    """Start and end of the `<c>` element with reference `ref` in a row, if there is one."""
    at = inner.find(b' r="' + ref + b'"')
    if at < 0:
        return None
    start = inner.rfind(b"<", 0, at)
    if start < 0 or not inner.startswith(b"<" + prefix + b"c", start) or b">" in inner[start:at]:
        return None  # the text matched inside a value, not a cell's reference
    close = inner.index(b">", at)
    if inner[close - 1 : close] == b"/":
        return start, close + 1
    end_tag = b"</" + prefix + b"c>"
    return start, inner.index(end_tag, close) + len(end_tag)


def _widen_dimension(xml: bytes, max_col: int, max_row: int) -> bytes:
    m = re.search(rb'<(?:\w+:)?dimension\b[^>]*?ref="([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?"', xml)
    if m is None or max_col < 0:
        return xml
    end_col = col_index(m.group(3) or m.group(1))
    end_row = int(m.group(4) or m.group(2))
    if max_col <= end_col and max_row <= end_row:
        return xml
    ref = f"{m.group(1).decode()}{m.group(2).decode()}:{col_letters(max(end_col, max_col))}{max(end_row, max_row)}"
    return xml[: m.start(1)] + ref.encode() + xml[m.end(4) if m.group(4) else m.end(2) :]

# -- generated tabs -----------------------------------------------------------------------


def generated_sheet_xml(tab: GeneratedTab, styles: Styles, date1904: bool) -> bytes:
    """A whole worksheet for a generated tab: title line, styled header, frozen below it."""
    title = styles.xf(font='<font><b/><sz val="12"/></font>') if not tab.hidden else None
    header = styles.xf(font="<font><b/><sz val=\"11\"/></font>", fill='<fill><patternFill patternType="solid"><fgColor rgb="FFDDEBF7"/><bgColor indexed="64"/></patternFill></fill>') if tab.header_row else None
    formats = {c: styles.xf(styles.number_format(fmt)) for c, fmt in tab.formats.items()}
    parts = [f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{MAIN_NS}" xmlns:r="{REL_NS}">']
    width = max((len(r) for r in tab.rows), default=1)
    parts.append(f'<dimension ref="A1:{col_letters(max(width, 1) - 1)}{max(len(tab.rows), 1)}"/>')
    if tab.header_row:
        parts.append(
            f'<sheetViews><sheetView workbookViewId="0"><pane ySplit="{tab.header_row}" topLeftCell="A{tab.header_row + 1}" '
            'activePane="bottomLeft" state="frozen"/><selection pane="bottomLeft"/></sheetView></sheetViews>'
        )
    parts.append('<sheetFormatPr defaultRowHeight="15"/>')
    if tab.widths:
        parts.append("<cols>" + "".join(f'<col min="{c + 1}" max="{c + 1}" width="{w}" customWidth="1"/>' for c, w in sorted(tab.widths.items())) + "</cols>")
    parts.append("<sheetData>")
    letters = [col_letters(c) for c in range(width)]
    for r, row in enumerate(tab.rows, start=1):
        cells = []
        for c, value in enumerate(row):
            if value is None:
                continue
            style = title if r == 1 and c == 0 else header if r == tab.header_row else formats.get(c) if r > tab.header_row else None
            if type(value) is str and value:
                s = f' s="{style}"' if style is not None else ""
                cells.append(f'<c r="{letters[c]}{r}"{s} {_inline("", value)}')
                continue
            if isinstance(value, (datetime, date)):
                style = styles.date_style(style)
            cells.append(cell_xml("", f"{letters[c]}{r}", value, style, date1904))
        parts.append(f'<row r="{r}">{"".join(cells)}</row>')
    parts.append("</sheetData></worksheet>")
    return "".join(parts).encode("utf-8")
