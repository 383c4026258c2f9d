"""On-demand batches, previews and rebatches: the help article's example and the domain rules."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core import (
    BillingDisabledError,
    NotFoundError,
    create_on_demand_batch,
    invoice_history,
    invoice_totals,
    preview_on_demand_batch,
    rebatch,
    set_invoice_billing,
)
from core.models import Batch, InvoiceLine
from tests.factories import (
    ACTOR,
    billing_on,
    make_encounter,
    make_group,
    make_party,
    pay_directly,
)
from tests.support.fingerprint import assert_refused_unchanged, fingerprint


def test_seed_example_batch_rebatch_pay_rebatch_and_history(session):
    billing_on(session)
    party = make_party(session, name="Acme Manufacturing")
    encounters = [make_encounter(session, party, dos=date(2026, 2, d), amounts=(a,))
                  for d, a in ((3, "125.00"), (9, "80.50"), (20, "44.50"))]
    other = make_party(session, name="Bolt Industries")
    make_encounter(session, other, amounts=("10.00",))
    session.commit()

    first = create_on_demand_batch(session, party_id=party.id, internal_note="HR asked on the phone", actor=ACTOR)
    session.commit()
    assert first.kind == "on-demand" and first.internal_note == "HR asked on the phone"
    (item1,) = first.items
    base = item1.invoice_number
    assert base.startswith("INV-") and "-" not in base[4:]
    assert item1.times_batched == 1 and item1.billed == Decimal("250.00") and item1.balance_due == Decimal("250.00")

    second = rebatch(session, source_batch_id=first.id, actor=ACTOR)
    session.commit()
    (item2,) = second.items
    assert second.kind == "rebatch" and second.source_batch_id == first.id
    assert item2.invoice_number == f"{base}-2" and item2.times_batched == 2
    assert item2.invoice_id == item1.invoice_id
    on_invoice = session.execute(sa.select(InvoiceLine.encounter_id).where(
        InvoiceLine.invoice_id == item1.invoice_id)).scalars().all()
    assert sorted(on_invoice) == sorted(e.id for e in encounters)

    pay_directly(session, item1.invoice_id, "100.00")
    session.commit()
    third = rebatch(session, source_batch_id=second.id, actor=ACTOR)
    session.commit()
    (item3,) = third.items
    assert item3.invoice_number == f"{base}-3"
    assert (item3.billed, item3.payments, item3.balance_due) == (Decimal("250.00"), Decimal("100.00"),
                                                                Decimal("150.00"))
    # Snapshots of the earlier sendings stay as they were sent.
    assert item2.balance_due == Decimal("250.00")
    assert invoice_totals(session, item1.invoice_id).status == "Open"

    rows = invoice_history(session, party_id=party.id, status="all")
    assert [r.invoice_number for r in rows] == [f"{base}-3", f"{base}-2", base]
    assert all(r.balance_due == Decimal("150.00") and r.payments == Decimal("100.00") for r in rows)
    assert [r.invoice_number for r in invoice_history(session, party_id=party.id)] == [r.invoice_number for r in rows]
    assert invoice_history(session, party_id=party.id, status="paid") == []
    assert [r.invoice_number for r in invoice_history(session, status="all", number_contains="-3")] == [f"{base}-3"]
    assert len(invoice_history(session, status="all", number_contains=base[-4:])) == 3
    assert len(invoice_history(session, status="all", number_contains=base.lower())) == 3
    assert len(invoice_history(session, status="all", number_contains=f"{base.lower()}-2")) == 1

    pay_directly(session, item1.invoice_id, "150.00")
    session.commit()
    assert invoice_totals(session, item1.invoice_id).status == "Paid"
    assert len(invoice_history(session, party_id=party.id, status="paid")) == 3
    assert invoice_history(session, party_id=party.id, status="open") == []
    assert all(r.status == "Paid" for r in invoice_history(session, party_id=party.id, status="all"))


def test_group_batch_one_invoice_per_billable_party_and_preview_explains(session):
    billing_on(session)
    group = make_group(session, "Cedar Construction")
    a = make_party(session, name="Cedar North", group=group)
    b = make_party(session, name="Cedar South", group=group)
    unbillable = make_party(session, name="Cedar HQ", group=group, billable=False)
    no_address = make_party(session, name="Cedar Yard", group=group, address=False)
    outsider = make_party(session, name="Not In Group")
    for p in (a, a, b, unbillable, no_address, outsider):
        make_encounter(session, p, amounts=("50.00", "25.00"))
    make_encounter(session, b, amounts=("0.00",))
    make_encounter(session, b, voided=True)
    make_encounter(session, b, dos=date(2025, 12, 31))
    already = create_on_demand_batch(session, party_id=a.id, actor=ACTOR)  # a's two encounters, invoiced
    make_encounter(session, a, amounts=("30.00",))
    session.commit()

    preview = preview_on_demand_batch(session, group_id=group.id, dos_from=date(2026, 1, 1))
    assert [(p.name, p.encounter_count, p.total) for p in preview.parties] == [
        ("Cedar North", 1, Decimal("30.00")), ("Cedar South", 1, Decimal("75.00"))]
    assert preview.invoice_count == 2 and preview.encounter_count == 2 and preview.total == Decimal("105.00")
    assert preview.excluded_by_reason == {"voided": 1, "party not billable": 1, "missing address": 1,
                                          "already invoiced": 2, "zero total": 1, "outside DOS range": 1}
    session.commit()
    before = fingerprint(session.get_bind())
    preview_on_demand_batch(session, group_id=group.id, dos_from=date(2026, 1, 1))
    session.commit()
    assert fingerprint(session.get_bind()) == before  # the preview wrote nothing

    batch = create_on_demand_batch(session, group_id=group.id, dos_from=date(2026, 1, 1), actor=ACTOR)
    session.commit()
    assert batch.group_id == group.id and batch.invoice_count == 2 and batch.total == Decimal("105.00")
    assert sorted(i.party_id for i in batch.items) == sorted([a.id, b.id])
    assert all(i.times_batched == 1 and "-" not in i.invoice_number[4:] for i in batch.items)
    assert already.items[0].invoice_id not in {i.invoice_id for i in batch.items}

    assert_refused_unchanged(session, lambda: create_on_demand_batch(session, group_id=group.id,
                                                                     dos_from=date(2026, 1, 1), actor=ACTOR),
                             match="Nothing to invoice for employer group Cedar Construction")


def test_post_date_and_dos_bounds_are_inclusive(session):
    billing_on(session)
    p = make_party(session)
    inside = [make_encounter(session, p, dos=date(2026, 4, d), post=date(2026, 4, d + 1)) for d in (1, 15, 29)]
    make_encounter(session, p, dos=date(2026, 3, 31), post=date(2026, 4, 2))
    make_encounter(session, p, dos=date(2026, 4, 10), post=date(2026, 5, 1))
    session.commit()
    batch = create_on_demand_batch(session, party_id=p.id, dos_from=date(2026, 4, 1), dos_to=date(2026, 4, 29),
                                   post_from=date(2026, 4, 2), post_to=date(2026, 4, 30), actor=ACTOR)
    assert batch.encounter_count == len(inside)


def test_nothing_eligible_says_which_party_and_ranges(session):
    billing_on(session)
    p = make_party(session, name="Quiet Co")
    make_encounter(session, p, dos=date(2026, 1, 5))
    session.commit()
    refusal = assert_refused_unchanged(session, lambda: create_on_demand_batch(
        session, party_id=p.id, dos_from=date(2026, 2, 1), dos_to=date(2026, 2, 28), actor=ACTOR),
        match="Nothing to invoice")
    message = str(refusal)
    assert "Quiet Co" in message and "DOS 2026-02-01 to 2026-02-28" in message and "1 outside DOS range" in message


def test_rebatch_skips_paid_unless_asked_and_subset(session):
    billing_on(session)
    group = make_group(session)
    parties = [make_party(session, group=group) for _ in range(3)]
    for p in parties:
        make_encounter(session, p, amounts=("40.00",))
    batch = create_on_demand_batch(session, group_id=group.id, actor=ACTOR)
    paid_invoice = batch.items[0].invoice_id
    pay_directly(session, paid_invoice, "40.00")
    session.commit()

    resent = rebatch(session, source_batch_id=batch.id, actor=ACTOR)
    assert sorted(i.invoice_id for i in resent.items) == sorted(i.invoice_id for i in batch.items[1:])
    with_paid = rebatch(session, source_batch_id=batch.id, include_paid=True, actor=ACTOR)
    suffixes = {i.invoice_id: i.invoice_number.rsplit("-", 1)[1] for i in with_paid.items}
    assert suffixes[paid_invoice] == "2" and all(suffixes[i.invoice_id] == "3" for i in batch.items[1:])

    subset = rebatch(session, source_batch_id=batch.id, invoice_ids=[batch.items[2].invoice_id], actor=ACTOR)
    assert [i.invoice_number for i in subset.items] == [batch.items[2].invoice_number + "-4"]
    session.commit()
    assert_refused_unchanged(session, lambda: rebatch(session, source_batch_id=batch.id,
                                                      invoice_ids=[paid_invoice], actor=ACTOR), match="are paid")
    assert_refused_unchanged(session, lambda: rebatch(session, source_batch_id=batch.id, invoice_ids=[999999],
                                                      actor=ACTOR), match="There is no invoice with id")
    refusal = assert_refused_unchanged(session, lambda: rebatch(session, source_batch_id=424242, actor=ACTOR),
                                       match="no batch")
    assert isinstance(refusal, NotFoundError)


@pytest.mark.parametrize("kwargs, message", [
    ({"dos_from": date(2026, 5, 2), "dos_to": date(2026, 5, 1)}, "DOS From .* is after DOS To"),
    ({"post_from": date(2026, 5, 2), "post_to": date(2026, 5, 1)}, "Post Date From .* is after Post Date To"),
    ({"dos_from": "May first"}, "is not a date"),
])
def test_bad_ranges_are_refused(session, kwargs, message):
    billing_on(session)
    p = make_party(session)
    make_encounter(session, p)
    session.commit()
    assert_refused_unchanged(session, lambda: preview_on_demand_batch(session, party_id=p.id, **kwargs),
                             match=message)
    assert_refused_unchanged(session, lambda: create_on_demand_batch(session, party_id=p.id, actor=ACTOR, **kwargs),
                             match=message)


def test_target_must_be_exactly_one_known_party_or_group(session):
    billing_on(session)
    group = make_group(session)
    p = make_party(session, group=group)
    make_encounter(session, p)
    session.commit()
    assert_refused_unchanged(session, lambda: create_on_demand_batch(session, party_id=p.id, group_id=group.id,
                                                                     actor=ACTOR), match="not both")
    assert_refused_unchanged(session, lambda: create_on_demand_batch(session, actor=ACTOR), match="not neither")
    unknown = assert_refused_unchanged(session, lambda: create_on_demand_batch(session, party_id=98765, actor=ACTOR),
                                       match="no bill-to party with id 98765")
    assert isinstance(unknown, NotFoundError)
    unknown = assert_refused_unchanged(session, lambda: create_on_demand_batch(session, group_id=98765, actor=ACTOR),
                                       match="no employer group")
    assert isinstance(unknown, NotFoundError)
    assert_refused_unchanged(session, lambda: preview_on_demand_batch(session, group_id=98765),
                             match="no employer group")
    assert_refused_unchanged(session, lambda: create_on_demand_batch(session, party_id=p.id, actor=" "),
                             match="actor")


def test_billing_switch_off_refuses_batches_and_says_where(session):
    p = make_party(session)
    make_encounter(session, p)
    session.commit()
    off = assert_refused_unchanged(session, lambda: create_on_demand_batch(session, party_id=p.id, actor=ACTOR),
                                   match="Settings > Invoice billing")
    assert isinstance(off, BillingDisabledError)
    billing_on(session)
    batch = create_on_demand_batch(session, party_id=p.id, actor=ACTOR)
    set_invoice_billing(session, enabled=False, actor=ACTOR)
    off = assert_refused_unchanged(session, lambda: rebatch(session, source_batch_id=batch.id, actor=ACTOR),
                                   match="Settings > Invoice billing")
    assert isinstance(off, BillingDisabledError)


def test_batch_keeps_profile_in_force_and_note(session):
    from core import save_invoice_profile

    billing_on(session)
    p = make_party(session)
    make_encounter(session, p)
    make_encounter(session, p, dos=date(2026, 6, 1))
    save_invoice_profile(session, actor=ACTOR, terms_days=15, number_prefix="OM-")
    first = create_on_demand_batch(session, party_id=p.id, dos_to=date(2026, 5, 1), actor=ACTOR)
    save_invoice_profile(session, actor=ACTOR, terms_days=45, number_prefix="BILL-")
    second = create_on_demand_batch(session, party_id=p.id, actor=ACTOR)
    session.commit()
    assert first.profile_id != second.profile_id
    assert first.items[0].invoice_number.startswith("OM-") and second.items[0].invoice_number.startswith("BILL-")
    assert session.get(Batch, first.id).profile_id == first.profile_id
    history = {r.invoice_number: r for r in invoice_history(session, status="all")}
    assert (history[first.items[0].invoice_number].due_on - first.sent_on).days == 15
    assert (history[second.items[0].invoice_number].due_on - second.sent_on).days == 45


def test_nothing_to_invoice_says_where_and_why_in_words(session):
    from core import preview_on_demand_batch

    billing_on(session)
    empty = make_party(session, name="Empty Co")
    assert_refused_unchanged(session, lambda: create_on_demand_batch(session, party_id=empty.id, actor=ACTOR),
                             match=rf"^Nothing to invoice for Empty Co \({empty.account_code}\): "
                                   r"there are no encounters for it.$")
    party = make_party(session, name="Range Co")
    make_encounter(session, party, dos=date(2026, 1, 5), amounts=("10.00",))
    make_encounter(session, party, dos=date(2026, 1, 6), amounts=("0.00",))
    make_encounter(session, party, dos=date(2026, 1, 7), amounts=("5.00",), voided=True)
    assert_refused_unchanged(
        session, lambda: create_on_demand_batch(session, party_id=party.id, dos_from="2026-02-01", actor=ACTOR),
        match=rf"^Nothing to invoice for Range Co \({party.account_code}\) with DOS from 2026-02-01. "
              r"Encounters left out: 1 voided, 1 zero total, 1 outside DOS range.$")
    preview = preview_on_demand_batch(session, party_id=party.id, post_to="2026-01-05")
    assert [(p.account_code, p.name, p.encounter_count, p.total) for p in preview.parties] == \
        [(party.account_code, "Range Co", 1, Decimal("10.00"))]
    assert [(e.account_code, e.name, e.reason, e.encounter_count) for e in preview.excluded] == \
        [(party.account_code, "Range Co", "voided", 1), (party.account_code, "Range Co", "zero total", 1)]


def test_a_one_cent_encounter_is_invoiced(session):
    billing_on(session)
    party = make_party(session)
    make_encounter(session, party, amounts=("0.01",))
    from core import preview_on_demand_batch

    preview = preview_on_demand_batch(session, party_id=party.id)
    assert (preview.invoice_count, preview.total, preview.excluded) == (1, Decimal("0.01"), [])
    batch = create_on_demand_batch(session, party_id=party.id, actor=ACTOR)
    assert (batch.invoice_count, batch.total) == (1, Decimal("0.01"))


def test_rebatch_refusals_say_exactly_what_is_wrong(session):
    from core import get_batch, post_receipt, set_invoice_billing
    from core.clock import today

    billing_on(session)
    party = make_party(session)
    make_encounter(session, party, amounts=("10.00",))
    make_encounter(session, party, amounts=("20.00",), dos=date(2026, 3, 11))
    first = create_on_demand_batch(session, party_id=party.id, actor=ACTOR)
    (item,) = first.items
    assert get_batch(session, number=first.number).id == first.id
    assert get_batch(session, batch_id=first.id).number == first.number
    # A value that is not an id is named as such (a link's text, True), before any database is asked.
    for kwargs, message in (({"batch_id": True}, "Batch id True is not a whole number."),
                            ({"batch_id": str(first.id)}, f"Batch id '{first.id}' is not a whole number."),
                            ({"number": first.number + 50}, f"There is no batch with number {first.number + 50}.")):
        with pytest.raises(Exception) as caught:
            get_batch(session, **kwargs)
        assert str(caught.value) == message
    assert_refused_unchanged(session, lambda: rebatch(session, source_batch_id=first.id, invoice_ids=[],
                                                      actor=ACTOR),
                             match="^Choose at least one invoice to rebatch.$")
    other = item.invoice_id + 100
    assert_refused_unchanged(session, lambda: rebatch(session, source_batch_id=first.id,
                                                      invoice_ids=[other + 900, item.invoice_id, other], actor=ACTOR),
                             match=rf"^There is no invoice with id\(s\) {other + 900}, {other}.$")
    # An invoice of another batch is named by its number, never by its id.
    stranger = make_party(session)
    make_encounter(session, stranger, amounts=("5.00",))
    (elsewhere,) = create_on_demand_batch(session, party_id=stranger.id, actor=ACTOR).items
    assert_refused_unchanged(session, lambda: rebatch(session, source_batch_id=first.id,
                                                      invoice_ids=[elsewhere.invoice_id], actor=ACTOR),
                             match=rf"^Batch {first.number} does not contain invoice {elsewhere.invoice_number}; "
                                   "rebatch it from its own batch.$")
    note = "n" * 2001
    assert_refused_unchanged(session, lambda: rebatch(session, source_batch_id=first.id, internal_note=note,
                                                      actor=ACTOR),
                             match="^Internal note is 2,001 characters long; shorten it to at most 2,000.$")
    post_receipt(session, party_id=party.id, amount="30.00", received_date=today(session), method="check",
                 allocations={item.invoice_id: "30.00"}, actor=ACTOR)
    assert_refused_unchanged(session, lambda: rebatch(session, source_batch_id=first.id, actor=ACTOR),
                             match=rf"^All 1 chosen invoice\(s\) of batch {first.number} are paid, so nothing was "
                                   r"resent. Tick 'Include paid invoices' to send them anyway.$")
    resent = rebatch(session, source_batch_id=first.id, include_paid=True, actor=ACTOR)
    assert (resent.invoice_count, resent.internal_note) == (1, "")
    set_invoice_billing(session, enabled=False, actor=ACTOR)
    assert_refused_unchanged(session, lambda: rebatch(session, source_batch_id=first.id, include_paid=True,
                                                      actor=ACTOR),
                             match="^Invoice billing is switched off, so rebatching is not possible. "
                                   "Turn it on in Settings > Invoice billing.$")


def test_rebatch_without_paid_invoices_resends_only_the_open_ones(session):
    from core import post_receipt
    from core.clock import today

    billing_on(session)
    group = make_group(session)
    paid_party, open_party = make_party(session, group=group), make_party(session, group=group)
    make_encounter(session, paid_party, amounts=("10.00",))
    make_encounter(session, open_party, amounts=("20.00",))
    first = create_on_demand_batch(session, group_id=group.id, actor=ACTOR)
    paid_item = next(i for i in first.items if i.party_id == paid_party.id)
    post_receipt(session, party_id=paid_party.id, amount="10.00", received_date=today(session), method="check",
                 allocations={paid_item.invoice_id: "10.00"}, actor=ACTOR)
    resent = rebatch(session, source_batch_id=first.id, actor=ACTOR)
    assert [(i.party_id, i.times_batched, i.balance_cents) for i in resent.items] == [(open_party.id, 2, 2000)]
