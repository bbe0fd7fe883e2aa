"""The app's one scheduler for meeting timers: keyed, replaceable, stoppable."""
from __future__ import annotations

import threading

from mvc.timers import Scheduler
from tests.conftest import wait_until


def test_a_key_scheduled_again_replaces_its_timer():
    timers, ran = Scheduler(), []
    try:
        for i in range(150):
            timers.schedule((1, "breakout_close"), 3600, lambda i=i: ran.append(i))
        assert timers.pending() == 1
        timers.schedule((1, "breakout_close"), 0, lambda: ran.append("last"))
        wait_until(lambda: ran)
        assert ran == ["last"] and timers.pending() == 0
    finally:
        timers.stop()


def test_timers_run_in_order_on_one_thread():
    timers, ran = Scheduler(), []
    try:
        timers.schedule((1, "b"), 0.05, lambda: ran.append(("b", threading.current_thread().name)))
        timers.schedule((2, "a"), 0, lambda: ran.append(("a", threading.current_thread().name)))
        wait_until(lambda: len(ran) == 2)
        assert [r[0] for r in ran] == ["a", "b"] and {r[1] for r in ran} == {"mvc-timers"}
    finally:
        timers.stop()


def test_cancel_owner_drops_a_meetings_timers_only_and_a_failing_timer_stops_nothing():
    timers, ran = Scheduler(), []
    try:
        timers.schedule((7, "x"), 3600, lambda: ran.append("x"))
        timers.schedule((7, "y"), 3600, lambda: ran.append("y"))
        timers.schedule((8, "boom"), 0, lambda: 1 / 0)
        timers.schedule((8, "z"), 0, lambda: ran.append("z"))
        timers.cancel_owner(7)
        wait_until(lambda: ran == ["z"])
        assert timers.pending() == 0
    finally:
        timers.stop()


def test_stop_ends_the_thread_and_no_thread_before_the_first_timer():
    before = {t.name for t in threading.enumerate()}
    timers = Scheduler()
    assert "mvc-timers" not in {t.name for t in threading.enumerate()} - before
    timers.schedule((1, "x"), 3600, lambda: None)
    thread = timers._thread
    assert thread.is_alive()
    timers.stop()
    assert not thread.is_alive() and timers.pending() == 0
    timers.schedule((1, "x"), 0, lambda: None)  # a stopped scheduler takes no more work
    assert timers.pending() == 0
