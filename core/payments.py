"""Suggesting how a payment is allocated: a party's open invoices, oldest first, and an exact match when one exists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session

from core.credit_memos import allocate_credit  # noqa: F401
from core.db import guarded
from core.models import Invoice
from core.money import MoneyInput, format_money, from_cents, parse_money, to_cents
from core.parties import get_party

# The first release's module for receipts: its names stay importable from here.
from core.receipts import ReceiptRow, allocate_receipt, list_receipts, post_receipt, void_receipt  # noqa: F401

# An exact match is looked for among a party's oldest open invoices, with a bounded amount of work, so a
# suggestion stays quick for a party with thousands open (issue 16): every subset of the oldest while the
# work lasts, then one invoice or two among the window.
_EXACT_WINDOW = 400
_EXACT_WORK = 150_000


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


@guarded
def open_invoices(session: Session, *, party_id: int) -> list[OpenInvoice]:
    """A party's open invoices, oldest first: the order money is suggested in."""
    inv = Invoice.__table__
    return [OpenInvoice(r.id, r.number, r.first_sent_on, r.due_on, from_cents(r.billed_cents),
                        from_cents(r.balance_cents))
            for r in session.execute(sa.select(inv).where(inv.c.party_id == party_id, inv.c.paid == sa.false())
                                     .order_by(inv.c.first_sent_on, inv.c.id))]


def _exact_subset(balances: list[int], target: int) -> list[int] | None:
    """Indexes of open balances that add up to exactly the target, oldest invoices preferred, or None.

    Subsets are grown oldest invoice first, so the match found is the one whose newest invoice is oldest. Each
    reachable total keeps only the invoice that reached it and the total before it, so a step costs one look per
    total. Within _EXACT_WORK looks every subset of the oldest invoices is tried; after that, one invoice or two
    among the oldest _EXACT_WINDOW. None when no match was found.
    """
    window = balances[:_EXACT_WINDOW]
    if target <= 0 or target > sum(balances):
        return None
    reached: dict[int, tuple[int, int]] = {0: (-1, 0)}  # total -> (the invoice that reached it, total before)
    work = 0
    for index, balance in enumerate(window):
        if balance <= 0 or balance > target:
            continue
        grown: dict[int, tuple[int, int]] = {}
        for total in reached:
            new = total + balance
            if new <= target and new not in reached:
                grown.setdefault(new, (index, total))
        work += len(reached)
        reached.update(grown)
        if target in reached:
            chosen, total = [], target
            while total:
                index, total = reached[total]
                chosen.append(index)
            return sorted(chosen)
        if work > _EXACT_WORK:
            break
    else:
        if len(window) == len(balances):
            return None  # every subset was tried
    return _one_or_two(window, target)


def _one_or_two(window: list[int], target: int) -> list[int] | None:
    """One invoice paying exactly the target, else two; the pair whose newer invoice is oldest."""
    first_at: dict[int, int] = {}
    for index, balance in enumerate(window):
        if balance == target:
            return [index]
        first_at.setdefault(balance, index)
    for index, balance in enumerate(window):
        other = first_at.get(target - balance)
        if other is not None and other < index:
            return [other, index]
    return None


@guarded
def suggest_allocation(session: Session, *, party_id: int, amount: MoneyInput) -> AllocationSuggestion:
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
