"""Live state rules and every store backend (SQLite in memory and in a file, Redis on a real server)."""
from __future__ import annotations

import threading
import time

import pytest

from mvc.live import STATE_TTL, room_key
from mvc.live.sqlite import SqliteStore
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


def test_the_late_close_of_a_replaced_socket_leaves_the_new_one_connected():
    state = RoomState(1, {"waiting_room": True})
    arrive(state, host())
    set_connected(state, "h", True, "old")
    set_connected(state, "h", True, "new")  # the page reconnected before the old close was handled
    set_connected(state, "h", False, "old")
    assert state.participants["h"].connected and state.host_present
    set_connected(state, "h", False, "new")
    assert not state.participants["h"].connected


def test_disconnect_all_keeps_everything_but_the_sockets():
    from mvc.live.state import disconnect_all

    state = RoomState(1, {"waiting_room": False})
    arrive(state, host())
    arrive(state, guest("a")).hand = 5.0
    set_connected(state, "h", True)
    set_connected(state, "a", True)
    disconnect_all(state)
    assert not state.host_present and not state.participants["a"].connected
    assert state.participants["a"].hand == 5.0 and state.participants["a"].status == PRESENT


def test_roundtrip_through_dict():
    state = RoomState(7, {"layout": "tiles"})
    arrive(state, host())
    copy = RoomState.from_dict(state.to_dict())
    assert copy == state
    assert leave(copy, "h").name == "Host Hanne" and copy.participants == {}


def poll(predicate, timeout: float = 5.0):
    """Wait until predicate() is true (or fail after timeout seconds)."""
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, "condition not reached in time"
        time.sleep(0.01)


@pytest.fixture(params=["sqlite-memory", "sqlite-file", "redis"])
def store(request, tmp_path):
    if request.param == "sqlite-memory":
        s = SqliteStore()
    elif request.param == "sqlite-file":
        s = SqliteStore(tmp_path / "live.sqlite")
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
    got, other = [], []
    unsubscribe = store.subscribe(5, got.append)
    store.subscribe(5, other.append)
    assert store.subscribers(5) == 2 and store.subscribers(6) == 0
    # Redis: the subscription takes effect asynchronously, so knock until it answers.
    poll(lambda: store.publish(5, {"kind": "probe"}) or got)
    store.publish(6, {"kind": "other-room"})
    store.publish(5, {"kind": "state", "v": 1})
    poll(lambda: {"kind": "state", "v": 1} in got)
    unsubscribe()
    assert store.subscribers(5) == 1
    store.publish(5, {"kind": "state", "v": 2})
    poll(lambda: {"kind": "state", "v": 2} in other)  # events arrive in order: v2 has been delivered
    assert {"kind": "other-room"} not in got and {"kind": "state", "v": 2} not in got


def test_deployments_on_other_redis_databases_of_one_server_do_not_hear_each_others_meetings(redis_server):
    from mvc.live.redis import RedisStore

    base, _, db = redis_server.url.rpartition("/")
    ours, theirs = RedisStore(redis_server.url), RedisStore(f"{base}/{(int(db or 0) + 1) % 16}")
    try:
        heard, ours_heard = [], []
        theirs.subscribe(7, heard.append)
        ours.subscribe(7, ours_heard.append)
        # Both subscriptions take effect asynchronously: knock until each answers.
        poll(lambda: theirs.publish(7, {"kind": "probe"}) or heard)
        poll(lambda: ours.publish(7, {"kind": "probe"}) or ours_heard)
        ours.publish(7, {"kind": "chat", "line": {"text": "private to this deployment"}})
        poll(lambda: any(e["kind"] == "chat" for e in ours_heard))
        theirs.publish(7, {"kind": "state", "v": 1})  # their own events still reach them, after ours
        poll(lambda: {"kind": "state", "v": 1} in heard)
        assert not any(e["kind"] == "chat" for e in heard)
    finally:
        ours.close()
        theirs.close()


def test_store_counts_hits_in_a_window(store):
    assert store.hit("k", 60) == 1
    assert store.hit("k", 60) == 2
    assert store.count("k", 60) == 2
    assert store.count("other", 60) == 0
    assert store.health()["ok"] is True


def test_store_delete_forgets_the_room_its_chat_and_its_hits(store):
    store.update(3, lambda s: None, settings={})
    store.update(4, lambda s: None, settings={})
    store.append_log(3, {"n": 1}, cap=10)
    store.hit(room_key(3, "chat", "a"), 60)
    store.hit(room_key(33, "chat", "a"), 60)  # another meeting whose id starts alike
    store.hit("pin:demo", 60)  # not the meeting's: stays
    assert store.rooms() == [3, 4]
    store.delete(3)
    assert store.get(3) is None and store.read_log(3) == [] and store.rooms() == [4]
    assert store.count(room_key(3, "chat", "a"), 60) == 0
    assert store.count(room_key(33, "chat", "a"), 60) == 1 and store.count("pin:demo", 60) == 1


def test_store_update_never_brings_a_deleted_room_back(store):
    store.update(2, lambda s: arrive(s, guest("a")), settings={"waiting_room": False})
    store.delete(2)
    state, gone = store.update(2, lambda s: set_connected(s, "a", False))  # a late message
    assert gone is None and state.participants == {}
    assert store.get(2) is None and store.rooms() == []


def test_chat_log_keeps_the_newest_lines(store):
    for i in range(12):
        store.append_log(9, {"n": i}, cap=10)
    assert [x["n"] for x in store.read_log(9)] == list(range(2, 12))
    store.delete(9)
    assert store.read_log(9) == []


def test_sqlite_file_keeps_everything_across_a_reopen(tmp_path):
    first = SqliteStore(tmp_path / "var" / "live.sqlite")
    first.update(1, lambda s: setattr(s, "locked", True), settings={})
    first.append_log(1, {"text": "hello"}, cap=10)
    first.hit("pin:demo", 600)
    first.close()
    again = SqliteStore(tmp_path / "var" / "live.sqlite")
    assert again.get(1).locked and again.get(1).version == 1
    assert again.read_log(1) == [{"text": "hello"}]
    assert again.count("pin:demo", 600) == 1
    again.close()


def test_sqlite_prunes_expired_hits_and_stale_rooms():
    s = SqliteStore()
    s.hit("short", 1)
    s.hit("long", 600)
    s.update(1, lambda st: None, settings={})
    s.append_log(1, {"n": 1}, cap=10)
    assert s.prune(time.time() + 2) == 1  # the short hit only
    assert s.count("long", 600) == 1 and s.get(1) is not None
    s.prune(time.time() + STATE_TTL + 1)
    assert s.get(1) is None and s.read_log(1) == [] and s.count("long", 600) == 0
    s.close()


def test_sqlite_prune_is_bounded_per_sweep():
    from mvc.live.sqlite import PRUNE_BATCH

    s = SqliteStore()
    for i in range(PRUNE_BATCH + 10):
        s.hit(f"pin:room{i}", 1)
    later = time.time() + 2
    assert s.prune(later) == PRUNE_BATCH
    assert s.prune(later) == 10
    assert s.prune(later) == 0
    s.close()


def test_store_documents_update_atomically_under_concurrency(store):
    def add(i):
        store.update_doc("queue:1", lambda d: d.setdefault("items", []).append(i))

    threads = [threading.Thread(target=add, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(store.get_doc("queue:1")["items"]) == list(range(20))
    assert store.get_doc("queue:2") is None
    store.delete_doc("queue:1")
    assert store.get_doc("queue:1") is None


def test_store_delete_forgets_the_meetings_documents_only(store):
    store.update(3, lambda s: None, settings={})
    store.update_doc(room_key(3, "queue-call"), lambda d: d.update(intake="private"))
    store.update_doc(room_key(33, "queue-call"), lambda d: d.update(intake="other"))
    store.update_doc("queue:3", lambda d: d.update(paused=True))
    store.delete(3)
    assert store.get_doc(room_key(3, "queue-call")) is None
    assert store.get_doc(room_key(33, "queue-call")) == {"intake": "other"}
    assert store.get_doc("queue:3") == {"paused": True}
