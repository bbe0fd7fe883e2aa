"""The production shapes: two web processes sharing Redis and PostgreSQL, and gunicorn."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from sqlmodel import Session, select

from mvc import db as mvc_db
from mvc.models import Room
from tests import services
from tests.conftest import LiveServer, base_config, build_app, http_join
from tests.wsclient import Page

ROOT = Path(__file__).resolve().parents[2]


def test_two_web_processes_share_live_state_through_redis(tmp_path, postgres, redis_server):
    url = postgres.fresh_database(f"mvc_two_{time.time_ns()}")
    config = base_config(tmp_path, DATABASE_URL=url, REDIS_URL=redis_server.fresh())
    first = build_app(config)
    second = build_app(config)
    a, b = LiveServer(first), LiveServer(second)
    try:
        with first.app_context():
            with Session(mvc_db.engine()) as s:
                pin = s.exec(select(Room).where(Room.alias == "demo")).one().host_pin
        guest = Page(a.url, "demo", http_join(a.url, "demo", "Karen Jensen"))
        guest.wait_text('data-view="waiting"')
        host = Page(b.url, "demo", http_join(b.url, "demo", "Nurse Nina", pin))
        host.wait_text('data-view="meeting"')
        # The host arrived on the other process; Redis pub/sub moves the guest in.
        guest.wait_text('data-view="meeting"')
        guest.send({"action": "chat", "text": "across processes"})
        host.wait_text("across processes")
        guest.close()
        host.close()
    finally:
        a.stop()
        b.stop()
        for app in (first, second):
            app.extensions["mvc.live"].close()


@pytest.fixture
def gunicorn_server(tmp_path):
    port = services.free_port()
    env = dict(os.environ, PORT=str(port), MVC_DATABASE_URL=f"sqlite:///{tmp_path / 'g.db'}",
               MVC_MEDIA_WORKERS="0", MVC_SECRET_KEY="g-secret", MVC_LOG_LEVEL="WARNING")
    subprocess.run([sys.executable, "-m", "mvc", "migrate"], env=env, cwd=ROOT, check=True, capture_output=True)
    seeded = subprocess.run([sys.executable, "-m", "mvc", "seed"], env=env, cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    pin = seeded.split("host PIN: ")[1].split()[0]
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "wsgi:app"],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            if requests.get(base + "/healthz", timeout=1).ok:
                break
        except requests.RequestException:
            time.sleep(0.2)
    yield base, pin
    proc.terminate()
    proc.wait(10)


def test_gunicorn_serves_pages_and_websockets(gunicorn_server):
    base, pin = gunicorn_server
    assert requests.get(base + "/healthz").json()["ok"] is True
    guest = Page(base, "demo", http_join(base, "demo", "Karen Jensen"))
    guest.wait_text('data-view="waiting"')
    host = Page(base, "demo", http_join(base, "demo", "Nurse Nina", pin))
    host.wait_text('data-view="meeting"')
    guest.wait_text('data-view="meeting"')
    guest.close()
    host.close()
