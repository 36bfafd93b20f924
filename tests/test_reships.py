"""Reshipments through the real sync: permanent RS IDs, the status flow, the delivery flag, and what
the case rows show of them."""

from __future__ import annotations

import copy
import gc
import re
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import NOW, case, column, grid, memory_book
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kakosheet import template
from kakosheet.backends import forked
from kakosheet.backends.memory import MemoryBackend
from kakosheet.backends.xlsx import XlsxBackend
from kakosheet.errors import UsageError
from kakosheet.parallel import Execution
from kakosheet.reships import CaseReships
from kakosheet.schema import schemas
from kakosheet.state import State
from kakosheet.sync import Sync, sync
from kakosheet.table import Sheet
from kakosheet.template import STATE_TAB

RS_ID = re.compile(r"^RS-\d{6}-\d{5}$")
TAB = "Reshipments"
FIELDS = [f.key for f in schemas()["reshipments"].fields]
CASE_IDS = [f"AS-202611-{i:05d}" for i in (1, 2, 3)]


def reship(**values: Any) -> dict[str, Any]:
    """A valid reshipment of the first case, with `values` overriding the defaults."""
    rec: dict[str, Any] = {"case_id": CASE_IDS[0], "carrier": "YunExpress", "status": "RESHIPPED"}
    rec.update(values)
    return rec


def book_of(*reships: dict[str, Any], cases: int = 3) -> MemoryBackend:
    """Cases that already carry the IDs AS-202611-00001..., and the given Reshipments rows."""
    return memory_book([case(case_id=f"AS-202611-{i + 1:05d}", order_no=f"KB{i}") for i in range(cases)], reshipments=list(reships))


def cell(book: MemoryBackend, row: int, key: str, tab: str = TAB) -> Any:
    """The cell of 1-based data row `row` under the column headed with `key`'s English label."""
    return column(book, tab, key)[row - 1]


def set_cell(book: MemoryBackend, row: int, key: str, value: Any) -> None:
    rows = book.grid(TAB)
    label = schemas()["reshipments"].by_key[key].label_en
    rows[row][rows[0].index(label)] = value


def add_row(book: MemoryBackend, rec: dict[str, Any]) -> None:
    """A row typed below the others, in the tab's columns as they are now."""
    rows = book.grid(TAB)
    by_label = {schemas()["reshipments"].by_key[k].label_en: v for k, v in rec.items()}
    rows.append([by_label.get(h) for h in rows[0]])


def log(book: MemoryBackend) -> list[tuple[str, str, str]]:
    return [(e.case_id, e.event, e.detail) for e in State.from_rows(book.grid(STATE_TAB)).log]


# -- IDs ---------------------------------------------------------------------------------


def test_ids_are_issued_in_the_month_shipped_and_kept_on_resync() -> None:
    book = book_of(
        reship(shipped_at=datetime(2026, 10, 30, 9, 0)),
        reship(shipped_at=datetime(2026, 11, 2, 9, 0)),
        reship(status="QC_FAILED"),  # not shipped: the month of now
    )
    result = sync(book, NOW)
    ids = column(book, TAB, "reship_id")
    assert ids == ["RS-202610-00001", "RS-202611-00001", "RS-202611-00002"]
    assert book.grid(TAB)[0][0] == "Reship ID"  # the tab's first column
    assert result.new_ids == []  # the cases kept theirs
    assert log(book) == []  # blank cells get IDs quietly; a first status is no move
    sync(book, NOW + timedelta(days=3))
    assert column(book, TAB, "reship_id") == ids


def test_a_copied_row_gets_a_new_id_and_a_note_for_a_week() -> None:
    book = book_of(reship(), reship(case_id=CASE_IDS[1]))
    sync(book, NOW)
    rows = book.grid(TAB)
    rows.append(copy.deepcopy(rows[2]))  # the second reshipment copied to the bottom, its ID too
    sync(book, NOW + timedelta(hours=1))
    assert column(book, TAB, "reship_id") == ["RS-202611-00001", "RS-202611-00002", "RS-202611-00003"]
    note = cell(book, 3, "validation_errors")
    assert "RS-202611-00002" in note and "row 3" in note and "copied" in note
    assert cell(book, 2, "validation_errors") is None
    assert ("RS-202611-00003", "id_reassigned", "copy of RS-202611-00002") in log(book)
    sync(book, NOW + timedelta(days=6))
    assert cell(book, 3, "validation_errors") == note
    sync(book, NOW + timedelta(days=8))
    assert cell(book, 3, "validation_errors") is None


def test_a_deleted_row_s_id_is_never_issued_again_even_when_the_state_tab_is_lost() -> None:
    book = book_of(reship(), reship(), reship())
    sync(book, NOW)
    del book.grid(TAB)[3]  # RS-202611-00003 goes
    add_row(book, reship(carrier="4PX"))
    sync(book, NOW + timedelta(hours=1))
    assert column(book, TAB, "reship_id") == ["RS-202611-00001", "RS-202611-00002", "RS-202611-00004"]
    del book.sheets[STATE_TAB]
    add_row(book, reship(carrier="EMS"))
    sync(book, NOW + timedelta(hours=2))
    assert column(book, TAB, "reship_id")[-1] == "RS-202611-00005"  # from the highest in the sheet


def test_junk_and_ids_of_the_other_kind_are_replaced_with_a_note() -> None:
    book = book_of(
        reship(reship_id="see above"),
        reship(reship_id="AS-202611-00002"),  # a case ID is no reshipment ID
        reship(reship_id="ＲＳ－２０２６１１－００００７"),  # full width: still one
    )
    sync(book, NOW)
    assert column(book, TAB, "reship_id") == ["RS-202611-00008", "RS-202611-00009", "RS-202611-00007"]
    notes = column(book, TAB, "validation_errors")
    assert notes[0] == "new ID: the ID cell held 'see above', which is not a reshipment ID (RS-YYYYMM-NNNNN)"
    assert "'AS-202611-00002'" in notes[1] and notes[2] is None
    assert {e[1] for e in log(book)} >= {"id_replaced"}


def test_a_reshipment_id_in_the_cases_id_cell_is_no_case_id_and_rs_is_no_case_prefix() -> None:
    book = memory_book([case(case_id="RS-202611-00001")])
    sync(book, NOW)
    assert column(book, "Cases", "case_id") == ["AS-202611-00001"]
    assert "'RS-202611-00001'" in column(book, "Cases", "validation_errors")[0]
    with pytest.raises(UsageError, match="reshipments"):
        sync(book_of(), NOW, id_prefix="rs")


def _rows_ids(book: MemoryBackend) -> list[Any]:
    return column(book, TAB, "reship_id")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(st.tuples(st.sampled_from(["add", "copy", "delete", "junk", "sync"]), st.integers(0, 50)), min_size=1, max_size=14))
def test_ids_stay_unique_and_are_never_reused_whatever_rows_are_copied_or_deleted(ops: list[tuple[str, int]]) -> None:
    book = book_of(reship())
    sync(book, NOW)
    ever: set[str] = set(_rows_ids(book))
    at = NOW
    for op, k in ops:
        rows = book.grid(TAB)
        body = len(rows) - 1
        if op == "add":
            add_row(book, reship(case_id=CASE_IDS[k % 3], shipped_at=datetime(2026, 9 + k % 3, 1 + k % 28, 9, 0)))
        elif op == "copy" and body:
            rows.append(copy.deepcopy(rows[1 + k % body]))
        elif op == "delete" and body:
            del rows[1 + k % body]
        elif op == "junk" and body:
            rows[1 + k % body][0] = ["x", 12.0, "AS-202611-00001", "   "][k % 4]
        else:
            before = _rows_ids(book)
            at += timedelta(minutes=10)
            sync(book, at)
            after = _rows_ids(book)
            assert all(i and RS_ID.match(i) for i in after) and len(set(after)) == len(after)
            for old, new in zip(before, after, strict=True):
                if old and RS_ID.match(str(old)) and before.count(old) == 1:
                    assert new == old  # a unique ID is never changed
            fresh = set(after) - set(before)
            assert not fresh & ever  # a new ID was never issued before, even to a deleted row
            ever |= set(after)
    sync(book, at + timedelta(minutes=10))
    ids = _rows_ids(book)
    assert len(set(ids)) == len(ids) and not set(ids) & set(column(book, "Cases", "case_id"))


@pytest.mark.skipif(sys.platform != "linux", reason="the second process is forked on Linux only")
def test_above_20000_cases_two_processes_give_the_ids_and_cells_one_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    gc.collect()
    for thread in threading.enumerate():  # the sync forks only when no other thread runs
        if thread is not threading.current_thread():
            thread.join(timeout=10)
    n = 20_001
    ids = [f"AS-202611-{i + 1:05d}" for i in range(n)]
    rows = [
        reship(case_id=ids[k], shipped_at=datetime(2026, 11, 1 + k % 20, 9, 0), promised_by=datetime(2026, 11, 20))
        for k in (2, 15_000, 19_990, 19_990, n - 1)
    ]
    rows.append(reship(case_id=ids[n - 1], status="QC_FAILED", reship_id="junk"))
    start = memory_book([case(case_id=i, order_no=f"KB{k}") for k, i in enumerate(ids)], reshipments=rows)
    start.grid(TAB)[3][0] = "RS-202611-00042"  # the third row already has its ID
    started: list[forked.Forked] = []
    real = forked.Forked.start.__func__  # type: ignore[attr-defined]

    def spy(cls: type[forked.Forked], *args: Any, **kwargs: Any) -> forked.Forked | None:
        child = real(cls, *args, **kwargs)
        if child is not None:
            started.append(child)
        return child

    books = {}
    for mode in ("serial", "fork"):
        book = books[mode] = copy.deepcopy(start)
        if mode == "fork":
            monkeypatch.setattr(forked.Forked, "start", classmethod(spy))
        sync(book, NOW, execution=Execution(mode=mode))
    assert len(started) == 1 and started[0].status == 0  # the later cases really were worked through in a child
    serial, fork = books["serial"], books["fork"]
    assert column(fork, TAB, "reship_id") == column(serial, TAB, "reship_id")
    assert column(serial, TAB, "reship_id") == [
        "RS-202611-00043",
        "RS-202611-00044",
        "RS-202611-00042",
        "RS-202611-00045",
        "RS-202611-00046",
        "RS-202611-00047",
    ]
    assert fork.sheets == serial.sheets
    counts = column(fork, "Cases", "reship_count")
    assert counts[19_990] == 2 and counts[n - 1] == 2 and counts[2] == 1 and counts[1] is None  # in the child's part too
    assert column(fork, "Cases", "reship_status")[n - 1] == "RESHIPPED"  # shipped beats not shipped


# -- references, the status flow, the delivery flag ------------------------------------


def test_a_reshipment_of_an_unknown_case_gets_the_finding_on_its_row() -> None:
    book = book_of(reship(), reship(case_id="AS-202611-00099"))
    result = sync(book, NOW)
    assert [(f.code, f.tab, f.row) for f in result.findings] == [("unknown_case", TAB, 3)]
    assert cell(book, 1, "validation_errors") is None
    assert cell(book, 2, "validation_errors").startswith("Case ID: AS-202611-00099 is not in the Cases tab")
    assert RS_ID.match(cell(book, 2, "reship_id"))  # still tracked


@pytest.mark.parametrize(
    ("moves", "note"),
    [
        (["QC_FAILED", "DELIVERED"], "status went from QC_FAILED straight to DELIVERED, skipping RESHIPPED; kept as typed, check it"),
        (["QC_FAILED", "FAILED"], "status went from QC_FAILED straight to FAILED, skipping RESHIPPED; kept as typed, check it"),
        (["DELIVERED", "RESHIPPED"], "status went back from DELIVERED to RESHIPPED; kept as typed, check it"),
        (["RESHIPPED", "QC_FAILED"], "status went back from RESHIPPED to QC_FAILED; kept as typed, check it"),
        (["DELIVERED", "FAILED"], "status changed from DELIVERED to FAILED after the reshipment had ended; kept as typed, check it"),
        (["QC_FAILED", "RESHIPPED"], None),
        (["RESHIPPED", "DELIVERED"], None),
        (["RESHIPPED", "FAILED"], None),
    ],
    ids=[
        "skip-to-delivered",
        "skip-to-failed",
        "back-from-delivered",
        "back-to-qc",
        "delivered-then-failed",
        "step-1",
        "step-2",
        "step-failed",
    ],
)
def test_a_move_out_of_the_flow_is_kept_logged_and_noted_for_a_week(moves: list[str], note: str | None) -> None:
    old, new = moves
    book = book_of(reship(status=old))
    sync(book, NOW)
    set_cell(book, 1, "status", new)
    later = NOW + timedelta(hours=2)
    sync(book, later)
    assert cell(book, 1, "status") == new  # kept as typed
    assert cell(book, 1, "validation_errors") == note
    assert column(book, "Cases", "reship_status")[0] == new
    assert log(book)[-1] == ("RS-202611-00001", "status_changed", f"{old} -> {new}")  # every change is logged
    state = State.from_rows(book.grid(STATE_TAB)).cases["RS-202611-00001"]
    assert (state.status, state.since) == (new, later)
    sync(book, later + timedelta(days=7, minutes=1))
    assert cell(book, 1, "validation_errors") is None


def test_a_move_note_follows_the_row_s_findings() -> None:
    book = book_of(reship(status="QC_FAILED", case_id="AS-202611-00099"))
    sync(book, NOW)
    set_cell(book, 1, "status", "DELIVERED")
    sync(book, NOW + timedelta(hours=1))
    text = cell(book, 1, "validation_errors")
    assert text.startswith(
        "Case ID: AS-202611-00099 is not in the Cases tab; copy the ID from there; status went from QC_FAILED straight to DELIVERED"
    )


PROMISED = datetime(2026, 11, 20, 12, 0)


@pytest.mark.parametrize(
    ("now", "values", "flag"),
    [
        (PROMISED - timedelta(minutes=1), {}, None),
        (PROMISED, {}, None),
        (PROMISED + timedelta(days=2, hours=3), {}, "LATE 2d 3h"),
        (PROMISED + timedelta(minutes=45), {"status": "QC_FAILED"}, "LATE 45m"),
        (PROMISED + timedelta(days=2), {"delivered_at": PROMISED + timedelta(days=1)}, None),
        (PROMISED + timedelta(days=2), {"status": "DELIVERED"}, None),
        (PROMISED + timedelta(days=2), {"status": "FAILED"}, None),
        (PROMISED + timedelta(days=2), {"promised_by": None}, None),
    ],
    ids=["before", "at", "after", "after-not-shipped", "delivered-late", "status-delivered", "status-failed", "no-promise"],
)
def test_the_delivery_flag_before_at_and_after_the_promised_time(now: datetime, values: dict[str, Any], flag: str | None) -> None:
    book = book_of(reship(**{"shipped_at": datetime(2026, 11, 10, 9, 0), "promised_by": PROMISED, **values}))
    sync(book, now.replace(tzinfo=NOW.tzinfo))
    assert cell(book, 1, "delivery") == flag


def test_a_late_flag_grows_and_goes_once_delivered() -> None:
    book = book_of(reship(shipped_at=datetime(2026, 11, 10, 9, 0), promised_by=datetime(2026, 11, 21, 9, 0)))
    sync(book, NOW)
    assert cell(book, 1, "delivery") == "LATE 1d 1h"
    result = sync(book, NOW + timedelta(hours=2))
    assert cell(book, 1, "delivery") == "LATE 1d 3h" and {c.key for c in result.changes if c.tab == TAB} == {"delivery"}
    set_cell(book, 1, "delivered_at", datetime(2026, 11, 22, 11, 0))
    sync(book, NOW + timedelta(hours=3))
    assert cell(book, 1, "delivery") is None


def test_the_case_row_shows_its_latest_reshipment_s_status_and_how_many_name_it() -> None:
    book = book_of(
        reship(status="DELIVERED", shipped_at=datetime(2026, 11, 15, 9, 0), delivered_at=datetime(2026, 11, 18, 9, 0)),
        reship(status="FAILED", shipped_at=datetime(2026, 11, 1, 9, 0)),  # lower, but shipped earlier
        reship(status="QC_FAILED"),  # not shipped: the shipped ones are later
        reship(case_id=CASE_IDS[1], status="QC_FAILED"),
        reship(case_id=CASE_IDS[1], status="RESHIPPED"),  # none shipped: the lowest row
        reship(case_id=CASE_IDS[1], status="urgh"),  # its status unreadable: counted, never the latest
    )
    run = Sync(book, NOW)
    run.run()
    assert column(book, "Cases", "reship_status") == ["DELIVERED", "RESHIPPED", None]
    assert column(book, "Cases", "reship_count") == [3, 3, None]
    assert run.plan is not None
    ctx = run.plan.built[3]
    assert ctx.reships == {
        CASE_IDS[0]: CaseReships(3, "RS-202611-00001", "DELIVERED", datetime(2026, 11, 18, 9, 0, tzinfo=NOW.tzinfo)),
        CASE_IDS[1]: CaseReships(3, "RS-202611-00005", "RESHIPPED", None),
    }


def test_a_reshipment_row_sorted_between_read_and_write_is_found_by_its_id() -> None:
    """Rows 1 and 3 look alike but for their IDs when read; the purchaser sorts the tab before the
    write: the note of row 1's move still goes to row 1, found by its ID, and nothing is skipped."""
    book = book_of(reship(status="QC_FAILED"), reship(carrier="B"), reship(status="DELIVERED"))
    sync(book, NOW)
    set_cell(book, 1, "status", "DELIVERED")

    def purchaser_sorts(b: MemoryBackend) -> None:
        rows = b.grid(TAB)
        rows[1:] = list(reversed(rows[1:]))

    book.before_apply.append(purchaser_sorts)
    result = sync(book, NOW + timedelta(hours=1))
    assert result.applied is not None and result.applied.skipped_rows == []
    rows = book.grid(TAB)
    by_id = {r[0]: r[-1] for r in rows[1:]}
    assert by_id["RS-202611-00001"].startswith("status went from QC_FAILED straight to DELIVERED")
    assert by_id["RS-202611-00003"] is None


def test_a_chinese_workbook_gets_chinese_notes_flags_and_statuses() -> None:
    state = State()
    state.settings["lang"] = "zh"
    cases = grid("cases", [case(case_id=i, order_no=f"KB{k}") for k, i in enumerate(CASE_IDS)], "zh")
    reships = [
        reship(status="质检不合格", promised_by=datetime(2026, 11, 20, 7, 0)),
        reship(reship_id="见上", case_id="AS-202611-00099", status="已补发"),
    ]
    book = MemoryBackend({"售后单": cases, "补发": grid("reshipments", reships, "zh"), STATE_TAB: state.to_rows()})
    sync(book, NOW)
    rows = book.grid("补发")
    header = rows[0]
    at = {key: header.index(schemas()["reshipments"].by_key[key].label_zh) for key in ("delivery", "validation_errors", "status")}
    assert rows[1][at["delivery"]] == "逾期未送达 2天3小时"
    assert rows[2][at["validation_errors"]] == (
        "售后单号：AS-202611-00099 不在「售后单」页中；请从那里复制售后单号; 新补发单号：单号格原为 '见上'，不是补发单号（RS-YYYYMM-NNNNN）"
    )
    rows[1][at["status"]] = "已送达"
    sync(book, NOW + timedelta(hours=1))
    rows = book.grid("补发")
    assert rows[1][at["validation_errors"]] == "状态从「质检不合格」直接改为「已送达」，跳过了「已补发」；已按所填保留，请核对"
    assert rows[1][at["delivery"]] is None
    cases_rows = book.grid("售后单")
    shown = cases_rows[1][cases_rows[0].index("补发状态")]
    assert shown == "已送达" and cases_rows[1][cases_rows[0].index("补发次数")] == 1  # the other names no case of the tab


# -- invariant 4: a second sync with no edits writes nothing ----------------------------


def test_a_second_sync_with_no_edits_writes_nothing() -> None:
    book = book_of(
        reship(status="QC_FAILED", promised_by=datetime(2026, 11, 20, 9, 0)),
        reship(case_id="AS-202611-00099", reship_id="junk"),
        reship(case_id=CASE_IDS[2], shipped_at=datetime(2026, 11, 1, 9, 0), status="DELIVERED"),
    )
    sync(book, NOW)
    rows = book.grid(TAB)
    rows.append(copy.deepcopy(rows[1]))
    set_cell(book, 3, "status", "RESHIPPED")  # back from DELIVERED: a note
    later = NOW + timedelta(hours=1)
    first = sync(book, later)
    assert first.written and any(c.tab == TAB for c in first.changes)
    snapshot, writes = copy.deepcopy(book.sheets), book.writes
    again = sync(book, later)
    assert again.changes == [] and not again.written and book.writes == writes
    assert book.sheets == snapshot


def test_an_xlsx_workbook_gets_the_columns_and_a_second_sync_leaves_the_file_alone(tmp_path: Path) -> None:
    records = {
        "cases": [case(case_id=i, order_no=f"KB{k}") for k, i in enumerate(CASE_IDS)],
        "reshipments": [reship(promised_by=datetime(2026, 11, 20, 7, 0)), reship(case_id=CASE_IDS[1], status="QC_FAILED")],
    }
    path = tmp_path / "book.xlsx"
    XlsxBackend(path).create(template.build("en", records))
    sync(XlsxBackend(path, backups=0), NOW)
    sheets = XlsxBackend(path).read()
    rows = sheets[TAB].rows
    assert rows[0][: len(FIELDS)] == [schemas()["reshipments"].by_key[k].label_en for k in FIELDS]
    assert [r[0] for r in rows[1:3]] == ["RS-202611-00001", "RS-202611-00002"]
    assert rows[1][FIELDS.index("delivery")] == "LATE 2d 3h"
    cases_header = sheets["Cases"].rows[0]
    assert [r[cases_header.index("Reship count")] for r in sheets["Cases"].rows[1:4]] == [1, 1, None]
    before = path.read_bytes()
    assert not sync(XlsxBackend(path, backups=0), NOW).written
    assert path.read_bytes() == before


def test_the_sheet_tab_for_reshipments_reads_ids_as_typed_by_people() -> None:
    """A Reshipments tab laid out by hand: no Reship ID column yet, columns in another order."""
    rows = [["Status", "Case ID", "Promised by"], ["RESHIPPED", CASE_IDS[0], datetime(2026, 11, 21)]]
    book = book_of()
    book.sheets[TAB] = Sheet(TAB, rows)
    sync(book, NOW)
    header = book.grid(TAB)[0]
    assert header[3:] == ["Reship ID", "Delivery", "Validation errors"]  # added after the last used column
    assert book.grid(TAB)[1][3:5] == ["RS-202611-00001", "LATE 1d 10h"]
