"""/healthz: ok / not ok per part for anyone, details only with the health token."""
from __future__ import annotations

import pytest

from tests.conftest import base_config, build_app


@pytest.fixture
def token_app(tmp_path):
    app = build_app(base_config(tmp_path, HEALTH_TOKEN="health-token-for-tests"))
    yield app
    app.extensions["mvc.media"].stop()
    app.extensions["mvc.live"].close()


def test_anonymous_callers_get_only_ok_per_part(token_app):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "health-token-for-tests"}):
        resp = token_app.test_client().get("/healthz", headers=headers)
        assert resp.status_code == 200
        assert resp.get_json() == {"ok": True, "database": {"ok": True}, "live": {"ok": True},
                                   "media": {"ok": True}}


def test_the_token_shows_the_details(token_app):
    resp = token_app.test_client().get("/healthz", headers={"Authorization": "Bearer health-token-for-tests"})
    body = resp.get_json()
    assert body["ok"] is True and body["database"]["dialect"] == "sqlite"
    assert "workers" in body["media"]


def test_without_a_configured_token_nobody_gets_details(client):
    resp = client.get("/healthz", headers={"Authorization": "Bearer "})
    assert resp.get_json()["media"] == {"ok": True}


def test_worker_addresses_and_meeting_ids_stay_private_with_a_real_worker(tmp_path):
    from media.messages import Join

    app = build_app(base_config(tmp_path, MEDIA_WORKERS=1, HEALTH_TOKEN="t0ken"))
    try:
        pool = app.extensions["mvc.media"]
        pool.send(Join(room="4711", pid="p"))
        address = next(iter(pool.health()["workers"].values()))["address"]
        anonymous = app.test_client().get("/healthz").get_data(as_text=True)
        assert address not in anonymous and "4711" not in anonymous
        detailed = app.test_client().get("/healthz", headers={"Authorization": "Bearer t0ken"})
        assert address in detailed.get_data(as_text=True) and "4711" in detailed.get_data(as_text=True)
    finally:
        app.extensions["mvc.media"].stop()
        app.extensions["mvc.live"].close()
