"""GET /metrics in Prometheus format, for callers with the MVC_METRICS_TOKEN bearer token only.

Counters (joins, refusals, reconnects, quality reports) count in this process; gauges
(sockets, live meetings, workers) and message outcomes are read when scraped.
"""
from __future__ import annotations

import hmac

from flask import Response, abort, current_app, request
from prometheus_client import CollectorRegistry, Counter, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import func
from sqlmodel import Session, select

from mvc.models import MailMessage, SmsMessage
from mvc.stats import bp

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)  # this web process's CPU seconds and memory
JOINS = Counter("mvc_joins", "Visitors who passed the join form", ["role", "via"], registry=REGISTRY)
REFUSALS = Counter("mvc_join_refusals", "Join attempts refused, by reason", ["reason"], registry=REGISTRY)
RECONNECTS = Counter("mvc_reconnects", "Meeting websockets opened again by the same participant", registry=REGISTRY)
QUALITY_REPORTS = Counter("mvc_quality_reports", "Quality reports from pages, by outcome", ["outcome"],
                          registry=REGISTRY)


class LiveCollector:
    """Gauges read at scrape time from the app: sockets, live meetings, workers, SMS and e-mail outcomes."""

    def __init__(self, app) -> None:
        self.app = app

    def collect(self):
        hub = self.app.extensions["mvc.hub"]
        yield GaugeMetricFamily("mvc_open_websockets", "Open meeting websockets in this process",
                                value=len(getattr(hub, "_targets", {})))
        store = self.app.extensions["mvc.live"]
        states = [s for s in (store.get(r) for r in store.rooms()) if s is not None and not s.ended]
        yield GaugeMetricFamily("mvc_live_meetings", "Meetings with live state", value=len(states))
        people = GaugeMetricFamily("mvc_live_participants", "Participants of live meetings", labels=["status"])
        for status in ("present", "waiting", "knocking"):
            people.add_metric([status], sum(1 for s in states for p in s.participants.values() if p.status == status))
        yield people
        yield from self._workers()
        with Session(self.app.extensions["mvc.engine"]) as s:
            for model, name in ((SmsMessage, "mvc_sms_messages"), (MailMessage, "mvc_mail_messages")):
                family = CounterMetricFamily(name, f"{name[4:].replace('_', ' ').capitalize()} by outcome",
                                             labels=["status"])
                for status, count in s.exec(select(model.status, func.count()).group_by(model.status)):
                    family.add_metric([status], count)
                yield family

    def _workers(self):
        """Every number a worker reports in its load (packets in/out today; dropped, NACKs, CPU when it sends them)."""
        workers = self.app.extensions["mvc.media"].health().get("workers") or {}
        alive = GaugeMetricFamily("mvc_worker_up", "Media worker alive", labels=["worker"])
        figures: dict[str, GaugeMetricFamily] = {}
        for name, info in workers.items() if isinstance(workers, dict) else ():
            alive.add_metric([name], 1 if info.get("alive") else 0)
            for key, value in (info.get("load") or {}).items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and key.isidentifier():
                    family = figures.setdefault(key, GaugeMetricFamily(f"mvc_worker_{key}", f"Media worker {key}",
                                                                       labels=["worker"]))
                    family.add_metric([name], value)
        yield alive
        yield from figures.values()


def _authorised() -> bool:
    token = current_app.config.get("METRICS_TOKEN") or ""
    given = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


@bp.get("/metrics")
def metrics():
    """Prometheus metrics; 401 without the configured bearer token (and always when none is configured)."""
    if not _authorised():
        abort(Response("metrics need a bearer token\n", 401, {"WWW-Authenticate": "Bearer"}))
    live = CollectorRegistry()
    live.register(LiveCollector(current_app._get_current_object()))
    body = generate_latest(REGISTRY) + generate_latest(live)
    return Response(body, mimetype="text/plain; version=0.0.4")
