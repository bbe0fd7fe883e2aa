"""Benchmark: what quality reports from a 35-person meeting cost the web process.

    python -m mvc.stats.bench [--people 35] [--seconds 30]

Starts the app as a separate process (embedded defaults, temporary SQLite, no media
workers, SQLite without a connection pool), joins N participants to the demo room over HTTP, opens their websockets, then
measures the server process's CPU time (from /proc) for the same length of time twice:
sockets open and idle, then each page sending one quality report every 5 seconds (spread
evenly, as real pages do). Prints one JSON line with both figures in per cent of one core,
the difference, and the CPU time per report. Needs the test dependencies (websocket-client).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SERVER = """
import logging
import sys
from sqlmodel import Session
from werkzeug.serving import make_server
from sqlalchemy.pool import NullPool
from mvc import create_app, db
from mvc.seed import seed_demo
from mvc.sockets import WebSocketRequestHandler
# Each open meeting socket keeps its request's database session (and so a pooled connection)
# for the socket's life; SQLite's default pool of 15 would stop the 16th page. Not what is measured here.
_create = db.create_engine
db.create_engine = lambda url, **kw: _create(url, poolclass=NullPool, **kw)
url = sys.argv[1]
db.upgrade(url)
app = create_app({"DATABASE_URL": url, "LIVE_PATH": sys.argv[2], "MEDIA_WORKERS": 0, "MEDIA_ADDRESSES": "",
                  "REDIS_URL": "", "LOG_LEVEL": "WARNING", "REMINDER_THREAD": False, "RETENTION_THREAD": False,
                  "SECRET_KEY": "bench", "PUBLIC_URL": "", "RATELIMIT_ENABLED": False})
with app.app_context():
    with Session(db.engine()) as s:
        seed_demo(s)
logging.getLogger("werkzeug").setLevel(logging.WARNING)
make_server("127.0.0.1", int(sys.argv[3]), app, threaded=True, request_handler=WebSocketRequestHandler).serve_forever()
"""
REPORT = {"type": "quality", "rtt": 32.5, "jitter": 4.1, "lossIn": 0.4, "lossOut": 0.0, "kbpsIn": 850.0,
          "kbpsOut": 480.0, "fpsIn": 20.0, "fpsOut": 20.0, "freezes": 0}
EVERY = 5.0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (and its finished children), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _join(base: str, name: str):
    import requests
    import websocket

    s = requests.Session()
    page = s.get(f"{base}/m/demo")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if match is None:
        raise RuntimeError(f"join page {page.status_code}: {page.text[:300]}")
    token = match.group(1)
    s.post(f"{base}/m/demo", data={"csrf_token": token, "name": name}, allow_redirects=False).raise_for_status()
    cookie = "; ".join(f"{c.name}={c.value}" for c in s.cookies)
    ws = websocket.create_connection(base.replace("http", "ws", 1) + "/ws/m/demo", header=[f"Cookie: {cookie}"],
                                     origin=base, timeout=10)
    return ws


def _drain(ws, stop: threading.Event) -> None:
    ws.settimeout(1)
    while not stop.is_set():
        try:
            ws.recv()
        except Exception:  # timeouts while idle; a closed socket ends the loop below
            if not ws.connected:
                return


def run(people: int, seconds: float) -> dict:
    """Start the server, join everyone, measure idle and reporting CPU; returns the figures."""
    tmp = Path(tempfile.mkdtemp(prefix="mvc-stats-bench-"))
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, f"sqlite:///{tmp / 'bench.db'}", str(tmp / "live.sqlite"),
                               str(port)], cwd=Path(__file__).resolve().parents[2])
    base, stop, sockets = f"http://127.0.0.1:{port}", threading.Event(), []
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.2)
        for i in range(people):
            ws = _join(base, f"Deltager {i + 1}")
            sockets.append(ws)
            threading.Thread(target=_drain, args=(ws, stop), daemon=True).start()
        time.sleep(3)  # let the joins' state pushes settle
        start = _cpu_seconds(server.pid)
        time.sleep(seconds)
        idle = _cpu_seconds(server.pid) - start
        sent, start, t0 = 0, _cpu_seconds(server.pid), time.monotonic()
        while (elapsed := time.monotonic() - t0) < seconds:
            due = int(elapsed / EVERY * people) + 1  # reports due by now, spread over each 5 s period
            while sent < min(due, int(seconds / EVERY) * people):
                sockets[sent % people].send(json.dumps(REPORT))
                sent += 1
            time.sleep(0.02)
        time.sleep(1)  # the last reports are handled
        busy = _cpu_seconds(server.pid) - start
    finally:
        stop.set()
        for ws in sockets:
            ws.close()
        server.terminate()
        server.wait(10)
    return {"people": people, "seconds": seconds, "reports": sent,
            "idle_cpu_pct": round(100 * idle / seconds, 2), "reporting_cpu_pct": round(100 * busy / seconds, 2),
            "added_cpu_pct": round(100 * (busy - idle) / seconds, 2),
            "cpu_ms_per_report": round(1000 * (busy - idle) / max(1, sent), 2)}


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m mvc.stats.bench")
    parser.add_argument("--people", type=int, default=35)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    print(json.dumps(run(args.people, args.seconds)))


if __name__ == "__main__":
    main()
