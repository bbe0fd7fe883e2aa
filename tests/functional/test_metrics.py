"""/metrics: Prometheus format for callers with the token, nothing for anyone else."""
from __future__ import annotations

import time

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import select

from mvc.models import MailMessage, Room, SmsMessage
from tests.conftest import LiveServer, base_config, build_app, csrf_from, http_join, stop_app
from tests.wsclient import Page

TOKEN = "s3cret-metrics-token"


@pytest.fixture
def app(tmp_path):
    app = build_app(base_config(tmp_path, METRICS_TOKEN=TOKEN))
    yield app
    app.extensions["mvc.media"].stop()
    app.extensions["mvc.live"].close()


def samples(text: str) -> dict:
    """{(name, frozenset(labels)): value} from the exposition text, parsed by prometheus-client."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_refuse_anonymous_and_wrong_tokens(client):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": "Basic " + TOKEN}):
        resp = client.get("/metrics", headers=headers)
        assert resp.status_code == 401, headers
        assert "mvc_" not in resp.get_data(as_text=True)


def test_metrics_without_a_configured_token_refuse_everyone(tmp_path):
    app = build_app(base_config(tmp_path))
    try:
        assert app.test_client().get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401
    finally:
        app.extensions["mvc.media"].stop()
        app.extensions["mvc.live"].close()


def test_metrics_parse_and_count_joins_refusals_meetings_and_sms(app, client):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    before = samples(client.get("/metrics", headers=auth).get_data(as_text=True))
    page = client.get("/m/demo")
    client.post("/m/demo", data={"csrf_token": csrf_from(page.get_data(as_text=True)), "name": "Karen", "pin": "1"})
    client.post("/m/demo", data={"csrf_token": csrf_from(page.get_data(as_text=True)), "name": "Karen"})
    client.get("/m/demo/live")
    client.get("/m/no-such-room")
    with app.app_context():
        from mvc import db

        s = db.session()
        s.add(SmsMessage(organisation_id=1, to="+4511111111", body="x", status="delivered"))
        s.commit()
    resp = client.get("/metrics", headers=auth)
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    after = samples(resp.get_data(as_text=True))

    def grew(name: str, **labels) -> float:
        key = (name, frozenset(labels.items()))
        return after.get(key, 0) - before.get(key, 0)

    assert grew("mvc_joins_total", role="guest", via="link") == 1
    assert grew("mvc_join_refusals_total", reason="pin_wrong") == 1
    assert grew("mvc_join_refusals_total", reason="unknown") == 1
    assert after[("mvc_live_meetings", frozenset())] == 1
    assert after[("mvc_live_participants", frozenset({("status", "waiting")}))] + \
        after[("mvc_live_participants", frozenset({("status", "present")}))] == 1
    assert after[("mvc_sms_messages_total", frozenset({("status", "delivered")}))] == 1
    assert ("mvc_open_websockets", frozenset()) in after
    assert after[("process_cpu_seconds_total", frozenset())] > 0


def test_metrics_show_the_media_worker_mail_outcomes_and_reconnects(tmp_path):
    """A real media worker's figures, e-mail outcomes and a page that reconnected, as an operator scrapes them."""
    app = build_app(base_config(tmp_path, METRICS_TOKEN=TOKEN, MEDIA_WORKERS=1, ICE_LOOPBACK_ONLY=True))
    server = LiveServer(app)
    try:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        before = samples(app.test_client().get("/metrics", headers=auth).get_data(as_text=True))
        with app.app_context():
            from mvc import db

            s = db.session()
            s.add_all([MailMessage(to="karen@example.org", subject="x", body="x", status="sent"),
                       MailMessage(to="bo@example.org", subject="x", body="x", status="failed")])
            s.commit()
            pin = s.exec(select(Room.host_pin).where(Room.alias == "demo")).one()
        host = http_join(server.url, "demo", "Nurse Nina", pin)
        for _ in range(2):  # the page's websocket closes and opens again: a reconnect
            page = Page(server.url, "demo", host)
            page.wait_text('data-view="meeting"')
            page.close()
        deadline = time.monotonic() + 10
        while True:
            after = samples(app.test_client().get("/metrics", headers=auth).get_data(as_text=True))
            worker = {labels: value for (name, labels), value in after.items() if name == "mvc_worker_cpu_seconds"}
            if (worker and after.get(("mvc_reconnects_total", frozenset()), 0) > before.get(("mvc_reconnects_total", frozenset()), 0)) \
                    or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert list(worker.values()) and all(v > 0 for v in worker.values())
        assert [v for (name, _), v in after.items() if name == "mvc_worker_up"] == [1]
        for figure in ("packets_in", "packets_out", "packets_dropped", "nacks_sent", "keyframe_requests"):
            assert any(name == f"mvc_worker_{figure}" for name, _ in after), figure
        assert after[("mvc_mail_messages_total", frozenset({("status", "sent")}))] == 1
        assert after[("mvc_mail_messages_total", frozenset({("status", "failed")}))] == 1
        assert after[("mvc_reconnects_total", frozenset())] - before.get(("mvc_reconnects_total", frozenset()), 0) == 1
    finally:
        server.stop()
        stop_app(app)
