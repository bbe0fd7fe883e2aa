"""Registered devices: one-time codes, lockout, credential scope, calls, and a booking's call rung once."""
from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
import requests
import websocket
from sqlmodel import select

from mvc.devices.scheduler import CallScheduler
from mvc.devices.service import ALPHABET
from mvc.models import AuditEntry, Meeting, MeetingRecord, Organisation, ParticipantRecord
from mvc.models.base import utcnow
from mvc.models.device import Device, DeviceCall
from tests.conftest import LiveServer, csrf_from
from tests.functional.test_booking import book, make_app, rows  # noqa: F401 - fixtures
from tests.functional.test_reminders_forwarding import Clock
from tests.sms_helpers import login, make_staff, post_form, session_for
from tests.wsclient import Page

CODE_RE = re.compile(r'id="device-code"><strong>([A-Z0-9]{4})-([A-Z0-9]{4})</strong>')


@pytest.fixture
def app(make_app):
    app = make_app(PIN_CLIENT_TRIES=3)
    make_staff(app, roles="host,org-admin")
    return app


@pytest.fixture
def admin(app):
    client = app.test_client()
    login(client)
    return client


def register(admin, name="Karens tablet", **extra) -> str:
    """Register a device as an admin; returns its code as shown."""
    resp = post_form(admin, "/manage/devices", {"name": name, "note": "Stuen", **extra})
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    match = CODE_RE.search(resp.get_data(as_text=True))
    return match.group(1) + match.group(2)


def type_code(client, code: str, remote: str = "10.9.0.1"):
    """A device types a code on /device."""
    page = client.get("/device").get_data(as_text=True)
    return client.post("/device", data={"csrf_token": csrf_from(page), "code": code},
                       environ_base={"REMOTE_ADDR": remote})


def bound_device(app, admin, name="Karens tablet"):
    """A registered device bound to a fresh browser (test client)."""
    device = app.test_client()
    assert type_code(device, register(admin, name)).status_code == 302
    return device


def the_device(app, name="Karens tablet") -> Device:
    return rows(app, Device, Device.name == name)[0]


def test_a_device_screen_gone_mid_send_is_offline_without_error(app, admin):
    from mvc.devices.screen import DeviceSocket as Screen
    from mvc.devices.views import COOKIE
    from tests.functional.test_page_gone import VanishedSocket

    browser = bound_device(app, admin)
    device = the_device(app)
    with app.test_request_context("/ws/device"):
        Screen(VanishedSocket(), device.id, browser.get_cookie(COOKIE).value).run()  # no BrokenPipeError escapes
    assert the_device(app).online is False


def audit_actions(app) -> list[str]:
    return [e.action for e in rows(app, AuditEntry)]


# -- codes ---------------------------------------------------------------------------------------

def test_a_code_is_shown_once_kept_hashed_and_binds_a_device_once(app, admin):
    code = register(admin)
    assert len(code) == 8 and set(code) <= set(ALPHABET)
    stored = the_device(app)
    assert stored.code_hash and code not in stored.code_hash and stored.credential_hash is None
    assert "Waiting for its code" in admin.get("/manage/devices").get_data(as_text=True)

    tablet = app.test_client()
    tablet.get("/lang/da")
    bound = type_code(tablet, code[:4].lower() + "-" + code[4:])  # as people type it
    assert bound.status_code == 302
    credential = tablet.get_cookie("mvc_device_key")
    assert credential is not None and credential.max_age and credential.max_age > 365 * 86400
    assert "Klar til videoopkald" in tablet.get("/device").get_data(as_text=True)
    stored = the_device(app)
    assert stored.credential_hash and credential.value not in stored.credential_hash and stored.code_hash is None

    again = app.test_client()
    again.get("/lang/en")
    used = type_code(again, code, remote="10.9.0.2")
    assert used.status_code == 422 and "already been used" in used.get_data(as_text=True)
    assert "Set up" in admin.get("/manage/devices").get_data(as_text=True)
    assert {"device_created", "device_bound", "device_code_wrong"} <= set(audit_actions(app))


def test_a_device_in_use_stays_bound_as_each_visit_renews_its_cookie_within_the_browser_cap(app, admin):
    tablet = bound_device(app, admin)
    credential = tablet.get_cookie("mvc_device_key")
    assert credential.max_age <= 400 * 86400  # Chromium drops longer lifetimes to 400 days
    for path in ("/device", "/device/keep"):  # the idle view, and what its websocket asks on connecting
        tablet.set_cookie("mvc_device_key", credential.value, max_age=3600)  # as if bound nearly 400 days ago
        resp = tablet.get(path)
        assert resp.status_code in (200, 204)
        renewed = tablet.get_cookie("mvc_device_key")
        assert renewed.value == credential.value and renewed.max_age == 400 * 86400, path
        assert renewed.expires > utcnow().replace(tzinfo=renewed.expires.tzinfo) + timedelta(days=399), path
    stranger = app.test_client()
    assert stranger.get("/device/keep").status_code == 204 and stranger.get_cookie("mvc_device_key") is None


def test_an_expired_code_is_refused(app, admin):
    code = register(admin)
    with session_for(app) as db:
        device = db.exec(select(Device)).one()
        device.code_expires_at = utcnow() - timedelta(seconds=1)
        db.add(device)
        db.commit()
    tablet = app.test_client()
    tablet.get("/lang/en")
    resp = type_code(tablet, code)
    assert resp.status_code == 422 and "not right" in resp.get_data(as_text=True)
    assert the_device(app).credential_hash is None


def test_wrong_codes_lock_the_client_out_but_not_others(app, admin):
    code = register(admin)
    guesser = app.test_client()
    guesser.get("/lang/en")
    for _ in range(2):
        assert type_code(guesser, "AAAAAAAA").status_code == 422
    locked = type_code(guesser, "AAAAAAAA")
    assert locked.status_code == 429 and "Too many wrong codes" in locked.get_data(as_text=True)
    right_but_locked = type_code(guesser, code)
    assert right_but_locked.status_code == 429 and int(right_but_locked.headers["Retry-After"]) > 0
    assert the_device(app).credential_hash is None
    assert type_code(app.test_client(), code, remote="10.9.0.77").status_code == 302
    assert "device_code_refused" in audit_actions(app)


def test_a_new_code_and_revoking(app, admin):
    tablet = bound_device(app, admin)
    device = the_device(app)
    page = admin.get("/manage/devices").get_data(as_text=True)
    fresh = admin.post(f"/manage/devices/{device.id}/code", data={"csrf_token": csrf_from(page)})
    new_code = "".join(CODE_RE.search(fresh.get_data(as_text=True)).groups())
    assert "Klar til videoopkald" in tablet.get("/device").get_data(as_text=True)  # still bound meanwhile
    admin.post(f"/manage/devices/{device.id}/revoke", data={"csrf_token": csrf_from(page)})
    tablet.get("/lang/en")
    assert "Set up this device" in tablet.get("/device").get_data(as_text=True)
    assert type_code(app.test_client(), new_code, remote="10.9.0.3").status_code == 422  # revoke drops codes too
    assert "device_revoked" in audit_actions(app)


def test_rename_and_no_health_data_warning(app, admin):
    register(admin)
    device = the_device(app)
    page = admin.get(f"/manage/devices/{device.id}").get_data(as_text=True)
    assert "Never write health information" in page
    resp = admin.post(f"/manage/devices/{device.id}", data={"csrf_token": csrf_from(page), "name": "Stue-tablet",
                                                            "note": "", "auto_answer": "1"})
    assert resp.status_code == 302
    assert the_device(app, "Stue-tablet").auto_answer
    empty = admin.post(f"/manage/devices/{device.id}", data={"csrf_token": csrf_from(page), "name": " "})
    assert empty.status_code == 422 and "Please give the device a name" in empty.get_data(as_text=True)


# -- calls ---------------------------------------------------------------------------------------

def call(admin, device_id: int, **extra):
    page = admin.get("/manage/devices").get_data(as_text=True)
    return admin.post(f"/manage/devices/{device_id}/call", data={"csrf_token": csrf_from(page), **extra})


def test_calling_an_offline_device_tells_the_caller_at_once(app, admin):
    bound_device(app, admin)
    resp = call(admin, the_device(app).id)
    assert resp.status_code == 302
    status = admin.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Device offline" in status and 'data-status="offline"' in status
    assert "offline" in admin.get("/manage/devices").get_data(as_text=True).lower()
    assert "device_call" in audit_actions(app)


class DeviceSocket:
    """The device's websocket, like the idle page opens it."""

    def __init__(self, server: LiveServer, browser: requests.Session) -> None:
        cookie = "; ".join(f"{c.name}={c.value}" for c in browser.cookies)
        self.ws = websocket.create_connection(server.url.replace("http", "ws", 1) + "/ws/device",
                                              header=[f"Cookie: {cookie}"], origin=server.url, timeout=10)

    def screen(self, state: str) -> str:
        """Read until the screen in the given state arrives."""
        while True:
            html = self.ws.recv()
            if f'data-state="{state}"' in html:
                return html


@pytest.fixture
def server(app):
    live = LiveServer(app)
    yield live
    live.stop()


def browser_bound(server: LiveServer, admin=None, code: str = "") -> requests.Session:
    """A real HTTP client (cookies kept) bound with the given code, or a fresh one the admin registers."""
    browser = requests.Session()
    browser.get(f"{server.url}/lang/da")
    page = browser.get(f"{server.url}/device").text
    resp = browser.post(f"{server.url}/device", data={"csrf_token": csrf_from(page), "code": code or register(admin)},
                        allow_redirects=False)
    assert resp.status_code == 302
    return browser


def test_a_called_device_rings_answers_into_the_meeting_and_only_that_one(app, admin, server):
    browser = browser_bound(server, admin)
    sock = DeviceSocket(server, browser)
    assert "Klar til videoopkald" in sock.screen("idle")
    device = the_device(app)
    status_url = call(admin, device.id).headers["Location"]
    ringing = sock.screen("ringing")
    assert "Besvar" in ringing and "Ikke nu" in ringing
    assert 'data-status="ringing"' in admin.get(status_url).get_data(as_text=True)
    first = rows(app, DeviceCall)[0]
    meeting = rows(app, Meeting, Meeting.id == first.meeting_id)[0]

    # a call that is not this device's cannot be answered with its credential
    answer = csrf_from(ringing)
    resp = browser.post(f"{server.url}/device/calls/{first.id + 99}/answer", data={"csrf_token": answer},
                        allow_redirects=False)
    assert resp.headers["Location"].endswith("/device")

    resp = browser.post(f"{server.url}/device/calls/{first.id}/answer", data={"csrf_token": answer},
                        allow_redirects=False)
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/m/{meeting.alias}/live")
    assert 'data-status="answered"' in admin.get(status_url).get_data(as_text=True)
    live = browser.get(server.url + resp.headers["Location"])
    assert live.status_code == 200 and "meeting-page" in live.text
    assert "device_answered" in audit_actions(app)
    # statistics: a device call is its own kind of meeting, and the device joined "via device"
    assert meeting.kind == "device"
    assert [r.kind for r in rows(app, MeetingRecord)] == ["device"]
    assert [(p.role, p.via, p.device) for p in rows(app, ParticipantRecord)] == [("guest", "device", "desktop")]
    sock.screen("idle")  # the idle page (if still open) stops ringing

    # scope: the credential opens no staff pages and no other meeting
    for path in ("/manage/devices", "/manage/rooms", "/bookings", f"/manage/devices/calls/{first.id}"):
        assert browser.get(server.url + path, allow_redirects=False).status_code == 302
    assert browser.get(f"{server.url}/m/demo/live", allow_redirects=False).headers["Location"].endswith("/m/demo")
    sock.ws.close()


def test_declining_and_not_answering(app, admin, server):
    browser = browser_bound(server, admin)
    sock = DeviceSocket(server, browser)
    sock.screen("idle")
    device = the_device(app)
    first = call(admin, device.id).headers["Location"]
    ringing = sock.screen("ringing")
    call_id = rows(app, DeviceCall)[-1].id
    browser.post(f"{server.url}/device/calls/{call_id}/decline", data={"csrf_token": csrf_from(ringing)})
    sock.screen("idle")
    assert "Declined" in admin.get(first).get_data(as_text=True)

    second = call(admin, device.id).headers["Location"]
    sock.screen("ringing")
    with session_for(app) as db:  # the ring time runs out
        row = db.exec(select(DeviceCall).order_by(DeviceCall.id.desc())).first()
        row.rang_at = utcnow() - timedelta(minutes=5)
        db.add(row)
        db.commit()
    assert "No answer" in admin.get(second).get_data(as_text=True)
    sock.screen("idle")
    sock.ws.close()


def test_revoking_drops_an_open_device_screen_to_the_code_page(app, admin, server):
    sock = DeviceSocket(server, browser_bound(server, admin))
    sock.screen("idle")
    page = admin.get("/manage/devices").get_data(as_text=True)
    admin.post(f"/manage/devices/{the_device(app).id}/revoke", data={"csrf_token": csrf_from(page)})
    sock.screen("unbound")


def answer_call(app, server: LiveServer, browser: requests.Session, ring) -> tuple[Meeting, Page]:
    """The bound device answers the call ring() makes: its meeting page's websocket shows the meeting."""
    sock = DeviceSocket(server, browser)
    sock.screen("idle")
    ring()
    ringing = sock.screen("ringing")
    row = rows(app, DeviceCall)[-1]
    browser.post(f"{server.url}/device/calls/{row.id}/answer", data={"csrf_token": csrf_from(ringing)},
                 allow_redirects=False)
    sock.ws.close()  # the tablet left its idle page for the meeting page (the server notices within seconds)
    meeting = rows(app, Meeting, Meeting.id == row.meeting_id)[0]
    page = Page(server.url, meeting.alias, browser)
    page.wait_text('data-view="meeting"')
    return meeting, page


def answered(app, admin, server) -> tuple[requests.Session, Device, Meeting, Page]:
    """A device an admin registered, bound, called from the devices list and answering."""
    browser = browser_bound(server, admin)
    device = the_device(app)
    meeting, page = answer_call(app, server, browser, lambda: call(admin, device.id))
    return browser, device, meeting, page


def test_revoking_a_device_in_a_call_takes_it_out_of_the_meeting_at_once(app, admin, server):
    browser, device, meeting, page = answered(app, admin, server)
    listing = admin.get("/manage/devices").get_data(as_text=True)
    admin.post(f"/manage/devices/{device.id}/revoke", data={"csrf_token": csrf_from(listing)})
    page.wait_text('data-view="removed"')
    state = app.extensions["mvc.live"].get(meeting.id)
    assert device.name not in [p.name for p in state.participants.values()]
    assert "Gør enheden klar" in browser.get(f"{server.url}/device").text  # where its meeting page sends it
    assert {"device_revoked", "device_removed"} <= set(audit_actions(app))
    page.close()


def test_calling_a_device_that_is_in_a_call_says_busy(app, admin, server):
    browser, device, meeting, page = answered(app, admin, server)
    status = admin.get(call(admin, device.id).headers["Location"]).get_data(as_text=True)
    assert 'data-status="busy"' in status and "Busy" in status
    admin.get("/lang/da")
    assert "Optaget" in admin.get("/manage/devices").get_data(as_text=True)

    page.close()  # back on its idle screen while its seat in the meeting is still kept: rung as usual
    sock = DeviceSocket(server, browser)
    sock.screen("idle")
    deadline = time.monotonic() + 10
    while any(p.connected for p in app.extensions["mvc.live"].get(meeting.id).participants.values()):
        assert time.monotonic() < deadline, "the closed meeting page still counts as connected"
        time.sleep(0.05)
    assert 'data-status="ringing"' in admin.get(call(admin, device.id).headers["Location"]).get_data(as_text=True)
    sock.screen("ringing")
    sock.ws.close()


def test_a_host_calls_from_the_staff_devices_list_and_changes_nothing(app, admin, server):
    sock = DeviceSocket(server, browser_bound(server, admin))
    sock.screen("idle")
    device = the_device(app)
    with session_for(app) as db:
        db.add(Organisation(name="Anden Kommune", slug="anden-kommune"))
        db.commit()
    make_staff(app, email="admin@anden.example", roles="host,org-admin", org_slug="anden-kommune")
    other_admin = app.test_client()
    login(other_admin, "admin@anden.example")
    register(other_admin, "Fremmed tablet")
    make_staff(app, email="host@demo.example", roles="host")
    host = app.test_client()
    login(host, "host@demo.example")

    assert 'href="/devices"' in host.get("/rooms").get_data(as_text=True)  # in the host's menu
    listing = host.get("/devices").get_data(as_text=True)
    assert "Karens tablet" in listing and "Online now" in listing and "Fremmed tablet" not in listing
    assert f'action="/manage/devices/{device.id}/call"' in listing
    assert "/revoke" not in listing and "/code" not in listing and f"/manage/devices/{device.id}\"" not in listing
    resp = host.post(f"/manage/devices/{device.id}/call", data={"csrf_token": csrf_from(listing)})
    status = host.get(resp.headers["Location"]).get_data(as_text=True)
    assert 'data-status="ringing"' in status and 'href="/devices"' in status
    sock.screen("ringing")

    token = {"csrf_token": csrf_from(listing)}
    assert host.get("/manage/devices").status_code == 403
    assert host.post(f"/manage/devices/{device.id}", data={**token, "name": "Omdøbt"}).status_code == 403
    assert host.post(f"/manage/devices/{device.id}/revoke", data=token).status_code == 403
    assert host.post(f"/manage/devices/{device.id}/code", data=token).status_code == 403
    stranger = the_device(app, "Fremmed tablet")
    assert host.post(f"/manage/devices/{stranger.id}/call", data=token).status_code == 403
    assert the_device(app).credential_hash and the_device(app).name == "Karens tablet"
    sock.ws.close()


# -- bookings ------------------------------------------------------------------------------------

def test_a_booking_calls_its_device_at_the_start_once_across_a_restart(app, admin, make_app):
    bound_device(app, admin)
    device = the_device(app)
    start = utcnow() + timedelta(hours=2)
    assert device.name in admin.get("/bookings/new").get_data(as_text=True)
    resp = book(admin, start, [], device=str(device.id))  # the device is the only invitee
    assert resp.status_code == 302, resp.get_data(as_text=True)[:800]
    [scheduled] = rows(app, DeviceCall)
    assert scheduled.status == "scheduled" and abs((scheduled.due_at - start).total_seconds()) < 60

    clock = Clock()
    assert CallScheduler(app, clock=clock).run_once() == 0
    clock.now = scheduled.due_at + timedelta(seconds=1)
    restarted = make_app()  # a new process on the same database
    assert CallScheduler(restarted, clock=clock).run_once() == 1
    assert CallScheduler(restarted, clock=clock, name="rival").run_once() == 0
    assert CallScheduler(app, clock=clock).run_once() == 0
    [done] = rows(app, DeviceCall)
    assert done.status == "offline" and done.rang_at is not None  # the device was not connected


def test_staff_call_a_device_into_a_booking_from_its_page(app, admin, server):
    sock = DeviceSocket(server, browser_bound(server, admin))
    sock.screen("idle")
    device = the_device(app)
    assert book(admin, utcnow() + timedelta(minutes=5), [("Karen", "20123456", "")]).status_code == 302
    meeting = rows(app, Meeting)[-1]
    page = admin.get(f"/bookings/{meeting.id}").get_data(as_text=True)
    resp = admin.post(f"/manage/devices/{device.id}/call", data={"csrf_token": csrf_from(page),
                                                                "meeting_id": meeting.id})
    assert 'data-status="ringing"' in admin.get(resp.headers["Location"]).get_data(as_text=True)
    sock.screen("ringing")
    [row] = rows(app, DeviceCall)
    assert row.meeting_id == meeting.id and device.name in admin.get(f"/bookings/{meeting.id}").get_data(as_text=True)
    again = admin.post(f"/manage/devices/{device.id}/call", data={"csrf_token": csrf_from(page),
                                                                 "meeting_id": meeting.id})
    assert again.status_code == 302 and [r.status for r in rows(app, DeviceCall)] == ["cancelled", "ringing"]
    sock.ws.close()


def test_a_connected_device_rings_when_its_booking_starts(app, admin, server):
    sock = DeviceSocket(server, browser_bound(server, admin))  # its idle screen is open
    sock.screen("idle")
    device = the_device(app)
    book(admin, utcnow() + timedelta(hours=2), [], device=str(device.id))
    [scheduled] = rows(app, DeviceCall)
    clock = Clock()
    clock.now = scheduled.due_at + timedelta(seconds=1)
    assert CallScheduler(app, clock=clock).run_once() == 1
    ringing = sock.screen("ringing")
    assert "Besvar" in ringing and f"/device/calls/{scheduled.id}/answer" in ringing
    [rung] = rows(app, DeviceCall)
    assert rung.status == "ringing" and rung.meeting_id == scheduled.meeting_id
    sock.ws.close()


def test_cancelling_a_booking_cancels_its_device_call(app, admin):
    bound_device(app, admin)
    device = the_device(app)
    book(admin, utcnow() + timedelta(hours=2), [], device=str(device.id))
    meeting = rows(app, Meeting)[-1]
    page = admin.get(f"/bookings/{meeting.id}").get_data(as_text=True)
    assert f"Call {device.name}" in page
    admin.post(f"/bookings/{meeting.id}/cancel", data={"csrf_token": csrf_from(page)})
    assert rows(app, DeviceCall)[0].status == "cancelled"
    clock = Clock()
    clock.now = utcnow() + timedelta(hours=3)
    assert CallScheduler(app, clock=clock).run_once() == 0


def test_the_app_runs_the_call_scheduler_thread_and_stops_it(make_app):
    app = make_app(REMINDER_THREAD=True, REMINDER_INTERVAL=60, DEVICE_CALL_INTERVAL=0.05)
    scheduler = app.extensions["mvc.device_calls"]
    assert scheduler._thread.is_alive()
    scheduler.stop()
    app.extensions["mvc.reminders"].stop()
    assert not scheduler._thread.is_alive()
