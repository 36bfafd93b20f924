"""What a sync asks a backend to change, and how a backend finds the rows it names.

A patch never names a row by position alone: a row is found by its case ID when the ID was
unique when read, otherwise by its position and a fingerprint of its user-owned cells. Rows
that moved are found where they went; rows that changed or vanished between read and write
are skipped (the next sync picks them up). Engine columns are checked against their header
label too, so a column inserted meanwhile shifts nothing onto a purchaser's cells.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .formats import fitted_widths
from .schema import norm_label
from .table import Sheet, canonical, fingerprint


class RowRef(NamedTuple):  # one per written row: a tuple is the cheapest to make
    row: int  # 1-based sheet row where the row was read
    case_id: str | None  # its ID when that ID was unique in the tab
    cells: list[Any]  # the row's cells as read (its fingerprint and ID cell are taken from them when needed)


@dataclass(slots=True)
class RowWrite:
    ref: RowRef
    cells: dict[int, Any]  # 0-based column -> new value (None clears)


@dataclass
class TabPatch:
    """Engine-owned cells to write on one tab people fill in."""

    tab: str
    header_row: int
    id_column: int | None  # 0-based column holding case IDs, if the tab has one
    engine_columns: dict[int, str]  # 0-based column -> the header label it must still have
    new_headers: dict[int, str] = field(default_factory=dict)  # header cells to add first
    rows: list[RowWrite] = field(default_factory=list)

    def skip_columns(self) -> frozenset[int]:
        """Columns left out of row fingerprints: the engine's."""
        return frozenset(self.engine_columns) | frozenset(self.new_headers)


@dataclass
class GeneratedTab:
    """A tab the engine writes whole: title line, header row, data."""

    name: str
    rows: list[list[Any]]
    hidden: bool = False
    header_row: int = 2  # 1-based row that gets the header style and freeze; 0 for none
    widths: dict[int, float] = field(default_factory=dict)  # 0-based column -> width
    formats: dict[int, str] = field(default_factory=dict)  # 0-based column -> number format of its data
    format_rows: int | None = None  # how many rows below the header the formats apply to (None: all; a second table may follow)
    replaces: str | None = None  # the tab's name in the workbook when it is another (the other language's, an older one): renamed in place
    sections: tuple[Section, ...] = ()  # the tables below the first one, each with its own header and formats
    charts: tuple[Chart, ...] = ()  # native charts of the tab's own ranges, anchored on it

    def column_widths(self) -> dict[int, float]:
        """Every column's width: the given ones, the others fitted to what they show."""
        return fitted_widths(self.rows, self.header_row or 1, self.widths, self.row_formats)

    def row_formats(self, row: int) -> Mapping[int, str]:
        """The number formats (by 0-based column) of the cells of 1-based `row`."""
        if self.header_row and self.header_row < row <= (len(self.rows) if self.format_rows is None else self.header_row + self.format_rows):
            return self.formats
        for s in self.sections:
            if s.header_row < row <= s.header_row + s.rows:
                return s.formats
        return _NO_FORMATS

    def header_rows(self) -> frozenset[int]:
        """The 1-based rows styled as a header: the tab's and its sections'."""
        return frozenset([self.header_row] if self.header_row else []) | {s.header_row for s in self.sections}

    @property
    def printable(self) -> bool:
        """Whether the tab is set up for printing: landscape, one page wide, its header on every page."""
        return not self.hidden and self.header_row > 0


@dataclass(frozen=True)
class Series:
    """A chart's series: the values in `column` (0-based) of the chart's rows, named `name` (the
    header cell of that column); `secondary` draws it as a line on a value axis on the right;
    `percent` formats its axis as a percentage."""

    name: str
    column: int
    secondary: bool = False
    percent: bool = False


@dataclass(frozen=True)
class Chart:
    """A native chart of a generated tab: `kind` bar (horizontal), column or line; categories in
    column `categories[0]` from row `categories[1]` to `categories[2]` (1-based, inclusive), the
    series' names in `header_row`; anchored with its top-left corner at cell `anchor` (0-based
    column and row) and spanning `size` (columns, rows). `key` names it for good: a Google Sheet
    keeps the chart's ID under it, so that a later sync updates that chart."""

    key: str
    kind: str
    title: str
    categories: tuple[int, int, int]
    series: tuple[Series, ...]
    header_row: int
    anchor: tuple[int, int]
    size: tuple[int, int] = (10, 18)
    lang: str = "en"
    chart_id: int | None = None  # set by the sync from the state: a Google Sheet's chart ID for it


@dataclass(frozen=True)
class Section:
    """A table of a generated tab below its first one: its 1-based header row, how many rows
    follow it, and their number formats by 0-based column."""

    header_row: int
    rows: int
    formats: Mapping[int, str] = field(default_factory=dict)


_NO_FORMATS: Mapping[int, str] = {}


@dataclass
class Patch:
    tabs: list[TabPatch] = field(default_factory=list)
    generated: list[GeneratedTab] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not self.generated and not any(t.rows or t.new_headers for t in self.tabs)


@dataclass
class ApplyResult:
    written: int = 0  # cells written
    skipped_rows: list[str] = field(default_factory=list)  # rows not found as read, by tab and row
    skipped_tabs: list[str] = field(default_factory=list)  # tabs whose engine columns moved


def resolve_columns(sheet: Sheet, patch: TabPatch) -> dict[int, int] | None:
    """Read-time column -> current column, or None when an engine column can't be found."""
    header = sheet.rows[patch.header_row - 1] if len(sheet.rows) >= patch.header_row else []
    labels = {norm_label(v): c for c, v in enumerate(header) if v is not None}
    out: dict[int, int] = {}
    for col, label in patch.engine_columns.items():
        want = norm_label(label)
        if col < len(header) and header[col] is not None and norm_label(header[col]) == want:
            out[col] = col
        elif want in labels:
            out[col] = labels[want]
        else:
            return None
    for col in patch.new_headers:
        out[col] = col
    return out


class RowLocator:
    """Finds, in the sheet as it is now, the rows a TabPatch names as they were read."""

    def __init__(self, sheet: Sheet, patch: TabPatch):
        self.sheet = sheet
        self.patch = patch
        self.skip = patch.skip_columns()
        self._ids: dict[Any, list[int]] | None = None
        self._fps: dict[int, list[int]] | None = None

    def _id_index(self) -> dict[Any, list[int]]:
        if self._ids is None:
            self._ids = defaultdict(list)
            col = self.patch.id_column
            if col is not None:
                for r, cells in enumerate(self.sheet.rows[self.patch.header_row :], start=self.patch.header_row + 1):
                    v = cells[col] if col < len(cells) else None
                    if v is not None and v != "":
                        self._ids[str(canonical(v)).strip()].append(r)
        return self._ids

    def _fp_index(self) -> dict[int, list[int]]:
        if self._fps is None:
            self._fps = defaultdict(list)
            for r in range(self.patch.header_row + 1, len(self.sheet.rows) + 1):
                self._fps[fingerprint(self.sheet.rows[r - 1], self.skip)].append(r)
        return self._fps

    def find(self, ref: RowRef) -> int | None:
        """The current 1-based row of `ref`, or None when it is gone or ambiguous."""
        if ref.case_id is not None:
            rows = self._id_index().get(ref.case_id, [])
            if len(rows) == 1:
                return rows[0]
        seen = fingerprint(ref.cells, self.skip)
        if 1 <= ref.row <= len(self.sheet.rows) and fingerprint(self.sheet.rows[ref.row - 1], self.skip) == seen:
            found: int | None = ref.row
        else:
            rows = self._fp_index().get(seen, [])
            found = rows[0] if len(rows) == 1 else None
        if found is not None and self.patch.id_column is not None and ref.case_id is None:
            # the ID cell is the engine's, so it is not in the fingerprint: a row that was given an
            # ID meanwhile (by another sync) must not be given a second one
            col = self.patch.id_column
            id_seen = ref.cells[col] if col < len(ref.cells) else None
            if canonical(self.sheet.cell(found, col)) != canonical(id_seen):
                return None
        return found


def plan_writes(sheet: Sheet, patch: TabPatch, result: ApplyResult, unchanged: bool = False) -> dict[int, dict[int, Any]]:
    """{1-based row: {0-based column: value}} for every cell of `patch` that can be placed safely.

    `unchanged` says the backend has verified that `sheet` is exactly what the sync read (the
    xlsx backend compares the file's hash), so every row is still where it was read.
    """
    columns = resolve_columns(sheet, patch)
    if columns is None:
        result.skipped_tabs.append(patch.tab)
        return {}
    out: dict[int, dict[int, Any]] = {}
    if patch.new_headers:
        out[patch.header_row] = dict(patch.new_headers)
    same_columns = all(read == now for read, now in columns.items())
    locator = RowLocator(sheet, patch)
    for write in patch.rows:
        row = write.ref.row if unchanged else locator.find(write.ref)
        if row is None:
            result.skipped_rows.append(f"{patch.tab}!{write.ref.row}")
            continue
        cells = write.cells if same_columns else {columns[col]: value for col, value in write.cells.items()}
        out[row] = {**out[row], **cells} if row in out else cells
    result.written += sum(len(cells) for cells in out.values())
    return out
