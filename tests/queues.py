"""Helpers for queue tests: a queue open at a fixed Wednesday morning."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlmodel import select

from mvc.models import Organisation, Queue, QueueStaff

WEDNESDAY_10 = datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc)  # 10:00 in Copenhagen
SATURDAY_10 = datetime(2026, 12, 5, 9, 0, tzinfo=timezone.utc)
OPEN_HOURS = json.dumps({str(d): ["08:00", "16:00"] for d in range(5)})


def make_queue(db, org: Organisation | None = None, staff=(), **fields) -> Queue:
    """A queue open on weekdays 08-16 (in Demo Kommune unless another organisation is given)."""
    org = org or db.exec(select(Organisation).where(Organisation.slug == "demo-kommune")).one()
    values = {"name": "Lægens videotid", "alias": "videotid", "hours": OPEN_HOURS,
              "intake_question": "Hvad vil du tale om?", **fields}
    queue = Queue(organisation_id=org.id, **values)
    db.add(queue)
    db.commit()
    db.add_all(QueueStaff(queue_id=queue.id, user_id=u.id) for u in staff)
    db.commit()
    return queue
