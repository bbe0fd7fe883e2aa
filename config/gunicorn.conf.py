"""gunicorn settings: gthread workers, since each open websocket holds a thread.

TLS=1 serves HTTPS with the self-signed certificate `python -m mvc lan ADDRESS` made in
MVC_TLS_DIR (var/tls/; the phone demo, `make run-lan`); production terminates TLS in a reverse proxy.
"""
import os
from pathlib import Path

from config import settings

# MVC_ENV=production with an unsafe default: gunicorn stops here with the message, no traceback.
with settings.refusing_to_start():
    mvc_settings = settings.load()  # not "config": gunicorn would read that as its own setting

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
worker_class = "gthread"
# The embedded mode keeps live state in a local SQLite file with events inside one
# process, so it must run one process; with MVC_REDIS_URL set, raise WEB_CONCURRENCY.
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
# One thread per open meeting websocket (300 and more per process), plus room for pages.
threads = mvc_settings["WEB_THREADS"]
worker_connections = max(1000, threads * 2)
timeout = 120
graceful_timeout = 10
keepalive = 5
accesslog = "-"
# The path without its query string: invitation tokens must not land in logs.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
if os.environ.get("TLS") == "1":
    from mvc.lan import certificate_paths

    certfile, keyfile = (str(p) for p in certificate_paths(Path(mvc_settings["TLS_DIR"])))
    if not os.path.exists(certfile):
        raise SystemExit(f"TLS=1 needs {certfile}: run `python -m mvc lan ADDRESS` first")
