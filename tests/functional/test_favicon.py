"""Every page links a favicon in the organisation's colour; /favicon.ico answers too."""
from __future__ import annotations

import re


def test_pages_link_a_favicon_in_the_theme_colour(client, demo_room):
    page = client.get("/m/demo").get_data(as_text=True)
    href = re.search(r'<link rel="icon" type="image/svg\+xml" href="([^"]+)"', page).group(1)
    icon = client.get(href)
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    with client.application.app_context():
        from mvc import db, rooms

        theme = rooms.theme_for(db.session(), rooms.resolve(db.session(), "demo").theme_id)
        assert theme.primary_color in icon.get_data(as_text=True)


def test_favicon_ico_is_the_neutral_default(client):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    assert icon.get_data(as_text=True).startswith("<svg")
