"""The ledger's one owner: the only code that writes Allocation rows and the stored totals that follow from them.

Money reaches an invoice only as an allocation, from a receipt (a payment), a credit memo (a credit) or a
write-off. Applying, reversing (a void, an un-apply) and recomputing both sides happen here, after the caller has taken the party locks
(core.locking), so the sums below are read in statements that see every committed allocation:

- an invoice's payments, credits, write-offs, balance and paid flag are the sums of its live allocations;
- a receipt's or a credit memo's applied amount is the sum of its live allocations, and its refunded amount
  the sum of its refunds;
- what is *unapplied* is one expression per source (`unapplied(...)`), used by every report and list.

Each allocation carries the practice's day it counts from (`applied_on`) and, once reversed, the day it
stopped (`reversed_on`): figures "as of a day" (core.as_of) read those.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Session

from core import audit, clock, locking, requests
from core.db import expire_loaded, get_record
from core.errors import InvoiceDeskError, NotFoundError
from core.models import Allocation, CreditMemo, Invoice, Receipt, Refund, WriteOff
from core.money import format_money, from_cents, parse_money, to_cents

_alloc = Allocation.__table__
_inv = Invoice.__table__
_receipt = Receipt.__table__
_memo = CreditMemo.__table__
_refund = Refund.__table__

Source = Receipt | CreditMemo | WriteOff


def unapplied(table: sa.Table = _receipt) -> sa.ColumnElement[int]:
    """Cents of a receipt or credit memo neither allocated nor refunded; a voided receipt has none."""
    left = table.c.amount_cents - table.c.applied_cents - table.c.refunded_cents
    if "voided" in table.c:
        return sa.case((table.c.voided == sa.true(), 0), else_=left)
    return left


def unapplied_total(session: Session, *, party_id: int | None = None) -> tuple[int, int]:
    """(receipts, credit memos) unapplied cents, of one party or of all."""
    out = []
    for table in (_receipt, _memo):
        q = sa.select(sa.func.coalesce(sa.func.sum(unapplied(table)), 0))
        if party_id is not None:
            q = q.where(table.c.party_id == party_id)
        out.append(int(session.execute(q).scalar_one()))
    return out[0], out[1]


def lock_invoices(session: Session, invoice_ids: Iterable[int], *, party_id: int | None = None):
    """Lock invoice rows by id (after their party's lock) and read their current balances.

    With party_id only that party's invoices are locked: an id of another party's invoice is read without a lock,
    so a refused allocation never holds rows whose party this action did not lock.
    """
    ids = sorted(set(invoice_ids))
    if not ids:
        return {}
    columns = (_inv.c.id, _inv.c.number, _inv.c.party_id, _inv.c.balance_cents)
    mine = _inv.c.id.in_(ids) if party_id is None else sa.and_(_inv.c.id.in_(ids), _inv.c.party_id == party_id)
    rows = {r.id: r for r in session.execute(sa.select(*columns).where(mine).order_by(_inv.c.id)
                                             .with_for_update(key_share=True))}
    if party_id is not None and len(rows) < len(ids):
        rows.update({r.id: r for r in session.execute(sa.select(*columns).where(
            _inv.c.id.in_([i for i in ids if i not in rows])))})
    return rows


def check(session: Session, *, party_id: int, available: int, allocations: dict[int, int]) -> None:
    """Refuse allocations that are not to open invoices of the party, or exceed a balance or the money available."""
    if not allocations:
        return
    rows = lock_invoices(session, allocations, party_id=party_id)
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


def apply(session: Session, *, source: Source, allocations: dict[int, int], actor: str,
          at: datetime, checked: bool = False, on: date | None = None) -> int:
    """Allocate a receipt's, credit memo's or write-off's money to open invoices of its party; returns the cents.

    The caller holds the party lock. `checked=True` when `check` already ran in this transaction (a new
    receipt checks before its first write); the amounts available are then the source's whole amount.
    `on` is the practice's day the money counts from (default: the day of `at`).
    """
    if not allocations:
        return 0
    if not checked:
        check(session, party_id=source.party_id, available=_available(session, source), allocations=allocations)
    kind = {Receipt: "receipt_id", CreditMemo: "credit_memo_id", WriteOff: "write_off_id"}[type(source)]
    on = on or clock.day_of(at, session)
    # Money cannot reach an invoice before it was first sent: a check received earlier pays it from that day.
    sent = dict(session.execute(sa.select(_inv.c.id, _inv.c.first_sent_on).where(_inv.c.id.in_(list(allocations)))).all())
    session.execute(sa.insert(_alloc), [
        {"invoice_id": i, "receipt_id": None, "credit_memo_id": None, "write_off_id": None, kind: source.id,
         "amount_cents": c, "live": True, "applied_on": max(on, sent.get(i, on)), "created_by": actor,
         "created_at": at}
        for i, c in allocations.items()])
    recompute(session, invoice_ids=allocations, receipt_ids=[source.id] if kind == "receipt_id" else (),
              credit_memo_ids=[source.id] if kind == "credit_memo_id" else ())
    return sum(allocations.values())


def _available(session: Session, source: Source) -> int:
    if isinstance(source, WriteOff):
        return source.amount_cents
    table = _receipt if isinstance(source, Receipt) else _memo
    return int(session.execute(sa.select(unapplied(table)).where(table.c.id == source.id)).scalar_one())


def reverse_receipt(session: Session, *, receipt_id: int, at: datetime, actor: str = "") -> list[tuple[int, int]]:
    """Take back every live allocation of a receipt (a void); returns (invoice id, cents) of what was reversed."""
    live = [(r.invoice_id, r.amount_cents) for r in session.execute(
        sa.select(_alloc.c.invoice_id, _alloc.c.amount_cents)
        .where(_alloc.c.receipt_id == receipt_id, _alloc.c.live == sa.true()).order_by(_alloc.c.id))]
    lock_invoices(session, [i for i, _ in live])
    session.execute(sa.update(_alloc).where(_alloc.c.receipt_id == receipt_id, _alloc.c.live == sa.true())
                    .values(live=False, reversed_at=at, reversed_on=clock.day_of(at, session), reversed_by=actor))
    expire_loaded(session, Allocation)
    recompute(session, invoice_ids=[i for i, _ in live], receipt_ids=[receipt_id])
    return live


def reverse_one(session: Session, *, allocation_id: int, reason: str, actor: str, at: datetime) -> None:
    """Take back one live allocation (an un-apply); its money returns to its source's unapplied."""
    row = session.execute(sa.select(_alloc).where(_alloc.c.id == allocation_id)).one()
    lock_invoices(session, [row.invoice_id])
    session.execute(sa.update(_alloc).where(_alloc.c.id == allocation_id, _alloc.c.live == sa.true()).values(
        live=False, reversed_at=at, reversed_on=clock.day_of(at, session), reversed_by=actor, reverse_reason=reason))
    expire_loaded(session, Allocation, [allocation_id])
    recompute(session, invoice_ids=[row.invoice_id], receipt_ids=[row.receipt_id] if row.receipt_id else (),
              credit_memo_ids=[row.credit_memo_id] if row.credit_memo_id else ())


def _live_sum(column: sa.ColumnElement[bool], source_column: sa.Column | None = None) -> sa.ScalarSelect:
    where = [_alloc.c.live == sa.true()]
    if source_column is not None:
        where.append(source_column.is_not(None))
    return sa.select(sa.func.coalesce(sa.func.sum(_alloc.c.amount_cents), 0)).where(column, *where).scalar_subquery()


def recompute(session: Session, *, invoice_ids: Iterable[int] = (), receipt_ids: Iterable[int] = (),
              credit_memo_ids: Iterable[int] = ()) -> None:
    """Set the stored totals of these invoices, receipts and credit memos to the sums of their live allocations.

    Runs after the locks, so each UPDATE's snapshot includes every allocation committed before them.
    """
    invoice_ids = sorted(set(invoice_ids))
    if invoice_ids:
        refresh_invoices(session, invoice_ids)
    for table, column, refund_column, ids, model in (
            (_receipt, _alloc.c.receipt_id, _refund.c.receipt_id, receipt_ids, Receipt),
            (_memo, _alloc.c.credit_memo_id, _refund.c.credit_memo_id, credit_memo_ids, CreditMemo)):
        ids = sorted(set(ids))
        if ids:
            refunded = sa.select(sa.func.coalesce(sa.func.sum(_refund.c.amount_cents), 0)).where(
                refund_column == table.c.id).scalar_subquery()
            session.execute(sa.update(table).where(table.c.id.in_(ids)).values(
                applied_cents=_live_sum(column == table.c.id), refunded_cents=refunded))
            expire_loaded(session, model, ids)


def refresh_invoices(session: Session, invoice_ids: Iterable[int] | sa.ColumnElement[bool]) -> None:
    """Recompute the stored live totals of invoices from their live allocations, set-based."""
    payments = _live_sum(_alloc.c.invoice_id == _inv.c.id, _alloc.c.receipt_id)
    credits = _live_sum(_alloc.c.invoice_id == _inv.c.id, _alloc.c.credit_memo_id)
    writeoffs = _live_sum(_alloc.c.invoice_id == _inv.c.id, _alloc.c.write_off_id)
    balance = _inv.c.billed_cents - payments - credits - writeoffs
    ids = None if isinstance(invoice_ids, sa.ColumnElement) else list(invoice_ids)
    where = _inv.c.id.in_(ids) if ids is not None else invoice_ids
    assert isinstance(where, sa.ColumnElement)
    session.execute(sa.update(_inv).where(where).values(
        payments_cents=payments, credits_cents=credits, writeoffs_cents=writeoffs, balance_cents=balance,
        paid=sa.case((balance == 0, sa.true()), else_=sa.false()),
    ))
    expire_loaded(session, Invoice, ids)


def by_number(session: Session, allocations: dict[int, int]) -> dict[str, str]:
    """Allocations as an audit record keeps them: invoice number -> amount (a manager never sees an id)."""
    numbers = dict(session.execute(sa.select(_inv.c.id, _inv.c.number).where(_inv.c.id.in_(list(allocations)))).all())
    return {numbers.get(i, f"#{i}"): str(from_cents(c)) for i, c in allocations.items()}


def parse(allocations: dict | None) -> dict[int, int]:
    """Invoice id -> amount as typed, checked and turned into cents; nothing is read or written."""
    parsed: dict[int, int] = {}
    for invoice_id, amount in (allocations or {}).items():
        if isinstance(invoice_id, bool) or not isinstance(invoice_id, int):
            raise InvoiceDeskError(f"Invoice id {invoice_id!r} is not a number.")
        cents = to_cents(parse_money(amount, field="An allocation's amount"))
        parsed[invoice_id] = cents
    return parsed


def locked_source(session: Session, model, source_id, what: str):
    """Find a receipt or credit memo, lock its party (domain rule 15), then read it again as it is now."""
    found = get_record(session, model, source_id)
    if found is None:
        raise NotFoundError(f"There is no {what} with id {source_id!r}.")
    locking.lock_parties(session, [found.party_id])
    return session.execute(sa.select(model).where(model.id == found.id)
                           .execution_options(populate_existing=True)).scalar_one()


def allocate_unapplied(session: Session, *, source: Receipt | CreditMemo, number: str, entity: str,
                        allocations: dict[int, int], actor: str, as_of: datetime | None, key: str | None):
    """Allocate what a receipt or a credit memo has left to open invoices of its party (its party is locked)."""
    if not allocations:
        raise InvoiceDeskError("Enter at least one invoice and amount to allocate.")
    at = as_of or clock.now()
    apply(session, source=source, allocations=allocations, actor=actor, at=at)
    session.refresh(source)
    requests.remember(session, key, f"{entity}.allocate", [source.id], {"source": source.id, "allocations": allocations},
                      actor=actor, at=at)
    audit.record(session, actor=actor, action=f"{entity}.allocate", entity=entity, ids=[source.id], at=at,
                 detail={"number": number, "allocations": by_number(session, allocations)})
    return source
