"""Host and co-host actions: microphones, hands, the word, who is in, the meeting as a whole.

Consent: no host action switches anyone's microphone or camera on. Hosts mute, ban
cameras and allow speaking; only giving the word to a raised hand switches that
person's microphone on, because they asked to speak.
"""
from __future__ import annotations

from flask_babel import gettext as _

from mvc.live import state as rules
from mvc.live.state import KNOCKING, PRESENT, WAITING
from mvc.meeting import live_ops
from mvc.meeting.actions.base import Refused, action, flag, guests, target, text_of
from mvc.models.room import LAYOUTS

NOTICE_MAX = 300


# -- microphones, cameras, hands, the word ----------------------------------------------------
def _silence(person) -> None:
    person.mic = False
    person.floor = False
    person.speak_prompt = False


@action("mute", host=True)
def mute(state, me, msg):
    """Mute one participant (hosts can always overrule)."""
    _silence(target(state, msg))


@action("mute_all", host=True)
def mute_all(state, me, msg):
    """Mute every guest."""
    for p in guests(state):
        _silence(p)


@action("guests_unmute", host=True)
def guests_unmute(state, me, msg):
    """Allow or forbid guests to unmute themselves (allowing switches no microphone on)."""
    state.settings.guests_may_unmute = flag(msg)


@action("guests_camera", host=True)
def guests_camera(state, me, msg):
    """Allow or forbid guests' cameras (a forbidden camera is not forwarded; allowing switches none on)."""
    allowed = flag(msg)
    state.settings.guests_camera = allowed
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


@action("give_floor", host=True)
def give_floor(state, me, msg):
    """Give the word (a raised hand's microphone goes on; anyone else is asked to switch it on)."""
    rules.give_floor(state, target(state, msg))


@action("take_floor", host=True)
def take_floor(state, me, msg):
    """Take the word back: mute again unless guests may unmute themselves."""
    person = target(state, msg)
    person.floor = False
    person.speak_prompt = False
    if not state.settings.guests_may_unmute and not person.is_host:
        person.mic = False


# -- who is in the room ---------------------------------------------------------------------
@action("lock", host=True)
def lock(state, me, msg):
    """Lock or unlock the meeting (newcomers knock while it is locked)."""
    state.locked = flag(msg)


@action("admit", host=True)
def admit(state, me, msg):
    """Let one waiting or knocking person in (also someone removed earlier)."""
    target(state, msg, (WAITING, KNOCKING)).status = PRESENT


@action("admit_all", host=True)
def admit_all(state, me, msg):
    """Let everyone waiting or knocking in, except people removed earlier (the host lets them in one by one)."""
    for p in state.participants.values():
        if p.status in (WAITING, KNOCKING) and not p.removed_earlier:
            p.status = PRESENT


def _send_away(state, person):
    rules.send_away(state, person)
    return lambda conn, _state: live_ops.after_removal(conn.meeting_id, person)


@action("deny", host=True)
def deny(state, me, msg):
    """Turn away someone who waits or knocks."""
    return _send_away(state, target(state, msg, (WAITING, KNOCKING)))


@action("remove", host=True)
def remove(state, me, msg):
    """Remove a participant from the meeting."""
    person = target(state, msg)
    if person.role == "host" or person.pid == me.pid:
        raise Refused(_("The host cannot be removed."))
    return _send_away(state, person)


@action("cohost", host=True)
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


# -- the meeting as a whole -------------------------------------------------------------------
@action("layout", host=True)
def layout(state, me, msg):
    """Switch the layout for everyone."""
    value = msg.get("value")
    if value not in LAYOUTS:
        raise Refused(_("Unknown layout."))
    state.settings.layout = value


@action("one_way", host=True)
def one_way(state, me, msg):
    """Switch one-way video on or off."""
    state.settings.one_way_video = flag(msg)


@action("chat_enabled", host=True)
def chat_enabled(state, me, msg):
    """Switch chat on or off for the participants."""
    state.settings.chat = flag(msg)


@action("hand_enabled", host=True)
def hand_enabled(state, me, msg):
    """Switch hand raising on or off."""
    state.settings.hand_raise = flag(msg)
    if not state.settings.hand_raise:
        for p in state.present():
            p.hand = None


@action("end", host=True)
def end(state, me, msg):
    """End the meeting for everyone."""
    state.ended = True
    return lambda conn, _state: live_ops.end_meeting(conn.meeting_id)


@action("notice", host=True)
def notice(state, me, msg):
    """Send a short message that every participant sees at once (also in breakout rooms)."""
    text = text_of(msg)
    if not text or len(text) > NOTICE_MAX:
        raise Refused(_("Write a message of at most 300 characters."))

    def after(conn, _state):
        live_ops.store().publish(conn.meeting_id, {"kind": "notice", "text": text, "from": me.name})

    return after
