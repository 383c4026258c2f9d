"""Receipts and allocations: money received, applied to open invoices, unapplied money, voids."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session

from core import audit, clock
from core.dates import to_date
from core.db import expire_loaded
from core.errors import InvoiceDeskError, NotFoundError
from core.models import RECEIPT_METHODS, Allocation, CreditMemo, Invoice, Party, Receipt
from core.money import format_money, from_cents, parse_money, to_cents
from core.numbering import credit_memo_number, next_numbers, receipt_number
from core.parties import get_party
from core.settings import require_invoice_billing
from core.totals import refresh_invoices

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


def _check_allocations(session: Session, *, party_id: int, available: int, allocations: dict[int, int]) -> None:
    """Refuse allocations that are not to open invoices of the party, or exceed a balance or the money available."""
    if not allocations:
        return
    inv = Invoice.__table__
    # FOR UPDATE makes two managers allocating to one invoice take turns, each seeing the other's money.
    rows = {r.id: r for r in session.execute(
        sa.select(inv.c.id, inv.c.number, inv.c.party_id, inv.c.balance_cents)
        .where(inv.c.id.in_(list(allocations))).with_for_update())}
    for invoice_id, cents in allocations.items():
        row = rows.get(invoice_id)
        if row is None:
            raise NotFoundError(f"There is no invoice with id {invoice_id}.")
        if row.party_id != party_id:
            raise InvoiceDeskError(f"Invoice {row.number} belongs to another party; money goes only to the "
                                   "payer's own invoices.")
        if row.balance_cents == 0:
            raise InvoiceDeskError(f"Invoice {row.number} is already paid.")
        if cents > row.balance_cents:
            raise InvoiceDeskError(f"{format_money(from_cents(cents))} is more than invoice {row.number}'s balance "
                                   f"of {format_money(from_cents(row.balance_cents))}.")
    total = sum(allocations.values())
    if total > available:
        raise InvoiceDeskError(f"The allocations add up to {format_money(from_cents(total))}, more than the "
                               f"{format_money(from_cents(available))} available.")


def _apply(session: Session, *, party_id: int, available: int, allocations: dict[int, int], actor: str,
           receipt_id: int | None = None, credit_memo_id: int | None = None, at: datetime) -> int:
    """Check and write allocations to open invoices of one party; returns the cents applied."""
    if not allocations:
        return 0
    _check_allocations(session, party_id=party_id, available=available, allocations=allocations)
    session.execute(sa.insert(Allocation.__table__), [
        {"invoice_id": i, "receipt_id": receipt_id, "credit_memo_id": credit_memo_id, "amount_cents": c,
         "live": True, "created_by": actor, "created_at": at} for i, c in allocations.items()])
    refresh_invoices(session, list(allocations))
    return sum(allocations.values())


def _refresh_applied(session: Session, table, source_column, source_id: int) -> None:
    alloc = Allocation.__table__
    applied = sa.select(sa.func.coalesce(sa.func.sum(alloc.c.amount_cents), 0)).where(
        source_column == source_id, alloc.c.live == sa.true()).scalar_subquery()
    session.execute(sa.update(table).where(table.c.id == source_id).values(applied_cents=applied))


def _locked_receipt(session: Session, receipt_id: int) -> Receipt:
    receipt = session.execute(sa.select(Receipt).where(Receipt.id == receipt_id).with_for_update()).scalar_one_or_none()
    if receipt is None:
        raise NotFoundError(f"There is no receipt with id {receipt_id!r}.")
    return receipt


def post_receipt(session: Session, *, party_id: int, amount, received_date, method: str, reference: str = "",
                 allocations: dict[int, Decimal] | None = None, note: str = "", actor: str,
                 post_date: date | None = None, as_of: datetime | None = None) -> Receipt:
    """Record money received from a party and, optionally, allocate it to its open invoices."""
    actor = audit.require_actor(actor)
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
    # Every check, the allocations' included, runs before the first write (the receipt number).
    _check_allocations(session, party_id=party.id, available=cents, allocations=parsed)
    (number,) = next_numbers(session, "receipt")
    receipt = Receipt(number=number, party_id=party.id, amount_cents=cents, received_date=received,
                      post_date=posted, method=method, reference=reference, note=note,
                      created_by=actor, created_at=at)
    session.add(receipt)
    session.flush()
    _apply(session, party_id=party.id, available=cents, allocations=parsed, actor=actor, receipt_id=receipt.id,
           at=at)
    _refresh_applied(session, Receipt.__table__, Allocation.__table__.c.receipt_id, receipt.id)
    session.refresh(receipt)
    audit.record(session, actor=actor, action="receipt.post", entity="receipt", ids=[receipt.id], at=at,
                 detail={"number": receipt_number(number), "party": party.account_code, "amount": str(receipt.amount),
                         "allocations": {str(k): str(from_cents(v)) for k, v in parsed.items()}})
    return receipt


def allocate_receipt(session: Session, *, receipt_id: int, allocations: dict[int, Decimal], actor: str,
                     as_of: datetime | None = None) -> Receipt:
    """Allocate a receipt's unapplied money to open invoices of its party."""
    actor = audit.require_actor(actor)
    require_invoice_billing(session, "posting invoice payments")
    receipt = _locked_receipt(session, receipt_id)
    if receipt.voided:
        raise InvoiceDeskError(f"Receipt {receipt_number(receipt.number)} is voided; its money cannot be allocated.")
    return _allocate_unapplied(session, source=receipt, number=receipt_number(receipt.number), entity="receipt",
                               allocations=allocations, actor=actor, as_of=as_of)


def _allocate_unapplied(session: Session, *, source: Receipt | CreditMemo, number: str, entity: str,
                        allocations: dict, actor: str, as_of: datetime | None):
    """Allocate what a receipt or a credit memo has left to open invoices of its party."""
    parsed = _parse_allocations(allocations)
    if not parsed:
        raise InvoiceDeskError("Enter at least one invoice and amount to allocate.")
    at = as_of or clock.now()
    column = Allocation.__table__.c.receipt_id if entity == "receipt" else Allocation.__table__.c.credit_memo_id
    _apply(session, party_id=source.party_id, available=source.amount_cents - source.applied_cents,
           allocations=parsed, actor=actor, at=at, **{column.name: source.id})
    _refresh_applied(session, type(source).__table__, column, source.id)
    session.refresh(source)
    audit.record(session, actor=actor, action=f"{entity}.allocate", entity=entity, ids=[source.id], at=at,
                 detail={"number": number, "allocations": {str(k): str(from_cents(v)) for k, v in parsed.items()}})
    return source


def void_receipt(session: Session, *, receipt_id: int, reason: str, actor: str,
                 as_of: datetime | None = None) -> Receipt:
    """Void a receipt (a bounced check): every allocation is reversed and the reason kept."""
    actor = audit.require_actor(actor)
    reason = _clean(reason, "reason", 500)
    if not reason:
        raise InvoiceDeskError("A reason is required to void a receipt (for example: check returned NSF).")
    receipt = _locked_receipt(session, receipt_id)
    if receipt.voided:
        raise InvoiceDeskError(f"Receipt {receipt_number(receipt.number)} was already voided on "
                               f"{receipt.voided_at:%Y-%m-%d}: {receipt.void_reason}")
    at = as_of or clock.now()
    alloc = Allocation.__table__
    live = session.execute(sa.select(alloc.c.invoice_id, alloc.c.amount_cents).where(
        alloc.c.receipt_id == receipt.id, alloc.c.live == sa.true())).all()
    invoice_ids = [row.invoice_id for row in live]
    session.execute(sa.update(alloc).where(alloc.c.receipt_id == receipt.id, alloc.c.live == sa.true())
                    .values(live=False, reversed_at=at))
    expire_loaded(session, Allocation)
    refresh_invoices(session, invoice_ids)
    receipt.voided, receipt.void_reason, receipt.voided_by, receipt.voided_at = True, reason, actor, at
    receipt.applied_cents = 0
    session.add(receipt)
    session.flush()
    audit.record(session, actor=actor, action="receipt.void", entity="receipt", ids=[receipt.id], at=at,
                 detail={"number": receipt_number(receipt.number), "reason": reason,
                         "reversed_invoices": sorted(set(invoice_ids)),
                         "applied": [str(from_cents(sum(row.amount_cents for row in live))), "0.00"]})
    return receipt


def allocate_credit(session: Session, *, credit_memo_id: int, allocations: dict[int, Decimal], actor: str,
                    as_of: datetime | None = None) -> CreditMemo:
    """Apply a credit memo's unapplied credit to other open invoices of its party."""
    actor = audit.require_actor(actor)
    memo = session.execute(sa.select(CreditMemo).where(CreditMemo.id == credit_memo_id)
                           .with_for_update()).scalar_one_or_none()
    if memo is None:
        raise NotFoundError(f"There is no credit memo with id {credit_memo_id!r}.")
    return _allocate_unapplied(session, source=memo, number=credit_memo_number(memo.number), entity="credit_memo",
                               allocations=allocations, actor=actor, as_of=as_of)


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
        q = q.where(r.c.voided == sa.false(), r.c.applied_cents < r.c.amount_cents)
    if not include_voided:
        q = q.where(r.c.voided == sa.false())
    return [ReceiptRow(x.id, receipt_number(x.number), x.party_id, x.party_name, from_cents(x.amount_cents),
                       from_cents(0 if x.voided else x.applied_cents),
                       from_cents(0 if x.voided else x.amount_cents - x.applied_cents), x.received_date, x.method,
                       x.reference, x.voided, x.void_reason) for x in session.execute(q)]
