"""The sync on a Google Sheet, end to end through real gspread and google-auth, against a local fake."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import NOW, write_book
from sheets_fake import FakeSheets, make_service_account_info

from kakosheet import sample, template
from kakosheet.backends.gsheets import GSheetsBackend
from kakosheet.backends.gsheets_transport import ENDPOINT_ENV
from kakosheet.backends.xlsx import XlsxBackend
from kakosheet.report import SCORECARD
from kakosheet.sync import sync

EMAIL = "kakosheet-test@fake-project.iam.gserviceaccount.com"


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSheets]:
    with FakeSheets() as f:
        key = tmp_path / "key.json"
        key.write_text(json.dumps(make_service_account_info(f, EMAIL)))
        monkeypatch.setenv(ENDPOINT_ENV, f.url)
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
        yield f
        assert f.server_errors == []


def new_sheet(fake: FakeSheets, cases: int, seed: int = 3) -> str:
    sid = fake.create_spreadsheet("after-sales", {"Sheet1": []})
    records = sample.generate(cases, seed, NOW) if cases else None
    GSheetsBackend(f"gsheets://{sid}").create(template.build("en", records))
    fake.reset_log()
    return sid


def kinds(fake: FakeSheets) -> Counter[str]:
    out: Counter[str] = Counter()
    for method, path, _ in fake.requests_log:
        if path.endswith(":batchUpdate") and "/values" not in path:
            out["structural"] += 1
        elif "values:batchUpdate" in path:
            out["values write"] += 1
        elif "values:batchGet" in path:
            out["values read"] += 1
        elif method == "GET" and path.count("/") == 3:
            out["metadata"] += 1
        else:
            out[f"{method} {path}"] += 1
    return out


def grid(fake: FakeSheets, sid: str, tab: str) -> list[list[Any]]:
    return fake.values(sid, tab)


def test_init_and_sync_a_google_sheet(fake: FakeSheets) -> None:
    sid = new_sheet(fake, 40)
    result = sync(GSheetsBackend(f"gsheets://{sid}"), NOW)
    assert len(result.new_ids) == 40
    cases = grid(fake, sid, "Cases")
    assert cases[0][0] == "Case ID" and cases[1][0].startswith("AS-")
    assert fake.tokens_issued  # a real token flow, against the fake's token endpoint
    again = sync(GSheetsBackend(f"gsheets://{sid}"), NOW)
    assert again.changes == []
