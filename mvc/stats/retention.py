"""Retention as agreed by the service's user group (VDX).

- media-stream data (quality samples, support timeline, pre-call checks): deleted after 3 months;
- participant data: anonymised after 3 months, once its counts, durations and quality are rolled
  up into the meeting record, and deleted after 6 months; invitees' names, numbers and
  addresses and the texts of SMS and e-mails are blanked after 3 months;
- meeting records and queue visit records: kept 2 years, then deleted.

Every step is a conditional UPDATE or DELETE, so running it twice changes nothing more and
any number of processes may run it at once.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Callable

from flask import Flask
from sqlalchemy import and_, delete, func, or_, update
from sqlmodel import Session, select

from mvc import db as mvc_db, logs
from mvc.models import (Invitation, MailMessage, Meeting, MeetingRecord, ParticipantRecord, QualitySample, QueueVisit,
                        SmsMessage, SupportCheck, SupportEvent)
from mvc.models.base import utcnow
from mvc.periodic import PeriodicJob
from mvc.stats.record import rollup

log = logs.get("mvc.retention")
STREAM_MONTHS, ANONYMISE_MONTHS, PARTICIPANT_MONTHS, MEETING_MONTHS = 3, 3, 6, 24
BATCH = 500


def months_before(now: datetime, months: int) -> datetime:
    """The same moment `months` calendar months earlier (the day clipped to the month's end)."""
    year, month = divmod(now.year * 12 + now.month - 1 - months, 12)
    month += 1
    days = [31, 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return now.replace(year=year, month=month, day=min(now.day, days[month - 1]))


@dataclass
class Outcome:
    """How many rows each rule touched (or would touch, in a dry run)."""

    quality_samples_deleted: int = 0
    support_events_deleted: int = 0
    support_checks_deleted: int = 0
    participants_anonymised: int = 0
    participants_deleted: int = 0
    meetings_deleted: int = 0
    queue_visits_deleted: int = 0
    invitations_anonymised: int = 0
    sms_anonymised: int = 0
    mail_anonymised: int = 0

    def total(self) -> int:
        return sum(asdict(self).values())


def _old_meetings(cutoff: datetime):
    """Meeting records that started before the cutoff."""
    return select(MeetingRecord.id).where(MeetingRecord.started_at < cutoff)


def _rules(now: datetime) -> dict:
    """Each rule: (model, WHERE clause, values to set or None to delete)."""
    stream, anon = months_before(now, STREAM_MONTHS), months_before(now, ANONYMISE_MONTHS)
    people, meetings = months_before(now, PARTICIPANT_MONTHS), months_before(now, MEETING_MONTHS)
    gone_meetings = select(Meeting.id).where(or_(Meeting.ends_at < anon,
                                                 and_(Meeting.ends_at.is_(None), Meeting.ended_at < anon)))
    return {
        "quality_samples_deleted": (QualitySample, QualitySample.at < stream, None),
        "support_events_deleted": (SupportEvent, SupportEvent.at < stream, None),
        "support_checks_deleted": (SupportCheck, SupportCheck.created_at < stream, None),
        "participants_anonymised": (ParticipantRecord, and_(ParticipantRecord.anonymised_at.is_(None),
                                                            ParticipantRecord.meeting_record_id.in_(_old_meetings(anon))),
                                    {"pid": None, "via": None, "browser": None, "device": None, "anonymised_at": now}),
        "participants_deleted": (ParticipantRecord, ParticipantRecord.meeting_record_id.in_(_old_meetings(people)), None),
        # after the participants: a record this old has none left (6 < 24 months)
        "meetings_deleted": (MeetingRecord, MeetingRecord.started_at < meetings, None),
        "queue_visits_deleted": (QueueVisit, QueueVisit.joined_at < meetings, None),
        "invitations_anonymised": (Invitation, and_(Invitation.meeting_id.in_(gone_meetings),
                                                    or_(Invitation.name != "", Invitation.phone.is_not(None),
                                                        Invitation.email.is_not(None))),
                                   {"name": "", "phone": None, "email": None}),
        "sms_anonymised": (SmsMessage, and_(SmsMessage.created_at < anon, or_(SmsMessage.to != "", SmsMessage.body != "")),
                           {"to": "", "body": ""}),
        "mail_anonymised": (MailMessage, and_(MailMessage.created_at < anon, or_(MailMessage.to != "", MailMessage.body != "")),
                            {"to": "", "subject": "", "body": ""}),
    }


def _roll_up_before_anonymising(s: Session, now: datetime) -> None:
    """Move what is still needed into the meeting records whose participants are about to be anonymised."""
    anon = months_before(now, ANONYMISE_MONTHS)
    due = select(ParticipantRecord.meeting_record_id).where(ParticipantRecord.anonymised_at.is_(None))
    while True:
        records = list(s.exec(select(MeetingRecord).where(MeetingRecord.started_at < anon, MeetingRecord.id.in_(due))
                              .limit(BATCH)))
        for record in records:
            rollup(s, record, now)
            s.exec(update(ParticipantRecord).where(ParticipantRecord.meeting_record_id == record.id,
                                                   ParticipantRecord.anonymised_at.is_(None))
                   .values(**_rules(now)["participants_anonymised"][2]))
        s.commit()
        if len(records) < BATCH:
            return


def apply(s: Session, now: datetime, dry_run: bool = False) -> Outcome:
    """Apply every rule (or only count what it would touch); returns the counts."""
    outcome = Outcome()
    if dry_run:
        for name, (model, where, _values) in _rules(now).items():
            setattr(outcome, name, s.exec(select(func.count()).select_from(model).where(where)).one())
        return outcome
    outcome.participants_anonymised = s.exec(select(func.count()).select_from(ParticipantRecord)
                                             .where(_rules(now)["participants_anonymised"][1])).one()
    _roll_up_before_anonymising(s, now)
    for name, (model, where, values) in _rules(now).items():
        if name == "participants_anonymised":
            continue
        if name == "participants_deleted":  # their quality samples go first (foreign key)
            old = select(ParticipantRecord.id).where(where)
            s.exec(delete(QualitySample).where(QualitySample.participant_record_id.in_(old)))
        statement = delete(model).where(where) if values is None else update(model).where(where).values(**values)
        setattr(outcome, name, s.exec(statement.execution_options(synchronize_session=False)).rowcount)
        s.commit()
    log.info("retention_applied", **asdict(outcome))
    return outcome


class RetentionScheduler(PeriodicJob):
    """Applies the retention rules every interval; several may run at once (each step is idempotent)."""

    thread_name = "mvc-retention"

    def __init__(self, app: Flask, clock: Callable[[], datetime] = utcnow, interval: float | None = None) -> None:
        super().__init__(app, interval if interval is not None else app.config["RETENTION_INTERVAL"], clock)

    def run_once(self, dry_run: bool = False) -> Outcome:
        """One round of the rules at the clock's time."""
        with self.app.app_context():
            with Session(mvc_db.engine(), expire_on_commit=False) as s:
                return apply(s, self.clock(), dry_run)


def init_app(app: Flask) -> None:
    """Start the retention thread when the settings ask for it (never at import)."""
    if app.config["RETENTION_THREAD"]:
        scheduler = RetentionScheduler(app)
        app.extensions["mvc.retention"] = scheduler
        scheduler.start()
