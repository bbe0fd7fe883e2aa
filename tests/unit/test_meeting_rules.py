"""Meeting rules: consent on the word, removals that stick, typed settings, message bounds."""
from __future__ import annotations

import json

import pytest

from mvc.live.state import (KNOCKING, PRESENT, Participant, Removal, RoomState, arrive, give_floor, send_away,
                            set_connected)
from mvc.meeting import inbound
from mvc.models.room import LAYOUTS, MeetingSettings


def room_with(*people: Participant, **settings) -> RoomState:
    state = RoomState(1, {"waiting_room": False, **settings})
    host = Participant(pid="h", name="Host Hanne", role="host")
    arrive(state, host)
    set_connected(state, "h", True)
    for p in people:
        arrive(state, p)
    return state


def test_the_word_switches_on_only_a_raised_hands_microphone():
    state = room_with(Participant(pid="a", name="Anna", mic=False), Participant(pid="b", name="Bo", mic=False))
    state.participants["b"].hand = 1.0
    give_floor(state, state.participants["a"])
    assert not state.participants["a"].mic and state.participants["a"].speak_prompt
    give_floor(state, state.participants["b"])
    b = state.participants["b"]
    assert b.mic and b.floor and b.hand is None and not b.speak_prompt
    assert not state.participants["a"].floor and not state.participants["a"].speak_prompt


def test_someone_removed_knocks_marked_by_invitation_or_browser_and_the_removed_socket_stays_out():
    state = room_with(Participant(pid="a", name="Anna", invitation_id=5, device="dev-1"))
    send_away(state, state.participants["a"])
    send_away(state, Participant(pid="a", name="Anna", invitation_id=5, device="dev-1"))
    assert len(state.removed) == 1
    assert arrive(state, Participant(pid="a", name="Anna"), returning=False) is None
    by_link = arrive(state, Participant(pid="n1", name="Anna", invitation_id=5), returning=False)
    by_browser = arrive(state, Participant(pid="n2", name="A", device="dev-1"))
    stranger = arrive(state, Participant(pid="n3", name="Carl", device="dev-2", invitation_id=6))
    assert (by_link.status, by_link.removed_earlier) == (KNOCKING, True)
    assert (by_browser.status, by_browser.removed_earlier) == (KNOCKING, True)
    assert (stranger.status, stranger.removed_earlier) == (PRESENT, False)


def test_states_written_before_typing_still_load_and_the_json_form_keeps_its_keys():
    old = {"meeting_id": 3, "settings": {"layout": "host_only", "chat": False, "retired_option": 1},
           "participants": {"a": {"pid": "a", "name": "Anna", "retired_field": 2}}, "removed": ["x"], "version": 4}
    state = RoomState.from_dict(old)
    assert state.settings.layout == "host_only" and not state.settings.chat and state.settings.waiting_room
    assert state.removed == [Removal("x")] and state.participants["a"].name == "Anna"
    data = json.loads(json.dumps(state.to_dict()))
    assert data["settings"]["layout"] == "host_only" and data["removed"][0]["pid"] == "x"
    assert RoomState.from_dict(data) == state


def test_live_settings_default_once_from_the_meeting_settings():
    assert RoomState(1).settings == MeetingSettings()
    assert RoomState(1, {"layout": "host_large"}).settings.layout == "host_large"
    assert set(LAYOUTS) == {"tiles", "host_large", "host_only"}


@pytest.mark.parametrize("text, ok", [
    ('{"action": "chat", "text": "[[[[[[[[[[[[{{{{{{{{ \\" ]]]"}', True),  # brackets in strings do not nest
    ('{"type": "candidate", "candidate": {"candidate": "x", "sdpMid": "0"}}', True),
    ("[" * 9 + "]" * 9, False),
    ("[" * 10_000 + "]" * 10_000, False),
    ('{"a": ' * 10_000 + "1" + "}" * 10_000, False),
    ("[1]", False),  # not an object
    ("{nope", False),
    ("{}" + " " * inbound.MAX_CHARS, False),
])
def test_page_messages_are_parsed_with_bounds(text, ok):
    if ok:
        assert isinstance(inbound.parse(text), dict)
    else:
        with pytest.raises(inbound.BadMessage):
            inbound.parse(text)
