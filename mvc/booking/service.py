"""Creating SMS meetings and bookings, changing and cancelling them, forwarding invitations."""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func
from sqlmodel import Session, select

from mvc import db as mvc_db, logs
from mvc.booking import reminders
from mvc.booking.forms import Parsed, PersonIn
from mvc.mail import service as mail
from mvc.meeting import live_ops
from mvc.models import MailMessage
from mvc.models import Invitation, Meeting, Organisation, SmsMessage, User
from mvc.models.base import utcnow
from mvc.rooms import new_pin
from mvc.sms import limits, service as sms

log = logs.get("mvc.booking")


@dataclass
class Outcome:
    """A created or changed meeting and how its texts went."""

    meeting: Meeting
    messages: list[SmsMessage] = field(default_factory=list)
    mails: list[MailMessage] = field(default_factory=list)  # failures are recorded, never raised
    problem: str = ""  # a limit that stopped the texts after the change was saved
    invitations: list[Invitation] = field(default_factory=list)  # the invitees added

    @property
    def all_sent(self) -> bool:
        return not self.problem and all(m.status in ("sent", "outbox", "delivered") for m in self.messages)


def new_alias(db: Session) -> str:
    """A fresh, hard-to-guess meeting address."""
    while True:
        alias = "v-" + secrets.token_hex(6)
        if db.exec(select(Meeting).where(Meeting.alias == alias)).first() is None:
            return alias


def new_meeting(db: Session, user: User, kind: str, parsed: Parsed, **times) -> Meeting:
    """A meeting of the user's organisation with a fresh address and PINs (booked, instant, queue call)."""
    org = db.get(Organisation, user.organisation_id)
    meeting = Meeting(organisation_id=org.id, theme_id=org.default_theme_id, kind=kind, alias=new_alias(db),
                      title=parsed.title, host_pin=new_pin(6), guest_pin=new_pin(6), created_by_id=user.id,
                      reminders=parsed.reminders, **parsed.options, **times)
    db.add(meeting)
    db.commit()
    return meeting


def invite_people(db: Session, meeting: Meeting, people: list[PersonIn], locale: str) -> list[Invitation]:
    """One invitation row per person."""
    invitations = [Invitation(meeting_id=meeting.id, name=p.name, phone=p.phone, email=p.email,
                              locale=p.locale or locale, reminder_opt_out=not p.reminder, may_forward=p.may_forward)
                   for p in people]
    db.add_all(invitations)
    db.commit()
    return invitations


def create_instant(db: Session, user: User, parsed: Parsed) -> Outcome:
    """An SMS meeting open now for a few hours; each number gets its own link (LimitReached first)."""
    limits.check(db, user.organisation_id, [p.phone for p in parsed.people if p.phone], user.id)
    now = utcnow()
    parsed.reminders = False
    meeting = new_meeting(db, user, "instant", parsed, starts_at=now,
                       ends_at=now + timedelta(hours=current_app.config["INSTANT_HOURS"]))
    invitations = invite_people(db, meeting, parsed.people, parsed.locale)
    log.info("instant_meeting", meeting=meeting.id, user=user.id, invitees=len(invitations))
    return Outcome(meeting, sms.text_invitations(db, invitations, meeting, "invite", user.id))


def create_booking(db: Session, user: User, parsed: Parsed) -> Outcome:
    """A booked meeting with a fresh address and PINs; invitees with a number get a text."""
    limits.check(db, user.organisation_id, [p.phone for p in parsed.people if p.phone], user.id)
    meeting = new_meeting(db, user, "booked", parsed, starts_at=parsed.starts_at, ends_at=parsed.ends_at)
    invitations = invite_people(db, meeting, parsed.people, parsed.locale)
    reminders.schedule(db, meeting, invitations)
    log.info("booking_created", meeting=meeting.id, user=user.id, invitees=len(invitations))
    outcome = Outcome(meeting, sms.text_invitations(db, invitations, meeting, "invite", user.id))
    outcome.mails = mail.mail_invitations(db, invitations, meeting, "invite")
    return outcome


def add_invitees(db: Session, meeting: Meeting, user: User, people: list[PersonIn]) -> Outcome:
    """Invite more people to a booked meeting (LimitReached first); those with a number or address are told."""
    limits.check(db, meeting.organisation_id, [p.phone for p in people if p.phone], user.id)
    if any(p.may_forward for p in people) and not meeting.allow_forward:
        meeting.allow_forward = True
        db.add(meeting)
    added = invite_people(db, meeting, people, "da")
    reminders.schedule(db, meeting, added)
    outcome = Outcome(meeting, sms.text_invitations(db, added, meeting, "invite", user.id), invitations=added)
    outcome.mails = mail.mail_invitations(db, added, meeting, "invite")
    log.info("invitees_added", meeting=meeting.id, user=user.id, invitees=len(added))
    return outcome


def invited_people(meeting_id: int) -> list[Invitation]:
    """Everyone invited to the meeting (forwarded people included, removed ones not), in order."""
    return list(mvc_db.session().exec(select(Invitation).where(
        Invitation.meeting_id == meeting_id, Invitation.revoked == False)  # noqa: E712
        .order_by(Invitation.id)).all())


def active_invitations(db: Session, meeting: Meeting) -> list[Invitation]:
    """The meeting's invitees who still hold a valid link."""
    return list(db.exec(select(Invitation).where(Invitation.meeting_id == meeting.id,
                                                 Invitation.revoked == False)  # noqa: E712
                        .order_by(Invitation.id)).all())


def _notify(db: Session, outcome: Outcome, invitations: list[Invitation], purpose: str, user: User) -> None:
    try:
        outcome.messages += sms.text_invitations(db, invitations, outcome.meeting, purpose, user.id)
    except limits.LimitReached as exc:
        outcome.problem = str(exc)


def update_booking(db: Session, meeting: Meeting, user: User, parsed: Parsed, remove_ids: set[int]) -> Outcome:
    """Save changes; invitees hear of a new time by text, new invitees get their invitation."""
    moved = (parsed.starts_at, parsed.ends_at) != (meeting.starts_at, meeting.ends_at)
    meeting.title, meeting.starts_at, meeting.ends_at = parsed.title, parsed.starts_at, parsed.ends_at
    meeting.reminders = parsed.reminders
    for name, value in parsed.options.items():
        setattr(meeting, name, value)
    meeting.sequence += 1
    db.add(meeting)
    kept = active_invitations(db, meeting)
    for inv in kept:
        if inv.id in remove_ids:
            inv.revoked = True
            db.add(inv)
    db.commit()
    removed = [inv for inv in kept if inv.revoked]
    kept = [inv for inv in kept if not inv.revoked]
    added = invite_people(db, meeting, parsed.people, parsed.locale)
    reminders.schedule(db, meeting, kept + added, moved=moved)
    outcome = Outcome(meeting)
    _notify(db, outcome, added, "invite", user)
    if moved:
        _notify(db, outcome, kept, "update", user)
    outcome.mails = mail.mail_invitations(db, added, meeting, "invite") + mail.mail_invitations(
        db, removed, meeting, "cancel") + (mail.mail_invitations(db, kept, meeting, "update") if moved else [])
    log.info("booking_changed", meeting=meeting.id, user=user.id, moved=moved, added=len(added))
    return outcome


def cancel_booking(db: Session, meeting: Meeting, user: User) -> Outcome:
    """Cancel: the links stop working and invitees with a number are told by text."""
    meeting.status = "cancelled"
    meeting.sequence += 1
    db.add(meeting)
    db.commit()
    live_ops.end(meeting.id)
    reminders.cancel(db, meeting)
    outcome = Outcome(meeting)
    invitations = active_invitations(db, meeting)
    _notify(db, outcome, invitations, "cancel", user)
    outcome.mails = mail.mail_invitations(db, invitations, meeting, "cancel")
    log.info("booking_cancelled", meeting=meeting.id, user=user.id)
    return outcome


class ForwardRefused(Exception):
    """A forward that is not allowed; the message says why."""


def forwards_left(db: Session, invitation: Invitation, meeting: Meeting) -> int:
    """How many more people this invitee may forward the invitation to (0 when not allowed)."""
    if not (meeting.allow_forward and invitation.may_forward) or invitation.forwarded_from_id is not None or (
            invitation.role != "guest"):
        return 0
    used = db.exec(select(func.count()).select_from(Invitation).where(
        Invitation.forwarded_from_id == invitation.id)).one()
    return max(current_app.config["SMS_FORWARDS"] - used, 0)


def forward(db: Session, invitation: Invitation, meeting: Meeting, person: PersonIn) -> Outcome:
    """An invitee passes the invitation on: the new person gets an own link by text."""
    if forwards_left(db, invitation, meeting) <= 0:
        raise ForwardRefused(_("You cannot forward this invitation to more people."))
    limits.check(db, meeting.organisation_id, [person.phone])
    new = Invitation(meeting_id=meeting.id, name=person.name, phone=person.phone, locale=invitation.locale,
                     forwarded_from_id=invitation.id)
    db.add(new)
    db.commit()
    reminders.schedule(db, meeting, [new])
    log.info("invitation_forwarded", meeting=meeting.id, invitation=invitation.id, new=new.id)
    return Outcome(meeting, [sms.text_invitation(db, new, meeting, "forward")])
