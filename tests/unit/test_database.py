"""The database layer on SQLite and PostgreSQL: migrations, models, constraints."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from mvc import db as mvc_db
from mvc.models import Invitation, Meeting, Organisation, Room, Theme, User
from mvc.models.base import utcnow
from mvc.seed import seed_demo


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    else:
        url = request.getfixturevalue("postgres").fresh_database(f"mvc_test_{time.time_ns()}")
    mvc_db.upgrade(url)
    eng = mvc_db.make_engine(url)
    yield eng
    eng.dispose()


def test_migrations_create_every_table(engine):
    tables = set(inspect(engine).get_table_names())
    assert {"organisation", "theme", "room", "meeting", "invitation", "user", "audit_entry", "alembic_version"} <= tables


def test_migrations_match_the_models(engine):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_management_migration_downgrades_and_upgrades_again(engine):
    from alembic import command

    cfg = mvc_db.alembic_config(engine.url.render_as_string(hide_password=False))
    command.downgrade(cfg, "0001")
    assert "audit_entry" not in inspect(engine).get_table_names()
    command.upgrade(cfg, "head")
    assert "audit_entry" in inspect(engine).get_table_names()


def test_seed_is_idempotent_and_creates_demo_room(engine):
    with Session(engine) as s:
        first = seed_demo(s)
        second = seed_demo(s)
        assert first["alias"] == "demo" and len(first["host_pin"]) == 6
        assert second is None
        room = s.exec(select(Room).where(Room.alias == "demo")).one()
        assert s.get(Organisation, room.organisation_id).name == "Demo Kommune"
        admin = s.exec(select(User)).one()
        assert admin.has_role("org-admin") and admin.password_hash.startswith("$argon2")


def test_meeting_times_roundtrip_as_aware_utc(engine):
    with Session(engine) as s:
        seed_demo(s)
        org = s.exec(select(Organisation)).first()
        start = utcnow().replace(microsecond=0) + timedelta(days=1)
        m = Meeting(organisation_id=org.id, kind="booked", alias="b-1", starts_at=start, ends_at=start + timedelta(hours=1))
        s.add(m)
        s.commit()
        s.add(Invitation(meeting_id=m.id, name="Ole", phone="+4512345678"))
        s.commit()
        mid = m.id
    with Session(engine) as s:
        loaded = s.get(Meeting, mid)
        assert loaded.starts_at == start and loaded.starts_at.tzinfo is not None
        assert s.exec(select(Invitation).where(Invitation.meeting_id == mid)).one().name == "Ole"


def test_constraints_hold(engine):
    with Session(engine) as s:
        seed_demo(s)
        org = s.exec(select(Organisation)).first()
        s.add(Room(organisation_id=org.id, alias="demo", name="dup", host_pin="1"))
        with pytest.raises(IntegrityError):
            s.commit()
        s.rollback()
        s.add(Invitation(meeting_id=999999, name="nobody"))
        with pytest.raises(IntegrityError):
            s.commit()
        s.rollback()
        assert s.exec(select(Theme).where(Theme.organisation_id == None)).first().name == "Neutral"  # noqa: E711


def test_only_one_open_occurrence_per_room(engine):
    with Session(engine) as s:
        seed_demo(s)
        room = s.exec(select(Room)).first()
        s.add(Meeting(organisation_id=room.organisation_id, room_id=room.id, kind="room"))
        s.commit()
        s.add(Meeting(organisation_id=room.organisation_id, room_id=room.id, kind="room"))
        with pytest.raises(IntegrityError):
            s.commit()
        s.rollback()
        first = s.exec(select(Meeting)).one()
        first.status = "ended"
        s.add(first)
        s.commit()
        s.add(Meeting(organisation_id=room.organisation_id, room_id=room.id, kind="room"))
        s.commit()  # a new occurrence once the old one ended
