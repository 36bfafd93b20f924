"""A large Cases tab worked through by two processes gives exactly what one pass gives."""

from __future__ import annotations

import copy
import gc
import os
import random
import shutil
import signal
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import NOW, case, memory_book, write_book

from kakosheet.backends import forked
from kakosheet.backends.memory import MemoryBackend
from kakosheet.backends.xlsx import XlsxBackend
from kakosheet.ids import IdFacts, assign_ids
from kakosheet.parallel import Execution
from kakosheet.schema import schemas
from kakosheet.state import State
from kakosheet.sync import SyncSummary, sync
from kakosheet.table import Sheet, find_header
from kakosheet.validate import read_ids, record_rows

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the second process is forked on Linux only")

CASES = 300
SPLIT_AT = 50  # records from which the tests' syncs fork


@pytest.fixture(autouse=True)
def _no_other_threads() -> None:
    """The sync forks only when it runs no other thread. Threads earlier tests left serving
    keep-alive connections (the Sheets fake's) end when those connections are collected."""
    gc.collect()
    for thread in threading.enumerate():
        if thread is not threading.current_thread():
            thread.join(timeout=10)
    assert threading.active_count() == 1, f"threads still running: {threading.enumerate()}"


class ForkSpy:
    """Counts the children started (through the real Forked.start), optionally killing each at once."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, kill: bool = False):
        self.started: list[forked.Forked] = []
        real = forked.Forked.start.__func__  # type: ignore[attr-defined]

        def start(cls: type[forked.Forked], *args: Any, **kwargs: Any) -> forked.Forked | None:
            child = real(cls, *args, **kwargs)
            if child is not None:
                self.started.append(child)
                if kill:
                    os.kill(child.pid, signal.SIGKILL)
            return child

        monkeypatch.setattr(forked.Forked, "start", classmethod(start))


def _messy_cases(rng: random.Random) -> list[dict[str, Any]]:
    """Cases with blank rows, bad values and text dates among them, everywhere in the tab."""
    rows: list[dict[str, Any]] = []
    for i in range(CASES):
        rec = case(
            reported_at=datetime(2026, 8 + rng.randrange(4), 1 + rng.randrange(28), rng.randrange(24), 0),
            order_no=f"KB{i:05d}",
            supplier=rng.choice(["Acme", "Shenzhen Star 深圳之星", "Yiwu Goods", " acme "]),
            category=rng.choice(["quality_defect", "wrong_item", "missing_part", "damaged_in_transit", "not a category"]),
            status=rng.choice(["reported", "investigating", "supplier_contacted", "completed", "on_hold"]),
        )
        if i % 37 == 5:
            rec["reported_at"] = "2026-10-0x"  # unreadable
        if i % 41 == 7:
            rec["reported_at"] = "2026/09/15 08:30"  # text, readable
        if i % 53 == 9:
            rec["reported_at"] = datetime(2027, 3, 1)  # in the future
        rows.append(rec)
        if i % 29 == 3:
            rows.append({})  # a blank row
    return rows


ORDERS = [  # the scorecard counts cases outside these months apart, in both parts
    {"supplier": "Acme", "period": "2026-09", "orders": 900},
    {"supplier": "ACME", "period": "2026-10", "orders": 700},
    {"supplier": "Shenzhen Star 深圳之星", "period": "2026-11", "orders": 400},
]


def _edit(book: MemoryBackend, rng: random.Random) -> None:
    """Between syncs: statuses changed in both parts, a top row copied to the bottom (with its ID),
    junk typed into an ID cell, a row deleted."""
    rows = book.grid("Cases")
    head = rows[0]
    status, case_id = head.index("Status"), head.index("Case ID")
    for r in rng.sample(range(1, len(rows)), 40):
        if len(rows[r]) > status and rows[r][status]:
            rows[r][status] = rng.choice(["investigating", "completed", "closed", "reported"])
    rows.append(copy.deepcopy(rows[3]))
    rows[-20][case_id] = "see row 4"
    del rows[len(rows) // 2]


def _report(result: SyncSummary) -> tuple[Any, ...]:
    return (
        result.rows_read, result.new_ids, result.findings, [str(c) for c in result.changes], result.cells_changed,
        result.tabs_rewritten, result.overdue, result.due_soon,
    )


def _two_syncs(split_at: int) -> tuple[MemoryBackend, list[tuple[Any, ...]]]:
    run = Execution(split_min=split_at)
    rng = random.Random(7)
    book = memory_book(_messy_cases(rng), orders=ORDERS)
    reports = [_report(sync(book, NOW, execution=run))]
    _edit(book, rng)
    reports.append(_report(sync(book, NOW + timedelta(days=3, hours=5), execution=run)))
    return book, reports


def test_two_processes_give_the_workbook_and_report_one_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    one, one_reports = _two_syncs(split_at=10**9)
    spy = ForkSpy(monkeypatch)
    two, two_reports = _two_syncs(split_at=SPLIT_AT)
    assert len(spy.started) == 2 and all(child.status == 0 for child in spy.started)  # each sync forked, and its child did its part
    assert two_reports == one_reports
    assert two.sheets == one.sheets  # every tab, the state (its log of status changes and new IDs) too
    assert one_reports[0][2] and one_reports[1][3]  # the book has findings and the resync changed cells


def test_a_child_that_dies_leaves_its_part_to_the_sync(monkeypatch: pytest.MonkeyPatch) -> None:
    one, one_reports = _two_syncs(split_at=10**9)
    spy = ForkSpy(monkeypatch, kill=True)
    two, two_reports = _two_syncs(split_at=SPLIT_AT)
    assert len(spy.started) == 2 and all(child.status == -signal.SIGKILL for child in spy.started)
    assert two_reports == one_reports
    assert two.sheets == one.sheets


def test_small_tabs_are_worked_through_in_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = ForkSpy(monkeypatch)
    sync(memory_book(_messy_cases(random.Random(1))), NOW, execution=Execution(split_min=CASES + 100))
    assert spy.started == []


def test_a_split_xlsx_sync_sets_the_sheet_xml_aside_and_gives_the_same_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The XML kept from the read is let go while two processes work, and unpacked again for the write."""
    source = write_book(tmp_path / "book.xlsx", cases=CASES)
    files = {}
    unpacked: list[bool] = []
    real_unpack = XlsxBackend._unpack

    def unpack(self: XlsxBackend, part: str, stamp: Any) -> bytes | None:
        xml = real_unpack(self, part, stamp)
        unpacked.append(xml is not None)
        return xml

    monkeypatch.setattr(XlsxBackend, "_unpack", unpack)
    spy = ForkSpy(monkeypatch)
    for name, split_at in (("one", 10**9), ("two", SPLIT_AT)):
        path = shutil.copy(source, tmp_path / f"{name}.xlsx")
        backend = XlsxBackend(path, backups=0)
        backend.prefetch()  # as the program does: the read keeps the sheet's XML for the write
        sync(backend, NOW, execution=Execution(split_min=split_at))
        files[name] = Path(path).read_bytes()
    assert len(spy.started) == 1 and spy.started[0].status == 0
    assert unpacked == [True]
    assert files["two"] == files["one"]


def test_ids_are_read_once_from_the_id_column_and_assigned_from_that() -> None:
    """read_ids, the one reader of the ID column: a full-width ID is an ID, junk is quoted in the
    note of the new ID it gets, a blank cell gets a new ID quietly, a copied row's ID is reissued."""
    book = memory_book(_messy_cases(random.Random(3)))
    sync(book, NOW)
    _edit(book, random.Random(4))
    rows = book.grid("Cases")
    case_id = rows[0].index("Case ID")
    kept = rows[10][case_id]
    rows[10][case_id] = kept.replace("AS", "ＡＳ")  # full width: still an ID
    rows[11][case_id] = 12345.0
    rows[12][case_id] = "   "
    rows.append(copy.deepcopy(rows[10]))
    sheet = Sheet("Cases", copy.deepcopy(rows))
    tab = schemas()["cases"]
    header = find_header(sheet, tab)
    assert header is not None
    records = record_rows(tab, sheet, header)
    ids, raw_ids, _ = read_ids(tab, sheet, header, records, NOW.tzinfo)  # type: ignore[arg-type]
    at = {row: i for i, row in enumerate(records)}
    assert ids[at[11]] == kept and ids[at[len(rows)]] == kept
    assert ids[at[12]] is None and raw_ids[at[12]] == 12345.0 and ids[at[13]] is None and raw_ids[at[13]] is None
    state = State()
    assigned, new = assign_ids(IdFacts(records, ids, [None] * len(ids), raw_ids), state, NOW, NOW.tzinfo, "AS")  # type: ignore[arg-type]
    assert len(set(assigned)) == len(assigned) and assigned[at[11]] == kept and assigned[at[len(rows)]] in new
    assert {event[2] for event in state.log} >= {"id_replaced", "id_reassigned"}
