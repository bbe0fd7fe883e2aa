"""Recording meetings, participants, quality reports, support events and queue visits as they happen.

Called from request and websocket code alike; writes use the request's session where there is
one (see _session). A failure here is logged and never breaks a meeting.
"""
from __future__ import annotations

import functools
import math
import time
from datetime import datetime

from flask import has_request_context, session
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from mvc import db as mvc_db, logs
from mvc.models import Meeting, MeetingRecord, ParticipantRecord, QualitySample, QueueVisit, Room, SupportEvent
from mvc.models.base import utcnow
from mvc.stats.metrics import JOINS, QUALITY_REPORTS, RECONNECTS

log = logs.get("mvc.stats")
QUALITY_MIN_SECONDS = 4.0  # pages report every 5 s; anything faster is dropped
PAGE_EVENTS_PER_SOCKET = 40  # client errors and media states one socket may add to the timeline
BAD_LOSS_PCT = 5.0  # "serious loss": at least this share of packets lost in either direction
WORKER_MIN_PACKETS = 200  # a participant's worker drop share is judged once this many packets passed
WORKER_COUNTS = {"packets_in": "worker_packets_in", "bytes_in": "worker_bytes_in",
                 "packets_out": "worker_packets_out", "packets_dropped": "worker_packets_dropped"}
# name in the page's report -> (column, upper bound); every value must be a finite number in [0, bound]
QUALITY_FIELDS = {
    "rtt": ("rtt_ms", 60_000), "jitter": ("jitter_ms", 60_000), "lossIn": ("loss_in_pct", 100),
    "lossOut": ("loss_out_pct", 100), "kbpsIn": ("kbps_in", 100_000), "kbpsOut": ("kbps_out", 100_000),
    "fpsIn": ("fps_in", 240), "fpsOut": ("fps_out", 240),
}


def _quiet(fn):
    """Statistics never break a meeting: log the failure and carry on."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception:  # noqa: BLE001 - recording is best effort by design
            log.exception("stats_failed", step=fn.__name__)
            return None
    return wrapper


def _session():
    """See mvc.db.side_session: the request's session inside a request, else a short one."""
    return mvc_db.side_session()


def client_class(user_agent: str) -> tuple[str, str]:
    """(browser, device class) from a User-Agent header; the header itself is never stored."""
    ua = (user_agent or "").lower()
    if "edg/" in ua:
        browser = "edge"
    elif "firefox/" in ua or "fxios" in ua:
        browser = "firefox"
    elif "chrome/" in ua or "chromium/" in ua or "crios" in ua:
        browser = "chrome"
    elif "safari/" in ua:
        browser = "safari"
    else:
        browser = "other"
    if "ipad" in ua or "tablet" in ua or ("android" in ua and "mobile" not in ua):
        device = "tablet"
    elif "mobile" in ua or "iphone" in ua or "android" in ua:
        device = "mobile"
    else:
        device = "desktop"
    return browser, device


def event(meeting_id: int | None, pid: str | None, kind: str, detail: str = "", s: Session | None = None) -> None:
    """Add one line to the support timeline and the log (both carry meeting and participant ids)."""
    log.info("timeline", meeting=meeting_id, pid=pid, kind=kind, detail=detail[:300])
    row = SupportEvent(meeting_id=meeting_id, pid=pid, kind=kind[:20], detail=detail[:300])
    if s is not None:
        s.add(row)
        return
    with _session() as own:
        own.add(row)
        own.commit()


def _kind(s: Session, meeting: Meeting) -> str:
    """The meeting's kind for the statistics: a team-training room's meetings are "training"."""
    if meeting.kind == "room" and meeting.room_id is not None:
        room = s.get(Room, meeting.room_id)
        if room is not None and room.training:
            return "training"
    return meeting.kind


def _meeting_record(s: Session, meeting: Meeting) -> MeetingRecord:
    """The meeting's record, made on its first participant (safe when two arrive at once)."""
    row = s.exec(select(MeetingRecord).where(MeetingRecord.meeting_id == meeting.id)).first()
    if row is not None:
        return row
    row = MeetingRecord(meeting_id=meeting.id, organisation_id=meeting.organisation_id, room_id=meeting.room_id,
                        kind=_kind(s, meeting), planned_start=meeting.starts_at, planned_end=meeting.ends_at)
    s.add(row)
    try:
        s.commit()
    except IntegrityError:
        s.rollback()
        row = s.exec(select(MeetingRecord).where(MeetingRecord.meeting_id == meeting.id)).one()
    return row


def _participant(s: Session, meeting_id: int, pid: str) -> ParticipantRecord | None:
    return s.exec(select(ParticipantRecord).where(ParticipantRecord.meeting_id == meeting_id,
                                                  ParticipantRecord.pid == pid)).first()


@_quiet
def record_join(meeting: Meeting, pid: str, role: str, via: str, user_agent: str) -> None:
    """A visitor passed the join form: make (or refresh) their participant record."""
    browser, device = client_class(user_agent)
    JOINS.labels(role=role, via=via).inc()
    with _session() as s:
        record = _meeting_record(s, meeting)
        row = _participant(s, meeting.id, pid)
        if row is None:
            row = ParticipantRecord(meeting_record_id=record.id, meeting_id=meeting.id, pid=pid)
        row.role, row.via, row.browser, row.device, row.left_at = role, via, browser, device, None
        s.add(row)
        event(meeting.id, pid, "join", f"{role} via {via}, {browser} on {device}", s=s)
        if has_request_context() and isinstance(session.get("support_code"), str):
            event(meeting.id, pid, "support_code", session["support_code"][:6], s=s)
        s.commit()


@_quiet
def record_connected(meeting_id: int, pid: str, connected: bool, state) -> None:
    """A page's websocket opened or closed: count connections and the meeting's peak."""
    with _session() as s:
        row = _participant(s, meeting_id, pid)
        if row is not None and connected:
            row.connects += 1
            s.add(row)
        record = s.exec(select(MeetingRecord).where(MeetingRecord.meeting_id == meeting_id)).first()
        if record is not None and state is not None:
            present = [p for p in state.participants.values() if p.status == "present" and p.connected]
            record.peak_participants = max(record.peak_participants, len(present))
            record.host_came = record.host_came or any(p.role == "host" for p in present)
            s.add(record)
        reconnect = connected and row is not None and row.connects > 1
        if reconnect:
            RECONNECTS.inc()
        event(meeting_id, pid, "reconnect" if reconnect else ("connected" if connected else "disconnected"), s=s)
        s.commit()


@_quiet
def record_admitted(meeting_id: int, pid: str) -> None:
    """The participant is in the meeting (past any waiting room); the first time counts."""
    with _session() as s:
        row = _participant(s, meeting_id, pid)
        if row is None or row.admitted_at is not None:
            return
        row.admitted_at = utcnow()
        s.add(row)
        waited = (row.admitted_at - row.arrived_at).total_seconds()
        event(meeting_id, pid, "admitted", f"waited {waited:.0f} s", s=s)
        s.commit()


@_quiet
def record_left(meeting_id: int, pid: str) -> None:
    """The participant left on purpose."""
    with _session() as s:
        row = _participant(s, meeting_id, pid)
        if row is not None and row.left_at is None:
            row.left_at = utcnow()
            s.add(row)
        event(meeting_id, pid, "left", s=s)
        s.commit()


@_quiet
def record_end(meeting_id: int) -> None:
    """The meeting ended: close every participant record and roll the facts up."""
    now = utcnow()
    with _session() as s:
        record = s.exec(select(MeetingRecord).where(MeetingRecord.meeting_id == meeting_id)).first()
        if record is None:
            return
        for row in s.exec(select(ParticipantRecord).where(ParticipantRecord.meeting_record_id == record.id,
                                                          ParticipantRecord.left_at.is_(None))):
            row.left_at = now
            s.add(row)
        record.ended_at = record.ended_at or now
        event(meeting_id, None, "ended", s=s)
        s.commit()
        rollup(s, record)
        s.commit()


def _minutes(row: ParticipantRecord, now: datetime) -> float:
    if row.admitted_at is None:
        return 0.0
    return max(0.0, ((row.left_at or now) - row.admitted_at).total_seconds() / 60)


def rollup(s: Session, record: MeetingRecord, now: datetime | None = None) -> None:
    """Recompute the meeting's counts, durations and quality from its participant records."""
    rows = list(s.exec(select(ParticipantRecord).where(ParticipantRecord.meeting_record_id == record.id)))
    if record.rolled_up_at is not None and not rows:
        return  # the participant records are gone; the rolled-up figures are all that is left
    now = now or utcnow()
    guests = [r for r in rows if r.role != "host"]
    record.participants = len(rows)
    record.guests = len(guests)
    record.guests_never_in = sum(1 for r in guests if r.admitted_at is None)
    record.host_came = record.host_came or any(r.role == "host" and r.admitted_at for r in rows)
    record.participant_minutes = round(sum(_minutes(r, now) for r in rows), 3)
    measured = [r for r in rows if r.samples]
    record.measured_minutes = round(sum(_minutes(r, now) for r in measured), 3)
    record.good_minutes = round(sum(_minutes(r, now) * (1 - r.bad_samples / r.samples) for r in measured), 3)
    record.lobby_seconds = round(sum((r.admitted_at - r.arrived_at).total_seconds() for r in rows if r.admitted_at), 1)
    record.reconnects = sum(max(0, r.connects - 1) for r in rows)
    record.quality_samples = sum(r.samples for r in rows)
    record.bad_samples = sum(r.bad_samples for r in rows)
    if record.quality_samples:
        record.rtt_ms_avg = round(sum(r.rtt_ms_sum for r in rows) / record.quality_samples, 1)
        record.loss_pct_avg = round(sum(r.loss_pct_sum for r in rows) / record.quality_samples, 2)
    record.rolled_up_at = now
    s.add(record)


def parse_quality(msg: dict) -> dict | None:
    """The report's values as columns, or None when any value is not a sensible number."""
    if len(msg) > 16:
        return None
    out: dict = {}
    for key, (column, bound) in QUALITY_FIELDS.items():
        value = msg.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not 0 <= value <= bound:
            return None
        out[column] = float(value)
    freezes = msg.get("freezes", 0)
    if isinstance(freezes, bool) or not isinstance(freezes, int) or not 0 <= freezes <= 1000:
        return None
    out["freezes"] = freezes
    return out


@_quiet
def record_quality(meeting_id: int, pid: str, values: dict) -> bool:
    """Store one page's quality summary and add it to the participant's totals; True if stored."""
    loss = max(values.get("loss_in_pct") or 0.0, values.get("loss_out_pct") or 0.0)
    bad = loss >= BAD_LOSS_PCT or values["freezes"] > 0
    with _session() as s:
        row = _participant(s, meeting_id, pid)
        if row is None:
            return False
        was_bad = row.bad_samples > 0 and _last_bad(s, row)
        s.add(QualitySample(participant_record_id=row.id, meeting_id=meeting_id, bad=bad, **values))
        row.samples += 1
        row.bad_samples += int(bad)
        row.rtt_ms_sum += values.get("rtt_ms") or 0.0
        row.loss_pct_sum += loss
        row.freezes += values["freezes"]
        s.add(row)
        if bad and not was_bad:
            event(meeting_id, pid, "quality_dip",
                  f"loss {loss:.1f} %, freezes {values['freezes']}, rtt {values.get('rtt_ms') or 0:.0f} ms", s=s)
        s.commit()
    return True


def worker_drop_pct(row: ParticipantRecord) -> float:
    """The share (in %) of the participant's packets that the media worker saw dropped."""
    total = row.worker_packets_in + row.worker_packets_out + row.worker_packets_dropped
    return 100.0 * row.worker_packets_dropped / total if total >= WORKER_MIN_PACKETS else 0.0


def _worker_counts(counts) -> dict[str, dict[str, int]]:
    """pid -> {column: count} from a worker_counts report; entries that are not sane are left out."""
    out: dict[str, dict[str, int]] = {}
    for pid, values in (counts.items() if isinstance(counts, dict) else ()):
        if not isinstance(pid, str) or not isinstance(values, dict):
            continue
        clean = {column: values.get(name, 0) for name, column in WORKER_COUNTS.items()}
        if all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 40 for v in clean.values()):
            out[pid] = clean
    return out


@_quiet
def record_worker_moved(meeting_id: int) -> None:
    """The meeting's media worker died and its media moved to another one (support timeline)."""
    event(meeting_id, None, "worker_moved")


@_quiet
def record_worker_counts(room: str | None, counts) -> None:
    """Add a media worker's report (what it received, forwarded and dropped per participant since
    its last one) to the participants' records; a high drop share goes on the support timeline."""
    if not isinstance(room, str) or not room.isdigit():
        return
    meeting_id, clean = int(room), _worker_counts(counts)
    if not clean:
        return
    with _session() as s:
        for row in s.exec(select(ParticipantRecord).where(ParticipantRecord.meeting_id == meeting_id,
                                                          ParticipantRecord.pid.in_(list(clean)))):
            was_bad = worker_drop_pct(row) >= BAD_LOSS_PCT
            for column, value in clean[row.pid].items():
                setattr(row, column, getattr(row, column) + value)
            s.add(row)
            share = worker_drop_pct(row)
            if share >= BAD_LOSS_PCT and not was_bad:
                event(meeting_id, row.pid, "worker_drops",
                      f"dropped {row.worker_packets_dropped} of "
                      f"{row.worker_packets_in + row.worker_packets_out + row.worker_packets_dropped} packets "
                      f"({share:.1f} %)", s=s)
        s.commit()


def _last_bad(s: Session, row: ParticipantRecord) -> bool:
    last = s.exec(select(QualitySample.bad).where(QualitySample.participant_record_id == row.id)
                  .order_by(QualitySample.id.desc()).limit(1)).first()
    return bool(last)


def from_page(conn, msg: dict) -> bool:
    """Handle a page's 'quality', 'client_error', 'media_error' or 'media_state' message (size, shape and rate checked)."""
    kind = msg.get("type")
    now = time.monotonic()
    limits = conn.__dict__.setdefault("_stats_limits", {"quality": 0.0, "events": 0})
    if kind == "quality":
        if now - limits["quality"] < QUALITY_MIN_SECONDS or conn.media_on != "meeting":
            return False  # too soon, or from the waiting room (its media is connected, but no call minute)
        values = parse_quality(msg)
        if values is None:
            log.warning("quality_refused", meeting=conn.meeting_id, pid=conn.pid)
            QUALITY_REPORTS.labels(outcome="refused").inc()
            return False
        limits["quality"] = now
        QUALITY_REPORTS.labels(outcome="stored" if record_quality(conn.meeting_id, conn.pid, values) else "lost").inc()
        return False
    text = msg.get("state") if kind == "media_state" else msg.get("message")
    if not isinstance(text, str) or limits["events"] >= PAGE_EVENTS_PER_SOCKET:
        return False
    limits["events"] += 1
    clean = "".join(ch for ch in text[:200] if ch.isprintable())
    _quiet(event)(conn.meeting_id, conn.pid, kind, clean)
    return False


@_quiet
def queue_joined(organisation_id: int, queue_id: int, assisted: bool) -> int | None:
    """A citizen joined a queue: open their visit record (no name, no intake) and return its id."""
    with _session() as s:
        row = QueueVisit(organisation_id=organisation_id, queue_id=queue_id, assisted=assisted)
        s.add(row)
        s.commit()
        return row.id


@_quiet
def queue_ended(visit_id: int | None, outcome: str, waited_seconds: float) -> None:
    """Close a visit record as served, left or expired; one already closed stays as it is."""
    if visit_id is None:
        return
    with _session() as s:
        s.exec(update(QueueVisit).where(QueueVisit.id == visit_id, QueueVisit.outcome.is_(None))
               .values(outcome=outcome, ended_at=utcnow(), waited_seconds=round(max(0.0, waited_seconds), 1))
               .execution_options(synchronize_session=False))
        s.commit()


PAGE_TYPES = {"quality", "client_error", "media_error", "media_state"}
UNRECORDED_ACTIONS = {"chat"}  # chat never reaches the statistics or the timeline


def record_action(conn, msg: dict) -> None:
    """Put a participant's or host's action (not its content) on the timeline."""
    action = msg.get("action")
    if not isinstance(action, str) or not action.isidentifier() or len(action) > 20 or action in UNRECORDED_ACTIONS:
        return
    target = msg.get("pid") if isinstance(msg.get("pid"), str) else ""
    detail = action + (f" → {target[:24]}" if target else "") + (f" on={msg['on']}" if isinstance(msg.get("on"), bool) else "")
    _quiet(event)(conn.meeting_id, conn.pid, "action", detail)
