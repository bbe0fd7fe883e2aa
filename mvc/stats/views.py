"""The admins' statistics page and its CSV export."""
from __future__ import annotations

import csv
import io

from flask import Response, render_template, request

from mvc import db
from mvc.auth import current_user, role_required
from mvc.stats import bp, report


def _organisation_id() -> int | None:
    """The admin's own organisation; a platform admin may pick any with ?org=."""
    user, wanted = current_user(), request.args.get("org", "")
    if user.has_role("platform-admin") and (wanted.isdigit() or user.organisation_id is None):
        return int(wanted) if wanted.isdigit() else next((o.id for o in report.organisations(db.session())), None)
    return user.organisation_id


def _report() -> report.Report:
    return report.build(db.session(), report.Filters.from_args(_organisation_id(), request.args))


@bp.get("/manage/statistics")
@role_required("org-admin")
def statistics():
    """Usage and video quality of the organisation, with date filters, charts and tables."""
    organisations = report.organisations(db.session()) if current_user().has_role("platform-admin") else []
    return render_template("stats/statistics.html", report=_report(), fmt=report.fmt_local, nav="stats",
                           organisations=organisations)


@bp.get("/manage/statistics.csv")
@role_required("org-admin")
def statistics_csv():
    """The same figures as the page, as CSV."""
    rep = _report()
    out = io.StringIO()
    csv.writer(out).writerows(report.csv_rows(rep))
    name = f"statistics-{rep.filters.start.isoformat()}-{rep.filters.end.isoformat()}.csv"
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
