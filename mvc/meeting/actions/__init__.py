"""Actions a page sends over its websocket, by audience: participant, host, breakout.

Every check runs inside the atomic state update, against the current state, so a page
that shows an old button cannot do what the server no longer allows. A refusal raises
Refused: nothing is saved and the sender sees the reason.
"""
from mvc.meeting.actions import breakout, host, participant  # noqa: F401 - registers the actions
from mvc.meeting.actions.base import ACTIONS, Refused, handle_action

__all__ = ["ACTIONS", "Refused", "handle_action"]
