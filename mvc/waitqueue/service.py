"""The queue's work: joining, keeping places, taking the next citizen into a private call.

The order lives in the live store (one atomic document per queue), so several web processes
share it and it survives a restart. The intake answer is never logged or texted: it sits in
the queue entry while the citizen waits, then in the call's live document, which the live
store deletes with the meeting when the call ends.
"""
from __future__ import annotations

import time
from datetime import timedelta
from typing import Callable, TypeVar

from flask import current_app
from sqlmodel import Session, select

from mvc import db as mvc_db, logs, rooms
from mvc.booking import service as booking
from mvc.booking.forms import Parsed, PersonIn
from mvc.live import room_key
from mvc.live.state import holds_seat
from mvc.manage import audit
from mvc.meeting import live_ops
from mvc.models import Meeting, Queue, QueueStaff, QueueUnit, UnitMember, User
from mvc.models.base import utcnow
from mvc.sms import limits, service as sms
from mvc.stats import record as stats
from mvc.waitqueue import state as rules
from mvc.waitqueue.state import Entry, QueueState

log = logs.get("mvc.queue")
T = TypeVar("T")
CALL_KIND = "queue"


def _key(queue_id: int) -> str:
    return f"queue:{queue_id}"


def call_key(meeting_id: int) -> str:
    """The call's live document: deleted by the live store together with the meeting."""
    return room_key(meeting_id, "queue-call")


def change(queue_id: int, fn: Callable[[QueueState], T]) -> tuple[QueueState, T]:
    """Atomically apply fn to the queue (after dropping citizens gone longer than the grace period)."""
    grace = current_app.config["QUEUE_GRACE_SECONDS"]

    def apply(doc: dict):
        state = QueueState.from_dict(doc)
        expired = rules.expire(state, grace)
        result = fn(state)
        doc.clear()
        doc.update(state.to_dict())
        return state, result, expired

    _doc, (state, result, expired) = live_ops.store().update_doc(_key(queue_id), apply)
    for entry in expired:  # a taken citizen's record is already closed as served and stays so
        stats.queue_ended(entry.visit_id, "expired", entry.seen_at - entry.joined_at)
    if expired:
        log.info("queue_expired", queue=queue_id, places=len(expired))
    return state, result


def current(queue_id: int) -> QueueState:
    """The queue as it is now (expired places dropped)."""
    return change(queue_id, lambda s: None)[0]


def join(queue: Queue, name: str, assisted: bool, intake: str) -> Entry:
    """Put a citizen at the end of the queue (and open their statistics record: no name, no intake)."""
    visit_id = stats.queue_joined(queue.organisation_id, queue.id, assisted)
    _state, entry = change(queue.id, lambda s: rules.join(s, name, assisted, intake, visit_id))
    log.info("queue_joined", queue=queue.id, assisted=assisted)
    if _deleted(queue.id):  # deleted while this citizen joined: no place in a queue nobody serves
        forget(queue)
    return entry


def _deleted(queue_id: int) -> bool:
    """Whether the queue is gone from the database (its deletion is committed before forget())."""
    with Session(mvc_db.engine()) as s:
        return s.get(Queue, queue_id) is None


def leave(queue: Queue, eid: str) -> None:
    """The citizen left the queue on purpose."""
    _state, gone = change(queue.id, lambda s: rules.leave(s, eid))
    if gone is not None:
        log.info("queue_left", queue=queue.id, waited=round(time.time() - gone.joined_at))
        stats.queue_ended(gone.visit_id, "left", time.time() - gone.joined_at)


def _served_ids(user: User):
    """Ids of the queues the user serves by name or as a member of a serving unit (a subquery)."""
    by_unit = (select(QueueUnit.queue_id).join(UnitMember, UnitMember.unit_id == QueueUnit.unit_id)
               .where(UnitMember.user_id == user.id))
    return select(QueueStaff.queue_id).where(QueueStaff.user_id == user.id).union(by_unit)


def serves(db: Session, queue: Queue, user: User) -> bool:
    """Whether the staff member may serve the queue: one of its staff, a member of one of its units,
    or an admin of its organisation."""
    if user.organisation_id != queue.organisation_id:
        return False
    return user.has_role("org-admin") or queue.id in db.scalars(_served_ids(user)).all()


def staff_queues(db: Session, user: User) -> list[Queue]:
    """The queues the staff member serves, by name."""
    query = select(Queue).where(Queue.organisation_id == user.organisation_id)
    if not user.has_role("org-admin"):
        query = query.where(Queue.id.in_(_served_ids(user)))
    return list(db.exec(query.order_by(Queue.name)))


def take(db: Session, queue: Queue, user: User, eid: str | None = None, reason: str = "") -> Meeting | None:
    """Give the next (or the chosen) citizen to the staff member in a new private call; None if nobody waits.

    The pick is one atomic update of the queue, so two staff pressing at once get different citizens.
    """
    _state, entry = change(queue.id, lambda s: rules.take(s, user.id, eid, reason))
    if entry is None:
        return None
    now = utcnow()
    parsed = Parsed(title=queue.name, options=queue.settings_dict(), reminders=False)
    meeting = booking.new_meeting(db, user, CALL_KIND, parsed, starts_at=now,
                                  ends_at=now + timedelta(hours=current_app.config["INSTANT_HOURS"]))
    live_ops.store().update_doc(call_key(meeting.id), lambda doc: doc.update(
        queue=queue.id, name=entry.name, assisted=entry.assisted, intake=entry.intake, staff_id=user.id))

    def hand_over(s: QueueState) -> Entry | None:
        placed = rules.assign(s, entry.eid, meeting.id)
        if placed is not None:
            placed.intake = ""  # from now on only in the call's document
        return placed

    if change(queue.id, hand_over)[1] is None:  # the citizen left in the meantime
        end_call(db, meeting)
        return take(db, queue, user) if eid is None else None
    if eid:
        audit.record(db, user, "queue.pick", f"queue {queue.alias}", reason)
        db.commit()
    log.info("queue_taken", queue=queue.id, meeting=meeting.id, user=user.id, picked=bool(eid),
             waited=round(now.timestamp() - entry.joined_at))
    stats.queue_ended(entry.visit_id, "served", now.timestamp() - entry.joined_at)
    return meeting


def enter_call(queue: Queue, eid: str) -> Meeting | None:
    """The citizen's turn: leave the queue and return the call they go into (None if it is not their turn)."""

    def go(s: QueueState) -> Entry | None:
        entry = s.find(eid)
        return rules.leave(s, eid) if entry is not None and entry.meeting_id is not None else None

    entry = change(queue.id, go)[1]
    return mvc_db.session().get(Meeting, entry.meeting_id) if entry is not None else None


def calls(db: Session, queue: Queue, user: User) -> list[tuple[Meeting, dict]]:
    """The staff member's running calls from this queue, each with its live document (name, intake)."""
    since = utcnow() - timedelta(hours=current_app.config["INSTANT_HOURS"])
    meetings = db.exec(select(Meeting).where(Meeting.kind == CALL_KIND, Meeting.created_by_id == user.id,
                                             Meeting.status == "open", Meeting.created_at >= since)
                       .order_by(Meeting.id))
    out = []
    for meeting in meetings:
        if _left_empty(meeting.id):  # its timer went with a restarted web process
            end_call(db, meeting)
            continue
        doc = live_ops.store().get_doc(call_key(meeting.id))
        if doc and doc.get("queue") == queue.id:
            out.append((meeting, doc))
    return out


def _left_empty(meeting_id: int) -> bool:
    """Whether everyone has left the call and their reconnect grace has run out."""
    state = live_ops.store().get(meeting_id)
    return state is not None and bool(state.participants) and not any(holds_seat(p) for p in state.participants.values())


def end_call(db: Session, meeting: Meeting) -> None:
    """End a call: the meeting closes and its live state, with the intake answer, is deleted."""
    if meeting.status == "open":
        rooms.end_meeting(db, meeting)
    live_ops.to_media(meeting.id, {"type": "close_room"})
    live_ops.end(meeting.id)


def invite_second(db: Session, meeting: Meeting, user: User, name: str, phone: str, locale: str) -> None:
    """Text a second person (interpreter, colleague) their own link to the call (LimitReached first)."""
    limits.check(db, meeting.organisation_id, [phone], user.id)  # before the invitation row exists
    invitations = booking.invite_people(db, meeting, [PersonIn(name, phone, None)], locale)
    sms.text_invitations(db, invitations, meeting, "invite", user.id)
    log.info("queue_invited", meeting=meeting.id, user=user.id)


def forget(queue: Queue) -> None:
    """Drop a deleted queue's live state (its waiting citizens see that they are no longer queued;
    their statistics records close as expired)."""
    state = QueueState.from_dict(live_ops.store().get_doc(_key(queue.id)) or {})
    live_ops.store().delete_doc(_key(queue.id))
    for entry in state.waiting():
        stats.queue_ended(entry.visit_id, "expired", time.time() - entry.joined_at)


def set_paused(queue: Queue, paused: bool) -> None:
    """Pause the queue (nobody new may join) or open it again."""
    change(queue.id, lambda s: setattr(s, "paused", paused))


def set_message(queue: Queue, text: str) -> None:
    """Show a short message to everyone waiting (empty removes it)."""
    change(queue.id, lambda s: setattr(s, "message", text))


def by_alias(db: Session, alias: str) -> Queue | None:
    """The queue at /q/<alias>."""
    alias = alias.lower()
    if not rooms.ALIAS_RE.match(alias):
        return None
    return db.exec(select(Queue).where(Queue.alias == alias)).first()
