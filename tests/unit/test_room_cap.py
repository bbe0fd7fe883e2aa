"""The room cap's seat rules: hosts' seats kept, rejoins counted once, lapsed seats freed."""
from __future__ import annotations

import threading
import time

import pytest

from mvc.live.state import SEAT_GRACE, Participant, RoomFull, RoomState, take_seat


def person(pid: str, role: str = "guest") -> Participant:
    return Participant(pid=pid, name=pid, role=role)


def test_guests_leave_the_hosts_seats_free():
    state = RoomState(1, {"waiting_room": False})
    for i in range(33):
        take_seat(state, person(f"g{i}"), cap=35, host_seats=2)
    with pytest.raises(RoomFull):
        take_seat(state, person("g33"), cap=35, host_seats=2)
    take_seat(state, person("h1", "host"), cap=35, host_seats=2)
    take_seat(state, person("h2", "host"), cap=35, host_seats=2)
    with pytest.raises(RoomFull):
        take_seat(state, person("h3", "host"), cap=35, host_seats=2)
    assert len(state.participants) == 35


def test_someone_already_seated_is_not_counted_twice():
    state = RoomState(1)
    take_seat(state, person("a"), cap=1, host_seats=0)
    again = take_seat(state, person("a"), cap=1, host_seats=0)
    assert again is state.participants["a"] and len(state.participants) == 1
    with pytest.raises(RoomFull):
        take_seat(state, person("b"), cap=1, host_seats=0)


def test_a_seat_left_long_ago_goes_to_the_next_person_and_is_then_gone():
    state = RoomState(1)
    take_seat(state, person("a"), cap=1, host_seats=0)
    state.participants["a"].seen_at -= SEAT_GRACE + 1  # closed the page a while ago
    take_seat(state, person("b"), cap=1, host_seats=0)
    with pytest.raises(RoomFull):
        take_seat(state, person("a"), cap=1, host_seats=0)


@pytest.fixture(params=["sqlite", "redis"])
def store(request):
    if request.param == "sqlite":
        from mvc.live.sqlite import SqliteStore

        s = SqliteStore(request.getfixturevalue("tmp_path") / "live.sqlite")
    else:
        from mvc.live.redis import RedisStore

        s = RedisStore(request.getfixturevalue("redis_server").url, prefix=f"mvctest{time.time_ns()}")
    yield s
    s.close()


def test_forty_at_once_get_exactly_the_cap_in_both_stores(store):
    outcome: list[str] = []

    def come(i: int) -> None:
        try:
            store.update(1, lambda s: take_seat(s, person(f"p{i}"), cap=35, host_seats=0), settings={})
            outcome.append("in")
        except RoomFull:
            outcome.append("full")

    threads = [threading.Thread(target=come, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcome) == ["full"] * 5 + ["in"] * 35
    assert len(store.get(1).participants) == 35
