"""Backends: where a workbook lives. `open_backend` picks one from the target the user names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UsageError
from .base import Backend
from .xlsx import XlsxBackend

XLSX_SUFFIXES = (".xlsx", ".xlsm")


def open_backend(target: str, **options: Any) -> Backend:
    """The backend for a workbook path (.xlsx, .xlsm); `options` go to its constructor."""
    if target.startswith("gsheets://") or "docs.google.com/spreadsheets" in target:
        raise UsageError(f"{target}: Google Sheets targets are not supported by this version; export the sheet as .xlsx")
    if Path(target).suffix.lower() not in XLSX_SUFFIXES:
        raise UsageError(f"{target}: not an Excel workbook; give a path ending in .xlsx or .xlsm")
    return XlsxBackend(target, **options)


__all__ = ["Backend", "XlsxBackend", "open_backend"]
