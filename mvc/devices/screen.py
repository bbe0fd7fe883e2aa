"""What a device's screen shows (idle, ringing, unbound) and the websocket that keeps it current."""
from __future__ import annotations

import threading
import time

from flask import current_app, render_template
from sqlmodel import Session

from mvc import db as mvc_db, logs, rooms
from mvc.devices import service
from mvc.models import Organisation
from mvc.models.base import utcnow
from mvc.models.device import Device
from mvc.sockets import PAGE_GONE

log = logs.get("mvc.devices")
CHECK_SECONDS = 2  # the database is checked this often too, so events from other processes are never missed
SEEN_SECONDS = 20  # last_seen_at is refreshed this often while the socket is open


def screen_context(db: Session, device: Device) -> dict:
    """Template context for the device's screen: its organisation, theme and any ringing call."""
    org = db.get(Organisation, device.organisation_id)
    call = service.ringing_call(db, device)
    return {"device": device, "org_name": org.name, "theme": rooms.theme_for(db, org.default_theme_id),
            "call": call, "state": "ringing" if call else "idle", "now": utcnow(),
            "ring_left": service.ring_left(call) if call else 0,
            "auto_answer": current_app.config["DEVICE_AUTO_ANSWER_SECONDS"] if call and device.auto_answer else 0}


class DeviceSocket:
    """Serves one device's websocket until it closes or the device is revoked."""

    def __init__(self, ws, device_id: int, credential: str) -> None:
        self.ws = ws
        self.device_id = device_id
        self.credential = credential
        self.wake = threading.Event()
        self.shown: str | None = None

    def run(self) -> None:
        """Push the screen whenever it changes; mark the device online while open."""
        unsubscribe = service.subscribe(self.device_id, lambda _event: self.wake.set())
        self._seen(True)
        log.info("device_ws_open", device=self.device_id)
        last_seen = time.monotonic()
        try:
            while self.push():
                if self.ws.receive(timeout=0) is None and not self.wake.wait(CHECK_SECONDS):
                    pass
                self.wake.clear()
                if time.monotonic() - last_seen > SEEN_SECONDS:
                    self._seen(True)
                    last_seen = time.monotonic()
        except PAGE_GONE:  # the device went away, perhaps mid-send: nothing to report
            pass
        finally:
            unsubscribe()
            self._seen(False)
            log.info("device_ws_close", device=self.device_id)
            try:
                self.ws.close()
            except Exception:  # noqa: BLE001 - already closed by the device
                pass

    def _seen(self, online: bool) -> None:
        with Session(mvc_db.engine(), expire_on_commit=False) as db:
            service.seen(db, self.device_id, online)

    def push(self) -> bool:
        """Send the screen if it changed; False once the device is no longer bound."""
        with Session(mvc_db.engine(), expire_on_commit=False) as db:
            device = service.by_credential(db, self.credential)
            if device is None or device.id != self.device_id:
                self.ws.send(render_template("devices/_screen.html", state="unbound"))
                return False
            ctx = screen_context(db, device)
        key = f"{ctx['state']}:{ctx['call'].id if ctx['call'] else ''}:{device.name}:{device.auto_answer}"
        if key != self.shown:
            self.ws.send(render_template("devices/_screen.html", **ctx))
            self.shown = key
        return True
