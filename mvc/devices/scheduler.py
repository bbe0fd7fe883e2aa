"""Calls to devices invited to bookings, rung at the start time exactly once (across processes and restarts)."""
from __future__ import annotations

from datetime import datetime

from flask import Flask
from sqlalchemy import or_, update
from sqlmodel import Session, select

from mvc import logs
from mvc.booking.reminders import STALE_CLAIM, ReminderScheduler
from mvc.devices import service
from mvc.models.device import DeviceCall

log = logs.get("mvc.devices")


def _unclaimed(now: datetime):
    return (DeviceCall.status == "scheduled",
            or_(DeviceCall.claimed_at.is_(None), DeviceCall.claimed_at < now - STALE_CLAIM))


class CallScheduler(ReminderScheduler):
    """The reminder scheduler's claim-then-act loop, over scheduled device calls."""

    def due(self, db: Session, now: datetime) -> list[int]:
        """Ids of scheduled calls whose time has come and that no live claim holds."""
        return list(db.exec(select(DeviceCall.id).where(DeviceCall.due_at <= now, *_unclaimed(now)).limit(200)))

    def claim(self, db: Session, call_id: int, now: datetime) -> bool:
        """Take one call with an atomic UPDATE; False when another scheduler has it."""
        result = db.exec(update(DeviceCall).where(DeviceCall.id == call_id, *_unclaimed(now))
                         .values(claimed_at=now, claimed_by=self.name))
        db.commit()
        return result.rowcount == 1

    def send(self, db: Session, call_id: int, now: datetime) -> str:
        """Ring the device (or record why not)."""
        outcome = service.ring_scheduled(db, call_id)
        log.info("scheduled_call_done", call=call_id, outcome=outcome)
        return outcome


def init_app(app: Flask) -> None:
    """Start the device-call scheduler with the reminder thread (never at import)."""
    if app.config["REMINDER_THREAD"]:
        scheduler = CallScheduler(app, interval=app.config["DEVICE_CALL_INTERVAL"])
        app.extensions["mvc.device_calls"] = scheduler
        scheduler.start()
