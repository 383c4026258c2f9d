"""Bill-to parties and employer groups: look-ups behind every party picker."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Never

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core import locking
from core.db import get_record, guarded
from core.errors import NotFoundError
from core.inputs import UNSET, Unset, given, search_text
from core.models import Group, Party
from core.roles import ADMIN, Actor
from core.validation import PartyFields, group_name, require_flag


def _contains(text: str) -> str:
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@guarded
def search_parties(session: Session, *, text: str = "", limit: int = 20,
                   include_inactive: bool = False) -> list[Party]:
    """Parties whose account code or name contains the text, any case, by name."""
    q = select(Party).order_by(col(Party.name), col(Party.account_code)).limit(limit)
    text = search_text(text)
    if text:
        pattern = _contains(text)
        q = q.where(sa.or_(sa.func.lower(col(Party.name)).like(pattern, escape="\\"),
                           sa.func.lower(col(Party.account_code)).like(pattern, escape="\\")))
    if not include_inactive:
        q = q.where(col(Party.active) == sa.true())
    return list(session.exec(q))


@guarded
def search_groups(session: Session, *, text: str = "", limit: int = 20,
                  include_inactive: bool = False) -> list[Group]:
    q = select(Group).order_by(col(Group.name)).limit(limit)
    if not include_inactive:
        q = q.where(col(Group.active) == sa.true())
    text = search_text(text)
    if text:
        q = q.where(sa.func.lower(col(Group.name)).like(_contains(text), escape="\\"))
    return list(session.exec(q))


@guarded
def get_party(session: Session, party_id: int) -> Party:
    party = get_record(session, Party, party_id)
    if party is None:
        raise NotFoundError(f"There is no bill-to party with id {party_id!r}.")
    return party


def get_group(session: Session, group_id: int) -> Group:
    group = get_record(session, Group, group_id)
    if group is None:
        raise NotFoundError(f"There is no employer group with id {group_id!r}.")
    return group


PARTY_FIELDS = ("name", "kind", "group_id", "billable", "active", "contact_name", "email", "email_cc",
                "address_line1", "address_line2", "city", "state", "postal_code")


def _check_party_values(session: Session, values: dict, unknown: Mapping[str, object]) -> dict:
    """The party's rules (core.validation.PartyFields, the same the CSV import uses), then the group exists."""
    clean = PartyFields.require({**values, **unknown})
    if clean.get("group_id") is not None:
        get_group(session, clean["group_id"])
    return clean


@guarded
def create_party(session: Session, *, account_code: str, name: str, actor: str | Actor,
                 kind: str | Unset = UNSET, group_id: int | None | Unset = UNSET, billable: bool | Unset = UNSET,
                 active: bool | Unset = UNSET, contact_name: str | Unset = UNSET, email: str | Unset = UNSET,
                 email_cc: str | Unset = UNSET, address_line1: str | Unset = UNSET,
                 address_line2: str | Unset = UNSET, city: str | Unset = UNSET, state: str | Unset = UNSET,
                 postal_code: str | Unset = UNSET, **unknown: Never) -> Party:
    from core import audit
    from core.errors import InvoiceDeskError

    actor = audit.require_actor(actor, ADMIN)
    fields = given(kind=kind, group_id=group_id, billable=billable, active=active, contact_name=contact_name,
                   email=email, email_cc=email_cc, address_line1=address_line1, address_line2=address_line2, city=city, state=state,
                   postal_code=postal_code)
    values = _check_party_values(session, {"account_code": account_code, "name": name, **fields}, unknown)
    if session.execute(sa.select(col(Party.id)).where(col(Party.account_code) == values["account_code"])).first():
        raise InvoiceDeskError(f"Account code {values['account_code']} is already in use.")
    party = Party(**values)
    session.add(party)
    session.flush()
    audit.record(session, actor=actor, action="party.create", entity="party", ids=[party.id],
                 detail={"account_code": party.account_code, "name": party.name})
    return party


@guarded
def update_party(session: Session, *, party_id: int, actor: str | Actor, account_code: str | Unset = UNSET,
                 name: str | Unset = UNSET, kind: str | Unset = UNSET, group_id: int | None | Unset = UNSET,
                 billable: bool | Unset = UNSET, active: bool | Unset = UNSET, contact_name: str | Unset = UNSET,
                 email: str | Unset = UNSET, email_cc: str | Unset = UNSET, address_line1: str | Unset = UNSET,
                 address_line2: str | Unset = UNSET, city: str | Unset = UNSET, state: str | Unset = UNSET,
                 postal_code: str | Unset = UNSET, **unknown: Never) -> Party:
    """Change the details given; deactivate with active=False (it then leaves the look-ups)."""
    from core import audit

    actor = audit.require_actor(actor, ADMIN)
    fields = given(account_code=account_code, name=name, kind=kind, group_id=group_id, billable=billable,
                   active=active, contact_name=contact_name, email=email, email_cc=email_cc,
                   address_line1=address_line1,
                   address_line2=address_line2, city=city, state=state, postal_code=postal_code)
    party = get_party(session, party_id)
    values = _check_party_values(session, fields, unknown)
    # A party's address and billable flag decide what a batch may invoice: take the party's lock first.
    locking.lock_parties(session, [party.id])
    session.refresh(party)
    if "account_code" in values and session.execute(sa.select(col(Party.id)).where(
            col(Party.account_code) == values["account_code"], col(Party.id) != party.id)).first():
        from core.errors import InvoiceDeskError

        raise InvoiceDeskError(f"Account code {values['account_code']} is already in use.")
    changed = {k: [getattr(party, k), v] for k, v in values.items() if getattr(party, k) != v}
    for key, (_, new) in changed.items():
        setattr(party, key, new)
    session.add(party)
    session.flush()
    if "group_id" in changed:  # the audit log names groups, not their ids
        names = dict(session.execute(sa.select(col(Group.id), col(Group.name))
                                     .where(col(Group.id).in_([g for g in changed["group_id"] if g]))).all())
        changed["group"] = [names.get(g) for g in changed.pop("group_id")]
    if changed:
        audit.record(session, actor=actor, action="party.update", entity="party", ids=[party.id], detail=changed)
    return party


@guarded
def create_group(session: Session, *, name: str, actor: str | Actor) -> Group:
    from core import audit
    from core.errors import InvoiceDeskError

    actor = audit.require_actor(actor, ADMIN)
    name = group_name(name)
    if session.execute(sa.select(col(Group.id)).where(sa.func.lower(col(Group.name)) == name.lower())).first():
        raise InvoiceDeskError(f"There is already a group called {name}.")
    group = Group(name=name)
    session.add(group)
    session.flush()
    audit.record(session, actor=actor, action="group.create", entity="party_group", ids=[group.id],
                 detail={"name": name})
    return group


@guarded
def party_count(session: Session) -> int:
    return session.execute(sa.select(sa.func.count()).select_from(Party)).scalar_one()


@guarded
def update_group(session: Session, *, group_id: int, actor: str | Actor, name: str | None = None,
                 active: bool | None = None) -> Group:
    """Rename a group or deactivate it (it then leaves the look-ups; its parties keep their history)."""
    from core import audit
    from core.errors import InvoiceDeskError

    actor = audit.require_actor(actor, ADMIN)
    group = get_group(session, group_id)
    if active is not None:
        active = require_flag(active, "active")
    changed: dict[str, list[object]] = {}
    if name is not None:
        name = group_name(name)
        clash = session.execute(sa.select(col(Group.id)).where(sa.func.lower(col(Group.name)) == name.lower(),
                                                          col(Group.id) != group.id)).first()
        if clash:
            raise InvoiceDeskError(f"There is already a group called {name}.")
        if name != group.name:
            changed["name"] = [group.name, name]
            group.name = name
    if active is not None and active != group.active:
        changed["active"] = [group.active, active]
        group.active = active
    session.add(group)
    session.flush()
    if changed:
        audit.record(session, actor=actor, action="group.update", entity="party_group", ids=[group.id],
                     detail=changed)
    return group
