"""Opening hours per weekday (one or more periods a day) and closed days: when a queue is open, and when it opens next."""
from __future__ import annotations

import json
import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

LOCAL = ZoneInfo("Europe/Copenhagen")
CLOCK_RE = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
PERIOD_RE = re.compile(r"^(\d{1,2})[:.](\d{2})-(\d{1,2})[:.](\d{2})$")
MOST_PERIODS = 3  # a day's periods; the stored hours of a week stay within the column's 400 characters
LOOK_AHEAD = 60  # days searched for the next opening

Period = tuple[time, time]


class BadPeriods(ValueError):
    """A day's periods that cannot be saved: why ("format", "reversed", "overlap", "many") and the periods concerned."""

    def __init__(self, why: str, *periods: str) -> None:
        super().__init__(why, *periods)
        self.why, self.periods = why, periods


def parse_day(text: str) -> list[str]:
    """A day's periods as typed ("08:00-11:00, 13:00-15:00") -> sorted "HH:MM-HH:MM" strings; BadPeriods."""
    out: list[str] = []
    for part in re.split(r"[,;\s]+", re.sub(r"\s*[-–]\s*", "-", text.strip())):
        if not part:
            continue
        match = PERIOD_RE.match(part)
        opens, closes = (f"{int(match[1]):02}:{match[2]}", f"{int(match[3]):02}:{match[4]}") if match else ("", "")
        if not (CLOCK_RE.match(opens) and CLOCK_RE.match(closes)):
            raise BadPeriods("format", part)
        if opens >= closes:
            raise BadPeriods("reversed", f"{opens}-{closes}")
        out.append(f"{opens}-{closes}")
    out.sort()
    for first, second in zip(out, out[1:]):
        if second[:5] < first[6:]:
            raise BadPeriods("overlap", first, second)
    if len(out) > MOST_PERIODS:
        raise BadPeriods("many")
    return out


def weekly(hours_json: str) -> dict[int, list[Period]]:
    """The stored hours as weekday (0 = Monday) -> its periods (opens, closes), earliest first."""
    out = {}
    for day, periods in json.loads(hours_json or "{}").items():
        if periods and "-" not in periods[0]:  # stored before a day could have several periods: ["08:00", "12:00"]
            periods = ["-".join(periods)]
        out[int(day)] = sorted(tuple(time.fromisoformat(clock) for clock in p.split("-")) for p in periods)
    return out


def typed(hours_json: str) -> dict[int, str]:
    """The stored hours as the form shows them: weekday -> "08:00-11:00, 13:00-15:00"."""
    return {day: ", ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in periods) for day, periods in weekly(hours_json).items()}


def stored(days: dict[int, list[str]]) -> str:
    """Checked periods per weekday as the JSON kept in the database (closed days left out)."""
    return json.dumps({str(d): periods for d, periods in sorted(days.items()) if periods}, separators=(",", ":"))


def closed(closed_days: str) -> set[date]:
    """The stored closed days as dates."""
    return {date.fromisoformat(line.strip()) for line in closed_days.splitlines() if line.strip()}


def is_open(hours_json: str, closed_days: str, now: datetime) -> bool:
    """True during one of the day's periods (now is aware; hours are Danish local time)."""
    local = now.astimezone(LOCAL)
    if local.date() in closed(closed_days):
        return False
    return any(opens <= local.time() < closes for opens, closes in weekly(hours_json).get(local.weekday(), []))


def next_opening(hours_json: str, closed_days: str, now: datetime) -> datetime | None:
    """When the queue opens next (local time), or None when no opening is set in the next weeks."""
    local, spans, shut = now.astimezone(LOCAL), weekly(hours_json), closed(closed_days)
    for ahead in range(LOOK_AHEAD):
        day = local.date() + timedelta(days=ahead)
        if day in shut:
            continue
        for opens, _closes in spans.get(day.weekday(), []):
            when = datetime.combine(day, opens, LOCAL)
            if when > local:
                return when
    return None
