"""The sample deployment files in config/ are checked by their own tools.

nginx and Caddy check their samples (`nginx -t`, `caddy validate`), and nginx with its
sample carries a meeting in front of gunicorn; coturn starts with its sample on 127.0.0.1
and grants a relay over TLS to credentials minted by MVC; systemd checks the units. Each
tool comes from Debian (tests/system-deps.sh installs it); a test is skipped, saying so,
where the tool cannot be installed.
"""
from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from aioice import stun

from mvc.lan import ensure_certificate
from tests.services import free_port

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config"


def tool(name: str) -> str:
    """The tool's path, or skip: tests/system-deps.sh installs it where Debian has it."""
    path = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if Path(p).exists()), None)
    if path is None:
        pytest.skip(f"{name} is not installed and could not be (tests/system-deps.sh installs it from Debian)")
    return path


def with_test_certificate(text: str, host: str, tmp_path: Path) -> str:
    """The sample with its Let's Encrypt paths pointing at a throwaway certificate."""
    cert, key = ensure_certificate("127.0.0.1", tmp_path / "tls")
    live = f"/etc/letsencrypt/live/{host}"
    assert f"{live}/fullchain.pem" in text and f"{live}/privkey.pem" in text
    return text.replace(f"{live}/fullchain.pem", str(cert)).replace(f"{live}/privkey.pem", str(key))


def test_the_nginx_sample_passes_nginx_t_with_websockets_and_hsts(tmp_path):
    nginx = tool("nginx")
    sample = (CONFIG / "nginx.conf.sample").read_text()
    assert "proxy_set_header Upgrade $http_upgrade;" in sample and "Strict-Transport-Security" in sample
    (tmp_path / "mvc.conf").write_text(with_test_certificate(sample, "video.example.dk", tmp_path))
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include {tmp_path}/mvc.conf;\n}}\n")
    done = subprocess.run([nginx, "-t", "-q", "-e", "stderr", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def test_the_caddy_sample_passes_caddy_validate_with_hsts(tmp_path):
    caddy = tool("caddy")
    sample = CONFIG / "Caddyfile.sample"
    assert "Strict-Transport-Security" in sample.read_text() and "reverse_proxy" in sample.read_text()
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([caddy, "validate", "--config", str(sample), "--adapter", "caddyfile"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0 and "Valid configuration" in done.stdout + done.stderr, done.stderr[-2000:]


def turn_credentials(app, secret: str, user: str) -> tuple[str, str]:
    """A TURN username and password the way MVC mints them for a page (coturn's REST-API scheme)."""
    from mvc.meeting.live_ops import ice_servers

    app.config.update(TURN_SECRET=secret, TURN_URLS="turns:turn.example.dk:443?transport=tcp")
    with app.app_context():
        server = ice_servers(user)[-1]
    return server["username"], server["credential"]


@pytest.mark.timeout(60)
def test_coturn_starts_with_its_sample_and_relays_over_tls_for_mvc_credentials(tmp_path, app):
    turnserver = tool("turnserver")
    udp, tls = free_port(), free_port()
    sample = (CONFIG / "coturn.conf.sample").read_text()
    assert "tls-listening-port=443" in sample
    conf = with_test_certificate(sample, "turn.example.dk", tmp_path)
    conf = conf.replace("listening-port=3478", f"listening-port={udp}").replace("tls-listening-port=443", f"tls-listening-port={tls}")
    conf = conf.replace("static-auth-secret=CHANGE-ME-long-random-secret", "static-auth-secret=turn-test-secret")
    # Only loopback, ports nobody holds, files in tmp: the test's own additions.
    conf += (f"listening-ip=127.0.0.1\nrelay-ip=127.0.0.1\nuserdb={tmp_path}/turndb\n"
             f"pidfile={tmp_path}/turn.pid\nlog-file={tmp_path}/turn.log\nsimple-log\nno-stdout-log\n")
    (tmp_path / "turnserver.conf").write_text(conf)
    proc = subprocess.Popen([turnserver, "-c", str(tmp_path / "turnserver.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        username, password = turn_credentials(app, "turn-test-secret", "pid-1")
        relayed = asyncio.run(allocate_over_tls(tls, username, password))
        assert relayed[0] == "127.0.0.1" and 49160 <= relayed[1] <= 49999
        with pytest.raises(stun.TransactionFailed, match="401"):  # a wrong secret gets no relay
            asyncio.run(allocate_over_tls(tls, username, "wrong"))
    finally:
        proc.terminate()
        proc.wait(10)


async def allocate_over_tls(port: int, username: str, password: str) -> tuple[str, int]:
    """Ask coturn for a relay over TLS, as a browser with a turns: URL does; its relayed address."""
    from aioice import turn

    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # the throwaway certificate
    deadline = time.monotonic() + 20
    while True:
        try:
            transport, _ = await turn.create_turn_endpoint(
                asyncio.DatagramProtocol, ("127.0.0.1", port), username, password, ssl=context, transport="tcp")
            break
        except ConnectionRefusedError:  # coturn still starting
            assert time.monotonic() < deadline, "coturn did not listen"
            await asyncio.sleep(0.1)
    try:
        return transport.get_extra_info("sockname")
    finally:
        transport.close()


UNITS = ["mvc-web@.service", "mvc-media@.service", "mvc-scheduler.service", "mvc-retention.service"]


def installed_unit(name: str, tmp_path: Path, instance: str = "8000") -> Path:
    """The unit as if installed from this checkout (/opt/mvc → here), instance units instantiated."""
    text = (CONFIG / "systemd" / name).read_text()
    text = text.replace("/etc/mvc/mvc.env", str(CONFIG / "systemd" / "mvc.env.sample")).replace("/opt/mvc", str(ROOT))
    path = tmp_path / name.replace("@.", f"@{instance}.")
    path.write_text(text)
    return path


def sample_environment() -> dict[str, str]:
    """The settings of config/systemd/mvc.env.sample."""
    lines = (CONFIG / "systemd" / "mvc.env.sample").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def test_the_systemd_units_pass_systemd_analyze_verify(tmp_path):
    analyze = tool("systemd-analyze")
    done = subprocess.run([analyze, "verify", *(str(installed_unit(u, tmp_path)) for u in UNITS)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_the_media_worker_unit_starts_a_worker_with_the_sample_settings(tmp_path):
    """ExecStart of mvc-media@ as systemd expands it (${VAR}: one argument, empty if unset)."""
    import re
    import sys

    unit = installed_unit("mvc-media@.service", tmp_path, instance="0")
    command = re.search(r"^ExecStart=(.*)$", unit.read_text(), re.M).group(1).replace("%i", "0")
    env = sample_environment()
    argv = [env.get(word[2:-1], "") if word.startswith("${") else word for word in command.split()]
    assert argv[0] == str(ROOT / ".venv/bin/python") and argv[argv.index("--announced-ip") + 1] == ""
    proc = subprocess.Popen([sys.executable, *argv[1:]], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={"MVC_MEDIA_SECRET": env["MVC_MEDIA_SECRET"], "PATH": "/usr/bin:/bin"})
    try:
        line = proc.stdout.readline()
        assert line.startswith("listening 127.0.0.1:"), proc.stderr.read() if proc.poll() is not None else line
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()


@pytest.mark.timeout(120)
def test_the_nginx_sample_in_front_of_gunicorn_passes_websockets_and_sets_hsts(tmp_path, monkeypatch):
    """The sample as it is, on 127.0.0.1 ports of the test's choosing, in front of the app."""
    import os
    import re

    import requests
    from sqlmodel import Session, select

    from mvc import db as mvc_db
    from mvc.models import Room
    from mvc.seed import seed_demo
    from tests.conftest import http_join
    from tests.services import Gunicorn
    from tests.wsclient import Page

    nginx = tool("nginx")
    web, plain, tls = free_port(), free_port(), free_port()
    url = f"sqlite:///{tmp_path / 'mvc.db'}"
    mvc_db.upgrade(url)
    with Session(mvc_db.make_engine(url)) as session:
        seed_demo(session)
        pin = session.exec(select(Room).where(Room.alias == "demo")).one().host_pin
    env = {k: v for k, v in os.environ.items() if not k.startswith("MVC_")}
    env.update(MVC_DATABASE_URL=url, MVC_LIVE_PATH=str(tmp_path / "live.sqlite"), MVC_SECRET_KEY="nginx-test",
               MVC_TRUSTED_PROXIES="1", MVC_SECURE_COOKIES="1", MVC_PUBLIC_URL=f"https://127.0.0.1:{tls}",
               MVC_MEDIA_WORKERS="0", MVC_REMINDER_THREAD="0", MVC_RETENTION_THREAD="0", MVC_LOG_LEVEL="WARNING")
    app = Gunicorn(env, web, tmp_path / "gunicorn.log")
    app.start()

    conf = with_test_certificate((CONFIG / "nginx.conf.sample").read_text(), "video.example.dk", tmp_path)
    conf = re.sub(r"listen \[::\]:\d+[^;]*;", "", conf)  # loopback only
    conf = conf.replace("listen 80;", f"listen 127.0.0.1:{plain};").replace("listen 443 ssl", f"listen 127.0.0.1:{tls} ssl")
    conf = conf.replace("127.0.0.1:8000", f"127.0.0.1:{web}").replace("127.0.0.1:8001", f"127.0.0.1:{web}")
    (tmp_path / "mvc.conf").write_text(conf)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\ndaemon off;\nmaster_process off;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {tmp_path}/body;\n  proxy_temp_path {tmp_path}/proxy;\n"
        f"  include {tmp_path}/mvc.conf;\n}}\n")
    proxy = subprocess.Popen([nginx, "-e", str(tmp_path / "error.log"), "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"https://127.0.0.1:{tls}"
    cert = str(tmp_path / "tls" / "cert.pem")
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                page = requests.get(f"{base}/m/demo", verify=cert, timeout=5)
                break
            except requests.ConnectionError:
                assert proxy.poll() is None and time.monotonic() < deadline, (tmp_path / "error.log").read_text()
                time.sleep(0.1)
        assert page.status_code == 200 and 'id="name"' in page.text
        assert page.headers["Strict-Transport-Security"].startswith("max-age=63072000")
        redirect = requests.get(f"http://127.0.0.1:{plain}/m/demo", allow_redirects=False, timeout=5)
        assert redirect.status_code == 301 and redirect.headers["Location"].startswith("https://")

        # A meeting over the proxy: the app sees HTTPS (secure cookies) and the websocket passes.
        monkeypatch.setenv("WEBSOCKET_CLIENT_CA_BUNDLE", cert)
        sessions = []
        for name, code in (("Nurse Nina", pin), ("Karen Jensen", "")):
            s = requests.Session()
            s.verify, s.trust_env = cert, False  # not a CA bundle from the environment
            s.headers["Referer"] = f"{base}/m/demo"  # as a browser sends it (Referrer-Policy same-origin)
            sessions.append(http_join(base, "demo", name, code, session=s))
        assert all(c.secure for s in sessions for c in s.cookies)
        host, karen = (Page(base, "demo", s) for s in sessions)
        host.wait_text('data-view="meeting"')
        karen.wait_text('data-view="meeting"')
        karen.send({"action": "chat", "text": "through nginx"})
        host.wait_text("through nginx")
        host.close()
        karen.close()
    finally:
        proxy.terminate()
        proxy.wait(10)
        app.stop()
