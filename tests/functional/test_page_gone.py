"""A page that vanishes while the server sends to it ends its connection quietly."""
from __future__ import annotations

import threading

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
