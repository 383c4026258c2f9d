"""Bill-to parties and employer groups: look-ups behind every party picker."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, select

from core.errors import NotFoundError
from core.models import Group, Party


def _contains(text: str) -> str:
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_parties(session: Session, *, text: str = "", limit: int = 20,
                   include_inactive: bool = False) -> list[Party]:
    """Parties whose account code or name contains the text, any case, by name."""
    q = select(Party).order_by(Party.name, Party.account_code).limit(limit)
    if text.strip():
        pattern = _contains(text)
        q = q.where(sa.or_(sa.func.lower(Party.name).like(pattern, escape="\\"),
                           sa.func.lower(Party.account_code).like(pattern, escape="\\")))
    if not include_inactive:
        q = q.where(Party.active == sa.true())
    return list(session.exec(q))


def search_groups(session: Session, *, text: str = "", limit: int = 20) -> list[Group]:
    q = select(Group).order_by(Group.name).limit(limit)
    if text.strip():
        q = q.where(sa.func.lower(Group.name).like(_contains(text), escape="\\"))
    return list(session.exec(q))


def get_party(session: Session, party_id: int) -> Party:
    party = session.get(Party, party_id) if isinstance(party_id, int) and not isinstance(party_id, bool) else None
    if party is None:
        raise NotFoundError(f"There is no bill-to party with id {party_id!r}.")
    return party


def get_group(session: Session, group_id: int) -> Group:
    group = session.get(Group, group_id) if isinstance(group_id, int) and not isinstance(group_id, bool) else None
    if group is None:
        raise NotFoundError(f"There is no employer group with id {group_id!r}.")
    return group
