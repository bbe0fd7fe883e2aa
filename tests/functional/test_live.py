"""The live page over websockets: waiting room, host arrival, bad frames, origin."""
from __future__ import annotations

import json
import time

import pytest
import websocket

from mvc.meeting import live_ops
from mvc.meeting.connection import RATE_BURST
from tests.conftest import booked_meeting, http_join
from tests.wsclient import Page


@pytest.fixture
def pin(demo_room):
    return demo_room.host_pin


def join(live_server, name, pin="", lang="en"):
    s = http_join(live_server.url, "demo", name, pin)
    s.get(f"{live_server.url}/lang/{lang}")
    return s


def test_guest_waits_then_moves_in_when_host_arrives(live_server, pin):
    guest_http = join(live_server, "Karen Jensen")
    guest = Page(live_server.url, "demo", guest_http)
    guest.wait_text("The meeting has not started yet")
    # Media connects in the waiting room already (the worker forwards nothing to or from it).
    start = guest.wait_for(lambda t: t.startswith("{") and json.loads(t).get("action") == "start")
    assert json.loads(start)["waiting"] is True and json.loads(start)["iceServers"] == []

    host_http = join(live_server, "Nurse Nina", pin)
    host = Page(live_server.url, "demo", host_http)
    host.wait_text('data-view="meeting"')
    assert json.loads(host.wait_for(lambda t: '"action": "start"' in t))["waiting"] is False

    # The guest's page changes by itself: the meeting stage replaces the waiting room, and
    # the connection made while waiting is let in (no new one is started).
    guest.wait_text('data-view="meeting"')
    guest.wait_for(lambda t: t.startswith("{") and json.loads(t).get("action") == "admit")
    assert [m.get("action") for m in guest.json_messages() if m.get("type") == "media"] == ["start", "admit"]
    # Both see each other in the name list.
    host.wait_for(lambda t: 'id="people"' in t and "Karen Jensen" in t)
    guest.wait_for(lambda t: 'id="people"' in t and "Nurse Nina" in t)
    guest.close()
    host.close()


def test_a_waiting_page_cannot_let_itself_in(live_server, pin):
    guest = Page(live_server.url, "demo", join(live_server, "Waiting Will"))
    guest.wait_text("The meeting has not started yet")
    pid = json.loads(guest.wait_for(lambda t: '"action": "start"' in t))["pid"]
    guest.send({"type": "admit", "pid": pid})  # the worker's message, not the page's
    guest.send({"action": "admit", "pid": pid})  # a host's action
    guest.send({"type": "offer", "sdp": "v=0", "waiting": False})  # the server decides that
    guest.wait_text("You are not in the meeting right now.")
    guest.drain(1.0)
    assert [m.get("action") for m in guest.json_messages() if m.get("type") == "media"] == ["start"]
    assert 'data-view="meeting"' not in "".join(guest.received)
    guest.close()


def test_reconnect_gets_full_snapshot_and_same_place(live_server, pin):
    host_http = join(live_server, "Nurse Nina", pin)
    host = Page(live_server.url, "demo", host_http)
    host.wait_text('data-view="meeting"')
    host.close()
    again = Page(live_server.url, "demo", host_http)
    again.wait_text('data-view="meeting"')
    again.wait_for(lambda t: 'id="people"' in t and "Nurse Nina" in t)
    again.close()


def test_bad_frames_get_a_clear_answer_and_change_nothing(live_server, pin):
    host = Page(live_server.url, "demo", join(live_server, "Nurse Nina", pin))
    host.wait_text('id="people"')
    host.send("this is not json")
    host.wait_text("did not understand")
    host.send(json.dumps([1, 2, 3]))
    host.send({"action": "no-such-action"})
    host.send({"action": {"nested": True}})
    host.send({"type": "offer", "sdp": 12})
    host.wait_text("sdp must be a string")
    # Still alive and serving:
    host.send({"action": "mic", "on": False})
    host.wait_for(lambda t: 'id="controls"' in t and "Microphone off" in t)
    host.close()


def test_oversized_frame_closes_that_socket_and_the_page_comes_back(live_server, pin):
    host_http = join(live_server, "Nurse Nina", pin)
    host = Page(live_server.url, "demo", host_http)
    host.wait_text('id="people"')
    host.send("x" * (200 * 1024))
    assert host.wait_closed() == 1009  # "message too big"
    # The page reconnects to the same place, and others still get in.
    again = Page(live_server.url, "demo", host_http)
    again.wait_text('data-view="meeting"')
    other = Page(live_server.url, "demo", join(live_server, "Guest Gunnar"))
    other.wait_text('data-view="meeting"')
    again.wait_for(lambda t: 'id="people"' in t and "Guest Gunnar" in t)
    other.close()
    again.close()


def test_flood_closes_the_socket_and_the_server_survives(live_server, pin):
    host_http = join(live_server, "Nurse Nina", pin)
    host = Page(live_server.url, "demo", host_http)
    host.wait_text('id="people"')
    for _ in range(RATE_BURST + 5):
        host.send({"action": "hand", "on": False})
    assert host.wait_closed() == 1008  # policy violation
    assert any("Too many messages" in t for t in host.received)
    again = Page(live_server.url, "demo", host_http)
    again.wait_text('data-view="meeting"')
    again.close()


def test_foreign_origin_is_refused(live_server, pin):
    session = join(live_server, "Nurse Nina", pin)
    with pytest.raises(websocket.WebSocketException):
        page = Page(live_server.url, "demo", session, origin="https://evil.example")
        page.ws.settimeout(2)
        page.ws.recv()
        page.ws.recv()


def test_socket_without_joining_is_told_so(live_server):
    import requests

    session = requests.Session()
    session.get(f"{live_server.url}/lang/en")
    page = Page(live_server.url, "demo", session)
    page.wait_text("have not joined")


def test_name_list_shows_who_is_invited_until_they_arrive(live_server, db, demo_room):
    from mvc.security import make_invite_token

    meeting, inv = booked_meeting(db, demo_room.organisation_id, "booked-2")
    host = Page(live_server.url, "booked-2", http_join(live_server.url, "booked-2", "Nurse Nina", "111111"))
    host.wait_for(lambda t: 'id="people"' in t and "Ole Hansen" in t and 'class="invited"' in t)
    with live_server.app.test_request_context():
        token = make_invite_token(inv.id, meeting.id)
    ole = Page(live_server.url, "booked-2", http_join(live_server.url, "booked-2", "Ole Hansen", token=token))
    ole.wait_text('data-view="meeting"')
    # Arrived: listed as present, no longer as invited.
    html = host.wait_for(lambda t: 'id="people"' in t and 'class="invited"' not in t and "Ole Hansen" in t)
    assert "person-" in html
    ole.close()
    host.close()


def test_ending_the_meeting_leaves_nothing_of_it_in_the_web_process(live_server, pin):
    from mvc.live import room_key

    store = live_server.app.extensions["mvc.live"]
    host = Page(live_server.url, "demo", join(live_server, "Nurse Nina", pin))
    host.wait_text('data-view="meeting"')
    guest = Page(live_server.url, "demo", join(live_server, "Karen Jensen"))
    guest.wait_text('data-view="meeting"')
    guest.send({"action": "chat", "text": "See you next week"})
    host.wait_text("See you next week")
    [meeting_id] = store.rooms()
    guest_pid = next(pid for pid, p in store.get(meeting_id).participants.items() if p.name == "Karen Jensen")
    assert store.count(room_key(meeting_id, "chat", guest_pid), 60) == 1

    host.send({"action": "end"})
    for page in (host, guest):
        page.wait_text('data-view="ended"')
        assert page.wait_closed() == 1000  # the server closes the socket after the last view
    assert store.get(meeting_id) is None and store.rooms() == []
    assert store.read_log(meeting_id) == []
    # A late step of the ended meeting (a page closing, a timer) does not bring it back.
    with live_server.app.app_context():
        live_ops.set_connected(meeting_id, guest_pid, False)
    assert store.get(meeting_id) is None
    assert store.count(room_key(meeting_id, "chat", guest_pid), 60) == 0
    deadline = time.time() + 5
    while store.subscribers(meeting_id):  # each page's handler unsubscribes as its socket closes
        assert time.time() < deadline, "a page still listens to the ended meeting"
        time.sleep(0.02)
    # Chat lives only as long as the meeting: the room's next meeting starts empty.
    again = Page(live_server.url, "demo", join(live_server, "Nurse Nina", pin))
    snap = again.wait_text('data-view="meeting"')
    assert "See you next week" not in snap
    again.close()
