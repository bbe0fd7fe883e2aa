"""A page that vanishes while the server sends to it ends its connection quietly."""
from __future__ import annotations

import threading

import pytest

from tests.conftest import http_join


class VanishedSocket:
    """The machine's edge: a websocket whose peer is gone, as the kernel reports it."""

    def __init__(self) -> None:
        self.closed = threading.Event()

    def receive(self, timeout=None):
        self.closed.wait(5)
        return None

    def send(self, data) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    def close(self, *args) -> None:
        self.closed.set()
        raise ConnectionResetError(104, "Connection reset by peer")  # simple_websocket lets this one through


def test_send_to_a_vanished_page_ends_without_error(live_server, demo_room):
    from mvc.meeting import views
    from mvc.meeting.connection import Connection

    app = live_server.app
    session = http_join(live_server.url, "demo", "Nina Sygeplejerske", demo_room.host_pin)
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    with app.test_request_context("/ws/m/demo", headers={"Cookie": cookie, "Origin": live_server.url}):
        target, me = views._target_and_me("demo")
        socket = VanishedSocket()
        Connection(socket, target, me).run()  # returns; no BrokenPipeError escapes to Flask (500)
        state = app.extensions["mvc.live"].get(target.meeting.id)
    assert state.participants[me["pid"]].connected is False
    assert socket.closed.is_set()


@pytest.mark.parametrize("endpoint, origin", [("meeting.socket", "http://localhost"),  # not joined
                                              ("meeting.socket", "https://elsewhere.example"),  # refused
                                              ("devices.socket", "http://localhost")])  # not bound
def test_a_page_gone_before_its_refusal_is_sent_ends_without_error(app, endpoint, origin):
    route = app.view_functions[endpoint].__wrapped__  # the route inside flask-sock's wrapper
    kwargs = {"alias": "demo"} if endpoint == "meeting.socket" else {}
    with app.test_request_context("/ws", headers={"Origin": origin}):
        route(VanishedSocket(), **kwargs)  # returns; no BrokenPipeError escapes to Flask (500)
