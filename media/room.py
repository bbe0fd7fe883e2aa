"""A room inside a worker: peers, policy and the forwarding plan applied to them."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from aiortc import RTCConfiguration

from . import messages as m
from .forward import UpTrack
from .ice import IceFilter
from .layers import Adaptation
from .peer import Peer, Reply
from .plan import Receives, RoomPolicy, can_join, compute_plan, screen_receivers
from .speaker import SpeakerDetector

log = logging.getLogger(__name__)
SPEAKER_TICK = 0.2  # seconds between active-speaker decisions
FEEDBACK_TICK = 0.1  # seconds between transport-cc feedbacks to each publisher
COUNTS_INTERVAL = 10.0  # seconds between worker_counts reports


class RoomFull(Exception):
    """The room already has the maximum number of participants."""


class Room:
    """Owns the peers of one meeting and keeps forwarding equal to the plan.

    Fail closed: until a valid policy has arrived, and after one was refused (`hold`),
    the policy is in doubt and only the hosts of the last valid policy are forwarded
    (nobody before the first one), so nobody the host muted or banned is ever sent on.

    Waiting: a peer that joined from the waiting room (`join(..., waiting=True)`) has its
    connection made (ICE, DTLS) so that being let in costs only the renegotiation that
    adds the others' tracks, but until `admit` nothing is forwarded to it or from it,
    whatever the policy says, and it is never the active speaker.

    Lifetime: the room owns its peers, tasks, speaker ticker and expiry timer; once it
    has been empty for `grace` seconds it calls on_expire(room), and close() stops all.
    """

    def __init__(self, room_id: str, config: RTCConfiguration,
                 on_speaker: Callable[[Room, str], None],
                 ice: IceFilter | None = None, grace: float = 30.0,
                 on_expire: Callable[[Room], None] | None = None) -> None:
        self.id = room_id
        self.config = config
        self.ice = ice or IceFilter()
        self.peers: dict[str, Peer] = {}
        self.policy: RoomPolicy | None = None  # the last valid policy
        self.in_doubt = True  # no valid policy yet, or the latest one was refused
        self.speaker = SpeakerDetector()
        self.tasks: set[asyncio.Future[Any]] = set()
        self.closed = False
        self._on_speaker = on_speaker
        self._on_expire = on_expire
        self._grace = grace
        self._expiry: asyncio.TimerHandle | None = None
        self._ticker = self.spawn(self._tick_speaker())
        self.adaptation = Adaptation(self)  # weak networks: pausing, REMB caps
        self.spawn(self.adaptation.run())
        self.spawn(self._report_counts())
        self.spawn(self._transport_feedback())
        self._watch_empty()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Future[Any]:
        """Run a task owned by this room (cancelled when the room closes)."""
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def _watch_empty(self) -> None:
        """Start the expiry timer when the room is empty, stop it when someone is in."""
        if self.peers or self.closed:
            if self._expiry is not None:
                self._expiry.cancel()
                self._expiry = None
        elif self._expiry is None and self._on_expire is not None:
            on_expire = self._on_expire
            self._expiry = asyncio.get_event_loop().call_later(self._grace, on_expire, self)

    def join(self, pid: str, reply: Reply, waiting: bool = False) -> Peer:
        """Add a participant (a rejoin replaces the old connection); `waiting`: from the
        waiting room, connected but forwarded nothing until `admit`."""
        if not can_join(set(self.peers), pid):
            raise RoomFull(f"room {self.id} is full")
        old = self.peers.pop(pid, None)
        if old is not None:
            self.spawn(self._close_peer(old))
        peer = self.peers[pid] = Peer(self.id, pid, self.config, reply, self.ice,
                                      on_failed=self._peer_failed)
        peer.waiting = waiting
        self._watch_empty()
        return peer

    def admit(self, pid: str) -> None:
        """Let a peer that connected in the waiting room into the meeting."""
        peer = self.peers.get(pid)
        if peer is not None and peer.waiting:
            peer.waiting = False
            self.apply_plan()

    def _peer_failed(self, peer: Peer) -> None:
        """A peer whose connection failed or closed leaves (if it is still the current one)."""
        if not self.closed and self.peers.get(peer.pid) is peer:
            log.info("media connection of %s in room %s %s", peer.pid, self.id,
                     peer.pc.connectionState)
            self.spawn(self.leave(peer.pid))

    def leave_connection(self, reply: Reply) -> None:
        """Remove every peer whose signalling went through `reply` (its web process went away)."""
        for pid in [pid for pid, peer in self.peers.items() if peer.reply == reply]:
            self.spawn(self.leave(pid))

    def offer(self, pid: str, sdp: str, reply: Reply,
              waiting: bool = False) -> Coroutine[Any, Any, None]:
        """Answer a participant's offer, then forward according to the plan.

        An offer from a new session (unknown pid, or new ICE credentials after a page
        reconnect) starts a fresh peer at once, as if `join` had been sent first, so
        candidates that follow on the same connection reach the new peer.
        """
        peer = self.peers.get(pid)
        if peer is None or peer.is_new_session(sdp):
            peer = self.join(pid, reply, waiting)
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
            up.keep_levels()
        current = self.speaker.current
        if current is not None and current != pid and not peer.waiting:
            peer.reply(m.speaker(self.id, current, to=pid))  # a newcomer missed the change
        self.apply_plan()

    async def leave(self, pid: str) -> None:
        """Remove a participant and stop forwarding its media."""
        peer = self.peers.pop(pid, None)
        self.speaker.forget(pid)
        self.adaptation.forget(pid)
        self._watch_empty()
        if peer is not None:
            await self._close_peer(peer)

    async def _close_peer(self, peer: Peer) -> None:
        self.report_counts([peer])  # what it got since the last report is not lost
        try:
            await peer.close()
        finally:
            self.apply_plan()

    def set_policy(self, policy: RoomPolicy) -> None:
        """Change the policy; blocked media is dropped before this returns."""
        self.policy = policy
        self.in_doubt = False
        self.apply_plan()

    def hold(self) -> None:
        """The policy is in doubt (one was refused): forward only the last known hosts."""
        self.in_doubt = True
        self.apply_plan()

    def effective_policy(self) -> RoomPolicy:
        """The policy to forward by: the last valid one, or its fail-closed form while in doubt."""
        policy = self.policy or RoomPolicy()
        if not self.in_doubt:
            return policy
        guests = frozenset(self.peers) - policy.hosts
        return RoomPolicy(layout=policy.layout, one_way_video=policy.one_way_video,
                          hosts=policy.hosts, audio_blocked=policy.audio_blocked | guests,
                          video_blocked=policy.video_blocked | guests, groups=policy.groups,
                          screen=policy.screen if policy.screen in policy.hosts else None)

    def apply_plan(self) -> None:
        """Bind and unbind down tracks to match the plan; renegotiate changed peers."""
        if self.closed:
            return
        policy = self.effective_policy()
        present = {pid for pid, peer in self.peers.items() if not peer.waiting}
        ups = {(pid, name): up for pid, peer in self.peers.items()
               for name, up in peer.ups.items()}
        for (pid, name), up in ups.items():
            blocked = {"audio": policy.audio_blocked,
                       "video": policy.video_blocked}.get(name, frozenset())
            up.blocked = pid in blocked or pid not in present
        plan = compute_plan(policy, present)
        plan.update({pid: Receives() for pid in self.peers.keys() - present})
        sharer = policy.screen
        screen = ups.get((sharer, "screen")) if sharer in present else None
        screen_to = screen_receivers(policy, present) if screen else frozenset()
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
            changed = peer.sync(wanted)
            for down in peer.downs.values():
                self.adaptation.watch(down, pid, peer)
            if changed:
                self.spawn(self._renegotiate(peer))

    async def _renegotiate(self, peer: Peer) -> None:
        try:
            await peer.renegotiate()
        except Exception as exc:  # a broken peer must not take the room down
            log.warning("renegotiation for %s failed: %s", peer.pid, exc)
            peer.reply(m.error(f"renegotiation failed: {exc}", peer.pid, self.id))

    def request_keyframe(self, pid: str) -> None:
        """Ask pid's camera (and shared screen) for a keyframe."""
        peer = self.peers.get(pid)
        for name in ("video", "screen"):
            if peer is not None and name in peer.ups:
                peer.ups[name].request_keyframe()

    async def _tick_speaker(self) -> None:
        while True:
            await asyncio.sleep(SPEAKER_TICK)
            for pid, peer in list(self.peers.items()):  # the levels' averages, kept as packets pass
                up = peer.ups.get("audio") if not peer.waiting else None
                heard = up.loudness() if up is not None else None
                if heard is not None:
                    self.speaker.observe(pid, *heard)
            new = self.speaker.tick(time.monotonic())
            if new is not None:
                self._on_speaker(self, new)

    async def _transport_feedback(self) -> None:
        while True:
            await asyncio.sleep(FEEDBACK_TICK)
            for peer in list(self.peers.values()):
                try:
                    await peer.send_transport_feedback()
                except Exception as exc:  # one broken connection must not stop the others'
                    log.warning("transport feedback to %s failed: %s", peer.pid, exc)

    async def _report_counts(self) -> None:
        while True:
            await asyncio.sleep(COUNTS_INTERVAL)
            self.report_counts()

    def report_counts(self, peers: list[Peer] | None = None) -> None:
        """Send each web process the counts of its participants (default: all) since the last
        report; participants with nothing new are left out."""
        per_reply: dict[Any, dict[str, dict[str, int]]] = {}
        for peer in self.peers.values() if peers is None else peers:
            now = peer.counts()
            new = {k: max(0, v - peer.reported.get(k, 0)) for k, v in now.items()}
            peer.reported = now
            if any(new.values()):
                per_reply.setdefault(peer.reply, {})[peer.pid] = new
        for reply, counts in per_reply.items():
            reply(m.worker_counts(self.id, counts))

    def load(self) -> dict[str, int]:
        """Peers and forwarded streams in this room."""
        return {"peers": len(self.peers),
                "forwarded": sum(p.forwarded() for p in self.peers.values())}

    async def close(self) -> None:
        """Stop the room's timer and tasks and close every peer."""
        self.closed = True
        self._watch_empty()
        current = asyncio.current_task()
        for task in list(self.tasks):
            if task is not current:
                task.cancel()
        peers, self.peers = list(self.peers.values()), {}
        await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)
        pending = [t for t in self.tasks if t is not current]
        await asyncio.gather(*pending, return_exceptions=True)

    def replies(self) -> set[Any]:
        """The distinct reply functions of this room's peers (one per web connection)."""
        return {p.reply for p in self.peers.values()}
