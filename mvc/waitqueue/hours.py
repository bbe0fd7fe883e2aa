"""Opening hours per weekday and closed days: when a queue is open, and when it opens next."""
from __future__ import annotations

import json
import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

LOCAL = ZoneInfo("Europe/Copenhagen")
CLOCK_RE = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
LOOK_AHEAD = 60  # days searched for the next opening


def weekly(hours_json: str) -> dict[int, tuple[time, time]]:
    """The stored hours as weekday (0 = Monday) -> (opens, closes)."""
    raw = json.loads(hours_json or "{}")
    return {int(day): (time.fromisoformat(span[0]), time.fromisoformat(span[1])) for day, span in raw.items()}


def closed(closed_days: str) -> set[date]:
    """The stored closed days as dates."""
    return {date.fromisoformat(line.strip()) for line in closed_days.splitlines() if line.strip()}


def is_open(hours_json: str, closed_days: str, now: datetime) -> bool:
    """True while the queue's opening hours run (now is aware; hours are Danish local time)."""
    local = now.astimezone(LOCAL)
    span = weekly(hours_json).get(local.weekday())
    return bool(span) and local.date() not in closed(closed_days) and span[0] <= local.time() < span[1]


def next_opening(hours_json: str, closed_days: str, now: datetime) -> datetime | None:
    """When the queue opens next (local time), or None when no opening is set in the next weeks."""
    local, spans, shut = now.astimezone(LOCAL), weekly(hours_json), closed(closed_days)
    for ahead in range(LOOK_AHEAD):
        day = local.date() + timedelta(days=ahead)
        span = spans.get(day.weekday())
        if span and day not in shut:
            opens = datetime.combine(day, span[0], LOCAL)
            if opens > local:
                return opens
    return None
