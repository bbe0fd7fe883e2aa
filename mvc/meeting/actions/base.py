"""The action registry and the steps every action goes through."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from flask_babel import gettext as _

from mvc import logs
from mvc.live.state import PRESENT, Participant, RoomState
from mvc.meeting import live_ops

if TYPE_CHECKING:
    from mvc.meeting.connection import Connection

log = logs.get("mvc.actions")

# An action changes the state in place; it may return follow-up work, run outside the lock.
FollowUp = Callable[["Connection", RoomState], None]
Rule = Callable[[RoomState, Participant, dict], "FollowUp | None"]


@dataclass(frozen=True)
class Action:
    """A registered action and who may take it."""

    rule: Rule
    host: bool = False


ACTIONS: dict[str, Action] = {}


class Refused(Exception):
    """An action the sender may not take; the message is shown to them."""


def action(name: str, host: bool = False):
    """Register a rule as the action `name` (host=True: hosts and co-hosts only)."""

    def register(rule: Rule) -> Rule:
        ACTIONS[name] = Action(rule, host)
        return rule

    return register


def sender(state: RoomState, pid: str, host: bool) -> Participant:
    """The participant taking the action, if they have the right to; else Refused."""
    me = state.participants.get(pid)
    if me is None or me.status != PRESENT:
        raise Refused(_("You are not in the meeting right now."))
    if host and not me.is_host:
        raise Refused(_("Only the host can do that."))
    return me


def perform(conn: "Connection", name: str, spec: Action, msg: dict) -> None:
    """Check rights and apply the rule atomically; then follow-up work, tell the pages, and
    send the forwarding policy to the media worker when it changed."""
    before: list = []

    def apply(state: RoomState):
        me = sender(state, conn.pid, spec.host)
        before[:] = [live_ops.policy(state)]
        return spec.rule(state, me, msg)

    state, follow_up = live_ops.store().update(conn.meeting_id, apply)
    if callable(follow_up):
        follow_up(conn, state)
    live_ops.publish_state(conn.meeting_id, state)
    if live_ops.policy(state) != before[0]:
        live_ops.sync_policy(conn.meeting_id, state)
    log.info("action", meeting=conn.meeting_id, pid=conn.pid, action=name)


def handle_action(conn: "Connection", msg: dict) -> bool:
    """Run the named action; unknown or refused actions get a clear status message."""
    name = msg.get("action")
    spec = ACTIONS.get(name) if isinstance(name, str) else None
    if spec is None:
        conn.status(_("The page sent something the server did not understand."))
        return False
    try:
        perform(conn, name, spec, msg)
    except Refused as exc:
        conn.status(str(exc))
    return False  # the state change reaches this page, too, through the bus


def flag(msg: dict, key: str = "on") -> bool:
    """A boolean from JSON or from form values ('1', 'true', 'on')."""
    value = msg.get(key)
    return value is True or value in {"1", "true", "on"}


def text_of(msg: dict, key: str = "text") -> str:
    """A text field with its whitespace collapsed ('' when missing or not text)."""
    value = msg.get(key)
    return " ".join(value.split()) if isinstance(value, str) else ""


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
