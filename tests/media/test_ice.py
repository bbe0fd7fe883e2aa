"""Which remote candidates a worker may send to (media.ice), table-driven."""

import pytest

from media.ice import MAX_PER_PEER, CandidateBudget, IceFilter, parse_networks

PUBLIC = IceFilter()
LOOPBACK = IceFilter(loopback_only=True)
OPERATOR = IceFilter(allowed=parse_networks("10.20.0.0/16, fd00:1::/32"))


@pytest.mark.parametrize("address, public, loopback, operator", [
    ("8.8.8.8", True, False, True),  # public: a browser or a TURN relay
    ("2a00:1450:4001::1", True, False, True),
    ("10.0.0.1", False, False, False),  # RFC 1918
    ("10.20.3.4", False, False, True),  # ... unless the operator allowed that network
    ("172.16.5.5", False, False, False),
    ("192.168.1.10", False, False, False),
    ("100.64.0.1", False, False, False),  # carrier-grade NAT
    ("169.254.1.1", False, False, False),  # link-local
    ("fe80::1", False, False, False),
    ("fc00::1", False, False, False),  # unique local
    ("fd00:1::5", False, False, True),
    ("224.0.0.251", False, False, False),  # multicast
    ("ff02::1", False, False, False),
    ("255.255.255.255", False, False, False),
    ("0.0.0.0", False, False, False),  # unspecified
    ("::", False, False, False),
    ("127.0.0.1", False, True, False),  # loopback: only in loopback-only mode
    ("::1", False, True, False),
    ("::ffff:10.0.0.1", False, False, False),  # IPv4-mapped private
    ("::ffff:127.0.0.1", False, True, False),
    ("6f3c1a2e-0000-4000-8000-000000000000.local", False, False, False),  # mDNS
    ("example.com", False, False, False),
])
def test_addresses(address, public, loopback, operator):
    assert PUBLIC.address_ok(address) is public
    assert LOOPBACK.address_ok(address) is loopback
    assert OPERATOR.address_ok(address) is operator


@pytest.mark.parametrize("line, ok", [
    ("1 1 udp 2122260223 8.8.8.8 5000 typ host", True),
    ("2 1 udp 41885439 198.51.100.7 3478 typ relay raddr 0.0.0.0 rport 0", False),  # TEST-NET: not global
    ("2 1 udp 41885439 203.0.114.7 3478 typ relay raddr 10.0.0.1 rport 1", True),  # relay: public is fine
    ("3 1 tcp 1518280447 8.8.8.8 9 typ host tcptype active", False),  # the worker does not use TCP
    ("4 1 udp 2122260223 8.8.8.8 0 typ host", False),
    ("4 1 udp 2122260223 8.8.8.8 70000 typ host", False),
    ("garbage", False),
])
def test_candidate_lines(line, ok):
    assert PUBLIC.candidate_ok(line) is ok


def test_at_most_sixteen_distinct_targets_per_peer_and_repeats_count_once():
    budget = CandidateBudget(PUBLIC)
    lines = [f"{i} 1 udp 1 8.8.{i // 250}.{i % 250 + 1} 5000 typ host" for i in range(40)]
    assert [budget.take(line) for line in lines] == [True] * MAX_PER_PEER + [False] * (40 - MAX_PER_PEER)
    assert budget.take(lines[0])  # the same address and port again (another m-line)


def test_sdp_lines_are_stripped_before_aiortc_sees_them():
    sdp = "\r\n".join(["v=0", "m=audio 9 UDP/TLS/RTP/SAVPF 111",
                       "a=candidate:1 1 udp 1 8.8.8.8 5000 typ host",
                       "a=candidate:2 1 udp 1 192.168.0.2 5000 typ host",
                       "a=candidate:3 1 udp 1 abc.local 5000 typ host", "a=mid:0", ""])
    out = CandidateBudget(PUBLIC).strip_sdp(sdp)
    assert "8.8.8.8" in out and "192.168" not in out and ".local" not in out and "a=mid:0" in out
