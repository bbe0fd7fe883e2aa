"""Short-lived TURN credentials in the coturn REST-API scheme (HMAC-SHA1 of "expiry:user")."""
from __future__ import annotations

import base64
import hashlib
import hmac
import time

from mvc.meeting.live_ops import ice_servers


def test_turn_credentials_are_short_lived_and_verifiable(app):
    app.config.update(TURN_SECRET="s3cret", TURN_URLS="turn:turn.example.dk:3478,turns:turn.example.dk:5349",
                      ICE_SERVERS=[{"urls": "stun:stun.example.dk"}])
    with app.app_context():
        servers = ice_servers("pid123")
    assert servers[0] == {"urls": "stun:stun.example.dk"}
    turn = servers[1]
    assert turn["urls"] == ["turn:turn.example.dk:3478", "turns:turn.example.dk:5349"]
    expiry, user = turn["username"].split(":")
    assert user == "pid123" and 0 < int(expiry) - time.time() <= 3600
    expected = base64.b64encode(hmac.new(b"s3cret", turn["username"].encode(), hashlib.sha1).digest()).decode()
    assert turn["credential"] == expected


def test_no_turn_without_a_secret(app):
    with app.app_context():
        assert ice_servers("p") == []
