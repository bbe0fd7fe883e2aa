"""SMS reminders before booked meetings: one row per invitee, claimed atomically, sent once."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Callable

from flask import Flask, current_app
from sqlalchemy import or_, update
from sqlmodel import Session, select

from mvc import logs
from mvc.models import Invitation, Meeting, Organisation, Reminder, SmsMessage
from mvc.models.base import utcnow
from mvc.periodic import ClaimingJob
from mvc.sms import limits, service as sms, texts

log = logs.get("mvc.reminders")
STALE_CLAIM = timedelta(minutes=5)  # a claim this old belongs to a process that died before sending


def schedule(db: Session, meeting: Meeting, invitations: list[Invitation], moved: bool = False) -> None:
    """Make (or move) the reminder row of each invitee with a number."""
    if meeting.kind != "booked":
        return
    due = meeting.starts_at - timedelta(minutes=current_app.config["REMINDER_MINUTES"])
    now = utcnow()
    for inv in invitations:
        if not inv.phone:
            continue
        row = db.exec(select(Reminder).where(Reminder.invitation_id == inv.id)).first()
        if row is None:
            if due > now:
                db.add(Reminder(meeting_id=meeting.id, invitation_id=inv.id, due_at=due))
        elif moved:
            row.due_at, row.claimed_at, row.claimed_by = due, None, None
            row.sent_at, row.outcome = (None, None) if due > now else (now, "skipped")
            db.add(row)
    db.commit()


def cancel(db: Session, meeting: Meeting) -> None:
    """No reminders for a cancelled meeting."""
    db.exec(update(Reminder).where(Reminder.meeting_id == meeting.id, Reminder.sent_at.is_(None))
            .values(sent_at=utcnow(), outcome="skipped"))
    db.commit()


class ReminderScheduler(ClaimingJob):
    """Sends due reminders; any number of these may run at once (threads, processes, machines)."""

    thread_name = "mvc-reminders"

    def __init__(self, app: Flask, clock: Callable[[], datetime] = utcnow, interval: float | None = None,
                 name: str | None = None) -> None:
        super().__init__(app, interval if interval is not None else app.config["REMINDER_INTERVAL"], clock, name)

    def due(self, db: Session, now: datetime) -> list[int]:
        """Ids of reminders that are due and not held by a live claim."""
        return list(db.exec(select(Reminder.id).where(
            Reminder.due_at <= now, Reminder.sent_at.is_(None),
            or_(Reminder.claimed_at.is_(None), Reminder.claimed_at < now - STALE_CLAIM)).limit(200)).all())

    def claim(self, db: Session, reminder_id: int, now: datetime) -> bool:
        """Take one reminder with an atomic UPDATE; False when another scheduler has it."""
        result = db.exec(update(Reminder).where(
            Reminder.id == reminder_id, Reminder.sent_at.is_(None),
            or_(Reminder.claimed_at.is_(None), Reminder.claimed_at < now - STALE_CLAIM),
        ).values(claimed_at=now, claimed_by=self.name))
        db.commit()
        return result.rowcount == 1

    def send(self, db: Session, reminder_id: int, now: datetime) -> str:
        """Send a claimed reminder (or decide to skip it) and mark it done."""
        row = db.get(Reminder, reminder_id)
        inv, meeting = db.get(Invitation, row.invitation_id), db.get(Meeting, row.meeting_id)
        earlier = db.exec(select(SmsMessage).where(SmsMessage.reminder_id == row.id,
                                                   SmsMessage.status != "failed")).first()
        if earlier is not None:
            outcome = "sent"  # it went out before a crash kept us from marking it
        elif (meeting.status != "open" or not meeting.reminders or inv.revoked or inv.reminder_opt_out
              or not inv.phone or now >= meeting.starts_at):
            outcome = "skipped"
        else:
            outcome = self._text(db, row, inv, meeting)
        row.sent_at, row.outcome = now, outcome
        db.add(row)
        db.commit()
        log.info("reminder_done", reminder=row.id, meeting=meeting.id, outcome=outcome)
        return outcome

    def _text(self, db: Session, row: Reminder, inv: Invitation, meeting: Meeting) -> str:
        org = db.get(Organisation, meeting.organisation_id)
        try:
            limits.check(db, org.id, [inv.phone], hourly=False)
        except limits.LimitReached:
            return "failed"
        body = texts.compose("reminder", org.name, sms.invite_link(inv, meeting), inv.locale, meeting.starts_at)
        msg = sms.deliver(db, org, inv.phone, body, purpose="reminder", meeting_id=meeting.id,
                          invitation_id=inv.id, reminder_id=row.id)
        return "failed" if msg.status == "failed" else "sent"


def init_app(app: Flask) -> None:
    """Start the scheduler thread when the settings ask for it (never at import)."""
    if app.config["REMINDER_THREAD"]:
        scheduler = ReminderScheduler(app)
        app.extensions["mvc.reminders"] = scheduler
        scheduler.start()
