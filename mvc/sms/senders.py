"""SMS backends behind one interface: the outbox (embedded default) and Twilio."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

# Twilio errors that will not go away by trying again (bad number, blocked, opted out…).
PERMANENT_CODES = {21211, 21214, 21408, 21606, 21610, 21612, 21614, 21617, 30003, 30005, 30006, 30007}


@dataclass
class Outcome:
    """What one send attempt did."""

    status: str  # "outbox" (kept, not sent) | "sent" (accepted by the provider) | "failed"
    provider_sid: str | None = None
    error_code: int | None = None
    error: str = ""
    transient: bool = False  # worth trying again


class SmsSender(Protocol):
    """Sends (or keeps) one text; never raises for provider problems."""

    name: str

    def send(self, to: str, body: str, sender: str, status_callback: str | None = None) -> Outcome:
        """Make one attempt to send body to the E.164 number."""


class OutboxSender:
    """Keeps texts in the database for admins to read; nothing leaves the machine."""

    name = "outbox"

    def send(self, to: str, body: str, sender: str, status_callback: str | None = None) -> Outcome:
        return Outcome("outbox")


class TwilioSender:
    """Sends through the real Twilio client; the http_client can be swapped (tests, proxies)."""

    name = "twilio"

    def __init__(self, account_sid: str, auth_token: str, default_from: str, timeout: float = 10,
                 http_client=None) -> None:
        quiet = logging.getLogger("mvc.twilio.http")  # twilio logs requests at INFO: keep numbers out
        quiet.setLevel(logging.WARNING)
        self.default_from = default_from
        self.client = Client(account_sid, auth_token,
                             http_client=http_client or TwilioHttpClient(timeout=timeout, logger=quiet))

    def send(self, to: str, body: str, sender: str, status_callback: str | None = None) -> Outcome:
        params = {"to": to, "from_": sender or self.default_from, "body": body}
        if status_callback:
            params["status_callback"] = status_callback
        try:
            message = self.client.messages.create(**params)
        except TwilioRestException as exc:
            transient = exc.status >= 500 or exc.status == 429
            transient = transient and exc.code not in PERMANENT_CODES
            return Outcome("failed", error_code=exc.code, error=f"HTTP {exc.status}", transient=transient)
        except requests.Timeout:
            return Outcome("failed", error="timeout", transient=True)
        except (requests.ConnectionError, TwilioException) as exc:
            return Outcome("failed", error=type(exc).__name__, transient=True)
        return Outcome("sent", provider_sid=message.sid)


def make_sender(config: dict) -> SmsSender:
    """The backend the settings ask for."""
    if config["SMS_BACKEND"] == "twilio":
        return TwilioSender(config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"], config["TWILIO_FROM"],
                            timeout=config["TWILIO_TIMEOUT"])
    if config["SMS_BACKEND"] != "outbox":
        raise ValueError(f"MVC_SMS_BACKEND must be outbox or twilio, not {config['SMS_BACKEND']!r}")
    return OutboxSender()
