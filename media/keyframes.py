"""Where a keyframe begins in an RTP stream, for the codecs the worker forwards (VP8, H.264).

A simulcast subscriber moves to another layer only at the first packet of that layer's
keyframe (media.simulcast): anything before it would not decode.
"""

from __future__ import annotations

H264_IDR, H264_SPS, H264_STAP_A, H264_FU_A = 5, 7, 24, 28


def starts_keyframe(mime: str, payload: bytes) -> bool:
    """True if `payload` (an RTP payload of codec `mime`) is the first packet of a keyframe."""
    if mime == "video/vp8":
        return _vp8(payload)
    if mime == "video/h264":
        return _h264(payload)
    return False


def _vp8(payload: bytes) -> bool:
    """RFC 7741: the start of partition 0 (S=1, PID=0) with the frame header's P bit clear."""
    if len(payload) < 2 or payload[0] & 0x17 != 0x10:
        return False
    at = 1
    if payload[0] & 0x80:  # X: an extension byte follows
        ext = payload[1]
        at = 2
        if ext & 0x80:  # I: picture id, one or two bytes
            if at >= len(payload):
                return False
            at += 2 if payload[at] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            at += 1
        if ext & 0x30:  # T or K: TID/KEYIDX
            at += 1
    return at < len(payload) and payload[at] & 0x01 == 0


def _h264(payload: bytes) -> bool:
    """RFC 6184: an SPS or IDR slice, alone, first in a STAP-A, or starting a FU-A."""
    if not payload:
        return False
    nal = payload[0] & 0x1F
    if nal in (H264_IDR, H264_SPS):
        return True
    if nal == H264_FU_A:
        return len(payload) > 1 and bool(payload[1] & 0x80) and payload[1] & 0x1F in (H264_IDR, H264_SPS)
    if nal == H264_STAP_A:
        at = 1
        while at + 2 < len(payload):
            size = (payload[at] << 8) | payload[at + 1]
            if size == 0 or at + 2 + size > len(payload):
                return False
            if payload[at + 2] & 0x1F in (H264_IDR, H264_SPS):
                return True
            at += 2 + size
    return False
