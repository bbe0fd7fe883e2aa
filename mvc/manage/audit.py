"""Recording and reading the management audit log."""
from __future__ import annotations

from sqlmodel import Session, select

from mvc.models import AuditEntry, User


def record(db: Session, actor: User, action: str, subject: str, detail: str = "",
           organisation_id: int | None = None) -> None:
    """Add an audit entry to the session; it is committed with the change it describes."""
    record_as(db, actor.email, actor.id, organisation_id if organisation_id is not None else actor.organisation_id,
              action, subject, detail)


def record_as(db: Session, who: str, user_id: int | None, organisation_id: int | None, action: str, subject: str,
              detail: str = "") -> None:
    """Add an audit entry for any actor: a staff member, an API client or the command line."""
    db.add(AuditEntry(organisation_id=organisation_id, user_id=user_id, user_email=who[:254], action=action[:40],
                      subject=subject[:200], detail=detail[:1000]))


def changes(before: dict, after: dict, secret: tuple[str, ...] = ()) -> str:
    """A short 'field: old → new' text; secret fields only say that they changed."""
    parts = []
    for key, new in after.items():
        old = before.get(key)
        if old != new:
            parts.append(f"{key} changed" if key in secret else f"{key}: {old!r} → {new!r}")
    return "; ".join(parts)


def entries(db: Session, organisation_id: int, limit: int = 200) -> list[AuditEntry]:
    """The organisation's newest audit entries first."""
    query = select(AuditEntry).where(AuditEntry.organisation_id == organisation_id)
    return list(db.exec(query.order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc()).limit(limit)))
