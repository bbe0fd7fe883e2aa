"""Organisation units: an admin groups staff in units, and a queue served by a unit is served by its members."""
from __future__ import annotations

from sqlmodel import select

from mvc.models import AuditEntry, Queue, QueueUnit, Unit, UnitMember
from tests.functional.test_queue import app, citizen, staff_client, status, take  # noqa: F401 - app: the fixture
from tests.queues import make_queue
from tests.staff import db_outside_app_context, login, make_org, make_user, token  # noqa: F401 - the db fixture


def post(client, path: str, data: dict):
    return client.post(path, data={"csrf_token": token(client, path), **data})


def unit_form(client, unit_id: int | None, name: str, members) -> object:
    path = f"/manage/units/{unit_id}" if unit_id else "/manage/units/new"
    return post(client, path, {"name": name, "members": [str(u.id) for u in members]})


def test_members_of_a_unit_serve_its_queue_and_leaving_the_unit_ends_that(app, db):
    boss, _admin = staff_client(app, db, "boss@demo.example", "host,org-admin")
    nurse, nina = staff_client(app, db, "nina@demo.example")
    colleague, _ole = staff_client(app, db, "ole@demo.example")
    assert "There are no units yet." in boss.get("/manage/units").get_data(as_text=True)
    refused = unit_form(boss, None, " ", [nina])
    assert refused.status_code == 422 and "Give the unit a name" in refused.get_data(as_text=True)
    assert unit_form(boss, None, "Lægerne", [nina]).status_code == 302
    unit = db.exec(select(Unit).where(Unit.name == "Lægerne")).one()
    assert unit_form(boss, unit.id, "Lægeteamet", [nina]).status_code == 302  # renamed
    listing = boss.get("/manage/units").get_data(as_text=True)
    assert "Lægeteamet" in listing and "Nina" in listing and "Lægerne" not in listing
    same_name = unit_form(boss, None, "lægeteamet", [])
    assert same_name.status_code == 422 and "already a unit called" in same_name.get_data(as_text=True)

    form = {"name": "Lægens videotid", "alias": "laegetid", "layout": "tiles", "hours_2": "08:00-16:00",
            "units": [str(unit.id)]}
    assert post(boss, "/manage/queues/new", form).status_code == 302
    queue = db.exec(select(Queue).where(Queue.alias == "laegetid")).one()
    assert db.get(QueueUnit, (queue.id, unit.id)) is not None
    karen = citizen(app, "Karen Jensen", "laegetid")

    assert "Lægens videotid" in nurse.get("/queues").get_data(as_text=True)
    resp = take(nurse, queue)
    assert resp.status_code == 302 and "/live" in resp.location  # a unit member takes the next citizen
    assert "It is your turn now" in status(karen, "laegetid")
    assert colleague.get(f"/queues/{queue.id}").status_code == 403  # not in the unit
    assert "Lægens videotid" not in colleague.get("/queues").get_data(as_text=True)

    assert unit_form(boss, unit.id, "Lægeteamet", []).status_code == 302  # Nina leaves the unit
    assert nurse.get(f"/queues/{queue.id}").status_code == 403
    assert "Lægens videotid" not in nurse.get("/queues").get_data(as_text=True)

    assert unit_form(boss, unit.id, "Lægeteamet", [nina]).status_code == 302
    assert nurse.get(f"/queues/{queue.id}").status_code == 200  # back in
    delete = boss.post(f"/manage/units/{unit.id}/delete", data={"csrf_token": token(boss, "/manage/units")})
    assert delete.status_code == 302
    assert db.exec(select(QueueUnit)).all() == [] and db.exec(select(UnitMember)).all() == []
    assert nurse.get(f"/queues/{queue.id}").status_code == 403
    actions = [e.action for e in db.exec(select(AuditEntry).where(AuditEntry.action.startswith("unit.")))]
    assert actions.count("unit.create") == 1 and "unit.delete" in actions


def test_units_and_staff_of_another_organisation_are_refused(app, db):
    boss, _admin = staff_client(app, db, "boss@demo.example", "host,org-admin")
    other = make_org(db, "anden-kommune")
    stranger = make_user(db, "doctor@anden.example", "host", other)
    their_unit = Unit(organisation_id=other.id, name="Deres læger")
    db.add(their_unit)
    db.commit()
    db.add(UnitMember(unit_id=their_unit.id, user_id=stranger.id))
    db.commit()
    queue = make_queue(db)
    csrf = token(boss, "/manage/units")
    assert boss.get(f"/manage/units/{their_unit.id}").status_code == 403
    assert boss.post(f"/manage/units/{their_unit.id}", data={"csrf_token": csrf, "name": "Vores"}).status_code == 403
    assert boss.post(f"/manage/units/{their_unit.id}/delete", data={"csrf_token": csrf}).status_code == 403
    assert "Deres læger" not in boss.get("/manage/units").get_data(as_text=True)
    page = unit_form(boss, None, "Blandet", [stranger])
    assert page.status_code == 422 and "Choose staff of your own organisation." in page.get_data(as_text=True)

    form = {"name": queue.name, "alias": queue.alias, "layout": "tiles", "units": [str(their_unit.id)]}
    page = post(boss, f"/manage/queues/{queue.id}", form)
    assert page.status_code == 422 and "Choose units of your own organisation." in page.get_data(as_text=True)
    assert db.exec(select(QueueUnit)).all() == []
    # Even linked by hand, a unit of another organisation gives its members nothing here.
    db.add(QueueUnit(queue_id=queue.id, unit_id=their_unit.id))
    db.commit()
    client = app.test_client()
    assert login(client, "doctor@anden.example").status_code == 302
    assert client.get(f"/queues/{queue.id}").status_code == 403
    assert client.post(f"/queues/{queue.id}/take", data={"csrf_token": token(client, "/queues")}).status_code == 403
