"""The state tab: what it stores survives a write and a read, in the packed form and the older one."""

from __future__ import annotations

from datetime import timedelta

from conftest import NOW

from kakosheet.state import CASES_PER_CELL, CaseState, State


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
