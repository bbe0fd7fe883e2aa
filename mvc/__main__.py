"""Command line: `python -m mvc migrate | seed | platform-admin EMAIL NAME | reminders [--once] | api-client create … |
retention [--once] [--dry-run] | webhooks [--once] | lan [ADDRESS]`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlmodel import Session, select

from config import settings

# A command's app starts none of the web process's threads (it runs its own work in the foreground).
COMMAND_CONFIG = {"REMINDER_THREAD": False, "RETENTION_THREAD": False, "WEBHOOK_THREAD": False, "MEDIA_WORKERS": 0,
                  "MEDIA_ADDRESSES": ""}


def _lan(address: str | None) -> int:
    """`lan`: print the LAN address; `lan ADDRESS`: make its certificate, print how to open MVC_PUBLIC_URL."""
    from mvc import lan

    if not address:
        try:
            print(lan.lan_address())
        except OSError as exc:  # no network: say how to choose the address instead
            print(f"no LAN address found ({exc}): set LAN_IP=…", file=sys.stderr)
            return 1
        return 0
    cfg = settings.load()
    cert, _key = lan.ensure_certificate(address, Path(cfg["TLS_DIR"]))
    base = cfg["PUBLIC_URL"] or f"https://{address}:8000"  # make run-lan sets it
    print(lan.instructions(f"{base}/m/demo", cert))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one management command; MVC_ENV=production with an unsafe default refuses every one."""
    with settings.refusing_to_start():
        return _command(sys.argv[1:] if argv is None else argv)


def _command(argv: list[str]) -> int:
    if argv[:1] == ["api-client"]:
        from mvc.api.cli import main as api_client

        return api_client(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m mvc")
    parser.add_argument("command", choices=["migrate", "seed", "platform-admin", "reminders", "retention", "webhooks",
                                            "lan"])
    parser.add_argument("email", nargs="?", help="platform-admin: the account's e-mail")
    parser.add_argument("name", nargs="?", default="Platform admin", help="platform-admin: the account's name")
    parser.add_argument("--once", action="store_true",
                        help="reminders, retention, webhooks: do what is due now, then stop")
    parser.add_argument("--dry-run", action="store_true", help="retention: only show what the rules would do now")
    args = parser.parse_args(argv)
    if args.command == "reminders":
        return _reminders(args.once)
    if args.command == "retention":
        return _retention(args.once, args.dry_run)
    if args.command == "webhooks":
        return _webhooks(args.once)
    if args.command == "lan":
        return _lan(args.email)

    from mvc import db

    cfg = settings.load()
    if args.command == "migrate":
        db.upgrade(cfg["DATABASE_URL"])
        print("database migrated")
        return 0
    if args.command == "platform-admin":
        if not args.email:
            parser.error("platform-admin needs an e-mail address")
        from mvc.seed import make_platform_admin

        with Session(db.make_engine(cfg["DATABASE_URL"])) as session:
            password = make_platform_admin(session, args.email, args.name)
        print(f"{args.email} is a platform admin" + (f"; password: {password} (shown once)" if password else ""))
        return 0
    from mvc.models import Room
    from mvc.seed import DEMO_ALIAS, seed_demo

    with Session(db.make_engine(cfg["DATABASE_URL"])) as session:
        made = seed_demo(session) if cfg["SEED_DEMO"] else None
        room = session.exec(select(Room).where(Room.alias == DEMO_ALIAS)).first()
    base = cfg["PUBLIC_URL"] or "http://127.0.0.1:8000"
    if made:
        print(f"Demo staff login: {made['admin_email']} / {made['admin_password']} (shown once)")
    if room is not None:
        print(f"Demo room: {base}/m/{room.alias}   host PIN: {room.host_pin}")
    return 0


def _reminders(once: bool) -> int:
    """Send due SMS reminders and ring devices invited to bookings (each is claimed atomically)."""
    from mvc import create_app
    from mvc.booking.reminders import ReminderScheduler

    from mvc.devices.scheduler import CallScheduler

    app = create_app(COMMAND_CONFIG)
    scheduler = ReminderScheduler(app)
    calls = CallScheduler(app, interval=app.config["DEVICE_CALL_INTERVAL"])  # devices invited to bookings
    if once:
        print(f"reminders handled: {scheduler.run_once()}")
        print(f"device calls handled: {calls.run_once()}")
        return 0
    calls.start()
    scheduler.start()
    try:
        scheduler._thread.join()
    except KeyboardInterrupt:
        scheduler.stop()
        calls.stop()
    return 0


def _retention(once: bool, dry_run: bool) -> int:
    """Apply the retention rules (or show what they would do); safe next to other processes."""
    from dataclasses import asdict

    from mvc import create_app
    from mvc.stats.retention import RetentionScheduler

    app = create_app(COMMAND_CONFIG)
    scheduler = RetentionScheduler(app)
    if once or dry_run:
        outcome = scheduler.run_once(dry_run)
        print(("would change" if dry_run else "changed") + f" {outcome.total()} rows")
        for name, count in asdict(outcome).items():
            print(f"  {name}: {count}")
        return 0
    scheduler.start()
    try:
        scheduler._thread.join()
    except KeyboardInterrupt:
        scheduler.stop()
    return 0


def _webhooks(once: bool) -> int:
    """Post the webhook outbox (rows are claimed atomically, so this may run beside the web processes' senders)."""
    from mvc import create_app
    from mvc.api.webhook_sender import WebhookSender

    sender = WebhookSender(create_app(COMMAND_CONFIG))
    if once:
        print(f"webhooks tried: {sender.run_once()}")
        return 0
    sender.start()
    try:
        sender._thread.join()
    except KeyboardInterrupt:
        sender.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
