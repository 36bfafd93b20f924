"""Patch an .xlsx/.xlsm package in place of openpyxl's load-and-save, so nothing else is lost.

Only these parts are ever rewritten:

- the worksheets that get engine cells: inside `<sheetData>`, only the rows that change, and
  in them only the changed cells (a cell keeps its style; text is written as an inline string,
  so the shared-string table is untouched); the `<dimension>` when a column is added;
- the generated tabs' worksheets, replaced whole;
- `xl/styles.xml`, when a style the engine needs (a date format, a bold header) is not there yet;
- `xl/workbook.xml`, its relationships and `[Content_Types].xml`, when a generated tab is added
  or hidden, and `xl/calcChain.xml` is dropped when an engine cell that held a formula is
  overwritten (Excel rebuilds it).

Every other part (images, charts, drawings, comments, VBA, pivot caches, custom XML, external
links, themes, shared strings) is copied as it is.
"""

from __future__ import annotations

import functools
import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any
from xml.sax.saxutils import escape

from ..patch import GeneratedTab
from ..table import excel_serial

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
WORKSHEET_TYPE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"
CALC_CHAIN_TYPE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/calcChain"
WORKSHEET_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
BIG_PART = 4 << 20  # parts larger than this are compressed fast rather than small

_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ROW_START = re.compile(rb"<(\w+:)?row\b([^>]*?)(/?)>")
_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.S)
_ATTR_R = re.compile(rb'\br="([A-Z]*)(\d*)"')
_ATTR_S = re.compile(rb'\bs="(\d+)"')
_ROW_NUMBER = re.compile(rb'\br="(\d+)"')
_ATTR_SPANS = re.compile(rb'\s+spans="[^"]*"')
_ROW_STYLE = re.compile(rb'\bs="(\d+)"[^>]*?\bcustomFormat="(?:1|true)"|\bcustomFormat="(?:1|true)"[^>]*?\bs="(\d+)"')
_DATE_CODES = re.compile(r"(?<![\\\"])[ymdhs]", re.I)
_BUILTIN_DATE_FORMATS = set(range(14, 23)) | {45, 46, 47}


class PackageError(Exception):
    """The package is not a workbook this writer can patch safely."""


@functools.cache
def col_letters(col: int) -> str:
    """0-based column -> letters."""
    out = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        out = chr(65 + rem) + out
    return out


def col_index(letters: bytes | str) -> int:
    """Letters -> 0-based column."""
    n = 0
    for ch in letters.decode() if isinstance(letters, bytes) else letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


_NEEDS_ESCAPE = re.compile("[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: str) -> str:
    if _NEEDS_ESCAPE.search(value) is None:
        return value
    return escape(_ILLEGAL_XML.sub("", value))


def _attr(value: str) -> str:
    return escape(value, {'"': "&quot;"})


# -- the package --------------------------------------------------------------------------


@dataclass
class SheetEntry:
    name: str
    part: str  # zip member name, e.g. xl/worksheets/sheet2.xml
    rid: str
    hidden: bool


@dataclass
class Package:
    """A workbook zip: its members, and where each sheet's XML lives."""

    zf: zipfile.ZipFile
    workbook_part: str = "xl/workbook.xml"
    sheets: dict[str, SheetEntry] = field(default_factory=dict)
    date1904: bool = False

    @classmethod
    def open(cls, path: str) -> Package:
        try:
            zf = zipfile.ZipFile(path)
        except zipfile.BadZipFile as e:
            raise PackageError(f"not a zip package ({e})") from e
        pkg = cls(zf)
        pkg._locate_workbook()
        pkg._read_sheets()
        return pkg

    def read(self, name: str) -> bytes:
        return self.zf.read(name)

    def has(self, name: str) -> bool:
        try:
            self.zf.getinfo(name)
        except KeyError:
            return False
        return True

    def _locate_workbook(self) -> None:
        rels = self.read("_rels/.rels").decode("utf-8")
        if "purl.oclc.org/ooxml" in rels:
            raise PackageError("it is saved as Strict Open XML; save it again as an ordinary Excel Workbook (.xlsx)")
        for rel in _relationships(rels):
            if rel["Type"].endswith("/officeDocument"):
                self.workbook_part = _resolve("", rel["Target"])
                return
        raise PackageError("no workbook part in _rels/.rels")

    def rels_part(self, part: str) -> str:
        folder, name = posixpath.split(part)
        return posixpath.join(folder, "_rels", f"{name}.rels")

    def _read_sheets(self) -> None:
        workbook = self.read(self.workbook_part).decode("utf-8")
        self.date1904 = bool(re.search(r'<(?:\w+:)?workbookPr\b[^>]*\bdate1904="(?:1|true)"', workbook))
        rels = {r["Id"]: r for r in _relationships(self.read(self.rels_part(self.workbook_part)).decode("utf-8"))}
        base = posixpath.dirname(self.workbook_part)
        for m in re.finditer(r"<(?:\w+:)?sheet\b([^>]*?)/?>", workbook):
            attrs = _attrs(m.group(1))
            rid = next((v for k, v in attrs.items() if k.endswith(":id")), None)
            rel = rels.get(rid or "")
            if rel is None or rel["Type"] != WORKSHEET_TYPE:
                continue  # chart sheets and dialog sheets carry no cells the engine writes
            name = _unescape(attrs["name"])
            self.sheets[name] = SheetEntry(name, _resolve(base, rel["Target"]), rid or "", attrs.get("state", "visible") != "visible")


def _unescape(value: str) -> str:
    return value.replace("&quot;", '"').replace("&apos;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _attrs(text: str) -> dict[str, str]:
    return {k: v for k, v in re.findall(r'([\w:]+)="([^"]*)"', text)}


def _relationships(xml: str) -> Iterator[dict[str, str]]:
    for m in re.finditer(r"<(?:\w+:)?Relationship\b([^>]*?)/?>", xml):
        yield _attrs(m.group(1))


def _resolve(base: str, target: str) -> str:
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(base, target))


# -- values -------------------------------------------------------------------------------


def cell_xml(prefix: str, ref: str, value: Any, style: int | None, date1904: bool) -> str:
    """One `<c>` element holding `value`; text is always an inline string, never a formula."""
    s = f' s="{style}"' if style is not None else ""
    if type(value) is str and value:
        return f'<{prefix}c r="{ref}"{s} t="inlineStr"><{prefix}is><{prefix}t xml:space="preserve">{_text(value)}</{prefix}t></{prefix}is></{prefix}c>'
    if value is None or value == "":
        return f'<{prefix}c r="{ref}"{s}/>' if s else ""
    if isinstance(value, bool):
        return f'<{prefix}c r="{ref}"{s} t="b"><{prefix}v>{int(value)}</{prefix}v></{prefix}c>'
    if isinstance(value, (datetime, date)):
        return f'<{prefix}c r="{ref}"{s}><{prefix}v>{excel_serial(value, date1904)!r}</{prefix}v></{prefix}c>'
    if isinstance(value, (int, float)):
        return f'<{prefix}c r="{ref}"{s}><{prefix}v>{value!r}</{prefix}v></{prefix}c>'
    text = _text(str(value))
    return f'<{prefix}c r="{ref}"{s} t="inlineStr"><{prefix}is><{prefix}t xml:space="preserve">{text}</{prefix}t></{prefix}is></{prefix}c>'


# -- styles -------------------------------------------------------------------------------


class Styles:
    """Finds or adds the few cell formats the engine needs in `xl/styles.xml`."""

    def __init__(self, xml: bytes | None):
        self.original = xml
        self.xml = (xml or b"").decode("utf-8")
        if not self.xml:
            self.xml = (
                f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<styleSheet xmlns="{MAIN_NS}">'
                '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
                '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
                '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
                '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
                '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>'
                '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'
            )
        m = re.search(r"<(\w+:)?styleSheet\b", self.xml)
        self.prefix = m.group(1) or "" if m else ""
        self._date_memo: dict[int | None, int] = {}

    @property
    def changed(self) -> bool:
        return self.original is None or self.xml != self.original.decode("utf-8")

    def _section(self, tag: str) -> re.Match[str] | None:
        return re.search(rf"<(?:\w+:)?{tag}\b[^>]*?(?:/>|>(.*?)</(?:\w+:)?{tag}>)", self.xml, re.S)

    def _items(self, section: str, item: str) -> list[str]:
        m = self._section(section)
        if not m or m.group(1) is None:
            return []
        return re.findall(rf"<(?:\w+:)?{item}\b[^>]*?(?:/>|>.*?</(?:\w+:)?{item}>)", m.group(1), re.S)

    def _find_or_add(self, section: str, item: str, xml: str, before: tuple[str, ...]) -> int:
        items = self._items(section, item)
        if xml in items:
            return items.index(xml)
        p = self.prefix
        m = self._section(section)
        if m is None:
            block = f'<{p}{section} count="1">{xml}</{p}{section}>'
            self._insert_before(block, before)
            return 0
        if m.group(1) is None:  # an empty self-closed section
            self.xml = self.xml[: m.start()] + f'<{p}{section} count="1">{xml}</{p}{section}>' + self.xml[m.end() :]
            return 0
        close = m.end() - len(f"</{p}{section}>") if m.group(0).endswith(f"</{p}{section}>") else m.end(1)
        updated = self.xml[: close] + xml + self.xml[close:]
        start_tag_end = updated.index(">", m.start())
        tag = updated[m.start() : start_tag_end]
        tag = re.sub(r'\bcount="\d+"', f'count="{len(items) + 1}"', tag) if "count=" in tag else tag + f' count="{len(items) + 1}"'
        self.xml = updated[: m.start()] + tag + updated[start_tag_end:]
        return len(items)

    def _insert_before(self, block: str, before: tuple[str, ...]) -> None:
        for tag in before:
            m = re.search(rf"<(?:\w+:)?{tag}\b", self.xml)
            if m:
                self.xml = self.xml[: m.start()] + block + self.xml[m.start() :]
                return
        end = self.xml.rindex("</")
        self.xml = self.xml[:end] + block + self.xml[end:]

    def _num_fmt(self, code: str) -> int:
        p = self.prefix
        for m in re.finditer(r'<(?:\w+:)?numFmt\b[^>]*?numFmtId="(\d+)"[^>]*?formatCode="([^"]*)"', self.xml):
            if _unescape(m.group(2)) == code:
                return int(m.group(1))
        ids = [int(i) for i in re.findall(r'<(?:\w+:)?numFmt\b[^>]*?numFmtId="(\d+)"', self.xml)]
        new_id = max([163, *ids]) + 1
        self._find_or_add("numFmts", "numFmt", f'<{p}numFmt numFmtId="{new_id}" formatCode="{_attr(code)}"/>', ("fonts",))
        return new_id

    def _is_date_format(self, fmt_id: int) -> bool:
        if fmt_id in _BUILTIN_DATE_FORMATS:
            return True
        m = re.search(rf'<(?:\w+:)?numFmt\b[^>]*?numFmtId="{fmt_id}"[^>]*?formatCode="([^"]*)"', self.xml)
        return bool(m and _DATE_CODES.search(re.sub(r"\[[^\]]*\]", "", _unescape(m.group(1)))))

    def xf(self, num_fmt: int = 0, font: str | None = None, fill: str | None = None, base: str | None = None) -> int:
        """The index of a cell format with this number format, font and fill (added if missing)."""
        p = self.prefix
        font_id = self._find_or_add("fonts", "font", font, ("fills",)) if font else 0
        fill_id = self._find_or_add("fills", "fill", fill, ("borders",)) if fill else 0
        if base is not None:
            xml = re.sub(r'\bnumFmtId="\d+"', f'numFmtId="{num_fmt}"', base)
            if "applyNumberFormat" in xml:
                xml = re.sub(r'\bapplyNumberFormat="[^"]*"', 'applyNumberFormat="1"', xml)
            else:
                xml = re.sub(r"^<((?:\w+:)?xf)\b", r'<\1 applyNumberFormat="1"', xml)
        else:
            applied = (' applyNumberFormat="1"' if num_fmt else "") + (' applyFont="1"' if font else "") + (' applyFill="1"' if fill else "")
            xml = f'<{p}xf numFmtId="{num_fmt}" fontId="{font_id}" fillId="{fill_id}" borderId="0" xfId="0"{applied}/>'
        return self._find_or_add("cellXfs", "xf", xml, ("cellStyles", "dxfs"))

    def date_style(self, base: int | None) -> int:
        """A style like `base` (a cell's current style, or none) that shows a date and time."""
        if base in self._date_memo:
            return self._date_memo[base]
        xfs = self._items("cellXfs", "xf")
        base_xml = xfs[base] if base is not None and base < len(xfs) else None
        current = re.search(r'numFmtId="(\d+)"', base_xml) if base_xml else None
        if current and self._is_date_format(int(current.group(1))):
            out = base  # already shows dates: keep the purchaser's own format
        else:
            out = self.xf(self._num_fmt(DATETIME_FORMAT), base=base_xml)
        self._date_memo[base] = out  # type: ignore[assignment]
        return out  # type: ignore[return-value]


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


def patch_worksheet(xml: bytes, patch: SheetPatch, styles: Styles, date1904: bool) -> tuple[bytes, bool]:
    """`xml` with the cells of `patch` set; and whether a formula cell was overwritten."""
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
    col_styles = _column_styles(xml[: sd.start()])
    order = sorted(patch.cells)  # rows to write, consumed front to back
    nxt = 0
    out: list[bytes] = [xml[:body_start]]
    pos = body_start
    implicit = 0
    formula = False
    max_col = -1
    close = f"</{prefix}row>".encode()
    for m in _ROW_START.finditer(xml, body_start, body_end):
        if nxt == len(order):
            break
        r = _ROW_NUMBER.search(m.group(2))
        row = int(r.group(1)) if r else implicit + 1
        implicit = row
        while nxt < len(order) and order[nxt] < row:  # rows the sheet lacks: add them in order
            out.append(xml[pos : m.start()])
            pos = m.start()
            out.append(_new_row(prefix, order[nxt], patch.cells[order[nxt]], patch, styles, col_styles, date1904).encode())
            nxt += 1
        if nxt == len(order) or order[nxt] != row:
            continue
        nxt += 1
        end = m.end() if m.group(3) else xml.index(close, m.end()) + len(close)
        inner = b"" if m.group(3) else xml[m.end() : end - len(close)]
        row_style = _ROW_STYLE.search(m.group(2))
        rs = int(row_style.group(1) or row_style.group(2)) if row_style else None
        new_inner, had_formula, last = _patch_cells(prefix, row, inner, patch.cells[row], patch, styles, col_styles, rs, date1904)
        formula |= had_formula
        max_col = max(max_col, last)
        attrs = _ATTR_SPANS.sub(b"", m.group(2))
        out.append(xml[pos : m.start()])
        out.append(f"<{prefix}row".encode() + attrs + b">" + new_inner + close)
        pos = end
    out.append(xml[pos:body_end])
    for row in order[nxt:]:
        out.append(_new_row(prefix, row, patch.cells[row], patch, styles, col_styles, date1904).encode())
    out.append(xml[body_end:])
    result = b"".join(out)
    for cells in patch.cells.values():
        max_col = max(max_col, *cells) if cells else max_col
    return _widen_dimension(result, max_col, max(patch.cells, default=0)), formula


def _style_for(row: int, col: int, current: int | None, value: Any, patch: SheetPatch, styles: Styles, col_styles: dict[int, int], row_style: int | None) -> int | None:
    style = current
    if style is None:
        style = patch.header_style if row == patch.header_row and patch.header_style is not None else (row_style if row_style is not None else col_styles.get(col))
    if isinstance(value, (datetime, date)):
        return styles.date_style(style)
    return style


def _patch_cells(
    prefix: str,
    row: int,
    inner: bytes,
    writes: dict[int, Any],
    patch: SheetPatch,
    styles: Styles,
    col_styles: dict[int, int],
    row_style: int | None,
    date1904: bool,
) -> tuple[bytes, bool, int]:
    """The row's cells with `writes` applied: a fast path finds the written cells by reference
    and appends new ones at the end; rows where that is not enough are parsed cell by cell."""
    fast = _patch_cells_fast(prefix, row, inner, writes, patch, styles, col_styles, row_style, date1904)
    if fast is not None:
        return fast
    return _patch_cells_full(prefix, row, inner, writes, patch, styles, col_styles, row_style, date1904)


def _new_cell(prefix: str, row: int, col: int, value: Any, current: int | None, patch: SheetPatch, styles: Styles, col_styles: dict[int, int], row_style: int | None, date1904: bool) -> bytes:
    style = _style_for(row, col, current, value, patch, styles, col_styles, row_style)
    return cell_xml(prefix, f"{col_letters(col)}{row}", value, style, date1904).encode()


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


def _patch_cells_fast(
    prefix: str, row: int, inner: bytes, writes: dict[int, Any], patch: SheetPatch, styles: Styles,
    col_styles: dict[int, int], row_style: int | None, date1904: bool,
) -> tuple[bytes, bool, int] | None:
    bprefix = prefix.encode()
    last_open = max(inner.rfind(b"<" + bprefix + b"c "), inner.rfind(b"<" + bprefix + b"c>"), inner.rfind(b"<" + bprefix + b"c/"))
    last_col = -1
    if last_open >= 0:
        r = _ATTR_R.search(inner[last_open : inner.index(b">", last_open)])
        if r is None or not r.group(1):
            return None  # cells without references: count them the slow way
        last_col = col_index(r.group(1))
    edits: list[tuple[int, int, int, bytes]] = []  # start, end, column, new xml
    appended: list[tuple[int, bytes]] = []
    formula = False
    beyond = min(writes) > last_col  # the common first sync: engine columns still empty
    for col in sorted(writes):
        value = writes[col]
        found = None if beyond or col > last_col else _find_cell(bprefix, inner, f"{col_letters(col)}{row}".encode())
        if found is not None:
            start, end = found
            raw = inner[start:end]
            s = _ATTR_S.search(raw.split(b">", 1)[0])
            formula |= re.search(rb"<(?:\w+:)?f\b", raw) is not None
            edits.append((start, end, col, _new_cell(prefix, row, col, value, int(s.group(1)) if s else None, patch, styles, col_styles, row_style, date1904)))
        elif col > last_col:
            appended.append((col, _new_cell(prefix, row, col, value, None, patch, styles, col_styles, row_style, date1904)))
        else:  # a new cell before an existing one: find the next cell to its right
            follower = next((f for c in range(col + 1, last_col + 1) if (f := _find_cell(bprefix, inner, f"{col_letters(c)}{row}".encode()))), None)
            if follower is None:
                return None
            edits.append((follower[0], follower[0], col, _new_cell(prefix, row, col, value, None, patch, styles, col_styles, row_style, date1904)))
    out: list[bytes] = []
    pos = 0
    for start, end, _, xml in sorted(edits, key=lambda e: e[:3]):
        out.append(inner[pos:start])
        out.append(xml)
        pos = end
    tail = inner[pos:]
    if appended:
        cells_end = len(tail)
        ext = re.search(rb"<(?:\w+:)?extLst\b", tail)
        if ext:
            cells_end = ext.start()
        out.append(tail[:cells_end])
        out.extend(xml for _, xml in appended)
        out.append(tail[cells_end:])
    else:
        out.append(tail)
    return b"".join(out), formula, max([last_col, *writes])


def _patch_cells_full(
    prefix: str,
    row: int,
    inner: bytes,
    writes: dict[int, Any],
    patch: SheetPatch,
    styles: Styles,
    col_styles: dict[int, int],
    row_style: int | None,
    date1904: bool,
) -> tuple[bytes, bool, int]:
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
            rebuilt.append((col, _new_cell(prefix, row, col, writes[col], int(s.group(1)) if s else None, patch, styles, col_styles, row_style, date1904)))
        else:
            rebuilt.append((col, raw))
    for col, value in writes.items():
        if col not in existing:
            rebuilt.append((col, _new_cell(prefix, row, col, value, None, patch, styles, col_styles, row_style, date1904)))
    rebuilt.sort(key=lambda item: item[0])
    last = max((c for c, _ in rebuilt), default=-1)
    return b"".join(raw for _, raw in rebuilt) + tail, formula, last


def _new_row(prefix: str, row: int, writes: dict[int, Any], patch: SheetPatch, styles: Styles, col_styles: dict[int, int], date1904: bool) -> str:
    cells = "".join(
        cell_xml(prefix, f"{col_letters(col)}{row}", value, _style_for(row, col, None, value, patch, styles, col_styles, None), date1904)
        for col, value in sorted(writes.items())
    )
    return f'<{prefix}row r="{row}">{cells}</{prefix}row>'


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
    formats = {c: styles.xf(_builtin_or_custom(styles, fmt)) for c, fmt in tab.formats.items()}
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
    for r, row in enumerate(tab.rows, start=1):
        cells = []
        for c, value in enumerate(row):
            style = title if r == 1 and c == 0 else header if r == tab.header_row else formats.get(c) if r > tab.header_row else None
            if isinstance(value, (datetime, date)):
                style = styles.date_style(style)
            cells.append(cell_xml("", f"{col_letters(c)}{r}", value, style if value is not None else None, date1904))
        parts.append(f'<row r="{r}">{"".join(cells)}</row>')
    parts.append("</sheetData></worksheet>")
    return "".join(parts).encode("utf-8")


_BUILTIN_FORMATS = {"0": 1, "0.00": 2, "0%": 9, "0.00%": 10}


def _builtin_or_custom(styles: Styles, code: str) -> int:
    return _BUILTIN_FORMATS.get(code) or styles._num_fmt(code)


# -- workbook structure -------------------------------------------------------------------


@dataclass
class Structure:
    """Edits to the workbook part, its relationships and the content types."""

    workbook: str
    rels: str
    content_types: str
    changed: bool = False

    def add_sheet(self, name: str, part: str, hidden: bool) -> str:
        ids = [int(i) for i in re.findall(r'<(?:\w+:)?sheet\b[^>]*?sheetId="(\d+)"', self.workbook)]
        rids = set(re.findall(r'Id="([^"]+)"', self.rels))
        n = 1
        while f"rId{n}" in rids:
            n += 1
        rid = f"rId{n}"
        rel_prefix = re.search(rf'xmlns:(\w+)="{re.escape(REL_NS)}"', self.workbook)
        if rel_prefix is None:
            raise PackageError("workbook part declares no relationships namespace")
        sheets_close = re.search(r"</(\w+:)?sheets>", self.workbook)
        if sheets_close is None:
            raise PackageError("workbook part has no sheets list")
        p = sheets_close.group(1) or ""
        state = ' state="hidden"' if hidden else ""
        element = f'<{p}sheet name="{_attr(name)}" sheetId="{max([0, *ids]) + 1}"{state} {rel_prefix.group(1)}:id="{rid}"/>'
        self.workbook = self.workbook[: sheets_close.start()] + element + self.workbook[sheets_close.start() :]
        rels_close = self.rels.rindex("</")
        rp = re.search(r"<(\w+:)?Relationships\b", self.rels)
        rpre = (rp.group(1) or "") if rp else ""
        self.rels = self.rels[:rels_close] + f'<{rpre}Relationship Id="{rid}" Type="{WORKSHEET_TYPE}" Target="/{part}"/>' + self.rels[rels_close:]
        ct_close = self.content_types.rindex("</")
        cp = re.search(r"<(\w+:)?Types\b", self.content_types)
        cpre = (cp.group(1) or "") if cp else ""
        self.content_types = self.content_types[:ct_close] + f'<{cpre}Override PartName="/{part}" ContentType="{WORKSHEET_CT}"/>' + self.content_types[ct_close:]
        self.changed = True
        return rid

    def set_hidden(self, name: str, hidden: bool) -> None:
        for m in re.finditer(r"<(?:\w+:)?sheet\b([^>]*?)/?>", self.workbook):
            attrs = _attrs(m.group(1))
            if _unescape(attrs.get("name", "")) != name:
                continue
            element = m.group(0)
            stripped = re.sub(r'\s+state="[^"]*"', "", element)
            new = re.sub(r"^(<(?:\w+:)?sheet)\b", r'\1 state="hidden"', stripped) if hidden else stripped
            if new != element:
                self.workbook = self.workbook[: m.start()] + new + self.workbook[m.end() :]
                self.changed = True
            return

    def drop_calc_chain(self, part: str) -> None:
        self.rels = re.sub(rf'<(?:\w+:)?Relationship\b[^>]*?Type="{re.escape(CALC_CHAIN_TYPE)}"[^>]*?/>', "", self.rels)
        self.content_types = re.sub(rf'<(?:\w+:)?Override\b[^>]*?PartName="/{re.escape(part)}"[^>]*?/>', "", self.content_types)
        self.changed = True


# -- writing ------------------------------------------------------------------------------


def write_package(pkg: Package, out: IO[bytes], replaced: dict[str, bytes], removed: set[str]) -> None:
    """Copy `pkg` to `out`, members in their order, with `replaced` ones rewritten or added, `removed` left out."""
    known = set(pkg.zf.namelist())
    with zipfile.ZipFile(out, "w", allowZip64=True) as dst:
        for info in pkg.zf.infolist():
            if info.filename in removed:
                continue
            data = replaced.get(info.filename)
            if data is None:
                _copy_member(pkg.zf, info, dst)
                continue
            _write_member(dst, info.filename, data, info.date_time)
        for name, data in replaced.items():
            if name not in known:
                _write_member(dst, name, data, (1980, 1, 1, 0, 0, 0))


def _write_member(dst: zipfile.ZipFile, name: str, data: bytes, date_time: tuple[int, int, int, int, int, int]) -> None:
    info = zipfile.ZipInfo(name, date_time=date_time)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o600 << 16
    dst.writestr(info, data, compresslevel=1 if len(data) > BIG_PART else 6)


def _copy_member(src: zipfile.ZipFile, info: zipfile.ZipInfo, dst: zipfile.ZipFile) -> None:
    """Copy a member unchanged; its bytes are read and written back with the same compression."""
    clone = zipfile.ZipInfo(info.filename, date_time=info.date_time)
    clone.compress_type = info.compress_type
    clone.external_attr = info.external_attr
    clone.comment = info.comment
    clone.extra = info.extra
    with src.open(info) as fin, dst.open(clone, "w", force_zip64=info.file_size > 0x7FFFFFFF) as fout:
        while chunk := fin.read(1 << 20):
            fout.write(chunk)

