"""Which remote ICE candidates a worker may send to (it would send STUN checks to each).

A remote candidate is kept only if it is UDP, names an IP address (mDNS `.local` names
are dropped) and that address is a public unicast one; private (RFC 1918, fc00::/7),
link-local, multicast, unspecified, reserved and (outside loopback-only mode) loopback
addresses are dropped unless they lie in a network the operator allowed. In loopback-only
mode only loopback addresses are kept. At most MAX_PER_PEER candidates per peer.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

MAX_PER_PEER = 16

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_CANDIDATE_LINE = re.compile(r"^a=candidate:(.*)$")


def parse_networks(text: str) -> tuple[Network, ...]:
    """Comma-separated CIDRs (e.g. "10.0.0.0/8, fd00::/8") as networks; ValueError if bad."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False)
                 for part in text.split(",") if part.strip())


def parse_ports(text: str) -> range | None:
    """A UDP port range such as "40000-40099" (both ends included); None for ""; ValueError if bad."""
    if not text.strip():
        return None
    first, _, last = text.partition("-")
    ports = range(int(first), int(last or first) + 1)
    if not ports or ports.start < 1024 or ports.stop > 65536:
        raise ValueError(f"media ports {text!r}: want FIRST-LAST within 1024-65535")
    return ports


def parse_announced(text: str) -> str | None:
    """The address workers write into their host candidates; None for ""; ValueError if bad."""
    return str(ipaddress.ip_address(text.strip())) if text.strip() else None


@dataclass(frozen=True)
class IceFilter:
    """The worker's rule for remote candidates (see the module docstring)."""

    loopback_only: bool = False
    allowed: tuple[Network, ...] = field(default_factory=tuple)

    def address_ok(self, host: str) -> bool:
        """True if the worker may send to this candidate address."""
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False  # a hostname: mDNS (.local) or anything else we would have to resolve
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if self.loopback_only:
            return ip.is_loopback
        if any(ip.version == net.version and ip in net for net in self.allowed):
            return True
        return ip.is_global and not ip.is_multicast

    def candidate_ok(self, text: str) -> bool:
        """True for an `a=candidate` value (without "a=candidate:") the worker may use."""
        bits = text.split()
        if len(bits) < 8 or bits[2].lower() != "udp" or bits[6] != "typ":
            return False
        try:
            port = int(bits[5])
        except ValueError:
            return False
        return 0 < port < 65536 and self.address_ok(bits[4])


class CandidateBudget:
    """One peer's remote candidates: filtered, and at most MAX_PER_PEER of them."""

    def __init__(self, rule: IceFilter) -> None:
        self.rule = rule
        self.seen: set[tuple[str, str]] = set()  # (address, port) already accepted
        self.checked = 0
        self.dropped = 0

    def take(self, text: str) -> bool:
        """True if this candidate may be used (a repeat of an accepted one counts once)."""
        self.checked += 1
        if not self.rule.candidate_ok(text):
            self.dropped += 1
            return False
        bits = text.split()
        key = (bits[4], bits[5])
        if key not in self.seen:
            if len(self.seen) >= MAX_PER_PEER:
                self.dropped += 1
                return False
            self.seen.add(key)
        return True

    def strip_sdp(self, sdp: str) -> str:
        """The SDP without the candidate lines this peer may not use."""
        lines = sdp.split("\r\n") if "\r\n" in sdp else sdp.split("\n")
        kept = [line for line in lines
                if not (match := _CANDIDATE_LINE.match(line)) or self.take(match.group(1))]
        return "\r\n".join(kept)
