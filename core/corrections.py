"""Corrections a billing office makes after sending: write-offs, refunds and un-applying one allocation.

Like voids and credit memos, they stay possible with invoice billing switched off (they correct what was sent).
Each goes through the ledger's one owner (core.allocations) after the party's lock (core.locking), is audited,
and takes a request key like every writer. Amount adjustments are credit memo lines (core.credit_memos).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session

from core import allocations as ledger
from core import audit, clock, locking, requests
from core.db import get_record, guarded
from core.errors import InvoiceDeskError, NotFoundError
from core.models import (
    Allocation,
    CreditMemo,
    Invoice,
    Party,
    Receipt,
    ReceiptMethod,
    Refund,
    WriteOff,
    WriteOffReason,
)
from core.money import MoneyInput, format_money, from_cents, parse_money, to_cents
from core.numbering import credit_memo_number, next_numbers, receipt_number, refund_number, write_off_number
from core.roles import Actor
from core.settings import current_profile
from core.validation import free_text

DEFAULT_WRITE_OFF_CONFIRM = Decimal("50.00")


def _reason(value: object) -> WriteOffReason:
    text = str(value or "").strip().lower()
    for reason in WriteOffReason:
        if text == reason.value:
            return reason
    raise InvoiceDeskError(f"The write-off reason '{free_text(value, 'reason', 40)}' is not one of "
                           f"{', '.join(WriteOffReason)}.")


def _method(value: object) -> str:
    for method in ReceiptMethod:
        if str(value or "").strip().lower() == method.lower():
            return method.value
    raise InvoiceDeskError(f"Method '{free_text(value, 'method', 40)}' is not one of {', '.join(ReceiptMethod)}.")


@guarded
def write_off_needs_confirmation(session: Session, *, amount: MoneyInput) -> bool:
    """True when a write-off of this amount is above the profile's threshold, so a page asks a second time."""
    profile = current_profile(session)
    limit = profile.write_off_confirm_cents if profile is not None else to_cents(DEFAULT_WRITE_OFF_CONFIRM)
    return to_cents(parse_money(amount, field="The amount to write off")) > limit


@guarded
def write_off(session: Session, *, invoice_id: int, amount: MoneyInput, reason: str, note: str = "", actor: str | Actor,
              as_of: datetime | None = None, request_key: str | None = None) -> WriteOff:
    """Close some or all of an open invoice's balance without payment (a short-pay, a small balance, bad debt)."""
    actor = audit.require_actor(actor)
    key = requests.check_key(request_key)
    cents = to_cents(parse_money(amount, field="The amount to write off"))
    why = _reason(reason)
    note = free_text(note, "note", 1000)
    if why == WriteOffReason.OTHER and not note:
        raise InvoiceDeskError("Say what the write-off is for when the reason is 'other'.")
    found = get_record(session, Invoice, invoice_id)
    if found is None:
        raise NotFoundError(f"There is no invoice with id {invoice_id!r}.")
    locking.lock_parties(session, [found.party_id])
    asked = {"invoice": found.id, "cents": cents, "reason": str(why), "note": note}
    done = requests.replay(session, key, "write_off.create", asked)
    if done is not None:
        return session.get_one(WriteOff, done[0])
    row = ledger.lock_invoices(session, [found.id])[found.id]
    if row.balance_cents == 0:
        raise InvoiceDeskError(f"Invoice {row.number} is already paid; there is nothing to write off.")
    if cents > row.balance_cents:
        raise InvoiceDeskError(f"{format_money(from_cents(cents))} is more than invoice {row.number}'s balance of "
                               f"{format_money(from_cents(row.balance_cents))}.")
    at = as_of or clock.now()
    (number,) = next_numbers(session, "write_off")
    wo = WriteOff(number=number, invoice_id=row.id, party_id=row.party_id, amount_cents=cents, reason=why, note=note,
                  written_on=clock.day_of(at, session), created_by=actor, created_at=at)
    session.add(wo)
    session.flush()
    ledger.apply(session, source=wo, allocations={row.id: cents}, actor=actor, at=at, checked=True)
    requests.remember(session, key, "write_off.create", [wo.id], asked, actor=actor, at=at)
    audit.record(session, actor=actor, action="write_off.create", entity="write_off", ids=[wo.id], at=at,
                 detail={"number": write_off_number(number), "invoice": row.number, "amount": str(from_cents(cents)),
                         "reason": str(why), "note": note,
                         "balance_after": str(from_cents(row.balance_cents - cents))})
    return wo


@guarded
def refund(session: Session, *, receipt_id: int | None = None, credit_memo_id: int | None = None,
           amount: MoneyInput, method: str, reference: str = "", actor: str | Actor, as_of: datetime | None = None,
           request_key: str | None = None) -> Refund:
    """Pay back to the party money of a receipt or a credit memo that is not applied to any invoice."""
    actor = audit.require_actor(actor)
    key = requests.check_key(request_key)
    if (receipt_id is None) == (credit_memo_id is None):
        raise InvoiceDeskError("Choose the receipt or the credit memo to refund from (one of them)."
                               if receipt_id is None else "Refund from a receipt or from a credit memo, not both.")
    cents = to_cents(parse_money(amount, field="The amount to refund"))
    method = _method(method)
    reference = free_text(reference, "reference", 120)
    model, source_id, what = ((Receipt, receipt_id, "receipt") if receipt_id is not None
                              else (CreditMemo, credit_memo_id, "credit memo"))
    source = ledger.locked_source(session, model, source_id, what)
    asked = {"source": what, "id": source.id, "cents": cents, "method": method, "reference": reference}
    done = requests.replay(session, key, "refund.create", asked)
    if done is not None:
        return session.get_one(Refund, done[0])
    name = receipt_number(source.number) if isinstance(source, Receipt) else credit_memo_number(source.number)
    if isinstance(source, Receipt) and source.voided:
        raise InvoiceDeskError(f"Receipt {name} is voided; there is nothing to refund.")
    left = to_cents(source.unapplied)
    if left == 0:
        raise InvoiceDeskError(f"{name} has no unapplied money to refund.")
    if cents > left:
        raise InvoiceDeskError(f"{format_money(from_cents(cents))} is more than the {format_money(from_cents(left))} "
                               f"unapplied on {name}.")
    at = as_of or clock.now()
    (number,) = next_numbers(session, "refund")
    rf = Refund(number=number, party_id=source.party_id, receipt_id=receipt_id and source.id,
                credit_memo_id=credit_memo_id and source.id, amount_cents=cents, method=method, reference=reference,
                refunded_on=clock.day_of(at, session), created_by=actor, created_at=at)
    session.add(rf)
    session.flush()
    ledger.recompute(session, receipt_ids=[source.id] if receipt_id is not None else (),
                     credit_memo_ids=[source.id] if credit_memo_id is not None else ())
    requests.remember(session, key, "refund.create", [rf.id], asked, actor=actor, at=at)
    audit.record(session, actor=actor, action="refund.create", entity="refund", ids=[rf.id], at=at,
                 detail={"number": refund_number(number), "from": name, "amount": str(from_cents(cents)),
                         "method": method, "reference": reference,
                         "unapplied_after": str(from_cents(left - cents))})
    return rf


@guarded
def unapply_allocation(session: Session, *, allocation_id: int, reason: str, actor: str | Actor,
                       as_of: datetime | None = None, request_key: str | None = None) -> None:
    """Reverse one allocation of a receipt or a credit memo; its money returns to unapplied, the receipt stays."""
    actor = audit.require_actor(actor)
    key = requests.check_key(request_key)
    reason = free_text(reason, "reason", 500)
    if not reason:
        raise InvoiceDeskError("A reason is required to un-apply money (for example: applied to the wrong invoice).")
    found = get_record(session, Allocation, allocation_id)
    if found is None:
        raise NotFoundError(f"There is no allocation with id {allocation_id!r}.")
    invoice = session.get_one(Invoice, found.invoice_id)
    locking.lock_parties(session, [invoice.party_id])
    asked = {"allocation": found.id, "reason": reason}
    if requests.replay(session, key, "allocation.unapply", asked) is not None:
        return
    a = Allocation.__table__
    row = session.execute(sa.select(a).where(a.c.id == found.id)).one()
    name, source = _source_name(session, row)
    if row.write_off_id is not None:
        raise InvoiceDeskError(f"{name} is a write-off, not a payment or a credit; it cannot be un-applied.")
    if not row.live:
        raise InvoiceDeskError(f"{format_money(from_cents(row.amount_cents))} of {name} on invoice {invoice.number} "
                               f"was already taken back on {row.reversed_on or clock.day_of(row.reversed_at, session)}"
                               f"{': ' + row.reverse_reason if row.reverse_reason else ''}.")
    at = as_of or clock.now()
    ledger.reverse_one(session, allocation_id=row.id, reason=reason, actor=actor, at=at)
    if source is not None:
        session.refresh(source)
    requests.remember(session, key, "allocation.unapply", [row.id], asked, actor=actor, at=at)
    audit.record(session, actor=actor, action="allocation.unapply", entity="receipt" if row.receipt_id else "credit_memo",
                 ids=[row.receipt_id or row.credit_memo_id], at=at,
                 detail={"number": name, "invoice": invoice.number, "amount": str(from_cents(row.amount_cents)),
                         "reason": reason})


def _source_name(session: Session, row) -> tuple[str, Receipt | CreditMemo | None]:
    if row.receipt_id is not None:
        receipt = session.get_one(Receipt, row.receipt_id)
        return receipt_number(receipt.number), receipt
    if row.credit_memo_id is not None:
        memo = session.get_one(CreditMemo, row.credit_memo_id)
        return credit_memo_number(memo.number), memo
    return write_off_number(session.get_one(WriteOff, row.write_off_id).number), None


# ---------- reading ----------

@dataclass(frozen=True)
class AllocationRow:
    allocation_id: int
    source: str          # "RCT-000012", "CM-000003" or "WO-000001"
    kind: str            # "payment", "credit" or "write-off"
    invoice_id: int
    invoice_number: str
    amount: Decimal
    applied_on: date | None
    live: bool
    reversed_on: date | None
    reverse_reason: str


@guarded
def list_allocations(session: Session, *, receipt_id: int | None = None, credit_memo_id: int | None = None,
                     invoice_id: int | None = None, party_id: int | None = None,
                     include_reversed: bool = True) -> list[AllocationRow]:
    """Allocations of a receipt, of a credit memo, on an invoice or on a party's invoices, oldest first: what an
    un-apply picks from."""
    a, inv, r, m, w = (Allocation.__table__, Invoice.__table__, Receipt.__table__, CreditMemo.__table__,
                       WriteOff.__table__)
    q = (sa.select(a, inv.c.number.label("invoice_number"), r.c.number.label("receipt_number"),
                   m.c.number.label("memo_number"), w.c.number.label("write_off_number"))
         .join(inv, inv.c.id == a.c.invoice_id).outerjoin(r, r.c.id == a.c.receipt_id)
         .outerjoin(m, m.c.id == a.c.credit_memo_id).outerjoin(w, w.c.id == a.c.write_off_id).order_by(a.c.id))
    if receipt_id is None and credit_memo_id is None and invoice_id is None and party_id is None:
        raise InvoiceDeskError("Choose a receipt, a credit memo, an invoice or a party to list its allocations.")
    for column, value in ((a.c.receipt_id, receipt_id), (a.c.credit_memo_id, credit_memo_id),
                          (a.c.invoice_id, invoice_id), (inv.c.party_id, party_id)):
        if value is not None:
            q = q.where(column == value)
    if not include_reversed:
        q = q.where(a.c.live == sa.true())
    rows = []
    for x in session.execute(q):
        if x.receipt_id is not None:
            source, kind = receipt_number(x.receipt_number), "payment"
        elif x.credit_memo_id is not None:
            source, kind = credit_memo_number(x.memo_number), "credit"
        else:
            source, kind = write_off_number(x.write_off_number), "write-off"
        rows.append(AllocationRow(x.id, source, kind, x.invoice_id, x.invoice_number, from_cents(x.amount_cents),
                                  x.applied_on, x.live, x.reversed_on, x.reverse_reason))
    return rows


@dataclass(frozen=True)
class WriteOffRow:
    write_off_id: int
    number: str
    invoice_id: int
    invoice_number: str
    party_id: int
    party_name: str
    amount: Decimal
    reason: str
    note: str
    written_on: date
    created_by: str


@guarded
def list_write_offs(session: Session, *, party_id: int | None = None, invoice_id: int | None = None,
                    limit: int = 100, offset: int = 0) -> list[WriteOffRow]:
    w, inv, p = WriteOff.__table__, Invoice.__table__, Party.__table__
    q = (sa.select(w, inv.c.number.label("invoice_number"), p.c.name.label("party_name"))
         .join(inv, inv.c.id == w.c.invoice_id).join(p, p.c.id == w.c.party_id)
         .order_by(w.c.id.desc()).limit(limit).offset(offset))
    if party_id is not None:
        q = q.where(w.c.party_id == party_id)
    if invoice_id is not None:
        q = q.where(w.c.invoice_id == invoice_id)
    return [WriteOffRow(x.id, write_off_number(x.number), x.invoice_id, x.invoice_number, x.party_id, x.party_name,
                        from_cents(x.amount_cents), x.reason, x.note, x.written_on, x.created_by)
            for x in session.execute(q)]


@dataclass(frozen=True)
class RefundRow:
    refund_id: int
    number: str
    source: str
    party_id: int
    party_name: str
    amount: Decimal
    method: str
    reference: str
    refunded_on: date
    created_by: str


@guarded
def list_refunds(session: Session, *, party_id: int | None = None, limit: int = 100,
                 offset: int = 0) -> list[RefundRow]:
    f, r, m, p = Refund.__table__, Receipt.__table__, CreditMemo.__table__, Party.__table__
    q = (sa.select(f, r.c.number.label("receipt_number"), m.c.number.label("memo_number"), p.c.name.label("party_name"))
         .outerjoin(r, r.c.id == f.c.receipt_id).outerjoin(m, m.c.id == f.c.credit_memo_id)
         .join(p, p.c.id == f.c.party_id).order_by(f.c.id.desc()).limit(limit).offset(offset))
    if party_id is not None:
        q = q.where(f.c.party_id == party_id)
    return [RefundRow(x.id, refund_number(x.number),
                      receipt_number(x.receipt_number) if x.receipt_id else credit_memo_number(x.memo_number),
                      x.party_id, x.party_name, from_cents(x.amount_cents), x.method, x.reference, x.refunded_on,
                      x.created_by) for x in session.execute(q)]
