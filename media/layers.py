"""What each subscriber gets on a weak downlink, and what each publisher is told to send.

Twice a second a room's `Adaptation` looks at every subscriber's feedback (media.bwe):

- in a one-to-one call the subscriber's estimate flows back to the publisher as the cap
  on the REMB the worker sends it, so the browser lowers its bitrate;
- in a group, a subscriber whose estimate does not fit what it gets first loses the
  video of everyone but the active speaker, then all video (`VideoGate`); audio always
  goes on, and the subscriber's page is told (a `downlink` reply addressed to it), so it
  says "Video paused because of a poor connection" instead of freezing. Video comes
  back, at a keyframe, once the estimate has grown to fit it again; a level that fails
  again soon is held twice as long next time.
- every publisher's REMB is capped by its own receive-side loss (weak uplinks).

Simulcast (a lower layer before pausing) is not here yet: today a subscriber gets a
publisher's one stream or none.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import messages as m
from .bwe import DownlinkFeedback

if TYPE_CHECKING:
    from .forward import DownTrack, UpTrack
    from .room import Room

TICK = 0.5  # seconds between decisions
SETTLE = 1.0  # seconds after a change before feedback is judged again
HOLD = 4.0  # seconds a paused level is kept at least (doubles after a failed resume)
MAX_HOLD = 30.0
FIT_MARGIN = 1.1  # resume only when the estimate exceeds the need by this factor
EVERYTHING, SPEAKER_ONLY, NO_VIDEO = 0, 1, 2


class VideoGate:
    """One subscriber's video level: everything, the active speaker's video only, or none."""

    def __init__(self) -> None:
        self.level = EVERYTHING
        self.hold = HOLD
        self._since = -SETTLE
        self._raised_at = -MAX_HOLD

    def decide(self, now: float, estimate: float | None, need: Callable[[int], float],
               probe: float | None = None) -> int:
        """The level to use now, given the downlink estimate and need(level) in bit/s.

        `probe` is what resuming is judged by (default: the estimate); a REMB cannot serve,
        as a receiver's REMB never exceeds much what it currently gets.
        """
        if estimate is None or now - self._since < SETTLE:
            return self.level
        probe = estimate if probe is None else probe
        if self.level < NO_VIDEO and estimate < need(self.level):
            if now - self._raised_at < 2 * self.hold + SETTLE:
                self.hold = min(MAX_HOLD, self.hold * 2)  # resumed too early last time
            self.level += 1
            self._since = self._raised_at = now
        elif (self.level > EVERYTHING and now - self._since >= self.hold
              and probe > FIT_MARGIN * need(self.level - 1)):
            self.level -= 1
            self._since = now
        return self.level


class Adaptation:
    """The weak-network decisions of one room (owned and stopped by the room)."""

    def __init__(self, room: Room, clock: Callable[[], float] = time.monotonic) -> None:
        self.room = room
        self.feedback: dict[str, DownlinkFeedback] = {}
        self.gates: dict[str, VideoGate] = {}
        self.rates: dict[Any, float] = {}  # up track → bit/s seen going out for it
        self._octets: dict[Any, int] = {}  # down track → octets at the last tick
        self._paused_told: dict[str, bool] = {}
        self._clock = clock
        self._last = clock()

    def watch(self, down: DownTrack, pid: str) -> None:
        """Send the subscriber `pid`'s RTCP feedback on `down` to its estimate."""
        down.on_feedback = self.feedback.setdefault(pid, DownlinkFeedback()).on_rtcp

    def forget(self, pid: str) -> None:
        """pid left: drop its state."""
        for table in (self.feedback, self.gates, self._paused_told):
            table.pop(pid, None)

    async def run(self) -> None:
        """Decide every TICK seconds until cancelled."""
        while True:
            await asyncio.sleep(TICK)
            self.tick()

    def tick(self) -> None:
        """One round of decisions for every subscriber and publisher."""
        now = self._clock()
        dt, self._last = max(now - self._last, 1e-3), now
        sent = self._measure(dt)
        one_to_one = len(self.room.peers) == 2
        for pid, peer in list(self.room.peers.items()):
            feedback = self.feedback.get(pid)
            if feedback is None:
                continue
            feedback.update(sent.get(pid, 0.0))
            estimate = feedback.estimate()
            for up in (d.up for d in peer.downs.values() if d.up is not None and d.kind == "video"):
                up.remb_limit = estimate if one_to_one else None
            if not one_to_one:
                self._gate(pid, peer, feedback.estimate(corroborated=True), now)
        self._uplinks()

    def _measure(self, dt: float) -> dict[str, float]:
        """Bit/s sent to each subscriber since the last tick; updates each up track's rate."""
        sent: dict[str, float] = {}
        octets: dict[Any, int] = {}
        for pid, peer in self.room.peers.items():
            for down in peer.downs.values():
                total = octets[down] = down.octets()
                rate = 8 * (total - self._octets.get(down, total)) / dt
                sent[pid] = sent.get(pid, 0.0) + rate
                if down.up is not None and not down.paused and rate > 0:
                    self.rates[down.up] = max(rate, 0.8 * self.rates.get(down.up, rate))
        self._octets = octets
        current = {d.up for peer in self.room.peers.values() for d in peer.downs.values()}
        self.rates = {up: r for up, r in self.rates.items() if up in current}  # forget left ones
        return sent

    def _gate(self, pid: str, peer: Any, estimate: float | None, now: float) -> None:
        speaker = self.room.speaker.current
        downs = list(peer.downs.values())

        def need(level: int) -> float:
            return sum(self.rates.get(d.up, 0.0) for d in downs
                       if d.up is not None and _forwarded(d, level, speaker))

        probe = self.feedback[pid].loss_estimate
        level = self.gates.setdefault(pid, VideoGate()).decide(
            now, estimate, need, probe if probe is not None else estimate)
        for d in downs:
            d.pause(not _forwarded(d, level, speaker))
        paused = level > EVERYTHING
        if self._paused_told.get(pid, False) != paused:
            self._paused_told[pid] = paused
            peer.reply(m.downlink(self.room.id, pid, paused))

    def _uplinks(self) -> None:
        """Cap each publisher's REMB by its receive-side loss and its one-to-one subscriber."""
        for peer in self.room.peers.values():
            up = peer.ups.get("video")
            counts = up.media_statistics() if up is not None else None
            if up is None or counts is None:
                continue
            up.uplink.update(*counts, rate=self.rates.get(up, 0.0))
            if up.uplink.cap is not None or up.remb_limit is not None:
                value = up.uplink.value(up.remb_limit)
                if value is not None:
                    up.send_remb(value)


def _forwarded(down: DownTrack, level: int, speaker: str | None) -> bool:
    """Whether `down` carries media at `level` (audio always does)."""
    up: UpTrack | None = down.up
    if down.kind != "video" or level == EVERYTHING:
        return True
    return level == SPEAKER_ONLY and up is not None and up.pid == speaker and up.name == "video"
