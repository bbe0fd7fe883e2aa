"""Actions a page sends over its websocket, each checked against the sender's rights.

Every check runs inside the atomic state update, against the current state, so a page
that shows an old button cannot do what the server no longer allows. A refusal raises
Refused: nothing is saved and the sender sees the reason.
"""
from __future__ import annotations

import random
import threading
import time
from typing import TYPE_CHECKING, Callable

from flask import current_app
from flask_babel import gettext as _

from mvc import db, logs, rooms
from mvc.live import room_key
from mvc.live.state import KNOCKING, PRESENT, WAITING, Participant, RoomState, may_speak, may_use_camera
from mvc.meeting import live_ops
from mvc.models import Meeting
from mvc.models.room import LAYOUTS

if TYPE_CHECKING:
    from mvc.meeting.connection import Connection

log = logs.get("mvc.actions")
ACTIONS: dict[str, Callable[["Connection", dict], bool]] = {}
CHAT_MAX = 500
CHAT_LOG_CAP = 300
CHAT_RATE = (5, 10)  # at most 5 lines in 10 seconds
BREAKOUT_MAX_GROUPS = 10
GROUP_NAME_MAX = 40


class Refused(Exception):
    """An action the sender may not take; the message is shown to them."""


def action(name: str, host: bool = False, policy: bool = False):
    """Register an action; host actions check host rights, policy ones update the media worker."""

    def register(fn: Callable[[RoomState, Participant, dict], object]):
        def run(conn: "Connection", msg: dict) -> bool:
            def apply(state: RoomState):
                me = state.participants.get(conn.pid)
                if me is None or me.status != PRESENT:
                    raise Refused(_("You are not in the meeting right now."))
                if host and not me.is_host:
                    raise Refused(_("Only the host can do that."))
                return fn(state, me, msg)

            state, result = live_ops.store().update(conn.meeting_id, apply)
            if callable(result):
                result(conn, state)  # follow-up work outside the lock (media, DB, events)
            live_ops.publish_state(conn.meeting_id, state)
            if policy:
                live_ops.sync_policy(conn.meeting_id, state)
            log.info("action", meeting=conn.meeting_id, pid=conn.pid, action=name)
            return False

        ACTIONS[name] = run
        return fn

    return register


def handle_action(conn: "Connection", msg: dict) -> bool:
    """Run the named action; unknown or refused actions get a clear status message."""
    name = msg.get("action")
    handler = ACTIONS.get(name) if isinstance(name, str) else None
    if handler is None:
        conn.status(_("The page sent something the server did not understand."))
        return False
    try:
        return handler(conn, msg)
    except Refused as exc:
        conn.status(str(exc))
        return False


def flag(msg: dict, key: str = "on") -> bool:
    """A boolean from JSON or from form values ('1', 'true', 'on')."""
    value = msg.get(key)
    return value is True or value in {"1", "true", "on"}


def target(state: RoomState, msg: dict, statuses=(PRESENT,)) -> Participant:
    """The participant an action names, or Refused."""
    pid = msg.get("pid")
    person = state.participants.get(pid) if isinstance(pid, str) else None
    if person is None or person.status not in statuses:
        raise Refused(_("That person is no longer in the meeting."))
    return person


def guests(state: RoomState) -> list[Participant]:
    """Present participants without host rights."""
    return [p for p in state.present() if not p.is_host]


# -- everyone ----------------------------------------------------------------------------
@action("mic", policy=True)
def mic(state, me, msg):
    """Switch one's own microphone."""
    on = flag(msg)
    if on and not may_speak(state, me):
        raise Refused(_("The host has turned off the microphones. Raise your hand to ask to speak."))
    me.mic = on


@action("cam", policy=True)
def cam(state, me, msg):
    """Switch one's own camera."""
    on = flag(msg)
    if on and not may_use_camera(state, me):
        raise Refused(_("The host has turned off the participants' cameras."))
    me.cam = on


@action("hand")
def hand(state, me, msg):
    """Raise or lower one's own hand."""
    if not state.settings.get("hand_raise", True):
        raise Refused(_("Hand raising is turned off in this meeting."))
    me.hand = (me.hand or time.time()) if flag(msg) else None


@action("share", policy=True)
def share(state, me, msg):
    """Start or stop sharing one's screen."""
    on = flag(msg)
    if on and not me.is_host and not state.settings.get("guests_may_share", False):
        raise Refused(_("Only the host can share a screen in this meeting."))
    if on:
        for p in state.participants.values():
            p.screen = False  # one shared screen at a time
    me.screen = on


@action("no_media")
def no_media(state, me, msg):
    """The page cannot do WebRTC: the host's list says so."""
    me.no_media = True


def chat_allowed(state: RoomState, person: Participant) -> bool:
    """Whether a person may read and write chat now."""
    return bool(state.settings.get("chat", True)) or person.is_host or person.chat_host


@action("chat")
def chat(state, me, msg):
    """Write a chat line to everyone (in the same breakout group)."""
    if not chat_allowed(state, me):
        raise Refused(_("Chat is turned off in this meeting."))
    text = msg.get("text")
    text = " ".join(text.split()) if isinstance(text, str) else ""
    if not text:
        raise Refused(_("Write a message first."))
    if len(text) > CHAT_MAX:
        raise Refused(_("A message may be at most %(n)d characters.", n=CHAT_MAX))
    if live_ops.store().hit(room_key(state.meeting_id, "chat", me.pid), CHAT_RATE[1]) > CHAT_RATE[0]:
        raise Refused(_("You are writing very fast. Please wait a few seconds."))
    line = {"id": f"{time.time_ns()}", "pid": me.pid, "name": me.name, "first": me.first_name,
            "host": me.is_host or me.chat_host, "group": me.group, "text": text, "ts": time.time()}

    def after(conn, _state):
        live_ops.store().append_log(conn.meeting_id, line, CHAT_LOG_CAP)
        live_ops.store().publish(conn.meeting_id, {"kind": "chat", "line": line})

    return after


# -- host: microphones, cameras, hands, floor ------------------------------------------------
@action("mute", host=True, policy=True)
def mute(state, me, msg):
    """Mute one participant (hosts can always overrule)."""
    person = target(state, msg)
    person.mic = False
    person.floor = False


@action("mute_all", host=True, policy=True)
def mute_all(state, me, msg):
    """Mute every guest."""
    for p in guests(state):
        p.mic = False
        p.floor = False


@action("guests_unmute", host=True, policy=True)
def guests_unmute(state, me, msg):
    """Allow or forbid guests to unmute themselves."""
    state.settings["guests_may_unmute"] = flag(msg)


@action("guests_camera", host=True, policy=True)
def guests_camera(state, me, msg):
    """Allow or forbid guests' cameras (a forbidden camera is not forwarded)."""
    allowed = flag(msg)
    state.settings["guests_camera"] = allowed
    if not allowed:
        for p in guests(state):
            p.cam = False


@action("lower_hand", host=True)
def lower_hand(state, me, msg):
    """Lower one raised hand."""
    target(state, msg).hand = None


@action("lower_all", host=True)
def lower_all(state, me, msg):
    """Lower every raised hand."""
    for p in state.present():
        p.hand = None


@action("give_floor", host=True, policy=True)
def give_floor(state, me, msg):
    """Give the word: unmute that person and lower their hand."""
    person = target(state, msg)
    for p in state.present():
        p.floor = False
    person.floor = True
    person.mic = True
    person.hand = None


@action("take_floor", host=True, policy=True)
def take_floor(state, me, msg):
    """Take the word back: mute again unless guests may unmute themselves."""
    person = target(state, msg)
    person.floor = False
    if not state.settings.get("guests_may_unmute", True) and not person.is_host:
        person.mic = False


# -- host: who is in the room ----------------------------------------------------------------
@action("lock", host=True)
def lock(state, me, msg):
    """Lock or unlock the meeting (newcomers knock while it is locked)."""
    state.locked = flag(msg)


@action("admit", host=True)
def admit(state, me, msg):
    """Let one waiting or knocking person in."""
    target(state, msg, (WAITING, KNOCKING)).status = PRESENT


@action("admit_all", host=True)
def admit_all(state, me, msg):
    """Let everyone waiting or knocking in."""
    for p in state.participants.values():
        if p.status in (WAITING, KNOCKING):
            p.status = PRESENT


def _send_away(state: RoomState, person: Participant):
    state.participants.pop(person.pid, None)
    state.removed.append(person.pid)
    pid = person.pid

    def after(conn, _state):
        live_ops.to_media(conn.meeting_id, {"type": "leave", "pid": pid})

    return after


@action("deny", host=True)
def deny(state, me, msg):
    """Turn away someone who waits or knocks."""
    return _send_away(state, target(state, msg, (WAITING, KNOCKING)))


@action("remove", host=True, policy=True)
def remove(state, me, msg):
    """Remove a participant from the meeting."""
    person = target(state, msg)
    if person.role == "host" or person.pid == me.pid:
        raise Refused(_("The host cannot be removed."))
    return _send_away(state, person)


@action("cohost", host=True, policy=True)
def cohost(state, me, msg):
    """Give or take host rights (one co-host at a time; only the host decides)."""
    if me.role != "host":
        raise Refused(_("Only the host can choose a co-host."))
    person = target(state, msg)
    if person.role == "host":
        raise Refused(_("That person is already the host."))
    on = flag(msg)
    for p in state.participants.values():
        if p.role != "host":
            p.cohost = False
    person.cohost = on


@action("chat_host", host=True)
def chat_host(state, me, msg):
    """Let one participant read and answer chat as the host does."""
    person = target(state, msg)
    on = flag(msg)
    for p in state.participants.values():
        p.chat_host = False
    person.chat_host = on


# -- host: the meeting as a whole ---------------------------------------------------------------
@action("layout", host=True, policy=True)
def layout(state, me, msg):
    """Switch the layout for everyone."""
    value = msg.get("value")
    if value not in LAYOUTS:
        raise Refused(_("Unknown layout."))
    state.settings["layout"] = value


@action("one_way", host=True, policy=True)
def one_way(state, me, msg):
    """Switch one-way video on or off."""
    state.settings["one_way_video"] = flag(msg)


@action("chat_enabled", host=True)
def chat_enabled(state, me, msg):
    """Switch chat on or off for the participants."""
    state.settings["chat"] = flag(msg)


@action("hand_enabled", host=True)
def hand_enabled(state, me, msg):
    """Switch hand raising on or off."""
    state.settings["hand_raise"] = flag(msg)
    if not state.settings["hand_raise"]:
        for p in state.present():
            p.hand = None


@action("end", host=True)
def end(state, me, msg):
    """End the meeting for everyone."""
    if me.role != "host" and not me.cohost:
        raise Refused(_("Only the host can do that."))
    state.ended = True

    def after(conn, _state):
        meeting = db.session().get(Meeting, conn.meeting_id)
        if meeting is not None and meeting.status == "open":
            rooms.end_meeting(db.session(), meeting)
        live_ops.to_media(conn.meeting_id, {"type": "close_room"})
        live_ops.end(conn.meeting_id)

    return after


@action("notice", host=True)
def notice(state, me, msg):
    """Send a short message that every participant sees at once (also in breakout rooms)."""
    text = msg.get("text")
    text = " ".join(text.split()) if isinstance(text, str) else ""
    if not text or len(text) > 300:
        raise Refused(_("Write a message of at most 300 characters."))

    def after(conn, _state):
        live_ops.store().publish(conn.meeting_id, {"kind": "notice", "text": text, "from": me.name})

    return after


# -- host: breakout rooms -------------------------------------------------------------------------
def _group_names(count: int) -> list[str]:
    return [_("Group %(n)d", n=i + 1) for i in range(count)]


@action("breakout_auto", host=True, policy=True)
def breakout_auto(state, me, msg):
    """Split the guests at random into the given number of groups."""
    try:
        count = int(msg.get("count", 2))
    except (TypeError, ValueError):
        count = 0
    people = guests(state)
    if not 2 <= count <= min(BREAKOUT_MAX_GROUPS, max(2, len(people))):
        raise Refused(_("Choose between 2 and %(n)d groups.", n=min(BREAKOUT_MAX_GROUPS, max(2, len(people)))))
    random.shuffle(people)
    names = _group_names(count)
    for i, p in enumerate(people):
        p.group = names[i % count]
    state.breakout_closing_at = None


@action("breakout_assign", host=True, policy=True)
def breakout_assign(state, me, msg):
    """Put one guest in a named group (empty name = back to the main room)."""
    person = target(state, msg)
    name = msg.get("group")
    name = " ".join(name.split())[:GROUP_NAME_MAX] if isinstance(name, str) else ""
    if name and name not in state.groups() and len(state.groups()) >= BREAKOUT_MAX_GROUPS:
        raise Refused(_("There can be at most %(n)d groups.", n=BREAKOUT_MAX_GROUPS))
    person.group = name or None


@action("breakout_visit", host=True, policy=True)
def breakout_visit(state, me, msg):
    """Join one group as host (empty = back to the main room)."""
    name = msg.get("group")
    if name and name not in {g for g in state.groups()}:
        raise Refused(_("That group does not exist."))
    me.group = name or None


@action("breakout_close", host=True, policy=True)
def breakout_close(state, me, msg):
    """Bring everyone back, after a countdown so nobody is cut off mid-sentence."""
    try:
        seconds = max(0, min(300, int(msg.get("seconds", 60))))
    except (TypeError, ValueError):
        seconds = 60
    if seconds == 0:
        return_all(state)
        return None
    state.breakout_closing_at = time.time() + seconds
    app = current_app._get_current_object()

    def after(conn, _state):
        meeting_id = conn.meeting_id
        timer = threading.Timer(seconds, _close_breakouts, args=(app, meeting_id))
        timer.daemon = True
        timer.start()

    return after


def return_all(state: RoomState) -> None:
    """Everyone back in the main room."""
    for p in state.participants.values():
        p.group = None
    state.breakout_closing_at = None


def _close_breakouts(app, meeting_id: int) -> None:
    with app.app_context():
        def apply(state: RoomState):
            if state.breakout_closing_at and state.breakout_closing_at <= time.time() + 0.5:
                return_all(state)

        state, _ = live_ops.store().update(meeting_id, apply)
        live_ops.publish_state(meeting_id, state)
        live_ops.sync_policy(meeting_id, state)
