"""A websocket client for tests, speaking to the live server like a meeting page."""
from __future__ import annotations

import json
import struct
import time

import requests
import websocket


class Page:
    """One participant's websocket, with the HTML fragments and JSON it has received."""

    def __init__(self, base_url: str, alias: str, session: requests.Session, origin: str | None = None) -> None:
        cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
        self.ws = websocket.create_connection(
            base_url.replace("http", "ws", 1) + f"/ws/m/{alias}",
            header=[f"Cookie: {cookie}"],
            origin=origin or base_url,
            timeout=5,
        )
        self.received: list[str] = []

    def send(self, obj) -> None:
        self.ws.send(obj if isinstance(obj, str) else json.dumps(obj))

    def wait_for(self, predicate, timeout: float = 5.0) -> str:
        """Read until a message satisfies predicate (text -> bool); return it."""
        for text in self.received:
            if predicate(text):
                return text
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.ws.settimeout(max(0.05, deadline - time.time()))
            try:
                text = self.ws.recv()
            except websocket.WebSocketTimeoutException:
                break
            self.received.append(text)
            if predicate(text):
                return text
        raise AssertionError(f"nothing matched within {timeout}s; got: {[t[:120] for t in self.received[-8:]]}")

    def wait_text(self, needle: str, timeout: float = 5.0) -> str:
        return self.wait_for(lambda t: needle in t, timeout)

    def json_messages(self) -> list[dict]:
        return [json.loads(t) for t in self.received if t.startswith("{")]

    def drain(self, seconds: float = 0.3) -> None:
        """Read whatever arrives within a short time."""
        try:
            self.wait_for(lambda t: False, seconds)
        except AssertionError:
            pass

    def wait_closed(self, timeout: float = 5.0) -> int | None:
        """Read until the server closes the socket; returns its close code (None without one)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.ws.settimeout(max(0.05, deadline - time.time()))
            try:
                opcode, frame = self.ws.recv_data_frame()
            except websocket.WebSocketTimeoutException:
                break
            except (websocket.WebSocketConnectionClosedException, ConnectionError):
                return None
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return struct.unpack("!H", frame.data[:2])[0] if len(frame.data) >= 2 else None
            if opcode == websocket.ABNF.OPCODE_TEXT:
                self.received.append(frame.data.decode())
        raise AssertionError(f"the socket was still open after {timeout}s")

    def close(self) -> None:
        self.ws.close()
