"""A job that runs every interval in a daemon thread of its own (reminders, device calls, retention).

Subclasses give run_once(); any number of them may run at once across threads, processes and
machines, so run_once must be safe to repeat (claim rows atomically, or be idempotent).
"""
from __future__ import annotations

import socket
import threading
from datetime import datetime
from typing import Callable

from flask import Flask
from sqlmodel import Session

from mvc import db as mvc_db, logs
from mvc.models.base import utcnow

log = logs.get("mvc.periodic")


class PeriodicJob:
    """Calls run_once() every interval seconds until stopped; a failed round is logged and retried."""

    thread_name = "mvc-periodic"

    def __init__(self, app: Flask, interval: float, clock: Callable[[], datetime] = utcnow,
                 name: str | None = None) -> None:
        self.app = app
        self.clock = clock
        self.interval = interval
        # Who holds a claim, for rows claimed by one of many schedulers.
        self.name = (name or f"{socket.gethostname()}:{threading.get_native_id()}")[:40]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self):
        """One round of the job."""
        raise NotImplementedError

    def start(self) -> None:
        """Run the job every interval in a daemon thread."""
        self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - keep the job alive; the next round retries
                log.exception("periodic_round_failed", job=self.thread_name)

    def stop(self) -> None:
        """Stop the thread and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)


class ClaimingJob(PeriodicJob):
    """A PeriodicJob over database rows: each round lists the due rows, claims each with an
    atomic UPDATE and handles the ones it won, so every row is handled once however many run."""

    def due(self, db: Session, now: datetime) -> list[int]:
        """Ids of rows whose time has come and that no live claim holds."""
        raise NotImplementedError

    def claim(self, db: Session, row_id: int, now: datetime) -> bool:
        """Take one row; False when another job has it."""
        raise NotImplementedError

    def send(self, db: Session, row_id: int, now: datetime) -> str:
        """Handle one claimed row; returns its outcome."""
        raise NotImplementedError

    def run_once(self) -> int:
        """Handle every due row this job can claim; returns how many it handled."""
        handled = 0
        with self.app.app_context():
            now = self.clock()
            with Session(mvc_db.engine(), expire_on_commit=False) as db:
                for row_id in self.due(db, now):
                    if self.claim(db, row_id, now):
                        self.send(db, row_id, now)
                        handled += 1
        return handled
