"""The append-only audit log: every batch, receipt, allocation, void, credit memo, import and setting."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session, col

from core import clock
from core.db import guarded
from core.inputs import search_text
from core.models import AuditChange, AuditRecord
from core.money import format_money
from core.roles import MANAGER, Actor, permit


def record(session: Session, *, actor: str, action: str, entity: str, ids: Iterable[int] = (),
           detail: dict | None = None, at: datetime | None = None) -> int:
    """Write one audit record in the caller's transaction; returns its id."""
    t = AuditRecord.__table__
    return session.execute(sa.insert(t).values(
        at=at or clock.now(), actor=actor, action=action, entity=entity,
        record_ids=",".join(str(i) for i in ids),
        detail=json.dumps(detail or {}, default=str, sort_keys=True),
    ).returning(t.c.id)).scalar_one()


def record_changes(session: Session, audit_id: int, rows: Iterable[tuple[int, str, int, str, str, dict]]) -> None:
    """Per-row records of an audit record (an import's): (line, entity, record id, key, action, changes)."""
    values = [{"audit_id": audit_id, "line": line, "entity": entity, "record_id": record_id, "record_key": key,
               "action": action, "changes": json.dumps(changes, default=str, sort_keys=True)}
              for line, entity, record_id, key, action, changes in rows]
    if values:
        session.execute(sa.insert(AuditChange.__table__), values)


def require_actor(actor: str | Actor, need: str = MANAGER) -> str:
    """The name to record for a write, or InvoiceDeskError: no actor, or a role that may not (core.roles)."""
    return permit(actor, need)


_MONEY_KEYS = frozenset({"amount", "total", "unapplied", "reversed", "applied", "allocations", "adjustments",
                         "balance_after", "unapplied_after", "refunded_before"})
_FIRST = ("party", "invoice", "target", "before", "after", "amount", "total")
_LABELS = {"reversed_invoices": "Invoices reversed", "source_batch": "Resent from batch", "include_paid":
           "Paid invoices included", "refunded_before": "Refunded before the void", "from": "Refunded from", "reassigned_to": "Reassigned to", "group_id": "Group", "sha256": "File SHA-256"}


def _plain(value, money: bool = False) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or value == "":
        return "none"
    if money and isinstance(value, str):
        try:
            return format_money(Decimal(value))
        except (ArithmeticError, ValueError):
            pass
    if isinstance(value, list):
        return ", ".join(_plain(v, money) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {_plain(v, money)}" for k, v in value.items())
    return f"{value:,}" if isinstance(value, int) else str(value)


def _label(key: str) -> str:
    return _LABELS.get(key, key.replace("_", " ").capitalize())


def describe(action: str, detail: dict) -> str:
    """An audit record's details in a manager's words: labels, numbers and amounts, never raw Python values.

    An update's details are pairs (before, after), shown as "before → after"; empty values are left out.
    """
    parts: list[str] = []
    # The number names the record (AuditEntry.record); the list of fields changed repeats the changes.
    detail = {k: v for k, v in detail.items() if k not in ("number", "version", "changed")}
    for key, value in sorted(detail.items(), key=lambda kv: _FIRST.index(kv[0]) if kv[0] in _FIRST else len(_FIRST)):
        if value in (None, "", [], {}):
            continue
        if key == "changes" and isinstance(value, dict):
            parts.extend(f"{_label(k)}: {_plain(old)} → {_plain(new)}" for k, (old, new) in value.items())
        elif action.endswith(".created") and isinstance(value, list) and len(value) == 2:
            parts.append(f"{_label(key)}: {_plain(value[1])}")  # a record made: its values, no "before"
        elif action.endswith((".update", ".updated")) and isinstance(value, list) and len(value) == 2:
            parts.append(f"{_label(key)}: {_plain(value[0])} → {_plain(value[1])}")
        else:
            parts.append(f"{_label(key)}: {_plain(value, money=key in _MONEY_KEYS)}")
    return "; ".join(parts)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    record_ids: str
    detail: dict

    @property
    def record(self) -> str:
        """Which record, as a manager names it: "receipt RCT-000012", "batch 130", "party ACME01"."""
        what = self.entity.replace("party_group", "group").replace("_", " ")
        number = self.detail.get("number") or self.detail.get("account_code") or self.detail.get("name")
        if number is None and "version" in self.detail:
            number = f"version {self.detail['version']}"
        return f"{what} {number}" if number not in (None, "") and not isinstance(number, list) else what

    @property
    def details(self) -> str:
        """The details in words (see `describe`)."""
        return describe(self.action, self.detail)


@guarded
def audit_log(session: Session, *, actor: str | None = None, action: str | None = None,
              since: date | None = None, until: date | None = None, limit: int = 200,
              offset: int = 0) -> list[AuditEntry]:
    """Audit records newest first, filtered by who, what and when (dates inclusive)."""
    t = AuditRecord.__table__
    q = sa.select(t).order_by(t.c.id.desc()).limit(limit).offset(offset)
    actor, action = search_text(actor, "The actor filter"), search_text(action, "The action filter")
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


@dataclass(frozen=True)
class AuditChangeRow:
    """One row an import created or updated: where it was in the file, which record, and what changed."""

    line: int
    entity: str
    record_id: int
    key: str
    action: str
    changes: dict


@guarded
def audit_changes(session: Session, *, audit_id: int, key: str | None = None, limit: int = 200,
                  offset: int = 0) -> list[AuditChangeRow]:
    """The rows an audit record (an import) created or updated, in file order; `key` picks one code or number."""
    t = AuditChange.__table__
    q = sa.select(t).where(t.c.audit_id == audit_id).order_by(t.c.line, t.c.id).limit(limit).offset(offset)
    if key is not None:
        q = q.where(t.c.record_key == search_text(key, "The key"))
    return [AuditChangeRow(line=r.line, entity=r.entity, record_id=r.record_id, key=r.record_key, action=r.action,
                           changes=json.loads(r.changes or "{}")) for r in session.execute(q)]


@guarded
def audit_change_count(session: Session, *, audit_id: int) -> int:
    t = AuditChange.__table__
    return session.execute(sa.select(sa.func.count()).select_from(t).where(t.c.audit_id == audit_id)).scalar_one()


@guarded
def audit_actors(session: Session) -> list[str]:
    return list(session.execute(sa.select(col(AuditRecord.actor)).distinct().order_by(col(AuditRecord.actor))).scalars())


@guarded
def audit_actions(session: Session) -> list[str]:
    return list(session.execute(sa.select(col(AuditRecord.action)).distinct().order_by(col(AuditRecord.action))).scalars())
