"""Database engine, per-request session, and migrations."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask, current_app, g, has_request_context
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str, pool_size: int = 10, overflow: int = 20) -> Engine:
    """An engine for the URL; SQLite gets foreign keys and a busy timeout."""
    pool = {"pool_size": pool_size, "max_overflow": overflow}
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///:memory:") or url == "sqlite://":
            pool = {}  # one shared in-memory connection: SQLAlchemy picks its own pool
        elif url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15}, **pool)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # noqa: ANN001 - DB-API connection
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **pool)


def init_app(app: Flask) -> None:
    """Bind an engine to the app and close the request's session at teardown."""
    app.extensions["mvc.engine"] = make_engine(
        app.config["DATABASE_URL"], app.config["DB_POOL_SIZE"], app.config["DB_POOL_OVERFLOW"]
    )
    app.teardown_appcontext(_close_session)


def engine() -> Engine:
    """The current app's engine."""
    return current_app.extensions["mvc.engine"]


def session() -> Session:
    """The request's session, opened on first use."""
    if "db" not in g:
        g.db = Session(engine(), expire_on_commit=False)
    return g.db


@contextmanager
def side_session() -> Iterator[Session]:
    """A session for side work (statistics, webhook events) that must never break the caller.

    Inside a request it is the request's own session: a second connection per request lets a
    busy pool deadlock (every request holding one connection and waiting for another). A
    failure rolls it back so the request can go on. Outside a request: a short session of its own.
    """
    if not has_request_context():
        with Session(engine(), expire_on_commit=False) as own:
            yield own
        return
    s = session()
    try:
        yield s
    except Exception:
        s.rollback()
        raise


def release() -> None:
    """Close the request's session now: a long-lived request (a meeting websocket) calls this after
    each piece of work, so it holds no pooled connection between uses; the next use opens a fresh one."""
    _close_session(None)


def _close_session(_exc: BaseException | None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


def alembic_config(url: str):
    """An Alembic config pointing at our migrations and the given database."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str) -> None:
    """Migrate the database at url to the newest revision."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")
