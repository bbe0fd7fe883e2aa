"""Themes in Management: colours with the WCAG contrast rule, images checked by content, texts."""
from __future__ import annotations

import re
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlmodel import Session, select

from mvc.manage import audit
from mvc.manage.forms import Checked, flag, text
from mvc.manage.images import ImageRefused, check_image
from mvc.models import Organisation, Theme, User
from mvc.models.base import utcnow
from mvc.theming import HEX, contrast, on_color

AA = 4.5
SMS_SENDER_RE = re.compile(r"^[A-Za-z0-9]{0,11}$")
TEXTS = ("welcome_da", "welcome_en", "waiting_da", "waiting_en")
COLOURS = ("primary_color", "background_color", "text_color")
FIELDS = ("name", *COLOURS, *TEXTS, "sms_sender")


@dataclass
class Contrast:
    """The contrast ratios a theme must keep, each with its pass/fail."""

    text: float
    button: float
    link: float

    @property
    def ok(self) -> bool:
        return min(self.text, self.button, self.link) >= AA


def measure(primary: str, background: str, text_color: str) -> Contrast | None:
    """Contrast of text on background, button text on primary, and links (primary) on background."""
    if not all(HEX.match(c or "") for c in (primary, background, text_color)):
        return None
    return Contrast(
        text=round(contrast(text_color, background), 2),
        button=round(contrast(on_color(primary), primary), 2),
        link=round(contrast(primary, background), 2),
    )


def org_themes(db: Session, organisation_id: int) -> list[Theme]:
    """The organisation's own themes by name."""
    return list(db.exec(select(Theme).where(Theme.organisation_id == organisation_id).order_by(Theme.name)))


def neutral_values(db: Session) -> dict:
    """Form values for a new theme, starting from the neutral default's colours."""
    neutral = db.exec(select(Theme).where(Theme.organisation_id == None)).first() or Theme(name="")  # noqa: E711
    return {**theme_values(neutral), "name": ""}


def theme_values(theme: Theme) -> dict:
    """The theme as form values."""
    return {name: getattr(theme, name) for name in FIELDS}


IMAGE_ERRORS = {
    "too_large": lambda: _("The image is too large. It may be at most 2 MB."),
    "not_image": lambda: _("The file is not a PNG, JPEG or SVG image. Please choose another file."),
    "svg_unsafe": lambda: _("The SVG image contains scripts, links or other content that is not allowed. Please export it as plain SVG or PNG."),
}


def check(form, files) -> Checked:
    """Clean and check a theme form, including uploaded images (values then hold their bytes)."""
    v = {name: text(form, name, 500) for name in FIELDS}
    v.update({c: v[c].lower() for c in COLOURS})
    errors: dict[str, str] = {}
    if not v["name"] or len(v["name"]) > 80:
        errors["name"] = _("Give the theme a name of at most 80 characters.")
    for name in COLOURS:
        if not HEX.match(v[name]):
            errors[name] = _("Write the colour as # and six hex digits, for example #1f5f8b.")
    measured = measure(v["primary_color"], v["background_color"], v["text_color"])
    if measured and not measured.ok:
        errors["contrast"] = _("These colours are hard to read. Each contrast must be at least 4.5:1.")
    for name in TEXTS:
        if len(v[name]) > 500:
            errors[name] = _("The text may be at most 500 characters.")
    if not SMS_SENDER_RE.match(v["sms_sender"]) or (v["sms_sender"] and v["sms_sender"].isdigit()):
        errors["sms_sender"] = _("The SMS sender is at most 11 letters and digits, with at least one letter.")
    for kind in ("logo", "background"):
        _check_upload(files.get(kind), kind, v, errors)
        v[f"remove_{kind}"] = flag(form, f"remove_{kind}")
    v["make_default"] = flag(form, "make_default")
    return Checked(v, errors)


def default_theme_id(db: Session, organisation_id: int) -> int | None:
    """The theme the organisation's rooms use when they name none."""
    org = db.get(Organisation, organisation_id)
    return org.default_theme_id if org else None


def _check_upload(upload, kind: str, values: dict, errors: dict) -> None:
    data = upload.read() if upload and upload.filename else b""
    if not data:
        return
    try:
        values[kind] = check_image(data)
    except ImageRefused as exc:
        errors[kind] = IMAGE_ERRORS[str(exc)]()


def save(db: Session, actor: User, theme: Theme | None, values: dict) -> Theme:
    """Create or update a theme from checked values, with an audit entry."""
    before = theme_values(theme) if theme else {}
    if theme is None:
        theme = Theme(organisation_id=actor.organisation_id, name=values["name"])
    for name in FIELDS:
        setattr(theme, name, values[name])
    notes = [audit.changes(before, {n: values[n] for n in FIELDS})]
    for kind, column in (("logo", "logo"), ("background", "background_image")):
        if kind in values:
            setattr(theme, column, values[kind][0])
            setattr(theme, f"{kind}_mime", values[kind][1])
            notes.append(f"new {kind} ({values[kind][1]})")
        elif values.get(f"remove_{kind}"):
            setattr(theme, column, None)
            setattr(theme, f"{kind}_mime", None)
            notes.append(f"{kind} removed")
    theme.updated_at = utcnow()
    db.add(theme)
    if values.get("make_default"):
        db.flush()
        org = db.get(Organisation, actor.organisation_id)
        org.default_theme_id = theme.id
        db.add(org)
        notes.append("now the organisation's default theme")
    audit.record(db, actor, "theme.update" if before else "theme.create", f"theme {theme.name}",
                 "; ".join(n for n in notes if n))
    db.commit()
    return theme
