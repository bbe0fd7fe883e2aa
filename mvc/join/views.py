"""Join page views: small, handing work to mvc.join.service."""
from __future__ import annotations

from flask import redirect, render_template, request, url_for

from mvc import db
from mvc.extensions import limiter
from mvc.join import bp, service
from mvc.meeting import live_ops
from mvc.rooms import ALIAS_RE


@bp.get("/")
def index():
    """Front page: type a meeting address."""
    alias = request.args.get("alias", "").strip().lower()
    if alias:
        if ALIAS_RE.match(alias):
            return redirect(url_for("join.page", alias=alias))
        return render_template("join/index.html", error=True, alias=alias[:60]), 400
    return render_template("join/index.html", error=False, alias="")


@bp.route("/m/<alias>", methods=["GET", "POST"])
@limiter.limit("30/minute", methods=["POST"])
def page(alias: str):
    """Show the join form; on POST check name, PIN and invitation, then go to the meeting."""
    ctx = service.JoinContext.load(db.session(), alias, request.values.get("t", ""))
    if ctx.problem:
        return service.problem_page(ctx)
    if request.method == "POST":
        result = service.join(ctx, request.form)
        if result.ok:
            return redirect(url_for("meeting.live", alias=ctx.target.alias))
        if result.full:
            return live_ops.full_page(ctx.target, ctx.theme)
        headers = {"Retry-After": str(result.retry_after)} if result.retry_after else {}
        return render_template("join/page.html", ctx=ctx, form=request.form, errors=result.errors), result.status, headers
    if service.full_for_everyone(ctx):
        return live_ops.full_page(ctx.target, ctx.theme)
    return render_template("join/page.html", ctx=ctx, form={"name": ctx.invited_name}, errors={})
