"""Native charts on a Google Sheet's generated tabs, end to end through real gspread and google-auth
against the local fake: added on the first sync, updated in place later, never doubled, and
never a chart on a purchaser's own tab."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from conftest import NOW
from gspread.exceptions import APIError
from sheets_fake import FakeSheets, make_client
from test_gsheets import kinds, new_sheet

from kakosheet.backends.gsheets import GSheetsBackend
from kakosheet.patch import Chart
from kakosheet.sync import Sync, sync
from kakosheet.template import SCORECARD_TAB as SCORECARD

PROBLEMS = "Problem Types"
TREND = "Monthly Trend"
CHART_TABS = (SCORECARD, PROBLEMS, TREND)


def structural(fake: FakeSheets, sid: str) -> list[list[dict[str, Any]]]:
    """Every structural batchUpdate the sync sends from now on, as its list of requests."""
    seen: list[list[dict[str, Any]]] = []

    def hook(method: str, path: str, body: Any) -> None:
        if path.endswith(f"{sid}:batchUpdate"):
            seen.append(body["requests"])

    fake.before_request(hook)
    return seen


def kinds_of(batches: list[list[dict[str, Any]]]) -> Counter[str]:
    return Counter(next(iter(r)) for batch in batches for r in batch)


def run(sid: str, when: Any) -> dict[str, Chart]:
    """Sync the sheet as of `when`; the charts the sync drew, by tab."""
    s = Sync(GSheetsBackend(f"gsheets://{sid}"), when)
    s.run()
    assert s.plan is not None
    return {g.name: c for g in s.plan.patch.generated for c in g.charts}


def by_tab(fake: FakeSheets, sid: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for chart in fake.charts(sid):
        out.setdefault(chart["sheet"], []).append(chart)
    return out


def only(fake: FakeSheets, sid: str, tab: str) -> dict[str, Any]:
    charts = by_tab(fake, sid).get(tab, [])
    assert len(charts) == 1, (tab, charts)
    return charts[0]


def cells(fake: FakeSheets, sid: str, tab: str, data: dict[str, Any]) -> list[Any]:
    """The values a chart's domain or series reads, from the tab as it is now (one column)."""
    (gr,) = data["sourceRange"]["sources"]
    assert gr.get("sheetId", 0) == fake.sheet_id(sid, tab)  # the tab's own sheet
    assert gr.get("endColumnIndex", 0) - gr.get("startColumnIndex", 0) == 1
    rows = fake.values(sid, tab)
    col = gr.get("startColumnIndex", 0)
    return [rows[r][col] if r < len(rows) and col < len(rows[r]) else None for r in range(gr.get("startRowIndex", 0), gr["endRowIndex"])]


def drawn(chart: Chart, column: int, rows: list[list[Any]]) -> list[Any]:
    """What `chart` says it draws from `column`: its header cell, then its rows."""
    _, first, last = chart.categories
    return [rows[r - 1][column] for r in [chart.header_row, *range(first, last + 1)]]


def add_supplier(fake: FakeSheets, sid: str, name: str, cases: int, orders: int) -> None:
    """A new supplier, typed in by a purchaser: its orders this month and `cases` cases."""
    header = fake.values(sid, "Cases")[0]
    rows = []
    for k in range(cases):
        row = [""] * len(header)
        for label, value in (("Reported at", "2026-11-20 09:00"), ("Order no.", f"KB-NEW-{k}"), ("Supplier", name), ("Problem type", "lost")):
            row[header.index(label)] = value
        rows.append(row)
    fake.set_values(sid, "Cases", f"A{len(fake.values(sid, 'Cases')) + 1}", rows)
    fake.set_values(sid, "Orders", f"A{len(fake.values(sid, 'Orders')) + 1}", [[name, "2026-11", orders, orders]])


def test_first_sync_adds_one_chart_per_report_on_its_own_tab(fake: FakeSheets) -> None:
    sid = new_sheet(fake, 40)
    batches = structural(fake, sid)
    charts = run(sid, NOW)
    assert set(charts) == set(CHART_TABS)
    assert kinds(fake) == Counter({"metadata": 1, "values read": 2, "structural": 1, "values write": 1})  # the charts ride in the one structural batch
    assert kinds_of(batches)["addChart"] == 3
    assert set(by_tab(fake, sid)) == set(CHART_TABS) and all(len(c) == 1 for c in by_tab(fake, sid).values())

    for tab, chart in charts.items():
        got = only(fake, sid, tab)
        assert got["chartId"] == chart.chart_id
        assert got["spec"]["title"] == chart.title
        basic = got["spec"]["basicChart"]
        rows = fake.values(sid, tab)
        (domain,) = basic["domains"]
        assert cells(fake, sid, tab, domain["domain"]) == drawn(chart, chart.categories[0], rows)
        assert [cells(fake, sid, tab, s["series"]) for s in basic["series"]] == [drawn(chart, s.column, rows) for s in chart.series]
        assert basic.get("headerCount") == 1  # the header cell names each series in the legend
        overlay = got["position"]["overlayPosition"]
        anchor = overlay["anchorCell"]  # zeros are left out, as the API's JSON does
        assert (anchor.get("sheetId", 0), anchor.get("rowIndex", 0), anchor.get("columnIndex", 0)) == (fake.sheet_id(sid, tab), chart.anchor[1], chart.anchor[0])
        assert (overlay["widthPixels"], overlay["heightPixels"]) == (chart.size[0] * 100, chart.size[1] * 21)

    score = only(fake, sid, SCORECARD)["spec"]["basicChart"]
    assert score["chartType"] == "BAR" and score["legendPosition"] == "NO_LEGEND"
    assert [s["targetAxis"] for s in score["series"]] == ["BOTTOM_AXIS"]
    suppliers, rates = cells(fake, sid, SCORECARD, score["domains"][0]["domain"]), cells(fake, sid, SCORECARD, score["series"][0]["series"])
    assert suppliers[0] == "Supplier" and rates[0] == "After-sales rate"
    table = fake.values(sid, SCORECARD)
    assert suppliers[1:] == [r[1] for r in table[2 : 2 + len(suppliers) - 1]]  # the worst suppliers, from the top of the ranking
    assert all(isinstance(v, float) and 0 < v < 1 for v in rates[1:]) and rates[1:] == sorted(rates[1:], reverse=True)
    assert only(fake, sid, SCORECARD)["spec"]["title"] == f"After-sales rate, worst {len(suppliers) - 1} suppliers"

    pareto = only(fake, sid, PROBLEMS)["spec"]["basicChart"]
    assert pareto["chartType"] == "COMBO" and pareto["legendPosition"] == "BOTTOM_LEGEND"
    assert [(s["type"], s["targetAxis"]) for s in pareto["series"]] == [("COLUMN", "LEFT_AXIS"), ("LINE", "RIGHT_AXIS")]
    shares = cells(fake, sid, PROBLEMS, pareto["series"][1]["series"])
    assert shares[0] == "Cumulative share" and shares[-1] == pytest.approx(1.0)

    trend = only(fake, sid, TREND)["spec"]["basicChart"]
    assert trend["chartType"] == "COMBO" and trend["legendPosition"] == "BOTTOM_LEGEND"
    assert [(s["type"], s["targetAxis"]) for s in trend["series"]] == [("LINE", "LEFT_AXIS"), ("LINE", "RIGHT_AXIS")]
    months = cells(fake, sid, TREND, trend["domains"][0]["domain"])
    assert months[0] == "Month" and months[-1] == "2026-11"


def test_a_resync_leaves_the_charts_alone_and_sends_no_batch_update(fake: FakeSheets) -> None:
    sid = new_sheet(fake, 40)
    run(sid, NOW)
    before = fake.charts(sid)
    fake.reset_log()
    batches = structural(fake, sid)
    sync(GSheetsBackend(f"gsheets://{sid}"), NOW)
    assert kinds(fake) == Counter({"metadata": 1, "values read": 1})
    # an hour later every generated tab is rewritten (its title line says when), but the charts
    # read back as they were sent (the API leaves out zeros and adds defaults): nothing to change
    fake.reset_log()
    sync(GSheetsBackend(f"gsheets://{sid}"), NOW + timedelta(hours=1))
    assert kinds(fake)["values write"] == 1 and "structural" not in kinds(fake)
    assert batches == [] and fake.charts(sid) == before


def test_a_later_sync_updates_the_same_charts_in_place(fake: FakeSheets) -> None:
    sid = new_sheet(fake, 40)
    first = run(sid, NOW)
    ids = {c["sheet"]: c["chartId"] for c in fake.charts(sid)}
    score_before = only(fake, sid, SCORECARD)
    add_supplier(fake, sid, "Zeta Newco", cases=9, orders=30)  # the worst supplier now: one more bar, the tables grow a row
    fake.reset_log()
    batches = structural(fake, sid)
    later = run(sid, NOW + timedelta(days=40))
    sent = kinds_of(batches)
    assert len(batches) == 1 and "addChart" not in sent and "deleteEmbeddedObject" not in sent
    # a request for each chart drawn otherwise than before, and none for the others
    respec = {first[t].chart_id for t in CHART_TABS if (first[t].title, first[t].kind, first[t].categories, first[t].series) != (later[t].title, later[t].kind, later[t].categories, later[t].series)}
    moved = {first[t].chart_id for t in CHART_TABS if (first[t].anchor, first[t].size) != (later[t].anchor, later[t].size)}
    assert first[SCORECARD].chart_id in respec & moved
    assert {r["updateChartSpec"]["chartId"] for r in batches[0] if "updateChartSpec" in r} == respec and sent["updateChartSpec"] == len(respec)
    assert {r["updateEmbeddedObjectPosition"]["objectId"] for r in batches[0] if "updateEmbeddedObjectPosition" in r} == moved
    assert sent["updateEmbeddedObjectPosition"] == len(moved)
    assert {c["sheet"]: c["chartId"] for c in fake.charts(sid)} == ids  # one chart a tab, the same ones
    assert all(len(c) == 1 for c in by_tab(fake, sid).values())

    score = only(fake, sid, SCORECARD)
    assert score["spec"] != score_before["spec"] and score["position"] != score_before["position"]
    assert score["spec"]["title"] == later[SCORECARD].title != first[SCORECARD].title
    suppliers = cells(fake, sid, SCORECARD, score["spec"]["basicChart"]["domains"][0]["domain"])
    assert suppliers[1] == "Zeta Newco" and len(suppliers) == len(cells(fake, sid, SCORECARD, score_before["spec"]["basicChart"]["domains"][0]["domain"])) + 1
    assert score["position"]["overlayPosition"]["anchorCell"].get("rowIndex", 0) == later[SCORECARD].anchor[1]
    fake.reset_log()
    sync(GSheetsBackend(f"gsheets://{sid}"), NOW + timedelta(days=40))
    assert kinds(fake) == Counter({"metadata": 1, "values read": 1})


def test_a_chart_changed_by_hand_on_a_generated_tab_is_put_back(fake: FakeSheets) -> None:
    sid = new_sheet(fake, 40)
    run(sid, NOW)
    pareto, trend = only(fake, sid, PROBLEMS), only(fake, sid, TREND)
    spec = {**pareto["spec"], "title": "mine", "basicChart": {**pareto["spec"]["basicChart"], "chartType": "COLUMN", "series": pareto["spec"]["basicChart"]["series"][:1]}}
    spec["basicChart"]["series"] = [{k: v for k, v in s.items() if k != "type"} for s in spec["basicChart"]["series"]]
    fake.apply_requests(sid, [
        {"updateChartSpec": {"chartId": pareto["chartId"], "spec": spec}},
        {"updateEmbeddedObjectPosition": {"objectId": trend["chartId"], "newPosition": {"overlayPosition": {"anchorCell": {"sheetId": trend["sheetId"], "rowIndex": 40, "columnIndex": 3}}}, "fields": "anchorCell"}},
    ])
    batches = structural(fake, sid)
    run(sid, NOW + timedelta(hours=1))
    assert kinds_of(batches) == Counter({"updateChartSpec": 1, "updateEmbeddedObjectPosition": 1})
    assert only(fake, sid, PROBLEMS) == pareto and only(fake, sid, TREND) == trend


def test_charts_on_the_purchasers_own_tabs_are_never_touched(fake: FakeSheets) -> None:
    sid = new_sheet(fake, 40)
    cases = fake.sheet_id(sid, "Cases")
    column = {"sourceRange": {"sources": [{"sheetId": cases, "startRowIndex": 0, "endRowIndex": 41, "startColumnIndex": 8, "endColumnIndex": 9}]}}
    mine = {
        "chartId": 777,
        "spec": {"title": "Qty per case", "basicChart": {"chartType": "LINE", "domains": [{"domain": column}], "series": [{"series": column}], "headerCount": 1}},
        "position": {"overlayPosition": {"anchorCell": {"sheetId": cases, "rowIndex": 2, "columnIndex": 20}, "widthPixels": 400, "heightPixels": 200}},
    }
    fake.apply_requests(sid, [{"addChart": {"chart": mine}}])
    before = [c for c in fake.charts(sid) if c["sheet"] == "Cases"]
    run(sid, NOW)
    add_supplier(fake, sid, "Zeta Newco", cases=9, orders=30)
    run(sid, NOW + timedelta(days=40))
    assert [c for c in fake.charts(sid) if c["sheet"] == "Cases"] == before
    assert set(by_tab(fake, sid)) == {"Cases", *CHART_TABS}


def test_a_purchasers_chart_holding_a_reports_chart_id_is_left_alone(fake: FakeSheets) -> None:
    sid = new_sheet(fake, 40)
    wanted = run(sid, NOW)  # the IDs a new state gives the charts (the same on any sheet)
    new = new_sheet(fake, 40)
    cases = fake.sheet_id(new, "Cases")
    column = {"sourceRange": {"sources": [{"sheetId": cases, "startRowIndex": 0, "endRowIndex": 10, "startColumnIndex": 8, "endColumnIndex": 9}]}}
    theirs = {"chartId": wanted[PROBLEMS].chart_id, "spec": {"basicChart": {"chartType": "COLUMN", "domains": [{"domain": column}], "series": [{"series": column}]}}, "position": {"overlayPosition": {"anchorCell": {"sheetId": cases}}}}
    fake.apply_requests(new, [{"addChart": {"chart": theirs}}])
    before = fake.charts(new)
    run(new, NOW)
    after = by_tab(fake, new)
    assert after["Cases"] == before  # neither moved, nor updated, nor deleted
    assert PROBLEMS not in after and len(after[SCORECARD]) == len(after[TREND]) == 1


def test_a_chart_no_longer_wanted_on_a_generated_tab_is_deleted(fake: FakeSheets) -> None:
    sid = new_sheet(fake, 40)
    charts = run(sid, NOW)
    tab = fake.sheet_id(sid, PROBLEMS)
    column = {"sourceRange": {"sources": [{"sheetId": tab, "startRowIndex": 2, "endRowIndex": 8, "startColumnIndex": 1, "endColumnIndex": 2}]}}
    old = {"chartId": 4242, "spec": {"basicChart": {"chartType": "COLUMN", "domains": [{"domain": column}], "series": [{"series": column}]}}, "position": {"overlayPosition": {"anchorCell": {"sheetId": tab, "rowIndex": 30}}}}
    fake.apply_requests(sid, [{"addChart": {"chart": old}}])
    assert len(by_tab(fake, sid)[PROBLEMS]) == 2
    batches = structural(fake, sid)
    run(sid, NOW + timedelta(hours=1))
    assert batches == [[{"deleteEmbeddedObject": {"objectId": 4242}}]]
    assert [c["chartId"] for c in by_tab(fake, sid)[PROBLEMS]] == [charts[PROBLEMS].chart_id]


def test_a_generated_tab_added_by_the_sync_gets_its_chart_in_the_same_batch(fake: FakeSheets) -> None:
    sid = new_sheet(fake, 40)
    fake.apply_requests(sid, [{"deleteSheet": {"sheetId": fake.sheet_id(sid, TREND)}}])
    batches = structural(fake, sid)
    charts = run(sid, NOW)
    assert len(batches) == 1
    (add,) = [r["addSheet"]["properties"] for r in batches[0] if "addSheet" in r]
    (chart,) = [r["addChart"]["chart"] for r in batches[0] if "addChart" in r and r["addChart"]["chart"]["chartId"] == charts[TREND].chart_id]
    assert add["title"] == TREND and add["sheetId"] == fake.sheet_id(sid, TREND)
    assert chart["position"]["overlayPosition"]["anchorCell"]["sheetId"] == add["sheetId"]
    assert only(fake, sid, TREND)["chartId"] == charts[TREND].chart_id


def test_a_lost_reply_to_the_batch_that_adds_the_charts_does_not_add_them_twice(fake: FakeSheets) -> None:
    sid = new_sheet(fake, 40)
    fake.inject_fault("lost_reply", count=1, match=f"{sid}:batchUpdate")
    run(sid, NOW)
    assert fake.faults_log and all(len(c) == 1 for c in by_tab(fake, sid).values())
    assert set(by_tab(fake, sid)) == set(CHART_TABS)


def test_the_fake_keeps_charts_like_the_api(fake: FakeSheets) -> None:
    sid = fake.create_spreadsheet("charts", {"Other": [], "Data": [["Month", "Cases"], ["2026-10", 3], ["2026-11", 5]]}, row_count=20, col_count=5)
    data = fake.sheet_id(sid, "Data")
    http = make_client(fake).http_client

    def column(c: int, end: int = 3) -> dict[str, Any]:
        return {"sourceRange": {"sources": [{"sheetId": data, "startRowIndex": 0, "endRowIndex": end, "startColumnIndex": c, "endColumnIndex": c + 1}]}}

    def chart(chart_id: int, end: int = 3, row: int = 0) -> dict[str, Any]:
        spec = {"title": "t", "basicChart": {"chartType": "COLUMN", "domains": [{"domain": column(0, end)}], "series": [{"series": column(1, end), "targetAxis": "LEFT_AXIS"}], "headerCount": 1}}
        return {"chartId": chart_id, "spec": spec, "position": {"overlayPosition": {"anchorCell": {"sheetId": data, "rowIndex": row, "columnIndex": 3}, "widthPixels": 300}}}

    def refused(*requests: dict[str, Any]) -> str:
        with pytest.raises(APIError) as e:
            http.batch_update(sid, {"requests": list(requests)})
        assert e.value.response.status_code == 400
        return str(e.value)

    reply = http.batch_update(sid, {"requests": [{"addChart": {"chart": chart(11)}}]})
    assert reply["replies"][0]["addChart"]["chart"]["chartId"] == 11
    assert "already exists" in refused({"addChart": {"chart": chart(11)}})
    assert "exceeds grid limits" in refused({"addChart": {"chart": chart(12, end=21)}})
    assert "outside the grid" in refused({"addChart": {"chart": chart(12, row=20)}})
    assert "No chart with id" in refused({"updateChartSpec": {"chartId": 99, "spec": chart(99)["spec"]}})
    assert "No embedded object" in refused({"deleteEmbeddedObject": {"objectId": 99}})
    assert "COMBO" in refused({"addChart": {"chart": {**chart(12), "spec": {"basicChart": {"chartType": "COMBO", "series": [{"series": column(1)}]}}}}})
    assert "minor axis" in refused({"addChart": {"chart": {**chart(12), "spec": {"basicChart": {"chartType": "BAR", "series": [{"series": column(1), "targetAxis": "LEFT_AXIS"}]}}}}})

    meta = http.fetch_sheet_metadata(sid, params={"fields": "sheets(properties(title),charts(chartId,position))"})
    (got,) = [s for s in meta["sheets"] if s["properties"]["title"] == "Data"][0]["charts"]
    assert got == {"chartId": 11, "position": {"overlayPosition": {"anchorCell": {"sheetId": data, "columnIndex": 3}, "widthPixels": 300, "heightPixels": 371}}}
    assert "charts" not in http.fetch_sheet_metadata(sid, params={"fields": "sheets(properties(title))"})["sheets"][0]
    (stored,) = fake.charts(sid)
    assert stored["spec"]["basicChart"].get("headerCount") == 1 and "startRowIndex" not in stored["spec"]["basicChart"]["domains"][0]["domain"]["sourceRange"]["sources"][0]
    assert stored["spec"]["hiddenDimensionStrategy"] == "SKIP_HIDDEN_ROWS_AND_COLUMNS"

    moved = http.batch_update(sid, {"requests": [{"updateEmbeddedObjectPosition": {"objectId": 11, "newPosition": {"overlayPosition": {"anchorCell": {"sheetId": data, "rowIndex": 4, "columnIndex": 1}}}, "fields": "anchorCell"}}]})
    assert moved["replies"][0]["updateEmbeddedObjectPosition"]["position"]["overlayPosition"]["widthPixels"] == 300
    fake.insert_rows(sid, "Data", 1, [["2026-09", 1]])  # a row inside the data: the ranges and the anchor follow
    (stored,) = fake.charts(sid)
    assert stored["spec"]["basicChart"]["series"][0]["series"]["sourceRange"]["sources"][0]["endRowIndex"] == 4
    assert stored["position"]["overlayPosition"]["anchorCell"]["rowIndex"] == 5
    http.batch_update(sid, {"requests": [{"updateChartSpec": {"chartId": 11, "spec": {"basicChart": {"chartType": "LINE", "series": [{"series": column(1)}]}}}}]})
    (stored,) = fake.charts(sid)
    assert "title" not in stored["spec"] and stored["spec"]["basicChart"]["chartType"] == "LINE"  # the spec is replaced whole
    http.batch_update(sid, {"requests": [{"deleteSheet": {"sheetId": data}}]})
    assert fake.charts(sid) == []
