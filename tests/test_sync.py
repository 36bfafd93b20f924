"""The sync end to end on an in-memory workbook: IDs, findings, idempotence, ownership, concurrent edits."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import NOW, case, column, grid, memory_book, write_book
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kakosheet.backends.memory import MemoryBackend
from kakosheet.errors import TabNotFound, UsageError
from kakosheet.schema import schemas
from kakosheet.sync import sync
from kakosheet.template import PROBLEMS_TAB as PROBLEMS
from kakosheet.template import SCORECARD_TAB as SCORECARD
from kakosheet.template import STATE_TAB

ID = re.compile(r"^AS-\d{6}-\d{5}$")
USER_KEYS = [f.key for f in schemas()["cases"].user_fields]


def user_cells(book: MemoryBackend, tab: str = "Cases") -> list[list[object]]:
    """Every cell of a tab outside the engine's columns, by row."""
    rows = book.grid(tab)
    engine = {i for i, label in enumerate(rows[0]) if label in {f.label_en for f in schemas()["cases"].engine_fields}}
    return [[v for i, v in enumerate(r) if i not in engine] for r in rows]


# -- invariant 2: permanent, unique IDs ------------------------------------------------


def test_every_nonblank_row_gets_a_unique_id_and_blank_rows_none() -> None:
    book = memory_book([case(order_no=f"KB{i}") for i in range(5)] + [{}] + [case(order_no="KB9")])
    result = sync(book, NOW)
    ids = column(book, "Cases", "case_id")
    assert [bool(i) for i in ids] == [True] * 5 + [False, True]
    assert all(ID.match(i) for i in ids if i)
    assert len(set(filter(None, ids))) == 6 == len(result.new_ids)


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Berlin", "Pacific/Apia"])
def test_a_new_id_carries_the_month_the_case_was_reported_in_the_workbook_s_zone(zone: str) -> None:
    """Reported long ago, just before now, in the future (now's month), or typed with another offset."""
    now = datetime(2026, 11, 1, 1, 30, tzinfo=ZoneInfo(zone))  # early on the 1st: the day before is October
    typed = [
        datetime(2026, 10, 3, 9, 0),
        now.replace(tzinfo=None) - timedelta(hours=2),
        now.replace(tzinfo=None) + timedelta(hours=1),
        now.replace(tzinfo=None) + timedelta(days=40),
        (now - timedelta(hours=3)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        None,
    ]
    book = memory_book([case(order_no=f"KB{i}", reported_at=t) for i, t in enumerate(typed)])
    sync(book, now, timezone=zone)
    months = [i.split("-")[1] for i in column(book, "Cases", "case_id")]
    assert months == ["202610", "202610", "202611", "202611", "202610", "202611"]


def test_ids_are_kept_and_never_reused_after_deletion() -> None:
    book = memory_book([case(order_no=f"KB{i}") for i in range(3)])
    sync(book, NOW)
    first = column(book, "Cases", "case_id")
    del book.grid("Cases")[3]  # the purchaser deletes the last row, AS-...-00003
    book.grid("Cases").append(grid("cases", [case(order_no="KB-new")])[1])
    sync(book, NOW + timedelta(hours=1))
    after = column(book, "Cases", "case_id")
    assert after[:2] == first[:2]
    assert after[2] not in first
    assert after[2] == "AS-202611-00004"


def test_ids_survive_the_state_tab_being_lost_without_collision() -> None:
    book = memory_book([case(order_no=f"KB{i}") for i in range(3)])
    sync(book, NOW)
    del book.sheets[STATE_TAB]
    book.grid("Cases").append(grid("cases", [case(order_no="KB-new")])[1])
    sync(book, NOW)
    ids = column(book, "Cases", "case_id")
    assert len(set(ids)) == 4


def test_copied_row_gets_a_new_id_and_the_original_keeps_its_own() -> None:
    book = memory_book([case(order_no="KB1"), case(order_no="KB2")])
    sync(book, NOW)
    rows = book.grid("Cases")
    rows.append(copy.deepcopy(rows[2]))  # copy the KB2 row, ID included, to the bottom
    result = sync(book, NOW + timedelta(minutes=5))
    ids = column(book, "Cases", "case_id")
    assert ids[0] == "AS-202611-00001" and ids[1] == "AS-202611-00002"
    assert ids[2] == "AS-202611-00003"
    notes = column(book, "Cases", "validation_errors")
    assert "AS-202611-00002" in notes[2] and "copied" in notes[2]
    assert result.new_ids == ["AS-202611-00003"]


def test_full_width_id_is_normalised_and_junk_id_replaced_with_a_note() -> None:
    book = memory_book([case(case_id="ＡＳ－２０２６１１－０００４２"), case(order_no="KB2", case_id="see above")])
    sync(book, NOW)
    ids = column(book, "Cases", "case_id")
    assert ids[0] == "AS-202611-00042"
    assert ids[1] == "AS-202611-00043"
    assert "see above" in column(book, "Cases", "validation_errors")[1]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(st.tuples(st.sampled_from(["add", "copy", "delete", "sync"]), st.integers(0, 50)), min_size=1, max_size=14))
def test_ids_stay_unique_and_permanent_whatever_rows_are_copied_or_deleted(ops: list[tuple[str, int]]) -> None:
    book = memory_book([case(order_no="KB0")])
    sync(book, NOW)
    ever: set[str] = set(column(book, "Cases", "case_id"))
    n = 1
    for op, k in ops:
        rows = book.grid("Cases")
        body = len(rows) - 1
        if op == "add":
            n += 1
            rows.append(grid("cases", [case(order_no=f"KB{n}")])[1])
        elif op == "copy" and body:
            rows.append(copy.deepcopy(rows[1 + k % body]))
        elif op == "delete" and body:
            del rows[1 + k % body]
        else:
            before = column(book, "Cases", "case_id")
            sync(book, NOW)
            after = column(book, "Cases", "case_id")
            assert all(after) and len(set(after)) == len(after)
            for old, new in zip(before, after, strict=True):
                if old and before.count(old) == 1:
                    assert new == old  # a unique ID is never changed
            fresh = set(after) - set(filter(None, before))
            assert not fresh & ever  # a new ID was never issued before, even to a deleted row
            ever |= set(after)
    sync(book, NOW)
    ids = column(book, "Cases", "case_id")
    assert len(set(ids)) == len(ids)


# -- invariant 3: bad input is reported, never dropped -----------------------------------


def test_bad_rows_are_reported_kept_and_still_tracked() -> None:
    book = memory_book(
        [
            case(order_no="KB1"),
            case(order_no="KB2", category="damagd", qty_affected="three"),
            case(order_no=None, supplier=None),
            case(order_no="KB4", reported_at="31/02/2026"),
        ]
    )
    before = user_cells(book)
    result = sync(book, NOW)
    assert user_cells(book) == before  # nothing dropped or changed
    ids = column(book, "Cases", "case_id")
    assert all(ids)  # invalid rows still get IDs
    errors = column(book, "Cases", "validation_errors")
    assert errors[0] is None
    assert "Problem type" in errors[1] and "damaged" in errors[1] and "Qty affected" in errors[1]
    assert "Order no." in errors[2] and "Supplier" in errors[2] and "required" in errors[2]
    assert "not a real date" in errors[3]
    problems = book.grid(PROBLEMS)
    assert problems[1] == ["Tab", "Row", "Column", "Problem", "Message"]
    listed = {(r[0], r[1], r[2]) for r in problems[2:]}
    assert ("Cases", 3, "Problem type (O)") in listed
    assert ("Cases", 4, "Supplier (J)") in listed
    assert ("Cases", 5, "Reported at (B)") in listed
    assert len(result.findings) == len(problems) - 2 == 5


def test_missing_required_column_is_one_finding_naming_it_and_the_tab() -> None:
    rows = grid("cases", [case(order_no=f"KB{i}") for i in range(50)])
    col = rows[0].index("Supplier")
    for r in rows:
        del r[col]
    book = MemoryBackend({"Cases": rows})
    result = sync(book, NOW)
    missing = [f for f in result.findings if f.code == "missing_column"]
    assert len(missing) == 1
    assert missing[0].tab == "Cases" and "Supplier" in missing[0].message
    assert len(result.findings) == 1
    assert all(column(book, "Cases", "case_id"))


def test_missing_cases_tab_is_an_error() -> None:
    with pytest.raises(TabNotFound, match="Cases"):
        sync(MemoryBackend({"Sheet1": [["a"]]}), NOW)


def test_naive_now_is_refused() -> None:
    with pytest.raises(UsageError):
        sync(memory_book([case()]), NOW.replace(tzinfo=None))


# -- invariant 4: a second sync changes nothing --------------------------------------------


def test_second_sync_at_the_same_now_changes_nothing() -> None:
    book = memory_book([case(order_no=f"KB{i}", status=s) for i, s in enumerate(["reported", "in_progress", "closed", None])])
    sync(book, NOW)
    snapshot = copy.deepcopy(book.sheets)
    writes = book.writes
    result = sync(book, NOW)
    assert result.changes == [] and not result.written
    assert book.writes == writes
    assert book.sheets == snapshot


cell_text = st.one_of(st.none(), st.text(min_size=1, max_size=12), st.sampled_from(["=1+1", "+86 1", "-3", "@x", "damagd", "破损", " Acme "]))
when = st.one_of(st.none(), st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 31)).map(lambda d: d.replace(microsecond=0)), st.sampled_from(["2026/11/03", "31/02/2026", "soon"]))


@st.composite
def case_rows(draw: st.DrawFn) -> list[dict[str, object]]:
    n = draw(st.integers(0, 8))
    out = []
    for i in range(n):
        out.append(
            {
                "reported_at": draw(when),
                "order_no": draw(st.one_of(st.none(), st.just(f"KB{i}"), cell_text)),
                "supplier": draw(st.one_of(st.sampled_from(["Acme", "义乌华美", "acme "]), cell_text)),
                "category": draw(st.one_of(st.sampled_from(["damaged", "lost", "质量问题", "delayed"]), cell_text)),
                "status": draw(st.one_of(st.none(), st.sampled_from(["reported", "in_progress", "closed", "on_hold", "finished"]))),
                "priority": draw(st.one_of(st.none(), st.sampled_from(["urgent", "low", "urgnt"]))),
                "qty_affected": draw(st.one_of(st.none(), st.integers(-2, 9), st.floats(allow_nan=True, allow_infinity=False, width=32), cell_text)),
                "description": draw(cell_text),
            }
        )
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=case_rows(), orders=st.lists(st.tuples(st.sampled_from(["Acme", "义乌华美", "Other"]), st.sampled_from(["2026-11", "2026-10", "bad"]), st.integers(0, 500)), max_size=4))
def test_sync_twice_equals_sync_once(rows: list[dict[str, object]], orders: list[tuple[str, str, int]]) -> None:
    book = memory_book(rows, orders=[{"supplier": s, "period": p, "orders": n} for s, p, n in orders])
    before = user_cells(book)
    sync(book, NOW)
    assert user_cells(book) == before
    once = copy.deepcopy(book.sheets)
    result = sync(book, NOW)
    assert result.changes == []
    assert book.sheets == once


def test_later_sync_only_changes_time_dependent_cells() -> None:
    book = memory_book([case(order_no="KB1", reported_at=datetime(2026, 11, 22, 9, 0))])
    sync(book, NOW)
    result = sync(book, NOW + timedelta(hours=3))
    changed = {c.key for c in result.changes if c.tab == "Cases"}
    assert changed <= {"overdue", "days_open"}


# -- invariant 6: nothing typed is executed -----------------------------------------------


def test_formula_like_text_flows_to_generated_tabs_as_text() -> None:
    evil = '=HYPERLINK("http://x","y")'
    book = memory_book([case(supplier=evil), case(order_no="KB2", category="=cmd|' /C calc'!A0")], orders=[{"supplier": evil, "period": "2026-11", "orders": 10}])
    sync(book, NOW)
    scorecard = book.grid(SCORECARD)
    assert any(row[1] == evil for row in scorecard[2:])
    problems = book.grid(PROBLEMS)
    assert any("=cmd|" in str(r[4]) for r in problems[2:])


# -- purchaser-owned cells and concurrent edits ---------------------------------------------


def test_unknown_columns_and_their_cells_are_kept() -> None:
    rows = grid("cases", [case(order_no="KB1"), case(order_no="KB2")])
    for r, extra in zip(rows, ["My notes", "call back", "=SUM(1,2)"], strict=True):
        r.insert(3, extra)
    book = MemoryBackend({"Cases": rows})
    sync(book, NOW)
    assert [r[3] for r in book.grid("Cases")] == ["My notes", "call back", "=SUM(1,2)"]


def test_chinese_headers_in_any_order_with_title_row_above() -> None:
    records = [case(order_no="KB1", category="破损"), case(order_no="KB2", category="lost")]
    rows = grid("cases", records, lang="zh")
    order = list(reversed(range(len(rows[0]))))
    rows = [["2026 售后登记"]] + [[r[i] for i in order] for r in rows]
    book = MemoryBackend({"售后单": rows})
    result = sync(book, NOW)
    assert result.findings == []
    header = book.grid("售后单")[1]
    ids = [r[header.index("售后单号")] for r in book.grid("售后单")[2:]]
    assert all(ID.match(i) for i in ids)


def test_engine_columns_missing_from_the_sheet_are_added_after_the_last_used_column() -> None:
    rows = [["Reported at", "Order no.", "Supplier", "Problem type", None, "note"], [datetime(2026, 11, 20), "KB1", "Acme", "lost", None, "keep me"]]
    book = MemoryBackend({"Cases": rows})
    sync(book, NOW)
    header = book.grid("Cases")[0]
    assert header[:6] == ["Reported at", "Order no.", "Supplier", "Problem type", None, "note"]
    assert header[6] == "Case ID"
    assert book.grid("Cases")[1][5] == "keep me"


def test_row_inserted_between_read_and_write_gets_no_other_rows_id() -> None:
    book = memory_book([case(order_no="KB1"), case(order_no="KB2")])

    def purchaser_inserts_a_row_at_the_top(b: MemoryBackend) -> None:
        b.grid("Cases").insert(1, grid("cases", [case(order_no="KB-late")])[1])

    book.before_apply.append(purchaser_inserts_a_row_at_the_top)
    result = sync(book, NOW)
    rows = book.grid("Cases")
    by_order = {r[4]: r[0] for r in rows[1:]}
    assert by_order["KB1"] == "AS-202611-00001" and by_order["KB2"] == "AS-202611-00002"
    assert by_order["KB-late"] is None  # left for the next sync, not given a neighbour's ID
    assert result.applied and not result.applied.skipped_rows
    book.before_apply.clear()
    sync(book, NOW)
    assert {r[4]: r[0] for r in book.grid("Cases")[1:]}["KB-late"] == "AS-202611-00003"


def test_row_edited_between_read_and_write_is_left_for_the_next_sync() -> None:
    book = memory_book([case(order_no="KB1"), case(order_no="KB2")])

    def purchaser_edits_row_2(b: MemoryBackend) -> None:
        b.grid("Cases")[2][4] = "KB2-fixed"

    book.before_apply.append(purchaser_edits_row_2)
    result = sync(book, NOW)
    assert book.grid("Cases")[2][4] == "KB2-fixed"
    assert book.grid("Cases")[2][0] is None
    assert result.applied and result.applied.skipped_rows == ["Cases!3"]


def test_rows_sorted_between_read_and_write_keep_their_own_flags() -> None:
    book = memory_book([case(order_no="KB1"), case(order_no="KB2", category="lost")])
    sync(book, NOW)

    def purchaser_sorts(b: MemoryBackend) -> None:
        rows = b.grid("Cases")
        rows[1:] = list(reversed(rows[1:]))

    book.grid("Cases")[1][schemas()["cases"].fields.index(schemas()["cases"].by_key["status"])] = "in_progress"
    book.before_apply.append(purchaser_sorts)
    sync(book, NOW + timedelta(hours=1))
    rows = book.grid("Cases")
    header = rows[0]
    by_order = {r[4]: r for r in rows[1:]}
    since = header.index("Status since")
    assert by_order["KB1"][0] == "AS-202611-00001"
    assert by_order["KB1"][since] == datetime(2026, 11, 22, 11, 0)
    assert by_order["KB2"][since] == datetime(2026, 11, 20, 9, 0)


def test_a_row_given_an_id_by_another_sync_meanwhile_is_not_given_a_second_one() -> None:
    book = memory_book([case(order_no="KB1"), case(order_no="KB2")])

    def another_sync_was_quicker(b: MemoryBackend) -> None:
        b.grid("Cases")[2][0] = "AS-202611-00077"

    book.before_apply.append(another_sync_was_quicker)
    result = sync(book, NOW)
    assert column(book, "Cases", "case_id") == ["AS-202611-00001", "AS-202611-00077"]
    assert result.applied is not None and result.applied.skipped_rows == ["Cases!3"]


def test_the_cycle_collector_runs_again_after_a_sync_even_one_that_fails() -> None:
    import gc

    book = memory_book(cases=[case()])
    assert gc.isenabled()
    sync(book, NOW)
    assert gc.isenabled()
    with pytest.raises(UsageError):
        sync(book, NOW, id_prefix="no spaces allowed")
    assert gc.isenabled()


def test_the_cycle_collector_is_paused_during_a_sync_and_resumed_after(tmp_path: Path) -> None:
    import gc

    from kakosheet.backends.xlsx import XlsxBackend

    seen = []
    assert gc.isenabled()
    sync(XlsxBackend(write_book(tmp_path / "a.xlsx", cases=3)), NOW, progress=lambda _: seen.append(gc.isenabled()))
    assert seen and not any(seen) and gc.isenabled()


def test_a_chinese_workbook_gets_its_findings_notes_and_bases_in_chinese(tmp_path: Path) -> None:
    from kakosheet import template
    from kakosheet.backends.xlsx import XlsxBackend

    records = {"cases": [case(category="damagd", order_no="KB1"), case(order_no="KB1"), case(supplier=None, order_no="KB3")]}
    path = tmp_path / "zh.xlsx"
    XlsxBackend(path).create(template.build("zh", records))
    summary = sync(XlsxBackend(path), NOW)
    assert summary.lang == "zh" and {f.code for f in summary.findings} >= {"misspelt_choice", "required"}
    sheets = XlsxBackend(path).read()
    rows = sheets["售后单"].rows
    header = rows[0]
    errors, basis = header.index("校验错误"), header.index("推荐依据")
    assert "是不是 '破损'" in rows[1][errors] and "did you mean" not in rows[1][errors]
    assert rows[3][errors].startswith("供应商：") and "required" not in rows[3][errors]
    assert all(r[basis] and not r[basis].isascii() for r in rows[2:4])  # the default rules' bases, in Chinese
    assert PROBLEMS not in sheets
    problems = sheets["问题清单"].rows
    assert any("是不是 '破损'" in str(r[4]) for r in problems[2:])


class _Sent:
    """An action that records when it ran, and how many writes the workbook had then."""

    def __init__(self, book: MemoryBackend):
        self.book, self.runs = book, []

    def run(self) -> str:
        self.runs.append(self.book.writes)
        return "sent"


def _sync_with_action(book: MemoryBackend, action: _Sent, **options: Any) -> Any:
    from kakosheet.sync import Sync

    class WithAction(Sync):
        def make_plan(self) -> Any:
            plan = super().make_plan()
            plan.actions.append(action)
            return plan

    return WithAction(book, NOW, **options).run()


def test_actions_run_once_after_the_write_even_when_the_plan_was_made_again() -> None:
    from kakosheet.errors import WorkbookChanged

    book = memory_book([case()])
    saves = []

    def someone_saves(b: MemoryBackend) -> None:  # the first write finds the workbook changed
        if not saves:
            saves.append(1)
            raise WorkbookChanged("memory workbook was saved meanwhile")

    book.before_apply.append(someone_saves)
    action = _Sent(book)
    summary = _sync_with_action(book, action)
    assert saves == [1] and book.writes == 1
    assert action.runs == [1]  # once, and only after the workbook was written
    assert summary.actions_done == ["sent"]


def test_no_action_runs_on_a_dry_run_or_when_the_write_never_succeeds() -> None:
    from kakosheet.errors import WorkbookChanged, WriteConflict

    book = memory_book([case()])
    action = _Sent(book)
    _sync_with_action(book, action, dry_run=True)
    assert action.runs == []

    def always_saved(b: MemoryBackend) -> None:
        raise WorkbookChanged("memory workbook was saved meanwhile")

    book.before_apply.append(always_saved)
    with pytest.raises(WriteConflict):
        _sync_with_action(book, action)
    assert action.runs == [] and book.writes == 0
