"""Turn what a person typed into the value they meant, or say how to fix it.

Pure functions, one per field type. Each returns `(value, None)` or `(None, problem)`, where
the problem is a catalogue message (catalogue.py): what is wrong and how to write it instead,
put into words in the workbook's language when a finding is written.
"""

from __future__ import annotations

import difflib
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Any

from .catalogue import Ref
from .flags import span_text
from .formats import DATE_TEXT, DATETIME_TEXT, EXCEL_EPOCH
from .schema import Field, norm_label

# Excel serial numbers from 1990-01-01 to 2100-12-31 are taken as dates in date columns.
_SERIAL_MIN, _SERIAL_MAX = 32874, 73415

Result = tuple[Any, Ref | None]


def _problem(code: str, **params: object) -> Result:
    return None, Ref.of(code, **params)


def is_blank(value: object) -> bool:
    """True for None, NaN and text that is only spaces."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def clean_text(value: object) -> str:
    """A cell as text: integers without '.0', surrounding spaces removed."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.strftime(DATETIME_TEXT) if value.time() != time() else value.strftime(DATE_TEXT)
    return str(value).strip()


def _fold(value: object) -> str:
    return unicodedata.normalize("NFKC", clean_text(value)).strip()


def to_text(field: Field, value: object, tz: tzinfo) -> Result:
    return clean_text(value), None


ID_FORM = re.compile(r"^[A-Z][A-Z0-9]{0,9}-\d{6}-\d{5,}$")  # a case ID as the engine writes it


def to_id(field: Field, value: object, tz: tzinfo) -> Result:
    if type(value) is str and ID_FORM.fullmatch(value):  # as the engine wrote it
        return value, None
    text = re.sub(r"\s+", "", _fold(value)).upper()
    if ID_FORM.match(text):
        return text, None
    return _problem("not_an_id", value=clean_text(value))


_DATE_FORMS = (
    re.compile(r"^(?P<y>\d{4})[-/.年](?P<m>\d{1,2})[-/.月](?P<d>\d{1,2})日?(?:(?:[ T]+|(?<=日))(?P<time>.+))?$"),
    re.compile(r"^(?P<a>\d{1,2})[-/.](?P<b>\d{1,2})[-/.](?P<y>\d{4})(?:[ T]+(?P<time>.*))?$"),
)
_TIME = re.compile(r"^(?P<h>\d{1,2})[:时点](?P<mi>\d{2})分?(?::(?P<s>\d{2})(?:\.\d+)?)?\s*(?P<tz>Z|[+-]\d{2}:?\d{2})?$")


def _parse_time(text: str | None) -> tuple[time, timedelta | None] | None:
    if not text:
        return time(), None
    m = _TIME.match(text.strip())
    if not m:
        return None
    h, mi, s = int(m["h"]), int(m["mi"]), int(m["s"] or 0)
    if h > 23 or mi > 59 or s > 59:
        return None
    offset = None
    if m["tz"]:
        tzs = m["tz"]
        if tzs == "Z":
            offset = timedelta(0)
        else:
            digits = tzs[1:].replace(":", "")
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            offset = -offset if tzs[0] == "-" else offset
    return time(h, mi, s), offset


def to_datetime(field: Field, value: object, tz: tzinfo) -> Result:
    """Dates and times typed in common forms, Excel serials and real date cells -> aware datetime."""
    if isinstance(value, datetime):
        aware = value.astimezone(tz) if value.tzinfo else value.replace(tzinfo=tz)
        return _to_second(aware), None
    if isinstance(value, date):
        return datetime.combine(value, time(), tz), None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if _SERIAL_MIN <= value <= _SERIAL_MAX:
            naive = EXCEL_EPOCH + timedelta(seconds=round(float(value) * 86400))
            return naive.replace(tzinfo=tz), None
        return _problem("date_number", value=clean_text(value))
    text = _fold(value)
    for form in _DATE_FORMS:
        m = form.match(text)
        if not m:
            continue
        y = int(m["y"])
        if "m" in m.groupdict():
            mo, d = int(m["m"]), int(m["d"])
        else:
            a, b = int(m["a"]), int(m["b"])
            if a > 12 >= b:
                d, mo = a, b
            elif b > 12 >= a:
                mo, d = a, b
            elif a == b:
                mo = d = a
            elif a > 12 and b > 12:
                return _problem("not_a_real_date", value=text)
            else:
                return _problem("ambiguous_date", value=text)
        parsed = _parse_time(m["time"])
        if parsed is None:
            return _problem("bad_time", value=text)
        t, offset = parsed
        try:
            day = date(y, mo, d)
        except ValueError:
            return _problem("not_a_real_date", value=text)
        if offset is None:
            return datetime.combine(day, t, tz), None
        return datetime.combine(day, t, timezone(offset)).astimezone(tz), None
    return _problem("not_a_date", value=clean_text(value))


_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$")


def _to_second(value: datetime) -> datetime:
    """`value` rounded to the nearest second, as spreadsheets store it."""
    return (value + timedelta(microseconds=500_000)).replace(microsecond=0)


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = _fold(value).replace(" ", "")
    if "," in text:
        bare = re.sub(r"^[¥$€£]", "", text)
        if not _THOUSANDS.match(re.sub(r"(?:元|rmb|usd|cny|eur)$", "", bare, flags=re.I)):
            return None  # "12,5" could be 12.5 or 125: ask rather than guess
        text = text.replace(",", "")
    text = re.sub(r"^[¥$€£]|(?:元|rmb|usd|cny|eur)$", "", text, flags=re.IGNORECASE)
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def to_int(field: Field, value: object, tz: tzinfo) -> Result:
    number = _number(value)
    if number is None or not number.is_integer():
        return _problem("not_whole_number", value=clean_text(value))
    if field.min is not None and number < field.min:
        return _problem("below_minimum", value=clean_text(value), min=field.min)
    return int(number), None


def to_number(field: Field, value: object, tz: tzinfo) -> Result:
    number = _number(value)
    if number is None:
        return _problem("not_a_number", value=clean_text(value))
    if field.min is not None and number < field.min:
        return _problem("below_minimum", value=clean_text(value), min=field.min)
    return number, None


_CJK = re.compile(r"[\u3400-\u9fff]")


def to_choice(field: Field, value: object, tz: tzinfo) -> Result:
    typed = norm_label(clean_text(value))
    key = field.choice_lookup.get(typed)
    if key is not None:
        return key, None
    options, options_zh = ", ".join(c.key for c in field.choices), "、".join(c.zh for c in field.choices)
    cutoff = 0.5 if _CJK.search(typed) else 0.75  # one wrong character of two is half the word
    close = difflib.get_close_matches(typed, list(field.choice_lookup), n=1, cutoff=cutoff)
    if not close:
        return _problem("not_a_choice", value=clean_text(value), options=options, options_zh=options_zh)
    meant = next(c for c in field.choices if c.key == field.choice_lookup[close[0]])
    return _problem("misspelt_choice", value=clean_text(value), key=meant.key, label=meant.zh, options=options, options_zh=options_zh)


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def to_email(field: Field, value: object, tz: tzinfo) -> Result:
    text = _fold(value)
    if _EMAIL.match(text):
        return text, None
    return _problem("not_an_email", value=clean_text(value))


_PERIOD = re.compile(r"^(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*月?$")


def to_period(field: Field, value: object, tz: tzinfo) -> Result:
    if isinstance(value, (datetime, date)):
        return f"{value.year:04d}-{value.month:02d}", None
    m = _PERIOD.match(_fold(value))
    if m and 1 <= int(m["m"]) <= 12:
        return f"{int(m['y']):04d}-{int(m['m']):02d}", None
    return _problem("not_a_month", value=clean_text(value))


@dataclass(frozen=True)
class Duration:
    """A time limit: a span of time (m, h: working time on a working calendar, real time round the
    clock), or a number of days (d) or weeks (w): working days on a working calendar, calendar days
    round the clock. `bd` is days counted Monday to Friday round the clock, working days on a
    working calendar."""

    span: timedelta = timedelta(0)
    days: int = 0
    weeks: int = 0
    business_days: int = 0

    def __str__(self) -> str:
        if self.business_days:
            return f"{self.business_days}bd"
        if self.weeks:
            return f"{self.weeks}w"
        if self.days:
            return f"{self.days}d"
        return span_text(self.span)


_DURATION = re.compile(r"^(?P<n>\d+(?:\.\d+)?)\s*(?P<u>bd|m|min|mins|minutes?|h|hrs?|hours?|d|days?|w|weeks?|分钟|小时|天|工作日|周)$")
_UNITS = {"m": 60, "h": 3600, "分": 60, "小": 3600}
_DAYS = {"d": "days", "天": "days", "w": "weeks", "周": "weeks", "b": "business_days", "工": "business_days"}


def to_duration(field: Field, value: object, tz: tzinfo) -> Result:
    m = _DURATION.match(_fold(value).lower())
    if m:
        n, unit = float(m["n"]), m["u"]
        if n <= 0:
            pass
        elif unit[0] in _UNITS:
            return Duration(span=timedelta(seconds=n * _UNITS[unit[0]])), None
        elif n.is_integer():
            return Duration(**{_DAYS[unit[0]]: int(n)}), None
        else:
            return _problem("whole_days", value=clean_text(value), hours=f"{n * 24:g}h")
    return _problem("not_a_duration", value=clean_text(value))


_CURRENCY = re.compile(r"^[A-Z]{3}$")
CURRENCY_WORDS = {
    "¥": "CNY", "￥": "CNY", "RMB": "CNY", "元": "CNY", "人民币": "CNY", "$": "USD", "美元": "USD", "美金": "USD",
    "€": "EUR", "欧元": "EUR", "£": "GBP", "英镑": "GBP", "日元": "JPY", "港币": "HKD", "港元": "HKD",
}


def to_currency(field: Field, value: object, tz: tzinfo) -> Result:
    text = _fold(value).upper()
    text = CURRENCY_WORDS.get(text, text)
    if _CURRENCY.match(text):
        return text, None
    return _problem("not_a_currency", value=clean_text(value))


COERCERS: dict[str, Callable[[Field, object, tzinfo], Result]] = {
    "text": to_text,
    "id": to_id,
    "datetime": to_datetime,
    "int": to_int,
    "number": to_number,
    "choice": to_choice,
    "email": to_email,
    "period": to_period,
    "duration": to_duration,
    "currency": to_currency,
}


def coerce(field: Field, value: object, tz: tzinfo) -> Result:
    """The value a person meant by `value` in `field`, or None and why it can't be read."""
    if is_blank(value):
        return None, None
    return COERCERS[field.type](field, value, tz)


