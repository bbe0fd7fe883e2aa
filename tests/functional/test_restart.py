"""A restart of the web process undoes nothing: the app runs under gunicorn as `make run` starts it."""
from __future__ import annotations

import os
import re

import pytest
from sqlmodel import Session, select

from mvc import db as mvc_db
from mvc.models import Room
from mvc.seed import seed_demo
from tests.conftest import ROOT, http_join
from tests.services import Gunicorn, free_port
from tests.wsclient import Page


@pytest.fixture
def server(tmp_path):
    url = f"sqlite:///{tmp_path / 'mvc.db'}"
    mvc_db.upgrade(url)
    with Session(mvc_db.make_engine(url)) as session:
        seed_demo(session)
        pin = session.exec(select(Room).where(Room.alias == "demo")).one().host_pin
    env = {k: v for k, v in os.environ.items() if not k.startswith("MVC_")}
    env.update(MVC_DATABASE_URL=url, MVC_LIVE_PATH=str(tmp_path / "var" / "live.sqlite"), MVC_SECRET_KEY="restart-test",
               MVC_MEDIA_WORKERS="0", MVC_REMINDER_THREAD="0", MVC_LOG_LEVEL="WARNING", MVC_SEED_DEMO="0")
    web = Gunicorn(env, free_port(), tmp_path / "gunicorn.log")
    web.start()
    web.pin = pin
    yield web
    web.kill()


def joined(url: str, name: str, pin: str = "") -> tuple[requests.Session, Page]:
    """Join the demo room as a browser would and open the meeting socket; waits for the meeting view."""
    http = http_join(url, "demo", name, pin)
    http.get(f"{url}/lang/en")
    page = Page(url, "demo", http)
    page.wait_text('data-view="meeting"')
    return http, page


def pid_of(page: Page, name: str) -> str:
    """The participant id the host's name list gives a person."""
    html = page.wait_for(lambda t: 'id="people"' in t and name in t)
    return re.search(r'id="person-([^"]+)" class="person[^"]*">\s*<span class="who">' + name, html).group(1)


def people(html: str) -> str:
    """The name list section of a page."""
    return html[html.index('<section id="people"'):].split("</section>", 1)[0]


def test_a_restart_mid_meeting_keeps_every_decision_of_the_host(server):
    url = server.url
    host_http, host = joined(url, "Nurse Nina", server.pin)
    karen_http, karen = joined(url, "Karen Jensen")
    bo_http, bo = joined(url, "Bo Berg")
    rita_http, rita = joined(url, "Rita Rask")
    karen_pid, bo_pid, rita_pid = (pid_of(host, n) for n in ("Karen Jensen", "Bo Berg", "Rita Rask"))

    for msg in ({"action": "cohost", "pid": bo_pid, "on": "1"}, {"action": "remove", "pid": rita_pid},
                {"action": "guests_unmute", "on": "0"}, {"action": "mute_all"},
                {"action": "guests_camera", "on": "0"}, {"action": "layout", "value": "host_large"},
                {"action": "lock", "on": "1"}):
        host.send(msg)
    karen.send({"action": "hand", "on": "1"})
    karen.send({"action": "chat", "text": "Hello before the restart"})
    host.wait_for(lambda t: 'class="hand-name">Karen Jensen' in t)
    host.wait_text("Hello before the restart")
    host.wait_for(lambda t: "Meeting locked." in t and "Participants are kept muted." in t)
    rita.wait_text('data-view="removed"')

    server.kill()
    server.start()

    # A newcomer knocks: the room is still locked.
    ulla = Page(url, "demo", http_join(url, "demo", "Ulla Uhd"))
    ulla.wait_text('data-view="knocking"')
    # The removed person's page, reconnecting with their cookie, does not get back in.
    stage = Page(url, "demo", rita_http).wait_text('id="stage"')
    assert 'data-view="removed"' in stage or 'data-view="knocking"' in stage

    # The host's page reconnects and finds the meeting as it was.
    host = Page(url, "demo", host_http)
    snap = host.wait_text('data-view="meeting"')
    assert "Meeting locked." in snap and "Participants are kept muted." in snap
    assert "Allow cameras" in snap  # cameras are still forbidden
    assert 'data-layout="host_large"' in snap
    assert 'class="hand-name">Karen Jensen' in snap
    assert "Hello before the restart" in snap
    listed = people(snap)
    # Sockets that went with the old process are not shown as connected; the newcomer knocks.
    assert f"person-{karen_pid}" not in listed and f"person-{bo_pid}" not in listed and "(1)" in listed
    assert "Ulla Uhd" in listed and "Rita Rask" not in listed

    # Karen comes back with her hand still up and her microphone and camera still held off.
    karen = Page(url, "demo", karen_http)
    snap = karen.wait_text('data-view="meeting"')
    assert "Lower hand" in snap and "Microphone off" in snap and "Hello before the restart" in snap
    karen.send({"action": "mic", "on": True})
    karen.wait_text("The host has turned off the microphones")
    karen.send({"action": "cam", "on": True})
    karen.wait_text("The host has turned off the participants")

    # Bo is still co-host: his page has the host controls.
    bo = Page(url, "demo", bo_http)
    assert "Host controls" in bo.wait_text('data-view="meeting"')
    html = host.wait_for(lambda t: 'id="people"' in t and "(3)" in t)
    assert f"person-{karen_pid}" in html and "Co-host" in html
    for page in (host, karen, bo, ulla):
        page.close()


def test_a_rolling_restart_of_two_web_processes_under_redis_keeps_the_meeting(tmp_path, postgres, redis_server):
    """Production shape: PostgreSQL, Redis, two gunicorns; each is restarted while the other serves."""
    import redis

    store = redis.Redis.from_url(redis_server.url)
    store.flushdb()  # the live state of rooms of earlier tests' databases (same room ids)
    url = postgres.fresh_database(f"mvc_rolling_{os.getpid()}_{id(tmp_path)}")
    mvc_db.upgrade(url)
    with Session(mvc_db.make_engine(url)) as session:
        seed_demo(session)
        pin = session.exec(select(Room).where(Room.alias == "demo")).one().host_pin
    env = {k: v for k, v in os.environ.items() if not k.startswith("MVC_")}
    env.update(MVC_DATABASE_URL=url, MVC_REDIS_URL=redis_server.url, MVC_SECRET_KEY="rolling-test",
               MVC_MEDIA_WORKERS="0", MVC_REMINDER_THREAD="0", MVC_RETENTION_THREAD="0",
               MVC_LOG_LEVEL="WARNING", MVC_SEED_DEMO="0")
    a = Gunicorn(env, free_port(), tmp_path / "a.log")
    b = Gunicorn(env, free_port(), tmp_path / "b.log")
    a.start()
    b.start()
    try:
        host_http, host = joined(a.url, "Nurse Nina", pin)
        karen_http, karen = joined(b.url, "Karen Jensen")
        for msg in ({"action": "mute_all"}, {"action": "layout", "value": "host_large"},
                    {"action": "lock", "on": "1"}):
            host.send(msg)
        karen.send({"action": "hand", "on": "1"})
        host.wait_text("Meeting locked.")
        host.wait_text('class="hand-name">Karen Jensen')

        a.stop()  # the host's process goes first; Karen's keeps the meeting going
        karen.send({"action": "chat", "text": "while the first one restarts"})
        karen.wait_text("while the first one restarts")
        a.start()
        host = Page(a.url, "demo", host_http)
        snap = host.wait_text('data-view="meeting"')
        assert "Meeting locked." in snap and 'data-layout="host_large"' in snap
        assert "while the first one restarts" in snap and 'class="hand-name">Karen Jensen' in snap

        b.stop()  # then Karen's
        host.send({"action": "chat", "text": "while the second one restarts"})
        host.wait_text("while the second one restarts")
        b.start()
        karen = Page(b.url, "demo", karen_http)
        snap = karen.wait_text('data-view="meeting"')
        assert "Lower hand" in snap and "Microphone off" in snap
        assert "while the second one restarts" in snap and 'data-layout="host_large"' in snap
        # Both pages are in the one meeting again: a chat line crosses the two processes.
        karen.send({"action": "chat", "text": "after both restarts"})
        host.wait_text("after both restarts")
        newcomer = Page(b.url, "demo", http_join(b.url, "demo", "Ulla Uhd"))
        newcomer.wait_text('data-view="knocking"')  # still locked
        for page in (host, karen, newcomer):
            page.close()
    finally:
        a.kill()
        b.kill()
        store.flushdb()  # nor leave this meeting's lock to later tests
