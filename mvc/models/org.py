"""Organisations and their themes (temaer)."""
from datetime import datetime

from sqlmodel import Field, LargeBinary, Column, SQLModel

from mvc.models.base import utcnow


SOR_PATTERN = r"^[0-9]{6,20}$"  # a SOR code (Sundhedsvæsenets Organisationsregister)
GLN_PATTERN = r"^[0-9]{13}$"  # a GLN (EAN location number)


class Organisation(SQLModel, table=True):
    """A municipality, region, hospital or clinic that runs its own rooms."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    slug: str = Field(max_length=60, unique=True, index=True)
    # No foreign key: organisation and theme point at each other.
    default_theme_id: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    # The sender of its FHIR CareCommunication messages (empty: each request names the sender).
    sor: str = Field(default="", max_length=20)
    gln: str = Field(default="", max_length=13)


class Theme(SQLModel, table=True):
    """Branding for citizen-facing pages and SMS texts. No organisation = the neutral default."""

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int | None = Field(default=None, foreign_key="organisation.id", index=True)
    name: str = Field(max_length=80)
    primary_color: str = Field(default="#1f5f8b", max_length=7)
    background_color: str = Field(default="#ffffff", max_length=7)
    text_color: str = Field(default="#1a1a1a", max_length=7)
    logo: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    logo_mime: str | None = Field(default=None, max_length=40)
    background_image: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    background_mime: str | None = Field(default=None, max_length=40)
    welcome_da: str = Field(default="", max_length=500)
    welcome_en: str = Field(default="", max_length=500)
    waiting_da: str = Field(default="", max_length=500)
    waiting_en: str = Field(default="", max_length=500)
    sms_sender: str = Field(default="", max_length=11)
    updated_at: datetime = Field(default_factory=utcnow)

    @property
    def version(self) -> int:
        """Changes whenever the theme is saved; in asset URLs so browsers never show a stale look."""
        return int(self.updated_at.timestamp()) if self.updated_at else 0

    def text(self, kind: str, locale: str) -> str:
        """The organisation's own welcome or waiting text in the locale, or ''."""
        return getattr(self, f"{kind}_{'en' if locale == 'en' else 'da'}") or ""
