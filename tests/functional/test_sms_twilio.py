"""The real twilio client against a local fake API: sending, failures, retries and delivery reports."""
from __future__ import annotations

import re

import pytest
from sqlmodel import select
from twilio.request_validator import RequestValidator

from mvc.models import Meeting, SmsMessage
from mvc.sms.senders import TwilioSender
from tests.conftest import base_config, build_app, csrf_from
from tests.fake_twilio import FakeTwilio, LocalHttpClient
from tests.sms_helpers import login, make_staff, post_form, session_for

PUBLIC = "https://video.example.dk"
TOKEN = "auth-token-for-tests"


@pytest.fixture
def fake():
    server = FakeTwilio()
    yield server
    server.stop()


@pytest.fixture
def app(tmp_path, fake):
    sender = TwilioSender("AC" + "0" * 32, TOKEN, "+4570000000",
                          http_client=LocalHttpClient(fake.url, timeout=0.5))
    app = build_app(base_config(tmp_path, SMS_BACKEND="twilio", SMS_SENDER=sender, PUBLIC_URL=PUBLIC,
                                TWILIO_AUTH_TOKEN=TOKEN, SMS_ATTEMPTS=3))
    make_staff(app)
    yield app
    app.extensions["mvc.live"].close()


def start_meeting(client, *numbers):
    login(client)
    return post_form(client, "/sms-video", {"name": ["Karen Jensen"] * len(numbers), "phone": list(numbers)})


def messages(app) -> list[SmsMessage]:
    with session_for(app) as db:
        return list(db.exec(select(SmsMessage).order_by(SmsMessage.id)).all())


def test_sends_through_twilio_with_the_organisations_sender_and_a_signed_link(app, client, fake, caplog):
    caplog.set_level("INFO")
    resp = start_meeting(client, "20 12 34 56")
    with session_for(app) as db:
        meeting = db.exec(select(Meeting)).one()
    assert resp.status_code == 302 and resp.headers["Location"] == f"/m/{meeting.alias}"
    [req] = fake.requests
    form = req["form"]
    assert req["path"].endswith("/Messages.json") and req["auth"].startswith("Basic ")
    assert form["To"] == "+4520123456" and form["From"] == "DemoKommune"
    assert form["Body"].startswith("Demo Kommune") and f"{PUBLIC}/m/{meeting.alias}?t=" in form["Body"]
    assert form["StatusCallback"] == f"{PUBLIC}/sms/status/1"
    [msg] = messages(app)
    assert msg.status == "sent" and msg.provider_sid == "SM" + "1".zfill(32) and msg.attempts == 1
    # Logs never hold the number in clear nor the text.
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "sms_sent" in logged and "20123456" not in logged and "invites you" not in logged


def test_invalid_number_is_not_retried_and_the_host_is_told(app, client, fake):
    fake.script = [("error", 400, 21211)]
    resp = start_meeting(client, "20 12 34 56")
    assert len(fake.requests) == 1
    [msg] = messages(app)
    assert msg.status == "failed" and msg.error_code == 21211 and msg.attempts == 1
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "/bookings/" in resp.headers["Location"]
    assert "not a valid mobile number" in page and "Send the text again" in page and "Failed" in page


def test_server_errors_are_retried_with_backoff_until_sent(app, client, fake):
    fake.script = [("error", 500, 20500), ("error", 503, None)]
    resp = start_meeting(client, "20 12 34 56")
    assert len(fake.requests) == 3
    [msg] = messages(app)
    assert msg.status == "sent" and msg.attempts == 3
    assert resp.headers["Location"].startswith("/m/")


def test_lasting_server_errors_fail_after_the_last_try_and_can_be_resent(app, client, fake):
    fake.script = [("error", 500, 20500)] * 3
    resp = start_meeting(client, "20 12 34 56")
    assert len(fake.requests) == 3
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "could not be delivered" in page
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    resend = re.search(r'action="([^"]+/resend)"', html).group(1)
    client.post(resend, data={"csrf_token": csrf_from(html)})
    assert len(fake.requests) == 4 and messages(app)[-1].status == "sent"


def test_timeouts_are_retried(app, client, fake):
    fake.script = [("slow", 1.0)]
    start_meeting(client, "20 12 34 56")
    [msg] = messages(app)
    assert msg.status == "sent" and msg.attempts == 2


def test_lasting_timeouts_are_shown_to_the_host(app, client, fake):
    fake.script = [("slow", 1.0)] * 3
    resp = start_meeting(client, "20 12 34 56")
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "did not answer in time" in page
    assert messages(app)[0].error == "timeout"


def report(client, message_id: int, sid: str, status: str, token: str = TOKEN, **extra):
    url = f"{PUBLIC}/sms/status/{message_id}"
    params = {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC" + "0" * 32, **extra}
    signature = RequestValidator(token).compute_signature(url, params)
    return client.post(f"/sms/status/{message_id}", data=params, headers={"X-Twilio-Signature": signature})


def test_signed_status_callbacks_update_delivery_state_once(app, client, fake):
    start_meeting(client, "20 12 34 56")
    [msg] = messages(app)
    assert report(client, msg.id, msg.provider_sid, "sent").status_code == 204
    assert messages(app)[0].status == "sent"
    assert report(client, msg.id, msg.provider_sid, "delivered").status_code == 204
    assert messages(app)[0].status == "delivered"
    # A repeat, and a late "sent" arriving after "delivered", change nothing.
    assert report(client, msg.id, msg.provider_sid, "delivered").status_code == 204
    assert report(client, msg.id, msg.provider_sid, "sent").status_code == 204
    assert messages(app)[0].status == "delivered"
    html = client.get(f"/bookings/{msg.meeting_id}").get_data(as_text=True)
    assert "Delivered" in html


def test_failed_delivery_report_is_recorded(app, client, fake):
    start_meeting(client, "20 12 34 56")
    [msg] = messages(app)
    assert report(client, msg.id, msg.provider_sid, "failed", ErrorCode="30003").status_code == 204
    msg = messages(app)[0]
    assert msg.status == "failed" and msg.error_code == 30003


def test_forged_callbacks_are_refused(app, client, fake):
    start_meeting(client, "20 12 34 56")
    [msg] = messages(app)
    assert report(client, msg.id, msg.provider_sid, "delivered", token="wrong-token").status_code == 403
    unsigned = client.post(f"/sms/status/{msg.id}", data={"MessageSid": msg.provider_sid,
                                                          "MessageStatus": "delivered"})
    assert unsigned.status_code == 403
    assert messages(app)[0].status == "sent"
    # Signed, but naming another message's sid.
    assert report(client, msg.id, "SM" + "9" * 32, "delivered").status_code == 404
