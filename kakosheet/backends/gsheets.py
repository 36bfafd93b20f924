"""Google Sheets: the same sync on a shared spreadsheet, in a constant number of API requests.

A sync costs one metadata read and one values read; when something changed, one structural
batchUpdate (only when a tab, a column or rows must be added, or a tab hidden), one re-read of
the tabs it writes into, and one values write (split only above ~2 MB). The re-read is what
keeps purchasers who edit during the sync safe: just before writing, each row is found again by
its case ID, or by its position and a fingerprint of the purchaser's cells, so a row inserted,
deleted or sorted meanwhile never receives another row's ID or flags, and a row edited meanwhile
is left for the next sync. Developer metadata on rows was considered: it follows rows, but it
must be attached to new rows by position, which has the same race, and it costs a request per
row on the first sync. Values are written RAW (nothing typed becomes a formula); unchanged cells
inside a written block are sent as null, which the API leaves alone.

A generated tab's charts ride in the structural batchUpdate: added under the chart ID the state
keeps for them, later updated in place (spec and position, only what differs from what the
metadata read shows), and a chart on a generated tab that no report draws any more is deleted.
Charts on any other tab are the purchasers' own and are never touched.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import re
import zlib
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from ..errors import UsageError, WorkbookExists
from ..formats import DATETIME_FORMAT
from ..patch import ApplyResult, Chart, GeneratedTab, Patch, plan_writes
from ..table import Sheet, canonical, excel_serial
from ..template import LISTS_TAB, STATE_TAB, Template
from .gsheets_transport import Caller, SheetsAccessDenied, load_credentials, make_client

MAX_REQUEST_BYTES = 2_000_000
ROW_GAP = 25  # rows closer than this are written as one block, the ones between sent as null
ENGINE_RGB = {"red": 0.906, "green": 0.902, "blue": 0.902}
HEADER_RGB = {"red": 0.867, "green": 0.922, "blue": 0.969}
COLUMN_PIXELS, ROW_PIXELS = 100, 21  # a chart's size in cells, as pixels (the sheet's default column width and row height)
CHART_TYPES = {"bar": "BAR", "column": "COLUMN", "line": "LINE"}
_ID = re.compile(r"^(?:gsheets://|https://docs\.google\.com/spreadsheets/d/)([A-Za-z0-9_-]{10,})")


def spreadsheet_id(target: str) -> str:
    """The spreadsheet ID in `gsheets://ID` or a sheet's URL."""
    m = _ID.match(target.strip())
    if not m:
        raise UsageError(f"{target!r} is not a Google Sheet; write gsheets://SPREADSHEET_ID or paste the sheet's URL")
    return m.group(1)


def a1(title: str, r0: int, c0: int, r1: int, c1: int) -> str:
    """A1 range of 1-based rows r0..r1 and 0-based columns c0..c1 on tab `title`."""
    from .xlsxpkg import col_letters

    quoted = "'" + title.replace("'", "''") + "'"
    return f"{quoted}!{col_letters(c0)}{r0}:{col_letters(c1)}{r1}"


def to_json_value(value: Any) -> Any:
    """A cell value as the API takes it RAW; None clears the cell."""
    if value is None:
        return ""
    if isinstance(value, (datetime, date)):
        return excel_serial(value)
    return value


class GSheetsBackend:
    def __init__(
        self,
        target: str,
        credentials: str | None = None,
        deadline: float = 120.0,
        lock_timeout: float = 60.0,
        client: Any = None,
        timeout: tuple[float, float] = (10.0, 60.0),
    ):
        self.id = spreadsheet_id(target)
        self.deadline, self.lock_timeout = deadline, lock_timeout
        if client is None:
            creds, self.account = load_credentials(credentials)
            client = make_client(creds, timeout)
        else:
            self.account = getattr(getattr(client, "auth", None), "service_account_email", "the service account")
        self.client = client
        self._meta: dict[str, Any] = {}
        self._charts: dict[int, list[dict[str, Any]]] = {}  # sheetId -> its charts (chartId, spec, position) as last read
        self._layouts: dict[int, dict[str, Any]] = {}  # sheetId -> the developer metadata naming the layout a generated tab was given
        self._sheets: dict[str, Sheet] = {}
        self.timezone: str | None = None

    def describe(self) -> str:
        return f"gsheets://{self.id}"

    def locked(self) -> contextlib.AbstractContextManager[None]:
        """This machine's lock of the Sheet (runs.local_lock): two syncs here never run at once."""
        from ..runs import local_lock

        return local_lock(f"gsheets://{self.id}", self.lock_timeout)

    # -- requests ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        from gspread.exceptions import APIError, SpreadsheetNotFound

        try:
            yield
        except SpreadsheetNotFound as e:
            raise self._denied() from e
        except APIError as e:
            status = getattr(getattr(e, "response", None), "status_code", None)
            if status in (403, 404):
                raise self._denied() from e
            raise

    def _denied(self) -> SheetsAccessDenied:
        return SheetsAccessDenied(
            f"gsheets://{self.id}: not found, or not shared with {self.account}; "
            f"open the sheet, Share it with {self.account} as Editor, and check the ID"
        )

    def _metadata(self, caller: Caller) -> dict[str, Any]:
        fields = (
            "properties(title,timeZone),sheets(properties(sheetId,title,index,hidden,gridProperties(rowCount,columnCount,frozenRowCount)),"
            "charts(chartId,spec,position),developerMetadata(metadataId,metadataKey,metadataValue))"
        )
        with self._errors():
            meta = caller("metadata read", lambda: self.client.http_client.fetch_sheet_metadata(self.id, params={"fields": fields}))
        self._meta = {s["properties"]["title"]: s["properties"] for s in meta.get("sheets", [])}
        self._charts = {s["properties"].get("sheetId", 0): list(s.get("charts", [])) for s in meta.get("sheets", [])}
        self._layouts = {
            s["properties"].get("sheetId", 0): md for s in meta.get("sheets", []) for md in s.get("developerMetadata", []) if md.get("metadataKey") == LAYOUT_KEY
        }
        self.timezone = meta.get("properties", {}).get("timeZone")
        return meta

    def _values(self, caller: Caller, titles: list[str]) -> dict[str, list[list[Any]]]:
        if not titles:
            return {}
        params = {"valueRenderOption": "UNFORMATTED_VALUE", "dateTimeRenderOption": "SERIAL_NUMBER", "majorDimension": "ROWS"}
        ranges = ["'" + t.replace("'", "''") + "'" for t in titles]
        with self._errors():
            got = caller("values read", lambda: self.client.http_client.values_batch_get(self.id, list(ranges), params=dict(params)))
        out = {}
        for title, vr in zip(titles, got.get("valueRanges", []), strict=False):
            out[title] = [[None if v == "" else v for v in row] for row in vr.get("values", [])]
        return out

    # -- reading -------------------------------------------------------------------------

    def read(self) -> dict[str, Sheet]:
        caller = Caller(self.deadline)
        self._metadata(caller)
        grids = self._values(caller, list(self._meta))
        self._sheets = {t: Sheet(t, grids.get(t, []), bool(p.get("hidden"))) for t, p in self._meta.items()}
        return dict(self._sheets)

    def probe(self) -> str:
        """Whether a sync could reach the Sheet now (one metadata request), in a few words."""
        meta = self._metadata(Caller(self.deadline))
        title = meta.get("properties", {}).get("title", "")
        return f"{title!r}, {len(self._meta)} tabs, as {self.account}"

    def default_timezone(self) -> str:
        """The spreadsheet's own time zone, in which its serial-number dates are wall-clock times."""
        if self.timezone is None:
            self._metadata(Caller(self.deadline))
        return self.timezone or "UTC"

    # -- writing -------------------------------------------------------------------------

    def apply(self, patch: Patch) -> ApplyResult:
        result = ApplyResult()
        if patch.is_empty():
            return result
        caller = Caller(self.deadline)
        structural = self._structural(patch)
        if structural:
            self._batch_update(caller, structural, lambda: self._added(caller, structural))
        user_tabs = [t for t in patch.tabs if t.tab in self._meta]
        result.skipped_tabs += [t.tab for t in patch.tabs if t.tab not in self._meta]
        current = self._values(caller, [t.tab for t in user_tabs])
        data: list[dict[str, Any]] = []
        for tab in user_tabs:
            sheet = Sheet(tab.tab, current.get(tab.tab, []))
            cells = {row: {col: to_json_value(v) for col, v in writes.items()} for row, writes in plan_writes(sheet, tab, result).items()}
            data += _blocks(tab.tab, cells)
        for gen in patch.generated:
            old = self._sheets.get(gen.replaces or gen.name) or self._sheets.get(gen.name)
            data += _blocks(gen.name, _grid_changes(old.rows if old else [], gen.rows))
        self._write_values(caller, data)
        return result

    def _structural(self, patch: Patch) -> list[dict[str, Any]]:
        requests: list[dict[str, Any]] = []
        for tab in patch.tabs:
            props = self._meta.get(tab.tab)
            if props is None:
                continue
            needed = max([*tab.new_headers, *(c for w in tab.rows for c in w.cells)], default=-1) + 1
            have = props.get("gridProperties", {}).get("columnCount", 26)
            if needed > have:
                requests.append({"appendDimension": {"sheetId": props["sheetId"], "dimension": "COLUMNS", "length": needed - have}})
            for col in tab.new_headers:
                if any(isinstance(w.cells.get(col), (datetime, date)) for w in tab.rows):
                    requests.append(_number_format(props["sheetId"], col, tab.header_row))
        charts: list[dict[str, Any]] = []  # after every tab's own requests: a chart's ranges must fit its grown grid
        layouts: list[dict[str, Any]] = []  # the generated tabs' formats and widths, likewise
        taken = {p.get("sheetId", 0) for p in self._meta.values()}
        for gen in patch.generated:
            drawn = [c for c in gen.charts if _drawable(c)]
            rows = max([len(gen.rows), 1, *(c.anchor[1] + 1 for c in drawn)])  # a chart's anchor cell must be on the grid
            cols = max([max((len(r) for r in gen.rows), default=1), *(c.anchor[0] + 1 for c in drawn)])
            renamed = gen.replaces is not None and gen.replaces in self._meta
            props = self._meta.get(gen.replaces if renamed else gen.name)
            if props is None:
                sheet_id = _free_sheet_id(gen.name, taken)
                taken.add(sheet_id)
                properties = {"sheetId": sheet_id, "title": gen.name, "hidden": gen.hidden, "gridProperties": {"rowCount": rows + 50, "columnCount": max(cols, 10), "frozenRowCount": gen.header_row}}
                requests.append({"addSheet": {"properties": properties}})
                layouts += _layout_requests(gen, sheet_id, None)
                charts += self._chart_requests(gen, sheet_id, [])
                continue
            layouts += _layout_requests(gen, props.get("sheetId", 0), self._layouts.get(props.get("sheetId", 0)))
            charts += self._chart_requests(gen, props.get("sheetId", 0), self._charts.get(props.get("sheetId", 0), []))
            grid = props.get("gridProperties", {})
            changes: dict[str, Any] = {}
            if rows > grid.get("rowCount", 1000):
                changes["gridProperties.rowCount"] = rows + 50
            if cols > grid.get("columnCount", 26):
                changes["gridProperties.columnCount"] = cols
            if bool(props.get("hidden")) != gen.hidden:
                changes["hidden"] = gen.hidden
            if renamed:
                changes["title"] = gen.name
            if changes:
                properties = {"sheetId": props["sheetId"]}
                for key, value in changes.items():
                    if key.startswith("gridProperties."):
                        properties.setdefault("gridProperties", {})[key.split(".", 1)[1]] = value
                    else:
                        properties[key] = value
                requests.append({"updateSheetProperties": {"properties": properties, "fields": ",".join(changes)}})
        return requests + layouts + charts

    def _chart_requests(self, gen: GeneratedTab, sheet_id: int, have: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """What makes the charts on generated tab `gen` (sheet `sheet_id`, holding the charts
        `have` as read) the ones it draws: charts no longer drawn deleted, new ones added, the
        others updated only where their spec or position differs from what was read."""
        on_tab = {c.get("chartId"): c for c in have}
        elsewhere = {c.get("chartId") for sid, charts in self._charts.items() if sid != sheet_id for c in charts}
        out: list[dict[str, Any]] = []
        wanted: set[int] = set()
        for chart in gen.charts:
            # an ID already used on another tab is a purchaser's chart (or one they moved there): left alone
            if chart.chart_id is None or chart.chart_id in elsewhere or chart.chart_id in wanted or not _drawable(chart):
                continue
            wanted.add(chart.chart_id)
            spec, position = chart_spec(chart, sheet_id), chart_position(chart, sheet_id)
            old = on_tab.get(chart.chart_id)
            if old is None:
                out.append({"addChart": {"chart": {"chartId": chart.chart_id, "spec": spec, "position": position}}})
                continue
            if not _covers(old.get("spec"), spec):
                out.append({"updateChartSpec": {"chartId": chart.chart_id, "spec": spec}})
            if not _covers(old.get("position"), position):
                out.append({"updateEmbeddedObjectPosition": {"objectId": chart.chart_id, "newPosition": position, "fields": "anchorCell,offsetXPixels,offsetYPixels,widthPixels,heightPixels"}})
        gone = [{"deleteEmbeddedObject": {"objectId": cid}} for cid in on_tab if cid not in wanted]
        return gone + out

    def _added(self, caller: Caller, requests: list[dict[str, Any]]) -> bool:
        """After a lost reply: was the structural update applied? (every tab and chart it adds
        exists, every chart it deletes is gone)"""
        wanted = [r["addSheet"]["properties"]["title"] for r in requests if "addSheet" in r]
        wanted += [p["title"] for r in requests if "updateSheetProperties" in r for p in [r["updateSheetProperties"]["properties"]] if "title" in p]
        added = [r["addChart"]["chart"]["chartId"] for r in requests if "addChart" in r]
        deleted = [r["deleteEmbeddedObject"]["objectId"] for r in requests if "deleteEmbeddedObject" in r]
        self._metadata(caller)
        charts = {c.get("chartId") for cs in self._charts.values() for c in cs}
        applied = all(t in self._meta for t in wanted) and all(c in charts for c in added) and not any(c in charts for c in deleted)
        return bool(wanted or added or deleted) and applied

    def _batch_update(self, caller: Caller, requests: list[dict[str, Any]], on_lost_reply: Any = None) -> Any:
        with self._errors():
            reply = caller("update", lambda: self.client.http_client.batch_update(self.id, {"requests": copy.deepcopy(requests)}), on_lost_reply)
        for request, answer in zip(requests, (reply or {}).get("replies", []), strict=False):
            if "addSheet" in request and answer:
                props = answer["addSheet"]["properties"]
                self._meta[props["title"]] = props
        return reply

    def _write_values(self, caller: Caller, data: list[dict[str, Any]]) -> None:
        for chunk in _split(data):
            body = {"valueInputOption": "RAW", "data": chunk}
            # writing the same values twice is harmless, so a lost reply is simply retried
            with self._errors():
                caller("values write", lambda body=body: self.client.http_client.values_batch_update(self.id, copy.deepcopy(body)))

    # -- init ----------------------------------------------------------------------------

    def create(self, template: Template, force: bool = False) -> None:
        """Set up the spreadsheet's tabs from `template` (refuses to replace them unless `force`)."""
        caller = Caller(self.deadline)
        self._metadata(caller)
        names = [t.name for t in template.tabs] + [LISTS_TAB, STATE_TAB, _instructions_title(template), *template.generated]
        existing = [n for n in names if n in self._meta]
        if existing and not force:
            raise WorkbookExists(f"gsheets://{self.id} already has tabs {', '.join(existing)}; pass --force to replace them")
        requests: list[dict[str, Any]] = []
        placeholder = None
        if existing and len(existing) == len(self._meta):
            placeholder = {"addSheet": {"properties": {"title": "_kakosheet_init"}}}
            requests.append(placeholder)
        requests += [{"deleteSheet": {"sheetId": self._meta[n]["sheetId"]}} for n in existing]
        reply = self._batch_update(caller, requests + _add_tabs(template))
        ids = {r["addSheet"]["properties"]["title"]: r["addSheet"]["properties"]["sheetId"] for r in (reply or {}).get("replies", []) if r and "addSheet" in r}
        finishing = _format_tabs(template, ids)
        if placeholder:
            finishing.append({"deleteSheet": {"sheetId": ids["_kakosheet_init"]}})
        self._batch_update(caller, finishing)
        self._write_values(caller, _template_values(template))


def _drawable(chart: Chart) -> bool:
    """Whether `chart` has a row to draw (an empty range is no chart)."""
    return chart.categories[2] >= chart.categories[1] >= 1


def chart_spec(chart: Chart, sheet_id: int) -> dict[str, Any]:
    """The ChartSpec of `chart`, its ranges on sheet `sheet_id`. The header row, when it is the
    row just above the data, is part of every range (headerCount 1), so that the legend names
    each series by its column's header, as the workbook shows it; otherwise the ranges hold
    the data rows only. Secondary series make a COMBO chart: the others columns (or lines, for
    a line chart), the secondary ones lines on the right-hand axis (a combo chart has no
    horizontal bars, so a bar chart with a secondary series is drawn as columns)."""
    col, first, last = chart.categories
    named = chart.header_row == first - 1
    top = first - 1 - (1 if named else 0)

    def data(column: int) -> dict[str, Any]:
        source = {"sheetId": sheet_id, "startRowIndex": top, "endRowIndex": last, "startColumnIndex": column, "endColumnIndex": column + 1}
        return {"sourceRange": {"sources": [source]}}

    kind = CHART_TYPES[chart.kind]
    combo = any(s.secondary for s in chart.series)
    series: list[dict[str, Any]] = []
    for s in chart.series:
        if combo:
            series.append({"series": data(s.column), "targetAxis": "RIGHT_AXIS" if s.secondary else "LEFT_AXIS", "type": "LINE" if s.secondary or kind == "LINE" else "COLUMN"})
        else:
            series.append({"series": data(s.column), "targetAxis": "BOTTOM_AXIS" if kind == "BAR" else "LEFT_AXIS"})
    basic = {
        "chartType": "COMBO" if combo else kind,
        "legendPosition": "BOTTOM_LEGEND" if len(chart.series) > 1 else "NO_LEGEND",
        "domains": [{"domain": data(col)}],
        "series": series,
        "headerCount": 1 if named else 0,
    }
    return {"title": chart.title, "basicChart": basic}


def chart_position(chart: Chart, sheet_id: int) -> dict[str, Any]:
    """Where `chart` floats on sheet `sheet_id`: its top-left corner on its anchor cell, its size in cells as pixels."""
    col, row = chart.anchor
    cols, rows = chart.size
    anchor = {"sheetId": sheet_id, "rowIndex": row, "columnIndex": col}
    return {"overlayPosition": {"anchorCell": anchor, "offsetXPixels": 0, "offsetYPixels": 0, "widthPixels": cols * COLUMN_PIXELS, "heightPixels": rows * ROW_PIXELS}}


def _covers(have: Any, want: Any) -> bool:
    """Whether `have` (as the API answers it) says all that `want` (as sent) says: the API adds
    its defaults (fonts, the hidden-rows strategy) and leaves out zeros, false and empty
    values, so a field it adds is no difference and a missing one stands for its zero."""
    if isinstance(want, dict):
        got = have if isinstance(have, dict) else {}
        return all(_covers(got.get(k), v) for k, v in want.items())
    if isinstance(want, list):
        items = have if isinstance(have, list) else []
        return len(items) == len(want) and all(_covers(a, b) for a, b in zip(items, want, strict=True))
    if have is None:
        return want in (0, "", None)
    return bool(have == want)


def _free_sheet_id(title: str, taken: set[int]) -> int:
    """A sheet ID for a new tab, not one of `taken`: the same for the same title, so a retried request asks for the same."""
    n = zlib.crc32(title.encode("utf-8")) % 2_000_000_000 + 1
    while n in taken:
        n = n % 2_000_000_000 + 1
    return n


def _instructions_title(template: Template) -> str:
    return "说明" if template.lang == "zh" else "Instructions"


def _number_format(sheet_id: int, col: int, header_row: int) -> dict[str, Any]:
    return {
        "repeatCell": {
            "range": {"sheetId": sheet_id, "startRowIndex": header_row, "startColumnIndex": col, "endColumnIndex": col + 1},
            "cell": {"userEnteredFormat": {"numberFormat": {"type": "DATE_TIME", "pattern": DATETIME_FORMAT}}},
            "fields": "userEnteredFormat.numberFormat",
        }
    }


LAYOUT_KEY = "kakosheet.layout"  # developer metadata on a generated tab: a digest of the formats and widths it was given
PIXELS_PER_CHARACTER, PIXEL_PADDING = 7, 5  # an xlsx column width (in characters) as pixels


def number_format(pattern: str) -> dict[str, str]:
    """The Sheets numberFormat of an xlsx number format a generated tab uses."""
    return {"type": "PERCENT" if pattern.endswith("%") else "NUMBER", "pattern": pattern}


def layout(gen: GeneratedTab, sheet_id: int) -> list[dict[str, Any]]:
    """The requests that give generated tab `gen` (sheet `sheet_id`) what the xlsx writer gives
    it: its title line and header rows bold, the header frozen, each table's number formats (rates as percentages), and
    column widths that fit. Formats set by an earlier layout are cleared first. Nothing
    for a hidden tab (the state)."""
    if gen.hidden:
        return []
    width = max((len(r) for r in gen.rows), default=1)
    out: list[dict[str, Any]] = [
        {"repeatCell": {"range": {"sheetId": sheet_id}, "cell": {"userEnteredFormat": {}}, "fields": "userEnteredFormat(numberFormat,textFormat)"}},
        {"updateSheetProperties": {"properties": {"sheetId": sheet_id, "gridProperties": {"frozenRowCount": gen.header_row}}, "fields": "gridProperties.frozenRowCount"}},
    ]
    title = {"sheetId": sheet_id, "startRowIndex": 0, "endRowIndex": 1, "startColumnIndex": 0, "endColumnIndex": 1}
    out.append({"repeatCell": {"range": title, "cell": {"userEnteredFormat": {"textFormat": {"bold": True, "fontSize": 12}}}, "fields": "userEnteredFormat.textFormat(bold,fontSize)"}})
    for row in sorted(gen.header_rows() - {1}):
        bounds = {"sheetId": sheet_id, "startRowIndex": row - 1, "endRowIndex": row, "startColumnIndex": 0, "endColumnIndex": width}
        out.append({"repeatCell": {"range": bounds, "cell": {"userEnteredFormat": {"textFormat": {"bold": True}}}, "fields": "userEnteredFormat.textFormat.bold"}})
    tables = [(gen.header_row, len(gen.rows) - gen.header_row if gen.format_rows is None else gen.format_rows, gen.formats)] if gen.header_row else []
    tables += [(section.header_row, section.rows, section.formats) for section in gen.sections]
    for header_row, rows, formats in tables:
        for col, pattern in sorted(formats.items()):
            if rows > 0:
                bounds = {"sheetId": sheet_id, "startRowIndex": header_row, "endRowIndex": header_row + rows, "startColumnIndex": col, "endColumnIndex": col + 1}
                out.append({"repeatCell": {"range": bounds, "cell": {"userEnteredFormat": {"numberFormat": number_format(pattern)}}, "fields": "userEnteredFormat.numberFormat"}})
    for col, chars in gen.column_widths().items():
        bounds = {"sheetId": sheet_id, "dimension": "COLUMNS", "startIndex": col, "endIndex": col + 1}
        out.append({"updateDimensionProperties": {"range": bounds, "properties": {"pixelSize": round(chars * PIXELS_PER_CHARACTER) + PIXEL_PADDING}, "fields": "pixelSize"}})
    return out


def _layout_requests(gen: GeneratedTab, sheet_id: int, known: dict[str, Any] | None) -> list[dict[str, Any]]:
    """`layout(gen)` and the developer metadata that names it, unless the tab has that layout
    already (`known`: the metadata read from the tab): most syncs change a summary tab's values
    only, and send no formats."""
    requests = layout(gen, sheet_id)
    if not requests:
        return []
    digest = hashlib.sha256(json.dumps(requests, sort_keys=True).encode()).hexdigest()[:16]  # a tab keeps its sheet ID
    if known is not None and known.get("metadataValue") == digest:
        return []
    if known is not None and "metadataId" in known:
        named = {
            "updateDeveloperMetadata": {
                "dataFilters": [{"developerMetadataLookup": {"metadataId": known["metadataId"]}}],
                "developerMetadata": {"metadataValue": digest},
                "fields": "metadataValue",
            }
        }
    else:
        named = {
            "createDeveloperMetadata": {
                "developerMetadata": {"metadataKey": LAYOUT_KEY, "metadataValue": digest, "location": {"sheetId": sheet_id}, "visibility": "DOCUMENT"}
            }
        }
    return [*requests, named]


def _grid_changes(old: list[list[Any]], new: list[list[Any]]) -> dict[int, dict[int, Any]]:
    """Cells (1-based row, 0-based column) whose value differs between two grids, new values RAW."""
    out: dict[int, dict[int, Any]] = {}
    for r in range(max(len(old), len(new))):
        a = old[r] if r < len(old) else []
        b = new[r] if r < len(new) else []
        for c in range(max(len(a), len(b))):
            va = a[c] if c < len(a) else None
            vb = b[c] if c < len(b) else None
            if canonical(va) != canonical(vb):
                out.setdefault(r + 1, {})[c] = to_json_value(vb)
    return out


def _blocks(title: str, cells: dict[int, dict[int, Any]]) -> list[dict[str, Any]]:
    """Value ranges covering `cells`: rows close together share a block, untouched cells inside are null."""
    out: list[dict[str, Any]] = []
    rows = sorted(cells)
    start = 0
    while start < len(rows):
        end = start
        while end + 1 < len(rows) and rows[end + 1] - rows[end] <= ROW_GAP:
            end += 1
        r0, r1 = rows[start], rows[end]
        c0 = min(min(cells[r]) for r in rows[start : end + 1])
        c1 = max(max(cells[r]) for r in rows[start : end + 1])
        values = [[cells.get(r, {}).get(c) for c in range(c0, c1 + 1)] for r in range(r0, r1 + 1)]
        out.append({"range": a1(title, r0, c0, r1, c1), "majorDimension": "ROWS", "values": values})
        start = end + 1
    return out


def _split(data: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Value ranges in requests of at most ~2 MB, splitting big blocks by rows."""
    chunk: list[dict[str, Any]] = []
    size = 0
    for vr in data:
        for piece in _split_block(vr):
            n = len(json.dumps(piece, default=str))
            if chunk and size + n > MAX_REQUEST_BYTES:
                yield chunk
                chunk, size = [], 0
            chunk.append(piece)
            size += n
    if chunk:
        yield chunk


def _split_block(vr: dict[str, Any]) -> list[dict[str, Any]]:
    n = len(json.dumps(vr, default=str))
    if n <= MAX_REQUEST_BYTES or len(vr["values"]) < 2:
        return [vr]
    m = re.match(r"^(.*)!([A-Z]+)(\d+):([A-Z]+)(\d+)$", vr["range"])
    assert m
    title, c0, r0, c1 = m.group(1), m.group(2), int(m.group(3)), m.group(4)
    step = max(1, len(vr["values"]) * MAX_REQUEST_BYTES // n // 2)
    out = []
    for i in range(0, len(vr["values"]), step):
        rows = vr["values"][i : i + step]
        out.append({"range": f"{title}!{c0}{r0 + i}:{c1}{r0 + i + len(rows) - 1}", "majorDimension": "ROWS", "values": rows})
    return out


def _add_tabs(template: Template) -> list[dict[str, Any]]:
    requests = [{"addSheet": {"properties": {"title": _instructions_title(template), "index": 0}}}]
    for i, tab in enumerate(template.tabs, start=1):
        rows = max(1000, len(tab.rows) + 200)
        requests.append({"addSheet": {"properties": {"title": tab.name, "index": i, "gridProperties": {"rowCount": rows, "columnCount": len(tab.fields), "frozenRowCount": 1}}}})
    for name in template.generated:
        requests.append({"addSheet": {"properties": {"title": name, "gridProperties": {"rowCount": 200, "columnCount": 13, "frozenRowCount": 2}}}})
    requests.append({"addSheet": {"properties": {"title": LISTS_TAB, "hidden": True, "gridProperties": {"rowCount": 100, "columnCount": len(template.lists)}}}})
    requests.append({"addSheet": {"properties": {"title": STATE_TAB, "hidden": True, "gridProperties": {"rowCount": max(100, len(template.state_rows) + 10), "columnCount": 8}}}})
    return requests


def _format_tabs(template: Template, ids: dict[str, int]) -> list[dict[str, Any]]:
    """Header styles, dropdowns with help, protected engine columns, the flag columns' colours, date formats."""
    from .xlsxpkg import col_letters

    list_cols = {name: i for i, name in enumerate(sorted(template.lists))}
    requests: list[dict[str, Any]] = []
    for tab in template.tabs:
        sid = ids[tab.name]
        for c, f in enumerate(tab.fields):
            header = {"sheetId": sid, "startRowIndex": 0, "endRowIndex": 1, "startColumnIndex": c, "endColumnIndex": c + 1}
            column = {"sheetId": sid, "startRowIndex": 1, "startColumnIndex": c, "endColumnIndex": c + 1}
            requests.append({"repeatCell": {"range": header, "cell": {"userEnteredFormat": {"textFormat": {"bold": True, "italic": f.engine}, "backgroundColor": ENGINE_RGB if f.engine else HEADER_RGB, "wrapStrategy": "WRAP"}, "note": f.help_text(template.lang)}, "fields": "userEnteredFormat(textFormat,backgroundColor,wrapStrategy),note"}})
            if f.engine:
                requests.append({"addProtectedRange": {"protectedRange": {"range": {"sheetId": sid, "startColumnIndex": c, "endColumnIndex": c + 1}, "description": f"{f.label(template.lang)}: filled by kakosheet", "warningOnly": True}}})
                requests.append({"repeatCell": {"range": column, "cell": {"userEnteredFormat": {"backgroundColor": ENGINE_RGB}}, "fields": "userEnteredFormat.backgroundColor"}})
            if f.type == "datetime":
                requests.append(_number_format(sid, c, 1))
            if f.type == "choice" and not f.engine:
                letter = col_letters(list_cols[f.choice_set])
                source = f"='{LISTS_TAB}'!${letter}$2:${letter}${len(template.lists[f.choice_set]) + 1}"
                rule = {"condition": {"type": "ONE_OF_RANGE", "values": [{"userEnteredValue": source}]}, "inputMessage": f.help_text(template.lang), "strict": False, "showCustomUi": True}
                requests.append({"setDataValidation": {"range": column, "rule": rule}})
            elif not f.engine and f.help:
                requests.append({"setDataValidation": {"range": column, "rule": {"condition": {"type": "CUSTOM_FORMULA", "values": [{"userEnteredValue": "=TRUE"}]}, "inputMessage": f.help_text(template.lang), "strict": False}}})
        for colour in template.colour_rules(tab):
            column = {"sheetId": sid, "startRowIndex": 1, "startColumnIndex": colour.column, "endColumnIndex": colour.column + 1}
            condition = {"type": "TEXT_STARTS_WITH", "values": [{"userEnteredValue": colour.starts_with}]}
            requests.append({"addConditionalFormatRule": {"index": 0, "rule": {"ranges": [column], "booleanRule": {"condition": condition, "format": {"backgroundColor": _rgb(colour.fill)}}}}})
    return requests


def _rgb(fill: str) -> dict[str, float]:
    """An RGB colour in hex (FFC7CE) as the Sheets API gives colours: each part from 0 to 1."""
    return {part: round(int(fill[i : i + 2], 16) / 255, 3) for part, i in (("red", 0), ("green", 2), ("blue", 4))}


def _template_values(template: Template) -> list[dict[str, Any]]:
    data = [{"range": a1(_instructions_title(template), 1, 0, len(template.instructions), 0), "values": [[line] for line in template.instructions]}]
    for tab in template.tabs:
        rows = [tab.header] + [[to_json_value(v) if v is not None else None for v in row] for row in tab.rows]
        data.append({"range": a1(tab.name, 1, 0, len(rows), len(tab.fields) - 1), "values": rows})
    for i, (name, labels) in enumerate(sorted(template.lists.items())):
        data.append({"range": a1(LISTS_TAB, 1, i, len(labels) + 1, i), "values": [[name]] + [[label] for label in labels]})
    data += [{"range": a1(name, 1, 0, 1, 0), "values": [[template.placeholder(name)]]} for name in template.generated]
    width = max(len(r) for r in template.state_rows)
    data.append({"range": a1(STATE_TAB, 1, 0, len(template.state_rows), width - 1), "values": [list(r) + [None] * (width - len(r)) for r in template.state_rows]})
    return data
