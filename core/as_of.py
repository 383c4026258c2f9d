"""Figures as of a day (domain rule 17): only what was sent, received, allocated, credited, written off or refunded
on or before it counts, and ages count from it.

The stored totals (invoice.balance_cents, receipt.applied_cents ...) are the books *now*. A day in the past is
read from the ledger's own days instead: an invoice counts from its first sending, an allocation from its
`applied_on` until its `reversed_on`, a receipt from its received date until its void, a credit memo from its
issue, a refund from its day. Each function here is one set-based statement, used by party_account, the aging,
the statement, the dashboard figures and the reconciliation alike.
"""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session

from core import clock
from core.models import AgingBasis, Allocation, CreditMemo, Invoice, Party, Receipt, Refund, WriteOff

_a, _inv, _r, _m, _f, _p = (Allocation.__table__, Invoice.__table__, Receipt.__table__, CreditMemo.__table__,
                            Refund.__table__, Party.__table__)

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


def aging_case(first_sent_on: sa.ColumnElement, due_on: sa.ColumnElement, day: date,
               basis: str = AgingBasis.FIRST_SENT) -> sa.Case:
    """The bucket of each row in SQL, as `bucket` names it in Python: the day's boundaries are dates worked out here,
    so the statement compares dates on both databases (no date arithmetic in SQL)."""
    start = due_on if basis == AgingBasis.DUE_DATE else first_sent_on
    names = buckets(basis)
    whens = [(start >= day, names[0])] if basis == AgingBasis.DUE_DATE else []
    for limit, name in zip((30, 60, 90, 120), names[-5:-1], strict=True):
        whens.append((start >= day - timedelta(days=limit), name))
    return sa.case(*whens, else_=names[-1])


def aging_terms(first_sent_on: sa.ColumnElement, due_on: sa.ColumnElement, day: date,
                basis: str = AgingBasis.FIRST_SENT) -> dict[str, sa.ColumnElement[bool]]:
    """Each bucket's test as a range of dates, the buckets of aging_case without a CASE per bucket per row: an
    aggregate FILTERed by these reads each row's date at most twice."""
    start = due_on if basis == AgingBasis.DUE_DATE else first_sent_on
    names = buckets(basis)
    terms: dict[str, sa.ColumnElement[bool]] = {}
    newer: date | None = None  # the bucket before this one holds dates on or after it
    if basis == AgingBasis.DUE_DATE:
        terms[names[0]] = start >= day
        newer = day
    for limit, name in zip((30, 60, 90, 120), names[-5:-1], strict=True):
        edge = day - timedelta(days=limit)
        terms[name] = sa.and_(start >= edge, start < newer) if newer is not None else start >= edge
        newer = edge
    terms[names[-1]] = start < newer
    return terms


class days_between(FunctionElement):  # noqa: N801 (a SQL function's name)
    """Whole days from `earlier` to `later` (two dates), on SQLite and PostgreSQL alike."""

    type = sa.Integer()
    inherit_cache = True
    name = "days_between"


@compiles(days_between, "sqlite")
def _days_sqlite(element, compiler, **kw):
    later, earlier = list(element.clauses)
    return (f"CAST(julianday({compiler.process(later, **kw)}) - julianday({compiler.process(earlier, **kw)}) "
            "AS INTEGER)")


@compiles(days_between)
def _days_default(element, compiler, **kw):
    later, earlier = list(element.clauses)
    return f"({compiler.process(later, **kw)} - {compiler.process(earlier, **kw)})"


class month_index(FunctionElement):  # noqa: N801 (a SQL function's name)
    """A date's month as one integer (year * 12 + month - 1), to group by month on both databases."""

    type = sa.Integer()
    inherit_cache = True
    name = "month_index"


@compiles(month_index, "sqlite")
def _month_sqlite(element, compiler, **kw):
    # SQLite keeps a date as YYYY-MM-DD text: cutting it is several times quicker than strftime on every row.
    (day,) = list(element.clauses)
    text = compiler.process(day, **kw)
    return f"(CAST(substr({text}, 1, 4) AS INTEGER) * 12 + CAST(substr({text}, 6, 2) AS INTEGER) - 1)"


@compiles(month_index)
def _month_default(element, compiler, **kw):
    (day,) = list(element.clauses)
    text = compiler.process(day, **kw)
    return f"(CAST(EXTRACT(year FROM {text}) AS INTEGER) * 12 + CAST(EXTRACT(month FROM {text}) AS INTEGER) - 1)"


def month_of_index(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def index_of_month(day: date) -> int:
    return day.year * 12 + day.month - 1


def of_parties(party_column: sa.ColumnElement, party_id: int | None, group_id: int | None) -> list:
    """The WHERE terms that keep one party's or one group's rows (either, both or neither given)."""
    terms: list = []
    if party_id is not None:
        terms.append(party_column == party_id)
    if group_id is not None:
        terms.append(party_column.in_(sa.select(_p.c.id).where(_p.c.group_id == group_id)))
    return terms


def basis_label(basis: str) -> str:
    """How an aging names its basis, on every chart and report."""
    return "days past due" if basis == AgingBasis.DUE_DATE else "days since first sent"


def live_on(day: date) -> sa.ColumnElement[bool]:
    """An allocation that counted on that day: applied on or before it and not reversed by then."""
    return sa.and_(_a.c.applied_on <= day, sa.or_(_a.c.reversed_on.is_(None), _a.c.reversed_on > day))


def stored_is_as_of(session: Session, day: date) -> bool:
    """Whether the stored totals are the books as of the day: the day is the practice's today or later, and nothing
    is dated after it (no sending, allocation, reversal, receipt, void, credit memo, write-off or refund), nor is an
    allocation without its day. Then a report reads the stored totals instead of summing the ledger again
    (issue 16); each newest day is one index look."""
    if day < clock.today(session):
        return False
    w = WriteOff.__table__
    newest = [sa.select(sa.func.max(column)).scalar_subquery() for column in (
        _inv.c.first_sent_on, _a.c.applied_on, _a.c.reversed_on, _r.c.received_date, _r.c.voided_on,
        _m.c.issued_on, w.c.written_on, _f.c.refunded_on)]
    undated = sa.exists().where(_a.c.applied_on.is_(None))
    row = session.execute(sa.select(*newest, undated)).one()
    return not row[-1] and all(d is None or d <= day for d in row[:-1])


def invoice_balances(day: date, *, party_id: int | None = None, group_id: int | None = None,
                     stored: bool = False, open_only: bool = False) -> sa.Select:
    """Every invoice first sent on or before the day, with its money as it stood then.

    Columns: id, number, party_id, first_sent_on, due_on, billed, payments, credits, writeoffs, balance.
    With `stored` (only when stored_is_as_of said so) they are the invoices' stored totals, the same figures, and
    `open_only` keeps the open ones by the index on the paid flag (a caller still asks for a balance above 0).
    """
    if stored:
        return sa.select(_inv.c.id, _inv.c.number, _inv.c.party_id, _inv.c.first_sent_on, _inv.c.due_on,
                         _inv.c.billed_cents.label("billed"), _inv.c.payments_cents.label("payments"),
                         _inv.c.credits_cents.label("credits"), _inv.c.writeoffs_cents.label("writeoffs"),
                         _inv.c.balance_cents.label("balance")).where(
            _inv.c.first_sent_on <= day, *of_parties(_inv.c.party_id, party_id, group_id),
            *([_inv.c.paid == sa.false()] if open_only else []))
    sums = (sa.select(
        _a.c.invoice_id,
        sa.func.sum(sa.case((_a.c.receipt_id.is_not(None), _a.c.amount_cents), else_=0)).label("payments"),
        sa.func.sum(sa.case((_a.c.credit_memo_id.is_not(None), _a.c.amount_cents), else_=0)).label("credits"),
        sa.func.sum(sa.case((_a.c.write_off_id.is_not(None), _a.c.amount_cents), else_=0)).label("writeoffs"))
        .where(live_on(day)).group_by(_a.c.invoice_id))
    if party_id is not None or group_id is not None:
        sums = sums.where(_a.c.invoice_id.in_(sa.select(_inv.c.id).where(
            *of_parties(_inv.c.party_id, party_id, group_id))))
    s = sums.subquery()
    payments, credits, writeoffs = (sa.func.coalesce(s.c.payments, 0), sa.func.coalesce(s.c.credits, 0),
                                    sa.func.coalesce(s.c.writeoffs, 0))
    q = (sa.select(_inv.c.id, _inv.c.number, _inv.c.party_id, _inv.c.first_sent_on, _inv.c.due_on,
                   _inv.c.billed_cents.label("billed"), payments.label("payments"), credits.label("credits"),
                   writeoffs.label("writeoffs"),
                   (_inv.c.billed_cents - payments - credits - writeoffs).label("balance"))
         .outerjoin(s, s.c.invoice_id == _inv.c.id).where(_inv.c.first_sent_on <= day,
                                                          *of_parties(_inv.c.party_id, party_id, group_id)))
    return q


def paid_invoices(day: date, *, party_id: int | None = None, group_id: int | None = None,
                  stored: bool = False) -> sa.Select:
    """Invoices paid off by the day, with the day the last payment that counted was received and the days it
    took from first sending (never below 0). An invoice settled by credits or a write-off alone is not "paid".

    Columns: id, party_id, first_sent_on, paid_on, days.
    """
    balances = invoice_balances(day, party_id=party_id, group_id=group_id, stored=stored).subquery()
    paid_on = sa.func.max(_r.c.received_date)
    days = days_between(paid_on, _inv.c.first_sent_on)
    return (sa.select(_inv.c.id, _inv.c.party_id, _inv.c.first_sent_on, paid_on.label("paid_on"),
                      sa.case((days < 0, 0), else_=days).label("days"))
            .join(_a, _a.c.invoice_id == _inv.c.id).join(_r, _r.c.id == _a.c.receipt_id)
            .where(_inv.c.id.in_(sa.select(balances.c.id).where(balances.c.balance == 0)), live_on(day))
            .group_by(_inv.c.id, _inv.c.party_id, _inv.c.first_sent_on))


def _refunded_by(column: sa.Column, owner: sa.Column, day: date) -> sa.ScalarSelect:
    return (sa.select(sa.func.coalesce(sa.func.sum(_f.c.amount_cents), 0))
            .where(column == owner, _f.c.refunded_on <= day).scalar_subquery())


def _applied_by(column: sa.Column, owner: sa.Column, day: date) -> sa.ScalarSelect:
    return (sa.select(sa.func.coalesce(sa.func.sum(_a.c.amount_cents), 0))
            .where(column == owner, live_on(day)).scalar_subquery())


def receipts(day: date, *, party_id: int | None = None, group_id: int | None = None,
             stored: bool = False) -> sa.Select:
    """Receipts received on or before the day and not voided by then, with what was applied, refunded and
    unapplied that day. Columns: id, number, party_id, received_date, amount, applied, refunded, unapplied.
    With `stored` (only when stored_is_as_of said so) applied and refunded are the receipts' stored amounts."""
    applied: sa.ColumnElement = _r.c.applied_cents if stored else _applied_by(_a.c.receipt_id, _r.c.id, day)
    refunded: sa.ColumnElement = _r.c.refunded_cents if stored else _refunded_by(_f.c.receipt_id, _r.c.id, day)
    q = (sa.select(_r.c.id, _r.c.number, _r.c.party_id, _r.c.received_date, _r.c.method, _r.c.reference,
                   _r.c.amount_cents.label("amount"), applied.label("applied"), refunded.label("refunded"),
                   (_r.c.amount_cents - applied - refunded).label("unapplied"))
         .where(_r.c.received_date <= day, sa.or_(_r.c.voided_on.is_(None), _r.c.voided_on > day),
                *of_parties(_r.c.party_id, party_id, group_id)))
    return q


def credit_memos(day: date, *, party_id: int | None = None, group_id: int | None = None,
                 stored: bool = False) -> sa.Select:
    """Credit memos issued on or before the day, with what was unapplied then (same columns as receipts)."""
    applied: sa.ColumnElement = _m.c.applied_cents if stored else _applied_by(_a.c.credit_memo_id, _m.c.id, day)
    refunded: sa.ColumnElement = _m.c.refunded_cents if stored else _refunded_by(_f.c.credit_memo_id, _m.c.id, day)
    q = (sa.select(_m.c.id, _m.c.number, _m.c.party_id, _m.c.issued_on, _m.c.amount_cents.label("amount"),
                   applied.label("applied"), refunded.label("refunded"),
                   (_m.c.amount_cents - applied - refunded).label("unapplied"))
         .where(_m.c.issued_on <= day, *of_parties(_m.c.party_id, party_id, group_id)))
    return q
