"""kakosheet: after-sales and exception tracking in a shared spreadsheet.

The sync is `kakosheet.sync.sync`. This package module imports nothing else, so that the command
line can start reading a workbook before pandas and pandera load.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
