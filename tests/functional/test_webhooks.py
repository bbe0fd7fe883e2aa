"""Webhooks: endpoints over the API, signed Standard Webhooks events from a durable outbox, retries, restarts."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import select

from mvc.api.openapi import model
from mvc.api.webhook_sender import WebhookSender
from mvc.meeting import live_ops
from mvc.models import Meeting, Organisation, SmsMessage, WebhookDelivery
from mvc.sms import service as sms
from tests.api_helpers import Api, make_client, meeting_body
from tests.conftest import base_config, build_app, csrf_from, stop_app, wait_until
from tests.sms_helpers import session_for
from tests.webhook_receiver import Receiver, verify




@pytest.fixture
def make_app(tmp_path):
    apps = []

    def make(**overrides):
        config = base_config(tmp_path, **{"PUBLIC_URL": "https://video.example.dk", "WEBHOOK_ALLOW_HTTP_LOOPBACK": True,
                                          "WEBHOOK_RETRY_SECONDS": 0.0, **overrides})
        app = build_app(config)
        with session_for(app) as db:
            if db.exec(select(Organisation).where(Organisation.slug == "anden-kommune")).first() is None:
                db.add(Organisation(name="Anden Kommune", slug="anden-kommune"))
                db.commit()
        apps.append(app)
        return app

    yield make
    for app in apps:
        if "mvc.webhooks" in app.extensions:
            app.extensions["mvc.webhooks"].stop()
        stop_app(app)


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


def register(api, url: str, **extra):
    resp = api("POST", "/v2/webhooks", {"url": url, **extra})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()


def deliveries(app) -> list[WebhookDelivery]:
    with session_for(app) as db:
        return list(db.exec(select(WebhookDelivery).order_by(WebhookDelivery.id)).all())


def drain(app, sender: WebhookSender | None = None) -> None:
    """Run the sender until nothing is pending (retries are due at once in these tests)."""
    sender = sender or WebhookSender(app)
    wait_until(lambda: sender.run_once() == 0 and all(d.status != "pending" for d in deliveries(app)), timeout=10)


def meeting_now(api) -> dict:
    """A meeting booked through the API that people can join now."""
    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(minutes=1)  # at call time: a suite runs long
    resp = api("POST", "/v2/meetings", meeting_body(start=start))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def join_and_leave(app, api, meeting: dict, name: str = "Karen Jensen") -> None:
    """A citizen joins with their invitation link and leaves; then the meeting is ended."""
    invited = api("POST", f"/v2/meetings/{meeting['uuid']}/invitations",
                  {"send": False, "invitees": [{"name": name, "mobile": "20123456"}]}).get_json()[0]
    citizen = app.test_client()
    path = invited["link"].removeprefix("https://video.example.dk")
    page = citizen.get(path).get_data(as_text=True)
    alias, token = path.split("?t=")[0].removeprefix("/m/"), path.split("?t=")[1]
    resp = citizen.post(f"/m/{alias}", data={"csrf_token": csrf_from(page), "name": name, "t": token})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    live = citizen.get(f"/m/{alias}/live").get_data(as_text=True)
    assert citizen.post(f"/m/{alias}/leave", data={"csrf_token": csrf_from(live)}).status_code == 200
    with app.test_request_context():
        live_ops.end_meeting(_meeting_id(app, alias))  # what the host's "end for everyone" does


def _meeting_id(app, alias: str) -> int:
    with session_for(app) as db:
        return db.exec(select(Meeting.id).where(Meeting.alias == alias)).one()


# -- endpoints over the API ------------------------------------------------------------------------

def test_endpoints_are_registered_listed_and_deleted_and_unsafe_addresses_refused(make_app):
    app = make_app(WEBHOOK_ALLOW_HTTP_LOOPBACK=False)
    client = app.test_client()
    api = Api(client, *make_client(app, ["meeting-user"]))
    made = register(api, "https://hooks.example.dk/mvc", events=["meeting.started", "meeting.ended"])
    assert made["secret"].startswith("whsec_") and made["events"] == ["meeting.started", "meeting.ended"]
    listed = api("GET", "/v2/webhooks").get_json()
    assert [e["url"] for e in listed] == ["https://hooks.example.dk/mvc"] and "secret" not in listed[0]
    assert "secret" not in api("GET", f"/v2/webhooks/{made['id']}").get_json()
    for url in ("http://hooks.example.dk/mvc", "http://127.0.0.1:9/x", "https://10.1.2.3/x", "https://[fe80::1]/x",
                "https://169.254.169.254/latest", "https://localhost/x", "https://user:pw@hooks.example.dk/",
                "ftp://hooks.example.dk/x"):
        resp = api("POST", "/v2/webhooks", {"url": url})
        assert resp.status_code == 400 and resp.get_json()["errorCode"] == 17, url
    assert api("POST", "/v2/webhooks", {"url": "https://x.dk/h", "events": ["meeting.exploded"]}).status_code == 400
    # Another client (even of the same organisation) neither sees nor deletes it.
    other = Api(client, *make_client(app, ["meeting-admin"], name="Cura"))
    assert other("GET", "/v2/webhooks").get_json() == []
    assert other("DELETE", f"/v2/webhooks/{made['id']}").status_code == 404
    assert api("DELETE", f"/v2/webhooks/{made['id']}").status_code == 204
    assert api("GET", f"/v2/webhooks/{made['id']}").status_code == 404
    assert api("GET", "/v2/webhooks").get_json() == []


# -- events ----------------------------------------------------------------------------------------

def test_a_meeting_sends_signed_events_to_a_planner_with_subject_and_names(app, receiver):
    planner = Api(app.test_client(), *make_client(app, ["meeting-planner"]))
    secret = register(planner, receiver.url)["secret"]
    meeting = meeting_now(planner)
    join_and_leave(app, planner, meeting)
    drain(app)
    kinds = [e["type"] for e in receiver.events()]
    assert kinds == ["meeting.started", "participant.joined", "participant.left", "meeting.ended"]
    for request in receiver.requests:
        assert verify(secret, request["headers"], request["body"]), request["headers"]
        assert request["headers"]["content-type"] == "application/json" and request["path"] == "/hooks/mvc"
        assert not verify(secret, request["headers"], request["body"].replace("}", " }", 1))  # a changed body fails
    assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 4
    joined = receiver.events()[1]["data"]
    assert joined["meeting"]["uuid"] == meeting["uuid"] and joined["meeting"]["subject"] == meeting["subject"]
    assert joined["participant"]["name"] == "Karen Jensen" and joined["participant"]["role"] == "guest"
    assert isinstance(joined["participant"]["invitationId"], int)
    assert receiver.events()[3]["data"]["meeting"]["uuid"] == meeting["uuid"]
    # Every body is the one the OpenAPI document describes under "webhooks".
    spec = app.test_client().get("/api/v2/openapi.json").get_json()
    assert set(spec["webhooks"]) == set(kinds) | {"sms.delivered", "sms.failed"}
    for event in receiver.events():
        model("WebhookEvent").model_validate(event)


def test_meeting_user_payload_has_no_names_numbers_or_subject_and_other_organisations_get_nothing(
        make_app, receiver):
    app = make_app()
    http = app.test_client()
    user = Api(http, *make_client(app, ["meeting-user"]))
    secret = register(user, receiver.url)["secret"]
    stranger_receiver = Receiver()
    try:
        stranger = Api(http, *make_client(app, ["meeting-admin"], org_slug="anden-kommune", name="Other"))
        register(stranger, stranger_receiver.url)
        meeting = meeting_now(user)
        resp = user("POST", f"/v2/meetings/{meeting['uuid']}/invitations",
                    {"invitees": [{"name": "Karen Jensen", "mobile": "20 12 34 56"}]})
        assert resp.status_code == 201
        with session_for(app) as db, app.app_context():
            text = db.exec(select(SmsMessage)).one()
            assert sms.apply_report(db, text, "delivered", None)  # what a signed Twilio status callback does
        join_and_leave(app, user, meeting, name="Karen Jensen")
        drain(app)
        kinds = [e["type"] for e in receiver.events()]
        assert kinds == ["sms.delivered", "meeting.started", "participant.joined", "participant.left",
                         "meeting.ended"]
        assert all(verify(secret, r["headers"], r["body"]) for r in receiver.requests)
        everything = " ".join(r["body"] for r in receiver.requests)
        for private in ("Karen", "Jensen", "20123456", "+4520123456", "20 12 34 56", meeting["subject"]):
            assert private not in everything
        assert receiver.events()[0]["data"]["sms"]["status"] == "delivered"
        assert stranger_receiver.requests == []
    finally:
        stranger_receiver.stop()


def test_a_failing_receiver_is_retried_and_gets_each_event_once(make_app):
    app = make_app()
    receiver = Receiver(answers=[500])
    try:
        planner = Api(app.test_client(), *make_client(app, ["meeting-planner"]))
        secret = register(planner, receiver.url, events=["participant.joined"])["secret"]
        join_and_leave(app, planner, meeting_now(planner))
        sender = WebhookSender(app)
        assert sender.run_once() == 1 and deliveries(app)[0].status == "pending"  # the 500
        drain(app, sender)
        assert [r["headers"]["webhook-id"] for r in receiver.requests] == [deliveries(app)[0].event_id] * 2
        assert all(verify(secret, r["headers"], r["body"]) for r in receiver.requests)
        row = deliveries(app)[0]
        assert row.status == "delivered" and row.attempts == 2
        assert sender.run_once() == 0 and len(receiver.requests) == 2  # delivered means never again
    finally:
        receiver.stop()


def test_a_receiver_that_never_answers_well_is_given_up_after_the_attempts(make_app):
    app = make_app(WEBHOOK_ATTEMPTS=3)
    receiver = Receiver(answers=[500, 302, 503, 200])
    try:
        planner = Api(app.test_client(), *make_client(app, ["meeting-planner"]))
        register(planner, receiver.url, events=["meeting.ended"])
        join_and_leave(app, planner, meeting_now(planner))
        drain(app)
        row = deliveries(app)[0]
        assert row.status == "failed" and row.attempts == 3 and row.last_status == 503
        assert len(receiver.requests) == 3  # a redirect is an answer, never followed
    finally:
        receiver.stop()


def test_events_wait_in_the_database_through_a_restart_and_go_out_once(make_app, tmp_path):
    first = make_app()
    down = Receiver()
    url = down.url
    down.stop()  # the receiver is down while the events happen
    planner = Api(first.test_client(), *make_client(first, ["meeting-planner"]))
    secret = register(planner, url)["secret"]
    join_and_leave(first, planner, meeting_now(planner))
    WebhookSender(first).run_once()
    assert {d.status for d in deliveries(first)} == {"pending"} and len(deliveries(first)) == 4
    assert all(d.attempts == 1 and d.last_error for d in deliveries(first))
    stop_app(first)

    receiver = Receiver(port=int(url.split(":")[2].split("/")[0]))
    try:
        # A new app on the same database, with its sender thread and a second process's sender racing it.
        second = make_app(WEBHOOK_THREAD=True, WEBHOOK_INTERVAL=0.02)
        rival = WebhookSender(second, name="other-process")
        rival.start()
        try:
            wait_until(lambda: all(d.status == "delivered" for d in deliveries(second)), timeout=10)
        finally:
            rival.stop()
        assert sorted(r["headers"]["webhook-id"] for r in receiver.requests) == sorted(
            d.event_id for d in deliveries(second))
        assert all(verify(secret, r["headers"], r["body"]) for r in receiver.requests)
    finally:
        receiver.stop()


def test_a_deleted_endpoint_gets_nothing_more(app, receiver):
    planner = Api(app.test_client(), *make_client(app, ["meeting-planner"]))
    made = register(planner, receiver.url)
    join_and_leave(app, planner, meeting_now(planner))
    assert planner("DELETE", f"/v2/webhooks/{made['id']}").status_code == 204
    assert WebhookSender(app).run_once() == 0
    assert receiver.requests == [] and {d.status for d in deliveries(app)} == {"cancelled"}


def test_two_senders_at_once_send_each_event_once(app, receiver):
    planner = Api(app.test_client(), *make_client(app, ["meeting-planner"]))
    register(planner, receiver.url)
    join_and_leave(app, planner, meeting_now(planner))
    senders = [WebhookSender(app, name=f"s{i}") for i in range(3)]
    threads = [threading.Thread(target=s.run_once) for s in senders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    drain(app)
    assert len(receiver.requests) == 4 == len({r["headers"]["webhook-id"] for r in receiver.requests})


def test_an_admin_adds_and_stops_a_webhook_on_the_api_clients_page(make_app):
    from tests.sms_helpers import login, make_staff, post_form

    app = make_app(WEBHOOK_ALLOW_HTTP_LOOPBACK=False)
    client = app.test_client()
    make_staff(app, email="boss@demo.example", roles="host,org-admin")
    login(client, "boss@demo.example")
    client_id, secret = make_client(app, ["meeting-planner"])
    pk = _client_pk(app, client_id)
    refused = post_form(client, "/manage/api-clients", {})  # any page with a CSRF token
    page = client.post(f"/manage/api-clients/{pk}/webhooks",
                       data={"csrf_token": csrf_from(refused.get_data(as_text=True)), "url": "http://hooks.example.dk"})
    assert page.status_code == 422 and "https://" in page.get_data(as_text=True)
    page = client.post(f"/manage/api-clients/{pk}/webhooks", data={"csrf_token": csrf_from(page.get_data(as_text=True)),
                                                                   "url": "https://hooks.example.dk/mvc"})
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    shown = page.get_data(as_text=True).split('id="webhook-secret">')[1].split("<")[0]
    assert shown.startswith("whsec_")
    api = Api(client, client_id, secret)
    listed = api("GET", "/v2/webhooks").get_json()
    assert [e["url"] for e in listed] == ["https://hooks.example.dk/mvc"]
    html = client.get("/manage/api-clients").get_data(as_text=True)
    assert "https://hooks.example.dk/mvc" in html and shown not in html  # the secret is shown only once
    resp = client.post(f"/manage/api-clients/{pk}/webhooks/{listed[0]['id']}/delete",
                       data={"csrf_token": csrf_from(html)})
    assert resp.status_code == 302 and api("GET", "/v2/webhooks").get_json() == []


def _client_pk(app, client_id: str) -> int:
    from mvc.models import ApiClient

    with session_for(app) as db:
        return db.exec(select(ApiClient.id).where(ApiClient.client_id == client_id)).one()


def test_the_address_is_checked_again_when_sending(make_app, receiver):
    """An endpoint whose host now resolves to an internal address (here: loopback, not allowed) gets nothing."""
    app = make_app()
    planner = Api(app.test_client(), *make_client(app, ["meeting-planner"]))
    register(planner, receiver.url, events=["meeting.started"])
    app.config["WEBHOOK_ALLOW_HTTP_LOOPBACK"] = False  # as in production
    join_and_leave(app, planner, meeting_now(planner))
    WebhookSender(app).run_once()
    row = deliveries(app)[0]
    assert receiver.requests == [] and row.status == "pending" and row.last_error == "https only"
    from mvc.api.webhook_sender import Refused, post

    for url in ("https://127.0.0.1:9/x", "https://10.0.0.1/x", "https://[::1]/x", "https://169.254.169.254/",
                "https://[fd00::1]/x", "https://224.0.0.1/x"):
        with pytest.raises(Refused, match="address not allowed"):
            post(url, {}, "{}", 1.0, loopback_ok=False)


def test_a_host_removing_someone_and_ending_over_the_websocket_sends_left_and_ended(app, receiver):
    from tests.conftest import LiveServer, http_join
    from tests.wsclient import Page

    planner = Api(app.test_client(), *make_client(app, ["meeting-planner"]))
    register(planner, receiver.url, events=["participant.left", "meeting.ended"])
    meeting = meeting_now(planner)
    alias = "v-" + meeting["shortId"]
    server = LiveServer(app)
    pages = []
    try:
        host = Page(server.url, alias, http_join(server.url, alias, "Nurse Nina", str(meeting["hostPin"])))
        pages.append(host)
        host.wait_text('data-view="meeting"')
        guest = Page(server.url, alias, http_join(server.url, alias, "Ole Hansen", str(meeting["guestPin"] or "")))
        pages.append(guest)
        guest.wait_text('data-view="meeting"')
        with app.app_context():
            state = live_ops.store().get(_meeting_id(app, alias))
        ole = next(p for p in state.participants.values() if p.name == "Ole Hansen")
        host.send({"action": "remove", "pid": ole.pid})
        host.send({"action": "end"})
        host.wait_text('data-view="ended"')
        wait_until(lambda: len(deliveries(app)) == 2)
    finally:
        for page in pages:
            page.close()
        server.stop()
    drain(app)
    left, ended = receiver.events()
    assert left["type"] == "participant.left" and left["data"]["reason"] == "removed"
    assert left["data"]["participant"]["pid"] == ole.pid and ended["type"] == "meeting.ended"


def test_on_postgresql_racing_senders_post_each_event_once(postgres, tmp_path, receiver):
    """The outbox, the once-only events and the atomic claims on the production database."""
    import time

    url = postgres.fresh_database(f"mvc_webhooks_{time.time_ns()}")
    app = build_app(base_config(tmp_path, DATABASE_URL=url, PUBLIC_URL="https://video.example.dk",
                                WEBHOOK_ALLOW_HTTP_LOOPBACK=True, WEBHOOK_RETRY_SECONDS=0.0))
    try:
        planner = Api(app.test_client(), *make_client(app, ["meeting-planner"]))
        secret = register(planner, receiver.url)["secret"]
        join_and_leave(app, planner, meeting_now(planner))
        senders = [WebhookSender(app, name=f"p{i}") for i in range(4)]
        threads = [threading.Thread(target=s.run_once) for s in senders]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        drain(app)
        ids = [r["headers"]["webhook-id"] for r in receiver.requests]
        assert len(ids) == 4 == len(set(ids))
        assert all(verify(secret, r["headers"], r["body"]) for r in receiver.requests)
    finally:
        stop_app(app)
        app.extensions["mvc.engine"].dispose()


def test_a_text_the_provider_refuses_sends_sms_failed_without_the_number(make_app, receiver):
    from mvc.sms.senders import Outcome

    class Refusing:
        name = "twilio"

        def send(self, to, body, sender, status_callback=None):
            return Outcome("failed", error_code=21211, error="invalid number")

    app = make_app(SMS_SENDER=Refusing())
    planner = Api(app.test_client(), *make_client(app, ["meeting-planner"]))
    register(planner, receiver.url, events=["sms.delivered", "sms.failed"])
    meeting = meeting_now(planner)
    resp = planner("POST", f"/v2/meetings/{meeting['uuid']}/invitations",
                   {"invitees": [{"name": "Karen Jensen", "mobile": "20123456"}]})
    assert resp.status_code == 201 and resp.get_json()[0]["smsStatus"] == "failed"
    drain(app)
    [event] = receiver.events()
    assert event["type"] == "sms.failed" and event["data"]["sms"]["errorCode"] == 21211
    assert event["data"]["sms"]["invitationId"] == resp.get_json()[0]["id"] and "20123456" not in str(event)


def test_a_meeting_user_hears_only_about_the_meetings_it_booked(app, receiver):
    http = app.test_client()
    user = Api(http, *make_client(app, ["meeting-user"], name="Own"))
    register(user, receiver.url)
    planner = Api(http, *make_client(app, ["meeting-planner"], name="Planner"))
    join_and_leave(app, planner, meeting_now(planner))  # the planner's meeting
    mine = meeting_now(user)
    join_and_leave(app, user, mine)
    drain(app)
    assert {e["data"]["meeting"]["uuid"] for e in receiver.events()} == {mine["uuid"]}
    assert len(receiver.events()) == 4


def test_the_command_line_sender_posts_what_is_due(app, receiver, monkeypatch, tmp_path, capsys):
    from mvc.__main__ import main

    planner = Api(app.test_client(), *make_client(app, ["meeting-planner"]))
    register(planner, receiver.url, events=["meeting.ended"])
    join_and_leave(app, planner, meeting_now(planner))
    for name, value in {"DATABASE_URL": app.config["DATABASE_URL"], "LIVE_PATH": str(tmp_path / "cli-live.sqlite"),
                        "REDIS_URL": "", "SECRET_KEY": "cli", "WEBHOOK_ALLOW_HTTP_LOOPBACK": "1",
                        "LOG_LEVEL": "WARNING"}.items():
        monkeypatch.setenv(f"MVC_{name}", value)
    assert main(["webhooks", "--once"]) == 0
    assert capsys.readouterr().out.strip() == "webhooks tried: 1"
    assert [e["type"] for e in receiver.events()] == ["meeting.ended"]
