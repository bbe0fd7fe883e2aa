"""A webhook receiver on 127.0.0.1 for tests: records each POST and answers with the statuses it is given."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """Plain-HTTP receiver; answers follow `answers` (then 200), every request is kept."""

    def __init__(self, answers: list[int] | None = None, port: int = 0) -> None:
        self.answers = list(answers or [])
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
                with receiver.lock:
                    receiver.requests.append({"headers": {k.lower(): v for k, v in self.headers.items()},
                                              "body": body, "path": self.path})
                    status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/mvc"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self) -> list[dict]:
        """The JSON bodies received so far."""
        with self.lock:
            return [json.loads(r["body"]) for r in self.requests]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def verify(secret: str, headers: dict, body: str, tolerance: int = 300) -> bool:
    """The Standard Webhooks check a receiver does: HMAC-SHA256 of id.timestamp.body, recent timestamp."""
    msg_id, stamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(stamp)) > tolerance:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{stamp}.{body}".encode(), hashlib.sha256).digest()).decode()
    return any(part.startswith("v1,") and hmac.compare_digest(part[3:], expected)
               for part in headers["webhook-signature"].split())
