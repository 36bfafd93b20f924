"""Parse one large worksheet with calamine on two threads, a half each.

calamine parses a sheet outside the interpreter lock but on one thread, and for a 100k-row
sheet that parse is most of a sync's reading. Here the sheet's XML is unpacked once (the write
needs it anyway), cut at a row boundary a little before its middle, and each half is parsed from
a small package of its own: the workbook, its relationships, styles and shared strings
(everything calamine reads a cell's value with) and that half of the sheet. The top half's
Python values are made while the bottom half is still parsed, and the two are put back together
into exactly the rows one parse would give.

Only sheets whose rows carry their numbers are cut (calamine numbers a row without one after
the row before it, which the second half would not know); any other sheet is parsed whole.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..errors import UnreadableWorkbook
from .xlsx_sheet import rows_numbered, sheet_data
from .xlsxpkg import Package, read_member, relationships, resolve_target

SPLIT_MIN = 16 << 20  # a sheet's XML bytes from which two parsers pay for the cutting
TOP_SHARE = 0.45  # of the cells, in the top half: it is made into Python values while the bottom one is still parsed
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\b[^>]*?/>")


def in_background(fn: Callable[..., Any], *args: Any) -> Future[Any]:
    """`fn(*args)` running on a worker thread of its own, which ends once it is done."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="kakosheet-read")
    try:
        return pool.submit(fn, *args)
    finally:
        pool.shutdown(wait=False)


@dataclass
class Parsed:
    """A sheet parsed ahead of `rows()`: whole, or in halves (each maybe still being parsed)."""

    xml: bytes | None  # the sheet's XML, for the write (None when it was not unpacked)
    halves: list[Any]  # CalamineSheet objects, or futures of them: top half first (one when parsed whole)
    numbered: bool | None = None  # whether every row of `xml` carries its number (None: not looked at)
    whole: Callable[[], Any] | None = None  # parses the sheet whole, should a half fail

    def rows(self) -> list[list[Any]]:
        """The sheet's cells as one calamine parse gives them: rows from the first, columns from
        the first, blank cells as None. The top half is made while the bottom one is parsed."""
        if len(self.halves) == 1:
            return _blanks_as_none(_to_python(_done(self.halves[0]), skip_empty=False))
        try:
            rows = _blanks_as_none(_to_python(_done(self.halves[0]), skip_empty=False))
            bottom = _done(self.halves[1])
        except Exception:  # a half not parsed: the sheet parsed whole decides, and raises if it cannot be read either
            if self.whole is None:
                raise
            return _blanks_as_none(_to_python(self.whole(), skip_empty=False))
        rest = _to_python(bottom, skip_empty=True)
        if not rest:
            return rows
        (start_row, start_col), (_, end_col) = bottom.start, bottom.end
        width = max(end_col + 1, len(rows[0]) if rows else 0)
        if start_col:
            lead = [""] * start_col
            rest = [lead + r for r in rest]
        _blanks_as_none(rest)
        for part in (rows, rest):
            if part and len(part[0]) < width:
                pad = [None] * (width - len(part[0]))
                for r in part:
                    r.extend(pad)
        rows.extend([None] * width for _ in range(start_row - len(rows)))
        rows.extend(rest)
        return rows


def _done(half: Any) -> Any:
    return half.result() if isinstance(half, Future) else half


def _blanks_as_none(rows: list[list[Any]]) -> list[list[Any]]:
    """`rows` with calamine's blank cells ('') made None, in place."""
    for r in rows:
        if "" in r:
            r[:] = [None if v == "" else v for v in r]
    return rows


def _to_python(sheet: Any, skip_empty: bool) -> list[list[Any]]:
    return sheet.to_python(skip_empty_area=skip_empty)  # [] for a sheet with no cells


def parse(path: str, name: str, part: str, book: Any) -> Parsed:
    """Start parsing sheet `name` (zip member `part`) of the workbook at `path`. `book` is
    calamine's own reader of that file: a sheet under SPLIT_MIN, or one that cannot be cut, is
    parsed whole by it (and not unpacked here). A sheet that is cut is returned while its halves
    are parsed, each on a thread of its own."""
    pkg = Package.open(path)
    with pkg.zf:
        if pkg.zf.getinfo(part).file_size < SPLIT_MIN:
            return Parsed(None, [parse_whole(book, name, path)])
        xml = read_member(pkg.zf, part)
        cut = _cut(xml)
        parsed = Parsed(xml, [], whole=lambda: parse_whole(book, name, path))
        if cut is not None:
            folder = None
            try:
                folder = tempfile.mkdtemp(prefix="kakosheet-")
                paths = [_package(pkg, part, pieces, os.path.join(folder, f"half{i}.xlsx")) for i, pieces in enumerate(cut)]
            except Exception:  # e.g. no room for the halves in the temporary folder: one parse reads the same
                if folder is not None:
                    shutil.rmtree(folder, ignore_errors=True)
            else:
                parsed.halves = [in_background(_parse_package, half, name) for half in paths]
                parsed.numbered = rows_numbered(xml)  # for the write, while calamine parses (outside the interpreter lock)
                return parsed
    parsed.halves = [parse_whole(book, name, path)]
    return parsed


def parse_whole(book: Any, name: str, path: str) -> Any:
    """Sheet `name` parsed whole by `book`, calamine's reader of the workbook at `path`.

    A sheet with no cells (and a chart sheet) parses as a sheet with no rows; calamine raises
    only for a sheet it cannot parse (XML it cannot read, a part missing from the package, a
    damaged deflate stream), and that is UnreadableWorkbook naming the tab: never an empty table."""
    from python_calamine import CalamineError

    try:
        return book.get_sheet_by_name(name)
    except (CalamineError, OSError) as e:  # OSError: calamine's I/O errors, e.g. a corrupt deflate stream
        reason = " ".join(str(e).split()) or type(e).__name__
        raise UnreadableWorkbook(
            f"{path}: tab {name!r} cannot be read ({reason}); open the workbook in Excel, WPS or LibreOffice, save it again and sync"
        ) from e


def _parse_package(path: str, name: str) -> Any:
    """Parse sheet `name` of the package at `path`, then remove the package (and its folder, once empty)."""
    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_path(path)
        try:
            return book.get_sheet_by_name(name)
        finally:
            book.close()
    finally:
        with contextlib.suppress(OSError):
            os.remove(path)
            os.rmdir(os.path.dirname(path))  # fails while the other half's package is there


def _cut(xml: bytes) -> tuple[list[Any], list[Any]] | None:
    """The sheet as two worksheets, split before the first row past the middle of its cells;
    None when there is no such row or it carries no number."""
    found = sheet_data(xml)
    if found is None:
        return None
    prefix, start, end = found
    at = xml.find(b"<" + prefix + b"row ", start + int((end - start) * TOP_SHARE), end)
    return split_at(xml, at) if at >= 0 else None


def split_at(xml: bytes, at: int) -> tuple[list[Any], list[Any]] | None:
    """The sheet as two worksheets (each as pieces to write one after another), the second
    starting with the row whose tag starts at `at`; None when that row carries no number."""
    found = sheet_data(xml)
    assert found is not None
    if not re.match(rb'<(?:\w+:)?row\b[^>]*?\sr="\d+"', xml[at : xml.index(b">", at) + 1]):
        return None
    _, body_start, body_end = found
    head = _DIMENSION.sub(b"", xml[:body_start], count=1)  # it gives the whole sheet's extent, which neither half has
    view = memoryview(xml)
    tail = view[body_end:]
    return [head, view[body_start:at], tail], [head, view[at:body_end], tail]


def _package(pkg: Package, part: str, pieces: list[Any], path: str) -> str:
    """Write to `path` a package calamine can read sheet `part` from: the parts a cell's value
    depends on, and `pieces` in place of the sheet. Stored, not compressed: it is read once, at once."""
    wb_rels = pkg.rels_part(pkg.workbook_part)
    keep = {"[Content_Types].xml", "_rels/.rels", pkg.workbook_part, wb_rels}
    base = posixpath.dirname(pkg.workbook_part)
    for rel in relationships(pkg.read(wb_rels).decode("utf-8")):
        if rel["Type"].endswith(("/styles", "/sharedStrings")):
            keep.add(resolve_target(base, rel["Target"]))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as out:
        for member in sorted(keep):
            if pkg.has(member):
                out.writestr(member, read_member(pkg.zf, member))
        with out.open(part, "w", force_zip64=sum(len(p) for p in pieces) > 0x7FFFFFFF) as sheet:
            for piece in pieces:
                sheet.write(piece)
    return path
