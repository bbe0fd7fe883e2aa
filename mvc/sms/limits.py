"""Limits against SMS abuse: per staff member, organisation and number per hour, and a daily cap."""
from __future__ import annotations

import hashlib
from datetime import datetime, time, timezone

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func
from sqlmodel import Session, select

from mvc.models import SmsMessage
from mvc.models.base import utcnow
from mvc.sms.phones import pretty

HOUR = 3600


class LimitReached(Exception):
    """Sending would pass a limit; the message says which, in plain words."""


def _live():
    return current_app.extensions["mvc.live"]


def _number_key(number: str) -> str:
    # Hashed, so the live store (Redis) never holds numbers in clear.
    return "sms:to:" + hashlib.sha256(number.encode()).hexdigest()[:20]


def sent_today(db: Session, organisation_id: int, now: datetime | None = None) -> int:
    """Texts the organisation has made since midnight UTC (sent, kept or failed)."""
    midnight = datetime.combine((now or utcnow()).date(), time(0), tzinfo=timezone.utc)
    query = select(func.count()).select_from(SmsMessage).where(
        SmsMessage.organisation_id == organisation_id, SmsMessage.created_at >= midnight)
    return db.exec(query).one()


def check(db: Session, organisation_id: int, numbers: list[str], user_id: int | None = None,
          hourly: bool = True) -> None:
    """Raise LimitReached when sending to these numbers now would pass a limit."""
    cfg = current_app.config
    cap = cfg["SMS_DAILY_CAP"]
    if sent_today(db, organisation_id) + len(numbers) > cap:
        raise LimitReached(_("Your organisation has reached its daily limit of %(num)d text messages. "
                             "Please try again tomorrow or ask your administrator.", num=cap))
    if not hourly:
        return
    live = _live()
    if user_id is not None and live.count(f"sms:user:{user_id}", HOUR) + len(numbers) > cfg["SMS_USER_PER_HOUR"]:
        raise LimitReached(_("You have sent the most text messages allowed in one hour (%(num)d). "
                             "Please wait a while and try again.", num=cfg["SMS_USER_PER_HOUR"]))
    if live.count(f"sms:org:{organisation_id}", HOUR) + len(numbers) > cfg["SMS_ORG_PER_HOUR"]:
        raise LimitReached(_("Your organisation has sent the most text messages allowed in one hour. "
                             "Please try again later."))
    for number in set(numbers):
        if live.count(_number_key(number), HOUR) + numbers.count(number) > cfg["SMS_NUMBER_PER_HOUR"]:
            raise LimitReached(_("The number %(number)s has received the most text messages allowed in one hour. "
                                 "Please try again later.", number=pretty(number)))


def record(organisation_id: int, number: str, user_id: int | None = None) -> None:
    """Count one text against the hourly limits."""
    live = _live()
    if user_id is not None:
        live.hit(f"sms:user:{user_id}", HOUR)
    live.hit(f"sms:org:{organisation_id}", HOUR)
    live.hit(_number_key(number), HOUR)
