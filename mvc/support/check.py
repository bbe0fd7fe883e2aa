"""The pre-call check's server side: a throwaway media-worker room per check, and its support code."""
from __future__ import annotations

import json
import queue
import re
import secrets
import threading

from flask import current_app, session
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from mvc import logs
from mvc.models import SupportCheck
from mvc.stats.record import event

log = logs.get("mvc.check")
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: codes are read out on the phone
CODE_LENGTH = 6
CHECK_ID = re.compile(r"^chk-[A-Za-z0-9_-]{16,24}$")
ANSWER_SECONDS = 10.0
ROOM_SECONDS = 120.0  # a check's media room is closed after this even if the page never says it is done
# Result keys the page may report, each with the values it may take (anything else is dropped).
RESULTS = {
    "browser": {"ok", "unsupported"},
    "camera": {"ok", "denied", "missing", "busy", "error"},
    "microphone": {"ok", "silent", "denied", "missing", "error"},
    "speaker": {"ok", "not_heard", "untested"},
    "network": {"ok", "relay", "failed", "unavailable"},
}
NUMBERS = {"rtt_ms": 60_000, "loss_pct": 100}
_timers: dict[str, threading.Timer] = {}


class NoWorker(Exception):
    """No media worker answered."""


def new_id() -> str:
    """A fresh id for one check (its media pid; its room is 'check-' + id)."""
    return "chk-" + secrets.token_urlsafe(12)


def _room(check_id: str) -> str:
    return "check-" + check_id


def connect(check_id: str, sdp: str) -> str:
    """Send the page's offer to a media worker in a throwaway room; returns the worker's answer."""
    media, hub = current_app.extensions["mvc.media"], current_app.extensions["mvc.hub"]
    workers = media.health().get("workers")
    if not isinstance(workers, dict) or not any(w.get("alive") for w in workers.values()):
        raise NoWorker("no media worker")
    replies: queue.Queue = queue.Queue()
    deliver = replies.put
    hub.register(_room(check_id), check_id, deliver)
    try:
        if not media.send({"type": "offer", "room": _room(check_id), "pid": check_id, "sdp": sdp}):
            raise NoWorker("no media worker took the room")
        _close_later(current_app._get_current_object(), check_id)
        while True:
            msg = replies.get(timeout=ANSWER_SECONDS).get("msg", {})
            if msg.get("type") == "answer" and isinstance(msg.get("sdp"), str):
                return msg["sdp"]
            if msg.get("type") == "error":
                raise NoWorker(str(msg.get("message", "error"))[:200])
    except queue.Empty:
        raise NoWorker("the media worker did not answer") from None
    finally:
        hub.unregister(check_id, deliver)


def _close_later(app, check_id: str) -> None:
    timer = threading.Timer(ROOM_SECONDS, lambda: close(app, check_id))
    timer.daemon = True
    old = _timers.pop(check_id, None)
    if old is not None:
        old.cancel()
    _timers[check_id] = timer
    timer.start()


def close(app, check_id: str) -> None:
    """Close the check's media room (idempotent)."""
    timer = _timers.pop(check_id, None)
    if timer is not None:
        timer.cancel()
    app.extensions["mvc.media"].send({"type": "close_room", "room": _room(check_id)})


def clean_results(raw) -> dict:
    """Only the known checks with known outcomes, and bounded numbers."""
    out: dict = {}
    if not isinstance(raw, dict):
        return out
    for key, allowed in RESULTS.items():
        if raw.get(key) in allowed:
            out[key] = raw[key]
    for key, bound in NUMBERS.items():
        value = raw.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= bound:
            out[key] = round(float(value), 1)
    route = raw.get("route")
    if isinstance(route, str) and re.fullmatch(r"(host|srflx|prflx|relay)/(udp|tcp)", route):
        out["route"] = route
    return out


def finish(s: Session, check_id: str | None, results: dict) -> SupportCheck:
    """Store the results under a fresh support code, tie it to this browser's meetings, close the room."""
    if check_id:
        close(current_app._get_current_object(), check_id)
    for _attempt in range(10):
        row = SupportCheck(code="".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH)),
                           pid=check_id, result=json.dumps(results))
        s.add(row)
        try:
            s.commit()
            break
        except IntegrityError:  # the code was taken: draw another
            s.rollback()
    session["support_code"] = row.code
    for meeting_id, me in (session.get("mp") or {}).items():
        if isinstance(me, dict) and str(meeting_id).isdigit():
            event(int(meeting_id), me.get("pid"), "support_code", row.code)
    log.info("check_done", code=row.code, **results)
    return row


def by_code(s: Session, code: str) -> SupportCheck | None:
    """The check with this code (case and spaces ignored)."""
    code = re.sub(r"\s", "", code or "").upper()
    if not re.fullmatch(f"[{CODE_ALPHABET}]{{{CODE_LENGTH}}}", code):
        return None
    return s.exec(select(SupportCheck).where(SupportCheck.code == code)).first()
