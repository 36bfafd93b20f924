r"""The engine's memory, kept in a hidden tab of the workbook itself.

Settings (format version, ID prefix, time zone, language, when the sync last ran), the highest
ID number issued per prefix and month (so a deleted row's ID is never issued again), what the
sync last saw of each case (status and since when), and an append-only audit log. Stored as
plain text rows so that any backend can keep it and a person can read it.

Format 3, row by row (column A names the section):
  setting  KEY  VALUE
  counter  PREFIX-YYYYMM  HIGHEST
  cases    one case a line, "ID status since [clock=T] [held=T/T,T/T] [left=STAGE]", as many lines
           as fit in CELL_BUDGET (the optional fields: see CaseState)
  case     ID  status  since  note  note_until  more   (a case with a note, or whose ID or status
           holds a space; `more` holds the optional fields as the line does)
A reshipment is kept among the cases, under its RS ID (no case ID starts with RS-).
  log      one event a line, "at case_id event detail", as many as fit in CELL_BUDGET
Format 2 is format 3 without the optional fields: a tab is written as format 2 while no case has
them, so that the release before still reads it. Lines are packed into cells as kakosheet/packed.py does (a line longer than a cell is cut over
rows "log+" or "cases+", whose text continues in the next row). In an event's line `at`,
`case_id` and `event` are escaped whole; the detail, the rest of the line, keeps its spaces.
The log only grows, and the cells already written are kept as they are: new events fill the last
cell and then new ones. Format 1 kept an event a row (log, at, case_id, event, detail) and is
read and converted.
"""

from __future__ import annotations

import functools
import operator
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from .errors import StateUnreadable
from .packed import CELL_BUDGET, escape_field, escape_text, joined, pack, size, unescape

SCHEMA_VERSION = "3"
PLAIN_VERSION = "2"  # written while no case has a field format 3 added: a release reading format 2 still reads the tab
FORMATS_READ = (1, 2, 3)
TAB = "_kakosheet"  # the hidden tab's name (template.STATE_TAB)
MAX_PACKED_STATUS = 200  # a longer status keeps its case on a row of its own
TITLE = "kakosheet state: written by kakosheet sync, do not edit"
HEADER = ["section", "key", "value", "since", "note", "note_until", "more"]
DEFAULT_SETTINGS = {"schema_version": SCHEMA_VERSION, "id_prefix": "AS", "timezone": "UTC", "lang": "en"}
REMEDY = (
    "Restore the tab from a copy of the workbook in .kakosheet-backups/ (or the sheet's version history), "
    "or delete the tab and sync again to rebuild it: case IDs then continue from the highest in the sheet "
    "(an ID only a deleted row had may be issued again), and statuses and the audit log start afresh."
)
_TOKEN = re.compile(r"\S+")


Held = tuple[tuple[datetime, datetime], ...]  # spans on hold: (from, until)


class CaseState(NamedTuple):  # a tuple: there is one per case, made and read 100k times a sync
    status: str
    since: datetime  # when the status began
    note: str = ""  # a remark kept on the case's row, e.g. why it got a new ID
    note_until: datetime | None = None
    clock: datetime | None = None  # when the stage's clock started, when before `since` (a stage resumed after a hold)
    held: Held = ()  # the stage's spans on hold, added to its due time (on hold: those before this hold)
    left: str = ""  # on hold: the stage the case left


class Event(NamedTuple):
    """One event of the audit log."""

    at: str  # ISO 8601 with its UTC offset
    case_id: str
    event: str
    detail: str = ""


Entry = str | list[Any]  # a case as the tab keeps it: a line of a packed cell, or a row of its own


class _LogCells(NamedTuple):
    """The log's cells as read or last made, and the events they hold."""

    events: tuple[Event, ...]
    cells: tuple[tuple[str, str], ...]  # (section, text)


@dataclass
class State:
    settings: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SETTINGS))
    counters: dict[str, int] = field(default_factory=dict)  # "AS-202611" -> highest number issued
    cases: dict[str, CaseState] = field(default_factory=dict)
    log: list[Event] = field(default_factory=list)  # grows by `record` only
    # each case's entry as read or last made, with the CaseState it shows: made again only when that changes
    entries: dict[str, tuple[CaseState, Entry]] = field(default_factory=dict, compare=False, repr=False)
    # the log as the tab holds it, kept while the log only grows
    log_cells: _LogCells | None = field(default=None, compare=False, repr=False)

    def copy(self) -> State:
        """A copy whose containers can change without touching this one (CaseState and Event are
        immutable; the entries made are shared, as each names the CaseState it shows)."""
        return State(dict(self.settings), dict(self.counters), dict(self.cases), list(self.log), self.entries, self.log_cells)

    def record(self, at: datetime, case_id: str, event: str, detail: str = "") -> None:
        """Add an event to the audit log: the only way it grows."""
        if at.tzinfo is None:
            raise ValueError(f"an event's time must carry a time zone: {at.isoformat()}")
        self.log.append(Event(at.isoformat(), case_id, event, detail))

    def entry(self, case_id: str) -> Entry:
        """The case as the tab keeps it (see make_entry), made again only when the case changed."""
        c = self.cases[case_id]
        known = self.entries.get(case_id)
        if known is not None and known[0] is c:
            return known[1]
        made = make_entry(case_id, c)
        self.entries[case_id] = (c, made)
        return made

    def update(self, changed: dict[str, tuple[CaseState, Entry]]) -> None:
        """Set cases with the entries made for them (by make_entry, or read by parse_entry)."""
        for case_id, known in changed.items():
            self.cases[case_id] = known[0]
            self.entries[case_id] = known

    def to_rows(self) -> list[list[Any]]:
        """The tab in the current format."""
        rows: list[list[Any]] = [[TITLE], list(HEADER)]
        cases = self.cases
        plain = all(c.clock is None and not c.held and not c.left for c in cases.values())
        settings = {**self.settings, "schema_version": PLAIN_VERSION if plain else SCHEMA_VERSION}
        rows += [["setting", k, v] for k, v in sorted(settings.items())]
        rows += [["counter", k, v] for k, v in sorted(self.counters.items())]
        known, entry = self.entries.get, self.entry
        entries = []
        for case_id in sorted(cases):  # each case's entry as kept, unless its case changed (inlined entry())
            kept = known(case_id)
            entries.append(kept[1] if kept is not None and kept[0] is cases[case_id] else entry(case_id))
        rows += [[section, text] for section, text in pack("cases", [e for e in entries if type(e) is str], [])]
        rows += [e for e in entries if type(e) is not str]
        rows += [[section, text] for section, text in self._log_cells()]
        return rows

    def _log_cells(self) -> tuple[tuple[str, str], ...]:
        """The log's cells: those written before as they are, then the new events'."""
        known, log = self.log_cells, self.log
        if known is not None and len(log) >= len(known.events) and all(map(operator.is_, log, known.events)):
            if len(log) == len(known.events):
                return known.cells
            cells = pack("log", _lines(log[len(known.events) :]), list(known.cells))
        else:  # never written, or not grown from what was (the log was replaced): made afresh
            cells = pack("log", _lines(log), [])
        self.log_cells = _LogCells(tuple(log), tuple(cells))
        return self.log_cells.cells

    @classmethod
    def from_rows(cls, rows: list[list[Any]]) -> State:
        """Read the state tab (format 1 or 2); a row or line it cannot read raises StateUnreadable."""
        state = cls()
        version: tuple[int, Any] = (0, "1")  # (row, value) of schema_version; format 1 when missing
        packed: dict[str, list[tuple[int, str, list[Any]]]] = {"cases": [], "log": []}
        case_rows: list[tuple[int, list[Any]]] = []
        for number, row in enumerate(rows, 1):
            section = row[0] if row else None
            if _blank(section):
                if any(not _blank(v) for v in row):
                    raise _unreadable(number, None, "nothing in column A to say what the row holds", row)
                continue
            section = section.strip() if type(section) is str else section
            if section in (TITLE, HEADER[0]):
                continue
            if section in ("cases", "cases+", "log", "log+"):
                packed[section.rstrip("+")].append((number, section, row))
            elif section == "case":
                _width(number, row, 7)
                case_rows.append((number, row))
            elif section == "setting":
                _width(number, row, 3)
                key = _text(row, 1)
                if not key.strip():
                    raise _unreadable(number, None, "a setting with no name in column B", row)
                state.settings[key] = _text(row, 2)
                if key == "schema_version":
                    version = (number, _cell(row, 2))
            elif section == "counter":
                _width(number, row, 3)
                key, value = _text(row, 1), _number(_cell(row, 2))
                if not key.strip() or value is None:
                    raise _unreadable(number, None, "not a counter (PREFIX-YYYYMM in column B, a whole number in column C)", row)
                state.counters[key] = value
            else:
                raise _unreadable(number, None, f"unknown section {section!r} in column A", row)
        fmt = _format(*version)
        state.settings["schema_version"] = SCHEMA_VERSION  # what it holds is written in this release's format
        for first, number, text in _texts(packed["cases"], "cases"):
            for line_no, line in enumerate(text.split("\n"), 1):
                if line:
                    try:
                        state._read_entry(line)
                    except ValueError as e:
                        raise _unreadable(*_where(first, number, line_no), f"not a case line 'ID status since [fields]' ({e})", line) from None
        for number, row in case_rows:
            try:
                state._read_entry([_text(row, i) for i in range(7)])
            except ValueError as e:
                raise _unreadable(number, None, f"not a case row (ID, status, since, note, note_until, more: {e})", row) from None
        if fmt == 1:
            state.log = [_v1_event(number, row) for number, _, row in packed["log"]]
        else:
            state._read_log(packed["log"])
        return state

    def _read_log(self, rows: list[tuple[int, str, list[Any]]]) -> None:
        """Read the log rows of format 2, and keep their cells as they are."""
        times: set[str] = set()
        for first, number, text in _texts(rows, "log"):
            events = _plain_events(text, times)
            if events is not None:
                self.log += events
                continue
            for line_no, line in enumerate(text.split("\n"), 1):  # one by one, to unescape or to find what is wrong
                if line:
                    try:
                        self.log.append(_event(line, times))
                    except ValueError as e:
                        raise _unreadable(*_where(first, number, line_no), f"not an event line 'at case_id event detail' ({e})", line) from None
        self.log_cells = _LogCells(tuple(self.log), tuple((section, _text(row, 1)) for _, section, row in rows))

    def _read_entry(self, entry: Entry) -> None:
        """Set the case `entry` shows, and remember the entry (a packed line as it is)."""
        case_id, c = parse_entry(entry)
        self.cases[case_id] = c
        if type(entry) is str:
            self.entries[case_id] = (c, entry)


def make_entry(case_id: str, c: CaseState) -> Entry:
    """The case as the tab keeps it: "ID status since" (and its optional fields) packed with others
    in a cell, or a row of its own when it carries a note or its status or ID holds a space."""
    more = "" if c.clock is None and not c.held and not c.left else _more(c)  # none of the optional fields (tested inline: once per case)
    if c.note or not _status_token(c.status) or not _token(case_id):
        return ["case", case_id, c.status, c.since.isoformat(), c.note, c.note_until.isoformat() if c.note_until else "", more]
    return f"{case_id} {c.status} {c.since.isoformat()} {more}" if more else f"{case_id} {c.status} {c.since.isoformat()}"


@functools.lru_cache(maxsize=1 << 12)
def _plain_case(status: str, since: str) -> CaseState:
    """The state of a line with no optional field: one object for all the lines that say the same
    (the cases one sync first saw share their status and since), which stays as it is."""
    return CaseState(status, _since(since))


def _since(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    if at.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return at


def parse_entry(entry: Entry) -> tuple[str, CaseState]:
    """The case ID and state an entry shows (a packed line, or a row's first seven cells); ValueError
    when it shows none."""
    if type(entry) is str:
        case_id, status, since, *more = entry.split(" ")
        if more:
            return case_id, CaseState(status, _since(since), "", None, *_optional(more))
        return case_id, _plain_case(status, since)
    cells = [str(v) for v in entry] + [""] * (7 - len(entry))
    if not cells[1]:
        raise ValueError("no ID")
    until = _time(cells[5]) if cells[5] else None
    extra = _optional(cells[6].split()) if cells[6].strip() else (None, (), "")
    return cells[1], CaseState(cells[2], _time(cells[3]), cells[4], until, *extra)


def _more(c: CaseState) -> str:
    """The optional fields of a case as its entry holds them: "clock=T held=T/T,T/T left=STAGE"."""
    parts = []
    if c.clock is not None:
        parts.append(f"clock={c.clock.isoformat()}")
    if c.held:
        parts.append("held=" + ",".join(f"{a.isoformat()}/{b.isoformat()}" for a, b in c.held))
    if c.left:
        parts.append(f"left={c.left}")
    return " ".join(parts)


def _optional(tokens: list[str]) -> tuple[datetime | None, Held, str]:
    """clock, held and left from an entry's optional fields."""
    clock, held, left = None, (), ""
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep or not value:
            raise ValueError(f"{token!r} is not a field NAME=VALUE")
        if key == "clock":
            clock = _time(value)
        elif key == "held":
            spans = [span.split("/") for span in value.split(",")]
            if any(len(p) != 2 for p in spans):
                raise ValueError(f"{value!r} is not a list of spans FROM/UNTIL")
            held = tuple((_time(a), _time(b)) for a, b in spans)
        elif key == "left":
            left = value
        else:
            raise ValueError(f"unknown field {key!r}")
    return clock, held, left


# -- an event's line ---------------------------------------------------------------------


def _lines(events: list[Event]) -> list[str]:
    """Each event's line: `at`, `case_id` and `event` escaped whole, the detail after them."""
    out = []
    for at, case_id, event, detail in events:
        head = f"{at} {case_id} {event}"
        line = f"{head} {detail}" if detail else head
        # most lines: printable (no control character, no whitespace but spaces), no backslash,
        # two spaces in the head and none at the end: nothing to escape
        if not line.isprintable() or "\\" in line or head.count(" ") != 2 or line[-1] == " " or len(line) > CELL_BUDGET // 2:
            head = f"{escape_field(at)} {escape_field(case_id)} {escape_field(event)}"
            line = f"{head} {escape_text(detail)}" if detail else head
            if size(line) > CELL_BUDGET:  # to be cut over cells: no part may be blank or lose an edge
                line = f"{head} {escape_text(detail, spaces=True)}"
        out.append(line)
    return out


def _plain_events(text: str, times: set[str]) -> list[Event] | None:
    """The events of a cell's text when every line has a detail and nothing escaped (most cells),
    else None; `times` are the `at` values already found good."""
    split = [line.split(" ", 3) for line in text.split("\n")]
    if "\\" in text or set(map(len, split)) != {4}:
        return None
    for at in {p[0] for p in split} - times:
        try:
            _time(at)
        except ValueError:
            return None
        times.add(at)
    return [Event(*p) for p in split]


def _event(line: str, times: set[str]) -> Event:
    """The event a line shows; `times` are the `at` values already found good."""
    parts = line.split(" ", 3)
    if len(parts) < 3:
        raise ValueError("fewer than three fields")
    if "\\" in line:
        parts = [unescape(p) for p in parts]
    if parts[0] not in times:
        _time(parts[0])
        times.add(parts[0])
    return Event(*parts)


# -- reading cells ------------------------------------------------------------------------


def _v1_event(number: int, row: list[Any]) -> Event:
    _width(number, row, 5)
    event = Event(*(_text(row, i) for i in range(1, 5)))
    try:
        _time(event.at)
    except ValueError as e:
        raise _unreadable(number, None, f"not a log row of format 1 (at, case_id, event, detail: {e})", row) from None
    return event


def _texts(rows: list[tuple[int, str, list[Any]]], section: str) -> list[tuple[int, int, str]]:
    """The packed texts of `section` rows (row where each starts, its last row, text)."""
    for number, _, row in rows:
        _width(number, row, 2)
    texts, unfinished = joined([(number, sec, _text(row, 1)) for number, sec, row in rows], section)
    if unfinished is not None:
        raise _unreadable(unfinished, None, f"a line cut over {section}+ rows whose last part is missing", rows[-1][2])
    return texts


def _where(first: int, number: int, line: int) -> tuple[int, int]:
    """Row and line of a packed text's line: its first line starts where the text does."""
    return (first, line) if line == 1 else (number, line)


def _format(number: int, value: Any) -> int:
    fmt = _number(value)
    if fmt is not None and fmt > max(FORMATS_READ):
        raise StateUnreadable(f"{TAB} tab: written by a newer kakosheet (format {fmt}); upgrade kakosheet (this release reads formats up to {max(FORMATS_READ)})")
    if fmt not in FORMATS_READ:
        raise _unreadable(number, None, f"schema_version {value!r} is not a format kakosheet has written", ["setting", "schema_version", value])
    return fmt


def _time(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    if at.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return at


def _number(value: Any) -> int | None:
    """A whole number >= 0 from a cell (7, 7.0, "7"), else None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() and number >= 0 else None


def _cell(row: list[Any], col: int) -> Any:
    return row[col] if col < len(row) else None


def _text(row: list[Any], col: int) -> str:
    value = _cell(row, col)
    return "" if value is None else str(value)


def _blank(value: Any) -> bool:
    return value is None or (type(value) is str and not value.strip())


def _width(number: int, row: list[Any], width: int) -> None:
    """Raise when `row` holds something beyond its section's `width` columns."""
    for col in range(width, len(row)):
        if not _blank(row[col]):
            raise _unreadable(number, None, f"unexpected text in column {_column(col)}", row)


def _column(col: int) -> str:
    return chr(ord("A") + col) if col < 26 else f"{chr(ord('A') + col // 26 - 1)}{chr(ord('A') + col % 26)}"


def _unreadable(row: int, line: int | None, what: str, shown: Any) -> StateUnreadable:
    """The error for row `row` (and line `line` of its cell) of the tab."""
    where = f"row {row}" + (f", line {line} of its cell" if line else "")
    text = shown if isinstance(shown, str) else " | ".join("" if v is None else str(v) for v in shown)
    text = text if len(text) <= 80 else text[:77] + "..."
    return StateUnreadable(f"{TAB} tab, {where}: cannot read {text!r}: {what}. {REMEDY}")


@functools.lru_cache(maxsize=64)  # the few statuses, looked at for every case
def _status_token(status: str) -> bool:
    return _token(status) and len(status) <= MAX_PACKED_STATUS


def _token(text: str) -> bool:
    """Whether `text` can stand in a packed line: something, with no spaces or line breaks."""
    return _TOKEN.fullmatch(text) is not None
