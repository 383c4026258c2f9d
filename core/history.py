"""Invoice history: one row per batch item, with money and status live as of now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session, col

from core import clock
from core.db import guarded
from core.errors import InvoiceDeskError
from core.inputs import search_text
from core.invoices import totals_from_cents
from core.mail import last_delivery
from core.models import Batch, BatchItem, Invoice, Party
from core.money import from_cents

STATUSES = ("open", "paid", "all")
# A trigram index answers a contains-search only for three characters or more.
_TRIGRAM = 3
_fts = sa.table("batch_item_fts", sa.column("rowid", sa.Integer), sa.column("invoice_number", sa.String))


@dataclass(frozen=True)
class HistoryRow:
    batch_item_id: int
    invoice_id: int
    invoice_number: str
    base_number: str
    times_batched: int
    party_id: int
    party_name: str
    batch_id: int
    batch_number: int
    batch_kind: str
    sent_on: date
    due_on: date
    encounter_count: int
    billed: Decimal
    payments: Decimal
    credits: Decimal
    balance_due: Decimal
    status: str
    flags: tuple[str, ...]
    balance_when_sent: Decimal
    writeoffs: Decimal = Decimal("0.00")
    delivery: str = ""  # the last e-mail of this sending: sent, failed, queued, no address; "" if never e-mailed


def _number_contains(session: Session, text: str) -> sa.ColumnElement[bool]:
    text = text.strip()
    plain = not any(c in text for c in "%_\\\"")
    if session.get_bind().dialect.name == "sqlite" and plain and len(text) >= _TRIGRAM:
        return col(BatchItem.id).in_(sa.select(_fts.c.rowid).where(_fts.c.invoice_number.like(f"%{text}%")))
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    # PostgreSQL's pg_trgm GIN index serves ILIKE; SQLite's LIKE is already case-blind for ASCII.
    return col(BatchItem.invoice_number).ilike(f"%{escaped}%", escape="\\")


def _filters(session: Session, party_id, status, number_contains) -> list[sa.ColumnElement[bool]]:
    status = (status or "open").lower()
    if status not in STATUSES:
        raise InvoiceDeskError(f"Status must be Open, Paid or All, not '{status}'.")
    where = []
    if party_id is not None:
        where.append(col(BatchItem.party_id) == party_id)
    if status != "all":
        where.append(col(Invoice.paid) == (status == "paid"))
    number_contains = search_text(number_contains, "The invoice number filter")
    if number_contains:
        where.append(_number_contains(session, number_contains))
    return where


@guarded
def invoice_history(session: Session, *, party_id: int | None = None, status: str = "open",
                    number_contains: str | None = None, limit: int = 100, offset: int = 0) -> list[HistoryRow]:
    """Batch items newest first; filters: party, status (open, paid, all), number contains (any case)."""
    q: sa.Select = (sa.select(col(BatchItem.id), col(BatchItem.invoice_id), col(BatchItem.invoice_number), col(BatchItem.times_batched),
                   col(BatchItem.party_id), col(BatchItem.sent_on), col(BatchItem.balance_cents).label("sent_balance"),
                   col(BatchItem.batch_id), col(Invoice.number), col(Invoice.due_on), col(Invoice.encounter_count), col(Invoice.billed_cents),
                   col(Invoice.payments_cents), col(Invoice.credits_cents), col(Invoice.writeoffs_cents), col(Batch.number).label("batch_number"), col(Batch.kind),
                   col(Party.name), last_delivery(col(BatchItem.id)).label("delivery"))
         .select_from(BatchItem)
         .join(Invoice, col(Invoice.id) == col(BatchItem.invoice_id))
         .join(Batch, col(Batch.id) == col(BatchItem.batch_id))
         .join(Party, col(Party.id) == col(BatchItem.party_id))
         .where(*_filters(session, party_id, status, number_contains))
         .order_by(col(BatchItem.id).desc()).limit(max(0, int(limit))).offset(max(0, int(offset))))
    rows = []
    today = clock.today(session)
    for r in session.execute(q):
        totals = totals_from_cents(r.billed_cents, r.payments_cents, r.credits_cents, r.due_on, today,
                                   r.writeoffs_cents)
        rows.append(HistoryRow(
            batch_item_id=r.id, invoice_id=r.invoice_id, invoice_number=r.invoice_number, base_number=r.number,
            times_batched=r.times_batched, party_id=r.party_id, party_name=r.name, batch_id=r.batch_id,
            batch_number=r.batch_number, batch_kind=r.kind, sent_on=r.sent_on, due_on=r.due_on,
            encounter_count=r.encounter_count, billed=totals.billed, payments=totals.payments,
            credits=totals.credits, balance_due=totals.balance_due, status=totals.status,
            flags=tuple(totals.flags), balance_when_sent=from_cents(r.sent_balance), writeoffs=totals.writeoffs,
            delivery=r.delivery or ""))
    return rows


@guarded
def invoice_history_count(session: Session, *, party_id: int | None = None, status: str = "open",
                          number_contains: str | None = None) -> int:
    q = (sa.select(sa.func.count()).select_from(BatchItem).join(Invoice, col(Invoice.id) == col(BatchItem.invoice_id))
         .where(*_filters(session, party_id, status, number_contains)))
    return session.execute(q).scalar_one()
