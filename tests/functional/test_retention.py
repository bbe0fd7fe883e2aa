"""Retention with a moved clock: stream data and participant data at 3 months, participants at 6, meetings at 24."""
from __future__ import annotations

import threading
from dataclasses import asdict
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from mvc import rooms
from mvc.models import (Invitation, Meeting, MeetingRecord, ParticipantRecord, QualitySample, Room, SmsMessage,
                        SupportCheck, SupportEvent)
from mvc.models.base import utcnow
from mvc.stats import record
from mvc.stats.retention import RetentionScheduler, months_before
from tests.conftest import base_config, build_app

QUALITY = {"rtt_ms": 40.0, "loss_in_pct": 0.5, "kbps_in": 600.0, "freezes": 0}


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request, tmp_path):
    """The app on SQLite and on PostgreSQL: the rules are bulk UPDATEs and DELETEs with subqueries."""
    config = base_config(tmp_path)
    if request.param == "postgresql":
        import time

        config["DATABASE_URL"] = request.getfixturevalue("postgres").fresh_database(f"mvc_test_{time.time_ns()}")
    app = build_app(config)
    yield app
    app.extensions["mvc.media"].stop()
    app.extensions["mvc.live"].close()
    app.extensions["mvc.engine"].dispose()


@pytest.fixture
def recorded(app):
    """A meeting with a host and a guest (one bad sample), an invitee and an SMS, recorded as it happens."""
    engine = app.extensions["mvc.engine"]
    with app.test_request_context():
        with Session(engine, expire_on_commit=False) as s:
            room = s.exec(select(Room).where(Room.alias == "demo")).one()
            meeting = rooms.open_meeting(s, rooms.resolve(s, "demo"))
            s.add(Invitation(meeting_id=meeting.id, name="Karen Jensen", phone="+4512345678"))
            s.add(SmsMessage(organisation_id=room.organisation_id, meeting_id=meeting.id, to="+4512345678",
                             body="Mød op her", status="delivered"))
            s.add(SupportCheck(code="ABC234", result="{}"))
            s.commit()
        for pid, role in (("host-1", "host"), ("guest-1", "guest")):
            record.record_join(meeting, pid, role, "pin" if role == "host" else "invitation", "Mozilla/5.0 Chrome/130")
            record.record_admitted(meeting.id, pid)
            record.record_quality(meeting.id, pid, QUALITY)
        record.record_quality(meeting.id, "guest-1", {**QUALITY, "loss_in_pct": 12.0})
        with Session(engine, expire_on_commit=False) as s:
            meeting = s.get(Meeting, meeting.id)
            rooms.end_meeting(s, meeting)
        record.record_end(meeting.id)
    return engine


def counts(engine) -> dict:
    """Rows left per table, and whether personal facts remain."""
    with Session(engine) as s:
        people = s.exec(select(ParticipantRecord)).all()
        invitation = s.exec(select(Invitation)).first()
        return {
            "samples": len(s.exec(select(QualitySample)).all()),
            "events": len(s.exec(select(SupportEvent)).all()),
            "checks": len(s.exec(select(SupportCheck)).all()),
            "participants": len(people),
            "identified": sum(1 for p in people if p.pid or p.browser or p.device or p.via),
            "meetings": len(s.exec(select(MeetingRecord)).all()),
            "invitee": (invitation.name, invitation.phone),
            "sms_to": s.exec(select(SmsMessage.to)).first(),
        }


def at(app, when):
    """A scheduler whose clock says `when`."""
    return RetentionScheduler(app, clock=lambda: when, interval=3600)


def test_retention_follows_the_agreed_schedule_and_a_second_run_changes_nothing(app, recorded):
    now = utcnow()
    start = counts(recorded)
    assert start == {"samples": 3, "events": start["events"], "checks": 1, "participants": 2, "identified": 2,
                     "meetings": 1, "invitee": ("Karen Jensen", "+4512345678"), "sms_to": "+4512345678"}
    assert start["events"] >= 5
    with Session(recorded) as s:
        before = s.exec(select(MeetingRecord)).one().model_dump()

    assert at(app, now + timedelta(days=80)).run_once().total() == 0
    assert counts(recorded) == start

    three = months_before(now, -3) + timedelta(days=1)
    dry = at(app, three).run_once(dry_run=True)
    assert counts(recorded) == start  # a dry run changes nothing
    done = at(app, three).run_once()
    assert asdict(done) == asdict(dry)
    after = counts(recorded)
    assert after == {"samples": 0, "events": 0, "checks": 0, "participants": 2, "identified": 0, "meetings": 1,
                     "invitee": ("", None), "sms_to": ""}
    with Session(recorded) as s:
        rolled = s.exec(select(MeetingRecord)).one()
        assert (rolled.participants, rolled.guests, rolled.quality_samples, rolled.bad_samples) == (2, 1, 3, 1)
        assert rolled.participant_minutes == before["participant_minutes"]  # the roll-up survives
    assert at(app, three).run_once().total() == 0  # twice changes nothing more
    assert counts(recorded) == after

    six = months_before(now, -6) + timedelta(days=1)
    assert months_before(now, -6) - timedelta(days=1) > three
    assert at(app, months_before(now, -6) - timedelta(days=1)).run_once().total() == 0
    assert at(app, six).run_once().participants_deleted == 2
    assert counts(recorded)["participants"] == 0 and counts(recorded)["meetings"] == 1
    with Session(recorded) as s:
        assert s.exec(select(MeetingRecord)).one().participants == 2
    assert at(app, six).run_once().total() == 0

    assert at(app, months_before(now, -24) - timedelta(days=1)).run_once().total() == 0
    assert at(app, months_before(now, -24) + timedelta(days=1)).run_once().meetings_deleted == 1
    assert counts(recorded)["meetings"] == 0


def test_schedulers_running_at_once_apply_the_rules_once(app, recorded):
    when = months_before(utcnow(), -7)
    results, errors = [], []

    def run():
        try:
            results.append(at(app, when).run_once())
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert sum(r.participants_deleted for r in results) == 2
    assert sum(r.quality_samples_deleted for r in results) == 3
    left = counts(recorded)
    assert (left["participants"], left["samples"], left["meetings"]) == (0, 0, 1)


def test_retention_command_dry_run_changes_nothing(app, recorded, monkeypatch, capsys):
    from mvc.__main__ import main

    monkeypatch.setenv("MVC_DATABASE_URL", app.config["DATABASE_URL"])
    monkeypatch.setenv("MVC_SECRET_KEY", "x")
    monkeypatch.setenv("MVC_LIVE_PATH", app.config["LIVE_PATH"])
    start = counts(recorded)
    assert main(["retention", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would change 0 rows" in out and "participants_anonymised: 0" in out
    assert counts(recorded) == start
