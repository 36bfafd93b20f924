"""Drive the local Sheets fake through the real gspread + google-auth stack."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import gspread
import pytest
import requests
from gspread.exceptions import APIError
from gspread.urls import SPREADSHEETS_API_V4_BASE_URL
from sheets_fake import (
    SCOPE_SPREADSHEETS,
    ApiError,
    BlockedHostError,
    FakeSheets,
    make_client,
    parse_a1,
)


@pytest.fixture
def fake() -> Iterator[FakeSheets]:
    with FakeSheets() as f:
        yield f
        assert f.server_errors == []


@pytest.fixture
def gc(fake: FakeSheets) -> gspread.Client:
    return make_client(fake, timeout=5)


def _search_metadata(gc: gspread.Client, sid: str, **lookup: Any) -> dict[str, Any]:
    url = f"{SPREADSHEETS_API_V4_BASE_URL}/{sid}/developerMetadata:search"
    body = {"dataFilters": [{"developerMetadataLookup": lookup}]}
    return gc.http_client.request("post", url, json=body).json()


def _wait_for(predicate: Any, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


# -- auth and transport ------------------------------------------------------


def test_token_flow_hits_fake_token_endpoint_and_nothing_leaves_loopback(
    fake: FakeSheets, gc: gspread.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # google-auth may look up the service account's allowedLocations in a background thread
    # after fetching a token (always in 2.6x before 2.63, behind this switch since). Turn the
    # look-up on, so that the test sees it is routed to loopback like every other request.
    monkeypatch.setenv("GOOGLE_SDK_EXPERIMENTAL_PYTHON_REGIONAL_ACCESS_BOUNDARY_LOOKUP_ENABLED", "true")
    sid = fake.create_spreadsheet("Tracker", {"Sheet1": [["SN"]]})

    sh = gc.open_by_key(sid)

    assert sh.title == "Tracker"
    assert len(fake.tokens_issued) == 1
    issued = fake.tokens_issued[0]
    assert issued["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert issued["aud"] == "https://oauth2.googleapis.com/token"  # google-auth hard-codes it
    assert SCOPE_SPREADSHEETS in issued["scope"].split()
    email = issued["client_email"]
    assert email.endswith(".iam.gserviceaccount.com")

    # The allowedLocations look-up must land here too.
    assert _wait_for(lambda: fake.allowed_locations_log)
    assert fake.allowed_locations_log[0] == f"/v1/projects/-/serviceAccounts/{email}/allowedLocations"

    egress = fake.egress_log
    originals = [orig for orig, _ in egress]
    assert all(final.startswith(fake.url + "/") for _, final in egress)
    assert {urlsplit(o).hostname for o in originals} <= {
        "127.0.0.1",
        "sheets.googleapis.com",
        "iamcredentials.googleapis.com",
    }
    assert fake.token_uri in originals
    assert any(o.startswith(f"https://sheets.googleapis.com/v4/spreadsheets/{sid}") for o in originals)
    assert any(o.startswith("https://iamcredentials.googleapis.com/v1/") for o in originals)
    assert fake.blocked_urls == []
    assert fake.requests_log[0][:2] == ("GET", f"/v4/spreadsheets/{sid}")
    assert fake.requests_log[0][2] == {"includeGridData": ["false"]}


def test_transport_refuses_any_other_host(fake: FakeSheets, gc: gspread.Client) -> None:
    sh = gc.open_by_key(fake.create_spreadsheet("T"))

    with pytest.raises(BlockedHostError):
        sh.get_lastUpdateTime()  # goes to the Drive API

    assert len(fake.blocked_urls) == 1
    assert fake.blocked_urls[0].startswith("https://www.googleapis.com/drive/v3/files/")
    assert all(urlsplit(final).hostname == "127.0.0.1" for _, final in fake.egress_log)


def test_expired_token_is_refreshed_through_token_endpoint(fake: FakeSheets, gc: gspread.Client) -> None:
    sid = fake.create_spreadsheet("T")
    ws = gc.open_by_key(sid).sheet1
    fake.expire_tokens()
    fake.reset_log()

    ws.update([["ok"]], "A1", value_input_option="RAW")

    assert len(fake.tokens_issued) == 2
    assert [m for m, _, _ in fake.requests_log] == ["PUT", "PUT"]  # 401, then retried
    assert fake.values(sid, "Sheet1") == [["ok"]]


# -- values ------------------------------------------------------------------


def test_reads_and_writes_round_trip(fake: FakeSheets, gc: gspread.Client) -> None:
    sid = fake.create_spreadsheet("T", {"Sales Log": [["SN", "Qty", "Note"], ["A-1", 3, ""], ["A-2", "4.5", "x"]]})
    sh = gc.open_by_key(sid)
    ws = sh.worksheet("Sales Log")

    assert ws.get_all_values() == [["SN", "Qty", "Note"], ["A-1", "3", ""], ["A-2", "4.5", "x"]]

    resp = ws.update([["A-3", 7, "new"]], "A4", value_input_option="RAW")
    assert resp["updatedRange"] == "'Sales Log'!A4:C4"
    assert resp["updatedCells"] == 3

    got = sh.values_batch_get(["'Sales Log'!A1:C10", "'Sales Log'!B:B"], params={"valueRenderOption": "UNFORMATTED_VALUE"})
    first, column = got["valueRanges"]
    assert first["range"] == "'Sales Log'!A1:C10"
    assert first["majorDimension"] == "ROWS"
    assert first["values"] == [["SN", "Qty", "Note"], ["A-1", 3], ["A-2", 4.5, "x"], ["A-3", 7, "new"]]
    assert column["range"] == "'Sales Log'!B1:B1000"
    assert column["values"] == [["Qty"], [3], [4.5], [7]]

    formatted = sh.values_batch_get(["'Sales Log'!B2:B4"])["valueRanges"][0]
    assert formatted["values"] == [["3"], ["4.5"], ["7"]]
    assert ws.get("A1:B2", major_dimension="COLUMNS") == [["SN", "A-1"], ["Qty", "3"]]

    out = sh.values_batch_update(
        {
            "valueInputOption": "USER_ENTERED",
            "data": [
                {"range": "'Sales Log'!B2", "values": [["10"]]},
                {"range": "'Sales Log'!D1:D2", "values": [["Flag"], ["true"]]},
            ],
        }
    )
    assert out["totalUpdatedCells"] == 3
    assert [r["updatedRange"] for r in out["responses"]] == ["'Sales Log'!B2", "'Sales Log'!D1:D2"]
    assert fake.values(sid, "Sales Log")[:2] == [["SN", "Qty", "Note", "Flag"], ["A-1", 10, "", True]]

    ws.batch_clear(["D1:D2"])
    assert fake.values(sid, "Sales Log")[0] == ["SN", "Qty", "Note"]


def test_raw_keeps_formula_text_and_numeric_strings(fake: FakeSheets, gc: gspread.Client) -> None:
    sid = fake.create_spreadsheet("T")
    sh = gc.open_by_key(sid)
    ws = sh.sheet1

    ws.update([["=SUM(A1)", "42"]], "A1", value_input_option="RAW")
    ws.update([["=SUM(A1)", "42"]], "A2", value_input_option="USER_ENTERED")

    assert ws.get("A1:B2", value_render_option="UNFORMATTED_VALUE") == [
        ["=SUM(A1)", "42"],
        ["=SUM(A1)", 42],
    ]
    meta = sh.fetch_sheet_metadata(
        params={
            "includeGridData": "true",
            "ranges": "Sheet1!A1:B2",
            "fields": "sheets.data.rowData.values.userEnteredValue",
        }
    )
    rows = meta["sheets"][0]["data"][0]["rowData"]
    assert rows[0]["values"] == [
        {"userEnteredValue": {"stringValue": "=SUM(A1)"}},
        {"userEnteredValue": {"stringValue": "42"}},
    ]
    assert rows[1]["values"] == [
        {"userEnteredValue": {"formulaValue": "=SUM(A1)"}},
        {"userEnteredValue": {"numberValue": 42}},
    ]
    assert fake.formulas(sid, "Sheet1") == [["=SUM(A1)", "42"], [{"formula": "=SUM(A1)"}, 42]]


# -- batchUpdate ---------------------------------------------------------------


def test_batch_update_is_atomic(fake: FakeSheets, gc: gspread.Client) -> None:
    seed = [["SN", "Qty"], ["A-1", 1]]
    sid = fake.create_spreadsheet("T", {"Sheet1": seed})
    sh = gc.open_by_key(sid)

    with pytest.raises(APIError) as excinfo:
        sh.batch_update(
            {
                "requests": [
                    {"addSheet": {"properties": {"title": "New"}}},
                    {"deleteSheet": {"sheetId": 424242}},
                ]
            }
        )
    err = excinfo.value
    assert err.code == 400
    assert err.error["status"] == "INVALID_ARGUMENT"
    assert err.error["message"] == "Invalid requests[1].deleteSheet: No grid with id: 424242"
    assert [w.title for w in sh.worksheets()] == ["Sheet1"]

    with pytest.raises(APIError) as excinfo:
        sh.values_batch_update(
            {
                "valueInputOption": "RAW",
                "data": [
                    {"range": "Sheet1!A1", "values": [["changed"]]},
                    {"range": "Nope!A1", "values": [["y"]]},
                ],
            }
        )
    assert excinfo.value.error["message"] == "Unable to parse range: Nope!A1"
    assert fake.values(sid, "Sheet1") == seed

    ok = sh.batch_update(
        {
            "requests": [
                {"addSheet": {"properties": {"title": "New", "gridProperties": {"rowCount": 5, "columnCount": 2}}}},
                {
                    "updateSheetProperties": {
                        "properties": {"sheetId": 0, "gridProperties": {"frozenRowCount": 1}},
                        "fields": "gridProperties.frozenRowCount",
                    }
                },
            ]
        }
    )
    added = ok["replies"][0]["addSheet"]["properties"]
    assert added["title"] == "New" and added["index"] == 1 and isinstance(added["sheetId"], int)
    assert ok["replies"][1] == {}
    assert sh.sheet1.frozen_row_count == 1
    assert fake.sheet_properties(sid, "New")["gridProperties"] == {"rowCount": 5, "columnCount": 2}


def test_row_metadata_follows_inserts_sorts_and_deletes(fake: FakeSheets, gc: gspread.Client) -> None:
    sid = fake.create_spreadsheet("T", {"Orders": [["SN", "Status"], ["A-1", "open"], ["A-2", "open"], ["A-3", "open"]]})
    sh = gc.open_by_key(sid)
    ws = sh.worksheet("Orders")
    created = sh.batch_update(
        {
            "requests": [
                {
                    "createDeveloperMetadata": {
                        "developerMetadata": {
                            "metadataKey": "kako.row",
                            "metadataValue": "A-2",
                            "location": {"dimensionRange": {"sheetId": ws.id, "dimension": "ROWS", "startIndex": 2, "endIndex": 3}},
                            "visibility": "DOCUMENT",
                        }
                    }
                }
            ]
        }
    )
    md = created["replies"][0]["createDeveloperMetadata"]["developerMetadata"]
    assert md["location"]["locationType"] == "ROW"

    def row_of_tag() -> int:
        found = _search_metadata(gc, sid, metadataKey="kako.row", metadataValue="A-2")
        (match,) = found["matchedDeveloperMetadata"]
        assert match["developerMetadata"]["metadataId"] == md["metadataId"]
        return match["developerMetadata"]["location"]["dimensionRange"]["startIndex"]

    assert row_of_tag() == 2

    ws.insert_rows([["A-0", "new"]], row=2)  # insertDimension above the tagged row, then values:append
    assert row_of_tag() == 3
    assert [r[0] for r in ws.get_all_values()] == ["SN", "A-0", "A-1", "A-2", "A-3"]

    sh.batch_update(
        {
            "requests": [
                {
                    "sortRange": {
                        "range": {"sheetId": ws.id, "startRowIndex": 1, "startColumnIndex": 0, "endColumnIndex": 2},
                        "sortSpecs": [{"dimensionIndex": 0, "sortOrder": "DESCENDING"}],
                    }
                }
            ]
        }
    )
    rows = ws.get_all_values()
    assert [r[0] for r in rows] == ["SN", "A-3", "A-2", "A-1", "A-0"]
    assert rows[row_of_tag()][0] == "A-2"

    ws.delete_rows(2)  # removes A-3, above the tag
    assert row_of_tag() == 1
    ws.delete_rows(2)  # removes the tagged row itself
    assert _search_metadata(gc, sid, metadataKey="kako.row") == {}


def test_sheet_structure_requests(fake: FakeSheets, gc: gspread.Client) -> None:
    sid = fake.create_spreadsheet("T", {"Sheet1": [["SN", "Status"], ["A-1", "open"]]})
    sh = gc.open_by_key(sid)
    ws = sh.sheet1
    ws.add_protected_range("A1:B1", warning_only=True, description="header")
    sh.batch_update(
        {
            "requests": [
                {
                    "setDataValidation": {
                        "range": {"sheetId": 0, "startRowIndex": 1, "startColumnIndex": 1, "endColumnIndex": 2},
                        "rule": {
                            "condition": {"type": "ONE_OF_LIST", "values": [{"userEnteredValue": "open"}]},
                            "strict": True,
                            "showCustomUi": True,
                        },
                    }
                },
                {
                    "addConditionalFormatRule": {
                        "index": 0,
                        "rule": {
                            "ranges": [{"sheetId": 0, "startRowIndex": 1, "endRowIndex": 2}],
                            "booleanRule": {"condition": {"type": "NOT_BLANK"}, "format": {"textFormat": {"bold": True}}},
                        },
                    }
                },
                {
                    "createDeveloperMetadata": {
                        "developerMetadata": {
                            "metadataKey": "kako.schema",
                            "metadataValue": "1",
                            "location": {"spreadsheet": True},
                            "visibility": "DOCUMENT",
                        }
                    }
                },
            ]
        }
    )
    ws.insert_rows([["A-0", "new"]], row=2)

    meta = sh.fetch_sheet_metadata()
    sheet = meta["sheets"][0]
    assert sheet["properties"]["gridProperties"]["rowCount"] == 1001
    (protected,) = sheet["protectedRanges"]
    assert protected["warningOnly"] is True and protected["description"] == "header"
    assert protected["range"] == {"sheetId": 0, "startRowIndex": 0, "endRowIndex": 1, "startColumnIndex": 0, "endColumnIndex": 2}
    (rule,) = sheet["conditionalFormats"]
    assert rule["ranges"] == [{"sheetId": 0, "startRowIndex": 2, "endRowIndex": 3}]
    assert meta["developerMetadata"][0]["location"] == {"locationType": "SPREADSHEET", "spreadsheet": True}

    grid = sh.fetch_sheet_metadata(
        params={"includeGridData": "true", "ranges": "Sheet1!B3", "fields": "sheets.data.rowData.values.dataValidation"}
    )
    validation = grid["sheets"][0]["data"][0]["rowData"][0]["values"][0]["dataValidation"]
    assert validation["condition"]["type"] == "ONE_OF_LIST"

    new = sh.add_worksheet("Archive", rows=3, cols=2)
    assert new.row_count == 3 and new.index == 1
    new.append_rows([["x", 1], ["y", 2], ["z", 3], ["w", 4]])  # grows the grid
    assert fake.sheet_properties(sid, "Archive")["gridProperties"]["rowCount"] == 4
    sh.del_worksheet(new)
    assert fake.sheet_titles(sid) == ["Sheet1"]


# -- faults and hooks ----------------------------------------------------------


def test_fault_injection_as_seen_by_plain_requests(fake: FakeSheets) -> None:
    sid = fake.create_spreadsheet("T", {"Sheet1": [["a"]]})
    session = requests.Session()
    session.trust_env = False
    session.headers["Authorization"] = f"Bearer {fake.issue_token()}"
    url = f"{fake.url}/v4/spreadsheets/{sid}/values/Sheet1!A1"

    fake.inject_fault("429", retry_after=7)
    r = session.get(url, timeout=5)
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "7"
    assert r.json()["error"]["code"] == 429
    assert r.json()["error"]["status"] == "RESOURCE_EXHAUSTED"

    fake.inject_fault("500_json")
    r = session.get(url, timeout=5)
    assert r.status_code == 500
    assert r.json() == {"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}}

    fake.inject_fault("503_html")
    r = session.get(url, timeout=5)
    assert r.status_code == 503
    assert r.headers["Content-Type"].startswith("text/html")
    assert "Error 503 (Service Unavailable)" in r.text
    with pytest.raises(ValueError):
        r.json()

    assert session.get(url, timeout=5).json()["values"] == [["a"]]

    fake.inject_fault("drop")
    with pytest.raises(requests.ConnectionError):
        session.get(url, timeout=5)

    fake.inject_fault("timeout", seconds=0.6)
    with pytest.raises(requests.Timeout):
        session.get(url, timeout=0.2)

    fake.inject_fault("lost_reply", match="values:batchUpdate")
    assert session.get(url, timeout=5).status_code == 200  # does not match
    with pytest.raises(requests.ConnectionError):
        session.post(
            f"{fake.url}/v4/spreadsheets/{sid}/values:batchUpdate",
            json={"valueInputOption": "RAW", "data": [{"range": "Sheet1!B1", "values": [["written"]]}]},
            timeout=5,
        )
    assert fake.values(sid, "Sheet1") == [["a", "written"]]  # applied although the reply was lost
    assert [kind for kind, _, _ in fake.faults_log] == ["429", "500_json", "503_html", "drop", "timeout", "lost_reply"]
    assert fake.pending_faults == []


def test_faults_as_seen_by_gspread(fake: FakeSheets, gc: gspread.Client) -> None:
    sid = fake.create_spreadsheet("T", {"Sheet1": [["a"]]})
    ws = gc.open_by_key(sid).sheet1

    fake.inject_fault("429", match="/values/")
    with pytest.raises(APIError) as excinfo:
        ws.get_all_values()
    assert excinfo.value.code == 429
    assert excinfo.value.response.headers["Retry-After"] == "1"

    fake.inject_fault("503_html")
    with pytest.raises(APIError) as excinfo:
        ws.get_all_values()
    # gspread cannot parse the HTML body: code -1, the real status is on the response
    assert excinfo.value.code == -1
    assert excinfo.value.response.status_code == 503

    with pytest.raises(ValueError):
        fake.inject_fault("nope")
    assert ws.get_all_values() == [["a"]]


def test_before_request_hook_edits_between_client_requests(fake: FakeSheets, gc: gspread.Client) -> None:
    sid = fake.create_spreadsheet("T", {"Sheet1": [["SN", "Status"], ["A-1", "open"], ["A-2", "open"]]})
    ws = gc.open_by_key(sid).sheet1
    seen: list[tuple[str, str, Any]] = []

    @fake.before_request
    def purchaser_inserts_row(method: str, path: str, body: Any) -> None:
        seen.append((method, path, body))
        if method == "PUT" and sum(1 for m, _, _ in seen if m == "PUT") == 1:
            fake.insert_rows(sid, "Sheet1", 1, [["P-9", "purchaser"]])

    rows = ws.get_all_values()
    assert rows[1] == ["A-1", "open"]
    ws.update([["closed"]], "B2", value_input_option="RAW")  # meant for A-1, but the row moved

    assert fake.values(sid, "Sheet1") == [
        ["SN", "Status"],
        ["P-9", "closed"],
        ["A-1", "open"],
        ["A-2", "open"],
    ]
    assert [m for m, _, _ in seen] == ["GET", "PUT"]
    assert seen[1][2]["values"] == [["closed"]]


# -- errors and ranges ---------------------------------------------------------


def test_error_shapes_for_missing_forbidden_and_bad_ranges(fake: FakeSheets, gc: gspread.Client) -> None:
    with pytest.raises(gspread.SpreadsheetNotFound) as missing:
        gc.open_by_key("does-not-exist")
    cause = missing.value.__cause__
    assert isinstance(cause, APIError)
    assert cause.error == {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}

    locked = fake.create_spreadsheet("Locked", forbidden=True)
    with pytest.raises(PermissionError) as denied:
        gc.open_by_key(locked)
    cause = denied.value.__cause__
    assert isinstance(cause, APIError)
    assert cause.code == 403
    assert cause.error["status"] == "PERMISSION_DENIED"

    sid = fake.create_spreadsheet("T", row_count=10, col_count=3)
    sh = gc.open_by_key(sid)
    with pytest.raises(APIError) as bad:
        sh.values_get("Nope!A1")
    assert bad.value.error == {"code": 400, "message": "Unable to parse range: Nope!A1", "status": "INVALID_ARGUMENT"}
    with pytest.raises(APIError) as beyond:
        sh.sheet1.update([["x"]], "A11", value_input_option="RAW")
    assert beyond.value.error["message"] == "Range (Sheet1!A11) exceeds grid limits. Max rows: 10, max columns: 3"

    fake.set_forbidden(sid)
    with pytest.raises(APIError) as later:
        sh.sheet1.get_all_values()
    assert later.value.code == 403


def test_quoted_sheet_names_and_a1_forms(fake: FakeSheets, gc: gspread.Client) -> None:
    sid = fake.create_spreadsheet("T")
    sh = gc.open_by_key(sid)
    ws = sh.add_worksheet("It's Q1", rows=10, cols=3)
    ws.update([["a", "b"], ["c", "d"], ["e", "f"]], "A1", value_input_option="RAW")

    got = sh.values_batch_get(["'It''s Q1'!2:3", "'It''s Q1'!A:A", "'It''s Q1'", "'It''s Q1'!B2", "A1:A2"])
    ranges = [vr["range"] for vr in got["valueRanges"]]
    assert ranges == [
        "'It''s Q1'!A2:C3",
        "'It''s Q1'!A1:A10",
        "'It''s Q1'!A1:C10",
        "'It''s Q1'!B2",
        "Sheet1!A1:A2",
    ]
    values = [vr.get("values") for vr in got["valueRanges"]]
    assert values[:4] == [[["c", "d"], ["e", "f"]], [["a"], ["c"], ["e"]], [["a", "b"], ["c", "d"], ["e", "f"]], [["d"]]]
    assert values[4] is None  # empty range: no "values" key


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Sheet!A1:C3", ("Sheet", 0, 3, 0, 3, False)),
        ("'Quoted ''name'''!A:A", ("Quoted 'name'", 0, None, 0, 1, False)),
        ("Sheet!2:5", ("Sheet", 1, 5, 0, None, False)),
        ("Sheet!B2", ("Sheet", 1, 2, 1, 2, True)),
        ("Sheet!C5:A1", ("Sheet", 0, 5, 0, 3, False)),
        ("A2:C", (None, 1, None, 0, 3, False)),
    ],
)
def test_parse_a1(text: str, expected: tuple[Any, ...]) -> None:
    r = parse_a1(text)
    assert (r.sheet, r.start_row, r.end_row, r.start_col, r.end_col, r.single_cell) == expected


def test_parse_a1_bare_sheet_and_errors() -> None:
    assert parse_a1("Sheet").whole_sheet
    assert parse_a1("'My Sheet'").sheet == "My Sheet"
    with pytest.raises(ApiError):
        parse_a1("'unterminated!A1")
    with pytest.raises(ApiError):
        parse_a1("Sheet!A1:B2:C3")
