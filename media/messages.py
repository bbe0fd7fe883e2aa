"""Typed messages between the web processes and a media worker (newline-delimited JSON)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Union

MAX_LINE = 256 * 1024
MAX_SDP = 64 * 1024
MAX_ID = 64
MAX_CANDIDATE = 2048
MAX_LIST = 64


class MessageError(ValueError):
    """A line that is not a valid message; `pid` names the participant if known."""

    def __init__(self, message: str, pid: str | None = None) -> None:
        super().__init__(message)
        self.pid = pid


@dataclass
class Join:
    room: str
    pid: str
    type: str = "join"


@dataclass
class Offer:
    room: str
    pid: str
    sdp: str
    type: str = "offer"


@dataclass
class Answer:
    room: str
    pid: str
    sdp: str
    type: str = "answer"


@dataclass
class Candidate:
    room: str
    pid: str
    candidate: dict[str, Any] | None
    type: str = "candidate"


@dataclass
class PolicyMsg:
    room: str
    layout: str
    one_way_video: bool
    hosts: list[str] = field(default_factory=list)
    audio_blocked: list[str] = field(default_factory=list)
    video_blocked: list[str] = field(default_factory=list)
    groups: dict[str, str] = field(default_factory=dict)
    screen: str | None = None
    type: str = "policy"


@dataclass
class Keyframe:
    room: str
    pid: str
    type: str = "keyframe"


@dataclass
class Leave:
    room: str
    pid: str
    type: str = "leave"


@dataclass
class CloseRoom:
    room: str
    type: str = "close_room"


@dataclass
class Ping:
    type: str = "ping"


Message = Union[Join, Offer, Answer, Candidate, PolicyMsg, Keyframe, Leave, CloseRoom, Ping]


def _id(obj: dict[str, Any], key: str, pid: str | None) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise MessageError(f"{key} must be a non-empty string", pid)
    if len(value) > MAX_ID:
        raise MessageError(f"{key} longer than {MAX_ID} characters", pid)
    return value


def _sdp(obj: dict[str, Any], pid: str) -> str:
    value = obj.get("sdp")
    if not isinstance(value, str) or not value:
        raise MessageError("sdp must be a non-empty string", pid)
    if len(value) > MAX_SDP:
        raise MessageError(f"sdp larger than {MAX_SDP} bytes", pid)
    if not value.startswith("v=0"):
        raise MessageError("sdp must start with v=0", pid)
    return value


def _ids(obj: dict[str, Any], key: str) -> list[str]:
    value = obj.get(key, [])
    if not isinstance(value, list) or len(value) > MAX_LIST:
        raise MessageError(f"policy.{key} must be a list of at most {MAX_LIST} ids")
    for item in value:
        if not isinstance(item, str) or not item or len(item) > MAX_ID:
            raise MessageError(f"policy.{key} must hold ids of 1-{MAX_ID} characters")
    return value


def _candidate(obj: dict[str, Any], pid: str) -> dict[str, Any] | None:
    value = obj.get("candidate")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise MessageError("candidate must be an object or null", pid)
    if len(json.dumps(value)) > MAX_CANDIDATE:
        raise MessageError("candidate too large", pid)
    if not isinstance(value.get("candidate", ""), str):
        raise MessageError("candidate.candidate must be a string", pid)
    return value


def _policy(obj: dict[str, Any], room: str) -> PolicyMsg:
    policy = obj.get("policy")
    if not isinstance(policy, dict):
        raise MessageError("policy must be an object")
    layout = policy.get("layout", "tiles")
    if layout not in ("tiles", "host_large", "host_only"):
        raise MessageError("policy.layout must be tiles, host_large or host_only")
    one_way = policy.get("one_way_video", False)
    if not isinstance(one_way, bool):
        raise MessageError("policy.one_way_video must be a boolean")
    groups = policy.get("groups", {})
    if not isinstance(groups, dict) or len(groups) > MAX_LIST or not all(
        isinstance(k, str) and 0 < len(k) <= MAX_ID and isinstance(v, str) and 0 < len(v) <= MAX_ID
        for k, v in groups.items()
    ):
        raise MessageError("policy.groups must map participant ids to group names")
    screen = policy.get("screen")
    if screen is not None and (not isinstance(screen, str) or not 0 < len(screen) <= MAX_ID):
        raise MessageError("policy.screen must be a participant id or null")
    return PolicyMsg(
        room=room,
        layout=layout,
        one_way_video=one_way,
        hosts=_ids(policy, "hosts"),
        audio_blocked=_ids(policy, "audio_blocked"),
        video_blocked=_ids(policy, "video_blocked"),
        groups=dict(groups),
        screen=screen,
    )


def _decode(line: bytes) -> dict[str, Any]:
    if len(line) > MAX_LINE:
        raise MessageError(f"line longer than {MAX_LINE} bytes")
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        raise MessageError("not valid JSON") from None
    if not isinstance(obj, dict):
        raise MessageError("a message must be a JSON object")
    return obj


def parse(line: bytes) -> Message:
    """Parse one line into a message; raises MessageError (only) when it is invalid."""
    obj = _decode(line)
    kind = obj.get("type")
    if kind == "ping":
        return Ping()
    if kind not in ("join", "offer", "answer", "candidate", "policy",
                    "keyframe", "leave", "close_room"):
        raise MessageError(f"unknown message type {str(kind)[:MAX_ID]!r}")
    room = _id(obj, "room", None)
    if kind == "policy":
        return _policy(obj, room)
    if kind == "close_room":
        return CloseRoom(room=room)
    pid = _id(obj, "pid", None)
    if kind == "offer":
        return Offer(room=room, pid=pid, sdp=_sdp(obj, pid))
    if kind == "answer":
        return Answer(room=room, pid=pid, sdp=_sdp(obj, pid))
    if kind == "candidate":
        return Candidate(room=room, pid=pid, candidate=_candidate(obj, pid))
    return {"join": Join, "keyframe": Keyframe, "leave": Leave}[kind](room=room, pid=pid)


def encode(msg: Message | dict[str, Any]) -> bytes:
    """One message as a JSON line."""
    obj = msg if isinstance(msg, dict) else asdict(msg)
    if isinstance(msg, PolicyMsg):
        obj = {"type": "policy", "room": msg.room, "policy": {
            k: obj[k] for k in ("layout", "one_way_video", "hosts",
                                "audio_blocked", "video_blocked", "groups", "screen")}}
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def error(message: str, pid: str | None = None) -> dict[str, Any]:
    """The worker's reply to bad input."""
    return {"type": "error", "pid": pid, "message": message}
