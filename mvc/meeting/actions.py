"""Actions a page sends over its websocket, each checked against the sender's rights."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from flask_babel import gettext as _

from mvc.live.state import RoomState
from mvc.meeting import live_ops

if TYPE_CHECKING:
    from mvc.meeting.connection import Connection

ACTIONS: dict[str, Callable[["Connection", dict], bool]] = {}


class Refused(Exception):
    """An action the sender may not take; the message is shown to them."""


def action(name: str):
    """Register a handler for an action name."""

    def register(fn):
        ACTIONS[name] = fn
        return fn

    return register


def handle_action(conn: "Connection", msg: dict) -> bool:
    """Run the named action; unknown or refused actions get a clear status message."""
    handler = ACTIONS.get(msg.get("action")) if isinstance(msg.get("action"), str) else None
    if handler is None:
        conn.status(_("The page sent something the server did not understand."))
        return False
    try:
        return handler(conn, msg)
    except Refused as exc:
        conn.status(str(exc))
        return False


def change(conn: "Connection", fn: Callable[[RoomState], object], policy: bool = False) -> RoomState:
    """Apply fn to the room atomically, tell every page, and update the media worker if asked."""
    state, _result = live_ops.store().update(conn.meeting_id, fn)
    live_ops.publish_state(conn.meeting_id, state)
    if policy:
        live_ops.sync_policy(conn.meeting_id, state)
    return state


def _flag(msg: dict, key: str = "on") -> bool:
    value = msg.get(key)
    return value is True or value in {"1", "true", "on"}


@action("mic")
def mic(conn: "Connection", msg: dict) -> bool:
    """Switch one's own microphone on or off."""
    on = _flag(msg)

    def apply(state: RoomState):
        me = state.participants.get(conn.pid)
        if me is None:
            return
        if on and not me.is_host and not state.settings.get("guests_may_unmute", True):
            raise Refused(_("The host has turned off the microphones. Raise your hand to ask to speak."))
        me.mic = on

    change(conn, apply, policy=True)
    return False


@action("cam")
def cam(conn: "Connection", msg: dict) -> bool:
    """Switch one's own camera on or off."""
    on = _flag(msg)

    def apply(state: RoomState):
        me = state.participants.get(conn.pid)
        if me is None:
            return
        if on and not me.is_host and not state.settings.get("guests_camera", True):
            raise Refused(_("The host has turned off the participants' cameras."))
        me.cam = on

    change(conn, apply, policy=True)
    return False
