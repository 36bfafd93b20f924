"""Shared fixtures: a fixed NOW, workbooks built from records, and helpers to read cells back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sheets_fake import FakeSheets, make_service_account_info

from kakosheet import sample, template
from kakosheet.backends.memory import MemoryBackend
from kakosheet.backends.xlsx import XlsxBackend
from kakosheet.schema import schemas

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
SERVICE_EMAIL = "kakosheet-test@fake-project.iam.gserviceaccount.com"  # the service account the `fake` fixture's key is for


@pytest.fixture(autouse=True)
def state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """kakosheet's state folder (runs.py: the runs `status` reads, the Sheets locks) for this test
    alone, never the user's."""
    folder = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("KAKOSHEET_STATE_DIR", str(folder))
    return folder


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSheets]:
    """The fake Sheets API on loopback, with a service-account key for it and the endpoint set, so
    that the real gspread and google-auth path talks to it; it must see no server error."""
    from kakosheet.backends.gsheets_transport import ENDPOINT_ENV

    with FakeSheets() as f:
        key = tmp_path / "key.json"
        key.write_text(json.dumps(make_service_account_info(f, SERVICE_EMAIL)))
        monkeypatch.setenv(ENDPOINT_ENV, f.url)
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
        yield f
        assert f.server_errors == []


def case(**values: Any) -> dict[str, Any]:
    """A valid case record, with `values` overriding the defaults."""
    rec: dict[str, Any] = {
        "reported_at": datetime(2026, 11, 20, 9, 0),
        "order_no": "KB1001",
        "supplier": "Acme",
        "category": "quality_defect",
        "status": "reported",
    }
    rec.update(values)
    return rec


def grid(tab: str, records: list[dict[str, Any]], lang: str = "en") -> list[list[Any]]:
    """A tab as a grid: header row of labels, then one row per record in schema column order."""
    fields = schemas()[tab].fields
    return [[f.label(lang) for f in fields]] + [[r.get(f.key) for f in fields] for r in records]


def memory_book(cases: list[dict[str, Any]], **tabs: list[dict[str, Any]]) -> MemoryBackend:
    """A memory workbook with a Cases tab (and any other tab by key) plus the default Rules and SLA."""
    book = {"Cases": grid("cases", cases)}
    for key, records in tabs.items():
        book[schemas()[key].name_en] = grid(key, records)
    return MemoryBackend(book)


def type_status(backend: MemoryBackend, order_no: str, status: str, changed_at: datetime | None = None) -> None:
    """Type `status` (and, when given, Status changed at) into the Cases row of `order_no`, as a purchaser would."""
    rows = backend.sheets["Cases"].rows
    row = next(r for r in rows[1:] if r[rows[0].index("Order no.")] == order_no)
    row[rows[0].index("Status")] = status
    if changed_at is not None:
        row[rows[0].index("Status changed at")] = changed_at


def column(backend: MemoryBackend, tab: str, key: str) -> list[Any]:
    """The values below the header of the column headed with `key`'s English label."""
    rows = backend.grid(tab)
    label = next(f.label_en for s in schemas().values() for f in s.fields if f.key == key and s.name_en == tab)
    col = rows[0].index(label)
    return [r[col] if col < len(r) else None for r in rows[1:]]


def write_book(path: Path, cases: int = 0, seed: int = 1, lang: str = "en", now: datetime = NOW) -> Path:
    """A template workbook at `path`, optionally with sample cases."""
    records = sample.generate(cases, seed, now) if cases else None
    XlsxBackend(path).create(template.build(lang, records))
    return path


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def sample_book(tmp_path: Path) -> Path:
    return write_book(tmp_path / "book.xlsx", cases=120)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Long benchmarks and stress runs (marked slow) run only with KAKOSHEET_SLOW=1."""
    import os

    if os.environ.get("KAKOSHEET_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: set KAKOSHEET_SLOW=1 to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
