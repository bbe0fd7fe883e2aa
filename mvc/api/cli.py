"""`python -m mvc api-client create --organisation ORG --name NAME --roles ROLE [ROLE ...]`."""
from __future__ import annotations

import argparse

from sqlalchemy import or_
from sqlmodel import Session, select

from mvc.models.api import API_ROLES


def main(argv: list[str]) -> int:
    """Create an API client and print its id and secret (the secret is shown only here)."""
    parser = argparse.ArgumentParser(prog="python -m mvc api-client")
    parser.add_argument("action", choices=["create"])
    parser.add_argument("--organisation", required=True, help="the organisation's name or short name")
    parser.add_argument("--name", required=True, help="what the client is, e.g. the case system's name")
    parser.add_argument("--roles", nargs="+", required=True, choices=API_ROLES)
    args = parser.parse_args(argv)

    from config import settings
    from mvc import db
    from mvc.api import clients
    from mvc.models import Organisation

    cfg = settings.load()
    with Session(db.make_engine(cfg["DATABASE_URL"])) as session:
        org = session.exec(select(Organisation).where(or_(
            Organisation.name == args.organisation, Organisation.slug == args.organisation))).first()
        if org is None:
            parser.error(f"no organisation named {args.organisation!r}")
        client, secret = clients.create(session, org.id, args.name.strip()[:120], args.roles)
        print(f"client_id: {client.client_id}")
        print(f"client_secret: {secret}")
    return 0
