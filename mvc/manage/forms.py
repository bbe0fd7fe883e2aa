"""Small helpers for hand-checked management forms."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask import flash, redirect, render_template, request

PIN_RE = re.compile(r"^[0-9]{4,12}$")


@dataclass
class Checked:
    """A form's cleaned values and the error message per field (empty when it passed)."""

    values: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


class Refused(Exception):
    """A save refused after the checks passed (e.g. a unique value taken meanwhile); errors per field."""

    def __init__(self, errors: dict) -> None:
        super().__init__(errors)
        self.errors = errors


def text(form, name: str, limit: int) -> str:
    """A form field trimmed and cut one past the limit (so a too-long value is still seen as too long)."""
    return (form.get(name) or "").strip()[: limit + 1]


def flag(form, name: str) -> bool:
    """A checkbox's state."""
    return form.get(name) in {"on", "1", "true", "yes"}


def form_page(template: str, values: dict, check, save, **context):
    """GET shows the form; POST checks it, then saves, says so and redirects, or shows the errors (422, nothing saved).

    check() returns a Checked; save(values) returns (message, url to go to).
    """
    errors: dict = {}
    if request.method == "POST":
        checked = check()
        if checked.ok:
            try:
                message, url = save(checked.values)
            except Refused as exc:
                checked.errors.update(exc.errors)
            else:
                flash(message)
                return redirect(url)
        values, errors = {**values, **checked.values}, checked.errors
    return render_template(template, values=values, errors=errors, **context), 422 if errors else 200
