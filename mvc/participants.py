"""Who the visitor is in which meeting, kept in their session cookie."""
from __future__ import annotations

import secrets

from flask import session


def me(meeting_id: int) -> dict | None:
    """This browser's participant record for a meeting, if it joined."""
    record = session.get("mp", {}).get(str(meeting_id))
    return record if isinstance(record, dict) and "pid" in record else None


def remember(meeting_id: int, name: str, role: str, invitation_id: int | None = None, media: str = "av") -> dict:
    """Store (or refresh) this browser's participant record; the pid survives reloads."""
    people = dict(session.get("mp", {}))
    old = people.get(str(meeting_id)) or {}
    record = {"pid": old.get("pid") or secrets.token_urlsafe(12), "name": name, "role": role, "inv": invitation_id,
              "media": media if media in {"av", "audio", "listen"} else "av"}
    # Keep the cookie small: only the few most recent meetings.
    if len(people) >= 5 and str(meeting_id) not in people:
        people.pop(next(iter(people)))
    people[str(meeting_id)] = record
    session["mp"] = people
    session.permanent = True
    return record


def forget(meeting_id: int) -> None:
    """Drop the record (the person left)."""
    people = dict(session.get("mp", {}))
    people.pop(str(meeting_id), None)
    session["mp"] = people
