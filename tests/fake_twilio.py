"""A tiny local stand-in for Twilio's Messages API, and an http_client that talks to it."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from twilio.http.http_client import TwilioHttpClient

TWILIO_API = "https://api.twilio.com"


class FakeTwilio:
    """Answers message creation from a script: "ok", ("error", http status, code) or ("slow", seconds)."""

    def __init__(self) -> None:
        self.script: list = []
        self.requests: list[dict] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                fake.requests.append({"path": self.path, "form": form, "auth": self.headers.get("Authorization")})
                step = fake.script.pop(0) if fake.script else "ok"
                if isinstance(step, tuple) and step[0] == "slow":
                    time.sleep(step[1])
                    step = "ok"
                if isinstance(step, tuple) and step[0] == "error":
                    _, status, code = step
                    return self._json(status, {"code": code, "message": "error", "status": status,
                                               "more_info": f"https://www.twilio.com/docs/errors/{code}"})
                sid = f"SM{len(fake.requests):032d}"
                return self._json(201, {"sid": sid, "status": "queued", "to": form.get("To"),
                                        "from": form.get("From"), "body": form.get("Body")})

            def _json(self, status: int, payload: dict):
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class LocalHttpClient(TwilioHttpClient):
    """Twilio's own HTTP client, with api.twilio.com swapped for the local fake."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url

    def request(self, method, url, *args, **kwargs):
        return super().request(method, url.replace(TWILIO_API, self.base_url), *args, **kwargs)
