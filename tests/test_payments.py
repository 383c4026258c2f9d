"""Receipts, allocations, suggestions and voids: domain rule 9 and the seed's reprint rule."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core import (
    allocate_receipt,
    clock,
    create_on_demand_batch,
    invoice_history,
    invoice_totals,
    list_receipts,
    party_account,
    post_receipt,
    rebatch,
    suggest_allocation,
    void_receipt,
)
from core.models import AuditRecord, InvoiceLine
from tests.factories import ACTOR, billing_on, make_encounter, make_party
from tests.support.fingerprint import assert_refused_unchanged

D = Decimal


def _invoices(session, party, amounts):
    """One invoice per amount for the party, oldest first."""
    items = []
    for i, amount in enumerate(amounts):
        make_encounter(session, party, dos=date(2026, 1, 1) + timedelta(days=i), amounts=(amount,))
        batch = create_on_demand_batch(session, party_id=party.id, actor=ACTOR)
        items.append(batch.items[0])
    session.commit()
    return items


def test_reprint_after_partial_receipt_shows_payment_and_new_balance(session):
    billing_on(session)
    party = make_party(session)
    (item,) = _invoices(session, party, ["300.00"])
    receipt = post_receipt(session, party_id=party.id, amount="120.00", received_date=clock.today(), method="check",
                           reference="CHK 5521", allocations={item.invoice_id: D("120.00")}, actor=ACTOR)
    session.commit()
    assert receipt.unapplied == D("0.00") and receipt.number == 1
    resend = rebatch(session, source_batch_id=item.batch_id, actor=ACTOR)
    (again,) = resend.items
    assert again.invoice_number == item.invoice_number + "-2"
    assert (again.billed, again.payments, again.credits, again.balance_due) == (D("300.00"), D("120.00"), D("0"),
                                                                              D("180.00"))
    lines = session.execute(sa.select(InvoiceLine.encounter_id).where(
        InvoiceLine.invoice_id == again.invoice_id)).scalars().all()
    assert len(lines) == 1  # the same encounters
    totals = invoice_totals(session, item.invoice_id)
    assert totals.status == "Open" and totals.partially_paid and totals.flags == ["partially paid"]


def test_one_check_pays_three_fully_and_a_fourth_partly(session):
    billing_on(session)
    party = make_party(session)
    items = _invoices(session, party, ["100.00", "200.00", "50.25", "80.00", "999.99"])
    ids = [i.invoice_id for i in items]
    receipt = post_receipt(session, party_id=party.id, amount="400.25", received_date=clock.today(), method="ACH",
                           allocations={ids[0]: "100.00", ids[1]: "200.00", ids[2]: "50.25", ids[3]: "40.00"},
                           actor=ACTOR)
    session.commit()
    statuses = [invoice_totals(session, i).status for i in ids]
    assert statuses == ["Paid", "Paid", "Paid", "Open", "Open"]
    assert invoice_totals(session, ids[3]).balance_due == D("40.00")
    assert receipt.unapplied == D("10.00")
    paid_rows = invoice_history(session, party_id=party.id, status="paid")
    assert sorted(r.invoice_number for r in paid_rows) == sorted(i.invoice_number for i in items[:3])
    assert [r.invoice_number for r in invoice_history(session, party_id=party.id)] == \
           [items[4].invoice_number, items[3].invoice_number]
    account = party_account(session, party_id=party.id)
    assert account.open_balance == D("1039.99") and account.unapplied_receipts == D("10.00")
    assert account.last_payment_amount == D("400.25") and account.average_days_to_pay == 0.0
    # The unapplied ten dollars can be allocated later.
    allocate_receipt(session, receipt_id=receipt.id, allocations={ids[3]: D("10.00")}, actor=ACTOR)
    assert invoice_totals(session, ids[3]).balance_due == D("30.00")
    assert list_receipts(session, party_id=party.id)[0].unapplied == D("0.00")


def test_suggestion_finds_the_exact_three_invoice_match(session):
    billing_on(session)
    party = make_party(session)
    items = _invoices(session, party, ["120.00", "75.50", "310.00", "44.25", "18.00"])
    suggestion = suggest_allocation(session, party_id=party.id, amount="429.75")  # 75.50 + 310.00 + 44.25
    assert suggestion.method == "exact match"
    assert suggestion.allocations == {items[1].invoice_id: D("75.50"), items[2].invoice_id: D("310.00"),
                                      items[3].invoice_id: D("44.25")}
    oldest = suggest_allocation(session, party_id=party.id, amount="150.00")
    assert oldest.method == "oldest first" and oldest.unapplied == D("0.00")
    assert oldest.allocations == {items[0].invoice_id: D("120.00"), items[1].invoice_id: D("30.00")}
    more = suggest_allocation(session, party_id=party.id, amount="1000.00")
    assert more.method == "oldest first" and more.unapplied == D("1000.00") - D("567.75")
    receipt = post_receipt(session, party_id=party.id, amount="429.75", received_date=clock.today(), method="check",
                           allocations=suggestion.allocations, actor=ACTOR)
    assert receipt.unapplied == 0


def test_void_reverses_allocations_and_is_audited(session):
    billing_on(session)
    party = make_party(session)
    (item,) = _invoices(session, party, ["90.00"])
    receipt = post_receipt(session, party_id=party.id, amount="90.00", received_date=clock.today(), method="check",
                           allocations={item.invoice_id: "90.00"}, actor=ACTOR)
    assert invoice_totals(session, item.invoice_id).status == "Paid"
    void_receipt(session, receipt_id=receipt.id, reason="Check returned NSF", actor="ann")
    session.commit()
    assert invoice_totals(session, item.invoice_id).balance_due == D("90.00")
    assert list_receipts(session, party_id=party.id)[0].voided
    assert party_account(session, party_id=party.id).unapplied == 0
    actions = session.execute(sa.select(AuditRecord.action).order_by(AuditRecord.id)).scalars().all()
    assert actions[-2:] == ["receipt.post", "receipt.void"]
    assert_refused_unchanged(session, lambda: void_receipt(session, receipt_id=receipt.id, reason="again",
                                                           actor=ACTOR), match="already voided")
    assert_refused_unchanged(session, lambda: allocate_receipt(session, receipt_id=receipt.id,
                                                               allocations={item.invoice_id: "1.00"}, actor=ACTOR),
                             match="is voided")


@pytest.mark.parametrize("change, message", [
    ({"amount": "-5.00"}, "negative"),
    ({"amount": "0"}, "above zero"),
    ({"amount": "NaN"}, "not a number"),
    ({"amount": "10.005"}, "two decimal places"),
    ({"amount": "ten"}, "not a number"),
    ({"received_date": "tomorrow"}, "in the future"),
    ({"method": "bitcoin"}, "not one of"),
    ({"allocations": "over-receipt"}, "more than the"),
    ({"allocations": "over-invoice"}, "more than invoice"),
    ({"allocations": "other-party"}, "belongs to another party"),
    ({"allocations": "paid"}, "already paid"),
    ({"allocations": "three-decimals"}, "two decimal places"),
    ({"allocations": "negative"}, "negative"),
])
def test_bad_receipts_are_refused_and_change_nothing(session, change, message):
    billing_on(session)
    party, other = make_party(session), make_party(session)
    mine = _invoices(session, party, ["100.00", "50.00"])
    theirs = _invoices(session, other, ["70.00"])
    post_receipt(session, party_id=party.id, amount="50.00", received_date=clock.today(), method="check",
                 allocations={mine[1].invoice_id: "50.00"}, actor=ACTOR)
    session.commit()
    allocations = {
        "over-receipt": {mine[0].invoice_id: "100.00"},
        "over-invoice": {mine[0].invoice_id: "100.01"},
        "other-party": {theirs[0].invoice_id: "10.00"},
        "paid": {mine[1].invoice_id: "1.00"},
        "three-decimals": {mine[0].invoice_id: "1.001"},
        "negative": {mine[0].invoice_id: "-1.00"},
    }
    args = dict(party_id=party.id, amount="60.00", received_date=clock.today(), method="check", actor=ACTOR)
    if change.get("allocations"):
        args["allocations"] = allocations[change["allocations"]]
        if change["allocations"] == "over-invoice":
            args["amount"] = "500.00"
    else:
        args.update(change)
    if args["received_date"] == "tomorrow":
        args["received_date"] = clock.today(session) + timedelta(days=1)
    assert_refused_unchanged(session, lambda: post_receipt(session, **args), match=message)
    assert invoice_totals(session, mine[0].invoice_id).balance_due == D("100.00")


def test_allocating_a_receipt_beyond_what_is_left_is_refused(session):
    billing_on(session)
    party = make_party(session)
    items = _invoices(session, party, ["100.00", "100.00"])
    receipt = post_receipt(session, party_id=party.id, amount="150.00", received_date=clock.today(),
                           method="check", allocations={items[0].invoice_id: "100.00"}, actor=ACTOR)
    assert_refused_unchanged(session, lambda: allocate_receipt(
        session, receipt_id=receipt.id, allocations={items[1].invoice_id: "50.01"}, actor=ACTOR),
        match=r"more than the \$50.00 available")
    assert invoice_totals(session, items[1].invoice_id).balance_due == D("100.00")


def test_payments_refused_while_invoice_billing_is_off(session):
    party = make_party(session)
    assert_refused_unchanged(session, lambda: post_receipt(
        session, party_id=party.id, amount="10.00", received_date=clock.today(), method="check", actor=ACTOR),
        match="Settings > Invoice billing")


def test_suggestions_explain_themselves_and_prefer_the_oldest_exact_match(session):
    from core import allocate_credit, audit_log, create_credit_memo, open_invoices
    from core.models import Invoice
    from core.payments import AllocationSuggestion

    billing_on(session)
    party = make_party(session)
    assert suggest_allocation(session, party_id=party.id, amount="12.00") == AllocationSuggestion(
        {}, "nothing open", D("12.00"), "The party has no open invoices; the whole amount stays unapplied.")
    items = _invoices(session, party, ["5.00", "5.00", "10.00"])
    opened = open_invoices(session, party_id=party.id)
    assert [(o.invoice_id, o.number, o.billed, o.balance_due) for o in opened] == \
        [(i.invoice_id, i.invoice_number, D(a), D(a)) for i, a in zip(items, ["5.00", "5.00", "10.00"], strict=True)]
    sent = [session.get(Invoice, i.invoice_id) for i in items]
    assert [(o.first_sent_on, o.due_on) for o in opened] == [(i.first_sent_on, i.due_on) for i in sent]
    # 15.00 is 5.00 + 10.00 two ways: the oldest 5.00 is the one chosen.
    exact = suggest_allocation(session, party_id=party.id, amount="15.00")
    assert exact.allocations == {items[0].invoice_id: D("5.00"), items[2].invoice_id: D("10.00")}
    assert exact.explanation == f"$15.00 pays exactly {items[0].invoice_number}, {items[2].invoice_number}."
    more = suggest_allocation(session, party_id=party.id, amount="1,021.50")
    assert (more.method, more.unapplied, more.explanation) == (
        "oldest first", D("1001.50"), "Oldest invoices first; $1,001.50 stays unapplied.")
    with pytest.raises(Exception, match="^The receipt amount 'ten' is not a number; write it like 125.00.$"):
        suggest_allocation(session, party_id=party.id, amount="ten")

    # Allocating later: an empty allocation is refused; each allocation is audited with its number and amounts.
    receipt = post_receipt(session, party_id=party.id, amount="30.00", received_date=clock.today(), method="check",
                           actor=ACTOR)
    assert_refused_unchanged(session, lambda: allocate_receipt(session, receipt_id=receipt.id, allocations={},
                                                               actor=ACTOR),
                             match="^Enter at least one invoice and amount to allocate.$")
    from datetime import UTC, datetime

    at = datetime(2026, 1, 20, 15, 30, tzinfo=UTC)
    allocate_receipt(session, receipt_id=receipt.id, allocations={items[0].invoice_id: "5.00"}, actor="ann", as_of=at)
    entry = audit_log(session, action="receipt.allocate")[0]
    assert (entry.actor, entry.record_ids, entry.detail) == (
        "ann", str(receipt.id), {"number": f"RCT-{receipt.number:06d}", "allocations": {items[0].invoice_number: "5.00"}})
    assert entry.at.replace(tzinfo=UTC) == at
    # Items[2] paid in full, then credited: its 10.00 credit is left to use on another invoice.
    post_receipt(session, party_id=party.id, amount="10.00", received_date=clock.today(), method="check",
                 allocations={items[2].invoice_id: "10.00"}, actor=ACTOR)
    encounter_id = session.execute(sa.select(InvoiceLine.encounter_id)
                                   .where(InvoiceLine.invoice_id == items[2].invoice_id)).scalar_one()
    memo = create_credit_memo(session, batch_item_id=items[2].id, encounter_ids=[encounter_id], action="void",
                              reason="Duplicate", actor=ACTOR)
    allocate_credit(session, credit_memo_id=memo.id, allocations={items[1].invoice_id: "5.00"}, actor="bob", as_of=at)
    entry = audit_log(session, action="credit_memo.allocate")[0]
    assert (entry.actor, entry.record_ids, entry.detail["number"], entry.detail["allocations"]) == (
        "bob", str(memo.id), f"CM-{memo.number:06d}", {items[1].invoice_number: "5.00"})
    assert entry.at.replace(tzinfo=UTC) == at


def test_allocating_a_receipt_needs_invoice_billing_on(session):
    from core import set_invoice_billing

    billing_on(session)
    party = make_party(session)
    (item,) = _invoices(session, party, ["40.00"])
    receipt = post_receipt(session, party_id=party.id, amount="40.00", received_date=clock.today(), method="check",
                           actor=ACTOR)
    set_invoice_billing(session, enabled=False, actor=ACTOR)
    assert_refused_unchanged(session, lambda: allocate_receipt(session, receipt_id=receipt.id,
                                                               allocations={item.invoice_id: "40.00"}, actor=ACTOR),
                             match="^Invoice billing is switched off, so posting invoice payments is not possible. "
                                   "Turn it on in Settings > Invoice billing.$")


def test_a_void_reverses_only_its_own_allocations_and_records_when(session):
    from datetime import UTC, datetime

    from core import audit_log
    from core.models import Allocation, Receipt

    billing_on(session)
    party = make_party(session)
    first, second = _invoices(session, party, ["50.00", "70.00"])
    kept = post_receipt(session, party_id=party.id, amount="70.00", received_date=clock.today(), method="check",
                        allocations={second.invoice_id: "70.00"}, actor=ACTOR)
    bounced = post_receipt(session, party_id=party.id, amount="50.00", received_date=clock.today(), method="check",
                           allocations={first.invoice_id: "30.00"}, actor=ACTOR)
    assert_refused_unchanged(session, lambda: void_receipt(session, receipt_id=bounced.id, reason="  ", actor=ACTOR),
                             match=r"^A reason is required to void a receipt \(for example: check returned NSF\).$")
    at = datetime(2026, 1, 30, 9, 15, tzinfo=UTC)
    void_receipt(session, receipt_id=bounced.id, reason="NSF", actor=ACTOR, as_of=at)
    session.commit()
    entry = audit_log(session, action="receipt.void")[0]
    assert (entry.entity, entry.record_ids) == ("receipt", str(bounced.id))
    assert (entry.detail["reversed_invoices"], entry.detail["reversed"]) == ([first.invoice_number], "30.00")
    rows = session.execute(sa.select(Allocation.receipt_id, Allocation.live, Allocation.reversed_at)
                           .order_by(Allocation.id)).all()
    assert [(r.receipt_id, r.live) for r in rows] == [(kept.id, True), (bounced.id, False)]
    assert rows[0].reversed_at is None and rows[1].reversed_at.replace(tzinfo=UTC) == at
    stored = session.execute(sa.select(Receipt.applied_cents, Receipt.voided_at).where(Receipt.id == bounced.id)).one()
    assert stored.applied_cents == 0 and stored.voided_at.replace(tzinfo=UTC) == at
    assert invoice_totals(session, second.invoice_id).balance_due == D("0.00")
    assert invoice_totals(session, first.invoice_id).balance_due == D("50.00")
