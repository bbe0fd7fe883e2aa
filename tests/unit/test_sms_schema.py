"""Migration 0003 and the reminder claim on SQLite and PostgreSQL; numbers and texts as plain units."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, select

from mvc import db as mvc_db
from mvc.booking.reminders import ReminderScheduler
from mvc.models import Invitation, Meeting, Organisation, Reminder, SmsMessage
from mvc.models.base import utcnow
from mvc.sms import texts
from mvc.sms.phones import mask, parse_mobile
from tests.conftest import base_config, build_app


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db.sqlite'}"
    return request.getfixturevalue("postgres").fresh_database(f"mvc_sms_{time.time_ns()}")


def test_migration_matches_the_models_and_goes_down_and_up(url):
    cfg = mvc_db.alembic_config(url)
    command.upgrade(cfg, "head")
    command.downgrade(cfg, "-1")
    command.upgrade(cfg, "head")
    engine = mvc_db.make_engine(url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []
    engine.dispose()


def test_one_reminder_per_invitation(url, tmp_path):
    app = build_app(base_config(tmp_path, DATABASE_URL=url))
    with Session(app.extensions["mvc.engine"]) as db:
        meeting, invitations = booked(db, 1)
        db.add(Reminder(meeting_id=meeting.id, invitation_id=invitations[0].id, due_at=utcnow()))
        db.commit()
        db.add(Reminder(meeting_id=meeting.id, invitation_id=invitations[0].id, due_at=utcnow()))
        with pytest.raises(IntegrityError):
            db.commit()
    app.extensions["mvc.live"].close()
    app.extensions["mvc.engine"].dispose()


def booked(db: Session, people: int):
    org = db.exec(select(Organisation)).first()
    start = utcnow() + timedelta(minutes=30)
    meeting = Meeting(organisation_id=org.id, kind="booked", alias=f"b-{time.time_ns()}", starts_at=start,
                      ends_at=start + timedelta(minutes=30))
    db.add(meeting)
    db.commit()
    invitations = [Invitation(meeting_id=meeting.id, name=f"P{i}", phone=f"+452012345{i}") for i in range(people)]
    db.add_all(invitations)
    db.commit()
    return meeting, invitations


def test_rival_schedulers_send_each_reminder_once(url, tmp_path):
    app = build_app(base_config(tmp_path, DATABASE_URL=url))
    with Session(app.extensions["mvc.engine"], expire_on_commit=False) as db:
        meeting, invitations = booked(db, 6)
        db.add_all([Reminder(meeting_id=meeting.id, invitation_id=inv.id, due_at=utcnow()) for inv in invitations])
        db.commit()
    schedulers = [ReminderScheduler(app, name=f"s{i}") for i in range(4)]
    threads = [threading.Thread(target=s.run_once) for s in schedulers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    with Session(app.extensions["mvc.engine"]) as db:
        sent = db.exec(select(SmsMessage.to).where(SmsMessage.purpose == "reminder")).all()
        assert sorted(sent) == sorted(inv.phone for inv in invitations)
        assert {r.outcome for r in db.exec(select(Reminder)).all()} == {"sent"}
    app.extensions["mvc.live"].close()
    app.extensions["mvc.engine"].dispose()


def test_numbers_are_normalised_and_masked():
    assert parse_mobile("20 12 34 56") == ("+4520123456", None)
    assert parse_mobile("0046 70 123 45 67") == ("+46701234567", None)
    assert parse_mobile("90 12 34 56") == (None, "not_mobile")
    assert mask("+4520123456") == "+45******56"


def test_texts_carry_organisation_and_link_in_the_chosen_language(app):
    with app.app_context():
        start = utcnow() + timedelta(days=1)
        da = texts.compose("invite", "Demo Kommune", "https://x.dk/m/a?t=1", when=start)
        en = texts.compose("reminder", "Demo Kommune", "https://x.dk/m/a?t=1", "en", start)
    assert da.startswith("Demo Kommune") and "https://x.dk/m/a?t=1" in da
    assert en.startswith("Reminder from Demo Kommune")
