"""A workbook held in memory: the reference backend for tests of the sync and engine."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

from ..patch import ApplyResult, Patch, plan_writes
from ..table import Sheet


class MemoryBackend:
    """Tabs as lists of rows. `edit` hooks let a test change the book between read and write."""

    def __init__(self, tabs: dict[str, list[list[Any]]] | None = None):
        self.sheets: dict[str, Sheet] = {name: Sheet(name, [list(r) for r in rows]) for name, rows in (tabs or {}).items()}
        self.writes = 0
        self.before_apply: list[Any] = []

    def describe(self) -> str:
        return "memory workbook"

    def default_timezone(self) -> str:
        return "UTC"

    def locked(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def read(self) -> dict[str, Sheet]:
        return copy.deepcopy(self.sheets)

    def apply(self, patch: Patch) -> ApplyResult:
        for hook in self.before_apply:
            hook(self)
        staged = copy.deepcopy(self.sheets)
        result = ApplyResult()
        for tab in patch.tabs:
            sheet = staged.get(tab.tab)
            if sheet is None:
                result.skipped_tabs.append(tab.tab)
                continue
            for row, writes in plan_writes(sheet, tab, result).items():
                while len(sheet.rows) < row:
                    sheet.rows.append([])
                cells = sheet.rows[row - 1]
                for col, value in writes.items():
                    while len(cells) <= col:
                        cells.append(None)
                    cells[col] = value
        for gen in patch.generated:
            sheet = Sheet(gen.name, [list(r) for r in gen.rows], gen.hidden)
            if gen.replaces in staged:  # renamed where it stands
                staged = {gen.name if name == gen.replaces else name: sheet if name == gen.replaces else old for name, old in staged.items()}
            else:
                staged[gen.name] = sheet
        self.sheets = staged
        self.writes += 1
        return result

    def grid(self, name: str) -> list[list[Any]]:
        return self.sheets[name].rows
