"""A finding: one thing wrong with the input, where it is, and how to fix it.

A finding holds its code and facts; its words come from the catalogue (catalogue.py), in the
language asked for when it is written out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .catalogue import Params, Ref, params_of, render
from .formats import column_letter

__all__ = ["Finding", "column_letter"]

_LITERAL = "_literal"  # the one parameter of a finding made with ready-made (English) text


@dataclass(frozen=True, slots=True)
class Finding:
    tab: str  # tab name as in the workbook
    row: int  # 1-based sheet row; 0 for the tab as a whole
    column: str  # column label as in the workbook and its letter, '' for the row as a whole
    code: str  # a code of the catalogue
    params: Params = ()  # the facts the code's message is made from
    col: int = -1  # 0-based index of the column in the sheet; -1 for the row as a whole or unknown

    def __post_init__(self) -> None:
        if isinstance(self.params, str):  # Finding(tab, row, column, code, "message"), as callers wrote it before the catalogue
            object.__setattr__(self, "params", ((_LITERAL, self.params),))

    @classmethod
    def of(cls, code: str, tab: str, row: int, column: str, col: int = -1, **params: object) -> Finding:
        """The finding `code` at (tab, row, column), made from the facts `params`."""
        return cls(tab, row, column, code, params_of(code, params), col)

    @classmethod
    def at(cls, ref: Ref, tab: str, row: int, column: str, col: int = -1) -> Finding:
        """The finding that `ref` (a code and its facts) makes at (tab, row, column)."""
        return cls(tab, row, column, ref.code, ref.params, col)

    @property
    def ref(self) -> Ref:
        return Ref(self.code, self.params)

    def render(self, lang: str = "en") -> str:
        """What is wrong and how to fix it, in `lang` ("zh" or English)."""
        if self.params and self.params[0][0] == _LITERAL:
            return self.params[0][1]
        return render(self.ref, lang)

    @property
    def message(self) -> str:
        """The message in English."""
        return self.render("en")

    def cell_text(self, lang: str = "en") -> str:
        """The finding as written into the row's validation_errors cell."""
        label = self.column.rsplit(" (", 1)[0]
        text = self.render(lang)
        if not label:
            return text
        return f"{label}：{text}" if lang == "zh" else f"{label}: {text}"

    def line(self, lang: str = "en") -> str:
        """The finding on one line, saying where it is."""
        if lang == "zh":
            where = self.tab
            if self.row:
                where += f" 第 {self.row} 行"
            if self.column:
                where += f"，{self.column} 列" if self.row else f" {self.column} 列"
            return f"{where}：{self.render(lang)}"
        where = f"{self.tab}"
        if self.row:
            where += f" row {self.row}"
        if self.column:
            where += f", column {self.column}"
        return f"{where}: {self.render(lang)}"

    def sort_key(self) -> tuple[Any, ...]:
        """Findings in order: by tab, row, column position, code, then message."""
        return (self.tab, self.row, self.col, self.column, self.code, self.message, self.params)

    def __lt__(self, other: Finding) -> bool:
        return self.sort_key() < other.sort_key()

    def __le__(self, other: Finding) -> bool:
        return self.sort_key() <= other.sort_key()

    def __gt__(self, other: Finding) -> bool:
        return self.sort_key() > other.sort_key()

    def __ge__(self, other: Finding) -> bool:
        return self.sort_key() >= other.sort_key()
