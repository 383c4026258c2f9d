"""Core functions behind the screens: navigation search, headline figures, batch listing, party editing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from core import (
    batch_items,
    clock,
    create_credit_memo,
    create_group,
    create_on_demand_batch,
    create_party,
    headline,
    invoices_by_month,
    list_batches,
    navigate,
    open_aging,
    post_receipt,
    rebatch,
    search_groups,
    search_parties,
    update_group,
    update_party,
)
from tests.factories import ACTOR, billing_on, make_encounter, make_group, make_party
from tests.support.fingerprint import assert_refused_unchanged

D = Decimal


@pytest.fixture
def practice(session):
    billing_on(session)
    group = make_group(session, "Harbor Freight Group")
    acme = make_party(session, name="Acme Manufacturing", group=group)
    bolt = make_party(session, name="Bolt Industries", group=group)
    e1 = make_encounter(session, acme, amounts=("100.00",))
    make_encounter(session, bolt, amounts=("40.00",))
    first = create_on_demand_batch(session, group_id=group.id, internal_note="month end", actor=ACTOR)
    post_receipt(session, party_id=acme.id, amount="100.00", received_date=clock.today(), method="check",
                 allocations={first.items[0].invoice_id: "100.00"}, actor=ACTOR)
    second = rebatch(session, source_batch_id=first.id, actor=ACTOR)
    session.commit()
    return group, acme, bolt, first, second, e1


def test_navigation_search(session, practice):
    group, acme, bolt, first, second, _ = practice
    assert navigate(session, text="stb").kind == "batch_history"
    found = navigate(session, text=f"STB {second.number}")
    assert (found.kind, found.batch_id) == ("batch", second.id)
    assert navigate(session, text="stb 999").message == "There is no batch 999."
    assert navigate(session, text="bolt ind").party_id == bolt.id
    invoices = navigate(session, text=second.items[0].invoice_number.lower())
    assert invoices.kind == "invoices" and [r.invoice_number for r in invoices.invoices] == [
        second.items[0].invoice_number]
    assert navigate(session, text="zzz").kind == "nothing"
    assert navigate(session, text="").kind == "nothing"


def test_headline_and_charts_use_the_same_totals(session, practice):
    _, acme, bolt, first, second, _ = practice
    h = headline(session)
    assert (h.open_invoices, h.open_balance) == (1, D("40.00"))
    assert h.paid_last_30_days == D("100.00") and h.unapplied == D("0.00")
    assert h.last_batch_number == second.number and h.batches_last_24_hours == 2
    months = invoices_by_month(session, months=3)
    assert len(months) == 3 and months[-1].billed == D("140.00") and months[-1].open == D("40.00")
    assert sum(open_aging(session).values()) == D("40.00")


def test_batch_listing_filters_and_items(session, practice):
    group, acme, bolt, first, second, e1 = practice
    rows = list_batches(session)
    assert [r.number for r in rows] == [second.number, first.number]
    assert rows[0].source_batch_number == first.number and rows[1].internal_note == "month end"
    assert rows[1].target == "Group: Harbor Freight Group"
    assert [r.number for r in list_batches(session, kind="rebatch")] == [second.number]
    assert [r.number for r in list_batches(session, party_id=acme.id)] == [first.number]
    assert list_batches(session, created_from=date(2000, 1, 1), created_to=date(2000, 1, 2)) == []
    items = batch_items(session, batch_id=first.id)
    assert [(i.party_name, i.sent.balance_due, i.now.status) for i in items] == [
        ("Acme Manufacturing", D("100.00"), "Paid"), ("Bolt Industries", D("40.00"), "Open")]
    create_credit_memo(session, batch_item_id=items[0].batch_item_id, encounter_ids=[e1.id], action="void",
                       reason="error", actor=ACTOR)
    assert batch_items(session, batch_id=first.id)[0].encounters[0].credited


def test_party_and_group_editing(session):
    group = create_group(session, name="Coastal Sites", actor=ACTOR)
    assert_refused_unchanged(session, lambda: create_group(session, name="coastal sites", actor=ACTOR),
                             match="already a group")
    party = create_party(session, account_code="CST1", name="Coastal North", group_id=group.id, actor=ACTOR)
    assert_refused_unchanged(session, lambda: create_party(session, account_code="CST1", name="Again", actor=ACTOR),
                             match="already in use")
    assert_refused_unchanged(session, lambda: update_party(session, party_id=party.id, email="nope", actor=ACTOR),
                             match="not an e-mail")
    update_party(session, party_id=party.id, active=False, actor=ACTOR)
    assert search_parties(session, text="coastal") == []
    other = create_group(session, name="Inland Sites", actor=ACTOR)
    assert_refused_unchanged(session, lambda: update_group(session, group_id=other.id, name="COASTAL SITES",
                                                           actor=ACTOR), match="already a group")
    update_group(session, group_id=group.id, name="Coastal and Bay Sites", active=False, actor=ACTOR)
    assert [g.name for g in search_groups(session, text="sites")] == ["Inland Sites"]
    assert [g.name for g in search_groups(session, text="bay", include_inactive=True)] == ["Coastal and Bay Sites"]
    assert [p.id for p in search_parties(session, text="coastal", include_inactive=True)] == [party.id]
