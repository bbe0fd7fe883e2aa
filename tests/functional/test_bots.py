"""`python -m media.bots` joins like a browser and reports what each participant received."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bots_join_through_the_website_and_receive_each_other(media_server, demo_room):
    out = subprocess.run(
        [sys.executable, "-m", "media.bots", "--base-url", media_server.url, "--room", "demo",
         "--guests", "2", "--seconds", "3", "--host-pin", demo_room.host_pin, "--ice-loopback-only"],
        cwd=ROOT, capture_output=True, text=True, timeout=90, check=True,
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    people = report["participants"]
    assert len(people) == 3 and all(p["in_meeting"] for p in people), report
    for p in people:
        others = {q["pid"] for q in people if q["pid"] != p["pid"]}
        assert set(p["video_fps"]) == others, report
        assert all(fps > 15 for fps in p["video_fps"].values()), report
        assert all(pps > 20 for pps in p["audio_pps"].values()), report
