"""The Next action cell of an open case: the next step, the party expected to act, and by when.

It suggests and never decides: a delivered reshipment suggests marking the case completed, it
does not complete it. Pure, in the workbook's language.
"""

from __future__ import annotations

import functools
from datetime import datetime, tzinfo
from typing import NamedTuple

from .formats import DATE_TEXT

STEPS = {  # stage -> (English, Chinese): what moves the case on from it
    "reported": ("Confirm responsibility", "确认责任方"),
    "responsibility_confirmed": ("Agree a plan", "商定处理方案"),
    "plan_agreed": ("Start the agreed plan", "开始执行方案"),
    "in_progress": ("Finish the work and mark completed", "完成处理并标记已完成"),
    "completed": ("Close the case once the customer is satisfied", "客户满意后关闭售后单"),
    "disputed": ("Settle the dispute", "解决争议"),
}
CONTACT = ("Contact the customer", "联系客户")


class Next(NamedTuple):
    """What the engine knows of a case when it words its next action."""

    status: str
    party: str | None  # the party's label in the workbook's language
    suggested: bool  # whether the party is only the suggestion
    due: datetime | None  # when the stage is due
    contact_due: datetime | None  # when the customer must be contacted, if a limit applies
    left: str  # on hold: the stage left, in the workbook's language
    since: datetime | None  # on hold: since when
    reship: tuple[str, str, datetime | None] | None  # latest reshipment: ID, status, delivered at


@functools.lru_cache(maxsize=1 << 14)
def next_action(n: Next, tz: tzinfo, lang: str) -> str | None:
    """The cell's text; None for a case with nothing left to do (closed, cancelled). Remembered:
    many cases share a stage, a party and a clock."""
    zh = lang == "zh"
    if n.reship is not None and n.status in ("plan_agreed", "in_progress"):
        rs, status, delivered = n.reship
        if status == "DELIVERED":
            when = f" {delivered.astimezone(tz).strftime(DATE_TEXT)}" if delivered else ""
            return f"可标记为已完成：{rs} 已{when}送达" if zh else f"Mark completed: {rs} delivered{when}"
        if status == "FAILED":
            return f"补发 {rs} 失败：重新补发或退款" if zh else f"Reship again or refund: {rs} failed"
    if n.status == "on_hold":
        back = f"「{n.left}」" if zh and n.left else f" {n.left}" if n.left else ""
        return f"恢复处理{back}（暂停自 {_time(n.since, tz)}）" if zh else f"Resume{back} (on hold since {_time(n.since, tz)})"
    step = STEPS.get(n.status)
    if step is None:
        return None
    due = n.due
    if n.contact_due is not None and (due is None or n.contact_due < due):
        return _with(CONTACT[1] if zh else CONTACT[0], "", n.contact_due, tz, zh)
    party = ""
    if n.party:
        if zh:
            party = f"（推荐：{n.party}）" if n.suggested else f"（{n.party}）"
        else:
            party = f" ({n.party} suggested)" if n.suggested else f" ({n.party})"
    return _with(step[1] if zh else step[0], party, due, tz, zh)


def _with(step: str, party: str, due: datetime | None, tz: tzinfo, zh: bool) -> str:
    if due is None:
        return f"{step}{party}"
    return f"{step}{party}，截止 {_time(due, tz)}" if zh else f"{step}{party} by {_time(due, tz)}"


def _time(at: datetime | None, tz: tzinfo) -> str:
    """`at` in `tz` as DATETIME_TEXT writes it (YYYY-MM-DD HH:MM), without strftime's cost."""
    if at is None:
        return ""
    t = at if at.tzinfo is tz else at.astimezone(tz)
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d} {t.hour:02d}:{t.minute:02d}"
