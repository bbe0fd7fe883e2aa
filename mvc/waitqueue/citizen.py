"""The citizen's side: checking the join form, and their place kept in the session cookie."""
from __future__ import annotations

import time
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone

from flask import current_app, session
from flask_babel import gettext as _

from mvc import participants, rooms, security
from mvc.join.service import NAME_ERRORS
from mvc.models import Meeting, Queue
from mvc.waitqueue import hours
from mvc.waitqueue.state import QueueState

INTAKE_MAX = 500


@dataclass
class Joining:
    """The checked join form."""

    name: str = ""
    assisted: bool = False
    intake: str = ""
    media: str = "av"
    errors: dict = field(default_factory=dict)
    status: int = 200


def is_open(queue: Queue) -> bool:
    """True during the queue's opening hours."""
    return hours.is_open(queue.hours, queue.closed_days, now())


def now() -> datetime:
    """The current time, aware (tests fix the clock with the config key QUEUE_NOW)."""
    return current_app.config.get("QUEUE_NOW") or datetime.now(timezone.utc)


def read_form(queue: Queue, form) -> Joining:
    """Check name, PIN and intake answer; errors are ready to show next to their fields."""
    out = Joining(assisted=form.get("assisted") == "on", media=form.get("media", "av"))
    name, name_error = rooms.clean_name(form.get("name"))
    if name_error:
        out.errors["name"] = NAME_ERRORS[name_error]()
    out.name = name or ""
    intake = " ".join((form.get("intake") or "").split())
    if len(intake) > INTAKE_MAX or any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co"} for ch in intake):
        out.errors["intake"] = _("Please write at most 500 characters.")
    out.intake = intake if queue.intake_question else ""
    if queue.guest_pin and not out.errors:
        check = security.check_pin(f"queue-{queue.alias}", (form.get("pin") or "").strip()[:20], None,
                                   queue.guest_pin)
        if check.role is None:
            out.errors["pin"] = (_("Too many wrong PINs. Please wait 10 minutes and try again.") if check.blocked
                                 else _("The PIN is not correct. Please check it and try again."))
            out.status = 429 if check.blocked else 403
    if out.errors and out.status == 200:
        out.status = 422
    return out


def remember(queue: Queue, eid: str, joining: Joining) -> None:
    """Keep the citizen's place in their session cookie, so a reload finds it again."""
    places = dict(session.get("q", {}))
    places[str(queue.id)] = {"eid": eid, "name": joining.name, "media": joining.media}
    session["q"] = places
    session.permanent = True


def place(queue: Queue) -> dict | None:
    """This browser's place in the queue, if it joined."""
    record = session.get("q", {}).get(str(queue.id))
    return record if isinstance(record, dict) and "eid" in record else None


def forget(queue: Queue) -> None:
    """Drop the place from the cookie (left the queue or went into the call)."""
    places = dict(session.get("q", {}))
    places.pop(str(queue.id), None)
    session["q"] = places


def into_call(queue: Queue, record: dict, meeting: Meeting) -> None:
    """Make the citizen a participant of their call with the name they typed, so they join without retyping."""
    participants.remember(meeting.id, record["name"], "guest", None, record.get("media", "av"))
    forget(queue)


def estimate(state: QueueState, position: int) -> int | None:
    """Minutes until the citizen's turn at the last hour's pace, or None when there is no pace yet."""
    each = state.minutes_each(time.time())
    return None if each is None else max(1, round(each * position))
