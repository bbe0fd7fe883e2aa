"""Actions every participant takes for themselves: microphone, camera, hand, screen, chat."""
from __future__ import annotations

import time

from flask_babel import gettext as _

from mvc.live import room_key, state as rules
from mvc.meeting import live_ops
from mvc.meeting.actions.base import Refused, action, flag, text_of

CHAT_MAX = 500
CHAT_LOG_CAP = 300
CHAT_RATE = (5, 10)  # at most 5 lines in 10 seconds


@action("mic")
def mic(state, me, msg):
    """Switch one's own microphone."""
    on = flag(msg)
    if on and not rules.may_speak(state, me):
        raise Refused(_("The host has turned off the microphones. Raise your hand to ask to speak."))
    rules.set_own_mic(me, on)


@action("cam")
def cam(state, me, msg):
    """Switch one's own camera."""
    on = flag(msg)
    if on and not rules.may_use_camera(state, me):
        raise Refused(_("The host has turned off the participants' cameras."))
    me.cam = on


@action("hand")
def hand(state, me, msg):
    """Raise or lower one's own hand."""
    if not state.settings.hand_raise:
        raise Refused(_("Hand raising is turned off in this meeting."))
    me.hand = (me.hand or time.time()) if flag(msg) else None


@action("share")
def share(state, me, msg):
    """Start or stop sharing one's screen."""
    on = flag(msg)
    if on and not me.is_host and not state.settings.guests_may_share:
        raise Refused(_("Only the host can share a screen in this meeting."))
    if on:
        for p in state.participants.values():
            p.screen = False  # one shared screen at a time
    me.screen = on


@action("no_media")
def no_media(state, me, msg):
    """The page cannot do WebRTC: the host's list says so."""
    me.no_media = True


@action("chat")
def chat(state, me, msg):
    """Write a chat line to everyone (in the same breakout group)."""
    if not rules.chat_allowed(state, me):
        raise Refused(_("Chat is turned off in this meeting."))
    text = text_of(msg)
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
