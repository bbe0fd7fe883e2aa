"""One scheduler thread per app for meeting timers (no thread per request).

Timers are keyed by (owner, name), e.g. (meeting id, "breakout_close"): scheduling a key
again replaces its timer, so a page that repeats a request cannot pile up work, and
cancel_owner() drops everything a meeting left behind. The thread starts with the first timer and stops with stop().
"""
from __future__ import annotations

import heapq
import itertools
import threading
import time
from typing import Callable, Hashable

Key = tuple[Hashable, str]  # (owner, name)

from mvc import logs

log = logs.get("mvc.timers")


class Scheduler:
    """Keyed one-shot timers run in order by a single daemon thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Key]] = []
        self._jobs: dict[Key, tuple[int, Callable[[], None]]] = {}  # key -> (sequence, callback)
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def schedule(self, key: Key, delay: float, fn: Callable[[], None]) -> None:
        """Run fn after delay seconds, replacing any timer already set under key."""
        with self._cond:
            if self._stopped:
                return
            seq = next(self._seq)
            self._jobs[key] = (seq, fn)
            heapq.heappush(self._heap, (time.monotonic() + max(0.0, delay), seq, key))
            if len(self._heap) > 2 * len(self._jobs) + 16:  # drop entries of replaced timers
                self._heap = [e for e in self._heap if self._jobs.get(e[2], (None,))[0] == e[1]]
                heapq.heapify(self._heap)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="mvc-timers", daemon=True)
                self._thread.start()
            self._cond.notify()

    def cancel(self, key: Key) -> None:
        """Forget the timer under key, if any."""
        with self._cond:
            self._jobs.pop(key, None)
            self._cond.notify()

    def cancel_owner(self, owner: Hashable) -> None:
        """Forget every timer of one owner (a meeting that ended)."""
        with self._cond:
            for key in [k for k in self._jobs if k[0] == owner]:
                del self._jobs[key]
            self._cond.notify()

    def pending(self) -> int:
        """How many timers are waiting to run."""
        with self._cond:
            return len(self._jobs)

    def stop(self) -> None:
        """Drop every timer and end the thread."""
        with self._cond:
            self._stopped = True
            self._jobs.clear()
            self._heap.clear()
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _next_due(self) -> Callable[[], None] | None:
        """Wait for the next timer that is due; None once stopped."""
        with self._cond:
            while not self._stopped:
                if not self._heap:
                    self._cond.wait()
                    continue
                when, seq, key = self._heap[0]
                if self._jobs.get(key, (None,))[0] != seq:
                    heapq.heappop(self._heap)  # replaced or cancelled
                    continue
                wait = when - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
                return self._jobs.pop(key)[1]
            return None

    def _run(self) -> None:
        while (fn := self._next_due()) is not None:
            try:
                fn()
            except Exception:  # one failing timer must not stop the others
                log.exception("timer_failed")
