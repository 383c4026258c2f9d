"""Figures as of a day (domain rule 17): only what was sent, received, allocated, credited, written off or refunded
on or before it counts, and ages count from it.

The stored totals (invoice.balance_cents, receipt.applied_cents ...) are the books *now*. A day in the past is
read from the ledger's own days instead: an invoice counts from its first sending, an allocation from its
`applied_on` until its `reversed_on`, a receipt from its received date until its void, a credit memo from its
issue, a refund from its day. Each function here is one set-based statement, used by party_account, the aging,
the statement, the dashboard figures and the reconciliation alike.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from core.models import AgingBasis, Allocation, CreditMemo, Invoice, Receipt, Refund

_a, _inv, _r, _m, _f = (Allocation.__table__, Invoice.__table__, Receipt.__table__, CreditMemo.__table__,
                        Refund.__table__)

FIRST_SENT_BUCKETS = ("0-30", "31-60", "61-90", "91-120", "over 120")
DUE_DATE_BUCKETS = ("current", "1-30", "31-60", "61-90", "91-120", "over 120")


def buckets(basis: str = AgingBasis.FIRST_SENT) -> tuple[str, ...]:
    """The aging buckets of a basis: days since first sent (0-30 ...) or days past due (current, 1-30 ...)."""
    return DUE_DATE_BUCKETS if basis == AgingBasis.DUE_DATE else FIRST_SENT_BUCKETS


def bucket(days: int, basis: str = AgingBasis.FIRST_SENT) -> str:
    """The bucket of an invoice `days` old (first sent) or `days` past due (due date); boundaries are inclusive."""
    if basis == AgingBasis.DUE_DATE and days <= 0:
        return "current"
    low = 1 if basis == AgingBasis.DUE_DATE else 0
    for limit, name in ((30, f"{low}-30"), (60, "31-60"), (90, "61-90"), (120, "91-120")):
        if days <= limit:
            return name
    return "over 120"


def basis_label(basis: str) -> str:
    """How an aging names its basis, on every chart and report."""
    return "days past due" if basis == AgingBasis.DUE_DATE else "days since first sent"


def live_on(day: date) -> sa.ColumnElement[bool]:
    """An allocation that counted on that day: applied on or before it and not reversed by then."""
    return sa.and_(_a.c.applied_on <= day, sa.or_(_a.c.reversed_on.is_(None), _a.c.reversed_on > day))


def invoice_balances(day: date, *, party_id: int | None = None) -> sa.Select:
    """Every invoice first sent on or before the day, with its money as it stood then.

    Columns: id, number, party_id, first_sent_on, due_on, billed, payments, credits, writeoffs, balance.
    """
    sums = (sa.select(
        _a.c.invoice_id,
        sa.func.sum(sa.case((_a.c.receipt_id.is_not(None), _a.c.amount_cents), else_=0)).label("payments"),
        sa.func.sum(sa.case((_a.c.credit_memo_id.is_not(None), _a.c.amount_cents), else_=0)).label("credits"),
        sa.func.sum(sa.case((_a.c.write_off_id.is_not(None), _a.c.amount_cents), else_=0)).label("writeoffs"))
        .where(live_on(day)).group_by(_a.c.invoice_id))
    if party_id is not None:
        sums = sums.where(_a.c.invoice_id.in_(sa.select(_inv.c.id).where(_inv.c.party_id == party_id)))
    s = sums.subquery()
    payments, credits, writeoffs = (sa.func.coalesce(s.c.payments, 0), sa.func.coalesce(s.c.credits, 0),
                                    sa.func.coalesce(s.c.writeoffs, 0))
    q = (sa.select(_inv.c.id, _inv.c.number, _inv.c.party_id, _inv.c.first_sent_on, _inv.c.due_on,
                   _inv.c.billed_cents.label("billed"), payments.label("payments"), credits.label("credits"),
                   writeoffs.label("writeoffs"),
                   (_inv.c.billed_cents - payments - credits - writeoffs).label("balance"))
         .outerjoin(s, s.c.invoice_id == _inv.c.id).where(_inv.c.first_sent_on <= day))
    if party_id is not None:
        q = q.where(_inv.c.party_id == party_id)
    return q


def _refunded_by(column: sa.Column, owner: sa.Column, day: date) -> sa.ScalarSelect:
    return (sa.select(sa.func.coalesce(sa.func.sum(_f.c.amount_cents), 0))
            .where(column == owner, _f.c.refunded_on <= day).scalar_subquery())


def _applied_by(column: sa.Column, owner: sa.Column, day: date) -> sa.ScalarSelect:
    return (sa.select(sa.func.coalesce(sa.func.sum(_a.c.amount_cents), 0))
            .where(column == owner, live_on(day)).scalar_subquery())


def receipts(day: date, *, party_id: int | None = None) -> sa.Select:
    """Receipts received on or before the day and not voided by then, with what was applied, refunded and
    unapplied that day. Columns: id, number, party_id, received_date, amount, applied, refunded, unapplied."""
    applied = _applied_by(_a.c.receipt_id, _r.c.id, day)
    refunded = _refunded_by(_f.c.receipt_id, _r.c.id, day)
    q = (sa.select(_r.c.id, _r.c.number, _r.c.party_id, _r.c.received_date, _r.c.method, _r.c.reference,
                   _r.c.amount_cents.label("amount"), applied.label("applied"), refunded.label("refunded"),
                   (_r.c.amount_cents - applied - refunded).label("unapplied"))
         .where(_r.c.received_date <= day, sa.or_(_r.c.voided_on.is_(None), _r.c.voided_on > day)))
    return q.where(_r.c.party_id == party_id) if party_id is not None else q


def credit_memos(day: date, *, party_id: int | None = None) -> sa.Select:
    """Credit memos issued on or before the day, with what was unapplied then (same columns as receipts)."""
    applied = _applied_by(_a.c.credit_memo_id, _m.c.id, day)
    refunded = _refunded_by(_f.c.credit_memo_id, _m.c.id, day)
    q = (sa.select(_m.c.id, _m.c.number, _m.c.party_id, _m.c.issued_on, _m.c.amount_cents.label("amount"),
                   applied.label("applied"), refunded.label("refunded"),
                   (_m.c.amount_cents - applied - refunded).label("unapplied"))
         .where(_m.c.issued_on <= day))
    return q.where(_m.c.party_id == party_id) if party_id is not None else q
