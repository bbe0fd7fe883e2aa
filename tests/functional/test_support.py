"""Pre-call check endpoints and the support pages' access rules."""
from __future__ import annotations

import json

from sqlmodel import select

from mvc.models import SupportCheck
from mvc.support.check import CODE_ALPHABET
from tests import staff
from tests.conftest import csrf_from
from tests.staff import db_outside_app_context  # noqa: F401 - replaces conftest's db here


def post(client, path: str, body: dict):
    token = csrf_from(client.get("/check").get_data(as_text=True).replace("data-csrf=", 'name="csrf_token" value='))
    return client.post(path, json=body, headers={"X-CSRFToken": token})


def test_check_without_a_worker_says_so_and_still_gives_a_code(client, db):
    started = post(client, "/check/start", {}).get_json()
    assert started["id"].startswith("chk-") and started["iceServers"] == []
    assert post(client, "/check/connect", {"id": "../../1", "sdp": "v=0"}).status_code == 400
    assert post(client, "/check/connect", {"id": started["id"], "sdp": "x" * 30_000}).status_code == 400
    refused = post(client, "/check/connect", {"id": started["id"], "sdp": "v=0"})
    assert refused.status_code == 503
    done = post(client, "/check/finish", {"id": started["id"], "results": {
        "camera": "denied", "network": "unavailable", "speaker": "loud", "rtt_ms": 10 ** 9, "loss_pct": 2.25,
        "route": "relay/tcp", "name": "Karen Jensen"}}).get_json()
    code = done["code"]
    assert len(code) == 6 and set(code) <= set(CODE_ALPHABET)
    stored = json.loads(db.exec(select(SupportCheck).where(SupportCheck.code == code)).one().result)
    assert stored == {"camera": "denied", "network": "unavailable", "loss_pct": 2.2, "route": "relay/tcp"}


def test_check_posts_need_the_csrf_token(client):
    assert client.post("/check/start", json={}).status_code == 400


def test_support_pages_are_for_support_staff(client, db):
    staff.make_user(db, "host@demo.example", roles="host")
    staff.login(client, "host@demo.example")
    assert client.get("/support").status_code == 403
    assert client.get("/support/meetings/1").status_code == 403
    assert client.get("/check").status_code == 200  # the check itself is for everyone


def test_support_staff_see_only_their_organisations_meetings(client, db):
    from mvc.models import MeetingRecord

    other = staff.make_org(db, "other-kommune")
    db.add(MeetingRecord(meeting_id=77, organisation_id=other.id))
    db.commit()
    staff.make_user(db, "support@demo.example", roles="support")
    staff.login(client, "support@demo.example")
    assert client.get("/support").status_code == 200
    assert client.get("/support/meetings/77").status_code == 404
