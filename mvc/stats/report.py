"""The admins' statistics: figures from the meeting records, queue visits and SMS rows, for the page and the CSV alike."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from mvc.models import MeetingRecord, Organisation, Queue, QueueVisit, Room, SmsMessage

LOCAL = ZoneInfo("Europe/Copenhagen")
GROUPINGS = ("day", "week", "month")
KINDS = ("room", "training", "booked", "instant", "device", "queue")


@dataclass
class Filters:
    """What the admin asked for: a date range (local dates, both included), a room, a grouping."""

    organisation_id: int
    start: date
    end: date
    room_id: int | None = None
    by: str = "day"

    @classmethod
    def from_args(cls, organisation_id: int, args, today: date | None = None) -> "Filters":
        """Read ?from=&to=&room=&by= leniently: anything unusable falls back to the last 30 days."""
        today = today or datetime.now(LOCAL).date()
        end = _date(args.get("to")) or today
        start = _date(args.get("from")) or end - timedelta(days=29)
        if start > end:
            start, end = end, start
        start = max(start, end - timedelta(days=800))  # records are kept 2 years
        room = args.get("room", "")
        by = args.get("by", "day")
        return cls(organisation_id, start, end, int(room) if room.isdigit() else None, by if by in GROUPINGS else "day")

    def bounds(self) -> tuple[datetime, datetime]:
        """UTC instants of the range's first and (exclusive) last local midnight."""
        first = datetime.combine(self.start, time(), LOCAL)
        last = datetime.combine(self.end + timedelta(days=1), time(), LOCAL)
        return first, last


def _date(raw) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


@dataclass
class Row:
    """Totals of a group of meetings."""

    label: str
    meetings: int = 0
    participants: int = 0
    participant_minutes: float = 0.0
    with_guests: int = 0
    never_in: int = 0  # meetings where guests came but none got in
    measured_minutes: float = 0.0
    good_minutes: float = 0.0

    def add(self, r: MeetingRecord) -> None:
        self.meetings += 1
        self.participants += r.participants
        self.participant_minutes += r.participant_minutes
        if r.guests:
            self.with_guests += 1
            self.never_in += int(r.guests_never_in == r.guests)
        self.measured_minutes += r.measured_minutes
        self.good_minutes += r.good_minutes

    @property
    def never_in_pct(self) -> float | None:
        """Share of meetings with guests where no guest got in, in per cent."""
        return round(100 * self.never_in / self.with_guests, 1) if self.with_guests else None

    @property
    def quality_pct(self) -> float | None:
        """The quality KPI: share of measured participant minutes without serious loss or freezes."""
        return round(100 * self.good_minutes / self.measured_minutes, 1) if self.measured_minutes else None

    @property
    def per_meeting(self) -> float | None:
        return round(self.participants / self.meetings, 1) if self.meetings else None


def percentile(values: list[float], pct: float) -> float | None:
    """The pct-th percentile of the values (linear between the nearest ranks), None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class QueueRow:
    """One queue's visits in the period: served, left, expired, and how long the served waited."""

    label: str
    served: int = 0
    left: int = 0
    expired: int = 0
    waits: list[float] = field(default_factory=list)  # minutes the served citizens waited

    def add(self, v: QueueVisit) -> None:
        if v.outcome == "served":
            self.served += 1
            self.waits.append((v.waited_seconds or 0.0) / 60)
        elif v.outcome == "left":
            self.left += 1
        elif v.outcome == "expired":
            self.expired += 1

    @property
    def median_wait(self) -> float | None:
        return percentile(self.waits, 50)

    @property
    def p90_wait(self) -> float | None:
        return percentile(self.waits, 90)


@dataclass
class Report:
    """Everything the statistics page shows."""

    filters: Filters
    total: Row
    periods: list[Row]
    rooms: list[Row]
    kinds: list[Row]
    sms_sent: int = 0
    sms_delivered: int = 0
    room_names: dict[int, str] = field(default_factory=dict)
    queues: list[QueueRow] = field(default_factory=list)

    def series(self, part: str, attr: str) -> list[tuple[str, float | None]]:
        """(label, value) pairs of one table's column, for a chart."""
        return [(r.label, getattr(r, attr)) for r in getattr(self, part)]

    @property
    def training(self) -> Row:
        """The team-training sessions' totals (participants per session is its per_meeting)."""
        return next(r for r in self.kinds if r.label == "training")

    @property
    def sms_rate(self) -> float | None:
        return round(100 * self.sms_delivered / self.sms_sent, 1) if self.sms_sent else None


def period_label(when: datetime, by: str) -> str:
    """The local day (2026-11-30), ISO week (2026-W48) or month (2026-11) a moment falls in."""
    local = when.astimezone(LOCAL)
    if by == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    return local.strftime("%Y-%m" if by == "month" else "%Y-%m-%d")


def _periods(f: Filters) -> "OrderedDict[str, Row]":
    """Every period of the range, empty ones included (a chart must show the gaps)."""
    out: OrderedDict[str, Row] = OrderedDict()
    day = f.start
    while day <= f.end:
        label = period_label(datetime.combine(day, time(12), LOCAL), f.by)
        out.setdefault(label, Row(label))
        day += timedelta(days=1)
    return out


def build(s: Session, f: Filters) -> Report:
    """Compute the report for the filters."""
    first, last = f.bounds()
    query = select(MeetingRecord).where(MeetingRecord.organisation_id == f.organisation_id,
                                        MeetingRecord.started_at >= first, MeetingRecord.started_at < last)
    if f.room_id is not None:
        query = query.where(MeetingRecord.room_id == f.room_id)
    names = {r.id: r.name for r in s.exec(select(Room).where(Room.organisation_id == f.organisation_id))}
    total, periods, by_room, by_kind = Row("total"), _periods(f), OrderedDict(), OrderedDict((k, Row(k)) for k in KINDS)
    for record in s.exec(query.order_by(MeetingRecord.started_at)):
        total.add(record)
        periods[period_label(record.started_at, f.by)].add(record)
        room = names.get(record.room_id, "") if record.room_id else ""
        by_room.setdefault(room, Row(room)).add(record)
        by_kind.setdefault(record.kind, Row(record.kind)).add(record)
    sms = s.exec(select(SmsMessage.status).where(SmsMessage.organisation_id == f.organisation_id,
                                                 SmsMessage.created_at >= first, SmsMessage.created_at < last,
                                                 SmsMessage.status != "queued")).all()
    return Report(f, total, list(periods.values()), sorted(by_room.values(), key=lambda r: r.label),
                  list(by_kind.values()), sms_sent=len(sms), sms_delivered=sum(1 for st in sms if st == "delivered"),
                  room_names=names, queues=_queues(s, f))


def _queues(s: Session, f: Filters) -> list[QueueRow]:
    """Per queue, by name: the visits that began in the range (a deleted queue's visits with an empty name)."""
    first, last = f.bounds()
    names = {q.id: q.name for q in s.exec(select(Queue).where(Queue.organisation_id == f.organisation_id))}
    rows: dict[int, QueueRow] = {}
    for visit in s.exec(select(QueueVisit).where(QueueVisit.organisation_id == f.organisation_id,
                                                 QueueVisit.joined_at >= first, QueueVisit.joined_at < last)):
        rows.setdefault(visit.queue_id, QueueRow(names.get(visit.queue_id, ""))).add(visit)
    return sorted(rows.values(), key=lambda r: r.label)


def organisations(s: Session) -> list[Organisation]:
    """Every organisation by name, for a platform admin's choice."""
    return list(s.exec(select(Organisation).order_by(Organisation.name)))


CSV_HEADER = ["section", "label", "meetings", "participants", "participants_per_meeting", "participant_minutes",
              "meetings_with_guests", "no_guest_got_in_pct", "quality_kpi_pct"]


QUEUE_CSV_HEADER = ["section", "queue", "served", "left", "expired", "median_wait_minutes", "p90_wait_minutes"]


def csv_rows(report: Report) -> list[list]:
    """The CSV export: the same rows and rounding as the page's tables."""
    def line(section: str, r: Row) -> list:
        return [section, r.label, r.meetings, r.participants, fmt(r.per_meeting), fmt(r.participant_minutes),
                r.with_guests, fmt(r.never_in_pct), fmt(r.quality_pct)]

    rows = [CSV_HEADER, line("total", report.total)]
    rows += [line(report.filters.by, r) for r in report.periods]
    rows += [line("room", r) for r in report.rooms]
    rows += [line("kind", r) for r in report.kinds]
    rows.append(["sms", "sent", report.sms_sent, "", "", "", "", "", ""])
    rows.append(["sms", "delivered_pct", fmt(report.sms_rate), "", "", "", "", "", ""])
    if report.queues:
        rows.append(QUEUE_CSV_HEADER)
        rows += [["queue", q.label, q.served, q.left, q.expired, fmt(q.median_wait), fmt(q.p90_wait)]
                 for q in report.queues]
    return rows


def fmt(value) -> str:
    """A figure as the CSV holds it (one decimal with a point, blank when there is none)."""
    return "" if value is None else f"{value:.1f}"


def fmt_local(value) -> str:
    """A figure as the page shows it: one decimal in the reader's language (Danish 1.234,5)."""
    from flask_babel import format_decimal

    return "" if value is None else format_decimal(round(value, 1), format="#,##0.0")
