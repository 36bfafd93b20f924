"""Worksheet XML: set cells inside `<sheetData>` without touching anything else, and write generated tabs."""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from xml.sax.saxutils import escape

from ..formats import EXCEL_EPOCHS
from ..patch import GeneratedTab
from ..table import excel_serial
from .forked import Forked
from .xlsx_styles import Styles
from .xlsxpkg import MAIN_NS, REL_NS, PackageError, _attrs, col_index, col_letters

FORK_MIN_BYTES = 16 << 20  # a sheet's XML bytes from which half its rows are patched by a second process
FORK_MIN_ROWS = 20_000  # ... when this many of its rows are written
FORK_CUT = 0.45  # where in the rows the child's part starts: the parent also writes the package meanwhile
_FORMULA, _NEW_STYLE = 1, 2  # how that process ended, besides well
PREBUILD_ROWS = 4096  # rows whose cells are built together, ahead of writing them
MEMO_CELLS = 50_000  # distinct cell values remembered per sheet (IDs and dates are unique: no use keeping them all)
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SHEET_DATA = re.compile(rb"<(\w+:)?sheetData\b[^>]*?(/?)>")
_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.S)
_ATTR_R = re.compile(rb'\br="([A-Z]*)(\d*)"')
_REF_FIRST = re.compile(rb'r="([A-Z]+)\d')
_ATTR_S = re.compile(rb'\bs="(\d+)"')
_ROW_NUMBER = re.compile(rb'\br="(\d+)"')
_ATTR_SPANS = re.compile(rb'\s+spans="[^"]*"')
_ROW_STYLE = re.compile(rb'\bs="(\d+)"[^>]*?\bcustomFormat="(?:1|true)"|\bcustomFormat="(?:1|true)"[^>]*?\bs="(\d+)"')

_PRESERVE = re.compile(r"^\s|\s$|[\t\n\r]")
_SPECIAL = re.compile("[&<>\x00-\x1f\ufffe\uffff]|^\\s|\\s$")  # text that needs more than copying
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
    if _SPECIAL.search(value) is None:  # most text: nothing to escape or keep
        return f't="inlineStr"><{prefix}is><{prefix}t>{value}</{prefix}t></{prefix}is></{prefix}c>'
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


def sheet_data(xml: bytes) -> tuple[bytes, int, int] | None:
    """Worksheet `xml`'s element prefix and where the inside of its `<sheetData>` starts and ends
    (None when it has none, or only an empty `<sheetData/>`)."""
    sd = _SHEET_DATA.search(xml)
    if sd is None or sd.group(2):
        return None
    prefix = sd.group(1) or b""
    end = xml.rfind(b"</" + prefix + b"sheetData>", sd.end())  # a sheet has one, near its end: found from there at once
    return (prefix, sd.end(), end) if end >= 0 else None


def rows_numbered(xml: bytes) -> bool:
    """Whether every row of worksheet `xml` carries its number, so that a row can be found by it."""
    found = sheet_data(xml)
    if found is None:
        return False
    prefix, start, end = found
    row_tag = b"<" + prefix + b"row"
    return xml.count(row_tag, start, end) == xml.count(row_tag + b' r="', start, end)


def patch_worksheet(xml: bytes, patch: SheetPatch, styles: Styles, date1904: bool, numbered: bool | None = None) -> tuple[list[Any], bool]:
    """`xml` with the cells of `patch` set, as pieces to write one after another (unchanged stretches
    are views of `xml`, not copies); and whether a formula cell was overwritten. `numbered` is
    what rows_numbered(xml) says, when the caller knows it already."""
    patched = PatchedSheet(xml, patch, styles, date1904, numbered)
    pieces = list(patched)
    return pieces, patched.formula


class PatchedSheet:
    """Worksheet `xml` with the cells of `patch` set, made piece by piece as it is iterated (once):
    a large sheet can go to the compressor while it is being patched, never whole in memory.

    Unchanged stretches are views of `xml`, not copies. Once iterated, `formula` says whether a
    formula cell was overwritten. Styles a cell needs are added to `styles` as the cells are made:
    those of the first rows when this is made, later ones while it is iterated.

    With `fork`, a large patch's last rows are made by a forked child meanwhile (see forked.py);
    when no child can be started, or it fails or needs a style `styles` lacks, they are made here.
    """

    def __init__(self, xml: bytes, patch: SheetPatch, styles: Styles, date1904: bool, numbered: bool | None = None, fork: bool = False):
        sd = _SHEET_DATA.search(xml)
        if sd is None:
            raise PackageError("worksheet has no sheetData")
        if sd.group(2):  # <sheetData/>: no rows yet
            prefix = (sd.group(1) or b"").decode()
            xml = xml[: sd.start()] + f"<{prefix}sheetData></{prefix}sheetData>".encode() + xml[sd.end() :]
        found = sheet_data(xml)
        if found is None:
            raise PackageError("worksheet's sheetData is not closed")
        self.prefix = found[0].decode()
        self.xml, self.patch, self.body_start, self.body_end = xml, patch, found[1], found[2]
        # when every row carries its number, a row to write is found by its number, skipping the rows between
        self.numbered = rows_numbered(xml) if numbered is None else numbered
        self.size_hint = len(xml) + 1024 * len(patch.cells)  # generous: what written cells could add
        self.formula = False
        self.order = sorted(patch.cells)  # rows to write, consumed front to back
        self.styles = styles
        self._cells = _Cells(self.prefix, patch, styles, _column_styles(xml[: self.body_start]), date1904)
        self._iterated = False
        self._second: tuple[int, int, Forked] | None = None  # the part a child makes: its first row's index in `order`, where it starts, the child
        # a row is found by its number in either part
        cut = self._cut() if fork and self.numbered and len(xml) >= FORK_MIN_BYTES and len(self.order) >= FORK_MIN_ROWS else None
        self._cells.prebuild(self.order[: cut[0]] if cut else self.order)
        self._cells.build_first()  # before the fork: the child knows the styles these rows add
        if cut is not None:
            child = self._fork(*cut)
            if child is not None:
                self._second = (*cut, child)
            else:  # no child: every row is made here
                self._cells.prebuild(self.order)

    def _cut(self) -> tuple[int, int] | None:
        """Where to cut the rows in two: before the first row tag past FORK_CUT of the sheet's rows
        (the index in `order` of the first row to write after it, and where the tag starts)."""
        at = self.xml.find(b"<" + self.prefix.encode() + b"row ", self.body_start + int((self.body_end - self.body_start) * FORK_CUT), self.body_end)
        number = _ROW_NUMBER.match(self.xml, at + len(self.prefix) + 5) if at >= 0 else None
        if number is None:
            return None
        index = bisect_left(self.order, int(number.group(1)))
        return (index, at) if 0 < index < len(self.order) else None

    def _fork(self, index: int, at: int) -> Forked | None:
        """A child making the rows from `order[index]` on, which start at `at`."""
        styles_before = self.styles.xml

        def make() -> Iterator[Any]:
            self._cells.prebuild(self.order[index:])
            return self._rows_between(self.order[index:], at, self.body_end)

        def finish() -> int:
            if self.styles.xml != styles_before:
                return _NEW_STYLE
            return _FORMULA if self.formula else 0

        return Forked.start(make, finish)

    def __iter__(self) -> Iterator[Any]:
        if self._iterated:
            raise RuntimeError("a patched sheet is made once")
        self._iterated = True
        return self._pieces()

    def discard(self) -> None:
        """Stop making the sheet (a child making part of it is stopped)."""
        if self._second is not None:
            self._second[2].discard()

    def _pieces(self) -> Iterator[Any]:
        xml, patch, order = self.xml, self.patch, self.order
        max_col = max((max(writes) for writes in patch.cells.values() if writes), default=-1)
        yield _widen_dimension(xml[: self.body_start], max_col, max(patch.cells, default=0))  # <dimension> comes before the cells
        if self._second is None:
            yield from self._rows_between(order, self.body_start, self.body_end)
        else:
            index, at, child = self._second
            yield from self._rows_between(order[:index], self.body_start, at)
            status = child.wait()
            if status in (0, _FORMULA):
                self.formula |= status == _FORMULA
                yield from child.chunks()
            else:
                child.discard()
                self._cells.prebuild(order[index:])
                yield from self._rows_between(order[index:], at, self.body_end)
        yield memoryview(xml)[self.body_end :]

    def _rows_between(self, order: list[int], begin: int, stop: int) -> Iterator[Any]:
        """xml[begin:stop], a run of whole rows, with the cells of rows `order` set (those it
        lacks added in order, the rest after its last row)."""
        xml, patch, cells = self.xml, self.patch, self._cells
        nxt = 0
        view = memoryview(xml)
        emitted = scan = begin  # xml[emitted:] is not yielded yet; the next row starts at or after `scan`
        implicit = 0
        bprefix = self.prefix.encode()
        row_tag, close = b"<" + bprefix + b"row", b"</" + bprefix + b"row>"
        numbered = self.numbered
        while nxt < len(order):
            row = order[nxt]
            start = xml.find(b'%s r="%d"' % (row_tag, row), scan, stop) if numbered else -1
            if start < 0:
                start = xml.find(row_tag, scan, stop)
                if start < 0:
                    break
                row = 0  # read from the tag below
            tag_end = xml.index(b">", start)
            empty = xml[tag_end - 1] == 0x2F  # <row .../>
            attrs = xml[start + len(row_tag) : tag_end - 1 if empty else tag_end]
            if not row:
                r = _ROW_NUMBER.search(attrs)
                row = int(r.group(1)) if r else implicit + 1
            implicit = row
            scan = end = tag_end + 1 if empty else xml.index(close, tag_end) + len(close)
            while nxt < len(order) and order[nxt] < row:  # rows the sheet lacks: add them in order
                yield view[emitted:start]
                emitted = start
                yield cells.new_row(order[nxt], patch.cells[order[nxt]])
                nxt += 1
            if nxt == len(order) or order[nxt] != row:
                continue
            nxt += 1
            inner = b"" if empty else xml[tag_end + 1 : end - len(close)]
            rs = None
            if b"customFormat" in attrs and (row_style := _ROW_STYLE.search(attrs)):
                rs = int(row_style.group(1) or row_style.group(2))
            new_inner, had_formula = cells.patch_row(row, inner, patch.cells[row], rs)
            self.formula |= had_formula
            if b"spans" in attrs:
                attrs = _ATTR_SPANS.sub(b"", attrs)
            yield view[emitted:start]
            yield b"".join((row_tag, attrs, b">", new_inner, close))
            emitted = end
        yield view[emitted:stop]
        for row in order[nxt:]:
            yield cells.new_row(row, patch.cells[row])


class _Cells:
    """Writes the cells of one worksheet: what every row of it shares (prefix, styles, date system)."""

    def __init__(self, prefix: str, patch: SheetPatch, styles: Styles, col_styles: dict[int, int], date1904: bool):
        self.prefix = prefix
        self.bprefix = prefix.encode()
        self._c_open, self._c_bare, self._c_empty = (b"<" + self.bprefix + b"c" + end for end in (b" ", b">", b"/"))
        self.patch = patch
        self.styles = styles
        self.col_styles = col_styles
        self.date1904 = date1904
        self._letters: dict[int, str] = {}
        self._tails: dict[tuple[int | None, type, Any], str] = {}
        self._pre: dict[int, tuple[tuple[int, ...], tuple[str, ...]]] = {}
        self._ahead: list[int] = []  # rows to prebuild, ascending
        self._built = 0  # how many of them are built
        self._default_styles: dict[int, int | None] = {}

    def prebuild(self, rows: list[int]) -> None:
        """Have the XML of the written cells of `rows` (ascending) built a column at a time, a few
        thousand rows ahead of the rows being written: the XML every cell gets when it takes its
        column's style (new cells, and cells already in that style), the bulk of a sync's cells."""
        self._ahead = [row for row in rows if row != self.patch.header_row]
        self._built = 0
        self._pre.clear()

    def build_first(self) -> None:
        """Build the first rows' cells now (and so add the styles they need)."""
        if self._ahead:
            self._build_ahead(self._ahead[0])

    def _build_ahead(self, row: int) -> None:
        """Build the next rows' cells, through `row`; rows sharing their written columns (nearly all) together."""
        writes, pre = self.patch.cells, self._pre
        while self._built < len(self._ahead) and (not self._built or self._ahead[self._built - 1] < row):
            chunk = self._ahead[self._built : self._built + PREBUILD_ROWS]
            self._built += len(chunk)
            groups: dict[tuple[int, ...], list[int]] = {}
            for r in chunk:
                groups.setdefault(tuple(writes[r]), []).append(r)
            for key, members in groups.items():
                cols = tuple(sorted(key))
                columns = [self._column(col, members) for col in cols]
                for r, strs in zip(members, zip(*columns, strict=True), strict=True):
                    pre[r] = (cols, strs)

    def _column(self, col: int, rows: list[int]) -> list[str]:
        """The XML of column `col`'s cells in `rows`, in its default style ('' for a blank, unstyled one)."""
        writes, prefix, date1904 = self.patch.cells, self.prefix, self.date1904
        style = self._default_styles[col] = self.col_styles.get(col)
        ref = f'<{prefix}c r="{self._letters.get(col) or self._letters.setdefault(col, col_letters(col))}'
        tails: dict[tuple[type, Any], str] = {}  # this column's repeated values
        remember = True  # until the column proves to hold mostly distinct values (IDs, dates)
        epoch = EXCEL_EPOCHS[date1904]
        plain = f'{f" s={chr(34)}{style}{chr(34)}" if style is not None else ""} t="inlineStr"><{prefix}is><{prefix}t>'
        plain_end = f"</{prefix}t></{prefix}is></{prefix}c>"
        special = _SPECIAL.search
        out = []
        date_tail = None
        for row in rows:
            value = writes[row][col]
            kind = type(value)
            if kind is datetime and value.tzinfo is None:  # as the engine's dates come: a wall-clock time
                if date_tail is None:
                    date_tail = f' s="{self.styles.date_style(style)}"><{prefix}v>%r</{prefix}v></{prefix}c>'
                delta = value - epoch
                out.append(f'{ref}{row}"{date_tail % (delta.days + delta.seconds / 86400)}')
                continue
            tail = tails.get((kind, value)) if remember else None
            if tail is None:
                if kind is str and value and special(value) is None:  # most text: copied as it is
                    tail = f"{plain}{value}{plain_end}"
                elif kind is datetime or kind is date or (kind is not str and isinstance(value, (datetime, date))):
                    tail = _cell_tail(prefix, value, self.styles.date_style(style), date1904)
                else:
                    tail = _cell_tail(prefix, value, style, date1904)
                if remember:
                    tails[kind, value] = tail
                    remember = len(tails) < MEMO_CELLS and (len(tails) < 1000 or len(tails) * 2 < len(out))
            out.append(f'{ref}{row}"{tail}' if tail else "")
        return out

    def _col_at(self, inner: bytes, at: int) -> int | None:
        """The column of the cell whose tag starts at `at` (None when it has no reference)."""
        r = _REF_FIRST.match(inner, at + len(self._c_open))  # as every writer puts it: the reference first
        if r is None:
            r = _ATTR_R.search(inner, at, inner.index(b">", at))
            if r is None or not r.group(1):
                return None
        return col_index(r.group(1))

    def _next_cell_right_of(self, inner: bytes, col: int, pos: int) -> int | None:
        """Where the first cell at or after `pos` whose column is right of `col` starts (None: no such cell, or one without a reference)."""
        while (at := inner.find(self._c_open, pos)) >= 0:
            found = self._col_at(inner, at)
            if found is None:
                return None
            if found > col:
                return at
            pos = at + 1
        return None

    def _same_date_style(self, row: int, col: int, own: int) -> bool:
        """Whether a date written into a cell of style `own` gets the style its column's cells get."""
        value = self.patch.cells[row][col]
        return isinstance(value, (datetime, date)) and self.styles.date_style(own) == self.styles.date_style(self._default_styles[col])

    def cell(self, row: int, col: int, value: Any, current: int | None, row_style: int | None) -> str:
        """One cell's XML (see `cells`)."""
        return self.cells(row, [(col, value, current)], row_style)

    def cells(self, row: int, items: list[tuple[int, Any, int | None]], row_style: int | None) -> str:
        """The XML of cells (column, value, current style) of one row. A new value's style: the
        cell's own, else the header's, the row's or the column's; dates get a date format."""
        prefix, tails, letters = self.prefix, self._tails, self._letters
        header_style = self.patch.header_style if row == self.patch.header_row else None
        out = []
        for col, value, current in items:
            style = current if current is not None else header_style if header_style is not None else row_style if row_style is not None else self.col_styles.get(col)
            kind = type(value)
            if kind is datetime or kind is date or isinstance(value, (datetime, date)):  # dates rarely repeat: not worth remembering
                tail = _cell_tail(prefix, value, self.styles.date_style(style), self.date1904)
            else:  # the engine writes the same few texts and numbers over and over
                key = (style, kind, value)
                tail = tails.get(key)
                if tail is None:
                    tail = _cell_tail(prefix, value, style, self.date1904)
                    if len(tails) < MEMO_CELLS:
                        tails[key] = tail
            if tail:
                ref = letters.get(col) or letters.setdefault(col, col_letters(col))
                out.append(f'<{prefix}c r="{ref}{row}"{tail}')
        return "".join(out)

    def new_row(self, row: int, writes: dict[int, Any]) -> bytes:
        cells = self.cells(row, [(col, value, None) for col, value in sorted(writes.items())], None)
        return f'<{self.prefix}row r="{row}">{cells}</{self.prefix}row>'.encode()

    def patch_row(self, row: int, inner: bytes, writes: dict[int, Any], row_style: int | None) -> tuple[bytes, bool]:
        """The row's cells with `writes` applied, and whether a formula was overwritten.

        A fast path finds the written cells by their reference and adds new ones in place; rows
        whose cells carry no references are parsed cell by cell."""
        if self._built < len(self._ahead) and (not self._built or self._ahead[self._built - 1] < row):
            self._build_ahead(row)
        pre = self._pre.pop(row, None)  # consumed: its strings go as the row is written
        pre = pre if row_style is None else None
        done = self._bulk(row, inner, pre) if pre is not None else None
        if done is None:
            done = self._fast(row, inner, writes, row_style)
        return done if done is not None else self._full(row, inner, writes, row_style)

    def _bulk(self, row: int, inner: bytes, pre: tuple[tuple[int, ...], tuple[str, ...]]) -> tuple[bytes, bool] | None:
        """The row with its prebuilt cells in place: new ones before its first cell or after its
        last, existing ones (found by reference) replaced. None when a cell needs more: a new cell
        between existing ones, a cell in a style of its own, cells without references."""
        cols, strs = pre
        c_open = self._c_open
        first = inner.find(c_open)
        if first < 0:
            if self._c_bare in inner or self._c_empty in inner:
                return None
            return self._append(inner, "".join(strs).encode()), False
        last = inner.rfind(c_open)
        if inner.find(self._c_bare, last + 1) >= 0 or inner.find(self._c_empty, last + 1) >= 0:
            return None
        first_col = self._col_at(inner, first)
        last_col = self._col_at(inner, last) if last != first else first_col
        if first_col is None or last_col is None:
            return None
        lo, hi = bisect_left(cols, first_col), bisect_right(cols, last_col)
        pieces: list[bytes] = [inner[:first]]
        if lo:
            pieces.append("".join(strs[:lo]).encode())
        pos = first
        formula = False
        if lo < hi:
            letters, defaults = self._letters, self._default_styles
            tag_f, end_c = b"<" + self.bprefix + b"f", b"</" + self.bprefix + b"c>"
            for i in range(lo, hi):
                col = cols[i]
                start = inner.find(b'%sr="%s%d"' % (c_open, letters[col].encode(), row), first)
                if start < 0:  # a new cell: it goes before the first cell right of its column
                    at = self._next_cell_right_of(inner, col, pos)
                    if at is None:
                        return None
                    pieces.append(inner[pos:at])
                    pieces.append(strs[i].encode())
                    pos = at
                    continue
                if start < pos:
                    return None  # cells out of column order
                tag_end = inner.index(b">", start)
                end = tag_end + 1 if inner[tag_end - 1] == 0x2F else inner.index(end_c, tag_end) + len(end_c)
                s_at = inner.find(b' s="', start, tag_end)
                if s_at >= 0 and (own := int(inner[s_at + 4 : inner.index(b'"', s_at + 4)])) != defaults[col] and not self._same_date_style(row, col, own):
                    return None  # styled unlike its column: keep its own style
                if inner.find(tag_f, tag_end, end) >= 0:
                    formula |= re.search(rb"<(?:\w+:)?f\b", inner[tag_end:end]) is not None
                pieces.append(inner[pos:start])
                pieces.append(strs[i].encode())
                pos = end
        if hi < len(cols):  # cells after the last
            at = _after_cells(inner)
            pieces.append(inner[pos:at])
            pieces.append("".join(strs[hi:]).encode())
            pos = at
        pieces.append(inner[pos:])
        return b"".join(pieces), formula

    def _fast(self, row: int, inner: bytes, writes: dict[int, Any], row_style: int | None) -> tuple[bytes, bool] | None:
        bprefix = self.bprefix
        last_open = inner.rfind(self._c_open)
        if inner.find(self._c_bare, last_open + 1) >= 0 or inner.find(self._c_empty, last_open + 1) >= 0:
            return None  # cells without references: count them the slow way
        last_col = -1
        if last_open >= 0:
            r = _ATTR_R.search(inner, last_open, inner.index(b">", last_open))
            if r is None or not r.group(1):
                return None
            last_col = col_index(r.group(1))
        order = sorted(writes)
        inside = [col for col in order if col <= last_col]  # cells to replace or insert among the existing
        appended = self.cells(row, [(col, writes[col], None) for col in order if col > last_col], row_style).encode()
        if not inside:  # the common first sync: engine columns still empty
            return self._append(inner, appended), False
        edits: list[tuple[int, int, int, bytes]] = []  # start, end, column, new xml
        formula = False
        for col in inside:
            found = _find_cell(bprefix, inner, f"{col_letters(col)}{row}".encode())
            if found is not None:
                start, end = found
                raw = inner[start:end]
                s = _ATTR_S.search(raw, 0, raw.index(b">"))
                formula |= b"<" + bprefix + b"f" in raw and re.search(rb"<(?:\w+:)?f\b", raw) is not None
                edits.append((start, end, col, self.cell(row, col, writes[col], int(s.group(1)) if s else None, row_style).encode()))
            else:  # a new cell before an existing one: it goes where the next cell to its right starts
                at = self._next_cell_right_of(inner, col, 0)
                if at is None:
                    return None
                edits.append((at, at, col, self.cell(row, col, writes[col], None, row_style).encode()))
        out: list[bytes] = []
        pos = 0
        for start, end, _, xml in sorted(edits, key=lambda e: e[:3]):
            out.append(inner[pos:start])
            out.append(xml)
            pos = end
        out.append(inner[pos:])
        return self._append(b"".join(out), appended), formula

    @staticmethod
    def _append(inner: bytes, cells: bytes) -> bytes:
        """`inner` with `cells` after its last cell."""
        if not cells:
            return inner
        at = _after_cells(inner)
        return b"".join((inner[:at], cells, inner[at:]))

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


def _after_cells(inner: bytes) -> int:
    """Where cells after a row's last one go: before a trailing extLst, which stays last."""
    ext = re.search(rb"<(?:\w+:)?extLst\b", inner) if b"extLst" in inner else None
    return ext.start() if ext else len(inner)


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
    styled: dict[int, dict[int, int]] = {}  # id of a formats mapping -> column -> style

    def formats_of(r: int) -> dict[int, int]:
        shown = tab.row_formats(r)
        found = styled.get(id(shown))
        if found is None:
            found = styled[id(shown)] = {c: styles.xf(styles.number_format(fmt)) for c, fmt in shown.items()}
        return found

    headers = tab.header_rows()
    parts = [f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{MAIN_NS}" xmlns:r="{REL_NS}">']
    if tab.printable:
        parts.append('<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>')
    width = max((len(r) for r in tab.rows), default=1)
    parts.append(f'<dimension ref="A1:{col_letters(max(width, 1) - 1)}{max(len(tab.rows), 1)}"/>')
    if tab.header_row:
        parts.append(
            f'<sheetViews><sheetView workbookViewId="0"><pane ySplit="{tab.header_row}" topLeftCell="A{tab.header_row + 1}" '
            'activePane="bottomLeft" state="frozen"/><selection pane="bottomLeft"/></sheetView></sheetViews>'
        )
    parts.append('<sheetFormatPr defaultRowHeight="15"/>')
    widths = tab.column_widths() if not tab.hidden else tab.widths
    if widths:
        parts.append("<cols>" + "".join(f'<col min="{c + 1}" max="{c + 1}" width="{w}" customWidth="1"/>' for c, w in sorted(widths.items())) + "</cols>")
    parts.append("<sheetData>")
    letters = [col_letters(c) for c in range(width)]
    special = _SPECIAL.search
    for r, row in enumerate(tab.rows, start=1):
        cells = []
        formats = formats_of(r)
        is_header = r in headers
        for c, value in enumerate(row):
            if value is None:
                continue
            style = title if r == 1 and c == 0 else header if is_header else formats.get(c)
            if style is None and type(value) is str and value and special(value) is None:  # most cells: plain text
                cells.append(f'<c r="{letters[c]}{r}" t="inlineStr"><is><t>{value}</t></is></c>')
                continue
            if isinstance(value, (datetime, date)):
                style = styles.date_style(style)
            cells.append(cell_xml("", f"{letters[c]}{r}", value, style, date1904))
        parts.append(f'<row r="{r}">{"".join(cells)}</row>')
    parts.append("</sheetData>")
    if tab.printable:  # landscape, one page wide and as many long as it takes; the header row repeats (the workbook's print titles)
        parts.append(
            '<pageMargins left="0.4" right="0.4" top="0.6" bottom="0.6" header="0.3" footer="0.3"/>'
            '<pageSetup orientation="landscape" fitToWidth="1" fitToHeight="0"/>'
            "<headerFooter><oddFooter>&amp;L&amp;A&amp;R&amp;P / &amp;N</oddFooter></headerFooter>"
        )
    if tab.charts:  # the tab's drawing: its relationship is the sheet's only one (xlsx_charts.sheet_rels)
        parts.append('<drawing r:id="rId1"/>')
    parts.append("</worksheet>")
    return "".join(parts).encode("utf-8")
