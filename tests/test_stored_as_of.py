"""Reports as of today read the stored totals (issue 16) only when those are the books as of the day, and then
every figure is the one the ledger's days give, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa

from core import (
    aging_report,
    clock,
    collections_by_month,
    days_to_pay,
    headline,
    invoices_by_month,
    post_receipt,
    set_time_zone,
    unapplied_money,
)
from core import as_of as as_of_sql
from core.demo import demo_day
from core.models import Invoice
from tests.factories import ACTOR
from tests.test_report_queries import demo  # noqa: F401 (the demo practice, on both databases)


def _figures(s, day):
    return {
        "months": invoices_by_month(s, months=12, today=day),
        "aging": [aging_report(s, by=by, as_of=day) for by in ("total", "group", "party")],
        "collections": collections_by_month(s, months=12, today=day),
        "days": days_to_pay(s, months=12, today=day),
        "unapplied": unapplied_money(s, as_of=day),
        "headline": headline(s, as_of=day),
    }


def test_the_stored_totals_give_the_ledgers_figures(demo, monkeypatch):  # noqa: F811
    s = demo
    today = demo_day(s)
    assert as_of_sql.stored_is_as_of(s, today), "the demo's books now are its stored totals"
    assert not as_of_sql.stored_is_as_of(s, today - timedelta(days=1)), "a past day is read from the ledger"
    quick = _figures(s, today)
    monkeypatch.setattr(as_of_sql, "stored_is_as_of", lambda session, day: False)
    assert _figures(s, today) == quick


def test_anything_dated_after_the_day_reads_the_ledger(demo):  # noqa: F811
    """A time zone moved west leaves today's receipt dated after the practice's new today: the stored totals count
    it and the day does not, so they are not used, and the aging as of that day leaves the receipt out."""
    s = demo
    inv = Invoice.__table__
    try:
        set_time_zone(s, zone="Pacific/Kiritimati", actor=ACTOR)  # UTC+14
        east = clock.today(s)
        invoice_id, party_id = s.execute(sa.select(inv.c.id, inv.c.party_id).where(inv.c.paid == sa.false())
                                         .order_by(inv.c.id).limit(1)).one()
        before = {r.key: r.total for r in aging_report(s, by="party", as_of=east)}[party_id]
        post_receipt(s, party_id=party_id, amount="1.00", received_date=east, method="check",
                     allocations={invoice_id: Decimal("1.00")}, actor=ACTOR)
        assert as_of_sql.stored_is_as_of(s, east)
        assert {r.key: r.total for r in aging_report(s, by="party", as_of=east)}[party_id] == before - 1
        set_time_zone(s, zone="Pacific/Pago_Pago", actor=ACTOR)  # UTC-11: today is a day or two earlier
        west = clock.today(s)
        assert west < east and not as_of_sql.stored_is_as_of(s, west)
        assert {r.key: r.total for r in aging_report(s, by="party", as_of=west)}[party_id] == before
    finally:
        s.rollback()
