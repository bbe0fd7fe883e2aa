"""What every websocket route shares: a page that vanishes mid-send ends its socket quietly."""
from __future__ import annotations

import contextlib

from simple_websocket import ConnectionClosed
from werkzeug.serving import WSGIRequestHandler

# How a vanished page shows itself: a close we saw, or the kernel's BrokenPipeError,
# ConnectionResetError or a socket already torn down (OSError) when we write to it.
PAGE_GONE = (ConnectionClosed, OSError)


def page_may_vanish():
    """Context manager: a page gone mid-send ends the block quietly (no traceback, no 500)."""
    return contextlib.suppress(*PAGE_GONE)


class _Watched:
    """The raw socket a websocket takes over; remembers that the websocket wrote to it."""

    def __init__(self, sock) -> None:
        self._sock, self.used = sock, False

    def send(self, data) -> int:
        self.used = True
        return self._sock.send(data)

    def sendall(self, data) -> None:
        self.used = True
        self._sock.sendall(data)

    def __getattr__(self, name):
        return getattr(self._sock, name)


class _UnlessTakenOver:
    """werkzeug's output stream, silent once a websocket has written to the connection itself."""

    def __init__(self, out, handler) -> None:
        self._out, self._handler = out, handler

    def write(self, data) -> int:
        watched = getattr(self._handler, "watched", None)
        return len(data) if watched is not None and watched.used else self._out.write(data)

    def __getattr__(self, name):
        return getattr(self._out, name)


class WebSocketRequestHandler(WSGIRequestHandler):
    """werkzeug's request handler (tests, benchmarks; gunicorn serves the product), except that once a
    websocket has taken the connection no HTTP response follows its frames. flask-sock returns one when the
    route ends and werkzeug writes it after the close frame; Chromium reads it as an invalid frame and drops
    the frames it read in the same chunk, such as a meeting page's last message: 'the meeting has ended'."""

    def setup(self) -> None:
        super().setup()
        self.wfile = _UnlessTakenOver(self.wfile, self)

    def make_environ(self):
        environ = super().make_environ()
        self.watched = environ["werkzeug.socket"] = _Watched(environ["werkzeug.socket"])
        return environ
