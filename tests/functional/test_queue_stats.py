"""Queue visits for the statistics: served, left and dropped places, waits, and the admins' page and CSV."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

from sqlmodel import select

from mvc.models import QueueVisit
from mvc.models.base import utcnow
from mvc.stats.report import percentile
from mvc.stats.retention import MEETING_MONTHS, RetentionScheduler, months_before
from tests import staff
from tests.conftest import csrf_from
from tests.functional.test_queue import INTAKE, app, citizen, staff_client, take  # noqa: F401 - the app fixture
from tests.functional.test_statistics import Tables
from tests.queues import make_queue
from tests.staff import db_outside_app_context  # noqa: F401 - the db fixture

WAITED = 300  # seconds the first citizen is made to have waited


def _backdate(app, queue, seconds: float) -> None:
    """Make everyone in the queue have joined `seconds` earlier (their page stays recently seen)."""
    store = app.extensions["mvc.live"]

    def shift(doc):
        for entry in doc["entries"]:
            entry["joined_at"] -= seconds

    store.update_doc(f"queue:{queue.id}", shift)


def _visits(db) -> list[QueueVisit]:
    db.expire_all()
    return list(db.exec(select(QueueVisit).order_by(QueueVisit.id)))


def test_served_and_left_places_become_records_without_names_or_intake(app, db):
    doctor_client, doctor = staff_client(app, db, "doctor@demo.example")
    queue = make_queue(db, staff=[doctor])
    karen = citizen(app, "Karen Jensen", intake=INTAKE, assisted=True)
    _backdate(app, queue, WAITED)
    ole = citizen(app, "Ole Hansen", intake=INTAKE)
    waiting = _visits(db)
    assert [(v.outcome, v.ended_at, v.assisted) for v in waiting] == [(None, None, True), (None, None, False)]

    assert "/live" in take(doctor_client, queue).location  # Karen, the first
    ole.post("/q/videotid/leave", data={"csrf_token": csrf_from(ole.get("/q/videotid/wait").get_data(as_text=True))})
    assert "It is your turn now" in karen.get("/q/videotid/status").get_data(as_text=True)
    karen.get("/q/videotid/go")  # going into the call changes nothing more

    served, left = _visits(db)
    assert (served.outcome, served.queue_id, served.organisation_id) == ("served", queue.id, queue.organisation_id)
    assert WAITED <= served.waited_seconds < WAITED + 60 and served.ended_at is not None
    assert left.outcome == "left" and 0 <= left.waited_seconds < 60 and left.ended_at is not None
    for visit in (served, left):
        stored = " ".join(str(value) for value in visit.model_dump().values())
        assert "Karen" not in stored and "Ole" not in stored and INTAKE not in stored
    assert set(QueueVisit.model_fields) == {"id", "organisation_id", "queue_id", "joined_at", "ended_at", "outcome",
                                            "waited_seconds", "assisted"}


def test_a_place_dropped_after_the_grace_period_is_recorded_as_expired(app, db):
    doctor_client, doctor = staff_client(app, db, "doctor@demo.example")
    queue = make_queue(db, staff=[doctor])
    citizen(app, "Karen Jensen")
    app.config["QUEUE_GRACE_SECONDS"] = -1  # every page counts as gone
    assert "Karen Jensen" not in doctor_client.get(f"/queues/{queue.id}/live").get_data(as_text=True)
    (visit,) = _visits(db)
    assert visit.outcome == "expired" and visit.ended_at is not None


def test_deleting_a_queue_closes_the_places_still_waiting(app, db):
    queue = make_queue(db)
    citizen(app, "Karen Jensen")
    admin_client, _a = staff_client(app, db, "boss@demo.example", "host,org-admin")
    resp = admin_client.post(f"/manage/queues/{queue.id}/delete",
                             data={"csrf_token": staff.token(admin_client, f"/manage/queues/{queue.id}")})
    assert resp.status_code == 302
    (visit,) = _visits(db)
    assert visit.outcome == "expired" and visit.ended_at is not None
    rows = Tables(admin_client.get("/manage/statistics").get_data(as_text=True)).tables["queues-table"]
    assert rows[1][:4] == ["Deleted queue", "0", "0", "1"]


def test_a_citizen_joining_while_the_queue_is_deleted_gets_no_place_and_no_open_record(app, db):
    """The join page had loaded the queue; the admin's deletion lands before the join's update."""
    from mvc.waitqueue import service

    queue = make_queue(db)
    queue_id = queue.id
    admin_client, _a = staff_client(app, db, "boss@demo.example", "host,org-admin")
    admin_client.post(f"/manage/queues/{queue_id}/delete",
                      data={"csrf_token": staff.token(admin_client, f"/manage/queues/{queue_id}")})
    with app.test_request_context(f"/q/{queue.alias}"):
        service.join(queue, "Karen Jensen", False, "")
        assert service.current(queue_id).waiting() == []
    (visit,) = _visits(db)
    assert visit.outcome == "expired" and visit.ended_at is not None


def test_the_statistics_page_and_csv_show_each_queues_visits_to_its_own_organisation_only(app, db):
    doctor_client, doctor = staff_client(app, db, "doctor@demo.example")
    queue = make_queue(db, staff=[doctor])
    citizen(app, "Karen Jensen")
    _backdate(app, queue, WAITED)
    ole = citizen(app, "Ole Hansen")
    take(doctor_client, queue)
    ole.post("/q/videotid/leave", data={"csrf_token": csrf_from(ole.get("/q/videotid/wait").get_data(as_text=True))})

    admin_client, _a = staff_client(app, db, "boss@demo.example", "host,org-admin")
    page = admin_client.get("/manage/statistics")
    assert page.status_code == 200
    rows = Tables(page.get_data(as_text=True)).tables["queues-table"]
    assert rows[0][:3] == ["Queue", "Served", "Left the queue"]
    name, served, left, expired, median, p90 = rows[1]
    assert (name, served, left, expired) == (queue.name, "1", "1", "0")
    assert 5.0 <= float(median) < 6.0 and median == p90  # one served citizen, about 5 minutes
    lines = list(csv.reader(io.StringIO(admin_client.get("/manage/statistics.csv").get_data(as_text=True))))
    assert [r for r in lines if r[0] == "queue"] == [["queue", queue.name, "1", "1", "0", median, p90]]

    other = staff.make_org(db, "anden-kommune")
    outsider, _o = staff_client(app, db, "admin@anden.example", "host,org-admin", other)
    html = outsider.get("/manage/statistics").get_data(as_text=True)
    assert "queues-table" not in html and queue.name not in html and "Nobody queued in this period." in html
    assert not [r for r in csv.reader(io.StringIO(outsider.get("/manage/statistics.csv").get_data(as_text=True)))
                if r and r[0] == "queue"]


def test_wait_percentiles():
    assert percentile([], 50) is None
    assert percentile([4.0], 90) == 4.0
    assert percentile([1.0, 2.0, 3.0, 10.0], 50) == 2.5
    assert percentile([float(m) for m in range(1, 11)], 90) == 9.1


def test_queue_visits_are_kept_two_years_like_meeting_records(app, db):
    old, recent = utcnow() - timedelta(days=800), utcnow() - timedelta(days=30)
    db.add_all([QueueVisit(organisation_id=1, queue_id=1, joined_at=old, outcome="served", waited_seconds=60),
                QueueVisit(organisation_id=1, queue_id=1, joined_at=recent, outcome="left", waited_seconds=5)])
    db.commit()
    assert months_before(utcnow(), MEETING_MONTHS) > old
    scheduler = RetentionScheduler(app, interval=3600)
    assert scheduler.run_once(dry_run=True).queue_visits_deleted == 1
    assert len(_visits(db)) == 2  # a dry run changes nothing
    assert scheduler.run_once().queue_visits_deleted == 1
    assert [v.joined_at.date() for v in _visits(db)] == [recent.date()]
    assert scheduler.run_once().queue_visits_deleted == 0
