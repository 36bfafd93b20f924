"""How values look in a spreadsheet, in one place: the date epochs, the date format of cells, the
way times are written as text, and column letters. Imports nothing of kakosheet."""

from __future__ import annotations

from datetime import datetime

EXCEL_EPOCHS = {False: datetime(1899, 12, 30), True: datetime(1904, 1, 1)}  # by the workbook's date1904 flag
EXCEL_EPOCH = EXCEL_EPOCHS[False]
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"  # the number format of a date cell the engine writes
DATETIME_TEXT = "%Y-%m-%d %H:%M"  # a time written as text (messages, title lines, the dry run)
DATE_TEXT = "%Y-%m-%d"


def column_letter(col: int) -> str:
    """0-based column index -> spreadsheet letters (0 -> A, 26 -> AA)."""
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters
