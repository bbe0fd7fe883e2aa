"""The words of each text: organisation name, a link and plain words; never a title or reason."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask_babel import force_locale
from flask_babel import gettext as _

LOCAL = ZoneInfo("Europe/Copenhagen")


def compose(purpose: str, org: str, link: str, locale: str = "da", when: datetime | None = None) -> str:
    """The text for one purpose (invite, forward, update, cancel, reminder) in the invitee's language."""
    local = when.astimezone(LOCAL) if when else None
    date, time = (local.strftime("%d-%m-%Y"), local.strftime("%H:%M")) if local else ("", "")
    with force_locale(locale if locale in ("da", "en") else "da"):
        if purpose == "cancel":
            return _("%(org)s has cancelled your video meeting on %(date)s at %(time)s.", org=org, date=date, time=time)
        if purpose == "update":
            return _("%(org)s has moved your video meeting to %(date)s at %(time)s. Join here: %(link)s",
                     org=org, date=date, time=time, link=link)
        if purpose == "reminder":
            return _("Reminder from %(org)s: your video meeting starts at %(time)s. Join here: %(link)s",
                     org=org, time=time, link=link)
        if local is not None:
            return _("%(org)s invites you to a video meeting on %(date)s at %(time)s. Join here: %(link)s",
                     org=org, date=date, time=time, link=link)
        return _("%(org)s invites you to a video meeting now. Join here: %(link)s", org=org, link=link)
