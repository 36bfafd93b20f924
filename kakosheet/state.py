"""The engine's memory, kept in a hidden tab of the workbook itself.

Settings (schema version, ID prefix, time zone, language, when the sync last ran), the
highest ID number issued per prefix and month (so a deleted row's ID is never issued again),
what the sync last saw of each case (status and since when), and an append-only audit log.
Stored as plain text rows so that any backend can keep it and a person can read it. Cases are
packed one per line, CASES_PER_CELL to a cell ("ID status since"), so that a tab for 100,000
cases is a few hundred cells rather than 400,000; a case carrying a note keeps a row of its own.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

SCHEMA_VERSION = "1"
CASES_PER_CELL = 400  # about 20,000 characters: within every spreadsheet's limit for one cell
TITLE = "kakosheet state: written by kakosheet sync, do not edit"
_TOKEN = re.compile(r"\S+")
DEFAULT_SETTINGS = {"schema_version": SCHEMA_VERSION, "id_prefix": "AS", "timezone": "UTC", "lang": "en"}


class CaseState(NamedTuple):  # a tuple: there is one per case, made and read 100k times a sync
    status: str
    since: datetime
    note: str = ""  # a remark kept on the case's row, e.g. why it got a new ID
    note_until: datetime | None = None


Entry = str | list[Any]  # a case as the tab keeps it: a line of a packed cell, or a row of its own


@dataclass
class State:
    settings: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SETTINGS))
    counters: dict[str, int] = field(default_factory=dict)  # "AS-202611" -> highest number issued
    cases: dict[str, CaseState] = field(default_factory=dict)
    log: list[list[str]] = field(default_factory=list)  # [at, case_id, event, detail]
    # each case's entry as read or last made, with the CaseState it shows: made again only when that changes
    entries: dict[str, tuple[CaseState, Entry]] = field(default_factory=dict, compare=False, repr=False)

    def copy(self) -> State:
        """A copy whose containers can change without touching this one (CaseState is immutable;
        the entries made are shared, as each names the CaseState it shows)."""
        return State(dict(self.settings), dict(self.counters), dict(self.cases), list(self.log), self.entries)

    def record(self, at: datetime, case_id: str, event: str, detail: str = "") -> None:
        self.log.append([at.isoformat(), case_id, event, detail])

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
        rows: list[list[Any]] = [[TITLE], ["section", "key", "value", "since", "note", "note_until"]]
        rows += [["setting", k, v] for k, v in sorted(self.settings.items())]
        rows += [["counter", k, v] for k, v in sorted(self.counters.items())]
        entries = [self.entry(case_id) for case_id in sorted(self.cases)]
        packed = [e for e in entries if type(e) is str]
        rows += [["cases", "\n".join(packed[i : i + CASES_PER_CELL])] for i in range(0, len(packed), CASES_PER_CELL)]
        rows += [e for e in entries if type(e) is not str]
        rows += [["log", *entry] for entry in self.log]
        return rows

    @classmethod
    def from_rows(cls, rows: list[list[Any]]) -> State:
        """Parse the state tab; rows that don't parse are ignored, so a damaged tab degrades, not fails."""
        state = cls()
        for row in rows:
            cells = [("" if v is None else v) for v in row] + [""] * 6
            section = str(cells[0]).strip()
            try:
                if section == "setting":
                    state.settings[str(cells[1])] = str(cells[2])
                elif section == "counter":
                    state.counters[str(cells[1])] = int(float(cells[2]))
                elif section == "cases":
                    for line in str(cells[1]).splitlines():
                        try:
                            state._read_entry(line)
                        except ValueError:
                            continue
                elif section == "case":
                    state._read_entry(cells[:6])
                elif section == "log":
                    state.log.append([str(v) for v in cells[1:5]])
            except (ValueError, TypeError):
                continue
        return state

    def _read_entry(self, entry: Entry) -> None:
        """Set the case `entry` shows, and remember the entry."""
        case_id, c = parse_entry(entry)
        self.cases[case_id] = c
        if type(entry) is str:
            self.entries[case_id] = (c, entry)


def make_entry(case_id: str, c: CaseState) -> Entry:
    """The case as the tab keeps it: "ID status since" packed with others in a cell, or a row of
    its own when it carries a note or its status or ID holds a space."""
    if c.note or not _status_token(c.status) or not _token(case_id):
        return ["case", case_id, c.status, c.since.isoformat(), c.note, c.note_until.isoformat() if c.note_until else ""]
    return f"{case_id} {c.status} {c.since.isoformat()}"


def parse_entry(entry: Entry) -> tuple[str, CaseState]:
    """The case ID and state an entry shows (a packed line, or a row's first six cells)."""
    if type(entry) is str:
        case_id, status, since = entry.split(" ")
        return case_id, CaseState(status, datetime.fromisoformat(since))
    cells = [str(v) for v in entry]
    until = datetime.fromisoformat(cells[5]) if cells[5] else None
    return cells[1], CaseState(cells[2], datetime.fromisoformat(cells[3]), cells[4], until)


@functools.lru_cache(maxsize=64)  # the few statuses, looked at for every case
def _status_token(status: str) -> bool:
    return _token(status)


def _token(text: str) -> bool:
    """Whether `text` can stand in a packed line: something, with no spaces or line breaks."""
    return _TOKEN.fullmatch(text) is not None
