"""E-mail to invitees: the outbox on create, edit and cancel, real SMTP against a local fake, failures."""
from __future__ import annotations

import email
import socket
import socketserver
import threading
from datetime import timedelta
from email import policy

import pytest
from icalendar import Calendar
from sqlmodel import select

from mvc.models import MailMessage
from mvc.mail.senders import OutboxSender
from mvc.models import Invitation, Meeting, SmsMessage
from mvc.models.base import utcnow
from tests.conftest import base_config, build_app, csrf_from
from tests.functional.test_booking import book, local_form
from tests.sms_helpers import login, make_staff, session_for

PUBLIC = "https://video.example.dk"
TITLE_WORDS = ("Wound", "surgery")


class RecordingOutbox(OutboxSender):
    """The outbox backend, keeping the MIME messages it was handed."""

    def __init__(self) -> None:
        self.sent = []

    def send(self, message):
        self.sent.append(message)
        return super().send(message)


class FakeSmtp(socketserver.ThreadingTCPServer):
    """A tiny SMTP server on 127.0.0.1: answers EHLO/MAIL/RCPT/DATA/QUIT and keeps what it got."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), SmtpHandler)
        self.received: list[dict] = []
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def address(line: bytes) -> str:
    return line.decode().partition("<")[2].partition(">")[0]


class SmtpHandler(socketserver.StreamRequestHandler):
    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        envelope = {"from": "", "to": [], "data": b""}
        self.reply("220 fake.smtp ESMTP")
        while line := self.rfile.readline():
            verb = line[:4].decode().upper()
            if verb == "EHLO":
                self.reply("250-fake.smtp")
                self.reply("250 8BITMIME")
            elif verb == "MAIL":
                envelope["from"] = address(line)
                self.reply("250 OK")
            elif verb == "RCPT":
                envelope["to"].append(address(line))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                chunks = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    chunks.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                envelope["data"] = b"".join(chunks)
                self.server.received.append(dict(envelope))
                self.reply("250 OK queued")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("250 OK")


def make(tmp_path, **overrides):
    app = build_app(base_config(tmp_path, PUBLIC_URL=PUBLIC, **overrides))
    make_staff(app)
    return app


def mails(app) -> list[MailMessage]:
    with session_for(app) as db:
        return list(db.exec(select(MailMessage).order_by(MailMessage.id)).all())


def rows(app, model):
    with session_for(app) as db:
        return list(db.exec(select(model).order_by(model.id)).all())


def calendar_of(message) -> tuple[str, Calendar]:
    [part] = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    return part.get_param("method"), Calendar.from_ical(part.get_content())


@pytest.fixture
def outbox():
    return RecordingOutbox()


@pytest.fixture
def app(tmp_path, outbox):
    app = make(tmp_path, MAIL_SENDER=outbox)
    yield app
    app.extensions["mvc.live"].close()


def test_outbox_mails_each_invitee_with_an_address_on_create_edit_and_cancel(app, client, outbox, caplog):
    caplog.set_level("INFO")
    login(client)
    start = utcnow().replace(second=0, microsecond=0) + timedelta(days=3)
    resp = book(client, start, [("Karen", "20123456", "karen@example.dk"), ("Ole", "", "ole@example.dk"),
                                ("Per", "31234567", "")])
    assert resp.status_code == 302
    [meeting] = rows(app, Meeting)
    karen, ole, per = rows(app, Invitation)
    created = mails(app)
    assert [(m.to, m.purpose, m.status) for m in created] == [
        ("karen@example.dk", "invite", "outbox"), ("ole@example.dk", "invite", "outbox")]
    assert [m.invitation_id for m in created] == [karen.id, ole.id]
    assert len(outbox.sent) == 2
    links = set()
    for msg, message in zip(created, outbox.sent):
        assert message["To"] == msg.to and message["Subject"] == msg.subject == "Videomøde med Demo Kommune"
        assert f"{PUBLIC}/m/{meeting.alias}?t=" in msg.body and "Demo Kommune" in msg.body
        links.add(msg.body.split("?t=")[1].split()[0])
        method, cal = calendar_of(message)
        [event] = cal.walk("VEVENT")
        assert method == "REQUEST" and str(cal["METHOD"]) == "REQUEST" and int(event["SEQUENCE"]) == 0
        assert event.decoded("DTSTART") == start
    assert len(links) == 2  # each invitee their own signed link
    # The link works for the invitee it was made for.
    assert app.test_client().get(created[0].body.split(PUBLIC)[1].split()[0]).status_code == 425

    moved = start + timedelta(hours=1)
    page = client.get(f"/bookings/{meeting.id}").get_data(as_text=True)
    assert page.count("E-mail kept in the outbox (not sent)") == 2
    resp = client.post(f"/bookings/{meeting.id}", data={
        "csrf_token": csrf_from(page), "title": "Wound check after surgery", **local_form(moved),
        "reminders": "on", "name": "Eva", "phone": "", "email": "eva@example.dk"})
    assert resp.status_code == 302
    edited = mails(app)[2:]
    assert sorted((m.to, m.purpose) for m in edited) == [
        ("eva@example.dk", "invite"), ("karen@example.dk", "update"), ("ole@example.dk", "update")]
    for message in outbox.sent[2:]:
        method, cal = calendar_of(message)
        [event] = cal.walk("VEVENT")
        assert method == "REQUEST" and int(event["SEQUENCE"]) == 1 and event.decoded("DTSTART") == moved

    page = client.get(f"/bookings/{meeting.id}").get_data(as_text=True)
    client.post(f"/bookings/{meeting.id}/cancel", data={"csrf_token": csrf_from(page)})
    cancelled = mails(app)[5:]
    assert sorted((m.to, m.purpose) for m in cancelled) == [
        ("eva@example.dk", "cancel"), ("karen@example.dk", "cancel"), ("ole@example.dk", "cancel")]
    assert all("aflyst" in m.body for m in cancelled)
    for message in outbox.sent[5:]:
        method, cal = calendar_of(message)
        [event] = cal.walk("VEVENT")
        assert method == "CANCEL" and str(cal["METHOD"]) == "CANCEL" and int(event["SEQUENCE"]) == 2
        assert str(event["STATUS"]) == "CANCELLED"

    # No title anywhere in what invitees get, and the logs hold neither addresses nor words.
    assert len(outbox.sent) == 8 and len(mails(app)) == 8
    for message in outbox.sent:
        raw = message.as_string()
        assert not any(word in raw for word in TITLE_WORDS)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert logged.count("mail_outbox") == 8 and "k***@e***.dk" in logged
    assert "karen@example.dk" not in logged and "?t=" not in logged and "Videomøde" not in logged


def test_invitees_without_address_and_english_invitees(app, client, outbox):
    login(client)
    book(client, utcnow() + timedelta(days=1), [("Karen", "20123456", "")])
    assert mails(app) == [] and outbox.sent == []
    book(client, utcnow() + timedelta(days=1), [("Ole", "", "ole@example.dk")], locale="en")
    [msg] = mails(app)
    assert msg.subject == "Video meeting with Demo Kommune"
    assert msg.body.startswith("Demo Kommune invites you to a video meeting on")


@pytest.fixture
def smtp():
    server = FakeSmtp()
    yield server
    server.stop()


def test_smtp_backend_sends_a_mime_message_with_the_calendar_file(tmp_path, smtp):
    app = make(tmp_path, MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port, SMTP_STARTTLS=False,
               MAIL_FROM="booking@demo.example")
    client = app.test_client()
    login(client)
    start = utcnow().replace(second=0, microsecond=0) + timedelta(days=2)
    assert book(client, start, [("Ole", "", "ole@example.dk")]).status_code == 302
    [received] = smtp.received
    assert received["from"] == "booking@demo.example" and received["to"] == ["ole@example.dk"]
    message = email.message_from_bytes(received["data"], policy=policy.default)
    assert message["To"] == "ole@example.dk" and message["From"] == "Demo Kommune <booking@demo.example>"
    assert message.is_multipart() and message["Message-ID"]
    assert "Demo Kommune" in message.get_body(("plain",)).get_content()
    method, cal = calendar_of(message)
    [event] = cal.walk("VEVENT")
    assert method == "REQUEST" and str(cal["METHOD"]) == "REQUEST"
    assert event.decoded("DTSTART") == start and "booking@demo.example" in str(event["ORGANIZER"])
    assert not any(word.encode() in received["data"] for word in TITLE_WORDS)
    [msg] = mails(app)
    assert msg.status == "sent" and msg.backend == "smtp"
    app.extensions["mvc.live"].close()


def test_refused_connection_is_recorded_as_failed_and_the_booking_stands(tmp_path, caplog):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = make(tmp_path, MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_TIMEOUT=2)
    client = app.test_client()
    login(client)
    resp = book(client, utcnow() + timedelta(days=2), [("Karen", "20123456", "karen@example.dk")])
    assert resp.status_code == 302
    [meeting] = rows(app, Meeting)
    assert meeting.status == "open" and resp.headers["Location"] == f"/bookings/{meeting.id}"
    [msg] = mails(app)
    assert msg.status == "failed" and msg.error == "ConnectionRefusedError"
    assert [m.status for m in rows(app, SmsMessage)] == ["outbox"]
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert 'class="mail-status error">The e-mail could not be sent' in page
    assert "mail_failed" in "\n".join(r.getMessage() for r in caplog.records)
    app.extensions["mvc.live"].close()


def test_a_removed_invitee_gets_a_cancellation_and_the_others_nothing_when_the_time_stays(app, client, outbox):
    login(client)
    start = utcnow().replace(second=0, microsecond=0) + timedelta(days=1)
    book(client, start, [("Karen", "", "karen@example.dk"), ("Ole", "", "ole@example.dk")])
    [meeting] = rows(app, Meeting)
    karen, ole = rows(app, Invitation)
    page = client.get(f"/bookings/{meeting.id}").get_data(as_text=True)
    client.post(f"/bookings/{meeting.id}", data={"csrf_token": csrf_from(page), "remove": str(ole.id),
                                                 **local_form(start)})
    [removed] = mails(app)[2:]
    assert (removed.to, removed.purpose, removed.invitation_id) == ("ole@example.dk", "cancel", ole.id)
    method, cal = calendar_of(outbox.sent[-1])
    assert method == "CANCEL" and int(cal.walk("VEVENT")[0]["SEQUENCE"]) == 1
