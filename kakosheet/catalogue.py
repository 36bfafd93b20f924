"""Every message the sync writes about the input, in English and Chinese, by code.

A finding (or a row note) is a code and the facts it was made from; the words come from here,
in the workbook's language, only when it is written. A template names its facts as str.format
fields; each template says what is wrong and how to fix it. Where a finding concerns one
column, the column's label (as the sheet has it) is put in front of the message, so a template
does not repeat it.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

from .formats import DATE_TEXT, DATETIME_TEXT

Params = tuple[tuple[str, str], ...]  # (name, value) pairs, sorted by name: hashable and ordered


class Entry(NamedTuple):
    en: str
    zh: str

    def template(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


_DATE_HINT = "write it as YYYY-MM-DD or YYYY-MM-DD HH:MM (e.g. 2026-11-20 14:30)"
_DATE_HINT_ZH = "请写成 YYYY-MM-DD 或 YYYY-MM-DD HH:MM（如 2026-11-20 14:30）"

CATALOGUE: dict[str, Entry] = {
    # a cell that cannot be read as its column's type (coerce.py)
    "not_an_id": Entry(
        "{value!r} is not a case ID; copy it from the Cases tab (like AS-202611-00042)",
        "{value!r} 不是售后单号；请从「售后单」页复制（如 AS-202611-00042）",
    ),
    "date_number": Entry(
        f"the number {{value}} is not a date; {_DATE_HINT}",
        f"数字 {{value}} 不是日期；{_DATE_HINT_ZH}",
    ),
    "not_a_date": Entry(
        f"{{value!r}} is not a date; {_DATE_HINT}",
        f"{{value!r}} 不是日期；{_DATE_HINT_ZH}",
    ),
    "not_a_real_date": Entry(
        f"{{value!r}} is not a real date; {_DATE_HINT}",
        f"{{value!r}} 不是有效日期；{_DATE_HINT_ZH}",
    ),
    "ambiguous_date": Entry(
        f"{{value!r}} is ambiguous (day/month or month/day?); {_DATE_HINT}",
        f"{{value!r}} 有歧义（日/月还是月/日？）；{_DATE_HINT_ZH}",
    ),
    "bad_time": Entry(
        f"the time in {{value!r}} is not a valid time; {_DATE_HINT}",
        f"{{value!r}} 中的时间无效；{_DATE_HINT_ZH}",
    ),
    "not_whole_number": Entry(
        "{value!r} is not a whole number; write digits only, e.g. 3 (a comma only between thousands: 1,200)",
        "{value!r} 不是整数；请只填数字，如 3（逗号只用于千位分隔：1,200）",
    ),
    "not_a_number": Entry(
        "{value!r} is not a number; write digits only, with a point for decimals, e.g. 12.50",
        "{value!r} 不是数字；请只填数字，小数用小数点，如 12.50",
    ),
    "below_minimum": Entry(
        "{value} is below {min}; write a number of at least {min}",
        "{value} 小于 {min}；请填写不小于 {min} 的数",
    ),
    "not_a_choice": Entry(
        "{value!r} is not an allowed value; pick one from the dropdown ({options})",
        "{value!r} 不是允许的值；请从下拉列表中选择（{options_zh}）",
    ),
    "misspelt_choice": Entry(
        "{value!r} is not an allowed value; did you mean {key!r}? pick one from the dropdown ({options})",
        "{value!r} 不是允许的值；是不是 {label!r}？请从下拉列表中选择（{options_zh}）",
    ),
    "not_an_email": Entry(
        "{value!r} is not an email address; write it like name@example.com",
        "{value!r} 不是邮箱地址；请写成 name@example.com 的形式",
    ),
    "not_a_month": Entry(
        "{value!r} is not a month; write it as YYYY-MM, e.g. 2026-11",
        "{value!r} 不是月份；请写成 YYYY-MM，如 2026-11",
    ),
    "not_a_duration": Entry(
        "{value!r} is not a time limit; write e.g. 30m, 2h (working time), 2d or 3w (working days)",
        "{value!r} 不是时限；请写成如 30m、2h（工作时间）、2d、3w（工作日），或 4小时、2天、3工作日",
    ),
    "whole_days": Entry(
        "{value!r}: days and weeks count whole (working) days; write a whole number, e.g. 2d, or the time in hours ({hours})",
        "{value!r}：天和周按整（工作）日计算；请写整数如 2d，或写成小时（{hours}）",
    ),
    "not_a_currency": Entry(
        "{value!r} is not a currency code; write three letters, e.g. USD or CNY",
        "{value!r} 不是币种代码；请填写三个字母，如 USD 或 CNY",
    ),
    # checks of the typed table (validate.py)
    "required": Entry(
        "missing; this column is required, fill it in",
        "未填写；此列必填，请补上",
    ),
    "future": Entry(
        "{when} is in the future; check the year and month",
        "{when} 晚于当前时间；请检查年份和月份",
    ),
    "date_order": Entry(
        "is before the date in {shipped}; check both dates",
        "早于「{shipped}」列的日期；请检查两个日期",
    ),
    "invalid_value": Entry(
        "fails the check {check!r}; correct the value",
        "未通过检查 {check!r}；请修改此值",
    ),
    # the header row of a tab (sync.py)
    "missing_column": Entry(
        "required column {label_en!r} ({label_zh}) is missing from the header row; add a column headed {label_en!r} or {key!r}",
        "表头缺少必填列「{label_zh}」（{label_en}）；请添加一列，标题为「{label_zh}」或 {label_en!r}",
    ),
    "duplicate_column": Entry(
        "a second {label_en!r} column; it is ignored, rename or remove it",
        "第二个「{label_zh}」列，已被忽略；请改名或删除",
    ),
    "no_header": Entry(
        "no header row found in the first rows; put the column names ({columns}, ...) in row 1",
        "前几行中找不到表头；请在第 1 行填写列名（{columns_zh}……）",
    ),
    # references between tabs (engine.py)
    "unknown_case": Entry(
        "{case_id} is not in the Cases tab; copy the ID from there",
        "{case_id} 不在「售后单」页中；请从那里复制售后单号",
    ),
    # calendars and time limits (clocks.py)
    "reserved_calendar": Entry(
        "{name!r} means round the clock and can't name a calendar; give the calendar another name",
        "{name!r} 表示全天候，不能用作日历名称；请换一个名称",
    ),
    "duplicate_calendar": Entry(
        "a second calendar named {name!r}; the first one is used, rename or remove this one",
        "第二个名为 {name!r} 的日历；使用第一个，请改名或删除本行",
    ),
    "unknown_calendar": Entry(
        "{name!r} is not a calendar of the Calendars tab ({known}); write one of those, or 24x7 for round the clock",
        "{name!r} 不是「工作日历」页中的日历（{known}）；请填写其中之一，或填 24x7 表示全天候",
    ),
    "bad_timezone": Entry(
        "{value!r} is not a time zone; write an IANA name such as Asia/Shanghai or America/Los_Angeles",
        "{value!r} 不是时区；请填写 IANA 时区名，如 Asia/Shanghai、America/Los_Angeles",
    ),
    "bad_hours": Entry(
        "{value!r} are not working hours ({why}); write e.g. 09:00-12:00, 13:00-18:00, or leave blank for closed",
        "{value!r} 不是上班时间（{why}）；请写成如 09:00-12:00, 13:00-18:00，休息日留空",
    ),
    "no_working_hours": Entry(
        "calendar {name!r} has no working hours on any day; fill in the hours of its working weekdays, e.g. 09:00-18:00",
        "日历 {name!r} 没有任何上班时间；请填写工作日的上班时间，如 09:00-18:00",
    ),
    "bad_region": Entry(
        "{value!r} is not a holidays region ({why}); write e.g. CN, HK, TW, US, US-CA or DE",
        "{value!r} 不是节假日地区（{why}）；请填写如 CN、HK、TW、US、US-CA、DE",
    ),
    "bad_warn_before": Entry(
        "{value!r} is not a warning time; write a share of the limit (25%) or a time before the due time (2h); 25% is used",
        "{value!r} 不是提醒时间；请填写时限的比例（25%）或截止前的时长（2h）；暂按 25% 计算",
    ),
    "no_official_schedule": Entry(
        "calendar {name!r}: the holidays of {region} for {year} are not officially published yet (make-up working days unknown); add them in the Calendar Days tab",
        "日历 {name!r}：{region} {year} 年的放假和调休安排尚未公布；请在「日历例外」页补充",
    ),
    # a case's stage history (validate.py, history.py)
    "change_in_future": Entry(
        "{when} is in the future; the time the sync saw the status change is used. Write when it changed, or leave it blank",
        "{when} 晚于当前时间；已按同步发现变更的时间计算。请填写实际变更时间，或留空",
    ),
    "change_before_reported": Entry(
        "is before the time in {reported}; the time the sync saw the status change is used. Check both times",
        "早于「{reported}」列的时间；已按同步发现变更的时间计算。请检查两个时间",
    ),
    "change_before_previous_note": Entry(
        "Status changed at ({when}) is before the previous change ({previous}): update it with the status; the time the sync saw the change is used",
        "状态变更时间（{when}）早于上一次变更（{previous}）：请随状态一起更新；已按同步发现变更的时间计算",
    ),
    "skipped_stages_note": Entry(
        "status moved from {came_from} to {to}, skipping {skipped}",
        "状态从「{came_from}」直接改为「{to}」，跳过了 {skipped}",
    ),
    "moved_back_note": Entry(
        "status moved back from {came_from} to {to}",
        "状态从「{came_from}」退回到「{to}」",
    ),
    # the conditions of the Rules tab (rules.py)
    "condition_not_a_choice": Entry(
        "{value!r} is not a value of this column; write one of {options}, or several separated by commas (the rule is not used until then)",
        "{value!r} 不是此列的可选值；请填写其中之一：{options_zh}，多个值用逗号分隔（改正前此规则不生效）",
    ),
    "condition_misspelt_choice": Entry(
        "{value!r} is not a value of this column; did you mean {key!r}? write one of {options}, or several separated by commas (the rule is not used until then)",
        "{value!r} 不是此列的可选值；是不是 {label!r}？请填写其中之一：{options_zh}，多个值用逗号分隔（改正前此规则不生效）",
    ),
    "condition_unusable": Entry(
        "this column can't be a condition of a rule (only text columns and columns with a list of values can: not dates, numbers or the columns kakosheet fills in); it is ignored",
        "此列不能作为规则的条件（只有文本列和下拉选项列可以，日期、数字及 kakosheet 自动填写的列不行）；已忽略此列",
    ),
    # the suggestion of a case no rule matches (rules.py), and the Problems tab's count of them
    "no_rule": Entry(
        "no rule matches; add one in Rules",
        "没有匹配的规则；请在「责任规则」页添加",
    ),
    "no_rule_case": Entry(
        "1 case matches no rule ({case_id}); add one in Rules",
        "1 个售后单没有匹配的规则（{case_id}）；请在「责任规则」页添加",
    ),
    "no_rule_cases": Entry(
        "{n} cases match no rule (e.g. {examples}); add one in Rules",
        "{n} 个售后单没有匹配的规则（如 {examples_zh}）；请在「责任规则」页添加",
    ),
    # notes the engine leaves on a row for a while, not findings (ids.assign_ids, reships.py)
    "id_reassigned_note": Entry(
        "new ID: this row carried {case_id}, which row {row} already has (a copied row?)",
        "新单号：本行原有的 {case_id} 与第 {row} 行重复（是复制的行吗？）",
    ),
    "id_replaced_note": Entry(
        "new ID: the ID cell held {raw!r}, which is not a case ID",
        "新单号：单号格原为 {raw!r}，不是售后单号",
    ),
    "reship_id_replaced_note": Entry(
        "new ID: the ID cell held {raw!r}, which is not a reshipment ID (RS-YYYYMM-NNNNN)",
        "新补发单号：单号格原为 {raw!r}，不是补发单号（RS-YYYYMM-NNNNN）",
    ),
    # notes on a Reshipments row whose status moved out of the flow QC_FAILED -> RESHIPPED ->
    # DELIVERED or FAILED (reships.py); the status is kept as typed
    "reship_skipped_note": Entry(
        "status went from {old} straight to {new}, skipping {skipped}; kept as typed, check it",
        "状态从「{old}」直接改为「{new}」，跳过了「{skipped}」；已按所填保留，请核对",
    ),
    "reship_backward_note": Entry(
        "status went back from {old} to {new}; kept as typed, check it",
        "状态从「{old}」退回「{new}」；已按所填保留，请核对",
    ),
    "reship_outcome_changed_note": Entry(
        "status changed from {old} to {new} after the reshipment had ended; kept as typed, check it",
        "补发已结束，状态却从「{old}」改为「{new}」；已按所填保留，请核对",
    ),
}


def fields(template: str) -> frozenset[str]:
    """The names of the fields `template` fills in."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)


_NEEDED = {code: fields(entry.en) | fields(entry.zh) for code, entry in CATALOGUE.items()}


def param(value: object) -> str:
    """A fact as messages show it: times as YYYY-MM-DD HH:MM, numbers without a needless '.0'."""
    if isinstance(value, datetime):
        return value.strftime(DATETIME_TEXT)
    if isinstance(value, date):
        return value.strftime(DATE_TEXT)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def params_of(code: str, given: dict[str, object]) -> Params:
    """`given` as the parameters of a `code` message; an unknown code or a wrong set of facts is a
    mistake in the calling code, raised at once rather than when the message is rendered."""
    needed = _NEEDED.get(code)
    if needed is None:
        raise ValueError(f"no message {code!r} in the catalogue; add it to kakosheet/catalogue.py")
    if set(given) != needed:
        raise ValueError(f"message {code!r} takes {sorted(needed)}, was given {sorted(given)}")
    return tuple(sorted((k, param(v)) for k, v in given.items()))


@dataclass(frozen=True, order=True, slots=True)
class Ref:
    """A message not yet put into words: its code and the facts its templates are filled with."""

    code: str
    params: Params = ()

    @classmethod
    def of(cls, code: str, **params: object) -> Ref:
        return cls(code, params_of(code, params))

    def render(self, lang: str = "en") -> str:
        return render(self, lang)


def render(ref: Ref, lang: str = "en") -> str:
    """The message `ref` in `lang` ("zh" for Chinese, English otherwise)."""
    return CATALOGUE[ref.code].template(lang).format_map(dict(ref.params))
