"""Webhook endpoints of API clients and the durable outbox of events waiting to be posted to them."""
from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from mvc.models.base import utcnow

EVENT_TYPES = ("meeting.started", "meeting.ended", "participant.joined", "participant.left",
               "sms.delivered", "sms.failed")


class WebhookEndpoint(SQLModel, table=True):
    """An HTTPS address an API client registered for signed events."""

    __tablename__ = "webhook_endpoint"

    id: int | None = Field(default=None, primary_key=True)
    client_pk: int = Field(foreign_key="api_client.id", index=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    url: str = Field(max_length=500)
    events: str = Field(default="", max_length=200)  # space-separated subset of EVENT_TYPES; empty = all
    # Kept in clear: signing needs the key itself (as Standard Webhooks senders do); shown to the client once.
    secret: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow)
    deleted_at: datetime | None = None

    def wants(self, event_type: str) -> bool:
        """True when the endpoint takes this kind of event."""
        return not self.events or event_type in self.events.split()


class WebhookDelivery(SQLModel, table=True):
    """One event for one endpoint: pending until posted (claimed atomically), then delivered or failed."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (UniqueConstraint("endpoint_id", "dedupe_key", name="uq_webhook_delivery_dedupe"),)

    id: int | None = Field(default=None, primary_key=True)
    endpoint_id: int = Field(foreign_key="webhook_endpoint.id", index=True)
    event_id: str = Field(max_length=40, index=True)  # webhook-id: the same for every attempt
    event_type: str = Field(max_length=40)
    # What makes an event happen once (e.g. one "joined" per participant); repeats are dropped.
    dedupe_key: str | None = Field(default=None, max_length=120)
    payload: str = Field(max_length=8000)  # the JSON body, exactly as signed and sent
    status: str = Field(default="pending", max_length=12, index=True)  # pending | delivered | failed | cancelled
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, index=True)
    claimed_at: datetime | None = None
    claimed_by: str | None = Field(default=None, max_length=40)
    last_status: int | None = None
    last_error: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    delivered_at: datetime | None = None
