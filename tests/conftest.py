"""Shared fixtures: app, client, db, a live server, and joined participants."""
from __future__ import annotations

import atexit
import json
import re
import shutil
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests
from sqlmodel import Session, select
from werkzeug.serving import make_server

from media import messages
from mvc import create_app, db as mvc_db
from mvc.models import Room
from mvc.seed import seed_demo
from mvc.sockets import WebSocketRequestHandler
from tests import services

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    """Compile the translations so the suite also runs without `make`."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in (ROOT / "mvc" / "translations").glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            with po.open("rb") as src:
                catalog = read_po(src)
            with mo.open("wb") as dst:
                write_mo(dst, catalog)


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes():
    """argon2 at its cheapest for the suite's own processes: at the product's settings each
    hash and each login costs a quarter of a second. Servers the tests start as processes
    keep the real settings."""
    from argon2 import PasswordHasher

    from mvc import auth

    saved = auth.hasher, auth._DUMMY_HASH
    auth.hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    auth._DUMMY_HASH = auth.hasher.hash("not-a-password")
    yield
    auth.hasher, auth._DUMMY_HASH = saved


def wait_until(check, timeout: float = 3.0) -> None:
    """Poll until check() is true; AssertionError when it is not within timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached")


def booked_meeting(db, organisation_id: int, alias: str, invitee: str = "Ole Hansen"):
    """A booked meeting running now (host PIN 111111) with one invitation; (meeting, invitation)."""
    from datetime import timedelta

    from mvc.models import Invitation, Meeting
    from mvc.models.base import utcnow

    meeting = Meeting(organisation_id=organisation_id, kind="booked", alias=alias, host_pin="111111",
                      starts_at=utcnow() - timedelta(minutes=5), ends_at=utcnow() + timedelta(hours=1))
    db.add(meeting)
    db.commit()
    invitation = Invitation(meeting_id=meeting.id, name=invitee, phone="+4512345678")
    db.add(invitation)
    db.commit()
    return meeting, invitation


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def base_config(tmp_path: Path, **overrides) -> dict:
    """Test settings: a fresh SQLite file, no media workers, fast limits."""
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'test.db'}",
        "REDIS_URL": "",
        "LIVE_PATH": str(tmp_path / "live.sqlite"),
        "MEDIA_WORKERS": 0,
        "MEDIA_ADDRESSES": "",
        "PUBLIC_URL": "",  # links follow the test server, whatever the environment says
        "ICE_LOOPBACK_ONLY": True,
        "ICE_SERVERS": [],
        "LOG_LEVEL": "WARNING",
        "REMINDER_THREAD": False,
        "WEBHOOK_THREAD": False,  # webhook tests run their sender by hand
        "RETENTION_THREAD": False,
        "SMS_RETRY_SECONDS": 0.01,
    }
    config.update(overrides)
    return config


def build_app(config: dict):
    """Migrate the configured database, create the app and seed the demo organisation.

    A new SQLite file starts as a copy of one migrated and seeded once per test process
    (migrating and hashing the demo admin's password cost about a second per test).
    """
    target = _new_sqlite_file(config["DATABASE_URL"])
    if target is not None:
        _copy_sqlite(_seeded_template(), target)
    else:
        mvc_db.upgrade(config["DATABASE_URL"])
    app = create_app(config)
    if target is None:
        with app.app_context():
            with Session(mvc_db.engine()) as session:
                seed_demo(session)
    return app


def _new_sqlite_file(url: str) -> Path | None:
    """The path of a SQLite database URL whose file does not exist yet, else None."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or "?" in url:
        return None
    path = Path(url[len(prefix):])
    return None if path.exists() else path


_template: Path | None = None


def _seeded_template() -> Path:
    """A migrated SQLite database with the demo organisation, made once per process."""
    global _template
    if _template is None:
        folder = Path(tempfile.mkdtemp(prefix="mvc-template-"))
        atexit.register(shutil.rmtree, folder, True)
        config = base_config(folder)
        mvc_db.upgrade(config["DATABASE_URL"])
        app = create_app(config)
        with app.app_context():
            with Session(mvc_db.engine()) as session:
                seed_demo(session)
        stop_app(app)
        _template = folder / "test.db"
    return _template


def _copy_sqlite(source: Path, target: Path) -> None:
    """Copy a SQLite database whole (SQLite's backup, so a WAL file is included)."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


class RecordingMedia:
    """The media pool at the app's edge, replaced by one that records every message sent to it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: list[dict] = []

    def send(self, msg) -> None:
        plain = json.loads(messages.encode(msg))  # a copy, exactly as it would go over the wire
        with self._lock:
            self._sent.append(plain)

    def sent(self, kind: str | None = None, room: int | str | None = None) -> list[dict]:
        """Messages sent so far, optionally of one type and for one room (meeting id)."""
        with self._lock:
            return [m for m in self._sent
                    if (kind is None or m.get("type") == kind) and (room is None or m.get("room") == str(room))]

    def last_policy(self, room: int | str) -> dict | None:
        """The forwarding policy most recently sent for a room."""
        policies = self.sent("policy", room)
        return policies[-1]["policy"] if policies else None

    def health(self) -> dict:
        return {"ok": True, "workers": 0}

    def stop(self) -> None:
        pass


def stop_app(app) -> None:
    """Stop what the app started: timers, media pool, live store."""
    app.extensions["mvc.timers"].stop()
    app.extensions["mvc.media"].stop()
    app.extensions["mvc.live"].close()


@pytest.fixture
def app(tmp_path):
    app = build_app(base_config(tmp_path))
    app.extensions["mvc.media"] = RecordingMedia()
    yield app
    stop_app(app)


@pytest.fixture
def media(app) -> RecordingMedia:
    """Every message the web side sent to the media pool."""
    return app.extensions["mvc.media"]


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db(app):
    with app.app_context():
        with Session(mvc_db.engine(), expire_on_commit=False) as session:
            yield session


@pytest.fixture
def demo_room(db) -> Room:
    return db.exec(select(Room).where(Room.alias == "demo")).one()


class LiveServer:
    """The app served by a threaded werkzeug server on 127.0.0.1 (websockets work)."""

    def __init__(self, app) -> None:
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=WebSocketRequestHandler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def live_server(app):
    server = LiveServer(app)
    yield server
    server.stop()


@pytest.fixture
def media_server(tmp_path):
    """The app with one real media worker, offering only loopback ICE candidates."""
    app = build_app(base_config(tmp_path, MEDIA_WORKERS=1, ICE_LOOPBACK_ONLY=True))
    server = LiveServer(app)
    yield server
    server.stop()
    stop_app(app)


def csrf_from(html: str) -> str:
    """The CSRF token in a rendered form."""
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in page"
    return match.group(1)


def http_join(base_url: str, alias: str, name: str, pin: str = "", token: str = "",
              session: requests.Session | None = None) -> requests.Session:
    """Join a meeting over HTTP like a browser (a new one unless given); returns the session holding the cookies."""
    s = session or requests.Session()
    page = s.get(f"{base_url}/m/{alias}", params={"t": token} if token else None)
    page.raise_for_status()
    data = {"csrf_token": csrf_from(page.text), "name": name, "pin": pin}
    if token:
        data["t"] = token
    resp = s.post(f"{base_url}/m/{alias}", data=data, allow_redirects=False)
    assert resp.status_code == 302, resp.text[:500]
    return s


@pytest.fixture(scope="session")
def postgres():
    server = services.Postgres()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server():
    server = services.Redis()
    yield server
    server.stop()
