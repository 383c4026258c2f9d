"""The dashboards' figures at their edges: what counts as overdue, paid in the last 30 days, unapplied, a batch
in the last 24 hours or 7 days, and which month an invoice belongs to, with the figures worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

from core import (
    create_credit_memo,
    create_on_demand_batch,
    headline,
    invoices_by_month,
    open_aging,
    post_receipt,
    save_invoice_profile,
    set_time_zone,
    void_receipt,
)
from core.models import Batch
from tests.factories import ACTOR, billing_on, make_encounter, make_party

NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)  # a month end, noon UTC; the practice keeps UTC


def _batch(session, party, at: datetime, *amounts: str):
    encounters = [make_encounter(session, party, dos=date(2025, 1, 2), amounts=(a,)) for a in amounts]
    batch = create_on_demand_batch(session, party_id=party.id, actor=ACTOR, as_of=at)
    return batch.items[0], encounters


def _scene(session):
    set_time_zone(session, zone="UTC", actor=ACTOR)
    billing_on(session)
    save_invoice_profile(session, actor=ACTOR, terms_days=30)
    acme, bolt = make_party(session, name="Acme"), make_party(session, name="Bolt")
    # Acme: sent 31 days ago, due yesterday (overdue); Bolt: sent 30 days ago, due today (not overdue yet).
    a_item, a_enc = _batch(session, acme, NOW - timedelta(days=31), "100.00", "20.00")
    b_item, _ = _batch(session, bolt, NOW - timedelta(days=30), "50.00")
    # Bolt again 6 days 23 hours ago, and 24 hours ago to the second.
    b2_item, _ = _batch(session, bolt, NOW - timedelta(days=6, hours=23), "5.00")
    b3_item, _ = _batch(session, bolt, NOW - timedelta(hours=24), "7.00")
    return acme, bolt, a_item, a_enc, b_item, b2_item, b3_item


def test_headline_counts_each_edge_once(session):
    acme, bolt, a_item, a_enc, b_item, b2_item, b3_item = _scene(session)
    today = NOW.date()
    # 30 days before today is outside "the last 30 days"; 29 days before is inside.
    post_receipt(session, party_id=acme.id, amount="10.00", received_date=today - timedelta(days=30), method="check",
                 allocations={a_item.invoice_id: D("10.00")}, actor=ACTOR, as_of=NOW)
    post_receipt(session, party_id=acme.id, amount="15.00", received_date=today - timedelta(days=29), method="check",
                 allocations={a_item.invoice_id: D("5.00")}, actor=ACTOR, as_of=NOW)  # 10.00 unapplied
    bounced = post_receipt(session, party_id=bolt.id, amount="99.00", received_date=today, method="check",
                           actor=ACTOR, as_of=NOW)
    void_receipt(session, receipt_id=bounced.id, reason="Bounced", actor=ACTOR, as_of=NOW)
    post_receipt(session, party_id=bolt.id, amount="7.00", received_date=today, method="check",
                 allocations={b3_item.invoice_id: D("7.00")}, actor=ACTOR, as_of=NOW)  # Bolt's third is paid
    # A 20.00 credit on Acme's invoice (it owes 105.00 after 15.00 of payments), all applied there.
    create_credit_memo(session, batch_item_id=a_item.id, encounter_ids=[a_enc[1].id], action="void",
                       reason="Not ours", actor=ACTOR, as_of=NOW)

    h = headline(session, now=NOW)
    assert (h.open_invoices, h.open_balance) == (3, D("85.00") + D("50.00") + D("5.00"))
    assert (h.overdue_invoices, h.overdue_balance) == (1, D("85.00"))
    assert h.paid_last_30_days == D("15.00") + D("7.00")
    assert h.unapplied == D("10.00")
    assert (h.last_batch_number, h.last_batch_at) == (session.get(Batch, b3_item.batch_id).number, NOW - timedelta(hours=24))
    assert (h.batches_last_24_hours, h.batches_last_7_days) == (1, 2)

    # A second later the batch of 24 hours ago has left the last day; a day later Bolt's first invoice is overdue.
    later = headline(session, now=NOW + timedelta(seconds=1))
    assert (later.batches_last_24_hours, later.batches_last_7_days) == (0, 2)
    next_day = headline(session, now=NOW + timedelta(days=1))
    assert (next_day.overdue_invoices, next_day.overdue_balance) == (2, D("135.00"))
    assert next_day.paid_last_30_days == D("7.00")  # the receipt of 29 days ago is now 30 days old


def test_headline_on_an_empty_database(session):
    h = headline(session, now=NOW)
    assert (h.open_invoices, h.open_balance, h.overdue_invoices, h.overdue_balance, h.paid_last_30_days,
            h.unapplied, h.last_batch_number, h.last_batch_at, h.batches_last_24_hours,
            h.batches_last_7_days) == (0, D("0.00"), 0, D("0.00"), D("0.00"), D("0.00"), None, None, 0, 0)


def test_unapplied_credit_counts_in_the_headline(session):
    acme, bolt, a_item, a_enc, *_ = _scene(session)
    post_receipt(session, party_id=acme.id, amount="120.00", received_date=NOW.date(), method="check",
                 allocations={a_item.invoice_id: D("120.00")}, actor=ACTOR, as_of=NOW)
    create_credit_memo(session, batch_item_id=a_item.id, encounter_ids=[a_enc[1].id], action="void",
                       reason="Not ours", actor=ACTOR, as_of=NOW)  # the invoice was paid: 20.00 left to use
    assert headline(session, now=NOW).unapplied == D("20.00")


def test_invoices_by_month_buckets_by_first_sent_month_with_empty_months(session):
    acme, bolt, a_item, a_enc, b_item, b2_item, b3_item = _scene(session)
    _batch(session, acme, datetime(2025, 2, 28, 23, 0, tzinfo=UTC), "9.00")  # February: outside three months
    post_receipt(session, party_id=bolt.id, amount="50.00", received_date=NOW.date(), method="check",
                 allocations={b_item.invoice_id: D("50.00")}, actor=ACTOR, as_of=NOW)
    months = invoices_by_month(session, months=3, today=NOW.date())
    assert [(m.month, m.invoices, m.billed, m.paid_or_credited, m.open) for m in months] == [
        (date(2025, 4, 1), 0, D("0.00"), D("0.00"), D("0.00")),
        # Acme's (sent 30 May) and Bolt's first (sent 31 May): 120.00 + 50.00, Bolt's paid.
        (date(2025, 5, 1), 2, D("170.00"), D("50.00"), D("120.00")),
        (date(2025, 6, 1), 2, D("12.00"), D("0.00"), D("12.00")),
    ]
    assert [m.month for m in invoices_by_month(session, months=5, today=NOW.date())] == [
        date(2025, 2, 1), date(2025, 3, 1), date(2025, 4, 1), date(2025, 5, 1), date(2025, 6, 1)]
    assert invoices_by_month(session, months=5, today=NOW.date())[0].billed == D("9.00")
    only_bolt = invoices_by_month(session, months=2, party_id=bolt.id, today=NOW.date())
    assert [(m.month, m.invoices, m.billed) for m in only_bolt] == [(date(2025, 5, 1), 1, D("50.00")),
                                                                   (date(2025, 6, 1), 2, D("12.00"))]
    assert [m.month for m in invoices_by_month(session, months=1, today=date(2025, 3, 31))] == [date(2025, 3, 1)]
    # Twelve months by default, ending with today's month.
    default = invoices_by_month(session, today=NOW.date())
    assert len(default) == 12 and (default[0].month, default[-1].month) == (date(2024, 7, 1), date(2025, 6, 1))


def test_open_aging_by_party_and_day(session):
    acme, bolt, a_item, *_ = _scene(session)
    today = NOW.date()
    assert open_aging(session, today=today) == {"0-30": D("62.00"), "31-60": D("120.00"), "61-90": D("0.00"),
                                                "91-120": D("0.00"), "over 120": D("0.00")}
    assert open_aging(session, party_id=acme.id, today=today)["31-60"] == D("120.00")
    assert sum(open_aging(session, party_id=bolt.id, today=today).values()) == D("62.00")
    assert open_aging(session, today=today + timedelta(days=90))["over 120"] == D("120.00")


def test_month_window_edges(session):
    set_time_zone(session, zone="UTC", actor=ACTOR)
    billing_on(session)
    acme = make_party(session, name="Acme")
    _batch(session, acme, datetime(2025, 4, 1, 9, 0, tzinfo=UTC), "11.00")  # the window's very first day
    _batch(session, acme, datetime(2025, 6, 1, 9, 0, tzinfo=UTC), "22.00")  # today, the 1st of the month
    months = invoices_by_month(session, months=3, today=date(2025, 6, 1))
    assert [(m.month, m.invoices, m.billed) for m in months] == [
        (date(2025, 4, 1), 1, D("11.00")), (date(2025, 5, 1), 0, D("0.00")), (date(2025, 6, 1), 1, D("22.00"))]


def test_this_month_is_the_practices_month(session, time_machine, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")  # the server is on UTC; the practice is 14 hours ahead
    set_time_zone(session, zone="Pacific/Kiritimati", actor=ACTOR)
    time_machine.move_to(datetime(2026, 11, 30, 20, 0, tzinfo=UTC), tick=False)  # 1 December on Kiritimati
    assert [m.month for m in invoices_by_month(session, months=2)] == [date(2026, 11, 1), date(2026, 12, 1)]
