"""Capacity: the room cap holds at the door, and open websockets hold no database connection."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlmodel import Session, select

from mvc import db as mvc_db
from mvc.models import Room
from tests.conftest import LiveServer, base_config, build_app, csrf_from
from tests.wsclient import Page

FULL = "Mødet er fuldt"


@pytest.fixture
def serve(tmp_path):
    """Start a live server with extra settings (no rate limit on joins: one address joins everyone)."""
    started = []

    def start(**settings) -> LiveServer:
        app = build_app(base_config(tmp_path, RATELIMIT_ENABLED=False, **settings))
        with app.app_context(), Session(mvc_db.engine()) as s:
            demo = s.exec(select(Room).where(Room.alias == "demo")).one()
            s.add(Room(organisation_id=demo.organisation_id, alias="other", name="Other room", host_pin="123456"))
            s.commit()
            app.config["TEST_HOST_PIN"] = demo.host_pin
        started.append(LiveServer(app))
        return started[-1]

    yield start
    for live in started:
        live.stop()
        live.app.extensions["mvc.media"].stop()
        live.app.extensions["mvc.live"].close()


def try_join(base_url: str, name: str, pin: str = "") -> tuple[requests.Session, requests.Response]:
    """Fill in the join form like a browser; returns the session and the form's answer (or
    the join page's, when that already says the room is full)."""
    s = requests.Session()
    page = s.get(f"{base_url}/m/demo", timeout=30)
    if page.status_code == 409:  # the room filled up before this person even saw the form
        return s, page
    page.raise_for_status()
    resp = s.post(f"{base_url}/m/demo", data={"csrf_token": csrf_from(page.text), "name": name, "pin": pin},
                  allow_redirects=False, timeout=30)
    return s, resp


def open_pages(base_url: str, sessions: list[requests.Session]) -> list[Page]:
    """One meeting websocket per session, each showing its stage."""
    pages = [Page(base_url, "demo", s) for s in sessions]
    for page in pages:
        page.wait_text('id="stage"', timeout=20)
    return pages


def site_answers(base_url: str) -> None:
    """/healthz and another room's join page answer while the sockets are open."""
    health = requests.get(f"{base_url}/healthz", timeout=10)
    assert health.status_code == 200 and health.json()["database"]["ok"]
    other = requests.get(f"{base_url}/m/other", timeout=10)
    assert other.status_code == 200 and 'name="name"' in other.text


def test_forty_joiners_thirty_five_get_in_the_rest_are_told_it_is_full(serve):
    server = serve()
    pin = server.app.config["TEST_HOST_PIN"]
    people = [(f"Host {i}", pin) for i in range(2)] + [(f"Borger {i}", "") for i in range(38)]
    with ThreadPoolExecutor(40) as pool:  # all at once: the cap must hold under a race
        results = list(pool.map(lambda p: try_join(server.url, *p), people))

    admitted = [s for s, resp in results if resp.status_code == 302]
    refused = [resp for _s, resp in results if resp.status_code != 302]
    refused_sessions = [s for s, resp in results if resp.status_code != 302]
    assert len(admitted) == 35
    assert len(refused) == 5
    for resp in refused:
        assert resp.status_code == 409 and FULL in resp.text and "35" in resp.text
    # Both hosts got in: their seats were kept while citizens filled the room.
    hosts = [resp for (s, resp), (name, _pin) in zip(results, people) if name.startswith("Host")]
    assert all(resp.status_code == 302 for resp in hosts)

    pages = open_pages(server.url, admitted)
    site_answers(server.url)
    # A newcomer is turned away at the join page itself; someone already inside still gets in again.
    assert FULL in requests.get(f"{server.url}/m/demo", timeout=10).text
    assert admitted[5].get(f"{server.url}/m/demo/live", timeout=10).status_code == 200
    again = admitted[6].post(f"{server.url}/m/demo", allow_redirects=False, timeout=10, data={
        "csrf_token": csrf_from(admitted[6].get(f"{server.url}/m/demo", timeout=10).text), "name": "Borger igen"})
    assert again.status_code == 302
    # A refused person has no place to go to: the meeting page sends them back to the door.
    assert refused_sessions[0].get(f"{server.url}/m/demo/live", allow_redirects=False, timeout=10).status_code == 302

    # Someone leaves: their seat goes to the next person.
    admitted[10].post(f"{server.url}/m/demo/leave", timeout=10,
                      data={"csrf_token": csrf_from(admitted[10].get(f"{server.url}/m/demo/live").text)})
    _s, next_one = try_join(server.url, "Næste Borger")
    assert next_one.status_code == 302
    for page in pages:
        page.close()


def test_open_sockets_hold_no_database_connection(serve):
    server = serve(DB_POOL_SIZE=1, DB_POOL_OVERFLOW=0)
    pin = server.app.config["TEST_HOST_PIN"]
    sessions = [try_join(server.url, "Vært", pin)[0]] + [try_join(server.url, f"Borger {i}")[0] for i in range(19)]
    pages = open_pages(server.url, sessions)  # 20 sockets on a pool of one connection

    pool = server.app.extensions["mvc.engine"].pool
    deadline = time.time() + 10
    while pool.checkedout() and time.time() < deadline:
        time.sleep(0.05)
    assert pool.checkedout() == 0
    site_answers(server.url)
    assert sessions[3].get(f"{server.url}/m/demo/live", timeout=10).status_code == 200

    # A state change reaches every page, each rendering its name list (the host's with the invited).
    pages[4].send({"action": "hand", "on": True})
    for page in pages:
        page.wait_for(lambda t: 'id="people"' in t and "hand-up" in t, timeout=20)
    site_answers(server.url)
    for page in pages:
        page.close()
