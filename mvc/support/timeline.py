"""A meeting's support timeline: who came and went, waits, host actions, media states, quality dips, errors."""
from __future__ import annotations

import json
from dataclasses import dataclass

from sqlmodel import Session, select

from mvc.models import MeetingRecord, ParticipantRecord, Room, SupportCheck, SupportEvent


@dataclass
class Timeline:
    """One meeting's record, its participants (labelled, never named) and its events in order."""

    record: MeetingRecord
    room_name: str
    people: list[ParticipantRecord]
    labels: dict[str, str]  # pid -> "2 (guest)"
    events: list[SupportEvent]


def for_meeting(s: Session, meeting_id: int, organisation_id: int | None) -> Timeline | None:
    """The timeline of a meeting of this organisation (None = any organisation)."""
    record = s.exec(select(MeetingRecord).where(MeetingRecord.meeting_id == meeting_id)).first()
    if record is None or (organisation_id is not None and record.organisation_id != organisation_id):
        return None
    people = list(s.exec(select(ParticipantRecord).where(ParticipantRecord.meeting_record_id == record.id)
                         .order_by(ParticipantRecord.arrived_at)))
    labels = {p.pid: str(i) for i, p in enumerate(people, 1) if p.pid}
    events = list(s.exec(select(SupportEvent).where(SupportEvent.meeting_id == meeting_id)
                         .order_by(SupportEvent.at, SupportEvent.id)))
    room = s.get(Room, record.room_id) if record.room_id else None
    return Timeline(record, room.name if room else "", people, labels, events)


def recent(s: Session, organisation_id: int | None, limit: int = 30) -> list[MeetingRecord]:
    """The newest meeting records, for picking a meeting to follow."""
    query = select(MeetingRecord)
    if organisation_id is not None:
        query = query.where(MeetingRecord.organisation_id == organisation_id)
    return list(s.exec(query.order_by(MeetingRecord.started_at.desc()).limit(limit)))


def meetings_for_code(s: Session, code: str) -> list[tuple[int, str | None]]:
    """(meeting id, pid) of the meetings the browser that made this check took part in."""
    rows = s.exec(select(SupportEvent.meeting_id, SupportEvent.pid).where(
        SupportEvent.kind == "support_code", SupportEvent.detail == code)).all()
    return sorted({(m, p) for m, p in rows if m is not None})


def results(check: SupportCheck) -> dict:
    """The stored results of a check."""
    try:
        data = json.loads(check.result)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
