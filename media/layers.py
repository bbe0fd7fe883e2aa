"""What each subscriber gets on a weak downlink, and what each publisher is told to send.

Twice a second a room's `Adaptation` looks at every subscriber's feedback (media.bwe):

- in a one-to-one call the subscriber's estimate (its REMB while it loses packets, and
  the loss rule) flows back to the publisher as the cap on the REMB the worker sends it,
  so the browser lowers its bitrate (with simulcast: its top layer);
- in a group, a subscriber whose estimate does not fit what it gets first gets a lower
  simulcast layer of every publisher who sends layers (media.simulcast), one layer at a
  time down to the lowest; then it loses the video of everyone but the active speaker,
  then all video (`VideoGate`); audio always goes on, and once video pauses the
  subscriber's page is told (a `downlink` reply addressed to it), so it says "Video
  paused because of a poor connection" instead of freezing. Each level comes back, at a
  keyframe, once the estimate has grown to fit it again; a level that fails again soon
  is held twice as long next time.
- a subscriber gets the highest layer its level allows that the publisher is sending now
  (a browser drops its top layers when its own uplink is short), else the lowest sent.
- every publisher's REMB is capped by its own receive-side loss (weak uplinks).

A subscriber's levels: 0 .. `steps` are layers (0: every publisher's top layer; each
step one layer lower, never below the lowest), where `steps` is one less than the most
layers among the publishers it gets; then SPEAKER_ONLY and NO_VIDEO follow. Without
simulcast `steps` is 0: EVERYTHING, SPEAKER_ONLY, NO_VIDEO.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import messages as m
from .bwe import MIN_ESTIMATE, REPORT_LAG, DownlinkFeedback
from .simulcast import SimulcastUp

if TYPE_CHECKING:
    from .forward import DownTrack, UpTrack
    from .room import Room

TICK = 0.5  # seconds between decisions
SETTLE = 1.0  # seconds after a change before feedback is judged again
UNCAPPED = 100_000_000  # bit/s: the REMB that lifts a cap the worker set before
REMB_LAG = 0.5  # seconds after a change before the subscriber's REMB can describe it
HOLD = 4.0  # seconds a paused level is kept at least (doubles after a failed resume)
MAX_HOLD = 30.0
FIT_MARGIN = 1.1  # resume only when the estimate exceeds the need by this factor
EVERYTHING, SPEAKER_ONLY, NO_VIDEO = 0, 1, 2  # the levels without simulcast (steps = 0)
LAYER_ACTIVE = 2.0  # seconds: a layer that sent nothing for this long is not being sent (a
# browser stops a layer its uplink cannot carry; a layer dropping frames for a moment is still sent)


class VideoGate:
    """One subscriber's video level: everything, the active speaker's video only, or none."""

    def __init__(self) -> None:
        self.level = EVERYTHING
        self.hold = HOLD
        self._since = -SETTLE
        self._raised_at = -MAX_HOLD

    @property
    def changed_at(self) -> float:
        """When the level last changed (long ago if never)."""
        return self._since

    def decide(self, now: float, estimate: float | None, need: Callable[[int], float],
               probe: float | None = None, top: int = NO_VIDEO) -> int:
        """The level to use now (0 .. top, top: no video), given the downlink estimate and
        need(level) in bit/s.

        `probe` is what resuming is judged by (default: the estimate); a REMB cannot serve,
        as a receiver's REMB never exceeds much what it currently gets.
        """
        self.level = min(self.level, top)  # fewer layers than before
        if estimate is None or now - self._since < SETTLE:
            return self.level
        probe = estimate if probe is None else probe
        if self.level < top and estimate < need(self.level):
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
        self.rates: dict[Any, float] = {}  # up track → bit/s seen going out for it (a simulcast
        # layer: coming in; a SimulcastUp: all its layers coming in)
        self._octets: dict[Any, int] = {}  # down or layer track → octets at the last tick
        self._seen: dict[Any, float] = {}  # simulcast layer → when it last brought packets
        self._paused_told: dict[str, bool] = {}
        self._clock = clock
        self._last = clock()

    def watch(self, down: DownTrack, pid: str, peer: Any = None) -> None:
        """Send the subscriber `pid`'s RTCP feedback on `down`, and the transport-cc estimate
        of its connection (`peer`, a media.peer.Peer), to its estimate."""
        feedback = self.feedback.setdefault(pid, DownlinkFeedback())
        down.on_feedback = feedback.on_rtcp
        if peer is not None:
            peer.on_estimate = feedback.on_estimate

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
        sent = self._measure(dt, now)
        one_to_one = len(self.room.peers) == 2
        for pid, peer in list(self.room.peers.items()):
            feedback = self.feedback.get(pid)
            if feedback is None:
                continue
            feedback.update(sent.get(pid, 0.0))
            # A REMB alone, without loss, holds nobody back: a receiver's REMB starts low and
            # cannot much exceed what it gets (one simulcast layer, say), so the publisher
            # could never grow past it.
            estimate = feedback.estimate(corroborated=True)
            for d in peer.downs.values():
                if d.up is not None and d.kind == "video":
                    d.up.remb_limit = self._one_to_one_limit(d, estimate) if one_to_one else None
            if one_to_one:  # the publisher adapts: take its best layer
                for d in peer.downs.values():
                    if isinstance(d.up, SimulcastUp):
                        d.up.select(d, self._layer(d.up, 0, 0, now))
            else:
                gate = self.gates.setdefault(pid, VideoGate())
                # A REMB from before the last change (+ REMB_LAG) describes what was sent then.
                self._gate(pid, peer, feedback.estimate(corroborated=True, since=gate.changed_at + REMB_LAG), now)
        self._uplinks()

    def _measure(self, dt: float, now: float) -> dict[str, float]:
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
        current = {d.up for peer in self.room.peers.values() for d in peer.downs.values()}
        for peer in self.room.peers.values():
            for up in peer.ups.values():
                if isinstance(up, SimulcastUp):  # each layer's rate, forwarded or not
                    for layer in up.layers:
                        total = octets[layer] = layer.octets
                        rate = 8 * (total - self._octets.get(layer, total)) / dt
                        if total > self._octets.get(layer, 0):
                            self._seen[layer] = now
                        self.rates[layer] = max(rate, 0.8 * self.rates.get(layer, rate))
                        current.add(layer)
                    self.rates[up] = sum(self.rates[layer] for layer in up.layers)
        self._octets = octets
        self.rates = {up: r for up, r in self.rates.items() if up in current}  # forget left ones
        self._seen = {layer: t for layer, t in self._seen.items() if layer in current}
        return sent

    def _one_to_one_limit(self, down: DownTrack, estimate: float | None) -> float | None:
        """What the publisher of `down` may send when its one subscriber's downlink carries
        `estimate`. With simulcast, that plus the layers below the top one: the estimate is
        for the top layer (the browser lowers it, or drops it and the subscriber gets the
        next), the lower ones go to the worker only. It also lets a subscriber on a lower
        layer, whose REMB cannot much exceed what it gets, let the publisher start the top."""
        if estimate is None or not isinstance(down.up, SimulcastUp):
            return estimate
        return estimate + sum(self.rates.get(layer, 0.0) for layer in down.up.layers[:-1])

    def _layer(self, up: SimulcastUp, level: int, steps: int, now: float) -> int:
        """The layer of `up` a subscriber at `level` gets: the one the level asks for, or the
        best lower one being sent, or else the lowest one being sent."""
        wanted = max(0, len(up.layers) - 1 - min(level, steps))
        sending = [i for i, layer in enumerate(up.layers) if now - self._seen.get(layer, -LAYER_ACTIVE) < LAYER_ACTIVE]
        if not sending:
            return wanted
        lower = [i for i in sending if i <= wanted]
        return max(lower) if lower else min(sending)

    def _gate(self, pid: str, peer: Any, estimate: float | None, now: float) -> None:
        speaker = self.room.speaker.current
        downs = list(peer.downs.values())
        steps = max([len(d.up.layers) - 1 for d in downs if isinstance(d.up, SimulcastUp)], default=0)

        def rate(d: DownTrack, level: int) -> float:
            if isinstance(d.up, SimulcastUp):
                return self.rates.get(d.up.layers[self._layer(d.up, level, steps, now)], 0.0)
            return self.rates.get(d.up, 0.0)

        def need(level: int) -> float:
            return sum(rate(d, level) for d in downs
                       if d.up is not None and _forwarded(d, level - steps, speaker))

        feedback = self.feedback[pid]
        probe = feedback.loss_estimate
        gate = self.gates.setdefault(pid, VideoGate())
        before = gate.level
        level = gate.decide(now, estimate, need, probe if probe is not None else estimate, top=steps + NO_VIDEO)
        if level != before:  # the reports of the next moments are still about what was sent before
            feedback.quiet(now + REPORT_LAG)
        if level > max(before, steps) and estimate is not None:
            feedback.lower_to(estimate)  # video paused: probing for it again starts from what failed
        for d in downs:
            d.pause(not _forwarded(d, level - steps, speaker))
            if isinstance(d.up, SimulcastUp):
                d.up.select(d, self._layer(d.up, level, steps, now))
        paused = level > steps
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
            if up.transport_cc:  # it estimates its uplink itself: only the one-to-one cap
                if up.remb_limit is not None:
                    up.send_remb(int(max(MIN_ESTIMATE, up.remb_limit)))
                    up.remb_capped = True
                elif up.remb_capped:  # a REMB holds until the next: lift it
                    up.send_remb(UNCAPPED)
                    up.remb_capped = False
                continue
            up.uplink.update(*counts, rate=self.rates.get(up, 0.0))
            if up.uplink.cap is not None or up.remb_limit is not None:
                value = up.uplink.value(up.remb_limit)
                if value is not None:
                    up.send_remb(value)


def _forwarded(down: DownTrack, level: int, speaker: str | None) -> bool:
    """Whether `down` carries media at `level` counted without layers (EVERYTHING or below:
    any layer; audio always does)."""
    up: UpTrack | None = down.up
    if down.kind != "video" or level <= EVERYTHING:
        return True
    return level == SPEAKER_ONLY and up is not None and up.pid == speaker and up.name == "video"
