"""Shared column helpers."""
from datetime import datetime, timezone


def utcnow() -> datetime:
    """Timezone-aware now in UTC (SQLModel stores aware datetimes)."""
    return datetime.now(timezone.utc)
