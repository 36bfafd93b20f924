"""Workbooks written by other software, with everything a purchaser may add to their sheet."""

from __future__ import annotations

import struct
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any

import xlsxwriter
from conftest import case, grid

from kakosheet.schema import schemas


def png(width: int = 4, height: int = 3, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A small valid PNG, made without an imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def write_cases(wb: xlsxwriter.Workbook, ws: Any, records: list[dict[str, Any]]) -> int:
    """The purchaser's columns of `records` on `ws` under a styled header; returns the rows written."""
    bold = wb.add_format({"bold": True, "bg_color": "#FFF2CC", "border": 1})
    date = wb.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    rows = grid("cases", records)
    user = [i for i, f in enumerate(schemas()["cases"].fields) if not f.engine]
    for c, i in enumerate(user):
        ws.write_string(0, c, rows[0][i], bold)
    for r, row in enumerate(rows[1:], start=1):
        for c, i in enumerate(user):
            value = row[i]
            if isinstance(value, datetime):
                ws.write_datetime(r, c, value, date)
            elif isinstance(value, str):
                ws.write_string(r, c, value)
            elif value is not None:
                ws.write_number(r, c, value)
    return len(rows)


def rich_book(path: Path, records: list[dict[str, Any]] | None = None, vba: bool = False) -> Path:
    """A Cases workbook from xlsxwriter with images (floating and in-cell), a chart, comments,
    a text box, data bars and sparklines (extension blocks), conditional formatting, data
    validation, defined names, formulas with cached values, styles, widths, hidden rows, a filter,
    and for .xlsm a VBA project."""
    records = records or [case(order_no=f"KB{i}", qty_affected=i, supplier=["Acme", "义乌华美"][i % 2]) for i in range(1, 13)]
    image = path.parent / "defect.png"
    image.write_bytes(png())
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Cases")
    red = wb.add_format({"font_color": "#9C0006", "bg_color": "#FFC7CE"})
    n = write_cases(wb, ws, records)
    user = [f for f in schemas()["cases"].fields if not f.engine]
    ws.write_comment(1, 1, "checked by QC lead", {"author": "Li Wei", "font_name": "Arial", "font_size": 12, "color": "#CCFFCC"})
    ws.write_formula(n + 1, 8, f"=SUM(I2:I{n})", wb.add_format({"bold": True}), sum(range(1, n)))
    ws.insert_image("AF3", str(image), {"x_scale": 10, "y_scale": 10, "description": "defect photo"})
    ws.embed_image(4, 17, str(image))  # an in-cell picture in Evidence links
    chart = wb.add_chart({"type": "column"})
    chart.add_series({"name": "qty", "categories": f"=Cases!$D$2:$D${n}", "values": f"=Cases!$I$2:$I${n}"})
    ws.insert_chart("AF20", chart)
    ws.insert_textbox("AF40", "Remember: photos for every damaged parcel", {"width": 300, "height": 60, "fill": {"color": "#DDEBF7"}})
    ws.conditional_format(f"I2:I{n}", {"type": "data_bar", "bar_color": "#63C384", "data_bar_2010": True})
    ws.conditional_format(f"N2:N{n}", {"type": "text", "criteria": "containing", "value": "US", "format": red})
    ws.add_sparkline("AE2", {"range": f"Cases!I2:I{n}"})
    ws.data_validation(f"AB2:AB{n}", {"validate": "list", "source": ["yes", "no"], "input_title": "Mine", "input_message": "purchaser's own list"})
    ws.set_column("A:A", 19)
    ws.set_column("Q:Q", 44)
    ws.set_row(3, None, None, {"hidden": True})
    ws.autofilter(0, 0, n - 1, len(user) - 1)
    ws.freeze_panes(1, 0)
    wb.define_name("OrderCount", f"=COUNTA(Cases!$D$2:$D${n})")
    wb.define_name("Cases!LocalName", "=Cases!$A$1")
    notes = wb.add_worksheet("My notes")
    notes.write_string(0, 0, "=not a formula, just text")
    notes.write_formula(1, 0, "=Cases!D2", None, "KB1")
    notes.write_url(2, 0, "https://example.com/qc/123", string="QC report")
    wb.set_custom_property("Checked by", "QC")
    if vba:
        wb.add_vba_project(_fake_vba(path.parent))
    wb.close()
    return add_parts(path)


EXTRA_PARTS = {
    # parts xlsxwriter cannot make, as Excel lays them out: custom XML, an external link, a pivot table
    "customXml/item1.xml": b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><qc xmlns="urn:example:qc"><batch id="7"/></qc>',
    "customXml/_rels/item1.xml.rels": b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"/>',
    "xl/externalLinks/externalLink1.xml": b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><externalLink xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><externalBook xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" r:id="rId1"><sheetNames><sheetName val="Prices"/></sheetNames></externalBook></externalLink>',
    "xl/pivotTables/pivotTable1.xml": b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><pivotTableDefinition xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" name="PivotTable1" cacheId="1" dataCaption="Values"><location ref="A3:B7" firstHeaderRow="1" firstDataRow="1" firstDataCol="1"/></pivotTableDefinition>',
    "xl/pivotCache/pivotCacheDefinition1.xml": b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><pivotCacheDefinition xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" refreshOnLoad="1"><cacheSource type="worksheet"><worksheetSource ref="A1:I13" sheet="Cases"/></cacheSource></pivotCacheDefinition>',
}


def add_parts(path: Path, parts: dict[str, bytes] = EXTRA_PARTS) -> Path:
    """Add opaque parts to a workbook's package (the sync must copy them untouched)."""
    import zipfile

    with zipfile.ZipFile(path) as src:
        members = [(i, src.read(i)) for i in src.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info, data in members:
            dst.writestr(info, data)
        for name, data in parts.items():
            dst.writestr(name, data)
    return path


def _fake_vba(folder: Path) -> str:
    """An opaque vbaProject.bin: the sync must carry it over byte for byte."""
    blob = folder / "vbaProject.bin"
    blob.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(range(256)) * 64)
    return str(blob)
