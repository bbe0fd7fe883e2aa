"""`make run-lan`: HTTPS with the self-signed certificate, media through the announced address.

The test serves on 127.0.0.1 (never the machine's LAN address): `python -m mvc lan 127.0.0.1`
makes the certificate for it in the test's own MVC_TLS_DIR (nothing lands in the checkout's
var/), gunicorn serves it with TLS=1 as `make run-lan` does, and the
worker binds inside MVC_MEDIA_PORTS and announces 127.0.0.1.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests

from tests.browser.conftest import chromium, enter, wait_js
from tests.conftest import ROOT
from tests.services import Gunicorn, free_port, free_udp_ports

pytestmark = pytest.mark.browser

FRAMES_JS = """async () => {
  const pc = window.MVCMedia.pc();
  let frames = 0;
  if (!pc) return 0;
  (await pc.getStats()).forEach(r => { if (r.type === 'inbound-rtp' && r.kind === 'video') frames += r.framesDecoded || 0; });
  return frames;
}"""
WORKER_CANDIDATES_JS = """async () => {
  const out = [];
  (await window.MVCMedia.pc().getStats()).forEach(r => { if (r.type === 'remote-candidate') out.push([r.address, r.port]); });
  return out;
}"""


@pytest.fixture
def lan_server(tmp_path):
    port, media_ports = free_port(), free_udp_ports(100)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MVC_")}
    env.update(PORT=str(port), TLS="1", MVC_DATABASE_URL=f"sqlite:///{tmp_path / 'lan.db'}",
               MVC_LIVE_PATH=str(tmp_path / "live.sqlite"), MVC_SECRET_KEY="lan-test", MVC_MEDIA_SECRET="lan-test",
               MVC_TLS_DIR=str(tmp_path / "tls"),
               MVC_PUBLIC_URL=f"https://127.0.0.1:{port}", MVC_SECURE_COOKIES="1",
               MVC_MEDIA_WORKERS="1", MVC_ICE_LOOPBACK_ONLY="1", MVC_MEDIA_ANNOUNCED_IP="127.0.0.1",
               MVC_MEDIA_PORTS=f"{media_ports[0]}-{media_ports[-1]}", MVC_REMINDER_THREAD="0", MVC_RETENTION_THREAD="0",
               MVC_LOG_LEVEL="WARNING")

    def mvc(*args: str) -> str:
        return subprocess.run([sys.executable, "-m", "mvc", *args], env=env, cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout

    mvc("migrate")
    pin = mvc("seed").split("host PIN: ")[1].split()[0]
    told = mvc("lan", "127.0.0.1")
    server = Gunicorn(env, port, tmp_path / "gunicorn.log", verify=str(tmp_path / "tls" / "cert.pem"))
    server.start()
    server.pin, server.told, server.media_ports, server.tls_dir = pin, told, media_ports, tmp_path / "tls"
    yield server
    server.stop()


def test_the_lan_mode_serves_https_and_media_flows_through_it(lan_server):
    url = f"{lan_server.url}/m/demo"
    assert url.startswith("https://127.0.0.1:")
    # What `make run-lan` prints: the address to open and the warning the phone will show.
    assert url in lan_server.told and "NET::ERR_CERT_AUTHORITY_INVALID" in lan_server.told
    assert "This Connection Is Not Private" in lan_server.told and "SHA-256 " in lan_server.told
    assert f"made once in {lan_server.tls_dir})" in lan_server.told  # MVC_TLS_DIR, not the checkout's var/
    # The join page, over TLS with the certificate made in MVC_TLS_DIR (it names 127.0.0.1).
    page = requests.get(url, verify=lan_server.verify, timeout=10)
    assert page.status_code == 200 and 'id="name"' in page.text
    with pytest.raises(requests.ConnectionError):
        requests.get(url.replace("https:", "http:"), timeout=10)  # only HTTPS is served

    with chromium("--ignore-certificate-errors") as browser:
        pages = []
        for name, pin in (("Nina", lan_server.pin), ("Karen Jensen", None)):
            context = browser.new_context(permissions=["camera", "microphone"])
            p = context.new_page()
            p.set_default_timeout(15_000)
            enter(p, url, name, pin)
            pages.append(p)
        for p in pages:
            wait_js(p, "Array.from(document.querySelectorAll('#tiles .tile:not(.self) video')).some(v => v.videoWidth > 0)", 30)
            first = p.evaluate(FRAMES_JS)
            wait_js(p, f"(async () => (await ({FRAMES_JS})()) > {first} + 10)()", 10)
            # The worker offered the announced address and a port of MVC_MEDIA_PORTS.
            candidates = p.evaluate(WORKER_CANDIDATES_JS)
            assert candidates and all(a == "127.0.0.1" and port in lan_server.media_ports for a, port in candidates), candidates
            assert p.evaluate("document.cookie") == ""  # the session cookie is HttpOnly and Secure
