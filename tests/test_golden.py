"""Every summary tab of one small hand-made workbook, against golden files in tests/data/golden/:
the cases the issue of reports names (empty months, a supplier with no orders, one with orders
and no cases, cases with no supplier, cancelled, reopened, on hold across a month boundary,
names that differ only in full-width characters), played through four syncs. The figures of
each tab are checked against pandas in that tab's own test; the golden files hold the whole
layout, so that any change to a tab shows as a diff to review. To accept a change on purpose:
KAKOSHEET_GOLDEN=update pytest tests/test_golden.py, then read the diff."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from conftest import case, memory_book, type_status

from kakosheet.backends.memory import MemoryBackend
from kakosheet.parallel import Execution
from kakosheet.reports import tab_names
from kakosheet.sync import sync

GOLDEN = Path(__file__).parent / "data" / "golden"
D = datetime
T0 = D(2026, 10, 30, 10, tzinfo=UTC)
CASES = [
    case(order_no="G1", supplier="Acme", reported_at=D(2026, 9, 2, 9), status="closed", status_changed_at=D(2026, 9, 6, 9), category="damaged", claim_amount=12.5, currency="USD"),
    case(order_no="G2", supplier="ACME ", reported_at=D(2026, 9, 20, 9), status="completed", status_changed_at=D(2026, 10, 21, 9), category="lost", carrier="SF Express", region="US"),
    case(order_no="G3", supplier="Ａｃｍｅ", reported_at=D(2026, 10, 3, 9), category="damaged", carrier="ｓｆ express", region="US", packaging_damaged="yes"),
    case(order_no="G4", supplier="义乌华美", reported_at=D(2026, 10, 5, 9), status="cancelled", category="wrong_item"),
    case(order_no="G5", supplier="义乌华美", reported_at=D(2026, 10, 10, 9), category="wrong_item", responsible_party="supplier"),
    case(order_no="G6", supplier="Nobody Ltd", reported_at=D(2026, 10, 12, 9), category="quality_defect"),  # no orders
    case(order_no="G7", supplier=None, reported_at=D(2026, 10, 13, 9), category="delayed"),  # no supplier
    case(order_no="G8", supplier="Acme", reported_at=D(2026, 10, 25, 9), category="quality_defect"),  # on hold across the month end
    case(order_no="G9", supplier="义乌华美", reported_at=D(2026, 10, 26, 9), status="closed", status_changed_at=D(2026, 10, 28, 9), category="damaged"),  # reopened
]
ORDERS = [
    {"supplier": "Acme", "period": "2026-09", "orders": 120, "product_category": "Shoes"},
    {"supplier": "Acme", "period": "2026-10", "orders": 100, "product_category": "Shoes"},
    {"supplier": "义乌华美", "period": "2026-10", "orders": 60},
    {"supplier": "Quiet Co", "period": "2026-10", "orders": 45},  # orders, no cases
]
IMPROVEMENTS = [{"scope_type": "supplier", "scope": "Acme", "action": "QC visit", "started_at": D(2026, 10, 1), "owner": "王芳"}]
# (when, order no, status): each typed with Status changed at, then synced an hour later
MOVES = [
    (D(2026, 10, 28, 12), "G8", "responsibility_confirmed"),
    (D(2026, 10, 29, 15), "G8", "on_hold"),
    (D(2026, 11, 2, 10), "G8", "responsibility_confirmed"),
    (D(2026, 11, 3, 9), "G9", "in_progress"),  # reopened
    (D(2026, 11, 5, 9), "G9", "closed"),
    (D(2026, 11, 6, 9), "G3", "responsibility_confirmed"),
]
END = D(2026, 11, 22, 10, tzinfo=UTC)


def played(execution: Execution | None = None) -> MemoryBackend:
    book = memory_book(CASES, orders=ORDERS, improvements=IMPROVEMENTS)
    sync(book, T0, execution=execution)
    for at, order_no, status in MOVES:
        type_status(book, order_no, status, at)
        sync(book, at.replace(tzinfo=UTC) + timedelta(hours=1), execution=execution)
    sync(book, END, execution=execution)
    return book


def _json(value: object) -> object:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def tabs(book: MemoryBackend) -> dict[str, list[list[object]]]:
    return {name: [[_json(v) for v in row] for row in book.grid(name)] for name in tab_names("en")}


@pytest.fixture(scope="module")
def book() -> MemoryBackend:
    return played()


@pytest.mark.parametrize("name", tab_names("en"))
def test_each_tab_is_as_the_golden_file_says(book: MemoryBackend, name: str) -> None:
    got = tabs(book)[name]
    path = GOLDEN / f"{name.replace(' ', '_').replace('&', 'and')}.json"
    if os.environ.get("KAKOSHEET_GOLDEN") == "update":
        GOLDEN.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(got, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    want = json.loads(path.read_text(encoding="utf-8"))
    assert got == want, f"{name} differs from {path.name}; if the change is meant, update the golden files (see this module's docstring)"


def test_the_golden_story_is_the_same_in_two_processes(book: MemoryBackend) -> None:
    assert tabs(played(Execution("fork", split_min=2))) == tabs(book)
