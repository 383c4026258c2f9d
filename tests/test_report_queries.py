"""Issue 13's report queries (core.reports), on SQLite and PostgreSQL: every figure equals the sums worked out
again in plain Python from the raw rows (tests/support/report_oracle.py), on the demo practice for several days,
groups and parties, and on practices hypothesis makes: sendings, partial and whole payments, unapplied money,
voids, rebatches, write-offs, un-applies and refunds on days spread over ten months.

Then the charts: each figure of app/figures.py builds from the demo's reports and from an empty database, says why
when it has nothing to draw, and carries dollars on its money axis and in every hover.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from app import figures
from core import (
    InvoiceDeskError,
    aging_basis,
    aging_report,
    clock,
    collections_by_month,
    create_on_demand_batch,
    days_to_pay,
    invoices_by_month,
    list_allocations,
    load_demo_data,
    open_aging,
    post_receipt,
    rebatch,
    rebatch_effect,
    refund,
    save_invoice_profile,
    unapplied_money,
    unapply_allocation,
    void_receipt,
    write_off,
)
from core.demo import demo_day
from core.models import Batch, Group, Invoice, Party, Receipt
from core.money import from_cents
from tests.conftest import module_engine
from tests.factories import ACTOR, billing_on, make_encounter, make_group, make_party
from tests.support.report_oracle import Rows, month_start, months_between

BASES = ("first sent", "due date")


def _cents(value: Decimal | None) -> int:
    return int(value * 100) if value is not None else 0


def _months_back(d: date, n: int) -> date:
    return months_between(date(d.year - (n // 12 + 1), d.month, 1), d)[-n]


def assert_reports_match(session: Session, day: date, first: date, *, party_id: int | None = None,
                         group_id: int | None = None) -> dict[str, int]:
    """Every report of core.reports for these months, day and filter equals the oracle's; returns how many rows
    each check compared, so a caller can see the scenario was not empty."""
    rows = Rows.read(session)
    window = dict(today=day, date_from=first, party_id=party_id, group_id=group_id)
    seen: dict[str, int] = {}

    months = invoices_by_month(session, **window)
    expected = rows.invoices_by_month(first, day, party_id, group_id)
    assert [(m.month, m.invoices, _cents(m.billed), _cents(m.paid_or_credited), _cents(m.open), m.open_invoices,
             _cents(m.open_balance)) for m in months] == expected
    assert all(m.settled_invoices == m.invoices - m.open_invoices for m in months)
    seen["invoices"] = sum(m.invoices for m in months)

    for by in ("total", "group", "party"):
        report = aging_report(session, by=by, as_of=day, party_id=party_id, group_id=group_id)
        basis = aging_basis(session)
        want = rows.aging(day, by, basis, party_id, group_id)
        got = {row.key: {k: _cents(v) for k, v in row.buckets.items() if v} for row in report if row.invoices}
        assert got == want, by
        assert all(_cents(row.total) == sum(_cents(v) for v in row.buckets.values()) for row in report)
        assert [_cents(r.total) for r in report] == sorted((_cents(r.total) for r in report), reverse=True)
        seen[f"aging by {by}"] = len(got)
    total = aging_report(session, by="total", as_of=day, party_id=party_id, group_id=group_id)[0]
    assert open_aging(session, as_of=day, party_id=party_id, group_id=group_id) == total.buckets

    collections = collections_by_month(session, **window)
    assert [(c.month, c.receipts, _cents(c.received), _cents(c.applied), _cents(c.refunded), _cents(c.unapplied))
            for c in collections] == rows.collections(first, day, party_id, group_id)
    seen["receipts"] = sum(c.receipts for c in collections)

    paid = rows.days_to_pay(first, day, party_id, group_id)
    report = days_to_pay(session, **window)
    assert report.invoices == len(paid)
    spans = ((15, "0-15"), (30, "16-30"), (45, "31-45"), (60, "46-60"), (90, "61-90"), (10**9, "over 90"))
    want_spread = {name: 0 for _, name in spans}
    for _, days in paid.values():
        want_spread[next(name for limit, name in spans if days <= limit)] += 1
    assert report.distribution == want_spread

    def mean(values: list[int]) -> Decimal | None:
        return (Decimal(sum(values)) / len(values)).quantize(Decimal("0.1")) if values else None

    assert report.average_days == mean([d for _, d in paid.values()])
    assert [(m.month, m.invoices, m.average_days) for m in report.by_month] == [
        (m, len(ds := [d for on, d in paid.values() if month_start(on) == m]), mean(ds))
        for m in months_between(first, day)]
    party_of = {i.id: i.party_id for i in rows.invoices}
    by_party = {p.party_id: (p.invoices, p.average_days, p.longest_days) for p in report.by_party}
    assert by_party == {pid: (len(ds), mean(ds), max(ds)) for pid in {party_of[i] for i in paid}
                        if (ds := [d for i, (_, d) in paid.items() if party_of[i] == pid])}
    seen["paid invoices"] = len(paid)

    sendings = rows.rebatch_effect(first, day, party_id, group_id)
    by_month = rebatch_effect(session, by="month", **window)
    assert [(r.month, r.items, _cents(r.outstanding), _cents(r.paid_within_30_days), r.still_counting)
            for r in by_month] == [
        (m, len(s := [x for x in sendings if x[1] >= 2 and month_start(x[0]) == m]), sum(x[2] for x in s),
         sum(x[3] for x in s), sum(x[4] for x in s)) for m in months_between(first, day)]
    by_sending = rebatch_effect(session, by="sending", **window)
    assert [(r.sending, r.items, _cents(r.outstanding), _cents(r.paid_within_30_days), r.still_counting)
            for r in by_sending] == [
        (n, len(s := [x for x in sendings if min(x[1], 4) == n]), sum(x[2] for x in s), sum(x[3] for x in s),
         sum(x[4] for x in s)) for n in (1, 2, 3, 4)]
    assert all(r.paid_within_30_days <= r.outstanding for r in by_sending)
    seen["resends"] = sum(1 for x in sendings if x[1] >= 2)

    unapplied = unapplied_money(session, as_of=day, party_id=party_id, group_id=group_id)
    assert {(u.kind, u.id, _cents(u.unapplied)) for u in unapplied} == rows.unapplied(day, party_id, group_id)
    assert [u.on for u in unapplied] == sorted(u.on for u in unapplied)
    seen["unapplied"] = len(unapplied)
    return seen


# ---------------------------------------------------------------- the demo practice


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def demo(request, tmp_path_factory):
    engine = module_engine(request, tmp_path_factory, "reports")
    with Session(engine, expire_on_commit=False) as s:
        load_demo_data(s)
        s.commit()
        yield s
    engine.dispose()


@pytest.mark.parametrize("basis", BASES)
def test_every_report_on_the_demo_equals_the_sums_over_its_rows(demo, basis):
    s = demo
    save_invoice_profile(s, actor=ACTOR, aging_basis=basis)
    try:
        today = demo_day(s)
        assert today is not None
        month_ago = month_start(today) - timedelta(days=1)  # the last month end
        seen = assert_reports_match(s, today, _months_back(today, 12))
        assert all(seen.values()), seen  # the demo has every kind of row the reports count
        assert_reports_match(s, month_ago, _months_back(month_ago, 12))
        assert_reports_match(s, today - timedelta(days=150), _months_back(today, 24))
        # One group's and one party's figures: the filter keeps their rows and only theirs.
        group_id = s.execute(sa.select(Group.id).order_by(Group.id)).scalars().first()
        assert assert_reports_match(s, today, _months_back(today, 12), group_id=group_id)["invoices"]
        debtor = aging_report(s, by="party", as_of=today, limit=1)[0]
        assert assert_reports_match(s, today, _months_back(today, 12), party_id=debtor.key)["invoices"]
    finally:
        s.rollback()


def test_the_reports_add_up_to_each_other_on_the_demo(demo):
    """The same money seen from two reports: the aging's total is the open balance line's last point and the sum
    of the open bars, the groups' and the parties' agings add up to the whole, the top ten are the ten largest."""
    s = demo
    today = demo_day(s)
    months = invoices_by_month(s, today=today, months=120)
    whole = aging_report(s, by="total", as_of=today)[0]
    assert months[-1].open_balance == whole.total == sum(m.open for m in months)
    groups = aging_report(s, by="group", as_of=today)
    parties = aging_report(s, by="party", as_of=today)
    assert sum(g.total for g in groups) == sum(p.total for p in parties) == whole.total
    assert sum(p.invoices for p in parties) == whole.invoices
    assert "No group" in [g.name for g in groups]  # the independents and the attorneys
    top = aging_report(s, by="party", as_of=today, limit=10)
    assert [t.key for t in top] == [p.key for p in parties[:10]] and len(top) == 10
    collections = collections_by_month(s, today=today, months=120)
    assert all(c.received == c.applied + c.refunded + c.unapplied for c in collections)
    unapplied = unapplied_money(s, as_of=today)
    assert sum(u.unapplied for u in unapplied if u.kind == "receipt") == sum(c.unapplied for c in collections)


# ---------------------------------------------------------------- hypothesis-made practices

EVENT = st.tuples(st.sampled_from(["send", "send", "pay", "pay", "pay", "prepay", "void", "rebatch", "write off",
                                   "unapply", "refund"]),
                  st.integers(0, 290), st.integers(0, 2), st.integers(1, 100))


@settings(max_examples=20, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(events=st.lists(EVENT, min_size=4, max_size=30), looks=st.lists(st.integers(0, 320), min_size=1, max_size=3))
def test_every_report_equals_the_sums_over_hypothesis_made_rows(session, events, looks):
    """A new group of three parties per example, its history played in day order through core's writers, dated
    through `as_of`; every report for the group (and for one party of it) is checked on a few days."""
    billing_on(session)
    today = clock.today(session)
    base = today - timedelta(days=330)
    group = make_group(session)
    parties = [make_party(session, group=group) for _ in range(3)]
    outsider = make_party(session)  # rows outside the group, which no report for it may count
    tick = itertools.count()

    def at(d: date) -> datetime:
        return clock.day_start(d, session) + timedelta(hours=9, seconds=next(tick))

    def open_invoices(party: Party, d: date) -> list[Invoice]:
        return list(session.execute(sa.select(Invoice).where(
            Invoice.party_id == party.id, Invoice.paid == sa.false(), Invoice.first_sent_on <= d)
            .order_by(Invoice.id)).scalars())

    make_encounter(session, outsider, dos=base, amounts=("40.00",))
    create_on_demand_batch(session, party_id=outsider.id, actor=ACTOR, as_of=at(base + timedelta(days=1)))
    for kind, offset, who, share in sorted(events, key=lambda e: e[1]):
        d = base + timedelta(days=offset + 1)
        party = parties[who]
        try:
            with session.begin_nested():
                if kind == "send":
                    make_encounter(session, party, dos=d - timedelta(days=1), amounts=(f"{share * 7}.25", "30.00"))
                    create_on_demand_batch(session, party_id=party.id, actor=ACTOR, as_of=at(d))
                elif kind in ("pay", "write off"):
                    invoices = open_invoices(party, d)
                    if not invoices:
                        continue
                    invoice = invoices[share % len(invoices)]
                    amount = max(Decimal("0.01"), from_cents(invoice.balance_cents * share // 100))
                    if kind == "pay":
                        post_receipt(session, party_id=party.id, amount=amount, received_date=d, method="check",
                                     allocations={invoice.id: amount}, actor=ACTOR, as_of=at(d))
                    else:
                        write_off(session, invoice_id=invoice.id, amount=amount, reason="short-pay", actor=ACTOR,
                                  as_of=at(d))
                elif kind == "prepay":
                    post_receipt(session, party_id=party.id, amount=Decimal(share), received_date=d, method="ACH",
                                 actor=ACTOR, as_of=at(d))
                elif kind == "void":
                    receipt = session.execute(sa.select(Receipt).where(
                        Receipt.party_id == party.id, Receipt.voided == sa.false()).order_by(Receipt.id)).scalars().first()
                    if receipt is not None:
                        void_receipt(session, receipt_id=receipt.id, reason="bounced", actor=ACTOR, as_of=at(d))
                elif kind == "rebatch":
                    source = session.execute(sa.select(Batch.id).where(Batch.party_id == party.id)
                                             .order_by(Batch.id.desc())).scalars().first()
                    if source is not None:
                        rebatch(session, source_batch_id=source, actor=ACTOR, as_of=at(d))
                elif kind == "unapply":
                    live = [a for a in list_allocations(session, party_id=party.id, include_reversed=False)
                            if a.kind != "write-off"]
                    if live:
                        unapply_allocation(session, allocation_id=live[share % len(live)].allocation_id, reason="wrong invoice",
                                           actor=ACTOR, as_of=at(d))
                elif kind == "refund":
                    receipt = session.execute(sa.select(Receipt).where(
                        Receipt.party_id == party.id, Receipt.voided == sa.false(),
                        Receipt.amount_cents > Receipt.applied_cents + Receipt.refunded_cents)
                        .order_by(Receipt.id)).scalars().first()
                    if receipt is not None:
                        refund(session, receipt_id=receipt.id, amount=from_cents(
                            receipt.amount_cents - receipt.applied_cents - receipt.refunded_cents), method="check",
                            actor=ACTOR, as_of=at(d))
        except InvoiceDeskError:
            pass  # a refusal (nothing eligible, all paid ...) changes nothing, which the reports then show
    first = month_start(base)
    for look in sorted(set(looks)):
        day = min(base + timedelta(days=look), today)
        assert_reports_match(session, day, first, group_id=group.id)
        assert_reports_match(session, day, first, party_id=parties[0].id)


# ---------------------------------------------------------------- the figures


def _figures(s: Session, day: date) -> dict:
    window = dict(today=day, months=12)
    basis = "days since first sent"
    days = days_to_pay(s, **window)
    return {
        "invoices by month": figures.invoices_by_month_figure(invoices_by_month(s, **window)),
        "aging": figures.aging_figure(open_aging(s, as_of=day), basis=basis),
        "top debtors": figures.aging_breakdown_figure(aging_report(s, by="party", as_of=day, limit=10), basis=basis),
        "aging by group": figures.aging_breakdown_figure(aging_report(s, by="group", as_of=day), basis=basis),
        "collections": figures.collections_figure(collections_by_month(s, **window)),
        "days to pay": figures.days_to_pay_figure(days),
        "days to pay trend": figures.days_to_pay_trend_figure(days.by_month),
        "resends": figures.rebatch_effect_figure(rebatch_effect(s, by="month", **window)),
        "sendings": figures.rebatch_effect_figure(rebatch_effect(s, by="sending", **window)),
    }


MONEY_FIGURES = ("invoices by month", "aging", "top debtors", "aging by group", "collections", "resends", "sendings")


def test_every_figure_builds_from_the_demo_with_dollars_on_its_axis_and_hover(demo):
    drawn = _figures(demo, demo_day(demo))
    for name, fig in drawn.items():
        assert fig.data and not fig.layout.annotations, name
        layout = fig.layout
        if name in MONEY_FIGURES:
            axis = layout.xaxis if name in ("top debtors", "aging by group") else layout.yaxis
            assert axis.tickprefix == "$" and axis.rangemode == "tozero", name
            assert all("$%{" in trace.hovertemplate for trace in fig.data), name
        assert layout.legend.orientation == "h", name
    # The open balance line meets the aging's total on the last month.
    line = drawn["invoices by month"].data[2]
    assert Decimal(str(line.y[-1])) == aging_report(demo, by="total", as_of=demo_day(demo))[0].total
    # The sendings are named, and named on their axis: "-2" and "-3" are labels, not the numbers -2 and -3 (they
    # were, and the first sending's bar fell off the chart).
    sendings = drawn["sendings"]
    assert list(sendings.data[0].x) == ["first sending", "-2", "-3", "-4 and later"][:len(sendings.data[0].x)]
    assert len(sendings.data[0].x) >= 2
    for name, fig in drawn.items():
        labels_axis = fig.layout.yaxis if name in ("top debtors", "aging by group") else fig.layout.xaxis
        assert labels_axis.type == "category", name
    # Twelve month labels, the year only on the first month and on January.
    labels = drawn["collections"].data[0].x
    assert len(labels) == 12 and sum("'" in label for label in labels) in (1, 2)


def test_every_figure_on_an_empty_database_says_why_without_axes(session):
    drawn = _figures(session, clock.today(session))
    for name, fig in drawn.items():
        assert not fig.data, name
        assert fig.layout.xaxis.visible is False and fig.layout.yaxis.visible is False, name
        assert fig.layout.annotations[0].text.startswith(("No ", "Nothing")), name


def test_reports_refuse_bad_windows_and_keys_clearly(session):
    today = clock.today(session)
    with pytest.raises(InvoiceDeskError, match="at most 120 months"):
        invoices_by_month(session, date_from=today - timedelta(days=3700))
    with pytest.raises(InvoiceDeskError, match="must start on or before"):
        collections_by_month(session, date_from=today + timedelta(days=40))
    with pytest.raises(InvoiceDeskError, match="choose total, group or party"):
        aging_report(session, by="employer")
    with pytest.raises(InvoiceDeskError, match="choose month or sending"):
        rebatch_effect(session, by="week")
    with pytest.raises(InvoiceDeskError, match="from 1 to 120 months"):
        days_to_pay(session, months=0)
