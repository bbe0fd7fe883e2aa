"""Breakout rooms: split, assign, visit, and bring everyone back after a countdown."""
from __future__ import annotations

import random
import time

from flask import current_app
from flask_babel import gettext as _

from mvc.live.state import RoomState
from mvc.meeting import live_ops
from mvc.meeting.actions.base import Refused, action, guests, target

BREAKOUT_MAX_GROUPS = 10
GROUP_NAME_MAX = 40
CLOSE_MAX_SECONDS = 300


def _group_names(count: int) -> list[str]:
    return [_("Group %(n)d", n=i + 1) for i in range(count)]


def timer_key(meeting_id: int) -> tuple:
    """The scheduler key of a meeting's breakout countdown (one per meeting)."""
    return (meeting_id, "breakout_close")


@action("breakout_auto", host=True)
def breakout_auto(state, me, msg):
    """Split the guests at random into the given number of groups."""
    try:
        count = int(msg.get("count", 2))
    except (TypeError, ValueError):
        count = 0
    people = guests(state)
    most = min(BREAKOUT_MAX_GROUPS, max(2, len(people)))
    if not 2 <= count <= most:
        raise Refused(_("Choose between 2 and %(n)d groups.", n=most))
    random.shuffle(people)
    names = _group_names(count)
    for i, p in enumerate(people):
        p.group = names[i % count]
    state.breakout_closing_at = None


@action("breakout_assign", host=True)
def breakout_assign(state, me, msg):
    """Put one guest in a named group (empty name = back to the main room)."""
    person = target(state, msg)
    name = msg.get("group")
    name = " ".join(name.split())[:GROUP_NAME_MAX] if isinstance(name, str) else ""
    if name and name not in state.groups() and len(state.groups()) >= BREAKOUT_MAX_GROUPS:
        raise Refused(_("There can be at most %(n)d groups.", n=BREAKOUT_MAX_GROUPS))
    person.group = name or None


@action("breakout_visit", host=True)
def breakout_visit(state, me, msg):
    """Join one group as host (empty = back to the main room)."""
    name = msg.get("group")
    if name and name not in state.groups():
        raise Refused(_("That group does not exist."))
    me.group = name or None


@action("breakout_close", host=True)
def breakout_close(state, me, msg):
    """Bring everyone back, after a countdown so nobody is cut off mid-sentence.

    The countdown is one keyed timer per meeting: asking again replaces it.
    """
    try:
        seconds = max(0, min(CLOSE_MAX_SECONDS, int(msg.get("seconds", 60))))
    except (TypeError, ValueError):
        seconds = 60
    meeting_id = state.meeting_id
    if seconds == 0:
        return_all(state)
        return lambda conn, _state: live_ops.timers().cancel(timer_key(meeting_id))
    state.breakout_closing_at = time.time() + seconds
    app = current_app._get_current_object()

    def after(conn, _state):
        live_ops.timers().schedule(timer_key(meeting_id), seconds, lambda: _close_breakouts(app, meeting_id))

    return after


def return_all(state: RoomState) -> None:
    """Everyone back in the main room."""
    for p in state.participants.values():
        p.group = None
    state.breakout_closing_at = None


def _close_breakouts(app, meeting_id: int) -> None:
    """The countdown ran out: everyone back, unless the host changed the plan meanwhile."""
    with app.app_context():
        current = live_ops.store().get(meeting_id)
        if current is None or current.ended:
            return  # never bring an ended meeting's state back

        def apply(state: RoomState):
            if state.breakout_closing_at and state.breakout_closing_at <= time.time() + 0.5:
                return_all(state)

        state, _ = live_ops.store().update(meeting_id, apply)
        live_ops.publish_state(meeting_id, state)
        live_ops.sync_policy(meeting_id, state)
