"""Open video consultation hours: citizens queue at /q/<alias>, staff take the next into a private call."""
from __future__ import annotations

import json
import re
import sqlite3
import threading
from datetime import date, datetime, timezone

import pytest
import requests
from sqlmodel import Session, select

from mvc.live import make_store
from mvc.meeting import live_ops
from mvc.models import Meeting, Queue, QueueStaff, SmsMessage
from mvc.waitqueue import hours
from mvc.waitqueue import state as rules
from tests.conftest import base_config, build_app, csrf_from, stop_app, wait_until
from tests.queues import WEDNESDAY_10, make_queue
from tests.wsclient import Page
from tests.staff import db_outside_app_context, login, make_org, make_user, token  # noqa: F401 - the db fixture

INTAKE = "Knæet gør ondt efter faldet"


def make_app(tmp_path, **overrides):
    return build_app(base_config(tmp_path, QUEUE_NOW=WEDNESDAY_10, **overrides))


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path)
    yield app
    stop_app(app)


def citizen(app, name: str, alias: str = "videotid", intake: str = "", assisted: bool = False):
    """A browser that joined the queue (English pages)."""
    client = app.test_client()
    client.get("/lang/en")
    page = client.get(f"/q/{alias}").get_data(as_text=True)
    data = {"csrf_token": csrf_from(page), "name": name, "intake": intake, "media": "av"}
    if assisted:
        data["assisted"] = "on"
    resp = client.post(f"/q/{alias}", data=data)
    assert resp.status_code == 302 and resp.location.endswith(f"/q/{alias}/wait"), resp.get_data(as_text=True)[:300]
    return client


def status(client, alias: str = "videotid") -> str:
    return client.get(f"/q/{alias}/status").get_data(as_text=True)


def staff_client(app, db, email: str, roles: str = "host", org=None):
    user = make_user(db, email, roles, org)
    client = app.test_client()
    assert login(client, email).status_code == 302
    return client, user


def take(client, queue: Queue, eid: str | None = None, reason: str = ""):
    data = {"csrf_token": token(client, f"/queues/{queue.id}"), "reason": reason}
    if eid:
        data["eid"] = eid
    return client.post(f"/queues/{queue.id}/take", data=data)


def test_opening_hours_and_closed_days_decide_whether_citizens_may_queue(app, db):
    queue = make_queue(db, closed_days="2026-12-24")
    assert hours.is_open(queue.hours, "", WEDNESDAY_10)
    assert not hours.is_open(queue.hours, "", datetime(2026, 12, 2, 15, 0, tzinfo=timezone.utc))  # 16:00 closes
    assert not hours.is_open(queue.hours, "", datetime(2026, 12, 5, 9, 0, tzinfo=timezone.utc))  # Saturday
    christmas_eve = datetime(2026, 12, 24, 9, 0, tzinfo=timezone.utc)  # a Thursday
    assert not hours.is_open(queue.hours, queue.closed_days, christmas_eve)
    assert hours.next_opening(queue.hours, queue.closed_days, christmas_eve).date() == date(2026, 12, 25)

    client = app.test_client()
    client.get("/lang/en")
    assert 'name="name"' in client.get("/q/videotid").get_data(as_text=True)
    app.config["QUEUE_NOW"] = christmas_eve
    page = client.get("/q/videotid").get_data(as_text=True)
    assert "The video consultation is closed now." in page
    assert "It opens 25-12-2026 08:00." in page
    assert 'name="name"' not in page


def test_citizens_see_their_place_and_the_first_goes_into_a_call_with_the_staff(app, db):
    doctor_client, doctor = staff_client(app, db, "doctor@demo.example")
    queue = make_queue(db, staff=[doctor])
    karen, ole = citizen(app, "Karen Jensen"), citizen(app, "Ole Hansen", assisted=True)
    assert "You are number 1 in the queue" in status(karen)
    assert "You are number 2 in the queue" in status(ole)
    live = doctor_client.get(f"/queues/{queue.id}").get_data(as_text=True)
    assert live.index("Karen Jensen") < live.index("Ole Hansen") and "with care worker" in live

    resp = take(doctor_client, queue)
    assert resp.status_code == 302 and "/live" in resp.location
    meeting = db.exec(select(Meeting).where(Meeting.kind == "queue")).one()
    assert resp.location.endswith(f"/m/{meeting.alias}/live") and meeting.guest_pin
    assert "It is your turn now" in status(karen)
    assert "You are number 1 in the queue" in status(ole)
    go = karen.get("/q/videotid/go")
    assert go.status_code == 302 and go.location.endswith(f"/m/{meeting.alias}/live")
    assert doctor_client.get(resp.location).status_code == 200
    assert karen.get(go.location).status_code == 200  # the meeting page, without retyping the name
    people = app.extensions["mvc.live"].get(meeting.id).participants.values()
    assert sorted((p.name, p.role) for p in people) == [("Doctor", "host"), ("Karen Jensen", "guest")]
    assert "Karen Jensen" not in doctor_client.get(f"/queues/{queue.id}/live").get_data(as_text=True).split("Your calls")[0]


def test_a_citizen_who_leaves_disappears_from_the_staff_view(app, db):
    doctor_client, doctor = staff_client(app, db, "doctor@demo.example")
    queue = make_queue(db, staff=[doctor])
    karen, ole = citizen(app, "Karen Jensen"), citizen(app, "Ole Hansen")
    karen.post("/q/videotid/leave", data={"csrf_token": csrf_from(karen.get("/q/videotid/wait").get_data(as_text=True))})
    assert "Karen Jensen" not in doctor_client.get(f"/queues/{queue.id}/live").get_data(as_text=True)
    assert "You are number 1 in the queue" in status(ole)
    assert "You are no longer in the queue" in status(karen)


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_two_staff_taking_at_once_never_get_the_same_citizen(tmp_path, request, backend):
    redis_url = request.getfixturevalue("redis_server").fresh() if backend == "redis" else ""
    app = make_app(tmp_path, REDIS_URL=redis_url)
    try:
        with Session(app.extensions["mvc.engine"], expire_on_commit=False) as s:
            clients = [staff_client(app, s, f"doctor{i}@demo.example") for i in range(2)]
            queue = make_queue(s, alias=f"tid-{backend}", staff=[u for _c, u in clients])
        app.extensions["mvc.live"].delete_doc(f"queue:{queue.id}")
        people = [citizen(app, f"Borger {i}", queue.alias) for i in range(6)]
        taken: list[str] = []
        barrier = threading.Barrier(2)

        def work(client):
            barrier.wait()
            for _round in range(4):
                resp = take(client, queue)
                taken.append(resp.location)

        threads = [threading.Thread(target=work, args=(c,)) for c, _u in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        calls = [loc for loc in taken if "/live" in loc]
        assert len(calls) == 6 and len(set(calls)) == 6  # six citizens, six different calls
        turns = [status(p, queue.alias) for p in people]
        assert all("It is your turn now" in t for t in turns)
        goes = {p.get(f"/q/{queue.alias}/go").location for p in people}
        assert goes == set(calls)  # each citizen went into a different one of those calls
    finally:
        app.extensions["mvc.media"].stop()
        app.extensions["mvc.live"].close()


def test_a_citizen_who_reloads_or_loses_the_connection_keeps_the_place(app, db):
    make_queue(db)
    karen, ole = citizen(app, "Karen Jensen"), citizen(app, "Ole Hansen")
    assert "You are number 1 in the queue" in karen.get("/q/videotid/wait").get_data(as_text=True)
    again = karen.get("/q/videotid")  # opening the queue link again goes back to the place
    assert again.status_code == 302 and again.location.endswith("/q/videotid/wait")
    assert "You are number 1 in the queue" in status(karen)
    assert "You are number 2 in the queue" in status(ole)

    # The rule behind it: a place is kept for the grace period after the last sign of the page.
    state = rules.QueueState()
    first = rules.join(state, "Karen", False, "")
    rules.join(state, "Ole", False, "")
    rules.expire(state, grace=120, now=first.seen_at + 100)
    assert state.position(first.eid) == 1
    rules.expire(state, grace=120, now=first.seen_at + 121)
    assert state.position(first.eid) is None


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_the_order_survives_a_restart_of_the_web_process(tmp_path, request, backend):
    redis_url = request.getfixturevalue("redis_server").fresh() if backend == "redis" else ""
    app = make_app(tmp_path, REDIS_URL=redis_url)
    with Session(app.extensions["mvc.engine"], expire_on_commit=False) as s:
        queue = make_queue(s, alias=f"restart-{backend}")
    app.extensions["mvc.live"].delete_doc(f"queue:{queue.id}")
    people = [citizen(app, name, queue.alias) for name in ("Anna", "Bent", "Carl")]
    cookies = [p.get_cookie("mvc_session").value for p in people]
    app.extensions["mvc.live"].close()
    app.extensions["mvc.media"].stop()

    again = build_app(base_config(tmp_path, QUEUE_NOW=WEDNESDAY_10, REDIS_URL=redis_url))
    try:
        for n, cookie in enumerate(cookies, 1):
            browser = again.test_client()
            browser.set_cookie("mvc_session", cookie)
            browser.get("/lang/en")
            assert f"You are number {n} in the queue" in status(browser, queue.alias)
    finally:
        again.extensions["mvc.media"].stop()
        again.extensions["mvc.live"].close()


def test_intake_text_reaches_only_the_staff_and_is_gone_after_the_call(app, db, caplog, tmp_path):
    caplog.set_level("DEBUG")
    doctor_client, doctor = staff_client(app, db, "doctor@demo.example")
    queue = make_queue(db, staff=[doctor])
    karen = citizen(app, "Karen Jensen", intake=INTAKE)
    assert INTAKE in doctor_client.get(f"/queues/{queue.id}").get_data(as_text=True)
    assert INTAKE not in status(karen)
    take(doctor_client, queue)
    meeting = db.exec(select(Meeting).where(Meeting.kind == "queue")).one()
    karen.get("/q/videotid/go")
    page = doctor_client.get(f"/queues/{queue.id}").get_data(as_text=True)
    assert INTAKE in page  # shown with the running call

    # A second person (interpreter) is texted a link: the text carries no intake.
    resp = doctor_client.post(f"/queues/{queue.id}/calls/{meeting.id}/invite", data={
        "csrf_token": csrf_from(page), "name": "Tolk Ali", "phone": "20 12 34 56"})
    assert resp.status_code == 302
    texts = db.exec(select(SmsMessage)).all()
    assert len(texts) == 1 and meeting.alias in texts[0].body and INTAKE not in texts[0].body

    resp = doctor_client.post(f"/queues/{queue.id}/calls/{meeting.id}/end", data={"csrf_token": csrf_from(page)})
    assert resp.status_code == 302
    assert INTAKE not in doctor_client.get(f"/queues/{queue.id}").get_data(as_text=True)
    assert INTAKE not in "\n".join(r.getMessage() for r in caplog.records)
    live = sqlite3.connect(app.config["LIVE_PATH"])
    stored = "\n".join(str(row) for table in ("doc", "room_state", "chat_line")
                       for row in live.execute(f"SELECT * FROM {table}"))  # noqa: S608 - fixed names
    assert INTAKE not in stored
    main = sqlite3.connect(app.config["DATABASE_URL"].removeprefix("sqlite:///"))
    tables = [r[0] for r in main.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert not any(INTAKE in str(row) for t in tables for row in main.execute(f'SELECT * FROM "{t}"'))


def meeting_page(live_server, client, alias: str) -> Page:
    """The meeting page's websocket of a browser that holds the test client's session."""
    assert client.get(f"/m/{alias}/live").status_code == 200
    browser = requests.Session()
    browser.cookies.set("mvc_session", client.get_cookie("mvc_session").value)
    page = Page(live_server.url, alias, browser)
    page.wait_text('data-view="meeting"')
    return page


def start_call(app, db, live_server):
    """A citizen with an intake answer taken into a call; both meeting pages open. (doctor, karen, meeting, pages)"""
    doctor_client, doctor = staff_client(app, db, "doctor@demo.example")
    queue = make_queue(db, staff=[doctor])
    karen = citizen(app, "Karen Jensen", intake=INTAKE)
    take(doctor_client, queue)
    meeting = db.exec(select(Meeting).where(Meeting.kind == "queue")).one()
    karen.get("/q/videotid/go")
    pages = meeting_page(live_server, doctor_client, meeting.alias), meeting_page(live_server, karen, meeting.alias)
    assert call_listed(doctor_client, queue)
    return doctor_client, karen, queue, meeting, pages


def intake_gone(app, meeting) -> bool:
    from mvc.waitqueue.service import call_key

    with app.app_context():
        return live_ops.store().get_doc(call_key(meeting.id)) is None


def call_listed(doctor_client, queue) -> bool:
    """Whether the doctor's "Your calls" shows the call (with Karen's name and intake)."""
    live = doctor_client.get(f"/queues/{queue.id}/live").get_data(as_text=True)
    return INTAKE in live and "Karen Jensen" in live


@pytest.fixture
def short_grace(monkeypatch):
    monkeypatch.setattr("mvc.live.state.SEAT_GRACE", 0.5)  # the reconnect grace, short for the test


def assert_call_ended(app, db, doctor_client, queue, meeting) -> None:
    wait_until(lambda: intake_gone(app, meeting), timeout=10)
    assert not call_listed(doctor_client, queue)
    db.refresh(meeting)
    assert meeting.status == "ended"


def test_a_call_everyone_has_left_ends_after_the_reconnect_grace_and_its_intake_is_gone(app, db, live_server,
                                                                                         short_grace):
    doctor_client, karen, queue, meeting, (doctor_page, karen_page) = start_call(app, db, live_server)
    # The doctor's page drops and comes back (a reload) while Karen is still there: the call goes on.
    doctor_page.close()
    doctor_page = meeting_page(live_server, doctor_client, meeting.alias)
    # Karen presses "Leave"; the doctor's page closes and comes back within the grace: still on.
    leave_form = karen.get(f"/m/{meeting.alias}/live").get_data(as_text=True)
    assert karen.post(f"/m/{meeting.alias}/leave", data={"csrf_token": csrf_from(leave_form)}).status_code == 200
    karen_page.close()
    doctor_page.close()
    doctor_page = meeting_page(live_server, doctor_client, meeting.alias)
    wait_until(lambda: app.extensions["mvc.timers"].pending() == 0)  # the check ran and found the doctor
    assert not intake_gone(app, meeting) and call_listed(doctor_client, queue)
    # Now the doctor leaves too, without "Finish the call": after the grace the call ends by itself.
    doctor_page.close()
    assert_call_ended(app, db, doctor_client, queue, meeting)


def test_a_call_left_empty_while_no_timer_ran_ends_when_the_staff_look_at_their_calls(app, db, live_server,
                                                                                      short_grace):
    doctor_client, _karen, queue, meeting, pages = start_call(app, db, live_server)
    app.extensions["mvc.timers"].stop()  # as after a restart of the web process: its timers are gone
    for page in pages:
        page.close()
    wait_until(lambda: not call_listed(doctor_client, queue))
    assert_call_ended(app, db, doctor_client, queue, meeting)


def test_the_intake_is_deleted_when_the_host_ends_the_meeting(app, db, live_server):
    doctor_client, _karen, queue, meeting, (doctor_page, karen_page) = start_call(app, db, live_server)
    doctor_page.send({"action": "end"})  # the host's "End meeting" button
    karen_page.wait_text('data-view="ended"')
    assert_call_ended(app, db, doctor_client, queue, meeting)


def test_queue_pages_refuse_staff_of_another_organisation_and_other_staff(app, db):
    doctor_client, doctor = staff_client(app, db, "doctor@demo.example")
    queue = make_queue(db, staff=[doctor])
    citizen(app, "Karen Jensen", intake=INTAKE)
    other = make_org(db, "anden-kommune")
    outsider, _u = staff_client(app, db, "admin@anden.example", "host,org-admin", other)
    colleague, _c = staff_client(app, db, "nurse@demo.example")  # same organisation, not on the queue
    for client in (outsider, colleague):
        for path in (f"/queues/{queue.id}", f"/queues/{queue.id}/live"):
            resp = client.get(path)
            assert resp.status_code == 403 and INTAKE not in resp.get_data(as_text=True)
        csrf = token(client, "/queues")
        assert client.post(f"/queues/{queue.id}/take", data={"csrf_token": csrf}).status_code == 403
    assert outsider.get(f"/manage/queues/{queue.id}").status_code == 403
    assert queue.name not in outsider.get("/queues").get_data(as_text=True)
    assert "Karen Jensen" in doctor_client.get(f"/queues/{queue.id}/live").get_data(as_text=True)


def test_an_admin_creates_a_queue_with_hours_staff_and_closed_days(app, db):
    admin_client, _admin = staff_client(app, db, "boss@demo.example", "host,org-admin")
    doctor = make_user(db, "doctor@demo.example")
    csrf = token(admin_client, "/manage/queues/new")
    form = {"csrf_token": csrf, "name": "Videotid", "alias": "lægen", "layout": "tiles", "chat": "on",
            "hours_0": "08:00-07:00", "hours_1": "08:00-11:00, 10:30-12:00", "hours_2": "8 til 11",
            "closed_days": "24-12-2026", "staff": [str(doctor.id)]}
    page = admin_client.post("/manage/queues/new", data=form)
    assert page.status_code == 422
    text = page.get_data(as_text=True)
    assert "one date per line" in text.lower() and "address must be" in text
    assert "The period 08:00-07:00 must close after it opens." in text
    assert "The periods 08:00-11:00 and 10:30-12:00 overlap." in text
    assert "Write each period as 08:00-11:00" in text
    form.update(alias="laegen", hours_0="08:00-11:30", hours_1="13:00 - 15:00, 8:00-11:00", hours_2="",
                closed_days="2026-12-24")
    assert admin_client.post("/manage/queues/new", data=form).status_code == 302
    queue = db.exec(select(Queue).where(Queue.alias == "laegen")).one()
    assert json.loads(queue.hours) == {"0": ["08:00-11:30"], "1": ["08:00-11:00", "13:00-15:00"]}
    assert queue.closed_days == "2026-12-24"
    assert db.get(QueueStaff, (queue.id, doctor.id)) is not None
    again = admin_client.get(f"/manage/queues/{queue.id}").get_data(as_text=True)
    assert 'value="08:00-11:00, 13:00-15:00"' in again


def test_a_day_with_two_periods_is_closed_between_them_and_says_when_it_opens_again(app, db):
    make_queue(db, hours=json.dumps({"2": ["08:00-11:00", "13:00-15:00"], "3": ["09:00", "10:00"]}))
    client = app.test_client()
    client.get("/lang/en")
    noon = datetime(2026, 12, 2, 11, 30, tzinfo=timezone.utc)  # Wednesday 12:30 in Copenhagen
    for when, open_now, next_text in (
            (datetime(2026, 12, 2, 6, 0, tzinfo=timezone.utc), False, "It opens 02-12-2026 08:00."),
            (WEDNESDAY_10, True, None),
            (noon, False, "It opens 02-12-2026 13:00."),
            (datetime(2026, 12, 2, 13, 59, tzinfo=timezone.utc), True, None),  # 14:59
            (datetime(2026, 12, 2, 14, 0, tzinfo=timezone.utc), False, "It opens 03-12-2026 09:00."),  # old format
    ):
        app.config["QUEUE_NOW"] = when
        page = client.get("/q/videotid").get_data(as_text=True)
        assert ('name="name"' in page) is open_now, when
        if next_text:
            assert next_text in page, when


def test_paused_queue_takes_nobody_new_and_staff_message_reaches_the_waiting(app, db):
    doctor_client, doctor = staff_client(app, db, "doctor@demo.example")
    queue = make_queue(db, staff=[doctor])
    karen = citizen(app, "Karen Jensen")
    csrf = token(doctor_client, f"/queues/{queue.id}")
    doctor_client.post(f"/queues/{queue.id}/message", data={"csrf_token": csrf, "message": "Vi er 10 minutter forsinket"})
    assert "Vi er 10 minutter forsinket" in status(karen)
    doctor_client.post(f"/queues/{queue.id}/pause", data={"csrf_token": csrf, "paused": "on"})
    late = make_store(path=app.config["LIVE_PATH"])  # another process reading the same store
    assert late.get_doc(f"queue:{queue.id}")["paused"] is True
    late.close()
    newcomer = app.test_client()
    newcomer.get("/lang/en")
    assert "The queue is paused" in newcomer.get("/q/videotid").get_data(as_text=True)
    assert "You are number 1 in the queue" in status(karen)


def test_the_wait_estimate_follows_the_last_hours_pace():
    state = rules.QueueState()
    assert state.minutes_each(now=10_000.0) is None  # nobody taken yet: no estimate
    state.served = [[10_000.0 - 1800, 60.0], [10_000.0 - 900, 60.0], [10_000.0 - 7200, 60.0]]
    assert state.minutes_each(now=10_000.0) == 15.0  # two in the last half hour: 15 minutes each
    first = rules.join(state, "Karen", False, "")
    rules.join(state, "Ole", False, "")
    assert state.position(first.eid) == 1


def test_a_picked_citizen_goes_into_a_call_with_the_queues_settings_and_the_reason_is_audited(app, db):
    doctor_client, doctor = staff_client(app, db, "doctor@demo.example")
    queue = make_queue(db, staff=[doctor], layout="host_large", chat=False)
    citizen(app, "Karen Jensen")
    ole = citizen(app, "Ole Hansen")
    with app.app_context():
        from mvc.meeting import live_ops

        ole_eid = live_ops.store().get_doc(f"queue:{queue.id}")["entries"][1]["eid"]
    resp = take(doctor_client, queue, ole_eid, "Akut")
    assert resp.status_code == 302 and "/live" in resp.location
    meeting = db.exec(select(Meeting).where(Meeting.kind == "queue")).one()
    assert (meeting.layout, meeting.chat) == ("host_large", False)
    assert "It is your turn now" in status(ole)
    from mvc.models import AuditEntry

    entry = db.exec(select(AuditEntry).where(AuditEntry.action == "queue.pick")).one()
    assert entry.detail == "Akut" and entry.user_id == doctor.id


def test_a_poll_that_brings_nothing_new_swaps_nothing(app, db):
    doctor_client, doctor = staff_client(app, db, "doctor@demo.example")
    queue = make_queue(db, staff=[doctor])
    citizen(app, "Karen Jensen")
    ole = citizen(app, "Ole Hansen")
    poll = re.search(r'hx-get="([^"]+)"', status(ole)).group(1).replace("&amp;", "&")
    assert ole.get(poll).status_code == 204  # same place, same estimate: the page stays as it is
    take(doctor_client, queue)
    news = ole.get(poll)
    assert news.status_code == 200 and "You are number 1 in the queue" in news.get_data(as_text=True)
