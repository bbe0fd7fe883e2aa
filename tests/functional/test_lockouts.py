"""Limits on guessing never lock out the rightful user, say when to try again, and see the real client."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from mvc.extensions import limiter
from mvc.models import Invitation, Meeting, Room
from mvc.models.base import utcnow
from mvc.security import make_invite_token
from tests import staff
from tests.conftest import base_config, build_app, csrf_from
from tests.staff import db_outside_app_context  # noqa: F401 - replaces conftest's db here

GUEST_PIN = "4321"
RETRY_SOON = re.compile(r"Try again in (1 minute|\d+ seconds?)\.")  # within the per-minute limit's window


def post_join(client, remote="10.0.0.1", alias="demo", headers=None, **form):
    """Fill in the join form from one address; the POST's response."""
    page = client.get(f"/m/{alias}" + (f"?t={form['t']}" if "t" in form else ""),
                      environ_base={"REMOTE_ADDR": remote}, headers=headers)
    data = {"csrf_token": csrf_from(page.get_data(as_text=True)), "name": "Karen Jensen", **form}
    return client.post(f"/m/{alias}", data=data, environ_base={"REMOTE_ADDR": remote}, headers=headers)


def guess(app, addresses: int, per_address: int = 5, alias: str = "demo") -> list[int]:
    """Wrong PINs from several addresses, each in its own browser; their statuses."""
    return [post_join(app.test_client(), remote=f"10.6.0.{a}", alias=alias, pin="999999").status_code
            for a in range(addresses) for _ in range(per_address)]


@pytest.fixture
def pinned(db, demo_room):
    """The demo room with a guest PIN as well as its host PIN."""
    demo_room.guest_pin = GUEST_PIN
    db.add(demo_room)
    db.commit()
    return demo_room


def test_right_host_and_guest_pins_get_in_after_many_wrong_pins_from_several_addresses(app, pinned):
    statuses = guess(app, addresses=6)
    assert statuses[:4] == [403] * 4 and statuses.count(429) >= 6  # each guesser is stopped
    host = post_join(app.test_client(), remote="10.5.0.1", pin=pinned.host_pin)
    assert host.status_code == 302 and host.headers["Location"] == "/m/demo/live"
    guest = post_join(app.test_client(), remote="10.5.0.2", pin=GUEST_PIN)
    assert guest.status_code == 302 and guest.headers["Location"] == "/m/demo/live"


def test_under_attack_a_client_with_a_wrong_pin_waits_a_stated_time(app, pinned):
    guess(app, addresses=5)
    client = app.test_client()
    client.get("/lang/en")
    # A newcomer's PIN is still checked...
    first = post_join(client, remote="10.5.0.3", pin="111111")
    assert first.status_code == 403 and "The PIN is not correct" in first.get_data(as_text=True)
    # ...but after a wrong PIN, while the room is being guessed at, it waits (at most the PIN window).
    again = post_join(client, remote="10.5.0.3", pin=GUEST_PIN)
    html = again.get_data(as_text=True)
    assert again.status_code == 429 and "Many wrong PINs have been tried for this room." in html
    assert "Try again in 10 minutes." in html and 590 <= int(again.headers["Retry-After"]) <= 600


def test_a_locked_client_is_told_when_to_try_again_in_english_and_danish(app, client, pinned):
    client.get("/lang/en")
    for _ in range(4):
        assert post_join(client, pin="000000").status_code == 403
    fifth = post_join(client, pin="000000")
    assert fifth.status_code == 429 and "Too many wrong PINs. Try again in 10 minutes." in fifth.get_data(as_text=True)
    client.get("/lang/da")
    danish = post_join(client, pin=GUEST_PIN)
    assert danish.status_code == 429
    assert "For mange forkerte PIN-koder. Prøv igen om 10 minutter." in danish.get_data(as_text=True)


def test_invitation_links_and_signed_in_staff_get_in_while_pins_are_guessed(app, db, pinned):
    meeting = Meeting(organisation_id=pinned.organisation_id, kind="booked", alias="booked-1", title="Booked",
                      host_pin="111111", starts_at=utcnow() - timedelta(minutes=5), ends_at=utcnow() + timedelta(hours=1))
    db.add(meeting)
    db.commit()
    invitation = Invitation(meeting_id=meeting.id, name="Ole Hansen", phone="+4512345678")
    db.add(invitation)
    db.commit()
    guess(app, addresses=5, alias="booked-1")
    guess(app, addresses=5)
    with app.test_request_context():
        token = make_invite_token(invitation.id, meeting.id)
    invitee = app.test_client()
    assert post_join(invitee, remote="10.6.0.1", alias="booked-1", t=token, pin="").status_code == 302
    host = app.test_client()
    staff.admin(db)
    assert staff.login(host, "admin@demo.example", remote="10.6.0.2").status_code == 302
    assert post_join(host, remote="10.6.0.2").status_code == 302


def test_ipv6_guessers_are_counted_per_64_network(app, client, pinned):
    for i in range(5):
        post_join(app.test_client(), remote=f"2001:db8:1:2::{i + 1}", pin="000000")
    assert post_join(client, remote="2001:db8:1:2::99", pin=GUEST_PIN).status_code == 429
    assert post_join(client, remote="2001:db8:1:3::1", pin=GUEST_PIN).status_code == 302


def _host_pin(app) -> str:
    """The demo room's host PIN in an app built by the test itself."""
    with Session(app.extensions["mvc.engine"]) as session:
        return session.exec(select(Room).where(Room.alias == "demo")).one().host_pin


@pytest.mark.parametrize("hops, second_client", [(1, 302), (0, 429)])
def test_trusted_proxies_setting_decides_whether_forwarded_addresses_count(tmp_path, caplog, hops, second_client):
    app = build_app(base_config(tmp_path, TRUSTED_PROXIES=hops))
    try:
        pin = _host_pin(app)
        proxy = "10.0.0.254"
        caplog.set_level("WARNING")
        for _ in range(5):  # a spoofed first hop is ignored: the proxy appends the real client
            post_join(app.test_client(), remote=proxy, pin="000000",
                      headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.7"})
        other = post_join(app.test_client(), remote=proxy, pin=pin, headers={"X-Forwarded-For": "203.0.113.8"})
        assert other.status_code == second_client
        logged = [r.getMessage() for r in caplog.records if "pin_wrong" in r.getMessage()]
        assert logged and all(('"203.0.113.7"' if hops else f'"{proxy}"') in line for line in logged)
        # The site-wide login limit is per client too.
        for _ in range(10):
            staff.login(app.test_client(), "nobody@demo.example", "guess", remote=proxy)
        login = staff.login(app.test_client(), "nobody@demo.example", "guess", remote=proxy)
        assert login.status_code == 429 and RETRY_SOON.search(login.get_data(as_text=True))
        behind = app.test_client()
        behind.get("/lang/en")
        resp = behind.post("/login", data={"csrf_token": staff.token(behind, "/login"), "email": "x@y.z", "password": "p"},
                           environ_base={"REMOTE_ADDR": proxy}, headers={"X-Forwarded-For": "203.0.113.9"})
        assert resp.status_code == (401 if hops else 429)
    finally:
        app.extensions["mvc.media"].stop()
        app.extensions["mvc.live"].close()


def test_limits_are_shared_by_web_processes_through_redis(tmp_path, redis_server):
    config = base_config(tmp_path, REDIS_URL=redis_server.fresh())
    first = build_app(config)
    limiter.reset()  # Redis keeps the counts of earlier runs
    second = build_app(config)
    try:
        pin = _host_pin(first)
        for _ in range(5):
            post_join(first.test_client(), remote="10.4.0.1", pin="000000")
        assert post_join(second.test_client(), remote="10.4.0.1", pin=pin).status_code == 429
        assert post_join(second.test_client(), remote="10.4.0.2", pin=pin).status_code == 302
    finally:
        for app in (first, second):
            app.extensions["mvc.media"].stop()
            app.extensions["mvc.live"].close()
