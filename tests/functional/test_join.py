"""The citizen's way in: join page, PINs, lockout, invitations, bad input."""
from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from mvc.models import Invitation, Meeting, Room
from mvc.models.base import utcnow
from mvc.security import make_invite_token
from tests.conftest import csrf_from


def post_join(client, alias="demo", remote="10.0.0.1", **form):
    page = client.get(f"/m/{alias}", environ_base={"REMOTE_ADDR": remote})
    data = {"csrf_token": csrf_from(page.get_data(as_text=True)), "name": "Karen Jensen"}
    data.update(form)
    return client.post(f"/m/{alias}", data=data, environ_base={"REMOTE_ADDR": remote})


def live_people(app, meeting_id=None):
    store = app.extensions["mvc.live"]
    states = [store.get(m) for m in range(1, 20)]
    return [p for s in states if s for p in s.participants.values()]


def test_join_page_is_danish_by_default_and_themed(client, demo_room):
    resp = client.get("/m/demo")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert 'lang="da"' in html
    assert "Deltag i mødet" in html
    assert f"/theme/{demo_room.theme_id}.css" in html
    css = client.get(f"/theme/{demo_room.theme_id}.css").get_data(as_text=True)
    assert "--primary: #00548c" in css and "--bg: #f4f7fa" in css


def test_language_switch_to_english_and_back(client):
    resp = client.get("/lang/en?next=/m/demo")
    assert resp.status_code == 302 and resp.headers["Location"] == "/m/demo"
    html = client.get("/m/demo").get_data(as_text=True)
    assert 'lang="en"' in html and "Join meeting" in html
    client.get("/lang/da")
    assert "Deltag i mødet" in client.get("/m/demo").get_data(as_text=True)


def test_language_switch_never_redirects_off_site(client):
    resp = client.get("/lang/en?next=//evil.example/")
    assert resp.headers["Location"] == "/"


def test_guest_joins_room_without_pin_and_waits(app, client):
    client.get("/lang/en")
    resp = post_join(client)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/m/demo/live")
    page = client.get("/m/demo/live").get_data(as_text=True)
    assert "The meeting has not started yet" in page
    assert [p.name for p in live_people(app)] == ["Karen Jensen"]


def test_host_pin_makes_host_and_opens_meeting(app, client, demo_room):
    client.get("/lang/en")
    resp = post_join(client, name="Nurse Nina", pin=demo_room.host_pin)
    assert resp.status_code == 302
    page = client.get("/m/demo/live").get_data(as_text=True)
    assert 'data-view="meeting"' in page
    people = live_people(app)
    assert people[0].role == "host"


def test_room_with_guest_pin_requires_it(app, client, db, demo_room):
    demo_room.guest_pin = "4321"
    db.add(demo_room)
    db.commit()
    client.get("/lang/en")
    html = client.get("/m/demo").get_data(as_text=True)
    assert 'id="pin"' in html and "PIN code" in html
    wrong = post_join(client, pin="1111")
    assert wrong.status_code == 403
    assert "The PIN is not correct" in wrong.get_data(as_text=True)
    assert live_people(app) == []
    missing = post_join(client, pin="")
    assert missing.status_code == 403
    right = post_join(client, pin="4321")
    assert right.status_code == 302
    client.get("/m/demo/live")
    assert [p.role for p in live_people(app)] == ["guest"]


def test_wrong_pins_lock_out_the_client_but_not_others(app, client, demo_room):
    client.get("/lang/en")
    for _ in range(4):
        assert post_join(client, pin="000000").status_code == 403
    fifth = post_join(client, pin="000000")
    assert fifth.status_code == 429
    assert "Too many wrong PINs" in fifth.get_data(as_text=True)
    # Even the right PIN is refused from this client now...
    assert post_join(client, pin=demo_room.host_pin).status_code == 429
    # ...but another client can still enter it.
    assert post_join(client, remote="10.0.0.2", pin=demo_room.host_pin).status_code == 302


def test_wrong_pin_attempts_are_logged(app, client, caplog):
    caplog.set_level("WARNING")
    post_join(client, pin="123456")
    assert any("pin_wrong" in r.getMessage() for r in caplog.records)


def _booked(db, demo_room, start, end, status="open"):
    meeting = Meeting(organisation_id=demo_room.organisation_id, kind="booked", alias="booked-1", title="Booked",
                      host_pin="111111", starts_at=start, ends_at=end, status=status)
    db.add(meeting)
    db.commit()
    inv = Invitation(meeting_id=meeting.id, name="Ole Hansen", phone="+4512345678")
    db.add(inv)
    db.commit()
    return meeting, inv


def test_invitation_prefills_name_and_joins_without_pin(app, client, db, demo_room):
    meeting, inv = _booked(db, demo_room, utcnow() - timedelta(minutes=5), utcnow() + timedelta(hours=1))
    with app.test_request_context():
        token = make_invite_token(inv.id, meeting.id)
    html = client.get(f"/m/booked-1?t={token}").get_data(as_text=True)
    assert 'value="Ole Hansen"' in html
    resp = client.post("/m/booked-1", data={"csrf_token": csrf_from(html), "name": "Ole Hansen", "t": token})
    assert resp.status_code == 302


def test_forged_token_gets_a_clear_page(app, client, db, demo_room):
    meeting, inv = _booked(db, demo_room, utcnow(), utcnow() + timedelta(hours=1))
    with app.test_request_context():
        token = make_invite_token(inv.id, meeting.id)
    client.get("/lang/en")
    forged = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
    resp = client.get(f"/m/booked-1?t={forged}")
    assert resp.status_code == 400
    assert "This link does not work" in resp.get_data(as_text=True)
    other = Invitation(meeting_id=meeting.id + 99, name="x")
    with app.test_request_context():
        wrong_meeting = make_invite_token(inv.id, meeting.id + 1)
    assert client.get(f"/m/booked-1?t={wrong_meeting}").status_code == 400
    assert other.id is None


def test_expired_token_gets_a_clear_page(app, client, db, demo_room, monkeypatch):
    import itsdangerous.timed

    meeting, inv = _booked(db, demo_room, utcnow(), utcnow() + timedelta(hours=1))
    real = itsdangerous.timed.TimestampSigner.get_timestamp
    monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp", lambda self: real(self) - 400 * 86400)
    with app.test_request_context():
        token = make_invite_token(inv.id, meeting.id)
    monkeypatch.undo()
    client.get("/lang/en")
    resp = client.get(f"/m/booked-1?t={token}")
    assert resp.status_code == 410
    assert "This link has expired" in resp.get_data(as_text=True)


def test_booked_meeting_admits_only_in_its_window(client, db, demo_room):
    client.get("/lang/en")
    meeting, _inv = _booked(db, demo_room, utcnow() + timedelta(hours=2), utcnow() + timedelta(hours=3))
    early = client.get("/m/booked-1")
    assert early.status_code == 425 and "has not opened yet" in early.get_data(as_text=True)
    meeting.starts_at = utcnow() + timedelta(minutes=10)
    db.add(meeting)
    db.commit()
    assert client.get("/m/booked-1").status_code == 200
    meeting.starts_at, meeting.ends_at = utcnow() - timedelta(hours=2), utcnow() - timedelta(hours=1)
    db.add(meeting)
    db.commit()
    over = client.get("/m/booked-1")
    assert over.status_code == 410 and "The meeting is over" in over.get_data(as_text=True)


def test_unknown_alias_and_malformed_addresses(client):
    client.get("/lang/en")
    resp = client.get("/m/no-such-room")
    assert resp.status_code == 404 and "We cannot find this meeting" in resp.get_data(as_text=True)
    assert client.get("/m/" + "x" * 500).status_code == 404
    assert client.get("/m/%00%01").status_code == 404
    assert client.get("/?alias=%3Cscript%3E").status_code == 400


def test_huge_and_control_character_names_are_refused(app, client):
    client.get("/lang/en")
    huge = post_join(client, name="A" * 100_000)
    assert huge.status_code in (413, 422)
    long = post_join(client, name="B" * 61)
    assert long.status_code == 422 and "The name is too long" in long.get_data(as_text=True)
    ctrl = post_join(client, name="Eve\x00\x1b[31m")
    assert ctrl.status_code == 422 and "characters that cannot be used" in ctrl.get_data(as_text=True)
    blank = post_join(client, name="   ")
    assert blank.status_code == 422 and "Please type your name" in blank.get_data(as_text=True)
    letters = post_join(client, pin="12ab")
    assert letters.status_code == 422
    assert live_people(app) == []


def test_missing_csrf_token_is_refused(client):
    client.get("/lang/en")
    resp = client.post("/m/demo", data={"name": "No Token"})
    assert resp.status_code == 400 and "Please try again" in resp.get_data(as_text=True)


def test_live_page_without_joining_goes_to_join_page(client):
    resp = client.get("/m/demo/live")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/m/demo")


def test_security_headers(client):
    resp = client.get("/m/demo")
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert resp.headers["Referrer-Policy"] == "same-origin"  # tokens never go to other sites
    cookie = resp.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_healthz_reports_database_and_media(client):
    body = client.get("/healthz").get_json()
    assert body == {"ok": True, "database": {"ok": True}, "live": {"ok": True}, "media": {"ok": True}}


def test_room_model_rejects_duplicate_alias(db, demo_room):
    import pytest
    from sqlalchemy.exc import IntegrityError

    db.add(Room(organisation_id=demo_room.organisation_id, alias="demo", name="again", host_pin="1"))
    with pytest.raises(IntegrityError):
        db.commit()
    db.rollback()
    assert len(db.exec(select(Room).where(Room.alias == "demo")).all()) == 1


def test_booking_title_is_never_shown_to_citizens(client, db, demo_room):
    meeting, _inv = _booked(db, demo_room, utcnow() - timedelta(minutes=5), utcnow() + timedelta(hours=1))
    meeting.title = "Diabetes follow-up"
    db.add(meeting)
    db.commit()
    html = client.get("/m/booked-1").get_data(as_text=True)
    assert "Diabetes" not in html and "Demo Kommune" in html


def test_signed_in_host_may_open_a_booking_early(app, client, db, demo_room):
    from mvc.auth import hash_password
    from mvc.models import User

    _booked(db, demo_room, utcnow() + timedelta(hours=2), utcnow() + timedelta(hours=3))
    db.add(User(organisation_id=demo_room.organisation_id, email="nurse@demo.example", name="Nurse Nina",
                password_hash=hash_password("pw-123456"), roles="host"))
    db.commit()
    assert client.get("/m/booked-1").status_code == 425
    page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"csrf_token": csrf_from(page), "email": "nurse@demo.example", "password": "pw-123456"})
    assert client.get("/m/booked-1").status_code == 200
