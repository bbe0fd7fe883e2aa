"""Posts the webhook outbox: rows claimed atomically, signed per attempt, retried with backoff, then given up.

Any number of senders may run (threads, processes, machines): a row is sent by whoever claims it.
Addresses are resolved and checked on every attempt and the connection goes to the checked address,
so a name cannot be pointed at an internal host later; redirects are never followed.
"""
from __future__ import annotations

import http.client
import socket
import ssl
import time
from datetime import datetime, timedelta
from typing import Callable
from urllib.parse import urlsplit

from flask import Flask
from sqlalchemy import or_, update
from sqlmodel import Session, select

from mvc import logs
from mvc.api.webhooks import address_allowed, loopback_http, sign
from mvc.models import ApiClient, WebhookDelivery, WebhookEndpoint
from mvc.models.base import utcnow
from mvc.periodic import ClaimingJob

log = logs.get("mvc.webhooks")
STALE_CLAIM = timedelta(minutes=5)  # a claim this old belongs to a process that died while posting


class Refused(Exception):
    """The endpoint's address may not be reached."""


def _connection(url: str, timeout: float, loopback_ok: bool) -> tuple[http.client.HTTPConnection, str]:
    """A connection to a checked address of the url's host, and the path to post to."""
    parts = urlsplit(url)
    if parts.scheme != "https" and not loopback_ok:
        raise Refused("https only")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise Refused("dns") from exc
    addresses = [info[4][0] for info in infos]
    if not addresses or not all(address_allowed(a, loopback_ok) for a in addresses):
        raise Refused("address not allowed")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if parts.scheme == "https":
        conn = _PinnedHTTPS(parts.hostname, port, timeout=timeout, context=ssl.create_default_context())
    else:
        conn = _PinnedHTTP(parts.hostname, port, timeout=timeout)
    conn.address = addresses[0]
    return conn, path


class _PinnedHTTP(http.client.HTTPConnection):
    """HTTP to the address that was checked (loopback in tests only)."""

    address: str

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to the address that was checked, with the certificate checked against the host name."""

    address: str

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(url: str, headers: dict, body: str, timeout: float, loopback_ok: bool) -> int:
    """POST once; the HTTP status (redirects are answers, not followed)."""
    conn, path = _connection(url, timeout, loopback_ok)
    try:
        conn.request("POST", path, body=body.encode(), headers=headers)
        resp = conn.getresponse()
        resp.read(4096)
        return resp.status
    finally:
        conn.close()


class WebhookSender(ClaimingJob):
    """Sends due outbox rows; several may run at once and each row still goes out once."""

    thread_name = "mvc-webhooks"

    def __init__(self, app: Flask, clock: Callable[[], datetime] = utcnow, name: str | None = None) -> None:
        super().__init__(app, app.config["WEBHOOK_INTERVAL"], clock, name)
        self.config = app.config

    def due(self, db: Session, now: datetime) -> list[int]:
        """Ids of pending rows whose time has come and that no live claim holds."""
        return list(db.exec(select(WebhookDelivery.id).where(
            WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now,
            or_(WebhookDelivery.claimed_at.is_(None), WebhookDelivery.claimed_at < now - STALE_CLAIM))
            .order_by(WebhookDelivery.id).limit(100)).all())

    def claim(self, db: Session, row_id: int, now: datetime) -> bool:
        """Take one row with an atomic UPDATE; False when another sender has it."""
        result = db.exec(update(WebhookDelivery).where(
            WebhookDelivery.id == row_id, WebhookDelivery.status == "pending",
            or_(WebhookDelivery.claimed_at.is_(None), WebhookDelivery.claimed_at < now - STALE_CLAIM),
        ).values(claimed_at=now, claimed_by=self.name))
        db.commit()
        return result.rowcount == 1

    def send(self, db: Session, row_id: int, now: datetime | None = None) -> str:
        """Post a claimed row once and record the outcome: delivered, pending (retry later), failed or cancelled."""
        row = db.get(WebhookDelivery, row_id)
        endpoint = db.get(WebhookEndpoint, row.endpoint_id)
        client = db.get(ApiClient, endpoint.client_pk)
        if endpoint.deleted_at is not None or not client.active:
            return self._finish(db, row, "cancelled")
        stamp = int(time.time())
        headers = {"content-type": "application/json", "user-agent": "MVC-Webhooks/1",
                   "webhook-id": row.event_id, "webhook-timestamp": str(stamp),
                   "webhook-signature": sign(endpoint.secret, row.event_id, stamp, row.payload)}
        row.attempts += 1
        try:
            status = post(endpoint.url, headers, row.payload, self.config["WEBHOOK_TIMEOUT"],
                          loopback_http(endpoint.url))
            row.last_status, row.last_error = status, "" if 200 <= status < 300 else f"HTTP {status}"
        except Refused as exc:
            row.last_status, row.last_error = None, str(exc)
        except (OSError, http.client.HTTPException) as exc:
            row.last_status, row.last_error = None, (type(exc).__name__ + " " + str(exc))[:200]
        if row.last_status is not None and 200 <= row.last_status < 300:
            row.delivered_at = utcnow()
            return self._finish(db, row, "delivered")
        if row.attempts >= self.config["WEBHOOK_ATTEMPTS"]:
            return self._finish(db, row, "failed")
        wait = self.config["WEBHOOK_RETRY_SECONDS"] * 2 ** (row.attempts - 1)
        row.next_attempt_at = self.clock() + timedelta(seconds=wait)
        return self._finish(db, row, "pending")

    def _finish(self, db: Session, row: WebhookDelivery, status: str) -> str:
        row.status, row.claimed_at, row.claimed_by = status, None, None
        db.add(row)
        db.commit()
        (log.warning if status in ("failed", "pending") else log.info)(
            "webhook_" + status, delivery=row.id, endpoint=row.endpoint_id, kind=row.event_type,
            attempts=row.attempts, http=row.last_status, error=row.last_error)
        return status


def init_app(app: Flask) -> None:
    """Start the sender thread when the settings ask for it (never at import)."""
    if app.config["WEBHOOK_THREAD"]:
        sender = WebhookSender(app)
        app.extensions["mvc.webhooks"] = sender
        sender.start()
