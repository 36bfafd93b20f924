"""Excel workbooks on disk (.xlsx, .xlsm).

Reads every tab with python-calamine (fast, cached formula values). Writes by patching the
package (xlsxpkg.py): only the engine's cells, the generated tabs and what adding them needs;
every other part of the file is copied as it is, so photos, charts, comments, VBA and the rest
survive. The new package goes to a temporary file in the same folder, is fsynced and renamed
over the original, so the workbook is always either the old or the new one; the old one is kept
as a backup. A lock file keeps two syncs of one workbook from interleaving, and a workbook
saved by someone between the sync's read and its write is never overwritten: the write is
refused (WorkbookChanged) and the sync starts over.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from ..errors import (
    UnreadableWorkbook,
    WorkbookChanged,
    WorkbookExists,
    WorkbookLocked,
    WorkbookNotFound,
    WorkbookNotWritable,
    WorkbookOpen,
)
from ..patch import ApplyResult, GeneratedTab, Patch, plan_writes
from ..table import PendingSheet, Sheet
from ..template import Template
from . import xlsx_charts, xlsx_read, xlsxpkg
from .base import flock_within
from .xlsx_sheet import PatchedSheet, SheetPatch, generated_sheet_xml, patch_worksheet
from .xlsx_styles import Styles
from .xlsx_template import ENGINE_FILL, render_template

log = logging.getLogger("kakosheet.xlsx")

TEMP_PREFIX = ".~kakosheet."
BACKUP_DIR = ".kakosheet-backups"
ENGINE_HEADER_FONT = '<font><b/><i/><sz val="11"/><color rgb="FF595959"/></font>'
ENGINE_HEADER_FILL = f'<fill><patternFill patternType="solid"><fgColor rgb="FF{ENGINE_FILL}"/><bgColor indexed="64"/></patternFill></fill>'


def _stamp(path: Path) -> tuple[int, int, int, str]:
    """What identifies one saved version of the file: size, mtime, inode and content hash."""
    st = path.stat()
    digest = hashlib.sha256()  # the fastest of hashlib's where the CPU has SHA instructions
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return (st.st_size, st.st_mtime_ns, st.st_ino, digest.hexdigest())


def office_lock_files(path: Path) -> list[Path]:
    """Lock files Excel, WPS or LibreOffice keep next to a workbook they have open."""
    name = path.name
    candidates = [path.with_name(f"~${name}"), path.with_name(f".~lock.{name}#")]
    if len(name) > 2:
        candidates.append(path.with_name(f"~${name[2:]}"))
    return [p for p in candidates if p.exists()]


def _lock_owner(lock: Path) -> str:
    try:
        raw = lock.read_bytes()[:200]
    except OSError:
        return ""
    if lock.name.startswith(".~lock."):
        parts = raw.decode("utf-8", "replace").split(",")
        return parts[1] if len(parts) > 1 else ""
    if raw[:1] and 0 < raw[0] < 60:
        return raw[1 : 1 + raw[0]].decode("latin-1", "replace").strip()
    return ""


class XlsxBackend:
    def __init__(
        self,
        path: str | os.PathLike[str],
        backups: int = 3,
        lock_timeout: float = 60.0,
        ignore_office_locks: bool = False,
    ):
        self.path = Path(path)
        self.backups = backups
        self.lock_timeout = lock_timeout
        self.ignore_office_locks = ignore_office_locks
        self._read_stamp: tuple[int, int, int, str] | None = None
        self._read_sheets: dict[str, Sheet] = {}
        self._prefetched: _Prefetch | None = None
        # stamp, part, its XML (None: set aside; a Future: being unpacked again), rows numbered?
        self._preloaded: tuple[tuple[int, int, int, str], str, bytes | Future[bytes | None] | None, bool | None] | None = None

    def describe(self) -> str:
        return str(self.path)

    def _missing(self) -> WorkbookNotFound:
        return WorkbookNotFound(f"{self.path}: no such workbook; create one with `kakosheet init {self.path}`")

    def probe(self) -> str:
        """Whether a sync could read and write the file now, in a few words; raises the error the
        sync would meet (no such file, not a workbook, a folder it cannot write, open in Excel)."""
        if not self.path.exists():
            raise self._missing()
        try:
            with zipfile.ZipFile(self.path) as zf:
                zf.getinfo("xl/workbook.xml")
        except (zipfile.BadZipFile, KeyError, OSError) as e:
            raise UnreadableWorkbook(f"{self.path}: not a workbook kakosheet can read ({e}); open and re-save it in Excel or WPS") from None
        if not os.access(self.path.parent, os.W_OK) or not os.access(self.path, os.W_OK):
            raise WorkbookNotWritable(f"{self.path}: the file or its folder cannot be written; check the permissions")
        self._check_not_open()
        st = self.path.stat()
        saved = datetime.fromtimestamp(st.st_mtime).astimezone().isoformat(timespec="minutes")
        return f"{st.st_size / 2**20:.1f} MiB, saved {saved}"

    def default_timezone(self) -> str:
        return "UTC"

    # -- locking -----------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the workbook's sync lock; wait up to `lock_timeout` seconds for another sync."""
        if not self.path.parent.exists():
            raise WorkbookNotFound(f"{self.path}: no such folder")
        lock_path = self.path.with_name(f".{self.path.name}.kakosheet.lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            # a read-only folder: reading (validate, --dry-run) needs no lock, and a write fails
            # later with its own clear message
            yield
            return
        held = False
        try:
            if not flock_within(fd, self.lock_timeout):
                raise WorkbookLocked(
                    f"{self.path}: another kakosheet sync has held it for over {self.lock_timeout:g}s; wait for it to finish or raise --lock-timeout"
                )
            self._remove_stale_temps()
            log.debug("holding the sync lock of %s", self.path)
            held = True
            yield
        finally:
            os.close(fd)
            if held:
                log.debug("let go of the sync lock of %s", self.path)

    def _remove_stale_temps(self) -> None:
        for stale in self.path.parent.glob(f"{TEMP_PREFIX}{self.path.stem}.*{self.path.suffix}"):
            stale.unlink(missing_ok=True)

    # -- reading -----------------------------------------------------------------------

    def prefetch(self) -> None:
        """Start parsing the workbook's largest sheet on a worker thread, so that `read` finds it done:
        calamine parses outside the interpreter lock, in parallel with whatever the caller does meanwhile."""
        if self._prefetched is not None or not self.path.exists():
            return
        try:
            pkg = xlsxpkg.Package.open(str(self.path))
            with pkg.zf:
                sizes = {name: pkg.zf.getinfo(entry.part).file_size for name, entry in pkg.sheets.items() if pkg.has(entry.part)}
        except Exception:  # read() reports what is wrong with the file
            return
        if sizes:
            name = max(sizes, key=lambda n: sizes[n])
            part = pkg.sheets[name].part
            parsed = xlsx_read.in_background(xlsx_read.parse, str(self.path), name, part, self._open_book())
            self._prefetched = _Prefetch(_stamp(self.path), name, part, parsed, unpacks=sizes[name] >= xlsx_read.SPLIT_MIN)

    def _open_book(self) -> Any:
        """calamine's reader of the workbook, once the package is known not to inflate past its limits."""
        from python_calamine import CalamineWorkbook

        try:
            xlsxpkg.check_package(str(self.path))  # before calamine, which inflates what it reads itself
        except xlsxpkg.PackageTooLarge as e:
            raise UnreadableWorkbook(f"{self.path}: {e}") from e
        try:
            return CalamineWorkbook.from_path(str(self.path))
        except Exception as e:  # calamine raises its own error types for every kind of bad file
            raise UnreadableWorkbook(f"{self.path}: cannot be read as an Excel workbook ({e}); open and re-save it in Excel or WPS") from e

    def _preload(self, part: str, stamp: tuple[int, int, int, str]) -> None:
        """Keep the XML of `part` as read at `stamp`, for `apply` to patch without unpacking it again."""
        try:
            with zipfile.ZipFile(self.path) as zf:
                self._preloaded = (stamp, part, xlsxpkg.read_member(zf, part), None)
        except Exception:  # apply() reads the part itself and reports what is wrong
            self._preloaded = None

    def set_aside(self) -> None:
        """Let go, for now, of the sheet XML kept from the read for the write (after the tables, the
        largest thing a sync holds): the sync calls this before work that needs the memory, and
        take_back() after it."""
        if self._preloaded is not None and isinstance(self._preloaded[2], bytes):
            stamp, part, _, numbered = self._preloaded
            self._preloaded = (stamp, part, None, numbered)

    def take_back(self) -> None:
        """Unpack again what set_aside() let go, on a worker thread (it inflates outside the
        interpreter lock) while the sync goes on; `apply` takes it when it is done."""
        if self._preloaded is None or self._preloaded[2] is not None:
            return
        stamp, part, _, numbered = self._preloaded
        self._preloaded = (stamp, part, xlsx_read.in_background(self._unpack, part, stamp), numbered)

    def _unpack(self, part: str, stamp: tuple[int, int, int, str]) -> bytes | None:
        """The XML of `part` in the version of the file read at `stamp`; None when the file is not that version."""
        try:
            if _stamp(self.path) != stamp:
                return None
            with zipfile.ZipFile(self.path) as zf:
                xml = xlsxpkg.read_member(zf, part)
            return xml if _stamp(self.path) == stamp else None  # not saved while it was read
        except Exception:  # apply() reads the part itself and reports what is wrong
            return None

    def read(self, names: list[str] | None = None) -> dict[str, Sheet]:
        from python_calamine import SheetVisibleEnum

        if not self.path.exists():
            raise self._missing()
        stamp = _stamp(self.path)
        prefetched, self._prefetched = self._prefetched, None
        self._preloaded = None
        if prefetched is not None and prefetched.stamp != stamp:
            prefetched = None  # saved since: read it afresh
        book = self._open_book()
        wanted = [meta for meta in book.sheets_metadata if names is None or meta.name in names]
        # the sheet parsed ahead comes last, so that the others are read while its parse finishes
        order = sorted(wanted, key=lambda meta: prefetched is not None and meta.name == prefetched.name)
        out: dict[str, Sheet] = {meta.name: Sheet(meta.name, []) for meta in wanted}
        for meta in order:
            hidden = meta.visible != SheetVisibleEnum.Visible
            if prefetched is not None and meta.name == prefetched.name:
                if not prefetched.unpacks:
                    self._preload(prefetched.part, stamp)  # while calamine parses it, unpack the sheet's XML for the write
                # the caller works on the other tabs while this one is still parsed
                out[meta.name] = PendingSheet(meta.name, functools.partial(self._finish_prefetched, prefetched, stamp), hidden)
                prefetched = None
                continue
            raw = xlsx_read.Parsed(None, [xlsx_read.parse_whole(book, meta.name, str(self.path))]).rows()
            out[meta.name] = Sheet(meta.name, raw, hidden=hidden)  # one parsed sheet at a time in memory
        self._read_stamp, self._read_sheets = stamp, out
        return out

    def _finish_prefetched(self, prefetched: _Prefetch, stamp: tuple[int, int, int, str]) -> list[list[Any]]:
        """The rows of the sheet parsed ahead, once its parse is done."""
        parsed = prefetched.parsed.result()
        if parsed.xml is not None:
            self._preloaded = (stamp, prefetched.part, parsed.xml, parsed.numbered)
        return parsed.rows()

    # -- writing -----------------------------------------------------------------------

    def _check_unchanged(self) -> None:
        if self._read_stamp is None or not self.path.exists() or _stamp(self.path) != self._read_stamp:
            raise WorkbookChanged(f"{self.path} was saved by someone else during the sync")

    def _check_not_open(self) -> None:
        if self.ignore_office_locks:
            return
        locks = office_lock_files(self.path)
        if locks:
            owner = _lock_owner(locks[0])
            by = f" by {owner}" if owner else ""
            raise WorkbookOpen(
                f"{self.path} is open in Excel, WPS or LibreOffice{by} (lock file {locks[0].name}); "
                "close it and sync again, or the next save there would undo this sync"
            )

    def apply(self, patch: Patch) -> ApplyResult:
        result = ApplyResult()
        if patch.is_empty():
            return result
        self._check_not_open()
        self._check_unchanged()
        try:
            pkg = xlsxpkg.Package.open(str(self.path))
        except (xlsxpkg.PackageError, KeyError) as e:
            raise UnreadableWorkbook(f"{self.path}: cannot be patched ({e}); open and re-save it in Excel or WPS") from e
        with pkg.zf:
            try:
                replaced, removed, styles = self._build(pkg, patch, result, stream=True)
                try:
                    self._write(pkg, replaced, removed, styles)
                except _StylesWrittenEarly:
                    result = ApplyResult()
                    self._write(pkg, *self._build(pkg, patch, result, stream=False))
                finally:
                    for data in replaced.values():
                        if isinstance(data, PatchedSheet):
                            data.discard()  # a sheet not written to its end leaves no process behind
            except PermissionError as e:
                raise WorkbookNotWritable(f"{self.path}: cannot write the workbook or its folder ({e.strerror}); check the file's permissions") from e
        return result

    def _build(self, pkg: xlsxpkg.Package, patch: Patch, result: ApplyResult, stream: bool) -> tuple[dict[str, Any], set[str], _StylesPart | None]:
        """The parts to replace and to remove, and (when a sheet is made while it is written) the
        styles part that must be written after it.

        With `stream`, patched sheets are made while the package is written, so that compressing
        one overlaps patching it. That needs the parts a patch can change to come after it: the
        styles (checked as it is written) and, when a formula is overwritten, the calculation
        chain, so sheets are streamed only when the workbook has none."""
        wb_rels_part = pkg.rels_part(pkg.workbook_part)
        wb_rels = pkg.read(wb_rels_part).decode("utf-8")
        styles_part = next(
            (xlsxpkg.resolve_target(os.path.dirname(pkg.workbook_part), r["Target"]) for r in xlsxpkg.relationships(wb_rels) if r["Type"].endswith("/styles")),
            None,
        )
        styles = Styles(pkg.read(styles_part) if styles_part and pkg.has(styles_part) else None)
        replaced: dict[str, Any] = {}
        removed: set[str] = set()
        formula = False
        stream = stream and styles_part is not None and pkg.has(styles_part) and not any(
            rel["Type"] == xlsxpkg.CALC_CHAIN_TYPE for rel in xlsxpkg.relationships(wb_rels)
        )
        engine_header = None
        for tab in patch.tabs:
            entry = pkg.sheets.get(tab.tab)
            if entry is None or tab.tab not in self._read_sheets:
                result.skipped_tabs.append(tab.tab)
                continue
            # _check_unchanged() proved the file is the one read: rows are where they were
            cells = plan_writes(self._read_sheets[tab.tab], tab, result, unchanged=True)
            if not cells:
                continue
            if tab.new_headers and engine_header is None:
                engine_header = styles.xf(font=ENGINE_HEADER_FONT, fill=ENGINE_HEADER_FILL)
            sheet_patch = SheetPatch(cells, tab.header_row, engine_header)
            preloaded, self._preloaded = self._preloaded, None
            source = None
            if preloaded is not None and preloaded[:2] == (self._read_stamp, entry.part):
                source, numbered = preloaded[2], preloaded[3]
                if isinstance(source, Future):  # unpacked again after set_aside()
                    source = source.result()
            if source is None:
                source, numbered = pkg.read(entry.part), None
            if stream:
                replaced[entry.part] = PatchedSheet(source, sheet_patch, styles, pkg.date1904, numbered, fork=True)
            else:
                replaced[entry.part], had_formula = patch_worksheet(source, sheet_patch, styles, pkg.date1904, numbered)
                formula |= had_formula
        structure = xlsxpkg.Structure(
            pkg.read(pkg.workbook_part).decode("utf-8"), wb_rels, pkg.read("[Content_Types].xml").decode("utf-8")
        )
        taken = set(pkg.zf.namelist())
        for gen in patch.generated:
            xml = generated_sheet_xml(gen, styles, pkg.date1904)
            entry = pkg.sheets.get(gen.replaces) if gen.replaces else None
            if entry is not None:
                structure.rename_sheet(gen.replaces, gen.name)
            else:
                entry = pkg.sheets.get(gen.name)
            if entry is not None:
                part = entry.part
                replaced[part] = xml
                rels = pkg.rels_part(part)
                if pkg.has(rels):
                    removed.add(rels)
                structure.set_hidden(gen.name, gen.hidden)
            else:
                n = 1
                while f"xl/worksheets/sheet{n}.xml" in taken:
                    n += 1
                part = f"xl/worksheets/sheet{n}.xml"
                taken.add(part)
                structure.add_sheet(gen.name, part, gen.hidden)
                replaced[part] = xml
            self._charts(pkg, gen, part, structure, replaced, removed)
            if gen.printable:
                structure.set_print_titles(gen.name, gen.header_row)
        if formula:
            for rel in xlsxpkg.relationships(wb_rels):
                if rel["Type"] == xlsxpkg.CALC_CHAIN_TYPE:
                    part = xlsxpkg.resolve_target(os.path.dirname(pkg.workbook_part), rel["Target"])
                    removed.add(part)
                    structure.drop_calc_chain(part)
        if structure.changed:
            replaced[pkg.workbook_part] = structure.workbook.encode("utf-8")
            replaced[wb_rels_part] = structure.rels.encode("utf-8")
            replaced["[Content_Types].xml"] = structure.content_types.encode("utf-8")
        if stream and styles_part is not None:
            deferred = replaced[styles_part] = _StylesPart(styles)
            return replaced, removed, deferred
        if styles.changed:
            replaced[styles_part or "xl/styles.xml"] = styles.xml.encode("utf-8")
        return replaced, removed, None

    @staticmethod
    def _charts(pkg: xlsxpkg.Package, gen: GeneratedTab, part: str, structure: xlsxpkg.Structure, replaced: dict[str, Any], removed: set[str]) -> None:
        """The drawing and chart parts of generated tab `gen` (in sheet `part`): made afresh, and
        those an earlier sync made for it that are no longer wanted removed."""
        wanted: set[str] = set()
        if gen.charts:
            drawing, charts = xlsx_charts.part_names(part, len(gen.charts))
            replaced[pkg.rels_part(part)] = xlsx_charts.sheet_rels(drawing, part)
            replaced[drawing] = xlsx_charts.drawing_xml(gen.charts)
            replaced[pkg.rels_part(drawing)] = xlsx_charts.drawing_rels(charts, drawing)
            structure.set_override(drawing, xlsx_charts.DRAWING_CT)
            for chart_part, chart in zip(charts, gen.charts, strict=True):
                replaced[chart_part] = xlsx_charts.chart_xml(gen, chart)
                structure.set_override(chart_part, xlsx_charts.CHART_CT)
            wanted = {drawing, pkg.rels_part(drawing), *charts}
            removed.discard(pkg.rels_part(part))
        for name in pkg.zf.namelist():
            if name not in wanted and xlsx_charts.is_own_part(name, part):
                removed.add(name)
                structure.drop_override(name)

    def _write(self, pkg: xlsxpkg.Package, replaced: dict[str, Any], removed: set[str], styles: _StylesPart | None) -> None:
        def fill(fh: IO[bytes]) -> None:
            xlsxpkg.write_package(pkg, fh, replaced, removed)
            if styles is not None and styles.stale():
                raise _StylesWrittenEarly

        self._atomic_write(fill, self._replace)

    def _atomic_write(self, fill: Callable[[IO[bytes]], None], commit: Callable[[Path], None]) -> None:
        """`fill` a temporary file beside the workbook, fsync it, then `commit` (rename) it; on failure remove it."""
        fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{self.path.stem}.", suffix=self.path.suffix, dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fill(fh)
                fh.flush()
                os.fsync(fh.fileno())
            commit(Path(tmp))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _replace(self, tmp: Path) -> None:
        """Rename `tmp` over the workbook, unless someone saved it meanwhile; keep the old one as a backup."""
        self._check_unchanged()
        os.chmod(tmp, self.path.stat().st_mode & 0o777)
        self._backup()
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)
        self._read_stamp = None

    def _backup(self) -> None:
        if self.backups <= 0:
            return
        folder = self.path.parent / BACKUP_DIR
        folder.mkdir(exist_ok=True)
        saved = datetime.fromtimestamp(self.path.stat().st_mtime).strftime("%Y%m%d-%H%M%S-%f")
        target = folder / f"{self.path.stem}.{saved}{self.path.suffix}"
        if not target.exists():
            try:
                os.link(self.path, target)
            except OSError:
                shutil.copy2(self.path, target)
        pattern = re.compile(rf"^{re.escape(self.path.stem)}\.\d{{8}}-\d{{6}}-\d{{6}}{re.escape(self.path.suffix)}$")
        kept = sorted(p for p in folder.iterdir() if pattern.match(p.name))
        for old in kept[: max(0, len(kept) - self.backups)]:
            old.unlink(missing_ok=True)

    def create(self, template: Template, force: bool = False) -> None:
        """Write a new workbook from `template`; refuse to replace an existing file unless `force`."""
        if self.path.exists() and not force:
            raise WorkbookExists(f"{self.path} already exists; pass --force to overwrite it")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        book = render_template(template)

        def commit(tmp: Path) -> None:
            os.replace(tmp, self.path)
            _fsync_dir(self.path.parent)

        self._atomic_write(book.save, commit)


@dataclass(frozen=True)
class _Prefetch:
    """A sheet being parsed ahead of `read`, of the file as it was at `stamp`."""

    stamp: tuple[int, int, int, str]
    name: str
    part: str  # its zip member
    parsed: Future[xlsx_read.Parsed]
    unpacks: bool  # whether the parse unpacks the sheet's XML itself (to cut it in halves)


class _StylesPart:
    """The styles part, made when its turn comes in the package (after the sheets, in the files
    Excel, WPS and most libraries write), so that it holds the styles the sheets patched before it
    added; `stale` tells when a sheet after it added one."""

    def __init__(self, styles: Styles):
        self.styles = styles
        self.written: str | None = None

    def __call__(self) -> bytes | None:
        self.written = self.styles.xml
        return self.styles.xml.encode("utf-8") if self.styles.changed else None

    def stale(self) -> bool:
        return self.written != self.styles.xml


class _StylesWrittenEarly(Exception):
    """A sheet patched while the package was written needed a style after the styles part was written."""


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
