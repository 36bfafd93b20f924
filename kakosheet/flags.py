"""The engine's words on a case row, in the workbook's language: time-limit flags and durations.

A flag is kept by its key (ON_TRACK, DUE_SOON, OVERDUE); the cell shows it in the workbook's
language, and a cell written in the other language is rewritten in it by the next sync. The
template's and the Google Sheet's colour rules match the words given here.
"""

from __future__ import annotations

import functools
from datetime import timedelta

FLAGS = ("ON_TRACK", "DUE_SOON", "OVERDUE")
WORDS = {
    "ON_TRACK": {"en": "ON_TRACK", "zh": "正常"},
    "DUE_SOON": {"en": "DUE_SOON", "zh": "即将超时"},
    "OVERDUE": {"en": "OVERDUE", "zh": "已超时"},
}
COLOURS = {"OVERDUE": "FFC7CE", "DUE_SOON": "FFEB9C"}  # the cell's fill when it starts with the flag's word


def word(flag: str, lang: str) -> str:
    """The flag as a cell shows it in `lang`."""
    return WORDS[flag]["zh" if lang == "zh" else "en"]


def span_text(span: timedelta, lang: str = "en") -> str:
    """A duration as people say it: 2d 3h, 5h 20m, 45m (Chinese: 2天3小时, 5小时20分, 45分)."""
    minutes = int(abs(span).total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    d, h, m, gap = ("天", "小时", "分", "") if lang == "zh" else ("d", "h", "m", " ")
    if days:
        return f"{days}{d}{gap}{hours}{h}" if hours else f"{days}{d}"
    if hours:
        return f"{hours}{h}{gap}{mins}{m}" if mins else f"{hours}{h}"
    return f"{mins}{m}"


@functools.lru_cache(maxsize=1 << 14)
def flag_text(flag: str, span: timedelta | None, lang: str) -> str:
    """The Overdue cell: `OVERDUE 2d 3h` (how late), `DUE_SOON 1h 20m left` (working time left),
    `ON_TRACK`; in Chinese `已超时 2天3小时`, `即将超时 剩1小时20分`, `正常`."""
    shown = word(flag, lang)
    if flag == "ON_TRACK" or span is None:
        return shown
    if flag == "DUE_SOON":
        return f"{shown} 剩{span_text(span, lang)}" if lang == "zh" else f"{shown} {span_text(span, lang)} left"
    return f"{shown} {span_text(span, lang)}"
