"""SMS meetings and bookings through the staff pages: numbers, texts, windows, calendar files, limits."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from sqlmodel import select

from mvc.models import Invitation, Meeting, SmsMessage
from mvc.models.base import utcnow
from tests.conftest import base_config, build_app, csrf_from
from tests.sms_helpers import login, make_staff, post_form, session_for

LOCAL = ZoneInfo("Europe/Copenhagen")


@pytest.fixture
def make_app(tmp_path):
    apps = []

    def make(**overrides):
        app = build_app(base_config(tmp_path, PUBLIC_URL="https://video.example.dk", **overrides))
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["mvc.live"].close()


@pytest.fixture
def app(make_app):
    app = make_app()
    make_staff(app)
    return app


@pytest.fixture
def host(app, client):
    login(client)
    return client


def rows(app, model, *where):
    with session_for(app) as db:
        return list(db.exec(select(model).where(*where).order_by(model.id)).all())


def link_path(body: str) -> str:
    return re.search(r"https://video\.example\.dk(/m/\S+)", body).group(1)


def local_form(start: datetime, minutes: int = 30) -> dict:
    start = start.astimezone(LOCAL)
    end = start + timedelta(minutes=minutes)
    return {"date": start.date().isoformat(), "start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")}


def book(host, start: datetime, people: list[tuple[str, str, str]], **extra):
    data = {"title": "Wound check after surgery", **local_form(start), "reminders": "on",
            "name": [p[0] for p in people], "phone": [p[1] for p in people], "email": [p[2] for p in people]}
    data.update(extra)
    return post_form(host, "/bookings/new", data)


# -- phone numbers and access ------------------------------------------------------------------

@pytest.mark.parametrize("number, message", [
    ("hello", "This is not a phone number"),
    ("2012345", "The number is too short"),
    ("201234567", "The number is too long"),
    ("80 12 34 56", "This is not a mobile number"),
    ("", "Please type a mobile number"),
])
def test_each_bad_number_gets_its_own_clear_message(app, host, number, message):
    resp = post_form(host, "/sms-video", {"name": "Karen", "phone": number})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and message in html
    assert 'aria-describedby="phone-0-error"' in html and 'id="phone-0-error"' in html
    assert rows(app, SmsMessage) == [] and rows(app, Meeting) == []


def test_only_signed_in_staff_with_the_host_role_can_send(app, client):
    resp = client.get("/sms-video")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert client.post("/sms-video", data={"phone": "20123456"}).status_code in (302, 400)
    make_staff(app, email="clerk@demo.example", roles="org-admin")
    login(client, "clerk@demo.example")
    assert client.get("/sms-video").status_code == 403
    assert rows(app, SmsMessage) == []


# -- instant SMS meetings -----------------------------------------------------------------------

def test_instant_meeting_texts_each_number_its_own_link_and_takes_the_host_in(app, host):
    resp = post_form(host, "/sms-video", {"name": ["Karen Jensen", ""], "phone": ["20 12 34 56", "31234567"],
                                          "waiting_room": "on", "one_way_video": "on", "layout": "host_large"})
    [meeting] = rows(app, Meeting)
    assert resp.headers["Location"] == f"/m/{meeting.alias}"
    assert meeting.kind == "instant" and meeting.host_pin and meeting.guest_pin and meeting.alias != "demo"
    assert timedelta(hours=3, minutes=59) < meeting.ends_at - meeting.starts_at <= timedelta(hours=4)
    assert meeting.one_way_video and not meeting.chat and meeting.layout == "host_large"
    join = host.get(resp.headers["Location"]).get_data(as_text=True)
    assert "will join as the host" in join
    texts = rows(app, SmsMessage)
    assert [m.to for m in texts] == ["+4520123456", "+4531234567"] and {m.status for m in texts} == {"outbox"}
    links = [link_path(m.body) for m in texts]
    assert links[0] != links[1]
    guest = app.test_client()
    guest.get("/lang/en")
    page = guest.get(links[0]).get_data(as_text=True)
    assert 'value="Karen Jensen"' in page and 'id="pin"' not in page


def test_texts_hold_no_title_and_follow_the_chosen_language(app, host):
    book(host, utcnow() + timedelta(days=2), [("Karen", "20123456", "")], locale="en")
    [msg] = rows(app, SmsMessage)
    assert "Wound" not in msg.body and "surgery" not in msg.body
    assert msg.body.startswith("Demo Kommune invites you to a video meeting on")
    assert len(msg.body) <= 320


# -- bookings -------------------------------------------------------------------------------------

def test_booking_stores_copenhagen_input_as_utc(app, host):
    resp = post_form(host, "/bookings/new", {"title": "", "date": "2030-07-01", "start": "10:00", "end": "10:30",
                                             "name": "Karen", "phone": "20123456", "email": ""})
    assert resp.status_code == 302
    [meeting] = rows(app, Meeting)
    assert meeting.kind == "booked"
    assert meeting.starts_at == datetime(2030, 7, 1, 8, 0, tzinfo=timezone.utc)
    assert meeting.ends_at == datetime(2030, 7, 1, 8, 30, tzinfo=timezone.utc)


def test_booking_form_explains_bad_times(app, host):
    past = post_form(host, "/bookings/new", {"date": "2020-01-01", "start": "10:00", "end": "11:00",
                                             "phone": "20123456"})
    assert past.status_code == 422 and "already passed" in past.get_data(as_text=True)
    backwards = post_form(host, "/bookings/new", {"date": "2030-01-01", "start": "10:00", "end": "09:00",
                                                  "phone": "20123456"})
    html = backwards.get_data(as_text=True)
    assert "must end after it starts" in html and 'aria-describedby="end-error"' in html
    assert rows(app, Meeting) == []


def test_a_late_evening_booking_ends_after_midnight(app, host):
    """23:30 to 00:30 is an hour that ends the next day; 10:00 to 09:00 stays a mistake."""
    resp = post_form(host, "/bookings/new", {"date": "2030-01-01", "start": "23:30", "end": "00:30",
                                             "name": "Karen", "phone": "20123456", "email": ""})
    assert resp.status_code == 302
    [meeting] = rows(app, Meeting)
    assert meeting.starts_at == datetime(2030, 1, 1, 22, 30, tzinfo=timezone.utc)
    assert meeting.ends_at == datetime(2030, 1, 1, 23, 30, tzinfo=timezone.utc)


def test_booking_window_early_open_over_through_the_join_page(app, host):
    book(host, utcnow() + timedelta(hours=2), [("Karen", "20123456", "")])
    [msg] = rows(app, SmsMessage)
    guest = app.test_client()
    guest.get("/lang/en")
    link = link_path(msg.body)
    early = guest.get(link)
    assert early.status_code == 425 and "has not opened yet" in early.get_data(as_text=True)
    with session_for(app) as db:
        meeting = db.exec(select(Meeting)).one()
        meeting.starts_at, meeting.ends_at = utcnow() + timedelta(minutes=10), utcnow() + timedelta(minutes=40)
        db.add(meeting)
        db.commit()
    page = guest.get(link)
    assert page.status_code == 200
    token = link.split("t=")[1]
    joined = guest.post(link.split("?")[0], data={"csrf_token": csrf_from(page.get_data(as_text=True)),
                                                  "name": "Karen", "t": token})
    assert joined.status_code == 302 and joined.headers["Location"].endswith("/live")
    with session_for(app) as db:
        meeting = db.exec(select(Meeting)).one()
        meeting.starts_at, meeting.ends_at = utcnow() - timedelta(hours=2), utcnow() - timedelta(hours=1)
        db.add(meeting)
        db.commit()
    over = guest.get(link)
    assert over.status_code == 410 and "The meeting is over" in over.get_data(as_text=True)


def ics_of(host, meeting_id: int, invitation_id: int) -> Calendar:
    resp = host.get(f"/bookings/{meeting_id}/invitations/{invitation_id}.ics")
    assert resp.status_code == 200 and resp.mimetype == "text/calendar"
    return Calendar.from_ical(resp.data)


def test_calendar_file_edit_and_cancel(app, host):
    start = utcnow().replace(second=0, microsecond=0) + timedelta(days=3)
    book(host, start, [("Karen", "20123456", "karen@example.dk"), ("Ole", "", "ole@example.dk")])
    [meeting] = rows(app, Meeting)
    karen, ole = rows(app, Invitation)
    cal = ics_of(host, meeting.id, karen.id)
    [event] = cal.walk("VEVENT")
    assert str(cal["METHOD"]) == "REQUEST" and int(event["SEQUENCE"]) == 0
    uid = str(event["UID"])
    assert uid == f"mvc-{meeting.id}-{karen.id}@video.example.dk"
    assert event.decoded("DTSTART") == start
    raw = host.get(f"/bookings/{meeting.id}/invitations/{karen.id}.ics").get_data(as_text=True)
    assert "Wound" not in raw and "surgery" not in raw
    assert f"/m/{meeting.alias}?t=" in str(event["DESCRIPTION"]) and "karen@example.dk" in str(event["ATTENDEE"])
    assert str(ics_of(host, meeting.id, ole.id).walk("VEVENT")[0]["UID"]) != uid
    # Only Karen has a mobile number, so one text was sent.
    assert [m.purpose for m in rows(app, SmsMessage)] == ["invite"]

    moved = start + timedelta(hours=1)
    page = host.get(f"/bookings/{meeting.id}").get_data(as_text=True)
    resp = host.post(f"/bookings/{meeting.id}", data={"csrf_token": csrf_from(page), "title": "x",
                                                      **local_form(moved), "reminders": "on"})
    assert resp.status_code == 302
    [event] = ics_of(host, meeting.id, karen.id).walk("VEVENT")
    assert str(event["UID"]) == uid and int(event["SEQUENCE"]) == 1 and event.decoded("DTSTART") == moved
    update = rows(app, SmsMessage)[-1]
    assert update.purpose == "update" and update.to == "+4520123456" and moved.astimezone(LOCAL).strftime("%H:%M") in update.body

    live = app.extensions["mvc.live"]
    live.update(meeting.id, lambda state: None, settings={})  # someone opened the meeting early
    live.append_log(meeting.id, {"text": "hello"}, cap=10)
    page = host.get(f"/bookings/{meeting.id}").get_data(as_text=True)
    host.post(f"/bookings/{meeting.id}/cancel", data={"csrf_token": csrf_from(page)})
    assert live.get(meeting.id) is None and live.read_log(meeting.id) == []  # chat lives only as long as the meeting
    cal = ics_of(host, meeting.id, karen.id)
    [event] = cal.walk("VEVENT")
    assert str(cal["METHOD"]) == "CANCEL" and str(event["STATUS"]) == "CANCELLED" and int(event["SEQUENCE"]) == 2
    cancel = rows(app, SmsMessage)[-1]
    assert cancel.purpose == "cancel" and "aflyst" in cancel.body
    guest = app.test_client()
    guest.get("/lang/en")
    assert "has been cancelled" in guest.get(link_path(rows(app, SmsMessage)[0].body)).get_data(as_text=True)


def test_removed_invitee_loses_the_link(app, host):
    book(host, utcnow() + timedelta(minutes=5), [("Karen", "20123456", ""), ("Ole", "31234567", "")])
    [meeting] = rows(app, Meeting)
    karen, ole = rows(app, Invitation)
    page = host.get(f"/bookings/{meeting.id}").get_data(as_text=True)
    host.post(f"/bookings/{meeting.id}", data={"csrf_token": csrf_from(page), "remove": str(ole.id),
                                               **local_form(meeting.starts_at)})
    links = {m.invitation_id: link_path(m.body) for m in rows(app, SmsMessage)}
    guest = app.test_client()
    assert guest.get(links[ole.id]).status_code == 400
    assert guest.get(links[karen.id]).status_code == 200
    assert [m.purpose for m in rows(app, SmsMessage)] == ["invite", "invite"]  # same time: no update texts


# -- the outbox page -----------------------------------------------------------------------------

def test_outbox_page_shows_the_organisations_texts_to_its_admins_only(app, host, client):
    post_form(host, "/sms-video", {"phone": "20123456"})
    assert host.get("/sms/outbox").status_code == 403
    make_staff(app, email="admin2@demo.example", roles="host,org-admin")
    admin = app.test_client()
    login(admin, "admin2@demo.example")
    html = admin.get("/sms/outbox").get_data(as_text=True)
    assert "+45 20 12 34 56" in html and "not sent from this installation" in html
    assert re.search(r'class="sms-link" href="https://video\.example\.dk/m/', html)


def test_outbox_texts_are_logged_without_number_or_text(app, host, caplog):
    caplog.set_level("INFO")
    post_form(host, "/sms-video", {"phone": "20123456"})
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "sms_outbox" in logged and "+45******56" in logged
    assert "20123456" not in logged and "invites you" not in logged and "?t=" not in logged


def test_meetings_list_links_to_the_staff_pages(app, host):
    book(host, utcnow() + timedelta(days=1), [("Karen", "20123456", "")])
    html = host.get("/bookings").get_data(as_text=True)
    assert "Wound check after surgery" in html and 'href="/bookings/new"' in html and 'href="/sms-video"' in html
    assert 'href="/sms/outbox"' not in html  # only for organisation admins
