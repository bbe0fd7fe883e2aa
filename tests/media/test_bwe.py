"""Bandwidth feedback, video pausing, bounded NACKs and Opus FEC/DTX, decision by decision."""
from __future__ import annotations

import asyncio

from aiortc import RTCPeerConnection
from aiortc.rtcrtpreceiver import NackGenerator
from aiortc.rtp import (RTCP_PSFB_APP, RtcpPsfbPacket, RtcpReceiverInfo, RtcpRrPacket,
                        RtpPacket, pack_remb_fci)

from media import bwe
from media.bwe import BoundedNacks, DownlinkFeedback, UplinkControl, loss_rule
from media.layers import EVERYTHING, HOLD, NO_VIDEO, SETTLE, SPEAKER_ONLY, VideoGate
from media.opus import with_fec_and_dtx


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


SEQUENCE = [1000]


def rr(fraction: float, packets: int = 100) -> RtcpRrPacket:
    """A receiver report on one stream: `fraction` of its last `packets` lost."""
    SEQUENCE[0] += packets
    info = RtcpReceiverInfo(ssrc=1, fraction_lost=int(fraction * 256), packets_lost=0,
                            highest_sequence=SEQUENCE[0], jitter=0, lsr=0, dlsr=0)
    return RtcpRrPacket(ssrc=9, reports=[info])


def remb(bps: int) -> RtcpPsfbPacket:
    return RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=9, media_ssrc=0, fci=pack_remb_fci(bps, [1]))


def test_loss_rule_cuts_on_heavy_loss_grows_on_none_and_holds_between():
    assert loss_rule(None, 1_000_000, 0.5) == 750_000
    assert loss_rule(800_000, 1_000_000, 0.0) == 800_000 * bwe.GROWTH
    assert loss_rule(800_000, 1_000_000, 0.05) == 800_000
    assert loss_rule(None, 1_000_000, 0.0) is None  # no loss yet: no limit
    assert loss_rule(None, 10_000, 0.9) == bwe.MIN_ESTIMATE


def test_downlink_feedback_counts_each_compound_packet_once_and_trusts_remb_only_with_loss():
    clock = Clock()
    f = DownlinkFeedback(clock)
    f.on_rtcp(rr(0.0))  # the first report of a stream: where it stands
    assert f.reports == 0
    packet = rr(0.5)
    for _ in range(3):  # aiortc hands one compound report to each sender it names
        f.on_rtcp(packet)
    assert f.reports == 1 and f.loss == 0.25
    f.on_rtcp(remb(200_000))
    assert f.estimate() == 200_000
    for _ in range(4):
        f.on_rtcp(rr(0.0))
    assert f.loss < bwe.LOSS_LOW
    assert f.estimate(corroborated=True) is None  # a ramping REMB alone pauses nobody
    clock.now += bwe.FEEDBACK_STALE + 1
    assert f.estimate() is None  # a stale REMB no longer counts


def test_uplink_control_caps_the_remb_on_receive_side_loss_and_lets_go_when_recovered():
    u = UplinkControl()
    assert u.remb(1_500_000) == 1_500_000
    u.update(100, 100, rate=1_000_000)
    u.update(200, 160, rate=1_000_000)  # 40 % lost
    assert u.cap == 800_000 and u.remb(1_500_000) == 800_000
    assert u.remb(1_500_000, limit=250_000) == 250_000  # a one-to-one subscriber's limit
    for n in range(3, 20):
        u.update(n * 100, n * 100 - 40, rate=1_000_000)  # no new loss: grows back
    assert u.cap is None and u.remb(1_500_000) == 1_500_000


def test_bounded_nacks_give_up_after_tries_or_window():
    clock = Clock()
    nacks = BoundedNacks(NackGenerator(), clock)
    nacks.add(RtpPacket(sequence_number=1))
    assert nacks.add(RtpPacket(sequence_number=3))  # 2 is missing
    for _ in range(bwe.NACK_TRIES):
        assert nacks.take() == [2]
    assert nacks.take() == []  # asked often enough: subscribers are not kept waiting
    assert nacks.add(RtpPacket(sequence_number=5))
    clock.now += bwe.NACK_WINDOW + 0.1
    assert nacks.take() == []  # too late to be of use


def test_video_gate_pauses_non_speakers_then_all_and_resumes_after_hold():
    gate = VideoGate()
    need = {EVERYTHING: 900_000, SPEAKER_ONLY: 300_000, NO_VIDEO: 0}.__getitem__
    now = 10.0
    assert gate.decide(now, None, need) == EVERYTHING  # no feedback yet
    assert gate.decide(now, 500_000, need) == SPEAKER_ONLY
    assert gate.decide(now + 0.1, 100_000, need) == SPEAKER_ONLY  # settling
    now += SETTLE
    assert gate.decide(now, 100_000, need) == NO_VIDEO
    assert gate.decide(now + HOLD / 2, 5_000_000, need) == NO_VIDEO  # held
    now += HOLD * 4
    assert gate.decide(now, 500_000, need) == SPEAKER_ONLY
    now += gate.hold + SETTLE
    assert gate.decide(now, 2_000_000, need) == EVERYTHING


def test_opus_gets_inband_fec_and_dtx_in_what_the_worker_sends():
    async def scenario():
        a, b = RTCPeerConnection(), RTCPeerConnection()
        a.addTransceiver("audio")
        await a.setLocalDescription(await a.createOffer())
        await b.setRemoteDescription(a.localDescription)
        await b.setLocalDescription(await b.createAnswer())
        sdp = with_fec_and_dtx(b.localDescription.sdp)
        await a.setRemoteDescription(type(b.localDescription)(sdp=sdp, type="answer"))
        await a.close()
        await b.close()
        return b.localDescription.sdp, sdp

    before, after = asyncio.run(scenario())
    assert "useinbandfec=1" not in before
    fmtp = [line for line in after.split("\r\n") if line.startswith("a=fmtp:")]
    assert any("useinbandfec=1" in line and "usedtx=1" in line for line in fmtp), fmtp
    assert with_fec_and_dtx("a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=0") \
        == "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1;usedtx=1"


def _frames(seconds: float, delay_growth_ms: float = 0.0):
    """A 30 fps, ~500 kbit/s video stream of 3-packet frames: (abs_send_time, arrival ms, size),
    the network queue growing by delay_growth_ms per frame (congestion) when given."""
    queue = 0.0
    for n in range(int(seconds * 30)):
        send_ms = n * 1000 / 30
        queue += delay_growth_ms
        for k in range(3):
            at = send_ms + k * 0.5
            yield (int(at / 1000 * (1 << 18)) & 0xFFFFFF, int(at + 20 + queue), 700)


def _estimates(feed) -> list[int]:
    from aiortc.rate import RemoteBitrateEstimator
    add = feed(RemoteBitrateEstimator())
    out = []
    for abs_time, arrival, size in list(_frames(6)) + [(a, t + 6000, s) for a, t, s in _frames(6, 4.0)]:
        result = add(abs_time + (6 * (1 << 18) if arrival >= 6000 else 0) & 0xFFFFFF, arrival, size)
        if result is not None:
            out.append(result[0])
    return out


def test_grouped_estimator_estimates_like_per_packet_feeding_and_sees_congestion():
    from media.bwe import GroupedEstimator

    def per_packet(estimator):
        return lambda a, t, s: estimator.add(abs_send_time=a, arrival_time_ms=t, payload_size=s, ssrc=1)

    def grouped(estimator):
        g = GroupedEstimator(estimator)
        return lambda a, t, s: g.add(a, t, s, 1)

    reference, ours = _estimates(per_packet), _estimates(grouped)
    assert ours and reference
    # In the steady first half both settle at the same figure; the queue growing after it
    # (4 ms per frame) brings both down well below it.
    steady_ref, steady = max(reference[: len(reference) // 2]), max(ours[: len(ours) // 2])
    assert abs(steady - steady_ref) <= 0.15 * steady_ref, (steady, steady_ref)
    assert ours[-1] < 0.8 * steady and reference[-1] < 0.8 * steady_ref, (ours[-6:], reference[-6:])
    assert abs(ours[-1] - reference[-1]) <= 0.05 * reference[-1]
    assert len(ours) < len(reference)  # and with a third of the work here: one sample per frame


def test_downlink_estimate_is_cut_once_per_interval_and_not_by_reports_about_what_was_sent_before():
    """After the worker sends less, reports that still count the loss of what it sent before
    must not cut the estimate down to what it sends now."""
    clock = Clock()
    f = DownlinkFeedback(clock)
    f.on_rtcp(rr(0.0))
    f.update(1_400_000)  # sending two top layers
    f.on_rtcp(rr(0.5))
    clock.now += 0.5
    f.update(1_400_000)
    assert f.loss_estimate == 1_400_000 * 0.75  # cut from what was sent
    f.on_rtcp(rr(0.5))
    clock.now += 0.5
    f.update(1_400_000)
    assert f.loss_estimate == 1_050_000  # within CUT_INTERVAL of the last cut
    f.quiet(clock.now + bwe.REPORT_LAG)  # the worker now sends the low layers
    f.on_rtcp(rr(0.3))  # a report still about the time before
    clock.now += bwe.CUT_INTERVAL
    f.update(300_000)
    assert f.loss_estimate == 1_050_000
    clock.now += bwe.REPORT_LAG
    f.on_rtcp(rr(0.05))  # about the low layers: better now, no cut, though the smoothed loss is high
    f.update(300_000)
    assert f.loss > bwe.LOSS_HIGH and f.loss_estimate == 1_050_000
    f.on_rtcp(rr(0.375))  # real loss at the low rate: cut from that rate
    clock.now += bwe.CUT_INTERVAL
    f.update(300_000)
    assert f.loss_estimate == 300_000 * (1 - 0.375 / 2)
    f.lower_to(100_000)  # video paused because of a REMB: probing for more starts there
    assert f.loss_estimate == 100_000
    f.lower_to(200_000)
    assert f.loss_estimate == 100_000


def test_loss_counts_all_packets_reported_not_the_worst_stream():
    f = DownlinkFeedback(Clock())

    def report(seqs: dict[int, int], fractions: dict[int, float]) -> RtcpRrPacket:
        return RtcpRrPacket(ssrc=9, reports=[
            RtcpReceiverInfo(ssrc=s, fraction_lost=int(fractions[s] * 256), packets_lost=0,
                             highest_sequence=seqs[s], jitter=0, lsr=0, dlsr=0) for s in seqs])

    f.on_rtcp(report({1: 100, 2: 100}, {1: 0.0, 2: 0.0}))
    # A video stream sent 400 packets and lost none; an audio one 50 and lost 10 %.
    f.on_rtcp(report({1: 500, 2: 150}, {1: 0.0, 2: 0.1}))
    assert abs(f.last_loss - 5 / 450) < 0.002
    f.on_rtcp(report({1: 500 + (1 << 20), 2: 200}, {1: 0.9, 2: 0.0}))  # nonsense: not counted
    assert f.last_loss == 0.0
    for n in range(bwe.MAX_STREAMS + 10):  # ever new SSRCs: the table stays bounded
        f.on_rtcp(report({1000 + n: n}, {1000 + n: 0.0}))
    assert len(f._highest) <= bwe.MAX_STREAMS


def test_only_a_remb_that_changed_after_a_given_time_counts_then():
    clock = Clock()
    f = DownlinkFeedback(clock)
    f.on_rtcp(rr(0.0))
    f.on_rtcp(rr(0.5))
    f.on_rtcp(remb(150_000))  # a low estimate from when the worker sent much more
    changed = clock.now + 1
    clock.now += 2
    f.on_rtcp(remb(150_000))  # repeated: the browser still describes the old traffic
    assert f.estimate(corroborated=True) == 150_000
    assert f.estimate(corroborated=True, since=changed) is None
    f.on_rtcp(remb(120_000))  # a new estimate: it describes what is sent now
    assert f.estimate(corroborated=True, since=changed) == 120_000


def test_video_gate_with_layers_steps_down_a_layer_before_pausing():
    gate = VideoGate()
    # Two publishers with two layers each (steps = 1): levels 0 (top layers), 1 (low
    # layers), 2 (the speaker's low layer only), 3 (no video).
    need = {0: 1_400_000, 1: 300_000, 2: 150_000, 3: 0}.__getitem__
    now = 10.0
    assert gate.decide(now, 700_000, need, top=3) == 1  # the low layers fit
    now += SETTLE
    assert gate.decide(now, 700_000, need, top=3) == 1  # and stay
    now += SETTLE
    assert gate.decide(now, 200_000, need, top=3) == 2  # then only the speaker's
    now += SETTLE
    assert gate.decide(now, 100_000, need, top=3) == 3
    assert gate.decide(now + SETTLE, 100_000, need, top=1) == 1  # the layers went: no lower than top


def test_a_publisher_on_transport_cc_gets_a_remb_only_for_the_one_to_one_cap_and_then_its_lifting():
    from types import SimpleNamespace

    from media.layers import UNCAPPED, Adaptation

    sent: list[int] = []
    up = SimpleNamespace(transport_cc=True, remb_limit=None, remb_capped=False, send_remb=sent.append,
                         media_statistics=lambda: (100, 60), uplink=None)  # 40 % lost: its own to see
    room = SimpleNamespace(peers={"p": SimpleNamespace(ups={"video": up})})
    adaptation = Adaptation(room)  # type: ignore[arg-type]
    adaptation._uplinks()
    assert sent == []  # it estimates its uplink itself from the worker's feedback
    up.remb_limit = 250_000.0  # its one-to-one subscriber's downlink
    adaptation._uplinks()
    up.remb_limit = None
    adaptation._uplinks()
    adaptation._uplinks()
    assert sent == [250_000, UNCAPPED]
