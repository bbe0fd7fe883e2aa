"""Operations on a live meeting shared by the page, the websocket and host actions."""
from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from typing import Callable

from flask import current_app, render_template
from flask_babel import gettext as _

from media import messages
from mvc import db, logs, rooms
from mvc.live.state import KNOCKING, PRESENT, WAITING, Participant, RoomState
from mvc.live import state as rules
from mvc.models import Invitation, Meeting
from sqlmodel import select
from mvc.rooms import Target
from mvc.stats import record as stats

log = logs.get("mvc.media")
ENDS_WHEN_EMPTY = frozenset({"queue"})  # meeting kinds that end once everyone has left (a queue call and its intake)


def store():
    """The app's live store."""
    return current_app.extensions["mvc.live"]


def media():
    """The app's media pool (or its stand-in)."""
    return current_app.extensions["mvc.media"]


def to_media(meeting_id: int, msg: dict) -> None:
    """Send a message about a meeting to its media worker (rooms are named by meeting id).

    The message is built and checked with media.messages, as the worker parses it; one
    the worker would refuse is answered here with an error to the participant.
    """
    room = str(meeting_id)
    try:
        typed = messages.from_dict({**msg, "room": room})
    except messages.MessageError as exc:
        log.info("media_message_refused", meeting=meeting_id, type=msg.get("type"), why=str(exc))
        if msg.get("pid"):
            current_app.extensions["mvc.hub"].deliver(messages.error(str(exc), msg["pid"], room))
        return
    media().send(typed)


def publish_state(meeting_id: int, state: RoomState) -> None:
    """Tell every page of the meeting that the state changed."""
    store().publish(meeting_id, {"kind": "state", "v": state.version})


def end(meeting_id: int) -> None:
    """Forget an ended meeting's live state, chat and rate-limit keys, and show its pages the end."""
    store().delete(meeting_id)
    guard, locks = _policy_locks()
    with guard:
        locks.pop(meeting_id, None)
    store().publish(meeting_id, {"kind": "state", "v": 0})
    stats.record_end(meeting_id)  # statistics


def webhooks():
    """mvc.api.webhooks, imported late (the API imports the booking service, which imports this module)."""
    from mvc.api import webhooks

    return webhooks


def timers():
    """The app's scheduler for meeting timers."""
    return current_app.extensions["mvc.timers"]


def room_cap(alias: str) -> int:
    """The most people the meeting at this address may hold: MVC_ROOM_CAPS, else MVC_ROOM_CAP."""
    for pair in current_app.config["ROOM_CAPS"].split(","):
        name, _sep, cap = pair.strip().partition("=")
        if name.strip().lower() == alias.lower() and cap.strip().isdigit():
            return int(cap)
    return current_app.config["ROOM_CAP"]


def arrive(meeting: Meeting, me: dict, cap: int | None = None,
           returning: bool = False) -> tuple[RoomState, Participant | None]:
    """Place this visitor in the live meeting (idempotent for reloads); RoomFull when no seat is free.

    returning=True when the visitor opened the page (someone removed earlier then knocks);
    a socket that reconnects under a removed pid is not placed again.
    """
    person = Participant(pid=me["pid"], name=me["name"], role=me["role"], invitation_id=me.get("inv"),
                         device=me.get("dev"))
    if me.get("media") == "listen":
        person.mic = person.cam = False
    elif me.get("media") == "audio":
        person.cam = False
    cap = current_app.config["ROOM_CAP"] if cap is None else cap
    host_seats = current_app.config["ROOM_HOST_SEATS"]
    state, placed = store().update(
        meeting.id, lambda s: rules.take_seat(s, person, cap, host_seats, returning), settings=meeting.settings_dict()
    )
    if placed is not None:
        publish_state(meeting.id, state)
        webhooks().participant_arrived(meeting.id, placed)  # webhooks (once per participant)
    return state, placed


def set_connected(meeting_id: int, pid: str, connected: bool, socket: str | None = None) -> RoomState:
    """Record a websocket (dis)connect (of the socket with that id) and tell everyone."""
    state, _person = store().update(meeting_id, lambda s: rules.set_connected(s, pid, connected, socket))
    publish_state(meeting_id, state)
    stats.record_connected(meeting_id, pid, connected, state)  # statistics
    if not connected:
        watch_empty(meeting_id, state)
    return state


def leave(meeting_id: int, pid: str) -> None:
    """Remove a participant who left, from the state and the media worker."""
    state, gone = store().update(meeting_id, lambda s: rules.leave(s, pid))
    to_media(meeting_id, {"type": "leave", "pid": pid})
    publish_state(meeting_id, state)
    if gone is not None:
        webhooks().participant_left(meeting_id, gone)  # webhooks
    stats.record_left(meeting_id, pid)  # statistics
    watch_empty(meeting_id, state)


def watch_empty(meeting_id: int, state: RoomState) -> None:
    """Once nobody is connected to a meeting that ends when empty, check again after the seat grace."""
    if any(p.connected for p in state.participants.values()):
        return
    meeting = db.session().get(Meeting, meeting_id)
    if meeting is None or meeting.kind not in ENDS_WHEN_EMPTY or meeting.status != "open":
        return
    app = current_app._get_current_object()
    timers().schedule((meeting_id, "empty"), rules.SEAT_GRACE, lambda: _end_if_empty(app, meeting_id))


def _end_if_empty(app, meeting_id: int) -> None:
    """End the meeting if still nobody holds a seat (a reload or a network change within the grace keeps it)."""
    with app.app_context():
        state = store().get(meeting_id)
        if state is None or any(p.connected for p in state.participants.values()):
            return
        now = time.time()
        left = [rules.SEAT_GRACE - (now - p.seen_at) for p in state.participants.values() if rules.holds_seat(p, now)]
        if left:  # someone's grace runs a little longer than the timer's
            timers().schedule((meeting_id, "empty"), max(left), lambda: _end_if_empty(app, meeting_id))
            return
        log.info("meeting_left_empty", meeting=meeting_id)
        end_meeting(meeting_id)


def after_removal(meeting_id: int, person: Participant) -> None:
    """Outside the state lock, once someone is removed: out of the media room, and the webhooks told."""
    to_media(meeting_id, {"type": "leave", "pid": person.pid})
    webhooks().participant_left(meeting_id, person, reason="removed")  # webhooks


def remove_where(meeting_id: int, chosen: Callable[[Participant], bool]) -> list[Participant]:
    """Remove, as a host does, everyone the test picks from a live meeting; their pages show the removed view."""
    if store().get(meeting_id) is None:  # not live: nothing to remove, and no empty state left behind
        return []

    def apply(state: RoomState) -> list[Participant]:
        gone = [p for p in state.participants.values() if chosen(p)]
        for person in gone:
            rules.send_away(state, person)
        return gone

    state, gone = store().update(meeting_id, apply)
    for person in gone:
        after_removal(meeting_id, person)
    if gone:
        publish_state(meeting_id, state)
        sync_policy(meeting_id, state)
    return gone


def end_meeting(meeting_id: int) -> None:
    """After the state says ended: close the meeting's record, media room and timers."""
    meeting = db.session().get(Meeting, meeting_id)
    if meeting is not None and meeting.status == "open":
        rooms.end_meeting(db.session(), meeting)
    to_media(meeting_id, {"type": "close_room"})
    timers().cancel_owner(meeting_id)
    end(meeting_id)


def view_for(state: RoomState | None, person: Participant | None) -> str:
    """Which screen a participant sees: meeting, waiting, knocking, ended or removed."""
    if state is None or state.ended:
        return "ended"
    if person is None:
        return "removed"
    return {PRESENT: "meeting", WAITING: "waiting", KNOCKING: "knocking"}.get(person.status, "waiting")


def policy(state: RoomState) -> dict:
    """The forwarding policy the media worker enforces for this state."""
    s = state.settings
    hosts = [p.pid for p in state.participants.values() if p.is_host]
    people = list(state.participants.values())
    # Muted people and banned or switched-off cameras are not forwarded at all.
    audio_blocked = [p.pid for p in people if not p.mic]
    video_blocked = [p.pid for p in people if not p.cam or (not p.is_host and not s.guests_camera)]
    return {
        "layout": s.layout,
        "one_way_video": s.one_way_video,
        "hosts": hosts,
        "audio_blocked": audio_blocked,
        "video_blocked": video_blocked,
        # Breakout rooms: people hear and see only their own group (None = the main room).
        "groups": {p.pid: p.group for p in people if p.group},
        "screen": next((p.pid for p in people if p.screen), None),
    }


def _policy_locks() -> tuple[threading.Lock, dict[int, threading.Lock]]:
    """This process's per-meeting policy locks and the lock that guards the table."""
    return current_app.extensions.setdefault("mvc.policy_locks", (threading.Lock(), {}))


def _policy_lock(meeting_id: int) -> threading.Lock:
    """One lock per meeting in this process, so its policies reach the worker in order."""
    guard, locks = _policy_locks()
    with guard:
        return locks.setdefault(meeting_id, threading.Lock())


def sync_policy(meeting_id: int, state: RoomState) -> None:
    """Send the current forwarding policy to the room's media worker.

    Pages' threads call this with the state they hold; one of them may hold an older state
    than another that already sent (a page starting media while a host bans cameras). So
    under the meeting's lock the newest stored state wins, and policies go out in order.
    A policy that media.messages refuses is never silent: the worker is told to hold
    (forward only hosts), the log says why and the hosts see a plain message.
    """
    room = str(meeting_id)
    with _policy_lock(meeting_id):
        latest = store().get(meeting_id)
        if latest is not None and latest.version > state.version:
            state = latest
        try:
            msg = messages.policy_message(room, policy(state))
        except messages.MessageError as exc:
            log.warning("media_policy_refused", meeting=meeting_id, why=str(exc))
            media().send(messages.Hold(room=room, reason=str(exc)))
            current_app.extensions["mvc.hub"].notify_hosts(room)
            return
        media().send(msg)


def ice_servers(pid: str) -> list[dict]:
    """ICE servers for a page: the configured ones plus short-lived TURN credentials."""
    servers = list(current_app.config["ICE_SERVERS"])
    secret = current_app.config["TURN_SECRET"]
    urls = [u.strip() for u in current_app.config["TURN_URLS"].split(",") if u.strip()]
    if secret and urls:
        username = f"{int(time.time()) + 3600}:{pid}"
        digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
        servers.append({"urls": urls, "username": username, "credential": base64.b64encode(digest).decode()})
    return servers


def page_context(target: Target, state: RoomState, person: Participant | None, view: str, theme=None) -> dict:
    """Template context shared by the full page and websocket pushes."""
    return {
        "target": target,
        "meeting": target.meeting,
        "theme": theme or rooms.theme_for(db.session(), target.theme_id),
        "state": state,
        "me": person,
        "view": view,
        "may_speak": rules.may_speak,
        "may_use_camera": rules.may_use_camera,
        "chat_allowed": rules.chat_allowed,
        "chat_log": (lambda: store().read_log(state.meeting_id)) if state else (lambda: []),
        "tile_names": tile_names,
        "invited_people": lambda: invited_not_here(state) if state else [],
    }


def tile_names(state: RoomState, viewer: Participant) -> dict[str, str]:
    """Names for video tiles as this viewer may see them (guests see first names)."""
    return {p.pid: p.name if viewer.is_host or p.is_host else p.first_name for p in state.present()}


def invited_not_here(state: RoomState) -> list[Invitation]:
    """Invitations of the meeting whose invitee has not joined (yet)."""
    joined = {p.invitation_id for p in state.participants.values() if p.invitation_id}
    rows = db.session().exec(
        select(Invitation).where(Invitation.meeting_id == state.meeting_id, Invitation.revoked == False)  # noqa: E712
    ).all()
    return [inv for inv in rows if inv.id not in joined and inv.role != "host"]


def full_page(target: Target, theme=None):
    """The plain page for someone the meeting has no seat for (HTTP 409)."""
    page = render_template("join/full.html", target=target, theme=theme or rooms.theme_for(db.session(), target.theme_id), cap=room_cap(target.alias))
    return page, 409


def room_full_text() -> str:
    """Status text for a socket whose owner has no seat in a full meeting."""
    return _("The meeting is full. Please try again in a little while.")


def not_joined_text() -> str:
    """Status text for a socket opened without joining first."""
    return _("You have not joined this meeting. Please open the meeting link again.")
