"""A new template workbook, rendered with openpyxl (only ever used to create a file, never to re-save one)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from ..formats import DATETIME_FORMAT, column_letter
from ..patch import GeneratedTab
from ..template import LISTS_TAB, STATE_TAB, Template

ENGINE_FILL = "E7E6E6"
HEADER_FILL = "DDEBF7"


def _set(cell: Any, value: Any) -> None:
    """Set a cell so that text stays text: nothing written here ever becomes a formula."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, str):
        cell.value = ILLEGAL_CHARACTERS_RE.sub("", value)
        cell.data_type = "s"
        return
    cell.value = value
    if isinstance(value, (datetime, date)):
        cell.number_format = DATETIME_FORMAT


def _style_engine_header(cell: Any) -> None:
    from openpyxl.styles import Font, PatternFill

    cell.font = Font(bold=True, italic=True, color="595959")
    cell.fill = PatternFill("solid", fgColor=ENGINE_FILL)


def _replace_tab(book: Any, gen: GeneratedTab) -> None:
    from openpyxl.styles import Font, PatternFill

    index = None
    if gen.name in book.sheetnames:
        index = book.sheetnames.index(gen.name)
        del book[gen.name]
    ws = book.create_sheet(gen.name, index)
    ws.sheet_state = "hidden" if gen.hidden else "visible"
    for r, row in enumerate(gen.rows, start=1):
        for c, value in enumerate(row, start=1):
            if value is not None:
                _set(ws.cell(row=r, column=c), value)
    if gen.rows and not gen.hidden:
        ws.cell(row=1, column=1).font = Font(bold=True, size=12)
    if gen.header_row and len(gen.rows) >= gen.header_row:
        for c in range(1, len(gen.rows[gen.header_row - 1]) + 1):
            cell = ws.cell(row=gen.header_row, column=c)
            cell.font = Font(bold=True)
            cell.fill = PatternFill("solid", fgColor=HEADER_FILL)
        ws.freeze_panes = ws.cell(row=gen.header_row + 1, column=1)
    for c, width in gen.widths.items():
        ws.column_dimensions[_letter(c + 1)].width = width
    for r in range(gen.header_row + 1, len(gen.rows) + 1):
        for c, fmt in gen.row_formats(r).items():
            ws.cell(row=r, column=c + 1).number_format = fmt


def _letter(col: int) -> str:
    return column_letter(col - 1)


def _colour_rule(ws: Any, letter: str, text: str, fill: str, last_row: int) -> None:
    """Fill with `fill` the cells below the header in column `letter` whose text begins with `text`
    (Excel's "begins with" rule, which LibreOffice and WPS read too)."""
    from openpyxl.formatting.rule import Rule
    from openpyxl.styles import PatternFill
    from openpyxl.styles.differential import DifferentialStyle

    quoted = text.replace('"', '""')
    rule = Rule(type="beginsWith", operator="beginsWith", text=text, dxf=DifferentialStyle(fill=PatternFill(fill_type="solid", start_color=fill, end_color=fill)))
    rule.formula = [f'LEFT({letter}2,LEN("{quoted}"))="{quoted}"']
    ws.conditional_formatting.add(f"{letter}2:{letter}{last_row}", rule)


_VALIDATION_TYPES = {
    "datetime": ("date", "Enter a date, e.g. 2026-11-20 14:30."),
    "int": ("whole", "Enter a whole number{at_least}."),
    "number": ("decimal", "Enter a number{at_least}."),
}


def render_template(template: Template) -> Any:
    """An openpyxl Workbook for `template`: headers, dropdowns, input messages, set-apart engine columns."""
    import openpyxl
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    book = openpyxl.Workbook()
    info = book.active
    info.title = "说明" if template.lang == "zh" else "Instructions"
    for r, line in enumerate(template.instructions, start=1):
        _set(info.cell(row=r, column=1), line)
    info.cell(row=1, column=1).font = Font(bold=True, size=14)
    info.column_dimensions["A"].width = 120

    lists = book.create_sheet(LISTS_TAB)
    list_ranges: dict[str, str] = {}
    for c, (name, labels) in enumerate(sorted(template.lists.items()), start=1):
        _set(lists.cell(row=1, column=c), name)
        for r, label in enumerate(labels, start=2):
            _set(lists.cell(row=r, column=c), label)
        letter = _letter(c)
        list_ranges[name] = f"{LISTS_TAB}!${letter}$2:${letter}${len(labels) + 1}"
    lists.sheet_state = "hidden"

    engine_fill = PatternFill("solid", fgColor=ENGINE_FILL)
    header_fill = PatternFill("solid", fgColor=HEADER_FILL)
    last_row = 1048576
    for tab in template.tabs:
        ws = book.create_sheet(tab.name, len(book.sheetnames) - 1)
        for c, (label, f) in enumerate(zip(tab.header, tab.fields, strict=True), start=1):
            cell = ws.cell(row=1, column=c)
            _set(cell, label)
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            letter = _letter(c)
            ws.column_dimensions[letter].width = 36 if f.key in ("description", "validation_errors", "suggestion_basis", "basis") else 16
            help_text = f.help_text(template.lang)
            if f.engine:
                _style_engine_header(cell)
                cell.comment = Comment(help_text, "kakosheet")
                ws.column_dimensions[letter].fill = engine_fill
            else:
                cell.font = Font(bold=True)
                cell.fill = header_fill
            title = (label + (" *" if f.required else ""))[:32]
            rng = f"{letter}2:{letter}{last_row}"
            if f.type == "choice" and not f.engine:
                dv = DataValidation(type="list", formula1=list_ranges[f.choice_set], allow_blank=True)
                dv.error = "Pick a value from the list." if template.lang != "zh" else "请从下拉列表中选择。"
            elif f.type in _VALIDATION_TYPES and not f.engine:
                kind, error = _VALIDATION_TYPES[f.type]
                if f.type == "datetime":
                    dv = DataValidation(type=kind, operator="greaterThan", formula1="DATE(1990,1,1)", allow_blank=True)
                elif f.min is not None:
                    dv = DataValidation(type=kind, operator="greaterThanOrEqual", formula1=f"{f.min:g}", allow_blank=True)
                else:
                    dv = DataValidation(type=kind, operator="between", formula1="-1E+300", formula2="1E+300", allow_blank=True)
                dv.error = error.format(at_least=f" of at least {f.min:g}" if f.min is not None else "")
            else:
                dv = DataValidation(allow_blank=True)
            dv.errorStyle = "warning"
            dv.showErrorMessage = dv.type is not None
            dv.promptTitle = title
            dv.prompt = help_text[:255]
            dv.showInputMessage = True
            dv.add(f"{letter}1:{letter}1")
            dv.add(rng)
            ws.add_data_validation(dv)
        for r, row in enumerate(tab.rows, start=2):
            for c, (value, f) in enumerate(zip(row, tab.fields, strict=True), start=1):
                if value is None:
                    continue
                cell = ws.cell(row=r, column=c)
                _set(cell, value)
                if f.engine:
                    cell.fill = engine_fill
        for colour in template.colour_rules(tab):
            _colour_rule(ws, _letter(colour.column + 1), colour.starts_with, colour.fill, last_row)
        ws.freeze_panes = "B2" if tab.fields and tab.fields[0].key == "case_id" else "A2"
        ws.auto_filter.ref = f"A1:{_letter(len(tab.fields))}1"
    for name in template.generated:
        _replace_tab(book, GeneratedTab(name, [[template.placeholder(name)]], header_row=0))
    book.move_sheet(LISTS_TAB, offset=len(book.sheetnames))
    if template.state_rows:
        _replace_tab(book, GeneratedTab(STATE_TAB, template.state_rows, hidden=True, header_row=0))
    return book
