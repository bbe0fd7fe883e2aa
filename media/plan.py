"""The room's forwarding plan as plain data: who receives whose audio and video."""

from __future__ import annotations

from dataclasses import dataclass, field

from .messages import LAYOUTS as LAYOUT_NAMES, MAX_LIST

# A worker's own bound on one room (the web's room cap is the door; this is only a
# safety net above it): as many peers as a policy list may name.
MAX_PARTICIPANTS = MAX_LIST
LAYOUTS = frozenset(LAYOUT_NAMES)


@dataclass(frozen=True)
class RoomPolicy:
    """The host's choices that decide forwarding (layout, one-way video, bans)."""

    layout: str = "tiles"
    one_way_video: bool = False
    hosts: frozenset[str] = field(default_factory=frozenset)
    audio_blocked: frozenset[str] = field(default_factory=frozenset)
    video_blocked: frozenset[str] = field(default_factory=frozenset)
    # Breakout rooms: pid -> group name; people missing here are in the main room. Media
    # flows only between people in the same group (a visiting host joins that group).
    groups: dict[str, str] = field(default_factory=dict)
    # Whose screen share is forwarded (one at a time), to everyone in the sharer's group.
    screen: str | None = None

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"unknown layout {self.layout!r}")
        for name in ("hosts", "audio_blocked", "video_blocked"):
            object.__setattr__(self, name, frozenset(getattr(self, name)))


@dataclass(frozen=True)
class Receives:
    """What one receiver gets: publisher pids for audio and for video."""

    audio: frozenset[str] = frozenset()
    video: frozenset[str] = frozenset()


Plan = dict[str, Receives]


def can_join(present: set[str] | frozenset[str], pid: str) -> bool:
    """True if pid may join a room where `present` are already in (cap MAX_PARTICIPANTS)."""
    return pid in present or len(present) < MAX_PARTICIPANTS


def _sees_video(policy: RoomPolicy, receiver: str, publisher: str) -> bool:
    if receiver in policy.hosts:
        return True
    if policy.one_way_video:
        return False
    if policy.layout == "host_only":
        return publisher in policy.hosts
    return True


def _hears_audio(policy: RoomPolicy, receiver: str, publisher: str) -> bool:
    if receiver in policy.hosts:
        return True
    if policy.layout == "host_only":
        return publisher in policy.hosts
    return True


def same_group(policy: RoomPolicy, a: str, b: str) -> bool:
    """True when a and b are in the same breakout group (or both in the main room)."""
    return policy.groups.get(a) == policy.groups.get(b)


def compute_plan(policy: RoomPolicy, present: set[str] | frozenset[str]) -> Plan:
    """For each present receiver, the publishers whose audio and video it gets."""
    audio_sources = [p for p in present if p not in policy.audio_blocked]
    video_sources = [p for p in present if p not in policy.video_blocked]
    plan: Plan = {}
    for receiver in present:
        audio = frozenset(
            p for p in audio_sources
            if p != receiver and same_group(policy, receiver, p) and _hears_audio(policy, receiver, p)
        )
        video = frozenset(
            p for p in video_sources
            if p != receiver and same_group(policy, receiver, p) and _sees_video(policy, receiver, p)
        )
        plan[receiver] = Receives(audio=audio, video=video)
    return plan


def screen_receivers(policy: RoomPolicy, present: set[str] | frozenset[str]) -> frozenset[str]:
    """Who gets the shared screen: everyone else in the sharer's group, whatever the layout."""
    sharer = policy.screen
    if sharer is None or sharer not in present:
        return frozenset()
    return frozenset(p for p in present if p != sharer and same_group(policy, p, sharer))
