"""Receipts: money received from a party, posted, allocated to its open invoices, listed and voided."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session

from core import allocations as ledger
from core import audit, clock, locking, requests
from core.dates import DateInput, to_date
from core.db import guarded
from core.errors import InvoiceDeskError
from core.models import Party, Receipt, ReceiptMethod
from core.money import MoneyInput, from_cents, parse_money, to_cents
from core.numbering import next_numbers, receipt_number
from core.parties import get_party
from core.roles import Actor
from core.settings import needs_invoice_billing
from core.validation import free_text


def _method(value: str) -> str:
    for method in ReceiptMethod:
        if str(value).strip().lower() == method.lower():
            return method.value
    raise InvoiceDeskError(f"Method '{value}' is not one of {', '.join(ReceiptMethod)}.")


def _clean(text: str, label: str, limit: int) -> str:
    return free_text(text, label, limit)


@guarded
@needs_invoice_billing("posting invoice payments")
def post_receipt(session: Session, *, party_id: int, amount: MoneyInput, received_date: DateInput, method: str,
                 reference: str = "", allocations: dict[int, MoneyInput] | None = None, note: str = "", actor: str | Actor,
                 post_date: DateInput | None = None, as_of: datetime | None = None,
                 request_key: str | None = None) -> Receipt:
    """Record money received from a party and, optionally, allocate it to its open invoices."""
    actor = audit.require_actor(actor)
    key = requests.check_key(request_key)
    party = get_party(session, party_id)
    cents = to_cents(parse_money(amount, field="The receipt amount"))
    received = to_date(received_date, "Received date", required=True)
    at = as_of or clock.now()
    today = clock.day_of(at, session)
    if received > today:
        raise InvoiceDeskError(f"The received date {received} is in the future; the practice's today is {today}.")
    parsed = ledger.parse(allocations)
    method, posted = _method(method), to_date(post_date, "Post date") or today
    reference, note = _clean(reference, "reference", 120), _clean(note, "note", 2000)
    locking.lock_parties(session, [party.id])
    asked = {"party": party.id, "cents": cents, "received": received, "method": method, "reference": reference,
             "note": note, "allocations": parsed, "posted": posted}
    done = requests.replay(session, key, "receipt.post", asked)
    if done is not None:
        return session.get_one(Receipt, done[0])
    # Every check, the allocations' included, runs before the first write (the receipt number).
    ledger.check(session, party_id=party.id, available=cents, allocations=parsed)
    (number,) = next_numbers(session, "receipt")
    receipt = Receipt(number=number, party_id=party.id, amount_cents=cents, received_date=received,
                      post_date=posted, method=method, reference=reference, note=note,
                      created_by=actor, created_at=at)
    session.add(receipt)
    session.flush()
    # Allocated as it is posted, the money paid those invoices the day it was received.
    ledger.apply(session, source=receipt, allocations=parsed, actor=actor, at=at, checked=True, on=received)
    session.refresh(receipt)
    requests.remember(session, key, "receipt.post", [receipt.id], asked, actor=actor, at=at)
    audit.record(session, actor=actor, action="receipt.post", entity="receipt", ids=[receipt.id], at=at,
                 detail={"number": receipt_number(number), "party": party.account_code, "amount": str(receipt.amount),
                         "allocations": ledger.by_number(session, parsed)})
    return receipt


@guarded
@needs_invoice_billing("posting invoice payments")
def allocate_receipt(session: Session, *, receipt_id: int, allocations: dict[int, MoneyInput], actor: str | Actor,
                     as_of: datetime | None = None, request_key: str | None = None) -> Receipt:
    """Allocate a receipt's unapplied money to open invoices of its party."""
    actor = audit.require_actor(actor)
    key = requests.check_key(request_key)
    parsed = ledger.parse(allocations)
    receipt = ledger.locked_source(session, Receipt, receipt_id, "receipt")
    done = requests.replay(session, key, "receipt.allocate", {"source": receipt.id, "allocations": parsed})
    if done is not None:
        return session.get_one(Receipt, done[0])
    if receipt.voided:
        raise InvoiceDeskError(f"Receipt {receipt_number(receipt.number)} is voided; its money cannot be allocated.")
    return ledger.allocate_unapplied(session, source=receipt, number=receipt_number(receipt.number), entity="receipt",
                               allocations=parsed, actor=actor, as_of=as_of, key=key)


@guarded
def void_receipt(session: Session, *, receipt_id: int, reason: str, actor: str | Actor,
                 as_of: datetime | None = None, request_key: str | None = None) -> Receipt:
    """Void a receipt (a bounced check): every allocation is reversed and the reason kept."""
    actor = audit.require_actor(actor)
    key = requests.check_key(request_key)
    reason = _clean(reason, "reason", 500)
    if not reason:
        raise InvoiceDeskError("A reason is required to void a receipt (for example: check returned NSF).")
    receipt = ledger.locked_source(session, Receipt, receipt_id, "receipt")
    asked = {"receipt": receipt.id, "reason": reason}
    done = requests.replay(session, key, "receipt.void", asked)
    if done is not None:
        return session.get_one(Receipt, done[0])
    if receipt.voided:
        raise InvoiceDeskError(f"Receipt {receipt_number(receipt.number)} was already voided on "
                               f"{receipt.voided_on or clock.day_of(receipt.voided_at, session)}: {receipt.void_reason}")
    at = as_of or clock.now()
    reversed_ = ledger.reverse_receipt(session, receipt_id=receipt.id, at=at, actor=actor)
    # What was refunded out of it went back to the party and stays refunded; only what was applied is reversed.
    receipt.voided, receipt.void_reason, receipt.voided_by, receipt.voided_at = True, reason, actor, at
    receipt.voided_on = clock.day_of(at, session)
    session.add(receipt)
    session.flush()
    session.refresh(receipt)
    requests.remember(session, key, "receipt.void", [receipt.id], asked, actor=actor, at=at)
    audit.record(session, actor=actor, action="receipt.void", entity="receipt", ids=[receipt.id], at=at,
                 detail={"number": receipt_number(receipt.number), "reason": reason,
                         "reversed_invoices": sorted(ledger.by_number(session, {i: 0 for i, _ in reversed_})),
                         "reversed": str(from_cents(sum(c for _, c in reversed_))),
                         "refunded_before": str(receipt.refunded) if receipt.refunded_cents else None})
    return receipt


@dataclass(frozen=True)
class ReceiptRow:
    receipt_id: int
    number: str
    party_id: int
    party_name: str
    amount: Decimal
    applied: Decimal
    unapplied: Decimal
    received_date: date
    method: str
    reference: str
    voided: bool
    void_reason: str
    refunded: Decimal = Decimal("0.00")


@guarded
def list_receipts(session: Session, *, party_id: int | None = None, only_unapplied: bool = False,
                  include_voided: bool = True, limit: int = 100, offset: int = 0) -> list[ReceiptRow]:
    r, p = Receipt.__table__, Party.__table__
    q = (sa.select(r, p.c.name.label("party_name")).join(p, p.c.id == r.c.party_id)
         .order_by(r.c.received_date.desc(), r.c.id.desc()).limit(limit).offset(offset))
    if party_id is not None:
        q = q.where(r.c.party_id == party_id)
    if only_unapplied:
        q = q.where(ledger.unapplied(r) > 0)
    if not include_voided:
        q = q.where(r.c.voided == sa.false())
    return [ReceiptRow(x.id, receipt_number(x.number), x.party_id, x.party_name, from_cents(x.amount_cents),
                       from_cents(0 if x.voided else x.applied_cents),
                       from_cents(0 if x.voided else x.amount_cents - x.applied_cents - x.refunded_cents),
                       x.received_date, x.method, x.reference, x.voided, x.void_reason, from_cents(x.refunded_cents))
            for x in session.execute(q)]
