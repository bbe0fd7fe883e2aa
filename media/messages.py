"""Typed messages between the web processes and a media worker (newline-delimited JSON).

Both sides build and parse with this module: the web with `from_dict`/`encode` (so a
message the worker would refuse is caught before it is sent) and `parse_reply`, the
worker with `parse` and the reply builders below. Every worker → web message names its
addressee in `to`: a participant id, `ROOM` (every page of the room), `HOSTS` (the
room's hosts) or `WEB` (the web process itself, e.g. `pong`, `room_closed`).

A connection starts with the handshake (see `hello`, `auth`, `check_auth`); nothing else
is accepted before it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Union

MAX_LIST = 1000  # ids in one policy list: at least a room's participants (plan.MAX_PARTICIPANTS)
MAX_ID = 64
MAX_LINE = 1024 * 1024  # fits a policy with MAX_LIST ids in every list and group map
MAX_SDP = 64 * 1024
MAX_CANDIDATE = 2048
LAYOUTS = ("tiles", "host_large", "host_only")

ROOM = "*"  # `to` for every page of the room
HOSTS = "hosts"  # `to` for the room's hosts (the web decides who they are)
WEB = "web"  # `to` for the web process itself

PROTOCOL = "mvc-media-1"
AUTH_TIMEOUT = 3.0  # seconds a new connection has to authenticate


class MessageError(ValueError):
    """A line that is not a valid message; `pid` names the participant if known."""

    def __init__(self, message: str, pid: str | None = None, room: str | None = None,
                 kind: str | None = None) -> None:
        super().__init__(message)
        self.pid = pid
        self.room = room
        self.kind = kind


# -- web → worker -----------------------------------------------------------------
@dataclass
class Join:
    """A participant's media connection is coming. `waiting`: from the waiting room, so it
    is connected (ICE, DTLS) but nothing is forwarded to or from it until `Admit`."""

    room: str
    pid: str
    waiting: bool = False
    type: str = "join"


@dataclass
class Offer:
    room: str
    pid: str
    sdp: str
    waiting: bool = False  # as Join's, for the peer this offer starts if there is none
    type: str = "offer"


@dataclass
class Admit:
    """A participant whose media connected in the waiting room is let into the meeting."""

    room: str
    pid: str
    type: str = "admit"


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
class Hold:
    """The web could not build a valid policy: the worker must fail closed for the room."""

    room: str
    reason: str = ""
    type: str = "hold"


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


Message = Union[Join, Admit, Offer, Answer, Candidate, PolicyMsg, Hold, Keyframe, Leave, CloseRoom, Ping]
POLICY_FIELDS = ("layout", "one_way_video", "hosts", "audio_blocked", "video_blocked",
                 "groups", "screen")


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
    return list(value)


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
    try:
        return _policy_fields(obj.get("policy"), room)
    except MessageError as exc:
        raise MessageError(str(exc), room=room, kind="policy") from None


def _policy_fields(policy: Any, room: str) -> PolicyMsg:
    if not isinstance(policy, dict):
        raise MessageError("policy must be an object")
    layout = policy.get("layout", "tiles")
    if layout not in LAYOUTS:
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
    return from_dict(_decode(line))


def from_dict(obj: dict[str, Any]) -> Message:
    """Check one decoded message and make it typed; raises MessageError when invalid."""
    kind = obj.get("type")
    if kind == "ping":
        return Ping()
    if kind not in ("join", "admit", "offer", "answer", "candidate", "policy", "hold",
                    "keyframe", "leave", "close_room"):
        raise MessageError(f"unknown message type {str(kind)[:MAX_ID]!r}")
    room = _id(obj, "room", None)
    if kind == "policy":
        return _policy(obj, room)
    if kind == "hold":
        return Hold(room=room, reason=str(obj.get("reason", ""))[:300])
    if kind == "close_room":
        return CloseRoom(room=room)
    pid = _id(obj, "pid", None)
    if kind == "offer":
        return Offer(room=room, pid=pid, sdp=_sdp(obj, pid), waiting=_waiting(obj, pid))
    if kind == "join":
        return Join(room=room, pid=pid, waiting=_waiting(obj, pid))
    if kind == "answer":
        return Answer(room=room, pid=pid, sdp=_sdp(obj, pid))
    if kind == "candidate":
        return Candidate(room=room, pid=pid, candidate=_candidate(obj, pid))
    return {"admit": Admit, "keyframe": Keyframe, "leave": Leave}[kind](room=room, pid=pid)


def _waiting(obj: dict[str, Any], pid: str) -> bool:
    value = obj.get("waiting", False)
    if not isinstance(value, bool):
        raise MessageError("waiting must be true or false", pid)
    return value


def policy_message(room: str, policy: dict[str, Any]) -> PolicyMsg:
    """The typed policy message for a room, checked exactly as the worker checks it."""
    return _policy({"policy": policy}, room)


# -- worker → web -------------------------------------------------------------------
REPLY_TYPES = ("answer", "offer", "error", "speaker", "policy_refused", "room_closed", "pong",
               "downlink", "worker_counts")
COUNT_NAMES = ("packets_in", "bytes_in", "packets_out", "packets_dropped")


@dataclass
class Reply:
    """A worker → web message; `to` says whose it is (a pid, ROOM, HOSTS or WEB)."""

    type: str
    to: str
    room: str | None = None
    pid: str | None = None
    sdp: str | None = None
    message: str | None = None
    load: dict[str, float] | None = None
    counts: dict[str, dict[str, int]] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The message without empty fields (what a page receives)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) is not None}


def answer(room: str, pid: str, sdp: str) -> Reply:
    """The worker's SDP answer to pid's offer."""
    return Reply("answer", to=pid, room=room, pid=pid, sdp=sdp)


def offer(room: str, pid: str, sdp: str) -> Reply:
    """A renegotiation offer for pid."""
    return Reply("offer", to=pid, room=room, pid=pid, sdp=sdp)


def error(message: str, pid: str | None = None, room: str | None = None) -> Reply:
    """The worker's reply to bad input (to the participant if known, else the web)."""
    return Reply("error", to=pid or WEB, room=room, pid=pid, message=message)


def speaker(room: str, pid: str, to: str = ROOM) -> Reply:
    """pid is the room's active speaker now: for every page of the room, or (to=a pid) for
    a page that has just connected and missed the change."""
    return Reply("speaker", to=to, room=room, pid=pid)


def downlink(room: str, pid: str, video_paused: bool) -> Reply:
    """pid's downlink is too weak for (some of) its video: message "video_paused", or "ok"."""
    return Reply("downlink", to=pid, room=room, pid=pid,
                 message="video_paused" if video_paused else "ok")


def policy_refused(room: str, message: str) -> Reply:
    """A policy for the room was refused; the room fails closed until a valid one comes."""
    return Reply("policy_refused", to=HOSTS, room=room, message=message)


def room_closed(room: str) -> Reply:
    """The worker closed the room (empty past the grace period, or told to)."""
    return Reply("room_closed", to=WEB, room=room)


def worker_counts(room: str, counts: dict[str, dict[str, int]]) -> Reply:
    """Per participant of the room (pid → COUNT_NAMES → number), what the worker received,
    forwarded and dropped since its last report (to the web process that signals for them)."""
    return Reply("worker_counts", to=WEB, room=room, counts=counts)


def pong(load: dict[str, float]) -> Reply:
    """The answer to `ping`, with the worker's load."""
    return Reply("pong", to=WEB, load=load)


def parse_reply(line: bytes) -> Reply:
    """Parse one worker → web line; raises MessageError when it is not a known reply."""
    obj = _decode(line)
    kind, to = obj.get("type"), obj.get("to")
    if kind not in REPLY_TYPES or not isinstance(to, str) or not to:
        raise MessageError(f"unknown reply {str(kind)[:MAX_ID]!r} to {str(to)[:MAX_ID]!r}")
    try:
        return Reply(**{f.name: obj.get(f.name) for f in fields(Reply)})
    except TypeError:
        raise MessageError("malformed reply") from None


def encode(msg: Message | Reply | dict[str, Any]) -> bytes:
    """One message as a JSON line."""
    if isinstance(msg, Reply):
        obj = msg.as_dict()
    elif isinstance(msg, PolicyMsg):
        obj = {"type": "policy", "room": msg.room,
               "policy": {k: getattr(msg, k) for k in POLICY_FIELDS}}
    else:
        obj = msg if isinstance(msg, dict) else asdict(msg)
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


# -- handshake ----------------------------------------------------------------------
# worker → client: {"type":"hello","protocol":"mvc-media-1","nonce":<64 hex digits>}
# client → worker: {"type":"auth","mac":<hex HMAC-SHA256(key=secret, msg="mvc-media-1:"+nonce)>}
# worker → client: {"type":"ready"}; anything else (or nothing within AUTH_TIMEOUT) closes.
def hello() -> dict[str, str]:
    """The worker's first line: a fresh random nonce to sign."""
    return {"type": "hello", "protocol": PROTOCOL, "nonce": secrets.token_hex(32)}


def mac(secret: str, nonce: str) -> str:
    """HMAC-SHA256 of the nonce under the shared secret, as hex."""
    return hmac.new(secret.encode(), f"{PROTOCOL}:{nonce}".encode(), hashlib.sha256).hexdigest()


def auth(secret: str, hello_line: bytes) -> bytes:
    """The client's answer to the worker's hello line."""
    greeting = _decode(hello_line)
    nonce = greeting.get("nonce")
    if greeting.get("type") != "hello" or greeting.get("protocol") != PROTOCOL or not isinstance(nonce, str):
        raise MessageError("the worker did not say hello")
    return encode({"type": "auth", "mac": mac(secret, nonce)})


def check_auth(secret: str, nonce: str, line: bytes) -> bool:
    """True if `line` is a correct `auth` answer to `nonce` (constant-time compare)."""
    try:
        obj = _decode(line)
    except MessageError:
        return False
    given = obj.get("mac")
    if obj.get("type") != "auth" or not isinstance(given, str):
        return False
    return hmac.compare_digest(given.encode(), mac(secret, nonce).encode())


READY = encode({"type": "ready"})
