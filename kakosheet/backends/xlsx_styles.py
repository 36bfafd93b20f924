"""The few cell formats the engine needs, found in or added to `xl/styles.xml`."""

from __future__ import annotations

import re

from ..formats import DATETIME_FORMAT
from .xlsxpkg import MAIN_NS, _attr, _unescape

_DATE_CODES = re.compile(r"(?<![\\\"])[ymdhs]", re.I)
_BUILTIN_DATE_FORMATS = set(range(14, 23)) | {45, 46, 47}
_BUILTIN_FORMATS = {"0": 1, "0.00": 2, "0%": 9, "0.00%": 10}


class Styles:
    """Finds or adds the few cell formats the engine needs in `xl/styles.xml`."""

    def __init__(self, xml: bytes | None):
        self.original = xml
        self.xml = (xml or b"").decode("utf-8")
        if not self.xml:
            self.xml = (
                f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<styleSheet xmlns="{MAIN_NS}">'
                '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
                '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
                '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
                '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
                '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>'
                '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'
            )
        m = re.search(r"<(\w+:)?styleSheet\b", self.xml)
        self.prefix = m.group(1) or "" if m else ""
        self._date_memo: dict[int | None, int] = {}

    @property
    def changed(self) -> bool:
        return self.original is None or self.xml != self.original.decode("utf-8")

    def _section(self, tag: str) -> re.Match[str] | None:
        return re.search(rf"<(?:\w+:)?{tag}\b[^>]*?(?:/>|>(.*?)</(?:\w+:)?{tag}>)", self.xml, re.S)

    def _items(self, section: str, item: str) -> list[str]:
        m = self._section(section)
        if not m or m.group(1) is None:
            return []
        return re.findall(rf"<(?:\w+:)?{item}\b[^>]*?(?:/>|>.*?</(?:\w+:)?{item}>)", m.group(1), re.S)

    def _find_or_add(self, section: str, item: str, xml: str, before: tuple[str, ...]) -> int:
        items = self._items(section, item)
        if xml in items:
            return items.index(xml)
        p = self.prefix
        m = self._section(section)
        if m is None:
            block = f'<{p}{section} count="1">{xml}</{p}{section}>'
            self._insert_before(block, before)
            return 0
        if m.group(1) is None:  # an empty self-closed section
            self.xml = self.xml[: m.start()] + f'<{p}{section} count="1">{xml}</{p}{section}>' + self.xml[m.end() :]
            return 0
        close = m.end() - len(f"</{p}{section}>") if m.group(0).endswith(f"</{p}{section}>") else m.end(1)
        updated = self.xml[: close] + xml + self.xml[close:]
        start_tag_end = updated.index(">", m.start())
        tag = updated[m.start() : start_tag_end]
        tag = re.sub(r'\bcount="\d+"', f'count="{len(items) + 1}"', tag) if "count=" in tag else tag + f' count="{len(items) + 1}"'
        self.xml = updated[: m.start()] + tag + updated[start_tag_end:]
        return len(items)

    def _insert_before(self, block: str, before: tuple[str, ...]) -> None:
        for tag in before:
            m = re.search(rf"<(?:\w+:)?{tag}\b", self.xml)
            if m:
                self.xml = self.xml[: m.start()] + block + self.xml[m.start() :]
                return
        end = self.xml.rindex("</")
        self.xml = self.xml[:end] + block + self.xml[end:]

    def _num_fmt(self, code: str) -> int:
        p = self.prefix
        for m in re.finditer(r'<(?:\w+:)?numFmt\b[^>]*?numFmtId="(\d+)"[^>]*?formatCode="([^"]*)"', self.xml):
            if _unescape(m.group(2)) == code:
                return int(m.group(1))
        ids = [int(i) for i in re.findall(r'<(?:\w+:)?numFmt\b[^>]*?numFmtId="(\d+)"', self.xml)]
        new_id = max([163, *ids]) + 1
        self._find_or_add("numFmts", "numFmt", f'<{p}numFmt numFmtId="{new_id}" formatCode="{_attr(code)}"/>', ("fonts",))
        return new_id

    def number_format(self, code: str) -> int:
        """The id of a number format: a built-in one, or a custom one found or added."""
        return _BUILTIN_FORMATS.get(code) or self._num_fmt(code)

    def _is_date_format(self, fmt_id: int) -> bool:
        if fmt_id in _BUILTIN_DATE_FORMATS:
            return True
        m = re.search(rf'<(?:\w+:)?numFmt\b[^>]*?numFmtId="{fmt_id}"[^>]*?formatCode="([^"]*)"', self.xml)
        return bool(m and _DATE_CODES.search(re.sub(r"\[[^\]]*\]", "", _unescape(m.group(1)))))

    def xf(self, num_fmt: int = 0, font: str | None = None, fill: str | None = None, base: str | None = None) -> int:
        """The index of a cell format with this number format, font and fill (added if missing)."""
        p = self.prefix
        font_id = self._find_or_add("fonts", "font", font, ("fills",)) if font else 0
        fill_id = self._find_or_add("fills", "fill", fill, ("borders",)) if fill else 0
        if base is not None:
            xml = re.sub(r'\bnumFmtId="\d+"', f'numFmtId="{num_fmt}"', base)
            if "applyNumberFormat" in xml:
                xml = re.sub(r'\bapplyNumberFormat="[^"]*"', 'applyNumberFormat="1"', xml)
            else:
                xml = re.sub(r"^<((?:\w+:)?xf)\b", r'<\1 applyNumberFormat="1"', xml)
        else:
            applied = (' applyNumberFormat="1"' if num_fmt else "") + (' applyFont="1"' if font else "") + (' applyFill="1"' if fill else "")
            xml = f'<{p}xf numFmtId="{num_fmt}" fontId="{font_id}" fillId="{fill_id}" borderId="0" xfId="0"{applied}/>'
        return self._find_or_add("cellXfs", "xf", xml, ("cellStyles", "dxfs"))

    def date_style(self, base: int | None) -> int:
        """A style like `base` (a cell's current style, or none) that shows a date and time."""
        if base in self._date_memo:
            return self._date_memo[base]
        xfs = self._items("cellXfs", "xf")
        base_xml = xfs[base] if base is not None and base < len(xfs) else None
        current = re.search(r'numFmtId="(\d+)"', base_xml) if base_xml else None
        if current and self._is_date_format(int(current.group(1))):
            out = base  # already shows dates: keep the purchaser's own format
        else:
            out = self.xf(self._num_fmt(DATETIME_FORMAT), base=base_xml)
        self._date_memo[base] = out  # type: ignore[assignment]
        return out  # type: ignore[return-value]
