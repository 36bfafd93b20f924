"""Backends: where a workbook lives. `open_backend` picks one from the target the user names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UsageError
from .base import Backend
from .xlsx import XlsxBackend

XLSX_SUFFIXES = (".xlsx", ".xlsm")


def open_backend(target: str, **options: Any) -> Backend:
    """The backend for a workbook path (.xlsx, .xlsm) or a Google Sheet (gsheets://ID or its URL).

    `options` are passed to the backend that takes them (backups, lock_timeout, ignore_office_locks
    for files; credentials, deadline, lock_timeout for Google Sheets)."""
    if is_google_sheet(target):
        from .gsheets import GSheetsBackend

        allowed = {k: v for k, v in options.items() if k in ("credentials", "deadline", "lock_timeout")}
        return GSheetsBackend(target, **allowed)
    if Path(target).suffix.lower() not in XLSX_SUFFIXES:
        raise UsageError(f"{target}: not a workbook; give a path ending in .xlsx or .xlsm, or gsheets://SPREADSHEET_ID")
    allowed = {k: v for k, v in options.items() if k in ("backups", "lock_timeout", "ignore_office_locks")}
    return XlsxBackend(target, **allowed)


def is_workbook_location(target: str) -> bool:
    """Whether `target` names a workbook open_backend can open (not, say, a name in a config file)."""
    return is_google_sheet(target) or Path(target).suffix.lower() in XLSX_SUFFIXES


def is_google_sheet(target: str) -> bool:
    return target.startswith("gsheets://") or target.startswith("https://docs.google.com/spreadsheets/")


__all__ = ["Backend", "XlsxBackend", "is_google_sheet", "is_workbook_location", "open_backend"]
