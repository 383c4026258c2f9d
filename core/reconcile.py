"""Do the books agree? One call checks, set-based, what a billing office's month-end checks by hand.

- Per party, as of the day: the open balance from the invoices (their stored totals, when the day is today),
  from the ledger of documents (party_ledger's running balance plus the unapplied money) and from the aging
  (the as-of balances in buckets) agree to the cent.
- Every invoice's stored billed, payments, credits, write-offs, balance and paid flag follow from its lines and
  live allocations.
- No encounter is on two live invoices.
- No number series has a gap or a number used twice (batches, invoices, receipts, credit memos, write-offs,
  refunds, and the printed numbers of every sending).
- Every receipt and credit memo: applied + unapplied + refunded = its amount, its stored applied and refunded
  amounts are the sums of its allocations and refunds, and a voided receipt has nothing applied.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from sqlmodel import Session

from core import as_of as as_of_sql
from core import clock
from core.accounts import aging_basis
from core.dates import to_date
from core.db import guarded
from core.models import (
    Allocation,
    BatchItem,
    CreditMemo,
    Encounter,
    Invoice,
    InvoiceLine,
    NumberSequence,
    Party,
    Receipt,
    Refund,
    WriteOff,
)
from core.money import format_money, from_cents
from core.numbering import SERIES, credit_memo_number, receipt_number, refund_number, write_off_number
from core.party_ledger import ledger_balances

_SERIES_NAMES: dict[str, tuple[str, Callable[[int], str]]] = {
                 "batch": ("batch", str), "invoice": ("invoice", lambda n: f"#{n}"),
                 "receipt": ("receipt", receipt_number), "credit_memo": ("credit memo", credit_memo_number),
                 "write_off": ("write-off", write_off_number), "refund": ("refund", refund_number)}
_SHOWN = 20  # problems of one kind listed by name; the rest counted


@dataclass(frozen=True)
class Reconciliation:
    ok: bool
    problems: list[str]
    checked: dict[str, int]
    as_of: date | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        """One line a manager reads first: "All reconciled: 48 parties, ..." or how many problems."""
        counts = ", ".join(f"{n:,} {what}" for what, n in self.checked.items())
        if self.ok:
            return f"All reconciled as of {self.as_of}: {counts}."
        return f"{len(self.problems)} problem{'s' if len(self.problems) != 1 else ''} found as of {self.as_of} ({counts})."


def _money(cents: int) -> str:
    return format_money(from_cents(cents))


def _listed(problems: list[str], found: list[str]) -> None:
    problems.extend(found[:_SHOWN])
    if len(found) > _SHOWN:
        problems.append(f"... and {len(found) - _SHOWN} more like these.")


def _parties(session: Session, day: date, today: date, problems: list[str]) -> int:
    balances = as_of_sql.invoice_balances(day).subquery()
    basis = aging_basis(session)
    # The aging's way, in SQL as the aging report sums it: each open balance into its bucket, the buckets added up.
    terms = as_of_sql.aging_terms(balances.c.first_sent_on, balances.c.due_on, day, basis)
    sums = [sa.func.coalesce(sa.func.sum(balances.c.balance).filter(term), 0) for term in terms.values()]
    from_aging = {row[0]: sum(int(c) for c in row[1:]) for row in session.execute(
        sa.select(balances.c.party_id, *sums).where(balances.c.balance > 0).group_by(balances.c.party_id))}
    unapplied: dict[int, int] = defaultdict(int)
    for q in (as_of_sql.receipts(day).subquery(), as_of_sql.credit_memos(day).subquery()):
        for pid, cents in session.execute(sa.select(q.c.party_id, sa.func.sum(q.c.unapplied)).group_by(q.c.party_id)):
            unapplied[pid] += int(cents or 0)
    from_ledger = {pid: cents + unapplied.get(pid, 0) for pid, cents in ledger_balances(session, day).items()}
    for pid, cents in unapplied.items():
        from_ledger.setdefault(pid, cents)
    inv = Invoice.__table__
    from_invoices: dict[int, int] | None = None
    if day >= today:
        from_invoices = {pid: int(c) for pid, c in session.execute(
            sa.select(inv.c.party_id, sa.func.sum(inv.c.balance_cents)).where(inv.c.paid == sa.false())
            .group_by(inv.c.party_id))}
    parties = set(from_aging) | set(from_ledger) | set(from_invoices or {})
    codes = dict(session.execute(sa.select(Party.__table__.c.id, Party.__table__.c.account_code)
                                 .where(Party.__table__.c.id.in_(list(parties)))).all()) if parties else {}
    found = []
    for pid in sorted(parties, key=lambda p: codes.get(p, "")):
        aging, ledger = from_aging.get(pid, 0), from_ledger.get(pid, 0)
        stored = (from_invoices or {}).get(pid, 0) if from_invoices is not None else aging
        if not aging == ledger == stored:
            said = f"from invoices {_money(stored)}, " if from_invoices is not None else ""
            found.append(f"Party {codes.get(pid, pid)}: open balance {said}from the ledger of documents "
                         f"{_money(ledger)}, from the aging {_money(aging)}.")
    _listed(problems, found)
    return len(parties)


def _invoices(session: Session, problems: list[str]) -> int:
    inv, a, il = Invoice.__table__, Allocation.__table__, InvoiceLine.__table__

    def by_source(column: sa.Column) -> sa.ColumnElement:
        return sa.func.sum(sa.case((column.is_not(None), a.c.amount_cents), else_=0))

    # One pass over the lines and one over the live allocations, grouped by invoice (not a subquery per invoice).
    billed = sa.select(il.c.invoice_id, sa.func.sum(il.c.amount_cents).label("cents")).group_by(il.c.invoice_id) \
        .subquery()
    allocated = (sa.select(a.c.invoice_id, by_source(a.c.receipt_id).label("p"), by_source(a.c.credit_memo_id).label("c"),
                           by_source(a.c.write_off_id).label("w"))
                 .where(a.c.live == sa.true()).group_by(a.c.invoice_id).subquery())
    lines = sa.func.coalesce(billed.c.cents, 0)
    p, c, w = (sa.func.coalesce(allocated.c.p, 0), sa.func.coalesce(allocated.c.c, 0),
               sa.func.coalesce(allocated.c.w, 0))
    q = (sa.select(inv.c.number, inv.c.billed_cents, inv.c.payments_cents, inv.c.credits_cents, inv.c.writeoffs_cents,
                   inv.c.balance_cents, inv.c.paid, lines.label("lines"), p.label("p"), c.label("c"), w.label("w"))
         .select_from(inv).outerjoin(billed, billed.c.invoice_id == inv.c.id)
         .outerjoin(allocated, allocated.c.invoice_id == inv.c.id))
    bad = sa.or_(inv.c.billed_cents != lines, inv.c.payments_cents != p, inv.c.credits_cents != c,
                 inv.c.writeoffs_cents != w, inv.c.balance_cents != lines - p - c - w, inv.c.balance_cents < 0,
                 inv.c.paid != (inv.c.balance_cents == 0))
    found = []
    for x in session.execute(q.where(bad).order_by(inv.c.seq)):
        said = [f"{name} {_money(stored)} stored, {_money(real)} from its {source}"
                for name, stored, real, source in (("billed", x.billed_cents, x.lines, "lines"),
                                                   ("payments", x.payments_cents, x.p, "allocations"),
                                                   ("credits", x.credits_cents, x.c, "allocations"),
                                                   ("write-offs", x.writeoffs_cents, x.w, "write-offs"),
                                                   ("balance", x.balance_cents, x.lines - x.p - x.c - x.w, "ledger"))
                if stored != real]
        if x.balance_cents < 0:
            said.append(f"balance {_money(x.balance_cents)} is below zero")
        if x.paid != (x.balance_cents == 0):
            said.append("marked paid with a balance" if x.paid else "not marked paid with nothing left to pay")
        found.append(f"Invoice {x.number}: {'; '.join(said)}.")
    _listed(problems, found)
    return int(session.execute(sa.select(sa.func.count()).select_from(inv)).scalar_one())


def _encounters(session: Session, problems: list[str]) -> int:
    il, inv, e = InvoiceLine.__table__, Invoice.__table__, Encounter.__table__
    twice = (sa.select(il.c.encounter_id).where(il.c.live == sa.true()).group_by(il.c.encounter_id)
             .having(sa.func.count() > 1))
    rows = session.execute(sa.select(e.c.number, inv.c.number).join(il, il.c.encounter_id == e.c.id)
                           .join(inv, inv.c.id == il.c.invoice_id)
                           .where(il.c.live == sa.true(), il.c.encounter_id.in_(twice)).order_by(e.c.number, inv.c.seq))
    on: dict[str, list[str]] = defaultdict(list)
    for encounter, invoice in rows:
        on[encounter].append(invoice)
    _listed(problems, [f"Encounter {enc} is on {len(invs)} live invoices: {', '.join(invs)}." for enc, invs in on.items()])
    return int(session.execute(sa.select(sa.func.count(sa.distinct(il.c.encounter_id)))).scalar_one())


def _numbers(session: Session, problems: list[str]) -> int:
    last = dict(session.execute(sa.select(NumberSequence.__table__.c.name, NumberSequence.__table__.c.last_value)).all())
    found = []
    for series, column in SERIES.items():
        what, shown = _SERIES_NAMES[series]
        count, distinct, low, top_used = session.execute(sa.select(
            sa.func.count(column), sa.func.count(sa.distinct(column)), sa.func.min(column), sa.func.max(column))).one()
        top = max(int(last.get(series, 0)), int(top_used or 0))
        if count == distinct == top and (count == 0 or low == 1):  # 1 to top, each once: no gap, none twice
            continue
        used = sorted(int(n) for n in session.execute(sa.select(column)).scalars())
        twice = sorted({n for n, m in zip(used, used[1:], strict=False) if n == m})
        missing = sorted(set(range(1, top + 1)) - set(used))
        if twice:
            found.append(f"Numbers used twice in the {what} series: {', '.join(shown(n) for n in twice[:10])}.")
        if missing:
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            found.append(f"A gap in the {what} series: {', '.join(shown(n) for n in missing[:10])}{more} "
                         "handed out but not in use.")
    bi = BatchItem.__table__
    for number, count in session.execute(sa.select(bi.c.invoice_number, sa.func.count()).group_by(bi.c.invoice_number)
                                         .having(sa.func.count() > 1)):
        found.append(f"Printed invoice number {number} was sent {count} times.")
    suffixes = session.execute(
        sa.select(Invoice.__table__.c.number).join(bi, bi.c.invoice_id == Invoice.__table__.c.id)
        .group_by(Invoice.__table__.c.id, Invoice.__table__.c.number, Invoice.__table__.c.times_batched)
        .having(sa.or_(sa.func.count() != Invoice.__table__.c.times_batched,
                       sa.func.max(bi.c.times_batched) != Invoice.__table__.c.times_batched))).scalars().all()
    found.extend(f"Invoice {n}: its sendings are not numbered 1 to {n}'s count without a gap." for n in suffixes)
    _listed(problems, found)
    return len(SERIES) + 1


def _sources(session: Session, problems: list[str]) -> tuple[int, int]:
    a, f = Allocation.__table__, Refund.__table__
    counts = []
    found = []
    for table, column, refund_column, name in ((Receipt.__table__, a.c.receipt_id, f.c.receipt_id, receipt_number),
                                               (CreditMemo.__table__, a.c.credit_memo_id, f.c.credit_memo_id,
                                                credit_memo_number)):
        # Grouped once each and joined (not a subquery per receipt or memo).
        applied_by = (sa.select(column.label("owner"), sa.func.sum(a.c.amount_cents).label("cents"))
                      .where(column.is_not(None), a.c.live == sa.true()).group_by(column).subquery())
        refunded_by = (sa.select(refund_column.label("owner"), sa.func.sum(f.c.amount_cents).label("cents"))
                       .where(refund_column.is_not(None)).group_by(refund_column).subquery())
        applied = sa.func.coalesce(applied_by.c.cents, 0)
        refunded = sa.func.coalesce(refunded_by.c.cents, 0)
        voided = table.c.voided if "voided" in table.c else sa.false()
        unapplied = sa.case((voided == sa.true(), 0), else_=table.c.amount_cents - applied - refunded)
        party = Party.__table__
        q = (sa.select(table.c.number, table.c.amount_cents, table.c.applied_cents, table.c.refunded_cents,
                       applied.label("applied"), refunded.label("refunded"), unapplied.label("unapplied"),
                       voided.label("voided"), party.c.account_code).join(party, party.c.id == table.c.party_id)
             .outerjoin(applied_by, applied_by.c.owner == table.c.id)
             .outerjoin(refunded_by, refunded_by.c.owner == table.c.id))
        bad = sa.or_(table.c.applied_cents != applied, table.c.refunded_cents != refunded, unapplied < 0,
                     sa.and_(voided == sa.true(), applied != 0))
        for x in session.execute(q.where(bad).order_by(table.c.number)):
            said = []
            if x.applied_cents != x.applied or x.refunded_cents != x.refunded:
                said.append(f"applied {_money(x.applied_cents)} and refunded {_money(x.refunded_cents)} stored, "
                            f"{_money(x.applied)} and {_money(x.refunded)} from its allocations and refunds")
            if x.voided and x.applied:
                said.append(f"voided with {_money(x.applied)} still applied")
            if x.unapplied < 0:
                said.append(f"applied {_money(x.applied)} + refunded {_money(x.refunded)} is more than its amount "
                            f"{_money(x.amount_cents)}")
            found.append(f"{'Receipt' if name is receipt_number else 'Credit memo'} {name(x.number)} of party "
                         f"{x.account_code}: {'; '.join(said)}.")
        counts.append(int(session.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()))
    _listed(problems, found)
    return counts[0], counts[1]


@guarded
def reconcile(session: Session, *, as_of: date | None = None) -> Reconciliation:
    """Check that the books agree (see the module's list); names every record that does not."""
    today = clock.today(session)
    day = to_date(as_of, "As of") or today
    problems: list[str] = []
    checked: dict[str, int] = {}
    checked["parties"] = _parties(session, day, today, problems)
    checked["invoices"] = _invoices(session, problems)
    checked["encounters invoiced"] = _encounters(session, problems)
    checked["receipts"], checked["credit memos"] = _sources(session, problems)
    for name, model in (("write-offs", WriteOff), ("refunds", Refund)):
        checked[name] = int(session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one())
    checked["number series"] = _numbers(session, problems)
    notes = [] if day >= today else [
        "Balances are as of the day; the stored totals checked are today's (they are the books now)."]
    return Reconciliation(ok=not problems, problems=problems, checked=checked, as_of=day, notes=notes)
