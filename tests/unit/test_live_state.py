"""Live state rules and both store backends (memory, and Redis on a real server)."""
from __future__ import annotations

import threading
import time

import pytest

from mvc.live.memory import MemoryStore
from mvc.live.state import KNOCKING, PRESENT, WAITING, Participant, RoomState, arrive, leave, set_connected


def guest(pid, name="Guest"):
    return Participant(pid=pid, name=name)


def host(pid="h"):
    return Participant(pid=pid, name="Host Hanne", role="host")


def test_guest_waits_until_a_host_connects_then_everyone_is_let_in():
    state = RoomState(1, {"waiting_room": True})
    assert arrive(state, guest("a")).status == WAITING
    assert arrive(state, guest("b")).status == WAITING
    arrive(state, host())
    assert not state.host_present  # placed, but not connected yet
    set_connected(state, "h", True)
    assert state.host_present
    assert {p.status for p in state.participants.values()} == {PRESENT}


def test_without_waiting_room_guests_go_straight_in():
    state = RoomState(1, {"waiting_room": False})
    assert arrive(state, guest("a")).status == PRESENT


def test_locked_room_makes_newcomers_knock_but_not_the_host():
    state = RoomState(1, {"waiting_room": False}, locked=True)
    assert arrive(state, guest("a")).status == KNOCKING
    assert arrive(state, host()).status == PRESENT
    set_connected(state, "h", True)
    assert state.participants["a"].status == KNOCKING  # knocking needs the host to admit


def test_rejoin_keeps_place_and_raised_hand():
    state = RoomState(1, {"waiting_room": False})
    person = arrive(state, guest("a", "Karen"))
    person.hand = 123.0
    set_connected(state, "a", False)
    again = arrive(state, guest("a", "Karen"))
    assert again.hand == 123.0 and again.status == PRESENT


def test_roundtrip_through_dict():
    state = RoomState(7, {"layout": "tiles"})
    arrive(state, host())
    copy = RoomState.from_dict(state.to_dict())
    assert copy == state
    assert leave(copy, "h").name == "Host Hanne" and copy.participants == {}


@pytest.fixture(params=["memory", "redis"])
def store(request):
    if request.param == "memory":
        s = MemoryStore()
    else:
        from mvc.live.redis import RedisStore

        server = request.getfixturevalue("redis_server")
        s = RedisStore(server.url, prefix=f"mvctest{time.time_ns()}")
    yield s
    s.close()


def test_store_update_is_atomic_under_concurrency(store):
    def add(i):
        store.update(1, lambda s: arrive(s, guest(f"p{i}")), settings={"waiting_room": False})

    threads = [threading.Thread(target=add, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    state = store.get(1)
    assert len(state.participants) == 20 and state.version == 20


def test_store_refusal_changes_nothing(store):
    store.update(1, lambda s: arrive(s, guest("a")), settings={"waiting_room": False})

    def refuse(state):
        state.participants["a"].name = "Changed"
        raise ValueError("no")

    with pytest.raises(ValueError):
        store.update(1, refuse)
    assert store.get(1).participants["a"].name == "Guest"


def test_store_publish_reaches_subscribers_until_unsubscribed(store):
    got = []
    done = threading.Event()

    def listener(event):
        got.append(event)
        done.set()

    unsubscribe = store.subscribe(5, listener)
    time.sleep(0.2)  # Redis: let the subscription settle
    store.publish(5, {"kind": "state", "v": 1})
    store.publish(6, {"kind": "other-room"})
    assert done.wait(3)
    time.sleep(0.2)
    assert got == [{"kind": "state", "v": 1}]
    unsubscribe()
    store.publish(5, {"kind": "state", "v": 2})
    time.sleep(0.3)
    assert len(got) == 1


def test_store_counts_hits_in_a_window(store):
    assert store.hit("k", 60) == 1
    assert store.hit("k", 60) == 2
    assert store.count("k", 60) == 2
    assert store.count("other", 60) == 0
    assert store.health()["ok"] is True


def test_store_delete_forgets_the_room(store):
    store.update(3, lambda s: None)
    store.delete(3)
    assert store.get(3) is None


def test_chat_log_keeps_the_newest_lines(store):
    for i in range(12):
        store.append_log(9, {"n": i}, cap=10)
    assert [x["n"] for x in store.read_log(9)] == list(range(2, 12))
    store.delete(9)
    assert store.read_log(9) == []
