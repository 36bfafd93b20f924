"""kakosheet: after-sales and exception tracking in a shared spreadsheet."""

from __future__ import annotations

__version__ = "0.1.0"

from .sync import SyncReport, sync  # noqa: E402

__all__ = ["SyncReport", "__version__", "sync"]
