"""Idempotent user actions: a form submission carries a request key, and the same key twice acts once.

Like Stripe's idempotency keys: the first call with a key records what it made in the same transaction as
the action; a second call with that key (a double click, a resubmitted page, a retry after a time-out)
returns the first result instead of acting again. The check runs after the action's party locks, so a
second submission that waited on the first sees the first's record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from core.errors import InvoiceDeskError
from core.models import RequestKey

MAX_KEY = 120


def check_key(request_key: str | None) -> str | None:
    """The key as stored, or None; refuses what cannot be a key before anything is read or written."""
    if request_key is None:
        return None
    if not isinstance(request_key, str) or not request_key.strip():
        raise InvoiceDeskError("A request key must be a non-empty text (a form's submission id).")
    if len(request_key) > MAX_KEY or "\x00" in request_key:
        raise InvoiceDeskError(f"A request key is at most {MAX_KEY} characters of text.")
    return request_key


def digest(params: Mapping[str, object]) -> str:
    """A fingerprint of what was asked, so a key reused for a different request is refused, not replayed."""
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()


def replay(session: Session, request_key: str | None, action: str, params: Mapping[str, object]) -> list[int] | None:
    """The record ids the first call with this key made, or None when the key is new (or absent).

    The same key with another action or other values is refused: it is a different request, not a repeat.
    """
    if request_key is None:
        return None
    t = RequestKey.__table__
    row = session.execute(sa.select(t.c.action, t.c.record_ids, t.c.digest).where(t.c.key == request_key)).first()
    if row is None:
        return None
    if row.action != action:
        raise InvoiceDeskError(f"This submission was already used for another action ({row.action}); "
                               "reload the page and try again.")
    if row.digest != digest(params):
        raise InvoiceDeskError("This submission was already used with other values; nothing was changed. "
                               "Reload the page and enter it again.")
    return [int(x) for x in row.record_ids.split(",") if x]


def remember(session: Session, request_key: str | None, action: str, record_ids: Sequence[int],
             params: Mapping[str, object], *, actor: str, at: datetime) -> None:
    """Record what this key made, and what it was asked, in the action's own transaction."""
    if request_key is None:
        return
    session.execute(sa.insert(RequestKey.__table__).values(
        key=request_key, action=action, record_ids=",".join(str(i) for i in record_ids), digest=digest(params),
        actor=actor, created_at=at))
