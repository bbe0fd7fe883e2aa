"""Opus in-band FEC and DTX in every SDP the worker sends.

The fmtp of an answer or offer states what the worker, as a receiver, prefers; browsers
then encode their Opus with forward error correction (a lost 20 ms packet is rebuilt from
the next one) and stop sending during silence (DTX), which a weak link needs most.
"""

from __future__ import annotations

import re

WANTED = {"useinbandfec": "1", "usedtx": "1"}


def with_fec_and_dtx(sdp: str) -> str:
    """The SDP with useinbandfec=1;usedtx=1 on every Opus payload type."""
    lines = sdp.split("\r\n")
    opus = {m.group(1) for line in lines
            if (m := re.match(r"a=rtpmap:(\d+) opus/48000", line, re.IGNORECASE))}
    out: list[str] = []
    for line in lines:
        fmtp = re.match(r"a=fmtp:(\d+) (.*)", line)
        if fmtp and fmtp.group(1) in opus:
            params = dict(p.split("=", 1) for p in fmtp.group(2).split(";") if "=" in p)
            line = f"a=fmtp:{fmtp.group(1)} " + ";".join(f"{k}={v}" for k, v in {**params, **WANTED}.items())
            opus.discard(fmtp.group(1))
        out.append(line)
    for pt in opus:  # no fmtp line yet: add one after the rtpmap
        at = next(i for i, line in enumerate(out) if line.lower().startswith(f"a=rtpmap:{pt} opus/"))
        out.insert(at + 1, f"a=fmtp:{pt} " + ";".join(f"{k}={v}" for k, v in WANTED.items()))
    return "\r\n".join(out)
