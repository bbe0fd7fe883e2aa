"""Keep payload types and header extension ids stable across renegotiations.

aiortc builds every offer from its global defaults (opus=96, VP8=97, mid=1, ...), but a
browser fixed its own numbers in its first offer, and inside one BUNDLE an id or payload
type may not change meaning. We derive per-peer tables from what the client negotiated
and let aiortc use them while it writes the worker's renegotiation offers.
"""

from __future__ import annotations

import copy

from aiortc import RTCPeerConnection
from aiortc.codecs import CODECS, HEADER_EXTENSIONS, is_rtx
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpHeaderExtensionParameters

from . import aiortc_hooks as hooks

Codecs = dict[str, list[RTCRtpCodecParameters]]
Extensions = dict[str, list[RTCRtpHeaderExtensionParameters]]


def tables_from(pc: RTCPeerConnection) -> tuple[Codecs, Extensions]:
    """Codec and extension tables matching the numbers the client chose."""
    client_codecs = [c for t in pc.getTransceivers() for c in hooks.negotiated_codecs(t)]
    used_pts = {c.payloadType for c in client_codecs}
    ext_ids = {}
    for t in pc.getTransceivers():
        for ext in hooks.negotiated_extensions(t):
            ext_ids.setdefault(ext.uri, ext.id)
    free_pts = (pt for pt in range(96, 128) if pt not in used_pts)
    free_ids = (i for i in range(1, 15) if i not in ext_ids.values())

    codecs: Codecs = {}
    for kind, defaults in CODECS.items():
        renumbered: dict[int, int] = {}
        table = []
        for codec in defaults:
            codec = copy.deepcopy(codec)
            if is_rtx(codec):
                base = renumbered.get(codec.parameters["apt"])
                if base is None:
                    continue
                same = [c for c in client_codecs if is_rtx(c) and c.parameters.get("apt") == base]
                codec.parameters = {"apt": base}
            else:
                same = [c for c in client_codecs if hooks.is_codec_compatible(codec, c)]
            old = codec.payloadType
            if same:
                codec.payloadType = same[0].payloadType
            elif codec.payloadType >= 96:
                codec.payloadType = next(free_pts)
            renumbered[old] = codec.payloadType
            table.append(codec)
        codecs[kind] = table

    extensions: Extensions = {}
    for kind, defaults in HEADER_EXTENSIONS.items():
        for ext in defaults:
            if ext.uri not in ext_ids:
                ext_ids[ext.uri] = next(free_ids)
        extensions[kind] = [RTCRtpHeaderExtensionParameters(id=ext_ids[e.uri], uri=e.uri)
                            for e in defaults]
    return codecs, extensions
