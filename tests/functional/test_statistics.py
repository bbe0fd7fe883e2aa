"""The admins' statistics page and its CSV export agree with the records and with each other."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from html.parser import HTMLParser

from sqlmodel import select

from mvc.models import MeetingRecord, Room, SmsMessage
from tests import staff
from tests.conftest import csrf_from
from tests.staff import db_outside_app_context  # noqa: F401 - replaces conftest's db here

DAY1 = datetime(2026, 10, 5, 9, 0, tzinfo=timezone.utc)
DAY2 = datetime(2026, 10, 7, 13, 0, tzinfo=timezone.utc)


class Tables(HTMLParser):
    """Rows (cell texts) of every table by id, and the key figures by data-key."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.keys: dict[str, str] = {}
        self._table = self._key = None
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._table = self.tables.setdefault(a.get("id", ""), [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []
        elif tag == "dd":
            self._key, self._cell = a.get("data-key"), []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self._table[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "dd" and self._key:
            self.keys[self._key] = "".join(self._cell).strip()
            self._key = self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def seed(db) -> None:
    """Three meetings in range (two in the demo room, one booked), one outside it, one of another organisation."""
    room = db.exec(select(Room).where(Room.alias == "demo")).one()
    org = room.organisation_id
    other = staff.make_org(db, "other-kommune")
    rows = [
        MeetingRecord(meeting_id=1, organisation_id=org, room_id=room.id, kind="room", started_at=DAY1, participants=3,
                      guests=2, participant_minutes=60, measured_minutes=50, good_minutes=45),
        MeetingRecord(meeting_id=2, organisation_id=org, room_id=room.id, kind="room", started_at=DAY2, participants=2,
                      guests=1, guests_never_in=1, participant_minutes=10, measured_minutes=10, good_minutes=10),
        MeetingRecord(meeting_id=3, organisation_id=org, kind="booked", started_at=DAY2, participants=2, guests=1,
                      participant_minutes=30, measured_minutes=0, good_minutes=0),
        MeetingRecord(meeting_id=4, organisation_id=org, room_id=room.id, started_at=datetime(2026, 9, 1, tzinfo=timezone.utc),
                      participants=9, participant_minutes=99),
        MeetingRecord(meeting_id=5, organisation_id=other.id, started_at=DAY1, participants=7, participant_minutes=70),
    ]
    sms = [SmsMessage(organisation_id=org, to="+4511111111", body="x", status=st, created_at=DAY1)
           for st in ("delivered", "delivered", "delivered", "failed")]
    db.add_all(rows + sms)
    db.commit()


def test_statistics_page_and_csv_agree_with_the_records(client, db):
    seed(db)
    staff.login(client, staff.admin(db).email)
    query = "?from=2026-10-01&to=2026-10-31&by=day"
    page = client.get("/manage/statistics" + query)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    parsed = Tables(html)
    assert parsed.keys["meetings"] == "3" and parsed.keys["participants"] == "7"
    assert parsed.keys["participant_minutes"] == "100.0"
    assert parsed.keys["quality_kpi_pct"] == "91.7 %"  # 55 good of 60 measured minutes
    assert parsed.keys["no_guest_got_in_pct"] == "33.3 %"  # 1 of 3 meetings with guests
    assert parsed.keys["sms_sent"] == "4" and parsed.keys["sms_delivered_pct"] == "75.0 %"
    assert html.count("<svg") == 3 and "<rect" in html

    exported = client.get("/manage/statistics.csv" + query)
    assert exported.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True))))
    header, lines = rows[0], rows[1:]
    total = dict(zip(header, next(r for r in lines if r[0] == "total")))
    assert (total["meetings"], total["participants"], total["participant_minutes"]) == ("3", "7", "100.0")
    assert total["quality_kpi_pct"] + " %" == parsed.keys["quality_kpi_pct"]
    assert total["no_guest_got_in_pct"] + " %" == parsed.keys["no_guest_got_in_pct"]
    client.get("/lang/da")  # Danish pages write a decimal comma; the CSV keeps the point
    danish = Tables(client.get("/manage/statistics" + query).get_data(as_text=True))
    assert danish.keys["quality_kpi_pct"] == "91,7 %" and danish.keys["participant_minutes"] == "100,0"

    # Every table row on the page is a CSV row with the same figures, and the other way round.
    for section, table in (("day", "periods-table"), ("room", "rooms-table")):
        on_page = [r[1:] for r in parsed.tables[table][1:]]
        in_csv = [r[2:4] + r[4:6] + r[7:9] for r in lines if r[0] == section]
        assert on_page == in_csv, (section, on_page, in_csv)
    days = {r[1]: r[2] for r in lines if r[0] == "day"}
    assert len(days) == 31 and days["2026-10-05"] == "1" and days["2026-10-07"] == "2"
    demo = db.exec(select(Room).where(Room.alias == "demo")).one()
    assert {r[1]: r[2] for r in lines if r[0] == "room"} == {"": "1", demo.name: "2"}

    by_room = client.get(f"/manage/statistics{query}&room={db.exec(select(Room.id)).first()}")
    assert Tables(by_room.get_data(as_text=True)).keys["meetings"] == "2"


def test_a_platform_admin_picks_the_organisation(client, db):
    seed(db)
    other = db.exec(select(MeetingRecord).where(MeetingRecord.meeting_id == 5)).one().organisation_id
    staff.make_user(db, "root@example.org", roles="platform-admin,org-admin")
    staff.login(client, "root@example.org")
    page = client.get(f"/manage/statistics?from=2026-10-01&to=2026-10-31&org={other}").get_data(as_text=True)
    assert Tables(page).keys["meetings"] == "1" and Tables(page).keys["participants"] == "7"
    own = client.get("/manage/statistics?from=2026-10-01&to=2026-10-31").get_data(as_text=True)
    assert Tables(own).keys["meetings"] == "3"  # the account's own organisation (Demo Kommune)


def test_statistics_are_for_admins_only(client, db):
    staff.make_user(db, "host@demo.example", roles="host")
    staff.login(client, "host@demo.example")
    assert client.get("/manage/statistics").status_code == 403
    assert client.get("/manage/statistics.csv").status_code == 403


def test_team_training_rooms_devices_and_queues_are_kinds_of_their_own(client, db):
    """An admin marks a room for team training; a session held there counts as team training,
    and the page gives participants per session."""
    staff.login(client, staff.admin(db).email)
    demo = db.exec(select(Room).where(Room.alias == "demo")).one()
    path = f"/manage/rooms/{demo.id}"
    form = {"csrf_token": staff.token(client, path), "name": demo.name, "alias": demo.alias, "host_pin": demo.host_pin,
            "guest_pin": "", "layout": demo.layout, "theme_id": "", "training": "on", "chat": "on"}
    assert client.post(path, data=form).status_code == 302
    db.refresh(demo)
    assert demo.training

    page = client.get("/m/demo")
    assert client.post("/m/demo", data={"csrf_token": csrf_from(page.get_data(as_text=True)), "name": "Karen Jensen"}
                       ).status_code in (200, 302)
    (record,) = db.exec(select(MeetingRecord)).all()
    assert record.kind == "training"

    org = demo.organisation_id
    db.add_all([MeetingRecord(meeting_id=90, organisation_id=org, room_id=demo.id, kind="training", started_at=DAY1,
                              participants=12, participant_minutes=600),
                MeetingRecord(meeting_id=91, organisation_id=org, room_id=demo.id, kind="training", started_at=DAY2,
                              participants=8, participant_minutes=400),
                MeetingRecord(meeting_id=92, organisation_id=org, kind="device", started_at=DAY2, participants=2),
                MeetingRecord(meeting_id=93, organisation_id=org, kind="queue", started_at=DAY2, participants=2)])
    db.commit()
    client.get("/lang/en")
    query = "?from=2026-10-01&to=2026-10-31"
    parsed = Tables(client.get("/manage/statistics" + query + "&by=week").get_data(as_text=True))
    assert parsed.keys["training_per_session"] == "10.0"
    kinds = {r[0]: r[1:3] for r in parsed.tables["kinds-table"][1:]}
    assert kinds["Team training"] == ["2", "20"] and kinds["Call to a device"] == ["1", "2"]
    assert kinds["Open video consultation"] == ["1", "2"]
    # grouped by ISO week (5 and 7 October are both in week 41) and by month, empty periods shown
    weeks = {r[0]: r[1] for r in parsed.tables["periods-table"][1:]}
    assert weeks == {"2026-W40": "0", "2026-W41": "4", "2026-W42": "0", "2026-W43": "0", "2026-W44": "0"}
    months = Tables(client.get("/manage/statistics" + query + "&by=month").get_data(as_text=True))
    assert {r[0]: r[1] for r in months.tables["periods-table"][1:]} == {"2026-10": "4"}
    exported = list(csv.reader(io.StringIO(client.get("/manage/statistics.csv" + query + "&by=week").get_data(as_text=True))))
    assert {r[1]: r[2] for r in exported if r[0] == "week"} == weeks
    assert [r[2:4] for r in exported if r[:2] == ["kind", "training"]] == [["2", "20"]]
