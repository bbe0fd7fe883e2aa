"""Media ports an IT department can open: a fixed UDP range, and an announced address."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from aiortc import RTCPeerConnection

from conftest import free_udp_ports, start_worker, stop_worker, until
from media.bot import Bot, connect
from media.peer import rtc_configuration

CANDIDATE = re.compile(r"^a=candidate:\S+ \d+ udp \d+ (\S+) (\d+) typ (\w+)", re.M)
ANNOUNCED = Path(__file__).with_name("announced.py")


def _veth_problem() -> str | None:
    """Why this machine cannot make a network namespace with a veth pair (None if it can)."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare (util-linux) and ip (iproute2) are not installed"
    probe = subprocess.run(["unshare", "-n", "ip", "link", "add", "probe0", "type", "veth", "peer", "name", "probe1"],
                           capture_output=True, text=True)
    return None if probe.returncode == 0 else f"cannot make a network namespace with a veth pair: {probe.stderr.strip()}"


VETH_PROBLEM = _veth_problem()


def udp_ports_of(pid: int) -> set[int]:
    """Local ports of every UDP socket the process holds (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except FileNotFoundError:  # closed while we looked
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("udp", "udp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


@pytest.mark.timeout(120)
def test_a_worker_binds_only_inside_its_port_range_and_refuses_one_peer_too_many():
    ports = free_udp_ports(6)
    proc, address = start_worker("--media-ports", f"{ports[0]}-{ports[-1]}")

    async def scenario():
        bots = [Bot(address, "range", f"p{i}", publish=False) for i in range(len(ports))]
        extra = Bot(address, "range", "one-too-many", publish=False)
        try:
            for bot in bots:
                await bot.join()
            bound = udp_ports_of(proc.pid)
            joining = asyncio.ensure_future(extra.join())
            await until(lambda: extra.errors, 15, "a refusal for the peer past the range")
            joining.cancel()
            return bound, extra.errors, [b.errors for b in bots]
        finally:
            for bot in [*bots, extra]:
                await bot.close()

    try:
        bound, refusal, errors = asyncio.run(scenario())
        assert bound == set(ports)  # every port of the range in use, none outside it
        assert errors == [[]] * len(ports)
        assert refusal[0]["pid"] == "one-too-many"
        assert f"no free UDP port left in MVC_MEDIA_PORTS {ports[0]}-{ports[-1]}" in refusal[0]["message"]
        assert udp_ports_of(proc.pid) <= set(ports)
    finally:
        stop_worker(proc)


@pytest.mark.timeout(60)
def test_a_worker_with_an_announced_address_offers_only_that_address():
    """203.0.113.7 (TEST-NET-3) is only read in the SDP: this side never sends to it."""
    proc, address = start_worker("--announced-ip", "203.0.113.7")

    async def scenario():
        reader, writer = await connect(address)
        pc = RTCPeerConnection(rtc_configuration([]))
        try:
            pc.addTransceiver("audio", direction="recvonly")
            await pc.setLocalDescription(await pc.createOffer())
            writer.write(json.dumps({"type": "offer", "room": "nat", "pid": "a",
                                     "sdp": pc.localDescription.sdp}).encode() + b"\n")
            while (reply := json.loads(await asyncio.wait_for(reader.readline(), 15)))["type"] != "answer":
                assert reply["type"] != "error", reply
            return reply["sdp"]
        finally:
            await pc.close()  # never applies the answer: no check goes to 203.0.113.7
            writer.close()

    try:
        sdp = asyncio.run(scenario())
    finally:
        stop_worker(proc)
    candidates = CANDIDATE.findall(sdp)
    assert candidates and {(host, kind) for host, _port, kind in candidates} == {("203.0.113.7", "host")}


@pytest.mark.timeout(120)
@pytest.mark.skipif(VETH_PROBLEM is not None, reason=VETH_PROBLEM or "")
def test_a_worker_on_every_address_announcing_its_lan_address_gets_media_from_peers_on_another_network():
    """As `make run-lan` runs it, between two network namespaces joined by a veth pair (announced.py).

    The worker (started by a pool from MVC_MEDIA_ANNOUNCED_IP and MVC_MEDIA_PORTS) has two
    addresses on its side, binds the wildcard address and offers only 198.18.0.1; the peers
    send no candidates of their own, as a phone whose private addresses the worker drops.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("MVC_")}
    env.update(MVC_OUTER_NETNS=os.readlink("/proc/self/ns/net"), MVC_SECRET_KEY="lan-media-test",
               MVC_MEDIA_SECRET="lan-media-test", MVC_MEDIA_ANNOUNCED_IP="198.18.0.1", MVC_MEDIA_PORTS="40000-40009")
    done = subprocess.run(["unshare", "-n", sys.executable, str(ANNOUNCED)], env=env, capture_output=True, text=True,
                          timeout=100)
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads(done.stdout.strip().splitlines()[-1])
    in_range = {str(p) for p in range(40000, 40010)}
    offered = [c.split(":") for c in r["candidates"]]
    assert offered and all(a == "198.18.0.1" and p in in_range and kind == "host" for a, p, kind in offered), r
    assert r["check_targets"] and all(t.split(":")[0] == "198.18.0.1" for t in r["check_targets"]), r
    bound = [s.split(":") for s in r["worker_udp"]]
    assert bound and all(a == "0.0.0.0" and p in in_range for a, p in bound), r  # every address, inside the range
    assert r["frames"] >= 30 and r["audio"] >= 50 and r["errors"] == [[], []], r
