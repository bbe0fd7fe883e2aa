"""Management of queues (organisation admins); the work is in mvc.waitqueue.admin."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from mvc import db
from mvc.auth import current_user, role_required
from mvc.manage import units as org_units
from mvc.manage.access import owned
from mvc.manage.forms import form_page
from mvc.models import Queue
from mvc.waitqueue import admin, bp, service


@bp.get("/manage/queues")
@role_required("org-admin")
def manage_list():
    """The organisation's queues."""
    return render_template("queue/manage_list.html", queues=admin.org_queues(db.session(), current_user().organisation_id))


@bp.route("/manage/queues/new", methods=["GET", "POST"])
@bp.route("/manage/queues/<int:queue_id>", methods=["GET", "POST"])
@role_required("org-admin")
def manage_edit(queue_id: int | None = None):
    """Create or edit a queue."""
    s, user = db.session(), current_user()
    queue = owned(Queue, queue_id) if queue_id else None

    def save(values):
        saved = admin.save(s, user, queue, values)
        return _("The queue %(name)s is saved.", name=saved.name), url_for("queue.manage_edit", queue_id=saved.id)

    return form_page("queue/form.html", admin.queue_values(s, queue) if queue else admin.blank_values(),
                     lambda: admin.check(s, user.organisation_id, request.form, queue_id), save, queue=queue,
                     staff=admin.staff_choices(s, user.organisation_id), days=admin.DAYS,
                     units=org_units.org_units(s, user.organisation_id))


@bp.post("/manage/queues/<int:queue_id>/delete")
@role_required("org-admin")
def manage_delete(queue_id: int):
    """Delete a queue."""
    queue = owned(Queue, queue_id)
    admin.delete(db.session(), current_user(), queue)
    service.forget(queue)
    flash(_("The queue %(name)s is deleted.", name=queue.name))
    return redirect(url_for("queue.manage_list"))
