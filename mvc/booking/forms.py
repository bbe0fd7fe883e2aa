"""Reading the booking and SMS-meeting forms into checked values and per-field error messages."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from flask_babel import gettext as _

from mvc import rooms
from mvc.models.room import LAYOUTS
from mvc.sms.phones import error_text, parse_mobile

LOCAL = ZoneInfo("Europe/Copenhagen")
OPTIONS = ("chat", "hand_raise", "waiting_room", "guests_may_unmute", "guests_camera", "one_way_video",
           "allow_forward")
MAX_PEOPLE = 10
MAX_HOURS = 12


@dataclass
class PersonIn:
    """One invitee as typed."""

    name: str
    phone: str | None
    email: str | None
    locale: str | None = None  # None: the language chosen for the whole form
    reminder: bool = True
    may_forward: bool = True  # the meeting's allow_forward still decides


@dataclass
class Parsed:
    """Checked form values and errors keyed by field id."""

    people: list[PersonIn] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    title: str = ""
    locale: str = "da"
    reminders: bool = True


def read_people(form, parsed: Parsed, with_email: bool) -> None:
    """Rows of name / mobile number (/ e-mail); blank rows are skipped."""
    names, phones = form.getlist("name"), form.getlist("phone")
    emails = form.getlist("email") if with_email else []
    for i in range(min(max(len(names), len(phones), len(emails)), MAX_PEOPLE)):
        raw_name = (names[i] if i < len(names) else "").strip()
        raw_phone = (phones[i] if i < len(phones) else "").strip()
        raw_email = (emails[i] if i < len(emails) else "").strip()
        if not (raw_name or raw_phone or raw_email):
            continue
        name = ""
        if raw_name:
            name, problem = rooms.clean_name(raw_name)
            if problem:
                parsed.errors[f"name-{i}"] = _("Please type a shorter name with letters and spaces only.")
        phone = None
        if raw_phone or not with_email or not raw_email:
            phone, problem = parse_mobile(raw_phone)
            if problem:
                parsed.errors[f"phone-{i}"] = error_text(problem)
        email = None
        if raw_email:
            if len(raw_email) > 254 or "@" not in raw_email.strip("@") or " " in raw_email:
                parsed.errors[f"email-{i}"] = _("This is not an e-mail address.")
            else:
                email = raw_email
        parsed.people.append(PersonIn(name or "", phone, email))


def read_options(form, parsed: Parsed) -> None:
    """Meeting functions chosen with checkboxes, the layout and the language of the texts."""
    parsed.options = {name: form.get(name) == "on" for name in OPTIONS}
    layout = form.get("layout", "tiles")
    parsed.options["layout"] = layout if layout in LAYOUTS else "tiles"
    parsed.locale = form.get("locale") if form.get("locale") in ("da", "en") else "da"
    parsed.reminders = form.get("reminders") == "on"


def _local(day: date, clock: str) -> datetime | None:
    try:
        hour, minute = (int(part) for part in clock.split(":"))
        return datetime.combine(day, time(hour, minute), tzinfo=LOCAL).astimezone(timezone.utc)
    except ValueError:
        return None


def read_when(form, parsed: Parsed, now: datetime) -> None:
    """Date, start and end in Copenhagen time, stored as UTC."""
    try:
        day = date.fromisoformat(form.get("date", ""))
    except ValueError:
        parsed.errors["date"] = _("Please choose a date.")
        return
    start, end = _local(day, form.get("start", "")), _local(day, form.get("end", ""))
    if start is None:
        parsed.errors["start"] = _("Please type the start time as hours and minutes, for example 09:30.")
    if end is None:
        parsed.errors["end"] = _("Please type the end time as hours and minutes, for example 10:00.")
    if start is None or end is None:
        return
    if end <= start:  # an end before the start is the next day's (23:30-00:30), if not too long
        next_day = _local(day + timedelta(days=1), form.get("end", ""))
        if next_day is not None and next_day - start <= timedelta(hours=MAX_HOURS):
            end = next_day
    if start < now - timedelta(minutes=5):
        parsed.errors["start"] = _("The start time has already passed. Please choose a later time.")
    elif end <= start:
        parsed.errors["end"] = _("The meeting must end after it starts.")
    elif end - start > timedelta(hours=MAX_HOURS):
        parsed.errors["end"] = _("A meeting can last at most %(num)d hours.", num=MAX_HOURS)
    parsed.starts_at, parsed.ends_at = start, end


def instant_form(form) -> Parsed:
    """An SMS meeting: at least one mobile number."""
    parsed = Parsed()
    read_people(form, parsed, with_email=False)
    read_options(form, parsed)
    if not parsed.people and not parsed.errors:
        parsed.errors["phone-0"] = error_text("missing")
    return parsed


def booking_form(form, now: datetime, require_people: bool = True) -> Parsed:
    """A booking: title for staff only, date and times, invitees and functions."""
    parsed = Parsed()
    parsed.title = " ".join(form.get("title", "").split())[:200]
    read_when(form, parsed, now)
    read_people(form, parsed, with_email=True)
    read_options(form, parsed)
    if require_people and not parsed.people and "phone-0" not in parsed.errors:
        parsed.errors["phone-0"] = _("Please invite at least one person with a mobile number or an e-mail address.")
    return parsed


def local_fields(meeting) -> dict:
    """A booking's times as the form shows them."""
    start, end = meeting.starts_at.astimezone(LOCAL), meeting.ends_at.astimezone(LOCAL)
    return {"date": start.date().isoformat(), "start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")}
