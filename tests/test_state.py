"""The state tab: what it stores survives a write and a read, in the packed form and the older one."""

from __future__ import annotations

from datetime import timedelta

from conftest import NOW

from kakosheet.state import CASES_PER_CELL, CaseState, State, parse_entry


def test_many_cases_pack_into_few_cells_and_read_back_exactly() -> None:
    state = State(counters={"AS-202611": 1000})
    for i in range(1, 1001):
        state.cases[f"AS-202611-{i:05d}"] = CaseState("in_progress" if i % 3 else "reported", NOW - timedelta(minutes=i))
    state.cases["AS-202611-00007"] = CaseState("", NOW, "new ID: this row carried AS-1, which row 2 already has", NOW + timedelta(days=7))
    state.cases["odd id"] = CaseState("closed", NOW)  # not a token: kept on a row of its own
    state.record(NOW, "AS-202611-00002", "status_changed", "reported -> in_progress")
    rows = state.to_rows()
    assert sum(r[0] == "cases" for r in rows) == -(-999 // CASES_PER_CELL)
    assert all(len(r[1]) < 32_767 for r in rows if r[0] == "cases")  # fits a cell in Excel and Sheets
    assert State.from_rows(rows) == state


def test_the_one_row_per_case_form_still_reads_and_a_damaged_line_costs_only_itself() -> None:
    rows = [
        ["case", "AS-202611-00001", "reported", NOW.isoformat()],
        ["cases", f"AS-202611-00002 closed {NOW.isoformat()}\nAS-202611-00003 closed yesterday\nAS-202611-00004 plan_agreed {NOW.isoformat()}"],
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
    # what another process made of its cases, sent as entries and read back, gives the same state and tab
    other = read.copy()
    sent = [state.entry(case_id) for case_id in ("AS-202611-00002", "AS-202611-00003", "AS-202611-00009")]
    other.update({case_id: (c, entry) for entry in sent for case_id, c in [parse_entry(entry)]})
    assert other == state and other.to_rows() == state.to_rows()
