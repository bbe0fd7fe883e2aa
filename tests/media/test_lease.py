"""Several web processes agree on one worker per room through the Redis lease."""
from __future__ import annotations

import time

from conftest import SECRET
from media.pool import MediaPool
from mvc.media_client import redis_lease


def test_two_pools_put_a_room_on_the_same_worker(redis_server):
    spawner = MediaPool(workers=2, loopback_only=True, secret=SECRET)
    spawner.start()
    try:
        addresses = sorted(w["address"] for w in spawner.health()["workers"].values())
        prefix = f"mvctest{time.time_ns()}"
        lease = redis_lease(redis_server.url, prefix=prefix)
        # Each process sees a different least-loaded worker first (the order of addresses).
        first = MediaPool(addresses=addresses, lease=lease, secret=SECRET)
        second = MediaPool(addresses=list(reversed(addresses)), lease=lease, secret=SECRET)
        first.start()
        second.start()
        try:
            for room in ("r1", "r2", "r3"):
                first.send({"type": "join", "room": room, "pid": "a"})
                second.send({"type": "join", "room": room, "pid": "b"})
                assert first.room_worker(room) == second.room_worker(room)
            # Without the lease, the two would have split the first room.
            alone = MediaPool(addresses=list(reversed(addresses)), secret=SECRET)
            alone.start()
            alone.send({"type": "join", "room": "r1", "pid": "c"})
            assert alone.room_worker("r1") != first.room_worker("r1") or len(addresses) == 1
            alone.stop()
        finally:
            first.stop()
            second.stop()
    finally:
        spawner.stop()
