"""The state tab: what it stores survives a write and a read; the log only grows and stays within
a spreadsheet's limits; a tab of format 1 reads and converts; a line it cannot read is an error."""

from __future__ import annotations

import pickle
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import NOW
from hypothesis import given
from hypothesis import strategies as st

from kakosheet import template
from kakosheet.backends.xlsx import XlsxBackend
from kakosheet.errors import StateUnreadable
from kakosheet.packed import CELL_BUDGET
from kakosheet.patch import GeneratedTab, Patch
from kakosheet.state import HEADER, PLAIN_VERSION, SCHEMA_VERSION, TAB, TITLE, CaseState, Event, State, parse_entry
from kakosheet.sync import sync

V1_BOOK = Path(__file__).parent / "data" / "state_v1.xlsx"
# made by the release writing format 1: `kakosheet init --sample 60 --tz Asia/Shanghai --now
# 2026-11-22T10:00:00+08:00`, synced; three statuses edited, row 8's ID copied into row 9 and
# row 10's ID typed over, synced at 2026-11-23T09:30+08:00; two more statuses edited, synced at
# 2026-11-24T15:05+08:00 and again at 15:10 (its last sync)
V1_LAST_SYNC = datetime.fromisoformat("2026-11-24T15:10:00+08:00")
EXCEL_CELL = 32_767  # characters (UTF-16 units) in one cell; Google Sheets allows 50,000
SHEETS_CELLS = 10_000_000  # cells in one spreadsheet

ODD_DETAILS = [
    "reported -> in_progress",
    "",
    " ",
    "  leading and trailing  ",
    "tab\there, newline\nthere, CR\rand CRLF\r\n",
    "'single' \"double\" `back`",
    "新 ID：此行的编号与第 8 行重复（复制的行？）",
    "=SUM(A1:A9)",
    "+1 -2 @me",
    "back\\slash \\s \\n \\u0041 \\",
    "\x00\x01\x1f\x7f\x85\u2028\u2029\u3000\xa0",
    "emoji 😀 and a combining e\u0301",
    "x" * 70_000,  # longer than any cell: cut over rows
    "中 文" * 20_000 + "\t",
]


def v2_log_cells(rows: list[list[Any]]) -> list[list[Any]]:
    return [r for r in rows if r[0] in ("log", "log+")]


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def test_many_cases_pack_into_few_cells_and_read_back_exactly() -> None:
    state = State(counters={"AS-202611": 1000})
    for i in range(1, 1001):
        state.cases[f"AS-202611-{i:05d}"] = CaseState("in_progress" if i % 3 else "reported", NOW - timedelta(minutes=i))
    state.cases["AS-202611-00007"] = CaseState("", NOW, "new ID: this row carried AS-1, which row 2 already has", NOW + timedelta(days=7))
    state.cases["odd id"] = CaseState("closed", NOW)  # not a token: kept on a row of its own
    state.record(NOW, "AS-202611-00002", "status_changed", "reported -> in_progress")
    rows = state.to_rows()
    packed = [r[1] for r in rows if r[0] == "cases"]
    assert len(packed) == 2  # 999 lines of about 50 characters
    assert all(utf16(text) <= CELL_BUDGET < EXCEL_CELL for text in packed)
    assert sum(text.count("\n") + 1 for text in packed) == 999
    assert State.from_rows(rows) == state


def test_the_one_row_per_case_form_still_reads() -> None:
    rows = [
        ["case", "AS-202611-00001", "reported", NOW.isoformat()],
        ["cases", f"AS-202611-00002 closed {NOW.isoformat()}\nAS-202611-00004 plan_agreed {NOW.isoformat()}"],
    ]
    state = State.from_rows(rows)
    assert set(state.cases) == {"AS-202611-00001", "AS-202611-00002", "AS-202611-00004"}
    assert state.cases["AS-202611-00004"] == CaseState("plan_agreed", NOW)


def test_an_entry_is_made_again_only_when_its_case_changes() -> None:
    """The tab's text of a case is kept from the read (or from where it was made) while the case stays as it was."""
    written = State()
    for i in range(1, 6):
        written.cases[f"AS-202611-{i:05d}"] = CaseState("reported", NOW - timedelta(hours=i))
    read = State.from_rows(written.to_rows())
    state = read.copy()
    state.cases["AS-202611-00002"] = CaseState("closed", NOW)
    state.cases["AS-202611-00003"] = CaseState("", NOW, "new ID: a copied row", NOW + timedelta(days=7))
    state.cases["AS-202611-00009"] = CaseState("reported", NOW)
    assert State.from_rows(state.to_rows()) == state
    assert state.entry("AS-202611-00002") == f"AS-202611-00002 closed {NOW.isoformat()}"
    assert state.entry("AS-202611-00003")[0] == "case"  # a note: a row of its own
    # what another process made of its cases, taken as entries, gives the same state and tab
    other = read.copy()
    sent = [state.entry(case_id) for case_id in ("AS-202611-00002", "AS-202611-00003", "AS-202611-00009")]
    other.update({case_id: (c, entry) for entry in sent for case_id, c in [parse_entry(entry)]})
    assert other == state and other.to_rows() == state.to_rows()


def test_the_tab_name_is_the_one_the_template_writes() -> None:
    assert TAB == template.STATE_TAB


# -- format 1 -----------------------------------------------------------------------------


def v1_rows(tmp_path: Path) -> list[list[Any]]:
    path = tmp_path / "v1.xlsx"
    shutil.copy(V1_BOOK, path)
    return XlsxBackend(path).read()[TAB].rows


def test_a_tab_of_format_1_reads_whole_and_is_written_in_the_current_format(tmp_path: Path) -> None:
    rows = v1_rows(tmp_path)
    # the release that wrote it kept an event a row, and a case with a note on a row of its own
    old_log = [Event(*("" if v is None else str(v) for v in r[1:5])) for r in rows if r[0] == "log"]
    old_counters = {r[1]: int(r[2]) for r in rows if r[0] == "counter"}
    old_notes = {r[1]: r[4] for r in rows if r[0] == "case"}
    packed = sum(len(r[1].split("\n")) for r in rows if r[0] == "cases")
    assert ["setting", "schema_version", "1"] in [r[:3] for r in rows]
    assert {e.event for e in old_log} == {"id_reassigned", "id_replaced", "status_changed"} and len(old_log) == 7
    assert any("copied row" in note for note in old_notes.values())

    state = State.from_rows(rows)
    assert state.log == old_log
    assert state.counters == old_counters and sum(old_counters.values()) == 62
    assert {i: c.note for i, c in state.cases.items() if c.note} == old_notes
    assert len(state.cases) == packed + len(old_notes)
    assert state.settings["schema_version"] == SCHEMA_VERSION == "3"

    written = state.to_rows()
    assert ["setting", "schema_version", PLAIN_VERSION] in written
    assert len(v2_log_cells(written)) == 1 and all(len(r) == 2 for r in v2_log_cells(written))
    again = State.from_rows(written)
    assert again == state
    assert {i: (c.note, c.note_until) for i, c in again.cases.items() if c.note} == {i: (c.note, c.note_until) for i, c in state.cases.items() if c.note}
    assert again.to_rows() == written


def test_a_workbook_synced_in_format_1_is_converted_by_its_next_sync_and_the_one_after_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "v1.xlsx"
    shutil.copy(V1_BOOK, path)
    before = State.from_rows(XlsxBackend(path).read()[TAB].rows)
    first = sync(XlsxBackend(path), V1_LAST_SYNC)
    assert TAB in first.tabs_rewritten and first.new_ids == []
    rows = XlsxBackend(path).read()[TAB].rows
    assert ["setting", "schema_version", PLAIN_VERSION] in [r[:3] for r in rows]
    after = State.from_rows(rows)
    charts = {k for k in after.settings if k.startswith("chart ")}  # the charts' IDs, new in this release
    assert len(charts) == 3
    for k in charts:
        del after.settings[k]
    assert after.settings.pop("last_sync_overdue").isdigit()  # what `kakosheet status` says, also new
    assert after == before  # counters, cases with their notes, every event

    second = sync(XlsxBackend(path), V1_LAST_SYNC)
    assert not second.written and second.changes == [] and second.tabs_rewritten == []
    assert XlsxBackend(path).read()[TAB].rows == rows


def test_a_tab_of_a_newer_format_is_an_error_not_a_misread() -> None:
    rows = [[TITLE], HEADER, ["setting", "schema_version", "4"], ["log", "a line this release knows nothing of"]]
    with pytest.raises(StateUnreadable, match=r"written by a newer kakosheet \(format 4\); upgrade kakosheet"):
        State.from_rows(rows)


# -- what cannot be read ------------------------------------------------------------------

T = NOW.isoformat()
V2 = ["setting", "schema_version", "2"]


@pytest.mark.parametrize(
    ("rows", "where"),  # (row, line of its cell) counted in `rows`
    [
        ([V2, ["cases", f"AS-1 closed {T}\nAS-2 closed yesterday"]], (2, 2)),
        ([V2, ["cases", f"AS-1 closed {T}\n\nAS-2 closed"]], (2, 3)),
        ([V2, ["cases", "AS-1 closed 2026-11-22T10:00:00"]], (2, 1)),
        ([V2, ["case", "AS-1", "closed", "last week"]], (2, None)),
        ([V2, ["case", "", "closed", T]], (2, None)),
        ([V2, [], ["counter", "AS-202611", "many"]], (3, None)),
        ([V2, ["counter", "AS-202611", -1]], (2, None)),
        ([V2, ["setting", "", "x"]], (2, None)),
        ([V2, ["notes", "remember the milk"]], (2, None)),
        ([V2, [None, "a remark typed into column B"]], (2, None)),
        ([V2, ["counter", "AS-202611", 5, None, "a remark"]], (2, None)),
        ([V2, ["log", f"{T} AS-1 status_changed a -> b\n{T} AS-1"]], (2, 2)),
        ([V2, ["log", f"{T} AS-1 status_changed a\\q"]], (2, 1)),
        ([V2, ["log", f"{T} AS-1 status_changed trailing\\"]], (2, 1)),
        ([V2, ["log", f"{T} AS-1 status_changed ok"], ["log", "yesterday AS-1 status_changed ok"]], (3, 1)),
        ([V2, ["log", f"{T} AS-1 ok"], ["log+", f"{T} AS-1 status_changed cut"]], (3, None)),
        ([V2, ["cases+", "AS-1 clo"]], (2, None)),
        ([V2, ["log+", f"{T} AS-1 status_"], ["log", f"changed ok\n{T} AS-2"]], (3, 2)),
        ([["setting", "schema_version", "1"], ["log", "not a time", "AS-1", "status_changed", "a -> b"]], (2, None)),
        ([["setting", "schema_version", "1"], ["log", f"{T} AS-1 status_changed a -> b"]], (2, None)),  # a format-2 line, said to be 1
        ([["setting", "schema_version", "two"]], (1, None)),
        ([["setting", "schema_version", "0"]], (1, None)),
        ([V2, ["cases", f"AS-1 on_hold {T} left"]], (2, 1)),
        ([V2, ["cases", f"AS-1 in_progress {T} held={T}"]], (2, 1)),
        ([V2, ["cases", f"AS-1 in_progress {T} colour=red"]], (2, 1)),
        ([V2, ["case", "AS-1", "on_hold", T, "a note", "", "clock=yesterday"]], (2, None)),
    ],
    ids=[
        "case-line-date",
        "case-line-fields",
        "case-line-naive-time",
        "case-row-date",
        "case-row-no-id",
        "counter-text",
        "counter-negative",
        "setting-no-name",
        "unknown-section",
        "no-section",
        "extra-column",
        "event-fields",
        "event-escape",
        "event-backslash-at-end",
        "event-time",
        "cut-line-unfinished",
        "cut-case-line-unfinished",
        "cut-line-then-bad",
        "v1-event-time",
        "v1-row-v2-line",
        "version-text",
        "version-zero",
        "v3-field-no-value",
        "v3-held-not-a-span",
        "v3-unknown-field",
        "v3-row-clock",
    ],
)
def test_a_line_that_cannot_be_read_is_an_error_naming_it_and_what_to_do(rows: list[list[Any]], where: tuple[int, int | None]) -> None:
    shift = 2 if rows[0] == V2 else 0  # a title and a header row first, as written
    with pytest.raises(StateUnreadable) as raised:
        State.from_rows([[TITLE], HEADER, *rows] if shift else rows)
    message = str(raised.value)
    row, line = where
    assert message.startswith(f"{TAB} tab, row {row + shift}" + (f", line {line} of its cell:" if line else ":")), message
    assert ".kakosheet-backups/" in message and "delete the tab" in message


def test_the_fields_of_a_resumed_or_held_stage_survive_the_tab() -> None:
    t0, t1, t2 = NOW - timedelta(days=3), NOW - timedelta(days=2), NOW - timedelta(days=1)
    state = State()
    state.cases["AS-1"] = CaseState("in_progress", NOW, "", None, t0, ((t1, t2),))
    state.cases["AS-2"] = CaseState("on_hold", t2, "a note", NOW, t0, ((t0, t1),), "plan_agreed")
    state.cases["AS-3"] = CaseState("closed", t0)
    rows = state.to_rows()
    assert ["setting", "schema_version", SCHEMA_VERSION] in rows  # a release reading format 2 only would misread it
    again = State.from_rows(rows)
    assert again.cases == state.cases
    del state.cases["AS-1"], state.cases["AS-2"]
    assert ["setting", "schema_version", PLAIN_VERSION] in state.to_rows()
    assert set(again.entries) == {"AS-1", "AS-3"}  # read from packed lines; the case with a note has a row of its own


def test_blank_rows_and_the_title_and_header_rows_are_not_lines() -> None:
    rows = [[], [TITLE], [None, None], HEADER, ["  ", None, ""], V2, ["cases", f"AS-1 closed {T}\n"], [None], ["log", f"{T} AS-1 status_changed x\n"]]
    state = State.from_rows(rows)
    assert set(state.cases) == {"AS-1"} and state.log == [Event(T, "AS-1", "status_changed", "x")]


def test_a_line_cut_over_rows_reads_whole() -> None:
    rows = [V2, ["cases+", "AS-1 clo"], ["cases+", "sed 2026-11"], ["cases", f"-22T10:00:00+00:00\nAS-2 closed {T}"], ["log+", f"{T} AS-1 "], ["log", "status_changed x"]]
    state = State.from_rows(rows)
    assert state.cases == {"AS-1": CaseState("closed", NOW), "AS-2": CaseState("closed", NOW)}
    assert state.log == [Event(T, "AS-1", "status_changed", "x")]


# -- the audit log ------------------------------------------------------------------------


def test_any_detail_round_trips_and_every_cell_fits(tmp_path: Path) -> None:
    state = State()
    for detail in ODD_DETAILS:
        state.record(NOW, "AS-202611-00001", "note", detail)
    state.record(NOW, "an id\twith\nbreaks \\", "an event", "x")
    rows = state.to_rows()
    assert all(utf16(str(v)) <= CELL_BUDGET for r in rows for v in r if v is not None)
    assert any(r[0] == "log+" for r in rows)  # the 70,000 x's were cut
    assert all(not str(r[1]).strip(" \t\n\u3000") == "" and r[1] == r[1].strip() for r in v2_log_cells(rows))
    assert State.from_rows(rows).log == state.log
    # and as the xlsx backend writes and reads the tab
    path = tmp_path / "book.xlsx"
    shutil.copy(V1_BOOK, path)
    backend = XlsxBackend(path)
    backend.read()
    backend.apply(Patch(generated=[GeneratedTab(TAB, rows, hidden=True, header_row=0)]))
    read = XlsxBackend(path).read()[TAB].rows
    assert State.from_rows(read).log == state.log


@given(st.lists(st.tuples(st.text(), st.text(), st.text()), max_size=5))
def test_any_text_round_trips(events: list[tuple[str, str, str]]) -> None:
    state = State()
    for case_id, event, detail in events:
        state.record(NOW, case_id, event, detail)
    assert State.from_rows(state.to_rows()).log == state.log


def test_a_million_events_stay_within_a_spreadsheets_limits_and_read_back_equal() -> None:
    statuses = ["reported", "responsibility_confirmed", "plan_agreed", "in_progress", "completed"]
    made = [  # 10,007 events, repeated: made quickly
        Event((NOW + timedelta(minutes=i)).isoformat(), f"AS-2026{i % 12 + 1:02d}-{i:05d}", "status_changed", f"{statuses[i % 5]} -> {statuses[(i + 1) % 5]}")
        for i in range(10_007)
    ]
    log = [made[i % len(made)] for i in range(1_000_000)]
    rows = State(log=log).to_rows()
    cells = v2_log_cells(rows)
    assert all(len(r) == 2 and utf16(r[1]) < EXCEL_CELL for r in cells)
    assert len(rows) * max(len(r) for r in rows) < SHEETS_CELLS // 100  # the grid, as Google Sheets counts it
    assert State.from_rows(rows).log == log


def logged(n: int, start: int = 0) -> list[tuple[str, str, str]]:
    return [(f"AS-202611-{i:05d}", "status_changed", f"reported -> in_progress ({i})") for i in range(start, start + n)]


def test_the_log_only_grows_events_written_keep_their_cells_and_a_read_writes_the_same() -> None:
    state = State()
    for args in logged(1000):
        state.record(NOW, *args)
    rows = state.to_rows()
    assert len(v2_log_cells(rows)) == 3  # about 80 characters an event
    read = State.from_rows(rows)
    assert read.to_rows() == rows  # read and written again: the same rows

    # as the sync works: on a copy, three events more, one made in another process
    work = read.copy()
    work.record(NOW + timedelta(days=1), "AS-202611-00001", "status_changed", "in_progress -> completed")
    work.record(NOW + timedelta(days=1), "AS-202611-00002", "status_changed", "in_progress -> completed")
    work.log += pickle.loads(pickle.dumps([Event((NOW + timedelta(days=1)).isoformat(), "AS-202611-00003", "status_changed", "in_progress -> completed")]))
    grown = work.to_rows()
    old, new = v2_log_cells(rows), v2_log_cells(grown)
    assert new[: len(old) - 1] == old[:-1] and new[len(old) - 1][1].startswith(old[-1][1] + "\n")
    assert len(new) in (len(old), len(old) + 1)
    assert State.from_rows(grown).log == work.log
    assert read.to_rows() == rows  # the copy changed nothing of what it was made from

    # cells packed otherwise (an event a cell, by another release) stay so: a new event joins the last
    kept = State.from_rows([V2, ["log", f"{T} AS-1 status_changed a"], ["log", f"{T} AS-2 status_changed b"]])
    kept.record(NOW, "AS-3", "status_changed", "c")
    assert v2_log_cells(kept.to_rows()) == [["log", f"{T} AS-1 status_changed a"], ["log", f"{T} AS-2 status_changed b\n{T} AS-3 status_changed c"]]

    # a full last cell stays as it is: the new events start a cell of their own
    full = State()
    while len(v2_log_cells(full.to_rows())) < 2:
        full.record(NOW, *logged(1, len(full.log))[0])
    last = full.log.pop()
    rows = State(log=full.log).to_rows()  # one cell, without room for `last`
    assert len(v2_log_cells(rows)) == 1
    more = State.from_rows(rows)
    more.record(NOW, last.case_id, last.event, last.detail + "!")
    assert v2_log_cells(more.to_rows())[:-1] == v2_log_cells(rows) and len(v2_log_cells(more.to_rows())) == 2


def test_a_log_replaced_rather_than_grown_is_written_afresh() -> None:
    state = State()
    for args in logged(500):
        state.record(NOW, *args)
    read = State.from_rows(state.to_rows())
    read.log = read.log[10:]
    assert State.from_rows(read.to_rows()).log == state.log[10:]
    read.log[0] = Event(T, "AS-1", "status_changed", "rewritten")
    assert State.from_rows(read.to_rows()).log[0].detail == "rewritten"


def test_an_event_needs_a_time_zone() -> None:
    with pytest.raises(ValueError, match="time zone"):
        State().record(NOW.replace(tzinfo=None), "AS-1", "status_changed")
