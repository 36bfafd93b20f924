"""Every registered summary tab: parts merged in row order render as one pass over all cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from conftest import NOW, grid
from hypothesis import given, settings
from hypothesis import strategies as st

from kakosheet import engine
from kakosheet.engine import CaseFacts, month_of
from kakosheet.findings import Finding
from kakosheet.history import Change
from kakosheet.ids import IdFacts
from kakosheet.reports import REPORTS, Setting, tab_names
from kakosheet.schema import schemas
from kakosheet.state import State
from kakosheet.table import Sheet, find_header
from kakosheet.template import build
from kakosheet.validate import parse_tab

SUPPLIERS = [None, "Acme", " acme ", "ＡＣＭＥ", "Bolt 义乌", "Cargo", "Nobody"]
CATEGORIES = [None, "lost", "damaged", "wrong_item", "quality_defect"]
STATUSES = ["reported", "responsibility_confirmed", "in_progress", "completed", "closed", "cancelled", "on_hold"]
FLAGS = [None, "ON_TRACK", "DUE_SOON", "OVERDUE"]


def _setting(lang: str) -> Setting:
    orders = [
        {"supplier": "Acme", "period": "2026-10", "orders": 120},
        {"supplier": "ACME", "period": "2026-11", "orders": 80},
        {"supplier": "Bolt 义乌", "period": "2026-11", "orders": 30, "product_category": "Shoes"},
        {"supplier": "Cargo", "period": "2026-09", "orders": 0},
    ]
    suppliers = [{"supplier": "Bolt 义乌", "contact_email": "bolt@example.com"}]
    tabs = {}
    for key, records in (("orders", orders), ("suppliers", suppliers)):
        sheet = Sheet(schemas()[key].name_en, grid(key, records))
        header = find_header(sheet, schemas()[key])
        assert header is not None
        tabs[key] = parse_tab(schemas()[key], sheet, header, UTC, NOW)
    ctx = engine.prepare(engine.Inputs(tabs=tabs, state=State(), now=NOW, tz=UTC, lang=lang), IdFacts([], [], [], []))
    start = datetime(2026, 11, 1, 9, tzinfo=UTC)
    moves = {
        f"AS-202611-{i:05d}": (Change("reported", "responsibility_confirmed", start + timedelta(hours=i)), Change("responsibility_confirmed", "on_hold", start + timedelta(hours=2 * i)))
        for i in range(0, 40, 3)
    }
    return Setting(tabs, NOW, UTC, lang, moves=moves, timer=ctx.timer())


@st.composite
def cases(draw: st.DrawFn) -> list[CaseFacts]:
    n = draw(st.integers(0, 40))
    out = []
    for i in range(n):
        flag = draw(st.sampled_from(FLAGS))
        late = timedelta(minutes=draw(st.integers(1, 60 * 24 * 20))) if flag == "OVERDUE" else None
        reported = datetime(2026, 9, 1, tzinfo=UTC) + timedelta(hours=draw(st.integers(0, 24 * 85)))
        out.append(
            CaseFacts(
                f"AS-202611-{i:05d}", i + 2, draw(st.sampled_from(SUPPLIERS)), draw(st.sampled_from(CATEGORIES)), draw(st.sampled_from(STATUSES)),
                None, draw(st.sampled_from([reported, None])), flag, late, NOW - late if late else None,
                draw(st.sampled_from([None, "王芳", "Li Wei"])), None, None,
            )
        )
        resolved = out[-1].status in ("completed", "closed") and out[-1].reported_at is not None and draw(st.booleans())
        out[-1] = out[-1]._replace(
            month=month_of(out[-1].reported_at, UTC) if out[-1].reported_at else None,
            closed_at=out[-1].reported_at + timedelta(hours=draw(st.integers(0, 24 * 40))) if resolved else None,
            within_cycle=draw(st.sampled_from([True, False, None])) if resolved else None,
            claim=draw(st.sampled_from([None, 0.1, 12.5, 1e6 / 3])),
            currency=draw(st.sampled_from([None, "USD", "CNY"])),
            product_category=draw(st.sampled_from([None, "Shoes", "ｓｈｏｅｓ", "Bags"])),
            suggested=draw(st.sampled_from([None, "supplier", "carrier"])),
            rule=draw(st.sampled_from([None, 0, 3])),
            confirmed=draw(st.sampled_from([None, "supplier", "warehouse"])),
            priority=draw(st.sampled_from(["normal", "urgent"])),
            changes=(Change("responsibility_confirmed", "plan_agreed", NOW - timedelta(hours=i + 1)),) if draw(st.booleans()) else (),
        )
        out[-1] = out[-1]._replace(party=out[-1].confirmed or out[-1].suggested)
    return out


@settings(max_examples=60, deadline=None)
@given(facts=cases(), cuts=st.lists(st.integers(0, 40), max_size=4), lang=st.sampled_from(["en", "zh"]))
def test_every_report_merged_from_parts_renders_as_one_pass(facts: list[CaseFacts], cuts: list[int], lang: str) -> None:
    setting = _setting(lang)
    findings = [Finding("Cases", 3, "Supplier (J)", "required", "missing; this column is required, fill it in")]
    bounds = sorted({0, len(facts), *(min(c, len(facts)) for c in cuts)})
    for report in REPORTS:
        whole = report(setting)
        whole.add(facts)
        parts = []
        for start, end in zip(bounds, bounds[1:], strict=False):
            part = report(setting)
            part.add(facts[start:end])
            parts.append(part)
        merged = parts[0] if parts else report(setting)
        for later in parts[1:]:
            merged = merged.merge(later)
        assert merged.render(setting, findings) == whole.render(setting, findings), report.__name__


def test_the_template_has_a_placeholder_tab_for_every_report() -> None:
    for lang in ("en", "zh"):
        names = tab_names(lang)
        assert len(set(names)) == len(REPORTS)
        assert build(lang).generated == names
    assert "逾期清单" in tab_names("zh") and "Overdue" in tab_names("en")


def test_a_tab_is_shown_already_only_when_every_cell_it_shows_is_there_and_nothing_else() -> None:
    """same_grid decides whether a summary tab is rewritten: a row read is as wide as the sheet
    (blank past what the tab shows), numbers come back as floats and times as their serials."""
    from kakosheet.diff import same_grid
    from kakosheet.patch import GeneratedTab

    when = datetime(2026, 11, 2, 9, 30)
    tab = GeneratedTab("T", [["title"], ["a", "b", "c"], ["x", 3, when], ["y"]])
    read = [["title", None, None, None], ["a", "b", "c", None], ["x", 3.0, when, None], ["y", None, None, None], [None] * 4]
    assert same_grid(Sheet("T", read), tab)
    assert same_grid(Sheet("T", [r[:3] for r in read]), tab)
    serial = [*read[:2], ["x", 3.0, 46328.395833333336, None], *read[3:]]  # the time as Excel's serial number
    assert same_grid(Sheet("T", serial), tab)
    for row, col, value in [(2, 3, "left over"), (3, 1, ""), (3, 2, 4.0), (0, 3, "z")]:
        other = [list(r) for r in read]
        other[row][col] = value
        assert same_grid(Sheet("T", other), tab) is (value == "")  # a blank read as '' is blank
    assert not same_grid(Sheet("T", read[:3]), tab)
    assert not same_grid(Sheet("T", read, hidden=True), tab)
