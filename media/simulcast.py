"""Simulcast: a browser publishes its camera in two or three layers, and each subscriber
gets the one its downlink carries (media.layers decides which).

The page asks for layers with `sendEncodings` (static/js/media.js), listed lowest first;
its offer names them with `a=rid` and `a=simulcast:send`. aiortc knows neither, so the
worker writes the matching `a=rid:… recv` and `a=simulcast:recv` into every SDP it sends
(`with_simulcast`), and each packet tells its layer by the rtp-stream-id header extension
(its RTX packets by repaired-rtp-stream-id) until the SSRC is known. Each layer is an up
track of its own (own SSRC, statistics, NACKs, fast path) under one `SimulcastUp`, which
is what the room's plan binds down tracks to; the layers share one bandwidth estimator
and one REMB to the publisher. A down track moves to another layer only at that layer's
keyframe, and keeps getting the old layer until then.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from aiortc import RTCRtpReceiver
from aiortc.codecs import is_rtx
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from . import aiortc_hooks as hooks
from .bwe import GroupedEstimator
from .forward import RembSender, UpTrack

if TYPE_CHECKING:
    from .forward import DownTrack

MAX_LAYERS = 3
_RID = re.compile(r"[A-Za-z0-9_-]{1,16}")


def _sections(sdp: str) -> list[str]:
    """The session part and each media section (each ends with its line break)."""
    return re.split(r"(?=^m=)", sdp, flags=re.MULTILINE)


def _mid(section: str) -> str | None:
    match = re.search(r"^a=mid:(\S+)", section, re.MULTILINE)
    return match.group(1) if match else None


def offered_rids(sdp: str) -> dict[str, list[str]]:
    """mid → the rids the client sends in that video section (lowest layer first), for the
    sections that offer simulcast with two to MAX_LAYERS well-formed, declared rids."""
    out: dict[str, list[str]] = {}
    for section in _sections(sdp):
        mid = _mid(section)
        listed = re.search(r"^a=simulcast:send (\S+)", section, re.MULTILINE)
        if mid is None or listed is None or not section.startswith("m=video "):
            continue
        declared = set(re.findall(r"^a=rid:(\S+) send\b", section, re.MULTILINE))
        rids: list[str] = []
        for item in listed.group(1).split(";"):
            rid = item.split(",")[0].lstrip("~")
            if _RID.fullmatch(rid) and rid in declared and rid not in rids:
                rids.append(rid)
        if 2 <= len(rids) <= MAX_LAYERS:
            out[mid] = rids
    return out


def with_simulcast(sdp: str, rids: dict[str, list[str]]) -> str:
    """Our SDP (answer or offer) with the client's layers accepted in their sections."""
    if not rids:
        return sdp
    out = []
    for section in _sections(sdp):
        layers = rids.get(_mid(section) or "")
        if layers and section.startswith("m=video ") and "\na=simulcast:" not in section:
            eol = "\r\n" if section.endswith("\r\n") else "\n"
            section += "".join(f"a=rid:{rid} recv{eol}" for rid in layers)
            section += f"a=simulcast:recv {';'.join(layers)}{eol}"
        out.append(section)
    return "".join(out)


class SimulcastUp(RembSender):
    """A publisher's camera sent in layers (`layers`, lowest first): to the room it is one
    up track; each down track bound to it gets one layer."""

    def __init__(self, pid: str, kind: str, receiver: RTCRtpReceiver,
                 codecs: list[RTCRtpCodecParameters], rids: list[str], name: str | None = None) -> None:
        self.pid, self.kind, self.name = pid, kind, name or kind
        self.receiver = receiver
        self.codecs = [c for c in codecs if not is_rtx(c)]
        self._init_remb(receiver)
        self._estimators: dict[bool, Any] = {}
        self._state = hooks.receiver_state(receiver)  # before the layers: they ask for estimator()
        self.layers = [UpTrack(pid, kind, receiver, codecs, name=self.name, owner=self) for _ in rids]
        self._by_rid = dict(zip(rids, self.layers))
        self._by_ssrc: dict[int, UpTrack] = {}  # media and RTX SSRCs seen, each to its layer
        self._chosen: dict[DownTrack, UpTrack] = {}  # the layer each down track gets now
        self._wanted: dict[DownTrack, int] = {}  # the layer index each should get (select)
        hooks.handle_rtp_directly(receiver, self._handle)

    def estimator(self, fast: bool) -> Any:
        """The one bandwidth estimator of all layers (as aiortc has one per receiver)."""
        if fast not in self._estimators:
            self._estimators[fast] = (hooks.new_estimator() if fast
                                      else GroupedEstimator(self._state.remote_bitrate_estimator))
        return self._estimators[fast]

    def _handle(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        """A packet to its layer: by SSRC once known, else by the rid it carries (an RTX
        packet by its repaired rid, once that layer's media SSRC is known)."""
        layer = self._by_ssrc.get(packet.ssrc)
        if layer is None:
            codec = self._state.codecs.get(packet.payload_type)
            if codec is None:
                return
            ext, rtx = packet.extensions, is_rtx(codec)
            layer = self._by_rid.get((ext.repaired_rtp_stream_id or ext.rtp_stream_id) if rtx
                                     else ext.rtp_stream_id)
            if layer is None or (rtx and not layer.media_ssrcs()):
                return  # not one of the layers offered (or an RTX packet too early): dropped
            if rtx:
                self._state.rtx_ssrc[packet.ssrc] = layer.media_ssrcs()[0]
            for ssrc, known in list(self._by_ssrc.items()):  # the layer's SSRC changed: forget the old
                if known is layer and ssrc != packet.ssrc and (ssrc in self._state.rtx_ssrc) == rtx:
                    del self._by_ssrc[ssrc]
                    self._state.rtx_ssrc.pop(ssrc, None)
            self._by_ssrc[packet.ssrc] = layer
        assert layer.handle is not None
        layer.handle(packet, arrival_time_ms)

    # What the room and the down tracks use, as on an UpTrack.
    @property
    def downs(self) -> set[DownTrack]:
        return set().union(*(layer.downs for layer in self.layers))

    @property
    def packets(self) -> int:
        return sum(layer.packets for layer in self.layers)

    @property
    def octets(self) -> int:
        return sum(layer.octets for layer in self.layers)

    @property
    def blocked(self) -> bool:
        return self.layers[0].blocked

    @blocked.setter
    def blocked(self, value: bool) -> None:
        for layer in self.layers:
            layer.blocked = value

    def media_ssrcs(self) -> list[int]:
        return [ssrc for layer in self.layers for ssrc in layer.media_ssrcs()]

    def packets_for(self, down: DownTrack) -> int:
        return self._layer_for(down).packets

    def keep_levels(self) -> None:
        """Audio only: nothing to keep for a camera."""

    def loudness(self) -> None:
        return None

    def media_statistics(self) -> tuple[int, int] | None:
        counts = [c for c in (layer.media_statistics() for layer in self.layers) if c is not None]
        return (sum(c[0] for c in counts), sum(c[1] for c in counts)) if counts else None

    def lost_upstream(self) -> int:
        return sum(layer.lost_upstream() for layer in self.layers)

    def _layer_for(self, down: DownTrack) -> UpTrack:
        chosen = self._chosen.get(down)
        if chosen is not None:
            return chosen
        index = self._wanted.get(down, len(self.layers) - 1)
        return self.layers[min(index, len(self.layers) - 1)]

    def add_down(self, down: DownTrack) -> None:
        layer = self._layer_for(down)
        self._chosen[down] = layer
        layer.add_down(down)

    def discard_down(self, down: DownTrack, paused: bool = False) -> None:
        layer = self._chosen.pop(down, None)
        if layer is not None:
            layer.discard_down(down)
        for other in self.layers:
            other.stop_waiting(down)
        if not paused:  # unbound (a paused one keeps the layer it should get)
            self._wanted.pop(down, None)

    def select(self, down: DownTrack, index: int) -> None:
        """Let `down` get layer `index` (0: the lowest), from that layer's next keyframe."""
        index = max(0, min(index, len(self.layers) - 1))
        self._wanted[down] = index
        wanted, current = self.layers[index], self._chosen.get(down)
        for layer in self.layers:
            if layer is not wanted:
                layer.stop_waiting(down)
        if current is None or current is wanted:  # not forwarded now (paused): next time
            wanted.stop_waiting(down)
            return
        if down in wanted.waiting:
            wanted.request_keyframe()  # still waiting: ask again (at most every 0.5 s)
        else:
            wanted.wait_for_keyframe(down, current)

    def switched(self, down: DownTrack, layer: UpTrack) -> None:
        """Called by `layer` when `down` moved to it at a keyframe."""
        self._chosen[down] = layer

    def layer_of(self, down: DownTrack) -> int | None:
        """The index of the layer `down` gets now (None: not forwarded)."""
        chosen = self._chosen.get(down)
        return None if chosen is None else self.layers.index(chosen)

    def request_keyframe(self, down: DownTrack | None = None) -> None:
        """A keyframe on `down`'s layer (and the one it waits for), or on every layer."""
        if down is None:
            for layer in self.layers:
                layer.request_keyframe()
            return
        self._layer_for(down).request_keyframe()
        for layer in self.layers:
            if down in layer.waiting:
                layer.request_keyframe()

    def close(self) -> None:
        for layer in self.layers:
            layer.close()
        self._chosen.clear()
        self._wanted.clear()
        self._by_ssrc.clear()
