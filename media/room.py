"""A room inside a worker: peers, policy and the forwarding plan applied to them."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from aiortc import RTCConfiguration

from .forward import UpTrack
from .peer import Peer, Reply
from .plan import RoomPolicy, can_join, compute_plan, screen_receivers
from .speaker import SpeakerDetector

log = logging.getLogger(__name__)


class RoomFull(Exception):
    """The room already has the maximum number of participants."""


class Room:
    """Owns the peers of one meeting and keeps forwarding equal to the plan."""

    def __init__(self, room_id: str, config: RTCConfiguration,
                 on_speaker: Callable[[Room, str], None]) -> None:
        self.id = room_id
        self.config = config
        self.peers: dict[str, Peer] = {}
        self.policy = RoomPolicy()
        self.speaker = SpeakerDetector()
        self._on_speaker = on_speaker
        self._ticker = asyncio.ensure_future(self._tick_speaker())

    def join(self, pid: str, reply: Reply) -> Peer:
        """Add a participant (a rejoin replaces the old connection)."""
        if not can_join(set(self.peers), pid):
            raise RoomFull(f"room {self.id} is full")
        old = self.peers.pop(pid, None)
        if old is not None:
            asyncio.ensure_future(self._close_peer(old))
        peer = self.peers[pid] = Peer(pid, self.config, reply)
        return peer

    def offer(self, pid: str, sdp: str, reply: Reply) -> Coroutine[Any, Any, None]:
        """Answer a participant's offer, then forward according to the plan.

        An offer from a new session (unknown pid, or new ICE credentials after a page
        reconnect) starts a fresh peer at once, as if `join` had been sent first, so
        candidates that follow on the same connection reach the new peer.
        """
        peer = self.peers.get(pid)
        if peer is None or peer.is_new_session(sdp):
            peer = self.join(pid, reply)
        return self._answer(peer, sdp)

    async def _answer(self, peer: Peer, sdp: str) -> None:
        pid = peer.pid
        try:
            ups = await peer.handle_offer(sdp)
        except Exception:
            if not peer.ready and self.peers.get(pid) is peer:
                await self.leave(pid)  # never usable: don't keep it in the plan
            raise
        for up in ups:
            up.on_audio_level = self._feed_level
        self.apply_plan()

    async def leave(self, pid: str) -> None:
        """Remove a participant and stop forwarding its media."""
        peer = self.peers.pop(pid, None)
        self.speaker.forget(pid)
        if peer is not None:
            await self._close_peer(peer)

    async def _close_peer(self, peer: Peer) -> None:
        try:
            await peer.close()
        finally:
            self.apply_plan()

    def set_policy(self, policy: RoomPolicy) -> None:
        """Change the policy; blocked media is dropped before this returns."""
        self.policy = policy
        self.apply_plan()

    def apply_plan(self) -> None:
        """Bind and unbind down tracks to match the plan; renegotiate changed peers."""
        ups = {(pid, name): up for pid, peer in self.peers.items()
               for name, up in peer.ups.items()}
        for (pid, name), up in ups.items():
            blocked = {"audio": self.policy.audio_blocked,
                       "video": self.policy.video_blocked}.get(name, frozenset())
            up.blocked = pid in blocked
        plan = compute_plan(self.policy, set(self.peers))
        sharer = self.policy.screen
        screen = ups.get((sharer, "screen")) if sharer is not None else None
        screen_to = screen_receivers(self.policy, set(self.peers)) if screen else frozenset()
        for pid, receives in plan.items():
            peer = self.peers[pid]
            if not peer.ready:
                continue
            wanted: dict[tuple[str, str], UpTrack] = {}
            for kind, sources in (("audio", receives.audio), ("video", receives.video)):
                for pub in sources:
                    up = ups.get((pub, kind))
                    if up is not None:
                        wanted[(pub, kind)] = up
            if screen is not None and pid in screen_to:
                wanted[(screen.pid, "screen")] = screen
            if peer.sync(wanted):
                asyncio.ensure_future(self._renegotiate(peer))

    async def _renegotiate(self, peer: Peer) -> None:
        try:
            await peer.renegotiate()
        except Exception as exc:  # a broken peer must not take the room down
            log.warning("renegotiation for %s failed: %s", peer.pid, exc)
            peer.reply({"type": "error", "pid": peer.pid, "message": f"renegotiation failed: {exc}"})

    def request_keyframe(self, pid: str) -> None:
        """Ask pid's camera (and shared screen) for a keyframe."""
        peer = self.peers.get(pid)
        for name in ("video", "screen"):
            if peer is not None and name in peer.ups:
                peer.ups[name].request_keyframe()

    def _feed_level(self, pid: str, level: int) -> None:
        self.speaker.feed(pid, level, time.monotonic())

    async def _tick_speaker(self) -> None:
        while True:
            await asyncio.sleep(0.2)
            new = self.speaker.tick(time.monotonic())
            if new is not None:
                self._on_speaker(self, new)

    def load(self) -> dict[str, int]:
        """Peers and forwarded streams in this room."""
        return {"peers": len(self.peers),
                "forwarded": sum(p.forwarded() for p in self.peers.values())}

    async def close(self) -> None:
        """Close every peer."""
        self._ticker.cancel()
        peers, self.peers = list(self.peers.values()), {}
        await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)

    def replies(self) -> set[Any]:
        """The distinct reply functions of this room's peers (one per web connection)."""
        return {p.reply for p in self.peers.values()}
