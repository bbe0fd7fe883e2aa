"""The web side of the media link: replies reach the pages they name, and a policy the
media server would refuse is never silent (the worker holds, the hosts are told)."""
from __future__ import annotations

from flask import render_template

from media import messages as m
from mvc.live.state import HOST, Participant
from mvc.meeting import live_ops

MEETING = 41


def pages(hub, room: int, *pids: str) -> dict[str, list]:
    """Register a fake page for each pid; returns pid → what it was handed."""
    inboxes: dict[str, list] = {pid: [] for pid in pids}
    for pid in pids:
        hub.register(room, pid, inboxes[pid].append)
    return inboxes


def seat(app, *people: Participant):
    """Put people in the live meeting; returns the state."""
    def place(state):
        for p in people:
            state.participants[p.pid] = p
    state, _ = app.extensions["mvc.live"].update(MEETING, place, settings={})
    return state


def test_a_speaker_event_reaches_every_page_of_the_room_and_an_answer_only_its_own(app):
    hub = app.extensions["mvc.hub"]
    inbox = pages(hub, MEETING, "anna", "bo", "carl")
    elsewhere = pages(hub, MEETING + 1, "dora")
    hub.deliver(m.speaker(str(MEETING), "anna"))
    for pid in ("anna", "bo", "carl"):
        assert inbox[pid] == [{"kind": "media", "msg": {"type": "speaker", "to": m.ROOM,
                                                         "room": str(MEETING), "pid": "anna"}}]
    hub.deliver(m.answer(str(MEETING), "bo", "v=0"))
    assert [i["msg"]["type"] for i in inbox["bo"]] == ["speaker", "answer"]
    assert len(inbox["anna"]) == len(inbox["carl"]) == 1 and elsewhere["dora"] == []


def test_a_policy_refused_by_the_worker_is_shown_to_the_hosts_only(app):
    hub = app.extensions["mvc.hub"]
    seat(app, Participant(pid="host", name="Nina", role=HOST), Participant(pid="guest", name="Karen"))
    inbox = pages(hub, MEETING, "host", "guest")
    hub.deliver(m.policy_refused(str(MEETING), "policy.hosts must be a list of at most 1000 ids"))
    assert [i["kind"] for i in inbox["host"]] == ["notice"]
    assert inbox["guest"] == []
    with app.test_request_context(headers={"Accept-Language": "da"}):
        html = render_template("meeting/_notice.html", text=inbox["host"][0]["text"],
                               sender=inbox["host"][0]["from"])
    assert "Medieserveren kunne ikke gennemføre" in html and "medieserveren" in html


def test_a_policy_the_web_cannot_build_makes_the_worker_hold_and_tells_the_hosts(app, media):
    hub = app.extensions["mvc.hub"]
    state = seat(app, Participant(pid="host", name="Nina", role=HOST),
                 Participant(pid="guest", name="Karen", mic=False, group="x" * (m.MAX_ID + 1)))
    inbox = pages(hub, MEETING, "host", "guest")
    with app.app_context():
        live_ops.sync_policy(MEETING, state)
    assert media.sent() == [{"type": "hold", "room": str(MEETING),
                             "reason": "policy.groups must map participant ids to group names"}]
    assert [i["kind"] for i in inbox["host"]] == ["notice"] and inbox["guest"] == []

    state.participants["guest"].group = "Gruppe 1"
    with app.app_context():
        live_ops.sync_policy(MEETING, state)
    assert media.last_policy(MEETING)["audio_blocked"] == ["guest"]


def test_signalling_the_worker_would_refuse_is_answered_on_the_web_side(app, media):
    inbox = pages(app.extensions["mvc.hub"], MEETING, "guest")
    with app.app_context():
        live_ops.to_media(MEETING, {"type": "offer", "pid": "guest", "sdp": "x" * 10})
        live_ops.to_media(MEETING, {"type": "join", "pid": "guest"})
    assert media.sent() == [{"type": "join", "room": str(MEETING), "pid": "guest", "waiting": False}]
    assert inbox["guest"][0]["msg"]["type"] == "error"


def test_a_page_holding_an_older_state_never_sends_the_worker_an_older_policy(app, media):
    stale = seat(app, Participant(pid="host", name="Nina", role=HOST), Participant(pid="guest", name="Karen"))

    def ban_cameras(state):
        state.participants["guest"].cam = False

    newer, _ = app.extensions["mvc.live"].update(MEETING, ban_cameras)
    with app.app_context():
        live_ops.sync_policy(MEETING, newer)  # the host's action
        live_ops.sync_policy(MEETING, stale)  # a page that started media with the state before it
    assert media.last_policy(MEETING)["video_blocked"] == ["guest"]
