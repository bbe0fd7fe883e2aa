"""Strict parsing of web ↔ worker messages, replies and the handshake."""

import json

import pytest

from media.messages import (HOSTS, MAX_ID, MAX_LINE, MAX_LIST, MAX_SDP, ROOM, WEB, Admit, Answer,
                            Candidate, CloseRoom, Hold, Join, Leave, MessageError, Offer, Ping,
                            PolicyMsg, answer, auth, check_auth, encode, error, from_dict, hello,
                            offer, parse, parse_reply, policy_message, policy_refused, pong,
                            room_closed, speaker)

pytestmark = pytest.mark.timeout(10)


def line(**obj) -> bytes:
    return json.dumps(obj).encode()


def test_valid_messages_parse_to_typed_objects():
    assert parse(line(type="join", room="r", pid="p")) == Join(room="r", pid="p")
    assert parse(line(type="join", room="r", pid="p", waiting=True)) == Join("r", "p", waiting=True)
    assert parse(line(type="offer", room="r", pid="p", sdp="v=0", waiting=True)).waiting is True
    assert parse(line(type="admit", room="r", pid="p")) == Admit("r", "p")
    assert parse(line(type="offer", room="r", pid="p", sdp="v=0")) == Offer("r", "p", "v=0")
    assert parse(line(type="answer", room="r", pid="p", sdp="v=0")) == Answer("r", "p", "v=0")
    cand = {"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "sdpMid": "0"}
    assert parse(line(type="candidate", room="r", pid="p", candidate=cand)).candidate == cand
    assert parse(line(type="candidate", room="r", pid="p", candidate=None)) == Candidate("r", "p", None)
    assert parse(line(type="close_room", room="r")) == CloseRoom("r")
    assert parse(b'{"type":"ping"}') == Ping()


def test_policy_round_trips():
    msg = parse(line(type="policy", room="r", policy={
        "layout": "host_only", "one_way_video": True, "hosts": ["h"],
        "audio_blocked": ["g"], "video_blocked": []}))
    assert msg == PolicyMsg("r", "host_only", True, ["h"], ["g"], [])
    assert parse(encode(msg)) == msg


@pytest.mark.parametrize("raw, fragment", [
    (b"{nope", "JSON"),
    (b"[]", "object"),
    (line(type="dance"), "unknown message type"),
    (line(type="join", room="r"), "pid"),
    (line(type="join", room="r", pid=""), "pid"),
    (line(type="join", room="r", pid="x" * (MAX_ID + 1)), f"longer than {MAX_ID}"),
    (line(type="join", room=["r"], pid="p"), "room"),
    (line(type="offer", room="r", pid="p", sdp=5), "sdp"),
    (line(type="join", room="r", pid="p", waiting="no"), "waiting"),
    (line(type="offer", room="r", pid="p", sdp="v=0", waiting=1), "waiting"),
    (line(type="admit", room="r"), "pid"),
    (line(type="offer", room="r", pid="p", sdp="v" * (MAX_SDP + 1)), "larger"),
    (line(type="answer", room="r", pid="p", sdp="nonsense"), "v=0"),
    (line(type="candidate", room="r", pid="p", candidate="x"), "candidate"),
    (line(type="policy", room="r", policy={"layout": "cinema"}), "layout"),
    (line(type="policy", room="r", policy={"one_way_video": "yes"}), "one_way_video"),
    (line(type="policy", room="r", policy={"hosts": "h"}), "hosts"),
    (line(type="policy", room="r", policy={"hosts": [1]}), "hosts"),
    (b"[" * 100000 + b"]" * 100000, ""),
])
def test_invalid_messages_raise_message_error_only(raw, fragment):
    with pytest.raises(MessageError) as err:
        parse(raw)
    assert fragment in str(err.value)


def test_error_names_the_participant_when_known():
    with pytest.raises(MessageError) as err:
        parse(line(type="offer", room="r", pid="p", sdp=""))
    assert err.value.pid == "p"


def test_a_policy_naming_every_participant_of_a_full_room_fits():
    ids = [f"{i:04d}" + "x" * (MAX_ID - 4) for i in range(MAX_LIST)]  # longest ids allowed
    msg = policy_message("r", {"layout": "tiles", "one_way_video": False, "hosts": ids,
                               "audio_blocked": ids, "video_blocked": ids,
                               "groups": {i: "g" * MAX_ID for i in ids}, "screen": ids[0]})
    line = encode(msg)
    assert len(line) <= MAX_LINE
    assert parse(line) == msg
    assert len(parse(encode(policy_message("r", {"audio_blocked": ids[:150]}))).audio_blocked) == 150


def test_a_refused_policy_names_its_room():
    with pytest.raises(MessageError) as err:
        parse(line(type="policy", room="r9", policy={"hosts": ["h"] * (MAX_LIST + 1)}))
    assert err.value.kind == "policy" and err.value.room == "r9"
    with pytest.raises(MessageError):
        policy_message("r9", {"groups": {"p": "x" * (MAX_ID + 1)}})  # the web checks the same way


def test_web_messages_are_built_from_dicts_with_the_same_checks():
    assert from_dict({"type": "leave", "room": "r", "pid": "p"}) == Leave("r", "p")
    assert from_dict({"type": "hold", "room": "r", "reason": "why"}) == Hold("r", "why")
    with pytest.raises(MessageError):
        from_dict({"type": "offer", "room": "r", "pid": "p", "sdp": "nonsense"})


@pytest.mark.parametrize("reply, to", [
    (answer("r", "p", "v=0"), "p"),
    (offer("r", "p", "v=0"), "p"),
    (error("bad", "p", "r"), "p"),
    (error("bad"), WEB),
    (speaker("r", "p"), ROOM),  # every page of the room, not only the speaker's
    (policy_refused("r", "too long"), HOSTS),
    (room_closed("r"), WEB),
    (pong({"rooms": 1}), WEB),
])
def test_worker_replies_name_their_addressee_and_round_trip(reply, to):
    assert reply.to == to
    assert parse_reply(encode(reply)) == reply


@pytest.mark.parametrize("raw", [b'{"type":"answer","pid":"p"}', b'{"type":"launch","to":"p"}', b"[]"])
def test_unknown_replies_are_refused(raw):
    with pytest.raises(MessageError):
        parse_reply(raw)


def test_handshake_accepts_only_the_right_answer_to_this_nonce():
    greeting = hello()
    answer_line = auth("s3cret", encode(greeting))
    assert check_auth("s3cret", greeting["nonce"], answer_line)
    assert not check_auth("other", greeting["nonce"], answer_line)
    assert not check_auth("s3cret", hello()["nonce"], answer_line)  # a replayed answer
    assert not check_auth("s3cret", greeting["nonce"], b'{"type":"join","room":"r","pid":"p"}')
    assert not check_auth("s3cret", greeting["nonce"], b"")
    assert hello()["nonce"] != greeting["nonce"]
