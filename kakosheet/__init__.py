"""kakosheet: after-sales and exception tracking in a shared spreadsheet."""

from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .sync import SyncReport, sync

__all__ = ["SyncReport", "__version__", "sync"]


def __getattr__(name: str) -> Any:
    """`kakosheet.sync` and `kakosheet.SyncReport`, imported on first use: they bring pandas and
    pandera, which the command line loads only once a workbook is already being read."""
    if name in ("sync", "SyncReport"):
        from . import sync as module

        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
