"""Page benchmark: bytes a phone downloads and how long joining takes, in real Chromium.

    python -m mvc.bench [--runs 5]

Starts the app in-process (embedded defaults, temporary SQLite database and live state (a
run's locked meeting must not stay locked for the next, or for `make run`), one media worker, loopback
ICE), opens the demo room on a 390x844 viewport with a fake camera, and prints one JSON
line: bytes transferred for the join page and for the meeting page (compressed, as sent),
and median times from pressing "Join" to the meeting view and to the first remote video
frame, with the host already in the meeting; then, with the meeting locked, from the host
pressing "Let in" for a knocking guest (whose media connected while it knocked) to that
guest's first remote video frame. Needs the
test dependencies (playwright and Debian's chromium).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

TRANSFER_JS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const res = performance.getEntriesByType('resource');
  return (nav ? nav.transferSize : 0) + res.reduce((n, r) => n + r.transferSize, 0);
}"""
ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
        "--allow-loopback-in-peer-connection", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _serve(tmp: Path):
    from sqlmodel import Session, select
    from werkzeug.serving import make_server

    from mvc import create_app, db
    from mvc.models import Room
    from mvc.seed import seed_demo
    from mvc.sockets import WebSocketRequestHandler

    url = f"sqlite:///{tmp / 'bench.db'}"
    db.upgrade(url)
    app = create_app({"DATABASE_URL": url, "LIVE_PATH": str(tmp / "live.sqlite"), "MEDIA_WORKERS": 1, "ICE_LOOPBACK_ONLY": True,
                      "ICE_SERVERS": [], "LOG_LEVEL": "WARNING", "REMINDER_THREAD": False})
    with app.app_context(), Session(db.engine()) as s:
        seed_demo(s)
        pin = s.exec(select(Room).where(Room.alias == "demo")).one().host_pin
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=WebSocketRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return app, server, f"http://127.0.0.1:{server.server_port}", pin


def _wait(page, expression: str, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while not page.evaluate(expression):
        if time.time() > deadline:
            raise TimeoutError(expression)
        time.sleep(0.02)


FIRST_FRAME = ("Array.from(document.querySelectorAll('#tiles .tile:not(.self) video'))"
               ".some(v => v.videoWidth > 0)")
ACT = "form:has(input[name=action][value={}]) button"
CONNECTED = "window.MVCMedia.pc() && window.MVCMedia.pc().connectionState === 'connected'"


def _let_in(browser, base: str, host, runs: int) -> list[float]:
    """Seconds from the host pressing "Let in" to a knocking guest's first remote frame."""
    host.click(ACT.format("lock"))
    host.wait_for_selector("form:has(input[name=action][value=lock]):has(input[name=on][value='0'])")
    out = []
    for i in range(runs):
        ctx = browser.new_context(viewport={"width": 390, "height": 844})
        page = ctx.new_page()
        page.goto(f"{base}/m/demo")
        page.fill("#name", f"Knocking {i}")
        page.click("form.stack button[type=submit]")
        page.wait_for_selector("#stage[data-view=knocking]")
        button = host.locator(ACT.format("admit")).first
        button.wait_for()
        page.wait_for_timeout(300)  # the waiting page settles, as a person's would
        _wait(page, CONNECTED)  # its media connects while it waits (about 0.1 s on loopback)
        started = time.monotonic()
        button.click()
        _wait(page, FIRST_FRAME)
        out.append(time.monotonic() - started)
        ctx.close()
    return out


def run(runs: int) -> dict:
    """Measure `runs` guest joins against one host; return the figures."""
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="mvc-bench-"))
    app, server, base, pin = _serve(tmp)
    join_page, meeting_page, to_meeting, to_frame = [], [], [], []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=ARGS)
            host = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            host.goto(f"{base}/m/demo")
            host.fill("#name", "Host")
            host.click("summary")
            host.fill("#pin", pin)
            host.click("form.stack button[type=submit]")
            host.wait_for_selector("#stage[data-view=meeting]")
            for i in range(runs):
                ctx = browser.new_context(viewport={"width": 390, "height": 844})
                page = ctx.new_page()
                page.goto(f"{base}/m/demo")
                page.wait_for_load_state("networkidle")
                join_page.append(page.evaluate(TRANSFER_JS))
                page.fill("#name", f"Guest {i}")
                started = time.monotonic()
                page.click("form.stack button[type=submit]")
                page.wait_for_selector("#stage[data-view=meeting]")
                to_meeting.append(time.monotonic() - started)
                _wait(page, FIRST_FRAME)
                to_frame.append(time.monotonic() - started)
                meeting_page.append(page.evaluate(TRANSFER_JS))
                ctx.close()
            let_in = _let_in(browser, base, host, runs)
            browser.close()
    finally:
        server.shutdown()
        app.extensions["mvc.media"].stop()
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "runs": runs,
        "join_page_bytes": int(statistics.median(join_page)),
        "meeting_page_bytes": int(statistics.median(meeting_page)),
        "join_to_meeting_s": round(statistics.median(to_meeting), 3),
        "join_to_first_remote_frame_s": round(statistics.median(to_frame), 3),
        "let_in_to_first_remote_frame_s": round(statistics.median(let_in), 3),
    }


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m mvc.bench")
    parser.add_argument("--runs", type=int, default=5)
    print(json.dumps(run(parser.parse_args(argv).runs)))


if __name__ == "__main__":
    main()
