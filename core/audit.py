"""The append-only audit log: every batch, receipt, allocation, void, credit memo, import and setting."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Session, col

from core import clock
from core.db import guarded
from core.errors import InvoiceDeskError
from core.models import AuditRecord


def record(session: Session, *, actor: str, action: str, entity: str, ids: Iterable[int] = (),
           detail: dict | None = None, at: datetime | None = None) -> None:
    """Write one audit record in the caller's transaction."""
    session.execute(sa.insert(AuditRecord.__table__).values(
        at=at or clock.now(), actor=actor, action=action, entity=entity,
        record_ids=",".join(str(i) for i in ids),
        detail=json.dumps(detail or {}, default=str, sort_keys=True),
    ))


def require_actor(actor: str) -> str:
    actor = (actor or "").strip()
    if not actor:
        raise InvoiceDeskError("Who is doing this? An actor (the manager's name or sign-in) is required.")
    return actor[:120]


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    record_ids: str
    detail: dict


@guarded
def audit_log(session: Session, *, actor: str | None = None, action: str | None = None,
              since: date | None = None, until: date | None = None, limit: int = 200,
              offset: int = 0) -> list[AuditEntry]:
    """Audit records newest first, filtered by who, what and when (dates inclusive)."""
    t = AuditRecord.__table__
    q = sa.select(t).order_by(t.c.id.desc()).limit(limit).offset(offset)
    if actor:
        q = q.where(t.c.actor == actor)
    if action:
        q = q.where(t.c.action == action)
    if since:
        q = q.where(t.c.at >= clock.day_start(since, session))
    if until:
        q = q.where(t.c.at < clock.day_after_start(until, session))
    return [AuditEntry(id=r.id, at=r.at, actor=r.actor, action=r.action, entity=r.entity,
                       record_ids=r.record_ids, detail=json.loads(r.detail or "{}"))
            for r in session.execute(q)]


@guarded
def audit_actors(session: Session) -> list[str]:
    return list(session.execute(sa.select(col(AuditRecord.actor)).distinct().order_by(col(AuditRecord.actor))).scalars())


@guarded
def audit_actions(session: Session) -> list[str]:
    return list(session.execute(sa.select(col(AuditRecord.action)).distinct().order_by(col(AuditRecord.action))).scalars())
