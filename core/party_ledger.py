"""A party's ledger: every invoice sent, receipt, allocation, credit, write-off, refund and void, by day, with
the running balance the party owes (what it was billed less what it paid, was credited or written off, plus
what was paid back to it). At any day, running balance = open balance - unapplied money (core.reconcile checks
that for every party)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session

from core.dates import to_date
from core.db import guarded
from core.errors import InvoiceDeskError
from core.models import (
    Allocation,
    Batch,
    BatchItem,
    CreditMemo,
    Invoice,
    InvoiceLine,
    Receipt,
    Refund,
    WriteOff,
)
from core.money import from_cents
from core.numbering import credit_memo_number, receipt_number, refund_number, write_off_number
from core.parties import get_party

# Within a day: what was billed first, then money in and corrections, then what was taken back.
_ORDER = ("balance forward", "invoice", "resent", "receipt", "allocation", "credit memo", "write-off", "refund",
          "void", "un-apply")


@dataclass(frozen=True)
class LedgerRow:
    on: date
    kind: str          # one of _ORDER
    number: str        # the document's number: INV-000010, INV-000010-2, RCT-000004, CM-000002, WO-000001, RF-000001
    amount: Decimal    # + the party owes more, - it owes less; 0 for a row that only moves money between documents
    running_balance: Decimal
    description: str = ""


def _sum_lines(inv: sa.Table) -> sa.ScalarSelect:
    il = InvoiceLine.__table__
    return sa.select(sa.func.coalesce(sa.func.sum(il.c.amount_cents), 0)).where(il.c.invoice_id == inv.c.id).scalar_subquery()


def _entries(session: Session, party_id: int) -> list[tuple[date, str, int, str, int, str]]:
    """(day, kind, id, number, cents, description) for every document of the party."""
    inv, bi, b = Invoice.__table__, BatchItem.__table__, Batch.__table__
    r, m, w, f, a = (Receipt.__table__, CreditMemo.__table__, WriteOff.__table__, Refund.__table__,
                     Allocation.__table__)
    out: list[tuple[date, str, int, str, int, str]] = []
    for x in session.execute(sa.select(bi.c.id, bi.c.invoice_number, bi.c.times_batched, bi.c.sent_on, b.c.number,
                                       inv.c.encounter_count, _sum_lines(inv).label("billed"))
                             .join(b, b.c.id == bi.c.batch_id).join(inv, inv.c.id == bi.c.invoice_id)
                             .where(bi.c.party_id == party_id)):
        if x.times_batched == 1:
            out.append((x.sent_on, "invoice", x.id, x.invoice_number, x.billed,
                        f"batch {x.number}, {x.encounter_count} encounter{'s' if x.encounter_count != 1 else ''}"))
        else:
            out.append((x.sent_on, "resent", x.id, x.invoice_number, 0, f"batch {x.number}"))
    for x in session.execute(sa.select(r).where(r.c.party_id == party_id)):
        ref = f" {x.reference}" if x.reference else ""
        out.append((x.received_date, "receipt", x.id, receipt_number(x.number), -x.amount_cents, f"{x.method}{ref}"))
        if x.voided:
            # What stayed applied or unapplied is taken back; what was refunded before went back to the party already.
            out.append((x.voided_on, "void", x.id, receipt_number(x.number), x.amount_cents - x.refunded_cents,
                        x.void_reason))
    for x in session.execute(sa.select(m, inv.c.number.label("invoice_number")).join(inv, inv.c.id == m.c.invoice_id)
                             .where(m.c.party_id == party_id)):
        out.append((x.issued_on, "credit memo", x.id, credit_memo_number(x.number), -x.amount_cents,
                    f"{x.action}: {x.reason} (on {x.invoice_number})"))
    for x in session.execute(sa.select(w, inv.c.number.label("invoice_number")).join(inv, inv.c.id == w.c.invoice_id)
                             .where(w.c.party_id == party_id)):
        note = f": {x.note}" if x.note else ""
        out.append((x.written_on, "write-off", x.id, write_off_number(x.number), -x.amount_cents,
                    f"{x.reason}{note} (on {x.invoice_number})"))
    for x in session.execute(sa.select(f, r.c.number.label("receipt_number"), m.c.number.label("memo_number"))
                             .outerjoin(r, r.c.id == f.c.receipt_id).outerjoin(m, m.c.id == f.c.credit_memo_id)
                             .where(f.c.party_id == party_id)):
        source = receipt_number(x.receipt_number) if x.receipt_id else credit_memo_number(x.memo_number)
        ref = f" {x.reference}" if x.reference else ""
        out.append((x.refunded_on, "refund", x.id, refund_number(x.number), x.amount_cents,
                    f"from {source}, {x.method}{ref}"))
    for x in session.execute(sa.select(a, inv.c.number.label("invoice_number"), r.c.number.label("receipt_number"),
                                       m.c.number.label("memo_number"))
                             .join(inv, inv.c.id == a.c.invoice_id).outerjoin(r, r.c.id == a.c.receipt_id)
                             .outerjoin(m, m.c.id == a.c.credit_memo_id)
                             .where(inv.c.party_id == party_id, a.c.write_off_id.is_(None))):
        source = receipt_number(x.receipt_number) if x.receipt_id else credit_memo_number(x.memo_number)
        money = f"${from_cents(x.amount_cents):,.2f}"
        out.append((x.applied_on, "allocation", x.id, source, 0, f"{money} to {x.invoice_number}"))
        if x.reverse_reason:
            out.append((x.reversed_on, "un-apply", x.id, source, 0,
                        f"{money} taken back from {x.invoice_number}: {x.reverse_reason}"))
    return out


def _order(entry: tuple[date, str, int, str, int, str]) -> tuple[date, float, int]:
    """By day; within it by kind, a credit memo's allocation right after the memo, a receipt's after the receipt."""
    on, kind, row_id, number, _cents, _description = entry
    rank = float(_ORDER.index(kind))
    if kind == "allocation" and number.startswith("CM-"):
        rank = _ORDER.index("credit memo") + 0.5
    return on, rank, row_id


@guarded
def party_ledger(session: Session, *, party_id: int, date_from: date | None = None,
                 date_to: date | None = None) -> list[LedgerRow]:
    """The party's documents by day with a running balance; from `date_from` the first row carries the balance
    forward, so the running balance is the same whatever range is shown."""
    get_party(session, party_id)
    start, end = to_date(date_from, "From"), to_date(date_to, "To")
    if start and end and start > end:
        raise InvoiceDeskError(f"The ledger's range starts on {start}, after it ends on {end}.")
    entries = sorted(_entries(session, party_id), key=_order)
    rows: list[LedgerRow] = []
    running = 0
    forward: int | None = None
    for on, kind, _id, number, cents, description in entries:
        if start is not None and on < start:
            running += cents
            continue
        if end is not None and on > end:
            break
        if start is not None and forward is None:
            forward = running
            rows.append(LedgerRow(start - timedelta(days=1), "balance forward", "", Decimal("0.00"),
                                  from_cents(running), f"balance before {start}"))
        running += cents
        rows.append(LedgerRow(on, kind, number, from_cents(cents), from_cents(running), description))
    if start is not None and forward is None:
        rows.append(LedgerRow(start - timedelta(days=1), "balance forward", "", Decimal("0.00"), from_cents(running),
                              f"balance before {start}"))
    return rows


def ledger_balances(session: Session, day: date) -> dict[int, int]:
    """Each party's running ledger balance at the end of a day, in cents, set-based (for core.reconcile)."""
    inv, r, m, w, f = (Invoice.__table__, Receipt.__table__, CreditMemo.__table__, WriteOff.__table__,
                       Refund.__table__)
    il = InvoiceLine.__table__
    totals: dict[int, int] = {}
    parts = [
        sa.select(inv.c.party_id, sa.func.sum(il.c.amount_cents)).join(il, il.c.invoice_id == inv.c.id)
        .where(inv.c.first_sent_on <= day).group_by(inv.c.party_id),
        sa.select(r.c.party_id, -sa.func.sum(r.c.amount_cents)).where(r.c.received_date <= day).group_by(r.c.party_id),
        sa.select(r.c.party_id, sa.func.sum(r.c.amount_cents - r.c.refunded_cents))
        .where(r.c.voided == sa.true(), r.c.voided_on <= day).group_by(r.c.party_id),
        sa.select(m.c.party_id, -sa.func.sum(m.c.amount_cents)).where(m.c.issued_on <= day).group_by(m.c.party_id),
        sa.select(w.c.party_id, -sa.func.sum(w.c.amount_cents)).where(w.c.written_on <= day).group_by(w.c.party_id),
        sa.select(f.c.party_id, sa.func.sum(f.c.amount_cents)).where(f.c.refunded_on <= day).group_by(f.c.party_id),
    ]
    for q in parts:
        for party_id, cents in session.execute(q):
            totals[party_id] = totals.get(party_id, 0) + int(cents or 0)
    return totals
