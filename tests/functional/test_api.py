"""The booking API: OAuth2 client credentials, VDX-shaped meetings over the bookings, invitations, limits, audit."""
from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests
from sqlmodel import select

from mvc.models import ApiClient, ApiMeeting, ApiToken, AuditEntry, Invitation, MailMessage, Meeting, Organisation
from mvc.models import SmsMessage, User
from mvc.models.base import utcnow
from tests.api_helpers import Api, basic, get_token, make_client, meeting_body, vdx_time
from tests.conftest import LiveServer, base_config, build_app
from tests.sms_helpers import login, make_staff, post_form, session_for


@pytest.fixture
def make_app(tmp_path):
    apps = []

    def make(**overrides):
        app = build_app(base_config(tmp_path, PUBLIC_URL="https://video.example.dk", **overrides))
        with session_for(app) as db:
            db.add(Organisation(name="Anden Kommune", slug="anden-kommune"))
            db.commit()
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["mvc.live"].close()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def planner(app, client):
    return Api(client, *make_client(app, ["meeting-planner"]))


def rows(app, model, *where):
    with session_for(app) as db:
        return list(db.exec(select(model).where(*where).order_by(model.id)).all())


def create(api, **extra):
    resp = api("POST", "/v2/meetings", meeting_body(**extra))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


# -- tokens ------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["basic", "post"])
def test_both_client_authentication_methods_issue_a_short_lived_token_with_roles(app, client, method):
    client_id, secret = make_client(app, ["meeting-user", "meeting-provisioner"])
    resp = get_token(client, client_id, secret, method)
    assert resp.status_code == 200
    token = resp.get_json()
    assert token["token_type"].lower() == "bearer" and 0 < token["expires_in"] <= 600
    assert token["scope"] == "meeting-user meeting-provisioner" and token["organisation"] == "demo-kommune"
    info = client.get("/v2/info", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert info.status_code == 200
    assert info.get_json()["info"][1]["value"]["roles"] == ["meeting-user", "meeting-provisioner"]
    # Only hashes are stored, of the token and of the secret.
    stored = rows(app, ApiToken)
    assert len(stored) == 1 and token["access_token"] not in stored[0].token_hash
    assert secret not in rows(app, ApiClient)[0].secret_hash


def test_wrong_secret_unknown_client_and_bad_tokens_get_401(app, client):
    client_id, secret = make_client(app)
    assert get_token(client, client_id, secret + "x").status_code == 401
    assert get_token(client, "mvc-nobody", secret).status_code == 401
    assert get_token(client, client_id, secret + "x", "post").status_code == 401
    assert rows(app, ApiToken) == []
    for headers in ({}, {"Authorization": "Bearer forged-token"}, basic(client_id, secret)):
        resp = client.get("/v2/meetings", headers=headers)
        assert resp.status_code == 401 and resp.get_json()["errorCode"] == 401
        assert resp.headers.get("WWW-Authenticate", "").lower().startswith("bearer")


def test_expired_token_is_refused(app, client):
    api = Api(client, *make_client(app))
    assert api("GET", "/v2/info").status_code == 200
    with session_for(app) as db:
        token = db.exec(select(ApiToken)).one()
        token.expires_at = utcnow() - timedelta(seconds=1)
        db.add(token)
        db.commit()
    assert api("GET", "/v2/info").status_code == 401


def test_revoked_client_loses_access_at_once_and_rotation_kills_the_old_secret(app, client):
    make_staff(app, email="boss@demo.example", roles="host,org-admin")
    login(client, "boss@demo.example")
    client_id, secret = make_client(app)
    api = Api(client, client_id, secret)
    pk = rows(app, ApiClient)[0].id

    page = post_form(client, "/manage/api-clients", {}, )  # a harmless POST proves CSRF still guards the page
    assert page.status_code == 422
    resp = client.post(f"/manage/api-clients/{pk}/rotate")
    assert resp.status_code == 400  # no CSRF token: refused, secret unchanged
    assert get_token(client, client_id, secret).status_code == 200

    html = post_form(client, "/manage/api-clients", {}, ).get_data(as_text=True)  # fresh CSRF token
    from tests.conftest import csrf_from

    resp = client.post(f"/manage/api-clients/{pk}/rotate", data={"csrf_token": csrf_from(html)})
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    new_secret = resp.get_data(as_text=True).split('id="client-secret">')[1].split("<")[0]
    assert api("GET", "/v2/info").status_code == 401  # tokens of the old secret are dead
    assert get_token(client, client_id, secret).status_code == 401
    api = Api(client, client_id, new_secret)
    assert api("GET", "/v2/info").status_code == 200

    resp = post_form(client, "/manage/api-clients", {}, )
    client.post(f"/manage/api-clients/{pk}/revoke", data={"csrf_token": csrf_from(resp.get_data(as_text=True))})
    assert api("GET", "/v2/info").status_code == 401
    assert get_token(client, client_id, new_secret).status_code == 401
    assert "Revoked" in client.get("/manage/api-clients").get_data(as_text=True)


def test_revoking_in_the_database_stops_a_live_token_on_its_next_call(app, client):
    """The client is checked on every request, not only when the token is issued."""
    api = Api(client, *make_client(app))
    assert api("GET", "/v2/info").status_code == 200
    with session_for(app) as db:
        row = db.exec(select(ApiClient)).one()
        row.revoked_at = utcnow()
        db.add(row)
        db.commit()
    assert api("GET", "/v2/info").status_code == 401


def test_full_flow_over_real_http(app):
    server = LiveServer(app)
    try:
        client_id, secret = make_client(app)
        token = requests.post(f"{server.url}/oauth/token", data={"grant_type": "client_credentials"},
                              auth=(client_id, secret), timeout=10).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        soon = datetime.now(timezone.utc) + timedelta(minutes=2)
        made = requests.post(f"{server.url}/v2/meetings", json=meeting_body(start=soon), headers=auth, timeout=10)
        assert made.status_code == 200, made.text
        uuid = made.json()["uuid"]
        invited = requests.post(f"{server.url}/v2/meetings/{uuid}/invitations", headers=auth, timeout=10,
                                json={"invitees": [{"name": "Karen", "mobile": "20123456"}]})
        assert invited.status_code == 201 and invited.json()[0]["smsStatus"] == "outbox"
        link = invited.json()[0]["link"].replace("https://video.example.dk", server.url)
        assert requests.get(link, timeout=10).status_code == 200
    finally:
        server.stop()


# -- roles and organisations --------------------------------------------------------------------

def test_meeting_user_sees_only_its_own_planner_sees_the_organisation(app, client):
    user_a = Api(client, *make_client(app, ["meeting-user"], name="A"))
    user_b = Api(client, *make_client(app, ["meeting-user"], name="B"))
    planner = Api(client, *make_client(app, ["meeting-admin"], name="P"))
    own = create(user_a)["uuid"]
    other = create(user_b)["uuid"]
    assert [m["uuid"] for m in user_a("GET", "/v2/meetings").get_json()] == [own]
    assert user_a("GET", f"/v2/meetings/{other}").status_code == 403
    assert user_a("PATCH", f"/v2/meetings/{other}", {"subject": "x"}).status_code == 403
    assert {m["uuid"] for m in planner("GET", "/v2/meetings").get_json()} == {own, other}
    assert planner("PATCH", f"/v2/meetings/{own}", {"subject": "Changed by the planner"}).status_code == 200
    refused = user_a("POST", "/v2/meetings", meeting_body(organizedByEmail="nurse@demo.example"))
    assert refused.status_code == 403 and len(rows(app, Meeting, Meeting.kind == "booked")) == 2


def test_provisioner_reads_but_cannot_book(app, client, planner):
    uuid = create(planner)["uuid"]
    prov = Api(client, *make_client(app, ["meeting-provisioner"]))
    assert prov("GET", f"/v2/meetings/{uuid}").status_code == 200
    assert prov("GET", f"/v2/scheduling-info/{uuid}").status_code == 200
    for method, path, body in (("POST", "/v2/meetings", meeting_body()), ("DELETE", f"/v2/meetings/{uuid}", None),
                               ("PATCH", f"/v2/meetings/{uuid}", {"subject": "x"}),
                               ("POST", f"/v2/meetings/{uuid}/invitations", {"invitees": [{"name": "A"}]})):
        resp = prov(method, path, body)
        assert resp.status_code == 403 and resp.get_json()["errorCode"] == 403, (method, path)
    assert len(rows(app, Meeting, Meeting.kind == "booked")) == 1


def test_another_organisations_token_never_sees_or_changes_a_meeting(app, client, planner):
    made = create(planner)
    uuid = made["uuid"]
    other = Api(client, *make_client(app, ["meeting-planner"], org_slug="anden-kommune"))
    for method, path, body in (("GET", f"/v2/meetings/{uuid}", None), ("PUT", f"/v2/meetings/{uuid}", meeting_body()),
                               ("PATCH", f"/v2/meetings/{uuid}", {"subject": "x"}),
                               ("DELETE", f"/v2/meetings/{uuid}", None),
                               ("GET", f"/v2/scheduling-info/{uuid}", None),
                               ("GET", f"/v2/meetings/{uuid}/invitations", None),
                               ("POST", f"/v2/meetings/{uuid}/invitations", {"invitees": [{"name": "A"}], "send": False})):
        assert other(method, path, body).status_code == 404, (method, path)
    assert other("GET", "/v2/meetings").get_json() == []
    uri = made["uriWithDomain"]
    assert other("GET", f"/v2/meetings/findByUriWithDomain?uri={uri}").status_code == 404
    assert other("GET", f"/v2/meetings?short-id={made['shortId']}").get_json() == []
    meeting = rows(app, Meeting, Meeting.kind == "booked")[0]
    assert meeting.status == "open" and meeting.title == "Wound check after surgery"
    assert rows(app, Invitation) == []


# -- meetings ---------------------------------------------------------------------------------

def test_create_read_update_patch_delete_round_trip_shows_on_the_booking_pages(app, client, planner):
    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=2)
    made = create(planner, start=start, description="Bring the medicine list", externalId="case-1",
                  labels=["wound"], additionalInformation=[{"key": "ward", "value": "B4"}],
                  guestMicrophone="muted", vmrType="lecture", guestsCanPresent=True, maxParticipants=5,
                  endMeetingOnEndTime=True, projectCode="P-1", hostPin=123456, guestPinRequired=True, guestPin=4321)
    plain = create(planner)
    assert 100000 <= plain["hostPin"] <= 999999 and 100000 <= plain["guestPin"] <= 999999  # VDX integers
    assert planner("DELETE", f"/v2/meetings/{plain['uuid']}").status_code == 204
    assert len(made["shortId"]) == 12 and made["shortLink"] == f"https://video.example.dk/m/v-{made['shortId']}"
    assert made["startTime"] == start.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (made["guestMicrophone"], made["vmrType"], made["guestsCanPresent"]) == ("muted", "lecture", True)
    assert (made["maxParticipants"], made["endMeetingOnEndTime"], made["projectCode"]) == (5, True, "P-1")
    assert (made["hostPin"], made["guestPin"], made["guestPinRequired"]) == (123456, 4321, True)
    assert made["labels"] == ["wound"] and made["additionalInformation"] == [{"key": "ward", "value": "B4"}]
    assert made["_links"]["self"]["href"].endswith(f"/v2/meetings/{made['uuid']}")
    meeting = rows(app, Meeting, Meeting.kind == "booked")[0]
    assert (meeting.guests_may_unmute, meeting.layout, meeting.guests_may_share) == (False, "host_only", True)
    assert (meeting.host_pin, meeting.guest_pin) == ("123456", "4321")

    make_staff(app)
    login(client)
    assert "Wound check after surgery" in client.get("/bookings").get_data(as_text=True)
    uuid = made["uuid"]
    assert planner("GET", f"/v2/meetings/{uuid}").get_json() == made

    new_start = start + timedelta(hours=3)
    put = planner("PUT", f"/v2/meetings/{uuid}", meeting_body(start=new_start, subject="Follow-up"))
    assert put.status_code == 200
    body = put.get_json()
    assert body["subject"] == "Follow-up" and body["startTime"] == new_start.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert body["labels"] == [] and body["externalId"] is None and "projectCode" not in body  # replaced
    assert rows(app, Meeting, Meeting.id == meeting.id)[0].sequence == 1

    patched = planner("PATCH", f"/v2/meetings/{uuid}", {"description": "Now with a relative", "labels": ["x"],
                                                        "guestMicrophone": "on"}).get_json()
    assert patched["subject"] == "Follow-up" and patched["description"] == "Now with a relative"
    assert patched["guestMicrophone"] == "on" and rows(app, Meeting, Meeting.id == meeting.id)[0].guests_may_unmute
    assert "Follow-up" in client.get(f"/bookings/{meeting.id}").get_data(as_text=True)

    assert planner("DELETE", f"/v2/meetings/{uuid}").status_code == 204
    assert rows(app, Meeting, Meeting.id == meeting.id)[0].status == "cancelled"
    assert planner("GET", f"/v2/meetings/{uuid}").status_code == 404
    assert "This meeting is cancelled" in client.get(f"/bookings/{meeting.id}").get_data(as_text=True)


def test_a_booking_made_on_the_pages_is_in_the_api(app, client, planner):
    make_staff(app)
    login(client)
    start = datetime.now(timezone.utc) + timedelta(days=1)
    from tests.functional.test_booking import local_form

    resp = post_form(client, "/bookings/new", {"title": "Made on the page", **local_form(start), "name": "Karen",
                                               "phone": "20123456", "email": ""})
    assert resp.status_code == 302
    found = planner("GET", "/v2/meetings?subject=Made on the page").get_json()
    assert len(found) == 1 and found[0]["createdBy"]["email"] == "nurse@demo.example"
    invited = planner("GET", f"/v2/meetings/{found[0]['uuid']}/invitations").get_json()
    assert invited[0]["name"] == "Karen" and invited[0]["mobile"] == "+4520123456"


def test_list_filters(app, client, planner):
    base = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=3)
    make_staff(app)
    first = create(planner, start=base, subject="Alpha visit", labels=["home"], organizedByEmail="nurse@demo.example")
    second = create(planner, start=base + timedelta(days=2), subject="Beta visit", description="with interpreter")

    def uuids(query):
        resp = planner("GET", f"/v2/meetings?{query}")
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return [m["uuid"] for m in resp.get_json()]

    assert uuids(f"short-id={first['shortId']}") == [first["uuid"]]
    assert uuids("label=home") == [first["uuid"]]
    assert uuids("subject=beta") == [second["uuid"]]
    assert uuids("subject=%25") == [] and uuids("label=h_me") == []  # wildcards are plain characters
    assert uuids("organizedBy=nurse@demo.example") == [first["uuid"]]
    assert uuids("search=interpreter") == [second["uuid"]]
    window = f"from-start-time={vdx_time(base - timedelta(hours=1))}&to-start-time={vdx_time(base + timedelta(days=1))}"
    assert uuids(window.replace("+", "%2B")) == [first["uuid"]]
    assert uuids(f"uriWithDomain={second['uriWithDomain']}") == [second["uuid"]]
    assert uuids("") == [first["uuid"], second["uuid"]]
    found = planner("GET", f"/v2/meetings/findByUriWithDomain?uri={first['uriWithDomain']}")
    assert found.get_json()["uuid"] == first["uuid"]
    assert planner("GET", "/v2/meetings/findByUriWithDomain?uri=v-000000000000@video.example.dk").status_code == 404
    bad = planner("GET", f"/v2/meetings?from-start-time={vdx_time(base).replace('+', '%2B')}")
    assert bad.status_code == 400 and bad.get_json()["errorCode"] == 14
    info = planner("GET", f"/v2/scheduling-info/{first['uuid']}").get_json()
    assert info["uriWithDomain"] == first["uriWithDomain"] and info["hostPin"] == first["hostPin"]


def test_a_chosen_uri_without_domain_is_the_meetings_real_address(app, client, planner):
    made = create(planner, start=datetime.now(timezone.utc) + timedelta(minutes=2), uriWithoutDomain="Wound-Clinic-7")
    address = "wound-clinic-7"
    assert made["uriWithoutDomain"] == address and made["uriWithDomain"] == f"{address}@video.example.dk"
    assert made["shortLink"] == made["portalLink"] == f"https://video.example.dk/m/{address}"
    assert rows(app, Meeting, Meeting.kind == "booked")[0].alias == address
    uuid = made["uuid"]
    assert planner("GET", f"/v2/meetings/{uuid}").get_json() == made
    info = planner("GET", f"/v2/scheduling-info/{uuid}").get_json()
    assert (info["uriWithoutDomain"], info["uriWithDomain"], info["portalLink"]) == (
        address, made["uriWithDomain"], made["portalLink"])
    found = planner("GET", f"/v2/meetings/findByUriWithDomain?uri={address}@video.example.dk")
    assert found.status_code == 200 and found.get_json()["uuid"] == uuid
    assert len(made["shortId"]) == 12
    assert [m["uuid"] for m in planner("GET", f"/v2/meetings?short-id={made['shortId']}").get_json()] == [uuid]
    # People join at that address with the meeting's PINs.
    joined = post_form(client, f"/m/{address}", {"name": "Nina", "pin": str(made["hostPin"])})
    assert joined.status_code == 302 and joined.headers["Location"].endswith(f"/m/{address}/live")

    # The address is the meeting's for good: the same value is fine, another one is refused.
    assert planner("PATCH", f"/v2/meetings/{uuid}", {"uriWithoutDomain": address, "subject": "Same"}).status_code == 200
    moved = planner("PATCH", f"/v2/meetings/{uuid}", {"uriWithoutDomain": "elsewhere"})
    assert moved.status_code == 400 and moved.get_json()["errorCode"] == 24
    assert planner("PUT", f"/v2/meetings/{uuid}", meeting_body()).get_json()["uriWithoutDomain"] == address

    for wanted, code in ((address, 22), ("DEMO", 22), ("v-abcdefabcdef", 23), ("x", 23), ("two words", 23),
                         ("-dash", 23)):
        refused = planner("POST", "/v2/meetings", meeting_body(uriWithoutDomain=wanted))
        assert refused.status_code == 400 and refused.get_json()["errorCode"] == code, wanted
    assert len(rows(app, Meeting, Meeting.kind == "booked")) == 1
    plain = create(planner, uriWithoutDomain="")  # empty: MVC picks the address, as without the field
    assert plain["uriWithoutDomain"] == "v-" + plain["shortId"]


def test_a_planner_books_for_a_real_staff_member_and_an_unknown_organiser_is_refused(app, client, planner):
    nurse = make_staff(app)
    make_staff(app, email="doctor@demo.example")
    make_staff(app, email="nurse@anden.example", org_slug="anden-kommune")
    gone = make_staff(app, email="left@demo.example")
    with session_for(app) as db:
        db.get(User, gone.id).active = False
        db.commit()
    made = create(planner, organizedByEmail="Nurse@Demo.example")
    assert made["organizedBy"] == {"organisationId": "demo-kommune", "email": "nurse@demo.example"}
    assert made["createdBy"]["email"].startswith("mvc-")  # the client made it, for the nurse
    assert [m["uuid"] for m in planner("GET", "/v2/meetings?organizedBy=nurse@demo.example").get_json()] == [
        made["uuid"]]
    meeting = rows(app, Meeting, Meeting.kind == "booked")[0]
    # Invitations through the API are texted as the organiser's (their own SMS limit and outbox rows).
    planner("POST", f"/v2/meetings/{made['uuid']}/invitations", {"invitees": [{"mobile": "20123456"}]})
    assert rows(app, SmsMessage)[0].created_by_id == nurse.id

    login(client)  # the nurse sees the meeting as hers on the booking pages
    assert 'class="badge quiet">Yours' in client.get("/bookings").get_data(as_text=True)
    assert "Organiser: Nina Nurse" in client.get(f"/bookings/{meeting.id}").get_data(as_text=True)
    login(client, "doctor@demo.example")
    assert 'class="badge quiet">Yours' not in client.get("/bookings").get_data(as_text=True)

    for email in ("nobody@demo.example", "nurse@anden.example", "left@demo.example"):
        refused = planner("POST", "/v2/meetings", meeting_body(organizedByEmail=email))
        assert refused.status_code == 400 and refused.get_json()["errorCode"] == 18, email
        assert "organizedByEmail" in refused.get_json()["errorText"]
        changed = planner("PATCH", f"/v2/meetings/{made['uuid']}", {"organizedByEmail": email, "subject": "x"})
        assert changed.status_code == 400 and changed.get_json()["errorCode"] == 18, email
    assert planner("GET", f"/v2/meetings/{made['uuid']}").get_json()["organizedBy"]["email"] == "nurse@demo.example"
    assert len(rows(app, Meeting, Meeting.kind == "booked")) == 1

    moved = planner("PATCH", f"/v2/meetings/{made['uuid']}", {"organizedByEmail": "doctor@demo.example"})
    assert moved.get_json()["organizedBy"]["email"] == "doctor@demo.example"
    assert 'class="badge quiet">Yours' in client.get("/bookings").get_data(as_text=True)


def test_idempotency_key_returns_the_first_result(app, client, planner):
    body = meeting_body()
    first = planner("POST", "/v2/meetings", body, **{"Idempotency-Key": "req-1"})
    again = planner("POST", "/v2/meetings", body, **{"Idempotency-Key": "req-1"})
    assert first.status_code == again.status_code == 200
    assert again.get_json()["uuid"] == first.get_json()["uuid"] and again.headers["Idempotent-Replayed"] == "true"
    assert len(rows(app, Meeting, Meeting.kind == "booked")) == 1
    changed = planner("POST", "/v2/meetings", {**body, "subject": "Other"}, **{"Idempotency-Key": "req-1"})
    assert changed.status_code == 400 and changed.get_json()["errorCode"] == 21
    assert create(planner)["uuid"] != first.get_json()["uuid"]  # no key: a new meeting


def test_external_id_is_unique_per_organisation(app, client, planner):
    create(planner, externalId="case-7")
    clash = planner("POST", "/v2/meetings", meeting_body(externalId="case-7"))
    assert clash.status_code == 400 and clash.get_json()["errorCode"] == 20
    other = Api(client, *make_client(app, ["meeting-planner"], org_slug="anden-kommune"))
    assert other("POST", "/v2/meetings", meeting_body(externalId="case-7")).status_code == 200
    second = create(planner)
    assert planner("PATCH", f"/v2/meetings/{second['uuid']}", {"externalId": "case-7"}).status_code == 400
    assert len(rows(app, Meeting, Meeting.kind == "booked")) == 3


NOW = datetime.now(timezone.utc).replace(microsecond=0)


@pytest.mark.parametrize("body, code, words", [
    ({**meeting_body(), "colour": "red"}, 10, "Unknown field colour"),
    ({**meeting_body(), "subject": 7}, 10, "subject has the wrong type"),
    ({**meeting_body(), "muteAllGuests": "true"}, 10, "muteAllGuests has the wrong type"),
    ({**meeting_body(), "subject": "x" * 101}, 10, "subject is too long"),
    ({**meeting_body(), "guestMicrophone": "loud"}, 10, "guestMicrophone must be one of"),
    ({"startTime": meeting_body()["startTime"], "endTime": meeting_body()["endTime"]}, 10, "subject is required"),
    ({**meeting_body(), "startTime": "2030-01-01 10:00"}, 11, "startTime must be a time like"),
    ({**meeting_body(), "startTime": "2030-02-30T10:00:00Z"}, 11, "not a real date"),
    (meeting_body(minutes=-10), 12, "endTime must be after startTime"),
    (meeting_body(start=NOW - timedelta(hours=1), minutes=120), 13, "startTime has already passed"),
    ({**meeting_body(), "additionalInformation": [{"key": "a", "value": "1"}, {"key": "a", "value": "2"}]}, 16,
     "only once"),
    ([1, 2], 10, "JSON object"),
])
def test_bad_input_gets_a_json_error_and_changes_nothing(app, client, planner, body, code, words):
    resp = planner("POST", "/v2/meetings", body)
    assert resp.status_code == 400
    error = resp.get_json()
    assert error["errorCode"] == code and words in error["errorText"], error
    assert rows(app, Meeting, Meeting.kind == "booked") == [] and rows(app, ApiMeeting) == []


def test_errors_are_in_english_unless_danish_is_asked_for(app, client, planner):
    body = {**meeting_body(), "colour": "red"}
    assert planner("POST", "/v2/meetings", body).get_json()["errorText"] == "Unknown field colour."
    danish = planner("POST", "/v2/meetings", body, **{"Accept-Language": "da, en;q=0.5"}).get_json()
    assert danish["errorText"] == "Ukendt felt colour."


def test_a_bad_change_changes_nothing(app, client, planner):
    made = create(planner, description="Before", labels=["a"])
    for body in ({"description": "After", "labels": ["b"], "startTime": "tomorrow"},
                 {"description": "After", "hostPin": 5555, "guestPin": 5555},
                 {"description": "After", "subject": None}, {"description": "After", "colour": 1}):
        resp = planner("PATCH", f"/v2/meetings/{made['uuid']}", body)
        assert resp.status_code == 400, body
    assert planner("GET", f"/v2/meetings/{made['uuid']}").get_json() == made
    assert rows(app, Meeting, Meeting.kind == "booked")[0].sequence == 0


def test_malformed_json_and_a_changed_ended_meeting(app, client, planner):
    resp = planner.http.post("/v2/meetings", data="{not json", content_type="application/json",
                             headers={"Authorization": f"Bearer {planner.token}"})
    assert resp.status_code == 400 and resp.get_json()["errorCode"] == 10
    huge = planner("POST", "/v2/meetings", {**meeting_body(), "description": "x" * 3_000_000})
    assert huge.status_code == 413 and huge.get_json()["errorCode"] == 10
    uuid = create(planner)["uuid"]
    with session_for(app) as db:
        meeting = db.exec(select(Meeting).where(Meeting.kind == "booked")).one()
        meeting.status = "ended"
        db.add(meeting)
        db.commit()
    resp = planner("PATCH", f"/v2/meetings/{uuid}", {"subject": "Too late"})
    assert resp.status_code == 406 and resp.get_json()["errorCode"] == 30


# -- invitations -------------------------------------------------------------------------------

def test_invitations_send_sms_and_email_through_the_outbox_and_list_links(app, client, planner):
    uuid = create(planner, start=datetime.now(timezone.utc) + timedelta(minutes=2))["uuid"]
    resp = planner("POST", f"/v2/meetings/{uuid}/invitations", {"invitees": [
        {"name": "Karen Jensen", "mobile": "20 12 34 56", "language": "en", "reminder": False, "mayForward": True},
        {"name": "Ole", "email": "ole@example.dk"}]})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    karen, ole = resp.get_json()
    assert karen["smsStatus"] == "outbox" and karen["language"] == "en" and karen["reminder"] is False
    assert karen["mayForward"] is True and ole["mayForward"] is False
    assert ole["emailStatus"] == "outbox" and ole["smsStatus"] is None
    texts = rows(app, SmsMessage)
    # The same invitation (the token's payload); its signature carries the second it was made.
    assert len(texts) == 1 and texts[0].to == "+4520123456" and karen["link"].split(".")[0] in texts[0].body
    assert "Wound" not in texts[0].body  # no title (health data) in texts
    assert rows(app, MailMessage)[0].to == "ole@example.dk"
    listed = planner("GET", f"/v2/meetings/{uuid}/invitations").get_json()
    assert [i["link"] for i in listed] == [karen["link"], ole["link"]]
    assert client.get(karen["link"].replace("https://video.example.dk", "")).status_code == 200


def test_invitations_without_sending_give_links_and_no_sms(app, client, planner):
    uuid = create(planner)["uuid"]
    resp = planner("POST", f"/v2/meetings/{uuid}/invitations", {"send": False, "invitees": [
        {"name": "Karen", "mobile": "20123456"}, {"name": "Ole"}]})
    assert resp.status_code == 201
    links = [i["link"] for i in resp.get_json()]
    assert all(link.startswith("https://video.example.dk/m/v-") and "?t=" in link for link in links)
    assert rows(app, SmsMessage) == [] and rows(app, MailMessage) == []
    # Later changes do not text them either: MVC never kept their number.
    planner("PATCH", f"/v2/meetings/{uuid}", {"startTime": meeting_body(start=NOW + timedelta(days=4))["startTime"],
                                              "endTime": meeting_body(start=NOW + timedelta(days=4))["endTime"]})
    assert rows(app, SmsMessage) == []


def test_invitation_errors_and_sms_limits(make_app):
    app = make_app(SMS_NUMBER_PER_HOUR=1)
    client = app.test_client()
    planner = Api(client, *make_client(app))
    uuid = create(planner)["uuid"]
    bad = planner("POST", f"/v2/meetings/{uuid}/invitations", {"invitees": [{"name": "Karen", "mobile": "80123456"}]})
    assert bad.status_code == 400 and "mobile" in bad.get_json()["errorText"]
    nobody = planner("POST", f"/v2/meetings/{uuid}/invitations", {"invitees": [{"name": "Karen"}]})
    assert nobody.status_code == 400
    ok = planner("POST", f"/v2/meetings/{uuid}/invitations", {"invitees": [{"mobile": "20123456"}]})
    assert ok.status_code == 201
    limited = planner("POST", f"/v2/meetings/{uuid}/invitations", {"invitees": [{"mobile": "20123456"}]})
    assert limited.status_code == 429 and limited.get_json()["errorCode"] == 40 and limited.headers["Retry-After"]
    assert len(rows(app, Invitation)) == 1 and len(rows(app, SmsMessage)) == 1


# -- audit, rate limit, CLI ----------------------------------------------------------------------

def test_every_call_is_audited_with_client_action_and_meeting(app, client, planner):
    uuid = create(planner)["uuid"]
    planner("GET", f"/v2/meetings/{uuid}")
    planner("DELETE", f"/v2/meetings/{uuid}")
    planner("GET", f"/v2/meetings/{uuid}")
    entries = rows(app, AuditEntry, AuditEntry.action.like("api.%"))
    client_id = rows(app, ApiClient)[0].client_id
    assert [(e.action, e.subject) for e in entries] == [
        ("api.token", f"api client Nexus ({client_id})"), ("api.meeting_create", f"meeting {uuid}"),
        ("api.meeting", f"meeting {uuid}"), ("api.meeting", f"meeting {uuid}"), ("api.meeting", f"meeting {uuid}")]
    assert all(client_id in e.user_email for e in entries)
    assert entries[3].detail.startswith("DELETE") and entries[4].detail.endswith("404")
    make_staff(app, email="boss@demo.example", roles="host,org-admin")
    login(client, "boss@demo.example")
    assert f"meeting {uuid}" in client.get("/manage/audit").get_data(as_text=True)


def test_rate_limit_per_client_answers_429_with_retry_after(make_app):
    app = make_app(API_RATE_PER_MINUTE=3)
    client = app.test_client()
    limited, other = Api(client, *make_client(app, name="A")), Api(client, *make_client(app, name="B"))
    assert [limited("GET", "/v2/info").status_code for _ in range(3)] == [200, 200, 200]
    resp = limited("GET", "/v2/info")
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) > 0 and resp.get_json()["errorCode"] == 41
    assert other("GET", "/v2/info").status_code == 200  # per client


def api_error(resp, status: int) -> dict:
    """The API's JSON error body, after checking the status and that it is JSON."""
    assert resp.status_code == status and resp.mimetype == "application/json", resp.get_data(as_text=True)[:200]
    body = resp.get_json()
    assert set(body) == {"errorCode", "errorText"} and body["errorText"]
    return body


def test_unknown_api_path_answers_json_404_and_the_site_keeps_its_page(app, client, planner):
    assert api_error(planner("GET", "/v2/no-such-thing"), 404)["errorCode"] == 404
    site = client.get("/no-such-page")
    assert site.status_code == 404 and site.mimetype == "text/html"


def test_a_wrong_method_answers_json_405_with_allow(app, client, planner):
    wrong = planner("PUT", "/v2/info", {})
    assert api_error(wrong, 405)["errorCode"] == 405 and "GET" in wrong.headers["Allow"]
    assert api_error(client.get("/oauth/token"), 405)["errorCode"] == 405


def test_token_endpoint_address_limit_answers_json_with_retry_after(app):
    client = app.test_client()
    answers = [get_token(client, "nobody", "wrong") for _ in range(31)]
    assert {resp.status_code for resp in answers[:30]} == {401}
    assert api_error(answers[30], 429)["errorCode"] == 429 and int(answers[30].headers["Retry-After"]) > 0


def test_command_line_creates_a_client_that_works(app, client, monkeypatch, capsys):
    from mvc.__main__ import main

    monkeypatch.setenv("MVC_DATABASE_URL", app.config["DATABASE_URL"])
    assert main(["api-client", "create", "--organisation", "Demo Kommune", "--name", "Cura",
                 "--roles", "meeting-planner", "meeting-user"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("client_id: ") and out[1].startswith("client_secret: ")
    client_id, secret = out[0].split(": ", 1)[1], out[1].split(": ", 1)[1]
    assert get_token(client, client_id, secret).get_json()["scope"] == "meeting-user meeting-planner"


def test_key_flow_on_postgresql(postgres, tmp_path):
    """Tokens, create, idempotent retry, externalId conflict, list and revoke on PostgreSQL."""
    url = postgres.fresh_database(f"mvc_api_{time.time_ns()}")
    app = build_app(base_config(tmp_path, DATABASE_URL=url, PUBLIC_URL="https://video.example.dk"))
    try:
        client = app.test_client()
        client_id, secret = make_client(app)
        assert get_token(client, client_id, secret, "post").status_code == 200
        api = Api(client, client_id, secret)
        body = meeting_body(externalId="pg-1", labels=["pg"])
        first = api("POST", "/v2/meetings", body, **{"Idempotency-Key": "k"})
        again = api("POST", "/v2/meetings", body, **{"Idempotency-Key": "k"})
        assert first.status_code == again.status_code == 200 and first.get_json() == again.get_json()
        assert api("POST", "/v2/meetings", body).get_json()["errorCode"] == 20
        assert [m["uuid"] for m in api("GET", "/v2/meetings?label=pg").get_json()] == [first.get_json()["uuid"]]
        with session_for(app) as db:
            db.exec(select(ApiClient)).one().revoked_at = utcnow()
            db.commit()
        assert api("GET", "/v2/info").status_code == 401
    finally:
        app.extensions["mvc.live"].close()
        app.extensions["mvc.engine"].dispose()


def test_admin_creates_a_client_on_the_page_and_sees_the_secret_once(app, client):
    make_staff(app, email="boss@demo.example", roles="host,org-admin")
    login(client, "boss@demo.example")
    refused = post_form(client, "/manage/api-clients", {"name": " ", "roles": []})
    assert refused.status_code == 422 and "Choose at least one role" in refused.get_data(as_text=True)
    assert rows(app, ApiClient) == []
    resp = post_form(client, "/manage/api-clients", {"name": "Sundhedsplatformen", "roles": ["meeting-user", "bogus"]})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    secret = html.split('id="client-secret">')[1].split("<")[0]
    stored = rows(app, ApiClient)[0]
    assert stored.roles == "meeting-user" and stored.client_id in html
    assert get_token(client, stored.client_id, secret).status_code == 200
    listing = client.get("/manage/api-clients").get_data(as_text=True)
    assert stored.client_id in listing and secret not in listing and "Sundhedsplatformen" in listing
    assert "Never" not in listing  # last used is shown once the client has asked for a token
    assert rows(app, AuditEntry, AuditEntry.action == "api-client.create")[0].user_email == "boss@demo.example"


def test_hosts_and_other_organisations_cannot_manage_clients(app, client):
    make_staff(app, email="host@demo.example", roles="host")
    login(client, "host@demo.example")
    assert client.get("/manage/api-clients").status_code == 403
    make_client(app, org_slug="anden-kommune")
    pk = rows(app, ApiClient)[0].id
    make_staff(app, email="boss@demo.example", roles="host,org-admin")
    login(client, "boss@demo.example")
    page = client.get("/manage/api-clients").get_data(as_text=True)
    from tests.conftest import csrf_from

    resp = client.post(f"/manage/api-clients/{pk}/revoke", data={"csrf_token": csrf_from(page)})
    assert resp.status_code == 403 and rows(app, ApiClient)[0].revoked_at is None


def test_openapi_document_covers_every_route_and_the_answers_match_it(app, client, planner):
    spec = client.get("/api/v2/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    routes: dict[str, set] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") and rule.endpoint not in ("api.openapi_json", "api.docs"):
            routes.setdefault(re.sub(r"<(\w+)>", r"{\1}", rule.rule), set()).update(
                m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
    assert {path: set(ops) for path, ops in spec["paths"].items()} == routes

    from mvc.api.openapi import model

    def check(resp, path, method):
        declared = spec["paths"][path][method]["responses"][str(resp.status_code)]
        if "content" not in declared:
            assert not resp.data
            return
        schema = declared["content"]["application/json"]["schema"]
        name = (schema.get("items") or schema)["$ref"].rsplit("/", 1)[1]
        for item in resp.get_json() if schema.get("type") == "array" else [resp.get_json()]:
            model(name).model_validate(item)

    made = planner("POST", "/v2/meetings", meeting_body(projectCode="P"))
    check(made, "/v2/meetings", "post")
    uuid = made.get_json()["uuid"]
    check(planner("GET", "/v2/info"), "/v2/info", "get")
    check(planner("GET", "/v2/meetings"), "/v2/meetings", "get")
    check(planner("GET", f"/v2/meetings/{uuid}"), "/v2/meetings/{uuid}", "get")
    check(planner("PATCH", f"/v2/meetings/{uuid}", {"labels": None}), "/v2/meetings/{uuid}", "patch")
    check(planner("PATCH", f"/v2/meetings/{uuid}", {"labels": 5}), "/v2/meetings/{uuid}", "patch")
    huge = planner("POST", "/v2/meetings", {**meeting_body(), "description": "x" * 3_000_000})
    assert huge.status_code == 413
    check(huge, "/v2/meetings", "post")
    check(planner("GET", f"/v2/scheduling-info/{uuid}"), "/v2/scheduling-info/{uuid}", "get")
    check(planner("POST", f"/v2/meetings/{uuid}/invitations", {"invitees": [{"mobile": "20123456"}]}),
          "/v2/meetings/{uuid}/invitations", "post")
    check(planner("GET", f"/v2/meetings/{uuid}/invitations"), "/v2/meetings/{uuid}/invitations", "get")
    check(planner("GET", "/v2/meetings/nope"), "/v2/meetings/{uuid}", "get")
    check(planner("DELETE", f"/v2/meetings/{uuid}"), "/v2/meetings/{uuid}", "delete")
    check(client.get("/v2/info"), "/v2/info", "get")
    page = client.get("/api/v2/docs").get_data(as_text=True)
    assert "/v2/meetings/{uuid}/invitations" in page and "meeting-planner" in page


# -- FHIR CareCommunication ------------------------------------------------------------------------

CC_BODY = {"cpr": "010203-1234", "patientName": "Bruno Hansen",
           "sender": {"sor": "265161000016000", "gln": "5790000123456"},
           "receiver": {"sor": "953741000016009", "gln": "5790000654321", "name": "Hjemmeplejen Nord"}}


def test_care_communication_bundle_follows_the_medcom_profile_rules(app, client, planner):
    from fhir.resources.R4B.bundle import Bundle

    made = create(planner, start=datetime.now(timezone.utc) + timedelta(minutes=2))
    # The organisation's own SOR code and GLN number, set by its admin, make the sender.
    make_staff(app, email="boss@demo.example", roles="host,org-admin")
    login(client, "boss@demo.example")
    refused = post_form(client, "/manage/organisation", {"sor": "12ab", "gln": "579000012345"})
    assert refused.status_code == 422 and "6 to 20 digits" in refused.get_data(as_text=True)
    assert "13 digits" in refused.get_data(as_text=True)
    own = CC_BODY["sender"]
    assert post_form(client, "/manage/organisation", {"sor": own["sor"], "gln": own["gln"]}).status_code == 302
    assert f'value="{own["gln"]}"' in client.get("/manage/organisation").get_data(as_text=True)
    without_sender = {key: value for key, value in CC_BODY.items() if key != "sender"}
    resp = planner("POST", f"/v2/meetings/{made['uuid']}/care-communication", without_sender)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    message = resp.get_json()
    Bundle.model_validate(message)  # valid FHIR R4
    assert message["type"] == "message"
    resources = {}
    for entry in message["entry"]:
        resource = entry["resource"]
        assert entry["fullUrl"].endswith(f"/{resource['resourceType']}/{resource['id']}")
        resources[f"{resource['resourceType']}/{resource['id']}"] = resource
        assert resource["text"]["status"] == "generated" and resource["text"]["div"].startswith("<div xmlns=")
    header = message["entry"][0]["resource"]
    assert header["resourceType"] == "MessageHeader"
    assert header["eventCoding"] == {"system": "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-eventCodes",
                                     "code": "care-communication-message"}
    sender = resources[header["sender"]["reference"]]
    receiver = resources[header["destination"][0]["receiver"]["reference"]]
    for org, party in ((sender, CC_BODY["sender"]), (receiver, CC_BODY["receiver"])):
        assert {"system": "urn:oid:1.2.208.176.1.1", "value": party["sor"]} in org["identifier"]
        assert {"system": "urn:oid:1.3.88", "value": party["gln"]} in org["identifier"]
    assert sender["name"] == "Demo Kommune" and receiver["name"] == "Hjemmeplejen Nord"
    assert header["source"]["endpoint"].endswith("#id=" + own["sor"])
    communication = resources[header["focus"][0]["reference"]]
    assert communication["status"] == "unknown" and communication["identifier"][0]["value"].startswith("urn:uuid:")
    assert communication["category"] == [{"coding": [{
        "system": "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-careCommunication-categoryCodes",
        "code": "telemedicine"}]}]
    patient = resources[communication["subject"]["reference"]]
    assert patient["identifier"] == [{"system": "urn:oid:1.2.208.176.1.2", "value": "0102031234"}]
    text, attachment = communication["payload"]
    assert "videomøde med Demo Kommune" in text["contentString"] and "Wound" not in text["contentString"]
    assert attachment["contentAttachment"]["title"] and attachment["contentAttachment"]["url"].startswith(
        "https://video.example.dk/m/v-")
    for segment in communication["payload"]:
        assert {e["url"].rsplit("/", 1)[1] for e in segment["extension"]} == {
            "medcom-core-datetime-extension", "medcom-core-identifier-extension"}
    provenance = [r for r in resources.values() if r["resourceType"] == "Provenance"][0]
    assert provenance["target"][0]["reference"] == f"MessageHeader/{header['id']}"
    assert provenance["activity"]["coding"][0]["code"] == "new-message"
    # The link works, belongs to a new link-only invitee, and the CPR number was not kept anywhere.
    path = attachment["contentAttachment"]["url"].replace("https://video.example.dk", "")
    assert client.get(path).status_code == 200
    listed = planner("GET", f"/v2/meetings/{made['uuid']}/invitations").get_json()
    assert [i["name"] for i in listed] == ["Hjemmeplejen Nord"] and listed[0]["mobile"] is None
    # A sender given in the request wins over the organisation's settings.
    given = {"sor": "953741000016999", "gln": "5790000999999"}
    again = planner("POST", f"/v2/meetings/{made['uuid']}/care-communication", {**CC_BODY, "sender": given}).get_json()
    header = again["entry"][0]["resource"]
    sent_from = {f"{r['resourceType']}/{r['id']}": r for r in (e["resource"] for e in again["entry"])}[
        header["sender"]["reference"]]
    assert {"system": "urn:oid:1.2.208.176.1.1", "value": given["sor"]} in sent_from["identifier"]
    assert rows(app, SmsMessage) == []
    with session_for(app) as db:
        from sqlalchemy import text as sql

        for table in ("audit_entry", "invitation", "api_meeting", "meeting"):
            dump = str(db.exec(sql(f"SELECT * FROM {table}")).all())
            assert "0102031234" not in dump and "010203-1234" not in dump, table


def test_care_communication_refusals(app, client, planner):
    uuid = create(planner)["uuid"]
    bad = planner("POST", f"/v2/meetings/{uuid}/care-communication", {**CC_BODY, "cpr": "12345"})
    assert bad.status_code == 400 and bad.get_json()["errorCode"] == 10
    missing = planner("POST", f"/v2/meetings/{uuid}/care-communication", {**CC_BODY, "invitationId": 999})
    assert missing.status_code == 404
    other = Api(client, *make_client(app, ["meeting-planner"], org_slug="anden-kommune"))
    assert other("POST", f"/v2/meetings/{uuid}/care-communication", CC_BODY).status_code == 404
    prov = Api(client, *make_client(app, ["meeting-provisioner"]))
    assert prov("POST", f"/v2/meetings/{uuid}/care-communication", CC_BODY).status_code == 403
    # No sender in the request and none in the organisation's settings; half a sender.
    for sender in ({}, {"sor": CC_BODY["sender"]["sor"]}):
        nobody = planner("POST", f"/v2/meetings/{uuid}/care-communication", {**CC_BODY, "sender": sender})
        assert nobody.status_code == 400 and nobody.get_json()["errorCode"] == 19
        assert "SOR" in nobody.get_json()["errorText"]
    assert rows(app, Invitation) == []


def bad_values(schema: dict, defs: dict) -> list:
    """Values that break a JSON Schema property: wrong types, too long, out of range, not in the list."""
    options = schema.get("anyOf", [schema])
    real = [o for o in options if o.get("type") != "null"]
    if "$ref" in real[0]:
        return [7, "text", [1]]
    kind, first = real[0].get("type"), real[0]
    values = {"string": [12345, True, ["a"]], "boolean": ["yes", 1, None if len(options) == 1 else "true"],
              "integer": ["5", 5.5, True], "array": ["notalist", {"a": 1}, [12345]]}.get(kind, [object()])
    if "maxLength" in first:
        values.append("x" * (first["maxLength"] + 1))
    if "maximum" in first:
        values.append(first["maximum"] + 1)
    if "minimum" in first:
        values.append(first["minimum"] - 1)
    if "enum" in first or "const" in first:
        values.append("bogus")
    return [v for v in values if v is not None]


def test_every_field_refuses_every_kind_of_bad_value_with_the_documented_error(make_app):
    """A property run over the document: each field of create and patch, each bad value → 400 ErrorOut, nothing saved."""
    from mvc.api.schemas import ErrorOut

    app = make_app(API_RATE_PER_MINUTE=100000)
    client = app.test_client()
    planner = Api(client, *make_client(app))

    spec = client.get("/api/v2/openapi.json").get_json()
    defs = spec["components"]["schemas"]
    made = create(planner)
    before = planner("GET", f"/v2/meetings/{made['uuid']}").get_json()
    tried = 0
    for schema_name, method, path, base in (("CreateMeeting", "POST", "/v2/meetings", meeting_body()),
                                            ("MeetingFields", "PATCH", f"/v2/meetings/{made['uuid']}", {})):
        for field, prop in defs[schema_name]["properties"].items():
            for value in bad_values(prop, defs):
                resp = planner(method, path, {**base, field: value})
                assert resp.status_code == 400, (method, field, value, resp.get_data(as_text=True)[:200])
                ErrorOut.model_validate(resp.get_json())
                tried += 1
    assert tried > 100
    assert len(rows(app, Meeting, Meeting.kind == "booked")) == 1
    assert planner("GET", f"/v2/meetings/{made['uuid']}").get_json() == before
