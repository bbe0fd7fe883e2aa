"""/metrics: Prometheus format for callers with the token, nothing for anyone else."""
from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mvc.models import SmsMessage
from tests.conftest import base_config, build_app, csrf_from

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
