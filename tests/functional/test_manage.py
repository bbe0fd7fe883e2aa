"""Management of fixed rooms, staff and organisations, the hosts' room list, and every refusal."""
from __future__ import annotations

import pytest
from sqlmodel import select

from mvc.models import AuditEntry, Meeting, Organisation, Room, Theme, User
from tests import staff
from tests.staff import db_outside_app_context  # noqa: F401 - replaces conftest's db here


@pytest.fixture
def admin_client(client, db):
    staff.admin(db)
    assert staff.login(client, "admin@demo.example").status_code == 302
    return client


def room_form(client, path, **changes):
    data = {"csrf_token": staff.token(client, path), "name": "Sundhedsplejen", "alias": "sundhed",
            "host_pin": "123456", "guest_pin": "", "layout": "host_large", "theme_id": "",
            "chat": "on", "waiting_room": "on", "guests_camera": "on"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def audit_actions(db):
    return [e.action for e in db.exec(select(AuditEntry).order_by(AuditEntry.id))]


def test_admin_creates_room_with_settings_and_it_is_joinable(admin_client, db):
    resp = admin_client.post("/manage/rooms/new", data=room_form(admin_client, "/manage/rooms/new", guest_pin="4321"))
    assert resp.status_code == 302, resp.get_data(as_text=True)
    room = db.exec(select(Room).where(Room.alias == "sundhed")).one()
    assert (room.name, room.host_pin, room.guest_pin, room.layout) == ("Sundhedsplejen", "123456", "4321", "host_large")
    assert room.chat and room.waiting_room and room.guests_camera
    assert not room.hand_raise and not room.guests_may_unmute and not room.one_way_video
    page = admin_client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "The room Sundhedsplejen is saved." in page and "http://localhost/m/sundhed" in page
    assert admin_client.get("/m/sundhed").status_code == 200
    assert audit_actions(db) == ["room.create"]
    entry = db.exec(select(AuditEntry)).one()
    assert entry.user_email == "admin@demo.example" and "123456" not in entry.detail and "4321" not in entry.detail


def test_admin_edits_room_and_theme_choice(admin_client, db, demo_room):
    path = f"/manage/rooms/{demo_room.id}"
    neutral = db.exec(select(Theme).where(Theme.organisation_id == None)).one()  # noqa: E711
    resp = admin_client.post(path, data=room_form(admin_client, path, alias="demo", name="Nyt navn",
                                                  theme_id=str(neutral.id), one_way_video="on"))
    assert resp.status_code == 302
    db.refresh(demo_room)
    assert demo_room.name == "Nyt navn" and demo_room.theme_id == neutral.id and demo_room.one_way_video
    assert "name: 'Demo Kommune – videomøde' → 'Nyt navn'" in db.exec(select(AuditEntry)).one().detail


def test_duplicate_alias_of_room_or_meeting_is_a_form_error(admin_client, db, demo_room):
    db.add(Meeting(organisation_id=demo_room.organisation_id, kind="booked", alias="booked-1"))
    db.commit()
    for alias in ("demo", "booked-1"):
        resp = admin_client.post("/manage/rooms/new", data=room_form(admin_client, "/manage/rooms/new", alias=alias))
        html = resp.get_data(as_text=True)
        assert resp.status_code == 422
        assert f"The address {alias} is already in use" in html
        assert 'aria-describedby="f-alias-hint f-alias-error"' in html and 'id="f-alias-error"' in html
    assert len(db.exec(select(Room)).all()) == 1 and audit_actions(db) == []


@pytest.mark.parametrize("field,value,message", [
    ("alias", "Bad Alias!", "The address must be 2 to 60"),
    ("host_pin", "12ab", "The host PIN must be 4 to 12 digits"),
    ("guest_pin", "123456", "The guest PIN must differ from the host PIN"),
    ("layout", "cinema", "Choose one of the layouts"),
    ("name", "", "Give the room a name"),
])
def test_invalid_room_forms_are_refused(admin_client, db, field, value, message):
    resp = admin_client.post("/manage/rooms/new", data=room_form(admin_client, "/manage/rooms/new", **{field: value}))
    assert resp.status_code == 422 and message in resp.get_data(as_text=True)
    assert db.exec(select(Room).where(Room.alias == "sundhed")).first() is None


def test_room_may_not_use_another_organisations_theme(admin_client, db):
    other = staff.make_org(db, "anden-kommune")
    theme = Theme(organisation_id=other.id, name="Anden")
    db.add(theme)
    db.commit()
    resp = admin_client.post("/manage/rooms/new", data=room_form(admin_client, "/manage/rooms/new", theme_id=str(theme.id)))
    assert resp.status_code == 422 and "Choose one of your organisation&#39;s themes" in resp.get_data(as_text=True)


def test_admin_deletes_room_and_its_history_stays(admin_client, db, demo_room):
    open_meeting = Meeting(organisation_id=demo_room.organisation_id, room_id=demo_room.id, kind="room")
    db.add(open_meeting)
    db.commit()
    meeting_id = open_meeting.id
    db.expunge(open_meeting)  # read it back fresh below
    live = admin_client.application.extensions["mvc.live"]
    live.update(meeting_id, lambda state: None, settings={})
    live.append_log(meeting_id, {"text": "hello"}, cap=10)
    path = f"/manage/rooms/{demo_room.id}"
    resp = admin_client.post(f"{path}/delete", data={"csrf_token": staff.token(admin_client, path)})
    assert resp.status_code == 302
    assert live.get(meeting_id) is None and live.read_log(meeting_id) == []  # the meeting ended with its room
    assert db.exec(select(Room)).all() == []
    meeting = db.exec(select(Meeting)).one()
    assert meeting.room_id is None and meeting.status == "ended"
    assert admin_client.get("/m/demo").status_code == 404
    assert audit_actions(db) == ["room.delete"]


def test_qr_code_is_an_svg_of_the_join_link_from_our_origin(admin_client, demo_room):
    import segno

    page = admin_client.get(f"/manage/rooms/{demo_room.id}").get_data(as_text=True)
    assert f'src="/manage/rooms/{demo_room.id}/qr.svg"' in page
    resp = admin_client.get(f"/manage/rooms/{demo_room.id}/qr.svg")
    assert resp.status_code == 200 and resp.mimetype == "image/svg+xml"
    assert resp.data.startswith(b"<?xml") and b"<svg" in resp.data and b"http://localhost/m/demo" in resp.data
    expected = segno.make("http://localhost/m/demo", error="m")
    assert f'width="{(expected.symbol_size(scale=6, border=2))[0]}"'.encode() in resp.data


def test_host_is_refused_management_and_sees_my_rooms(client, db, demo_room):
    staff.make_user(db, "nina@demo.example", roles="host")
    staff.login(client, "nina@demo.example")
    for path in ("/manage/rooms", f"/manage/rooms/{demo_room.id}", "/manage/themes", "/manage/users", "/manage/audit"):
        assert client.get(path).status_code == 403, path
    token = staff.token(client, "/rooms")
    resp = client.post(f"/manage/rooms/{demo_room.id}", data={"csrf_token": token, "name": "Hacked", "alias": "demo",
                                                             "host_pin": "1111", "layout": "tiles"})
    assert resp.status_code == 403
    resp = client.post(f"/manage/rooms/{demo_room.id}/delete", data={"csrf_token": token})
    assert resp.status_code == 403
    db.refresh(demo_room)
    assert demo_room.name == "Demo Kommune – videomøde"
    page = client.get("/rooms").get_data(as_text=True)
    assert demo_room.name in page and 'href="/m/demo"' in page and "Start meeting" in page


def test_host_starts_meeting_from_my_rooms_without_pin(app, client, db, demo_room):
    staff.make_user(db, "nina@demo.example", roles="host")
    staff.login(client, "nina@demo.example")
    join = client.get("/m/demo").get_data(as_text=True)
    assert "will join as the host" in join and 'id="pin"' not in join
    from tests.conftest import csrf_from

    resp = client.post("/m/demo", data={"csrf_token": csrf_from(join), "name": "Nina"})
    assert resp.status_code == 302
    assert 'data-view="meeting"' in client.get("/m/demo/live").get_data(as_text=True)


def test_other_organisations_admin_gets_403_and_nothing_changes(client, db, demo_room):
    other = staff.make_org(db, "anden-kommune")
    staff.make_user(db, "boss@anden.example", roles="host,org-admin", org=other)
    staff.login(client, "boss@anden.example")
    demo_theme = db.get(Theme, demo_room.theme_id)
    demo_admin = db.exec(select(User).where(User.email == "admin@demo.example")).one()
    for path in (f"/manage/rooms/{demo_room.id}", f"/manage/themes/{demo_theme.id}", f"/manage/users/{demo_admin.id}",
                 f"/manage/rooms/{demo_room.id}/qr.svg"):
        assert client.get(path).status_code == 403, path
    token = staff.token(client, "/manage/rooms")
    assert client.post(f"/manage/rooms/{demo_room.id}/delete", data={"csrf_token": token}).status_code == 403
    assert client.post(f"/manage/users/{demo_admin.id}/active", data={"csrf_token": token, "active": "0"}).status_code == 403
    assert client.post(f"/manage/themes/{demo_theme.id}", data={"csrf_token": token, "name": "X"}).status_code == 403
    assert demo_room.name not in client.get("/manage/rooms").get_data(as_text=True)
    db.refresh(demo_admin)
    assert demo_admin.active and db.get(Room, demo_room.id) is not None and audit_actions(db) == []


def test_neutral_theme_cannot_be_edited_by_an_org_admin(admin_client, db):
    neutral = db.exec(select(Theme).where(Theme.organisation_id == None)).one()  # noqa: E711
    assert admin_client.get(f"/manage/themes/{neutral.id}").status_code == 403


def test_signed_out_visitor_is_sent_to_login(client):
    resp = client.get("/manage/rooms")
    assert resp.status_code == 302 and resp.headers["Location"] == "/login?next=/manage/rooms"


def test_admin_creates_staff_edits_roles_and_deactivates(admin_client, client, db):
    token = staff.token(admin_client, "/manage/users/new")
    resp = admin_client.post("/manage/users/new", data={"csrf_token": token, "email": "Ole@Demo.example", "name": "Ole",
                                                       "password": "a long password", "roles": ["host"]})
    assert resp.status_code == 302
    ole = db.exec(select(User).where(User.email == "ole@demo.example")).one()
    assert ole.roles == "host" and ole.organisation_id == staff.admin(db).organisation_id
    resp = admin_client.post(f"/manage/users/{ole.id}", data={"csrf_token": token, "name": "Ole Hansen",
                                                            "roles": ["host", "org-admin"]})
    assert resp.status_code == 302
    db.refresh(ole)
    assert ole.name == "Ole Hansen" and ole.has_role("org-admin")
    resp = admin_client.post(f"/manage/users/{ole.id}/active", data={"csrf_token": token, "active": "0"})
    assert resp.status_code == 302
    db.refresh(ole)
    assert not ole.active
    assert audit_actions(db)[-3:] == ["user.create", "user.update", "user.deactivate"]
    # A deactivated account cannot log in.
    other = admin_client.application.test_client()
    assert staff.login(other, "ole@demo.example", "a long password").status_code == 401


def test_deactivated_user_loses_an_open_session(client, db):
    nina = staff.make_user(db, "nina@demo.example", roles="host")
    staff.login(client, "nina@demo.example")
    assert client.get("/rooms").status_code == 200
    nina.active = False
    db.add(nina)
    db.commit()
    assert client.get("/rooms").status_code == 302


def test_staff_form_refusals(admin_client, db):
    token = staff.token(admin_client, "/manage/users/new")
    cases = [
        ({"email": "admin@demo.example", "name": "X", "roles": ["host"]}, "There is already an account"),
        ({"email": "not-an-email", "name": "X", "roles": ["host"]}, "Write a valid e-mail address"),
        ({"email": "x@demo.example", "name": "X", "roles": []}, "Choose at least one role"),
        ({"email": "x@demo.example", "name": "X", "roles": ["host"], "password": "short"}, "10 to 200 characters"),
        ({"email": "x@demo.example", "name": "X", "roles": ["platform-admin"]}, "Choose at least one role"),
    ]
    for form, message in cases:
        resp = admin_client.post("/manage/users/new", data={"csrf_token": token, **form})
        assert resp.status_code == 422 and message in resp.get_data(as_text=True), message
    assert len(db.exec(select(User)).all()) == 1


def test_admin_cannot_remove_own_admin_role_or_deactivate_self(admin_client, db):
    me = db.exec(select(User).where(User.email == "admin@demo.example")).one()
    token = staff.token(admin_client, "/manage/users")
    resp = admin_client.post(f"/manage/users/{me.id}", data={"csrf_token": token, "name": "Me", "roles": ["host"]})
    assert resp.status_code == 422 and "You cannot remove your own administrator role" in resp.get_data(as_text=True)
    resp = admin_client.post(f"/manage/users/{me.id}/active", data={"csrf_token": token, "active": "0"})
    assert resp.status_code == 409 and "You cannot deactivate your own account" in resp.get_data(as_text=True)
    db.refresh(me)
    assert me.active and me.roles == "host,org-admin" and audit_actions(db) == []


def test_audit_log_shows_who_changed_what_to_the_admin_only(admin_client, db, demo_room):
    admin_client.post("/manage/rooms/new", data=room_form(admin_client, "/manage/rooms/new"))
    page = admin_client.get("/manage/audit").get_data(as_text=True)
    assert "admin@demo.example" in page and "room.create" in page and "room sundhed" in page


def test_platform_admin_creates_organisation_with_first_admin(client, db):
    root = User(email="root@mvc.example", name="Root", roles="platform-admin",
                password_hash=staff.hash_password(staff.PASSWORD))
    db.add(root)
    db.commit()
    staff.login(client, "root@mvc.example")
    token = staff.token(client, "/manage/organisations")
    form = {"csrf_token": token, "org_name": "Aarhus Kommune", "slug": "aarhus-kommune", "name": "Anne",
            "email": "anne@aarhus.example", "password": "another long one"}
    assert client.post("/manage/organisations", data=form).status_code == 302
    org = db.exec(select(Organisation).where(Organisation.slug == "aarhus-kommune")).one()
    anne = db.exec(select(User).where(User.email == "anne@aarhus.example")).one()
    assert anne.organisation_id == org.id and anne.roles == "host,org-admin"
    assert db.get(Theme, org.default_theme_id).organisation_id == org.id
    dup = client.post("/manage/organisations", data={**form, "email": "b@aarhus.example"})
    assert dup.status_code == 422 and "This short name is already in use" in dup.get_data(as_text=True)


def test_org_admin_cannot_create_organisations(admin_client):
    assert admin_client.get("/manage/organisations").status_code == 403


def test_alias_taken_between_check_and_save_is_a_form_error_not_a_crash(admin_client, db, monkeypatch):
    from mvc.manage import rooms as manage_rooms

    monkeypatch.setattr(manage_rooms, "alias_taken", lambda *_args: False)  # the race: the check saw it free
    resp = admin_client.post("/manage/rooms/new", data=room_form(admin_client, "/manage/rooms/new", alias="demo"))
    assert resp.status_code == 422 and "The address demo is already in use" in resp.get_data(as_text=True)
    assert len(db.exec(select(Room)).all()) == 1 and audit_actions(db) == []


def test_command_line_makes_a_platform_admin_who_can_log_in(app, client, db, monkeypatch, capsys):
    from mvc.__main__ import main

    monkeypatch.setenv("MVC_DATABASE_URL", app.config["DATABASE_URL"])
    assert main(["platform-admin", "root@mvc.example", "Root"]) == 0
    password = capsys.readouterr().out.split("password: ")[1].split(" ")[0]
    assert staff.login(client, "root@mvc.example", password).status_code == 302
    assert client.get("/manage/organisations").status_code == 200
    assert main(["platform-admin", "admin@demo.example"]) == 0
    assert db.exec(select(User).where(User.email == "admin@demo.example")).one().roles == "host,org-admin,platform-admin"


def test_every_staff_menu_link_has_its_own_name_in_each_language(client, db):
    """Two menu entries with one name (Danish 'Enheder' was both the units and the devices) leave a screen
    reader user guessing where each leads."""
    import re

    staff.make_user(db, "all@demo.example", roles="host,org-admin,support")
    staff.login(client, "all@demo.example")
    for lang in ("da", "en"):
        client.get(f"/lang/{lang}")
        page = client.get("/manage/rooms").get_data(as_text=True)
        menu = re.search(r'<nav class="staff-nav".*?</nav>', page, re.S).group(0)
        links = re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', menu)
        names = [name.strip() for _href, name in links]
        assert len(links) >= 10 and len(set(names)) == len(names), (lang, names)
