"""Who the visitor is in which meeting, kept in their session cookie, and which browser it is."""
from __future__ import annotations

import secrets

from flask import current_app, g, request, session
from itsdangerous import BadData, URLSafeSerializer

DEVICE_COOKIE = "mvc_device"
DEVICE_MAX_AGE = 400 * 86400  # browsers cap cookie lifetimes at 400 days


def me(meeting_id: int) -> dict | None:
    """This browser's participant record for a meeting, if it joined."""
    record = session.get("mp", {}).get(str(meeting_id))
    return record if isinstance(record, dict) and "pid" in record else None


def remember(meeting_id: int, name: str, role: str, invitation_id: int | None = None, media: str = "av") -> dict:
    """Store (or refresh) this browser's participant record; the pid survives reloads."""
    people = dict(session.get("mp", {}))
    old = people.get(str(meeting_id)) or {}
    record = {"pid": old.get("pid") or secrets.token_urlsafe(12), "name": name, "role": role, "inv": invitation_id,
              "media": media if media in {"av", "audio", "listen"} else "av", "dev": device_id()}
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


def _device_signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="mvc-device")


def device_id() -> str:
    """This browser's long-lived device id (a new one if it has none yet; keep_device sets the cookie)."""
    if "mvc_device" not in g:
        try:
            g.mvc_device = _device_signer().loads(request.cookies.get(DEVICE_COOKIE, ""))
            g.mvc_device_new = False
        except BadData:
            g.mvc_device, g.mvc_device_new = secrets.token_urlsafe(12), True
    return g.mvc_device


def keep_device(response):
    """Give the browser its device cookie on the join page, so a removal can recognise it later."""
    device = device_id()
    if g.mvc_device_new:
        response.set_cookie(DEVICE_COOKIE, _device_signer().dumps(device), max_age=DEVICE_MAX_AGE, httponly=True,
                            samesite="Lax", secure=current_app.config["SECURE_COOKIES"])
    return response
