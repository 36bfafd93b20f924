"""A finding: one thing wrong with the input, where it is, and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True, slots=True)
class Finding:
    tab: str  # tab name as in the workbook
    row: int  # 1-based sheet row; 0 for the tab as a whole
    column: str  # column label as in the workbook and its letter, '' for the row as a whole
    code: str
    message: str  # what is wrong and how to fix it

    def cell_text(self) -> str:
        """The finding as written into the row's validation_errors cell."""
        label = self.column.rsplit(" (", 1)[0]
        return f"{label}: {self.message}" if label else self.message

    def line(self) -> str:
        where = f"{self.tab}"
        if self.row:
            where += f" row {self.row}"
        if self.column:
            where += f", column {self.column}"
        return f"{where}: {self.message}"


def column_letter(col: int) -> str:
    """0-based column index -> spreadsheet letters (0 -> A, 26 -> AA)."""
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters
