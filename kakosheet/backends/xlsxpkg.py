"""Patch an .xlsx/.xlsm package in place of openpyxl's load-and-save, so nothing else is lost.

Only these parts are ever rewritten:

- the worksheets that get engine cells: inside `<sheetData>`, only the rows that change, and
  in them only the changed cells (xlsx_sheet.py);
- the generated tabs' worksheets, replaced whole;
- `xl/styles.xml`, when a style the engine needs (a date format, a bold header) is not there
  yet (xlsx_styles.py);
- `xl/workbook.xml`, its relationships and `[Content_Types].xml`, when a generated tab is added
  or hidden, and `xl/calcChain.xml` is dropped when an engine cell that held a formula is
  overwritten (Excel rebuilds it).

Every other part (images, charts, drawings, comments, VBA, pivot caches, custom XML, external
links, themes, shared strings) is copied as it is. This module knows the package: where each
sheet lives, how to add one, how to copy the zip.
"""

from __future__ import annotations

import functools
import os
import posixpath
import re
import zipfile
import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import IO, Any
from xml.sax.saxutils import escape

from ..formats import column_letter

try:  # ISA-L's deflate writes the same format several times faster than zlib's fastest level
    from isal import isal_zlib as _fast_zlib
except ImportError:  # a platform without its wheel: zlib does the same, slower
    _fast_zlib = zlib  # type: ignore[no-redef]

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
WORKSHEET_TYPE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"
CALC_CHAIN_TYPE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/calcChain"
WORKSHEET_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
BIG_PART = 4 << 20  # parts larger than this are compressed fast rather than small

INFLATE_RATIO = 100
"""How many times its size on disk a package's parts may add up to once inflated, as its zip
directory declares them. Measured: a 100,000-case workbook made by `kakosheet init` comes to 9x
(7x once synced), a sheet of 100,000 rows of one repeated string to 24x, and the most regular
sheet found, a million formatted and hidden rows as Excel writes them, to 45x; a zip bomb is
near deflate's limit of 1,032x."""

INFLATE_CEILING = 4 << 30
"""The most a package's parts may add up to once inflated, whatever the file's size: 4 GiB,
over twice the XML of a full sheet of 1,048,575 rows by 20 columns (1.3-1.8 GB)."""


class PackageError(Exception):
    """The package is not a workbook this writer can patch safely."""


class PackageTooLarge(PackageError):
    """The package's parts would inflate past INFLATE_RATIO times its size on disk, or past INFLATE_CEILING."""


col_letters = functools.cache(column_letter)  # 0-based column -> letters, called per cell written


@functools.lru_cache(maxsize=1 << 14)  # called for a cell or two of every row written
def col_index(letters: bytes | str) -> int:
    """Letters -> 0-based column."""
    n = 0
    for ch in letters.decode() if isinstance(letters, bytes) else letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


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
        try:
            check_inflation(zf, os.path.getsize(path))
        except PackageTooLarge:
            zf.close()
            raise
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
        for rel in relationships(rels):
            if rel["Type"].endswith("/officeDocument"):
                self.workbook_part = resolve_target("", rel["Target"])
                return
        raise PackageError("no workbook part in _rels/.rels")

    def rels_part(self, part: str) -> str:
        folder, name = posixpath.split(part)
        return posixpath.join(folder, "_rels", f"{name}.rels")

    def _read_sheets(self) -> None:
        workbook = self.read(self.workbook_part).decode("utf-8")
        self.date1904 = bool(re.search(r'<(?:\w+:)?workbookPr\b[^>]*\bdate1904="(?:1|true)"', workbook))
        rels = {r["Id"]: r for r in relationships(self.read(self.rels_part(self.workbook_part)).decode("utf-8"))}
        base = posixpath.dirname(self.workbook_part)
        for m in re.finditer(r"<(?:\w+:)?sheet\b([^>]*?)/?>", workbook):
            attrs = _attrs(m.group(1))
            rid = next((v for k, v in attrs.items() if k.endswith(":id")), None)
            rel = rels.get(rid or "")
            if rel is None or rel["Type"] != WORKSHEET_TYPE:
                continue  # chart sheets and dialog sheets carry no cells the engine writes
            name = _unescape(attrs["name"])
            self.sheets[name] = SheetEntry(name, resolve_target(base, rel["Target"]), rid or "", attrs.get("state", "visible") != "visible")


def check_inflation(zf: zipfile.ZipFile, on_disk: int) -> None:
    """Refuse (PackageTooLarge) a package whose parts, as its zip directory declares them, add up
    to more than INFLATE_RATIO times `on_disk` (the file's size) or than INFLATE_CEILING. Nothing
    is inflated to tell. The declared sizes hold: zipfile stops at a member's declared size,
    calamine's zip reader fails past it, and read_member checks its own inflation against it."""
    members = zf.infolist()
    total = sum(info.file_size for info in members)
    limit = min(INFLATE_RATIO * on_disk, INFLATE_CEILING)
    if total <= limit:
        return
    largest = max(members, key=lambda info: info.file_size)
    all_parts = f" (all its parts {_size(total)})" if _size(total) != _size(largest.file_size) else ""
    if limit == INFLATE_CEILING:
        why = f"the ceiling of {_size(INFLATE_CEILING)} kakosheet reads at most; if it is a real workbook, move old rows to another one"
    else:
        why = f"the limit of {_size(limit)}, {INFLATE_RATIO}x the file's {_size(on_disk)} on disk: damaged, or made to exhaust memory; check where it came from"
    raise PackageTooLarge(f"refused before unpacking: its part {largest.filename} would inflate to {_size(largest.file_size)}{all_parts}, over {why}")


def check_package(path: str) -> None:
    """check_inflation() for the file at `path`; a file that is not a zip passes (its reader says what it is not)."""
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        return
    with zf:
        check_inflation(zf, os.path.getsize(path))


def _size(n: int) -> str:
    """`n` bytes for a message: 900 bytes, 61.4 KiB, 4 GiB."""
    if n < 1024:
        return f"{n} bytes"
    value, unit = n / 1024, "KiB"
    for bigger in ("MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f}".removesuffix(".0") + f" {unit}"


def read_member(zf: zipfile.ZipFile, name: str) -> bytes:
    """A member's bytes, as `zf.read`; a large deflated one is inflated with ISA-L, several times
    faster than zlib, and checked against its CRC all the same. Like `zf.read`, it never inflates
    more than the member's declared size."""
    info = zf.getinfo(name)
    if info.compress_type != zipfile.ZIP_DEFLATED or info.file_size < BIG_PART or info.flag_bits & 0x1 or _fast_zlib is zlib or not zf.filename:
        return zf.read(name)
    with open(zf.filename, "rb") as fh:
        fh.seek(info.header_offset)
        header = fh.read(30)
        if header[:4] != b"PK\x03\x04":
            return zf.read(name)
        fh.seek(info.header_offset + 30 + int.from_bytes(header[26:28], "little") + int.from_bytes(header[28:30], "little"))
        inflate = _fast_zlib.decompressobj(-15)
        data = inflate.decompress(fh.read(info.compress_size), info.file_size)
    if not inflate.eof and inflate.decompress(inflate.unconsumed_tail, 1):
        raise zipfile.BadZipFile(f"{name!r} inflates to more than the {info.file_size} bytes it declares")
    if len(data) != info.file_size or _fast_zlib.crc32(data) != info.CRC:
        raise zipfile.BadZipFile(f"bad CRC-32 for file {name!r}")
    return data


def _unescape(value: str) -> str:
    return value.replace("&quot;", '"').replace("&apos;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _attrs(text: str) -> dict[str, str]:
    return {k: v for k, v in re.findall(r'([\w:]+)="([^"]*)"', text)}


def relationships(xml: str) -> Iterator[dict[str, str]]:
    for m in re.finditer(r"<(?:\w+:)?Relationship\b([^>]*?)/?>", xml):
        yield _attrs(m.group(1))


def resolve_target(base: str, target: str) -> str:
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(base, target))

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

    def _sheet(self, name: str) -> tuple[int, re.Match[str]] | None:
        """The position (0-based, as localSheetId counts) and element of sheet `name` in the sheets list."""
        for i, m in enumerate(re.finditer(r"<(?:\w+:)?sheet\b([^>]*?)/?>", self.workbook)):
            if _unescape(_attrs(m.group(1)).get("name", "")) == name:
                return i, m
        return None

    def _replace(self, m: re.Match[str], element: str) -> None:
        if element != m.group(0):
            self.workbook = self.workbook[: m.start()] + element + self.workbook[m.end() :]
            self.changed = True

    def set_hidden(self, name: str, hidden: bool) -> None:
        found = self._sheet(name)
        if found is None:
            return
        m = found[1]
        stripped = re.sub(r'\s+state="[^"]*"', "", m.group(0))
        self._replace(m, re.sub(r"^(<(?:\w+:)?sheet)\b", r'\1 state="hidden"', stripped) if hidden else stripped)

    def rename_sheet(self, old: str, new: str) -> None:
        """Give sheet `old` the name `new`, in the sheets list and in the defined names that refer
        to it (print titles, print areas, a user's named ranges)."""
        found = self._sheet(old)
        if found is None:
            return
        m = found[1]
        self._replace(m, re.sub(r'\bname="[^"]*"', lambda _: f'name="{_attr(new)}"', m.group(0), count=1))
        quoted = "'" + new.replace("'", "''") + "'!"
        refs = [re.escape(_attr("'" + old.replace("'", "''") + "'!"))]
        if re.fullmatch(r"[A-Za-z_][\w.]*", old):
            refs.append(rf"(?<![\w.']){re.escape(old)}!")

        def in_name(m: re.Match[str]) -> str:
            return m.group(1) + re.sub("|".join(refs), lambda _: _attr(quoted), m.group(2)) + m.group(3)

        self.workbook = re.sub(r"(<(?:\w+:)?definedName\b[^>]*>)(.*?)(</(?:\w+:)?definedName>)", in_name, self.workbook, flags=re.S)

    def set_print_titles(self, name: str, rows: int) -> None:
        """Print rows 1 to `rows` (at most the header) of sheet `name` at the top of every page:
        the `_xlnm.Print_Titles` name of that sheet, replacing one it had."""
        found = self._sheet(name)
        if found is None:
            return
        index, m = found
        p = re.match(r"<(\w+:)?", m.group(0)).group(1) or ""  # type: ignore[union-attr]
        ref = _attr("'" + name.replace("'", "''") + "'") + f"!${rows}:${rows}"
        element = f'<{p}definedName name="_xlnm.Print_Titles" localSheetId="{index}">{ref}</{p}definedName>'
        mine = re.compile(rf'<(?:\w+:)?definedName\b(?=[^>]*\bname="_xlnm\.Print_Titles")(?=[^>]*\blocalSheetId="{index}")[^>]*>.*?</(?:\w+:)?definedName>', re.S)
        kept = mine.search(self.workbook)
        if kept is not None:
            self._replace(kept, element)
            return
        if (close := re.search(r"</(?:\w+:)?definedNames>", self.workbook)) is not None:
            self.workbook = self.workbook[: close.start()] + element + self.workbook[close.start() :]
        else:
            # in the workbook's order: after the sheets, function groups and external references
            ends = [m for m in re.finditer(r"</(?:\w+:)?(?:sheets|functionGroups|externalReferences)>|<(?:\w+:)?functionGroups\b[^>]*/>", self.workbook)]
            if not ends:
                raise PackageError("workbook part has no sheets list")
            end = ends[-1]
            self.workbook = self.workbook[: end.end()] + f"<{p}definedNames>{element}</{p}definedNames>" + self.workbook[end.end() :]
        self.changed = True

    def set_override(self, part: str, content_type: str) -> None:
        """Give `part` its content type (an Override), unless it has that one already."""
        existing = re.search(rf'<(?:\w+:)?Override\b[^>]*PartName="/{re.escape(part)}"[^>]*/>', self.content_types)
        cp = re.search(r"<(\w+:)?Types\b", self.content_types)
        cpre = (cp.group(1) or "") if cp else ""
        element = f'<{cpre}Override PartName="/{part}" ContentType="{content_type}"/>'
        if existing is not None:
            if f'ContentType="{content_type}"' in existing.group(0):
                return
            self.content_types = self.content_types[: existing.start()] + element + self.content_types[existing.end() :]
        else:
            ct_close = self.content_types.rindex("</")
            self.content_types = self.content_types[:ct_close] + element + self.content_types[ct_close:]
        self.changed = True

    def drop_override(self, part: str) -> None:
        """Remove the content type of `part` (a part removed from the package)."""
        dropped = re.sub(rf'<(?:\w+:)?Override\b[^>]*PartName="/{re.escape(part)}"[^>]*/>', "", self.content_types)
        if dropped != self.content_types:
            self.content_types, self.changed = dropped, True

    def drop_calc_chain(self, part: str) -> None:
        self.rels = re.sub(rf'<(?:\w+:)?Relationship\b[^>]*?Type="{re.escape(CALC_CHAIN_TYPE)}"[^>]*?/>', "", self.rels)
        self.content_types = re.sub(rf'<(?:\w+:)?Override\b[^>]*?PartName="/{re.escape(part)}"[^>]*?/>', "", self.content_types)
        self.changed = True


# -- writing ------------------------------------------------------------------------------


def write_package(pkg: Package, out: IO[bytes], replaced: dict[str, Any], removed: set[str]) -> None:
    """Copy `pkg` to `out`, members in their order, with `replaced` ones rewritten or added, `removed` left out.

    A replacement is bytes; or bytes-like pieces streamed one after another (so a large worksheet
    is never joined into one more copy in memory): a list, or an iterable with a `size_hint` that
    makes them as they are written; or a function called when the part's turn comes, that returns
    either (None: the part is copied as it is)."""
    known = set(pkg.zf.namelist())
    with zipfile.ZipFile(out, "w", allowZip64=True) as dst:
        for info in pkg.zf.infolist():
            if info.filename in removed:
                continue
            data = replaced.get(info.filename)
            if callable(data):
                data = data()
            if data is None:
                _copy_member(pkg.zf, info, dst)
                continue
            _write_member(dst, info.filename, data, info.date_time)
        for name, data in replaced.items():
            if name not in known:
                data = data() if callable(data) else data
                if data is not None:
                    _write_member(dst, name, data, (1980, 1, 1, 0, 0, 0))


def _write_member(dst: zipfile.ZipFile, name: str, data: Any, date_time: tuple[int, int, int, int, int, int]) -> None:
    info = zipfile.ZipInfo(name, date_time=date_time)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o600 << 16
    if isinstance(data, (bytes, bytearray)):
        dst.writestr(info, data, compresslevel=1 if len(data) > BIG_PART else 6)
        return
    size = getattr(data, "size_hint", None)
    if size is None:
        size = sum(len(piece) for piece in data)
    info._compresslevel = 1 if size > BIG_PART else 6  # type: ignore[attr-defined]  # honoured by ZipFile.open("w")
    with ExitStack() as stack, dst.open(info, "w", force_zip64=size > 0x7FFFFFFF) as fout:  # the pool outlives fout's final flush
        workers = min(4, os.cpu_count() or 1)
        if size > BIG_PART and workers > 1 and hasattr(fout, "_compressor"):
            pool = stack.enter_context(ThreadPoolExecutor(workers))
            fout._compressor = ParallelDeflate(1, pool, workers)  # zipfile still counts the size and CRC
        batch: list[Any] = []
        batched = 0
        for piece in data:  # many small pieces (a row each) go to zipfile as few large writes
            batch.append(piece)
            batched += len(piece)
            if batched >= ParallelDeflate.CHUNK:
                fout.write(b"".join(batch))
                batch, batched = [], 0
        if batch:
            fout.write(b"".join(batch))


class ParallelDeflate:
    """A compressor for one large zip member that deflates 1 MiB chunks on worker threads (zlib
    lets go of the interpreter lock while it works), in the interface zipfile expects of zlib's.

    Each chunk is its own raw deflate stream, ended by a full flush so it stops on a byte boundary
    without ending the stream; chunks joined in order make one valid stream (as pigz does). The
    price is a few bytes per chunk and no back-references across chunks.
    """

    CHUNK = 1 << 20

    def __init__(self, level: int, pool: ThreadPoolExecutor, workers: int):
        self.level = level
        self.pool = pool
        self.ahead = 2 * workers  # chunks in flight before compress() waits for the oldest
        self.buffer: list[bytes] = []
        self.buffered = 0
        self.pending: deque[Future[bytes]] = deque()

    def compress(self, data: Any) -> bytes:
        self.buffer.append(data if isinstance(data, bytes) else bytes(data))
        self.buffered += len(self.buffer[-1])
        if self.buffered >= self.CHUNK:
            self._submit(final=False)
        done = []
        while self.pending and (self.pending[0].done() or len(self.pending) > self.ahead):
            done.append(self.pending.popleft().result())
        return b"".join(done)

    def flush(self) -> bytes:
        self._submit(final=True)
        out = b"".join(f.result() for f in self.pending)
        self.pending.clear()
        return out

    def _submit(self, final: bool) -> None:
        data = b"".join(self.buffer)
        self.buffer, self.buffered = [], 0
        self.pending.append(self.pool.submit(_deflate, data, self.level, final))


def _deflate(data: bytes, level: int, final: bool) -> bytes:
    c = _fast_zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush(zlib.Z_FINISH if final else zlib.Z_FULL_FLUSH)


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
