"""Statistics records: meetings, participants, media-stream quality, support events, check codes, queue visits.

No chat, no names, no health data: a meeting record points at its meeting by id only, a
participant record holds a role and technical facts, never a name or a user agent string.
"""
from datetime import datetime

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel

from mvc.models.base import utcnow


class MeetingRecord(SQLModel, table=True):
    """One meeting's usage and quality, kept 2 years (participant facts roll up into it)."""

    __tablename__ = "meeting_record"

    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(unique=True, index=True)  # no foreign key: the record may outlive the meeting row
    organisation_id: int = Field(index=True)
    room_id: int | None = Field(default=None, index=True)
    kind: str = Field(default="room", max_length=12)  # room | training | booked | instant (SMS) | device | queue
    planned_start: datetime | None = None
    planned_end: datetime | None = None
    started_at: datetime = Field(default_factory=utcnow, index=True)
    ended_at: datetime | None = None
    peak_participants: int = 0
    host_came: bool = False
    # Rolled up from the participant records (kept after those are anonymised and deleted).
    participants: int = 0
    guests: int = 0
    guests_never_in: int = 0  # guests who joined but were never let into the meeting
    participant_minutes: float = 0.0
    measured_minutes: float = 0.0  # participant minutes whose page sent quality reports
    good_minutes: float = 0.0  # measured minutes without serious loss or freezes
    lobby_seconds: float = 0.0
    reconnects: int = 0
    quality_samples: int = 0
    bad_samples: int = 0
    rtt_ms_avg: float | None = None
    loss_pct_avg: float | None = None
    rolled_up_at: datetime | None = None


class ParticipantRecord(SQLModel, table=True):
    """One participant of a meeting: anonymised after 3 months, deleted after 6."""

    __tablename__ = "participant_record"

    id: int | None = Field(default=None, primary_key=True)
    meeting_record_id: int = Field(foreign_key="meeting_record.id", index=True)
    meeting_id: int = Field(index=True)
    pid: str | None = Field(default=None, max_length=24, index=True)  # None once anonymised
    role: str = Field(default="guest", max_length=10)
    via: str | None = Field(default=None, max_length=12)  # link | pin | invitation | staff | device
    browser: str | None = Field(default=None, max_length=12)
    device: str | None = Field(default=None, max_length=10)  # mobile | tablet | desktop
    arrived_at: datetime = Field(default_factory=utcnow, index=True)
    admitted_at: datetime | None = None
    left_at: datetime | None = None
    connects: int = 0
    samples: int = 0
    bad_samples: int = 0
    rtt_ms_sum: float = 0.0
    loss_pct_sum: float = 0.0
    freezes: int = 0
    # What the media worker received from, forwarded to and dropped for this participant.
    worker_packets_in: int = Field(default=0, sa_type=BigInteger)
    worker_bytes_in: int = Field(default=0, sa_type=BigInteger)
    worker_packets_out: int = Field(default=0, sa_type=BigInteger)
    worker_packets_dropped: int = Field(default=0, sa_type=BigInteger)
    anonymised_at: datetime | None = None


class QualitySample(SQLModel, table=True):
    """A page's media-stream summary of a few seconds (deleted after 3 months)."""

    __tablename__ = "quality_sample"

    id: int | None = Field(default=None, primary_key=True)
    participant_record_id: int = Field(foreign_key="participant_record.id", index=True)
    meeting_id: int = Field(index=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    rtt_ms: float | None = None
    jitter_ms: float | None = None
    loss_in_pct: float | None = None
    loss_out_pct: float | None = None
    kbps_in: float | None = None
    kbps_out: float | None = None
    fps_in: float | None = None
    fps_out: float | None = None
    freezes: int = 0
    bad: bool = False


class SupportEvent(SQLModel, table=True):
    """One line of a meeting's support timeline (deleted after 3 months with the stream data)."""

    __tablename__ = "support_event"

    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int | None = Field(default=None, index=True)
    pid: str | None = Field(default=None, max_length=24, index=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    kind: str = Field(max_length=20)
    detail: str = Field(default="", max_length=300)


class SupportCheck(SQLModel, table=True):
    """A pre-call check's result under its short support code (deleted after 3 months)."""

    __tablename__ = "support_check"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=6, unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    pid: str | None = Field(default=None, max_length=24)
    result: str = Field(default="{}", max_length=4000)  # JSON summary of the checks


class QueueVisit(SQLModel, table=True):
    """One citizen's place in an open-consultation queue, from joining to being served, leaving or
    expiring; kept 2 years like the meeting records. No name, no intake answer, no phone number."""

    __tablename__ = "queue_visit"

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(index=True)
    queue_id: int = Field(index=True)  # no foreign key: the record may outlive the queue
    joined_at: datetime = Field(default_factory=utcnow, index=True)
    ended_at: datetime | None = None
    outcome: str | None = Field(default=None, max_length=8)  # served | left | expired; None while waiting
    waited_seconds: float | None = None
    assisted: bool = False
