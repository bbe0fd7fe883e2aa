"""E-mail backends behind one interface: the outbox (embedded default) and SMTP."""
from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Protocol

from mvc.sms.senders import Outcome


class MailSender(Protocol):
    """Sends (or keeps) one e-mail; never raises for server or network problems."""

    name: str

    def send(self, message: EmailMessage) -> Outcome:
        """Make one attempt to hand the message on."""


class OutboxSender:
    """Keeps e-mails in the database; nothing leaves the machine."""

    name = "outbox"

    def send(self, message: EmailMessage) -> Outcome:
        return Outcome("outbox")


class SmtpSender:
    """Hands e-mails to an SMTP server with smtplib, optionally after STARTTLS and a login."""

    name = "smtp"

    def __init__(self, host: str, port: int = 587, user: str = "", password: str = "", starttls: bool = True,
                 timeout: float = 10) -> None:
        self.host, self.port, self.user, self.password = host, port, user, password
        self.starttls, self.timeout = starttls, timeout

    def send(self, message: EmailMessage) -> Outcome:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password)
                refused = smtp.send_message(message)
        except smtplib.SMTPResponseException as exc:
            return Outcome("failed", error_code=exc.smtp_code, error=f"SMTP {exc.smtp_code}",
                           transient=400 <= exc.smtp_code < 500)
        except smtplib.SMTPRecipientsRefused:
            return Outcome("failed", error="recipient refused")
        except TimeoutError:
            return Outcome("failed", error="timeout", transient=True)
        except (smtplib.SMTPException, OSError) as exc:
            return Outcome("failed", error=type(exc).__name__, transient=True)
        if refused:
            return Outcome("failed", error="recipient refused")
        return Outcome("sent")


def make_sender(config: dict) -> MailSender:
    """The backend the settings ask for."""
    if config["MAIL_BACKEND"] == "smtp":
        if not config["SMTP_HOST"]:
            raise ValueError("MVC_MAIL_BACKEND=smtp needs MVC_SMTP_HOST")
        return SmtpSender(config["SMTP_HOST"], config["SMTP_PORT"], config["SMTP_USER"], config["SMTP_PASSWORD"],
                          config["SMTP_STARTTLS"], config["SMTP_TIMEOUT"])
    if config["MAIL_BACKEND"] != "outbox":
        raise ValueError(f"MVC_MAIL_BACKEND must be outbox or smtp, not {config['MAIL_BACKEND']!r}")
    return OutboxSender()
