"""Figures and chart data for the dashboards and the notebooks: each report is a few set-based SQL aggregates (no
Python loop over invoices or receipts), as of a day, for the whole practice, one employer group or one party."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session

from core import as_of as as_of_sql
from core import clock
from core.accounts import aging_basis
from core.allocations import unapplied_total
from core.dates import to_date
from core.db import guarded
from core.errors import InvoiceDeskError
from core.models import Allocation, Batch, BatchItem, Group, Invoice, Party, Receipt
from core.money import from_cents
from core.numbering import credit_memo_number, receipt_number


@dataclass(frozen=True)
class Headline:
    open_invoices: int
    open_balance: Decimal
    overdue_invoices: int
    overdue_balance: Decimal
    paid_last_30_days: Decimal
    unapplied: Decimal
    last_batch_number: int | None
    last_batch_at: datetime | None
    batches_last_24_hours: int
    batches_last_7_days: int
    as_of: date | None = None


@guarded
def headline(session: Session, *, now: datetime | None = None, as_of: date | None = None) -> Headline:
    """The dashboard's figures now, or as they stood at the end of a past day (`as_of`)."""
    if now is not None and now.tzinfo is None:
        raise InvoiceDeskError("The moment for the headline figures must carry its time zone (stored moments are UTC).")
    day = to_date(as_of, "As of")
    if day is not None:
        return _headline_as_of(session, day)
    now = now or clock.now()
    today = clock.day_of(now, session)
    inv, r, b = Invoice.__table__, Receipt.__table__, Batch.__table__
    open_count, open_cents = session.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(
        inv.c.balance_cents), 0)).where(inv.c.paid == sa.false())).one()
    overdue_count, overdue_cents = session.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(
        inv.c.balance_cents), 0)).where(inv.c.paid == sa.false(), inv.c.due_on < today)).one()
    paid = session.execute(sa.select(sa.func.coalesce(sa.func.sum(r.c.amount_cents), 0)).where(
        r.c.voided == sa.false(), r.c.received_date > today - timedelta(days=30))).scalar_one()
    unapplied = sum(unapplied_total(session))
    last = session.execute(sa.select(b.c.number, b.c.created_at).order_by(b.c.created_at.desc(), b.c.id.desc())
                           .limit(1)).first()
    day = session.execute(sa.select(sa.func.count()).where(b.c.created_at >= now - timedelta(hours=24))).scalar_one()
    week = session.execute(sa.select(sa.func.count()).where(b.c.created_at >= now - timedelta(days=7))).scalar_one()
    return Headline(open_count, from_cents(open_cents), overdue_count, from_cents(overdue_cents), from_cents(paid),
                    from_cents(unapplied), last.number if last else None, last.created_at if last else None, day,
                    week, as_of=today)


def _headline_as_of(session: Session, day: date) -> Headline:
    """The headline as of the end of a day, from the ledger's days (core.as_of); batches counted up to its end."""
    stored = as_of_sql.stored_is_as_of(session, day)
    balances = as_of_sql.invoice_balances(day, stored=stored).subquery()
    open_ = balances.c.balance > 0
    open_count, open_cents, overdue_count, overdue_cents = session.execute(sa.select(
        sa.func.count().filter(open_), sa.func.coalesce(sa.func.sum(balances.c.balance).filter(open_), 0),
        sa.func.count().filter(open_, balances.c.due_on < day),
        sa.func.coalesce(sa.func.sum(balances.c.balance).filter(open_, balances.c.due_on < day), 0))).one()
    receipts = as_of_sql.receipts(day, stored=stored).subquery()
    memos = as_of_sql.credit_memos(day, stored=stored).subquery()
    paid = session.execute(sa.select(sa.func.coalesce(sa.func.sum(receipts.c.amount), 0)).where(
        receipts.c.received_date > day - timedelta(days=30))).scalar_one()
    unapplied = (session.execute(sa.select(sa.func.coalesce(sa.func.sum(receipts.c.unapplied), 0))).scalar_one()
                 + session.execute(sa.select(sa.func.coalesce(sa.func.sum(memos.c.unapplied), 0))).scalar_one())
    b = Batch.__table__
    end = clock.day_after_start(day, session)
    last = session.execute(sa.select(b.c.number, b.c.created_at).where(b.c.created_at < end)
                           .order_by(b.c.created_at.desc(), b.c.id.desc()).limit(1)).first()
    counted = [session.execute(sa.select(sa.func.count()).where(b.c.created_at < end,
                                                                b.c.created_at >= end - span)).scalar_one()
               for span in (timedelta(hours=24), timedelta(days=7))]
    return Headline(open_count, from_cents(open_cents), overdue_count, from_cents(overdue_cents), from_cents(paid),
                    from_cents(unapplied), last.number if last else None, last.created_at if last else None,
                    counted[0], counted[1], as_of=day)


@dataclass(frozen=True)
class MonthFigures:
    """Invoices first sent in one month, as they stood at the end of the report's day."""

    month: date
    invoices: int
    billed: Decimal
    paid_or_credited: Decimal
    open: Decimal
    open_invoices: int = 0
    settled_invoices: int = 0
    # Everything still open at the end of the month (or of the report's day, for its own month), whenever sent:
    # the line over the bars.
    open_balance: Decimal = Decimal("0.00")


def _window(session: Session, months: int, today: date | None, date_from: date | None) -> tuple[int, int, date]:
    """The report's months as indexes (first, last) and its day: `months` back from the day's month, or from the
    month of `date_from`."""
    day = to_date(today, "Today") or clock.today(session)
    first_day = to_date(date_from, "From")
    last = as_of_sql.index_of_month(day)
    if first_day is not None:
        if first_day > day:
            raise InvoiceDeskError(f"The months shown must start on or before {day}, not {first_day}.")
        first = as_of_sql.index_of_month(first_day)
        if last - first + 1 > 120:
            raise InvoiceDeskError("Show at most 120 months (10 years) at once.")
        return first, last, day
    if not 1 <= months <= 120:
        raise InvoiceDeskError(f"Show from 1 to 120 months, not {months}.")
    return last - months + 1, last, day


def _clamped_month(column: sa.ColumnElement, first: int) -> sa.ColumnElement[int]:
    """The month index of a date, with every month before the window counted as the month just before it."""
    index = as_of_sql.month_index(column)
    return sa.case((index < first, first - 1), else_=index)


@guarded
def invoices_by_month(session: Session, *, months: int = 12, party_id: int | None = None,
                      group_id: int | None = None, today: date | None = None,
                      date_from: date | None = None) -> list[MonthFigures]:
    """Invoices by the month they were first sent: how many, what was billed, what is settled (paid, credited or
    written off) and what was still open at the end of `today` (a past day gives the figures as they stood then),
    with the whole open balance at each month's end."""
    first, last, day = _window(session, months, today, date_from)
    balances = as_of_sql.invoice_balances(day, party_id=party_id, group_id=group_id,
                                          stored=as_of_sql.stored_is_as_of(session, day)).subquery()
    month = as_of_sql.month_index(balances.c.first_sent_on).label("month")
    is_open = balances.c.balance > 0
    sent = {row.month: row for row in session.execute(
        sa.select(month, sa.func.count().label("invoices"), sa.func.sum(balances.c.billed).label("billed"),
                  sa.func.sum(balances.c.balance).label("balance"),
                  sa.func.count().filter(is_open).label("open_invoices"))
        .where(balances.c.first_sent_on >= as_of_sql.month_of_index(first)).group_by(month))}
    # The open balance at each month's end: billed minus what was allocated, plus what was taken back, up to then
    # (events before the window are summed into the month before it).
    inv, a = Invoice.__table__, Allocation.__table__
    mine = as_of_sql.of_parties(inv.c.party_id, party_id, group_id)
    billed_month = _clamped_month(inv.c.first_sent_on, first).label("month")
    applied_month = _clamped_month(a.c.applied_on, first).label("month")
    reversed_month = _clamped_month(a.c.reversed_on, first).label("month")
    applied = sa.select(applied_month, (-a.c.amount_cents).label("cents")).where(a.c.applied_on <= day)
    taken_back = sa.select(reversed_month, a.c.amount_cents.label("cents")).where(a.c.reversed_on <= day)
    if mine:  # the invoices' parties only when a party or group is asked for
        applied = applied.join(inv, inv.c.id == a.c.invoice_id).where(*mine)
        taken_back = taken_back.join(inv, inv.c.id == a.c.invoice_id).where(*mine)
    events = sa.union_all(
        sa.select(billed_month, inv.c.billed_cents.label("cents")).where(inv.c.first_sent_on <= day, *mine),
        applied, taken_back).subquery()
    change = dict(session.execute(sa.select(events.c.month, sa.func.sum(events.c.cents))
                                  .group_by(events.c.month)).all())
    running = change.get(first - 1, 0)
    result = []
    for index in range(first, last + 1):  # one step per month shown, never per row
        running += change.get(index, 0)
        row = sent.get(index)
        billed, balance = (row.billed, row.balance) if row else (0, 0)
        result.append(MonthFigures(as_of_sql.month_of_index(index), row.invoices if row else 0, from_cents(billed),
                                   from_cents(billed - balance), from_cents(balance),
                                   row.open_invoices if row else 0, row.invoices - row.open_invoices if row else 0,
                                   from_cents(running)))
    return result


@dataclass(frozen=True)
class AgingRow:
    """One line of an aging report: the whole practice, a group or a party."""

    key: int | None
    name: str
    account_code: str
    buckets: dict[str, Decimal]
    total: Decimal
    invoices: int
    oldest_sent_on: date | None


AGING_BY = ("total", "group", "party")


@guarded
def aging_report(session: Session, *, by: str = "party", as_of: date | None = None, party_id: int | None = None,
                 group_id: int | None = None, limit: int | None = None) -> list[AgingRow]:
    """The open balance by age as of a day, in the buckets of the profile's aging basis, for the whole practice
    (`by="total"`, one row), per employer group (`"group"`; parties in none are "No group") or per party
    (`"party"`); largest balance first, so `limit=10` gives the top ten debtors."""
    if by not in AGING_BY:
        raise InvoiceDeskError(f"Aging by {by!r} is not offered: choose total, group or party.")
    if limit is not None and not 1 <= limit <= 10_000:
        raise InvoiceDeskError(f"Show from 1 to 10,000 rows, not {limit}.")
    day = to_date(as_of, "As of") or clock.today(session)
    basis = aging_basis(session)
    names = as_of_sql.buckets(basis)
    balances = as_of_sql.invoice_balances(day, party_id=party_id, group_id=group_id, open_only=True,
                                          stored=as_of_sql.stored_is_as_of(session, day)).subquery()
    p, g = Party.__table__, Group.__table__
    terms = as_of_sql.aging_terms(balances.c.first_sent_on, balances.c.due_on, day, basis)
    sums = [sa.func.coalesce(sa.func.sum(balances.c.balance).filter(terms[name]), 0) for name in names]
    total = sa.func.sum(balances.c.balance)
    columns = [*sums, total.label("total"), sa.func.count().label("invoices"),
               sa.func.min(balances.c.first_sent_on).label("oldest")]
    if by == "total":
        q = sa.select(sa.null(), sa.literal("All parties"), sa.literal(""), *columns).select_from(balances)
    elif by == "group":
        name = sa.func.coalesce(g.c.name, "No group")
        q = (sa.select(g.c.id, name, sa.literal(""), *columns).select_from(balances)
             .join(p, p.c.id == balances.c.party_id).outerjoin(g, g.c.id == p.c.group_id).group_by(g.c.id, g.c.name)
             .order_by(total.desc(), name))
    else:
        q = (sa.select(p.c.id, p.c.name, p.c.account_code, *columns).select_from(balances)
             .join(p, p.c.id == balances.c.party_id).group_by(p.c.id, p.c.name, p.c.account_code)
             .order_by(total.desc(), p.c.name, p.c.id))
    q = q.where(balances.c.balance > 0)
    if limit is not None:
        q = q.limit(limit)
    rows = session.execute(q).all()
    if by == "total" and not rows[0].invoices:
        return [AgingRow(None, "All parties", "", dict.fromkeys(names, Decimal("0.00")), Decimal("0.00"), 0, None)]
    return [AgingRow(row[0], row[1], row[2], {name: from_cents(row[3 + n]) for n, name in enumerate(names)},
                     from_cents(row.total), row.invoices, row.oldest) for row in rows]


@guarded
def open_aging(session: Session, *, party_id: int | None = None, today: date | None = None,
               as_of: date | None = None, group_id: int | None = None) -> dict[str, Decimal]:
    """The open balance by age as of a day (`as_of`, or `today` as the first release named it), in the buckets of
    the profile's aging basis (core.aging_basis: by date first sent or by due date)."""
    day = to_date(as_of, "As of") or to_date(today, "Today")
    return aging_report(session, by="total", as_of=day, party_id=party_id, group_id=group_id)[0].buckets


@dataclass(frozen=True)
class CollectionMonth:
    """Receipts received in one month: how much, and how much of it was applied, refunded or still unapplied at
    the end of the report's day (voided receipts left out)."""

    month: date
    receipts: int
    received: Decimal
    applied: Decimal
    refunded: Decimal
    unapplied: Decimal


@guarded
def collections_by_month(session: Session, *, months: int = 12, party_id: int | None = None,
                         group_id: int | None = None, today: date | None = None,
                         date_from: date | None = None) -> list[CollectionMonth]:
    """Money received by month, split into what is applied to invoices, refunded and still unapplied."""
    first, last, day = _window(session, months, today, date_from)
    receipts = as_of_sql.receipts(day, party_id=party_id, group_id=group_id,
                                  stored=as_of_sql.stored_is_as_of(session, day)).subquery()
    month = as_of_sql.month_index(receipts.c.received_date).label("month")
    rows = {row.month: row for row in session.execute(
        sa.select(month, sa.func.count().label("n"), sa.func.sum(receipts.c.amount).label("amount"),
                  sa.func.sum(receipts.c.applied).label("applied"), sa.func.sum(receipts.c.refunded).label("refunded"),
                  sa.func.sum(receipts.c.unapplied).label("unapplied"))
        .where(receipts.c.received_date >= as_of_sql.month_of_index(first)).group_by(month))}
    zero = Decimal("0.00")
    return [CollectionMonth(as_of_sql.month_of_index(i), rows[i].n, from_cents(rows[i].amount),
                            from_cents(rows[i].applied), from_cents(rows[i].refunded), from_cents(rows[i].unapplied))
            if i in rows else CollectionMonth(as_of_sql.month_of_index(i), 0, zero, zero, zero, zero)
            for i in range(first, last + 1)]


DAYS_TO_PAY_BUCKETS = ("0-15", "16-30", "31-45", "46-60", "61-90", "over 90")


@dataclass(frozen=True)
class PartyDaysToPay:
    party_id: int
    account_code: str
    name: str
    invoices: int
    average_days: Decimal
    longest_days: int


@dataclass(frozen=True)
class MonthDaysToPay:
    month: date
    invoices: int
    average_days: Decimal | None


@dataclass(frozen=True)
class DaysToPay:
    """How long invoices paid in the report's months took, from first sending to the receipt that paid them off:
    the spread (invoices per bucket of days), the trend (average by month paid) and each party's average."""

    invoices: int
    average_days: Decimal | None
    distribution: dict[str, int]
    by_month: list[MonthDaysToPay]
    by_party: list[PartyDaysToPay]


def _average(total: int, count: int) -> Decimal | None:
    return (Decimal(total) / Decimal(count)).quantize(Decimal("0.1")) if count else None


@guarded
def days_to_pay(session: Session, *, months: int = 12, party_id: int | None = None, group_id: int | None = None,
                today: date | None = None, date_from: date | None = None) -> DaysToPay:
    """Days to pay for the invoices paid off (by receipts) in the report's months, as of its day."""
    first, last, day = _window(session, months, today, date_from)
    paid = as_of_sql.paid_invoices(day, party_id=party_id, group_id=group_id,
                                   stored=as_of_sql.stored_is_as_of(session, day)).subquery()
    in_window = paid.c.paid_on >= as_of_sql.month_of_index(first)
    bucket = sa.case(*[(paid.c.days <= limit, name) for limit, name in
                       zip((15, 30, 45, 60, 90), DAYS_TO_PAY_BUCKETS, strict=False)],
                     else_=DAYS_TO_PAY_BUCKETS[-1]).label("bucket")
    month = as_of_sql.month_index(paid.c.paid_on).label("month")
    # One pass over the paid invoices, grouped by party, month and bucket (a few hundred rows at most); the
    # spread, the trend and each party's figures are added up from those groups.
    groups = session.execute(
        sa.select(paid.c.party_id, month, bucket, sa.func.count().label("n"), sa.func.sum(paid.c.days).label("days"),
                  sa.func.max(paid.c.days).label("longest"))
        .where(in_window).group_by(paid.c.party_id, month, bucket)).all()
    distribution = dict.fromkeys(DAYS_TO_PAY_BUCKETS, 0)
    trend: dict[int, list[int]] = {}
    parties: dict[int, list[int]] = {}
    for g in groups:
        distribution[g.bucket] += g.n
        t = trend.setdefault(g.month, [0, 0])
        t[0] += g.n
        t[1] += int(g.days)
        q = parties.setdefault(g.party_id, [0, 0, 0])
        q[0] += g.n
        q[1] += int(g.days)
        q[2] = max(q[2], int(g.longest))
    by_month = [MonthDaysToPay(as_of_sql.month_of_index(i), trend[i][0] if i in trend else 0,
                               _average(trend[i][1], trend[i][0]) if i in trend else None)
                for i in range(first, last + 1)]
    p = Party.__table__
    names = {row.id: row for row in session.execute(
        sa.select(p.c.id, p.c.account_code, p.c.name).where(p.c.id.in_(list(parties))))} if parties else {}
    by_party = [PartyDaysToPay(pid, names[pid].account_code, names[pid].name, n, _average(days, n) or Decimal(0),
                               longest)
                for pid, (n, days, longest) in parties.items()]
    # Slowest payers first (the average as SQL compared it: days over invoices), then by name.
    by_party.sort(key=lambda r: (-Decimal(parties[r.party_id][1]) / r.invoices, r.name))
    count = sum(m.invoices for m in by_month)
    return DaysToPay(count, _average(sum(t[1] for t in trend.values()), count), distribution, by_month, by_party)


@dataclass(frozen=True)
class RebatchEffectRow:
    """Sendings of invoices (grouped by the month sent or by which sending it was: 1 = first, 2 = the "-2"
    resend ...): what was outstanding when sent, and how much of it was paid in the 30 days after."""

    month: date | None
    sending: int | None
    items: int
    outstanding: Decimal
    paid_within_30_days: Decimal
    still_counting: int  # sendings less than 30 days before the report's day: their window is not over yet

    @property
    def share_paid(self) -> Decimal | None:
        """The part of the outstanding paid within 30 days, 0 to 1."""
        return (self.paid_within_30_days / self.outstanding).quantize(Decimal("0.001")) if self.outstanding else None


REBATCH_BY = ("month", "sending")


def _effect_groups(session: Session, first: int, day: date, party_id: int | None,
                   group_id: int | None) -> dict[tuple[int, int], tuple[int, int, int, int]]:
    """Every sending in the window with something outstanding, grouped by (month, sending 1-4): how many, what was
    outstanding, what receipts paid of it in its 30 days (capped at it), and how many are still counting."""
    bi, b, a = BatchItem.__table__, Batch.__table__, Allocation.__table__
    chosen = [bi.c.sent_on >= as_of_sql.month_of_index(first), bi.c.sent_on <= day, bi.c.balance_cents > 0,
              *as_of_sql.of_parties(bi.c.party_id, party_id, group_id)]
    # What receipts paid on each sending's invoice in its 30 days: one join grouped by sending (not a subquery per
    # sending, issue 16).
    paid_after = (sa.select(bi.c.id.label("item"), sa.func.sum(a.c.amount_cents).label("cents"))
                  .select_from(bi).join(b, b.c.id == bi.c.batch_id)
                  .join(a, sa.and_(a.c.invoice_id == bi.c.invoice_id, a.c.receipt_id.is_not(None),
                                   a.c.created_at > b.c.created_at,
                                   as_of_sql.days_between(a.c.applied_on, bi.c.sent_on) <= 30, as_of_sql.live_on(day)))
                  .where(*chosen).group_by(bi.c.id).subquery())
    paid = sa.func.coalesce(paid_after.c.cents, 0)
    sending = sa.case((bi.c.times_batched >= 4, 4), else_=bi.c.times_batched)
    items = (sa.select(as_of_sql.month_index(bi.c.sent_on).label("month"), sending.label("sending"),
                       bi.c.balance_cents.label("outstanding"),
                       sa.case((paid > bi.c.balance_cents, bi.c.balance_cents), else_=paid).label("paid"),
                       sa.case((as_of_sql.days_between(sa.literal(day, sa.Date), bi.c.sent_on) < 30, 1),
                               else_=0).label("counting"))
             .select_from(bi).outerjoin(paid_after, paid_after.c.item == bi.c.id)
             .where(*chosen)
             .subquery())
    return {(r.month, r.sending): (r.n, int(r.outstanding), int(r.paid), int(r.counting)) for r in session.execute(
        sa.select(items.c.month, items.c.sending, sa.func.count().label("n"),
                  sa.func.sum(items.c.outstanding).label("outstanding"), sa.func.sum(items.c.paid).label("paid"),
                  sa.func.sum(items.c.counting).label("counting"))
        .group_by(items.c.month, items.c.sending))}


def _effect_rows(groups: dict[tuple[int, int], tuple[int, int, int, int]], by: str,
                 first: int, last: int) -> list[RebatchEffectRow]:
    totals: dict[int, list[int]] = {}
    for (month, sending), figures in groups.items():
        if by == "month" and sending < 2:
            continue  # by month counts resends only
        t = totals.setdefault(month if by == "month" else sending, [0, 0, 0, 0])
        for n, value in enumerate(figures):
            t[n] += value
    keys = range(first, last + 1) if by == "month" else range(1, 5)
    rows = []
    for k in keys:
        n, outstanding, paid, counting = totals.get(k, (0, 0, 0, 0))
        rows.append(RebatchEffectRow(as_of_sql.month_of_index(k) if by == "month" else None,
                                     k if by == "sending" else None, n, from_cents(outstanding), from_cents(paid),
                                     counting))
    return rows


@guarded
def rebatch_effect(session: Session, *, by: str = "month", months: int = 12, party_id: int | None = None,
                   group_id: int | None = None, today: date | None = None,
                   date_from: date | None = None) -> list[RebatchEffectRow]:
    """The effect of rebatching: for each resend (a "-2", "-3" ... item) in the report's months, what was outstanding
    when it went out and how much of that was paid by receipts allocated in the 30 days after (capped at what was
    outstanding; payments already on the invoice when it was sent are not counted). `by="month"` groups resends
    by the month sent; `by="sending"` compares first sendings (1), "-2" (2), "-3" (3) and later ones (4 = 4th and on)
    over the same months."""
    if by not in REBATCH_BY:
        raise InvoiceDeskError(f"Rebatch effect by {by!r} is not offered: choose month or sending.")
    first, last, day = _window(session, months, today, date_from)
    return _effect_rows(_effect_groups(session, first, day, party_id, group_id), by, first, last)


@guarded
def rebatch_effects(session: Session, *, months: int = 12, party_id: int | None = None, group_id: int | None = None,
                    today: date | None = None,
                    date_from: date | None = None) -> tuple[list[RebatchEffectRow], list[RebatchEffectRow]]:
    """rebatch_effect by month and by sending, from one reading (the dashboard shows both)."""
    first, last, day = _window(session, months, today, date_from)
    groups = _effect_groups(session, first, day, party_id, group_id)
    return _effect_rows(groups, "month", first, last), _effect_rows(groups, "sending", first, last)


@dataclass(frozen=True)
class UnappliedRow:
    """Money received or credited and not yet applied to an invoice, as of a day."""

    kind: str  # "receipt" or "credit memo"
    id: int
    number: str
    party_id: int
    account_code: str
    party_name: str
    on: date
    amount: Decimal
    unapplied: Decimal


@guarded
def unapplied_money(session: Session, *, as_of: date | None = None, party_id: int | None = None,
                    group_id: int | None = None) -> list[UnappliedRow]:
    """Receipts and credit memos with money left to apply at the end of a day, the oldest first."""
    day = to_date(as_of, "As of") or clock.today(session)
    p = Party.__table__
    stored = as_of_sql.stored_is_as_of(session, day)
    receipts = as_of_sql.receipts(day, party_id=party_id, group_id=group_id, stored=stored).subquery()
    memos = as_of_sql.credit_memos(day, party_id=party_id, group_id=group_id, stored=stored).subquery()
    both = sa.union_all(
        sa.select(sa.literal("receipt").label("kind"), receipts.c.id, receipts.c.number, receipts.c.party_id,
                  receipts.c.received_date.label("on"), receipts.c.amount, receipts.c.unapplied)
        .where(receipts.c.unapplied > 0),
        sa.select(sa.literal("credit memo").label("kind"), memos.c.id, memos.c.number, memos.c.party_id,
                  memos.c.issued_on.label("on"), memos.c.amount, memos.c.unapplied).where(memos.c.unapplied > 0),
    ).subquery()
    rows = session.execute(sa.select(both, p.c.account_code, p.c.name).join(p, p.c.id == both.c.party_id)
                           .order_by(both.c.on, both.c.kind, both.c.number)).all()
    return [UnappliedRow(row.kind, row.id, receipt_number(row.number) if row.kind == "receipt"
                         else credit_memo_number(row.number), row.party_id, row.account_code, row.name, row.on,
                         from_cents(row.amount), from_cents(row.unapplied)) for row in rows]
