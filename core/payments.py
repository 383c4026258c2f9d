"""Receipts and allocations: money received, applied to open invoices, unapplied money, voids."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session

from core import allocations as allocations_module
from core import audit, clock, locking, requests
from core.dates import to_date
from core.db import get_record, guarded
from core.errors import InvoiceDeskError, NotFoundError
from core.models import RECEIPT_METHODS, CreditMemo, Invoice, Party, Receipt
from core.money import format_money, from_cents, parse_money, to_cents
from core.numbering import credit_memo_number, next_numbers, receipt_number
from core.parties import get_party
from core.settings import require_invoice_billing

# Subset-sum states kept while looking for an exact match; beyond it the suggestion is oldest first.
_EXACT_MATCH_STATES = 200_000


def _method(value: str) -> str:
    for method in RECEIPT_METHODS:
        if str(value).strip().lower() == method.lower():
            return method
    raise InvoiceDeskError(f"Method '{value}' is not one of {', '.join(RECEIPT_METHODS)}.")


def _clean(text: str, label: str, limit: int) -> str:
    text = (text or "").strip()
    if len(text) > limit:
        raise InvoiceDeskError(f"The {label} is {len(text)} characters; keep it to {limit:,}.")
    return text


def _parse_allocations(allocations: dict | None) -> dict[int, int]:
    parsed: dict[int, int] = {}
    for invoice_id, amount in (allocations or {}).items():
        if isinstance(invoice_id, bool) or not isinstance(invoice_id, int):
            raise InvoiceDeskError(f"Invoice id {invoice_id!r} is not a number.")
        cents = to_cents(parse_money(amount, field=f"The amount for invoice id {invoice_id}"))
        parsed[invoice_id] = cents
    return parsed


def _locked_source(session: Session, model, source_id, what: str):
    """Find a receipt or credit memo, lock its party (domain rule 15), then read it again as it is now."""
    found = get_record(session, model, source_id)
    if found is None:
        raise NotFoundError(f"There is no {what} with id {source_id!r}.")
    locking.lock_parties(session, [found.party_id])
    return session.execute(sa.select(model).where(model.id == found.id)
                           .execution_options(populate_existing=True)).scalar_one()


@guarded
def post_receipt(session: Session, *, party_id: int, amount, received_date, method: str, reference: str = "",
                 allocations: dict[int, Decimal] | None = None, note: str = "", actor: str,
                 post_date: date | None = None, as_of: datetime | None = None,
                 request_key: str | None = None) -> Receipt:
    """Record money received from a party and, optionally, allocate it to its open invoices."""
    actor = audit.require_actor(actor)
    key = requests.check_key(request_key)
    require_invoice_billing(session, "posting invoice payments")
    party = get_party(session, party_id)
    cents = to_cents(parse_money(amount, field="The receipt amount"))
    received = to_date(received_date, "Received date", required=True)
    at = as_of or clock.now()
    today = clock.day_of(at, session)
    if received > today:
        raise InvoiceDeskError(f"The received date {received} is in the future; the practice's today is {today}.")
    parsed = _parse_allocations(allocations)
    method, posted = _method(method), to_date(post_date, "Post date") or today
    reference, note = _clean(reference, "reference", 120), _clean(note, "note", 2000)
    locking.lock_parties(session, [party.id])
    done = requests.replay(session, key, "receipt.post")
    if done is not None:
        return session.get(Receipt, done[0])
    # Every check, the allocations' included, runs before the first write (the receipt number).
    allocations_module.check(session, party_id=party.id, available=cents, allocations=parsed)
    (number,) = next_numbers(session, "receipt")
    receipt = Receipt(number=number, party_id=party.id, amount_cents=cents, received_date=received,
                      post_date=posted, method=method, reference=reference, note=note,
                      created_by=actor, created_at=at)
    session.add(receipt)
    session.flush()
    allocations_module.apply(session, source=receipt, allocations=parsed, actor=actor, at=at, checked=True)
    session.refresh(receipt)
    requests.remember(session, key, "receipt.post", [receipt.id], actor=actor, at=at)
    audit.record(session, actor=actor, action="receipt.post", entity="receipt", ids=[receipt.id], at=at,
                 detail={"number": receipt_number(number), "party": party.account_code, "amount": str(receipt.amount),
                         "allocations": {str(k): str(from_cents(v)) for k, v in parsed.items()}})
    return receipt


@guarded
def allocate_receipt(session: Session, *, receipt_id: int, allocations: dict[int, Decimal], actor: str,
                     as_of: datetime | None = None, request_key: str | None = None) -> Receipt:
    """Allocate a receipt's unapplied money to open invoices of its party."""
    actor = audit.require_actor(actor)
    key = requests.check_key(request_key)
    require_invoice_billing(session, "posting invoice payments")
    parsed = _parse_allocations(allocations)
    receipt = _locked_source(session, Receipt, receipt_id, "receipt")
    done = requests.replay(session, key, "receipt.allocate")
    if done is not None:
        return receipt
    if receipt.voided:
        raise InvoiceDeskError(f"Receipt {receipt_number(receipt.number)} is voided; its money cannot be allocated.")
    return _allocate_unapplied(session, source=receipt, number=receipt_number(receipt.number), entity="receipt",
                               allocations=parsed, actor=actor, as_of=as_of, key=key)


def _allocate_unapplied(session: Session, *, source: Receipt | CreditMemo, number: str, entity: str,
                        allocations: dict[int, int], actor: str, as_of: datetime | None, key: str | None):
    """Allocate what a receipt or a credit memo has left to open invoices of its party (its party is locked)."""
    if not allocations:
        raise InvoiceDeskError("Enter at least one invoice and amount to allocate.")
    at = as_of or clock.now()
    allocations_module.apply(session, source=source, allocations=allocations, actor=actor, at=at)
    session.refresh(source)
    requests.remember(session, key, f"{entity}.allocate", [source.id], actor=actor, at=at)
    audit.record(session, actor=actor, action=f"{entity}.allocate", entity=entity, ids=[source.id], at=at,
                 detail={"number": number, "allocations": {str(k): str(from_cents(v)) for k, v in allocations.items()}})
    return source


@guarded
def void_receipt(session: Session, *, receipt_id: int, reason: str, actor: str,
                 as_of: datetime | None = None, request_key: str | None = None) -> Receipt:
    """Void a receipt (a bounced check): every allocation is reversed and the reason kept."""
    actor = audit.require_actor(actor)
    key = requests.check_key(request_key)
    reason = _clean(reason, "reason", 500)
    if not reason:
        raise InvoiceDeskError("A reason is required to void a receipt (for example: check returned NSF).")
    receipt = _locked_source(session, Receipt, receipt_id, "receipt")
    if requests.replay(session, key, "receipt.void") is not None:
        return receipt
    if receipt.voided:
        raise InvoiceDeskError(f"Receipt {receipt_number(receipt.number)} was already voided on "
                               f"{receipt.voided_at:%Y-%m-%d}: {receipt.void_reason}")
    at = as_of or clock.now()
    reversed_ = allocations_module.reverse_receipt(session, receipt_id=receipt.id, at=at)
    receipt.voided, receipt.void_reason, receipt.voided_by, receipt.voided_at = True, reason, actor, at
    session.add(receipt)
    session.flush()
    session.refresh(receipt)
    requests.remember(session, key, "receipt.void", [receipt.id], actor=actor, at=at)
    audit.record(session, actor=actor, action="receipt.void", entity="receipt", ids=[receipt.id], at=at,
                 detail={"number": receipt_number(receipt.number), "reason": reason,
                         "reversed_invoices": sorted({i for i, _ in reversed_}),
                         "applied": [str(from_cents(sum(c for _, c in reversed_))), "0.00"]})
    return receipt


@guarded
def allocate_credit(session: Session, *, credit_memo_id: int, allocations: dict[int, Decimal], actor: str,
                    as_of: datetime | None = None, request_key: str | None = None) -> CreditMemo:
    """Apply a credit memo's unapplied credit to other open invoices of its party."""
    actor = audit.require_actor(actor)
    key = requests.check_key(request_key)
    parsed = _parse_allocations(allocations)
    memo = _locked_source(session, CreditMemo, credit_memo_id, "credit memo")
    if requests.replay(session, key, "credit_memo.allocate") is not None:
        return memo
    return _allocate_unapplied(session, source=memo, number=credit_memo_number(memo.number), entity="credit_memo",
                               allocations=parsed, actor=actor, as_of=as_of, key=key)


@dataclass(frozen=True)
class OpenInvoice:
    invoice_id: int
    number: str
    first_sent_on: date
    due_on: date
    billed: Decimal
    balance_due: Decimal


@dataclass(frozen=True)
class AllocationSuggestion:
    allocations: dict[int, Decimal]
    method: str  # "exact match", "oldest first" or "nothing open"
    unapplied: Decimal
    explanation: str


def open_invoices(session: Session, *, party_id: int) -> list[OpenInvoice]:
    """A party's open invoices, oldest first: the order money is suggested in."""
    inv = Invoice.__table__
    return [OpenInvoice(r.id, r.number, r.first_sent_on, r.due_on, from_cents(r.billed_cents),
                        from_cents(r.balance_cents))
            for r in session.execute(sa.select(inv).where(inv.c.party_id == party_id, inv.c.paid == sa.false())
                                     .order_by(inv.c.first_sent_on, inv.c.id))]


def _exact_subset(balances: list[int], target: int) -> list[int] | None:
    """Indexes of open balances that add up to exactly the target, oldest invoices preferred."""
    reachable: dict[int, tuple[int, ...]] = {0: ()}
    for index, balance in enumerate(balances):
        for total, chosen in list(reachable.items()):
            new = total + balance
            if new <= target and new not in reachable:
                reachable[new] = (*chosen, index)
        if target in reachable:
            return list(reachable[target])
        if len(reachable) > _EXACT_MATCH_STATES:
            return None
    return None


def suggest_allocation(session: Session, *, party_id: int, amount) -> AllocationSuggestion:
    """An exact match of open balances to the amount when one exists, else oldest invoices first."""
    get_party(session, party_id)
    cents = to_cents(parse_money(amount, field="The receipt amount"))
    invoices = open_invoices(session, party_id=party_id)
    if not invoices:
        return AllocationSuggestion({}, "nothing open", from_cents(cents),
                                    "The party has no open invoices; the whole amount stays unapplied.")
    balances = [to_cents(i.balance_due) for i in invoices]
    exact = _exact_subset(balances, cents)
    if exact is not None:
        chosen = {invoices[i].invoice_id: invoices[i].balance_due for i in exact}
        numbers = ", ".join(invoices[i].number for i in exact)
        return AllocationSuggestion(chosen, "exact match", Decimal("0.00"),
                                    f"{format_money(from_cents(cents))} pays exactly {numbers}.")
    left, chosen = cents, {}
    for inv, balance in zip(invoices, balances, strict=True):
        if left == 0:
            break
        take = min(left, balance)
        chosen[inv.invoice_id] = from_cents(take)
        left -= take
    return AllocationSuggestion(chosen, "oldest first", from_cents(left),
                                f"Oldest invoices first; {format_money(from_cents(left))} stays unapplied.")


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


def list_receipts(session: Session, *, party_id: int | None = None, only_unapplied: bool = False,
                  include_voided: bool = True, limit: int = 100, offset: int = 0) -> list[ReceiptRow]:
    r, p = Receipt.__table__, Party.__table__
    q = (sa.select(r, p.c.name.label("party_name")).join(p, p.c.id == r.c.party_id)
         .order_by(r.c.received_date.desc(), r.c.id.desc()).limit(limit).offset(offset))
    if party_id is not None:
        q = q.where(r.c.party_id == party_id)
    if only_unapplied:
        q = q.where(allocations_module.unapplied(r) > 0)
    if not include_voided:
        q = q.where(r.c.voided == sa.false())
    return [ReceiptRow(x.id, receipt_number(x.number), x.party_id, x.party_name, from_cents(x.amount_cents),
                       from_cents(0 if x.voided else x.applied_cents),
                       from_cents(0 if x.voided else x.amount_cents - x.applied_cents), x.received_date, x.method,
                       x.reference, x.voided, x.void_reason) for x in session.execute(q)]
