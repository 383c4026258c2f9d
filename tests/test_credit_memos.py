"""Credit memos: self-pay, reassign, void; unapplied credit when the invoice was already paid."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from core import (
    allocate_credit,
    clock,
    create_credit_memo,
    create_on_demand_batch,
    invoice_totals,
    list_credit_memos,
    party_account,
    post_receipt,
)
from core.models import AuditRecord, Encounter, InvoiceLine
from tests.factories import ACTOR, billing_on, make_encounter, make_party
from tests.support.fingerprint import assert_refused_unchanged

D = Decimal


def test_credit_memo_on_a_paid_invoice_leaves_unapplied_credit_that_pays_another(session):
    billing_on(session)
    party = make_party(session)
    e1 = make_encounter(session, party, amounts=("60.00",))
    make_encounter(session, party, amounts=("40.00",))
    first = create_on_demand_batch(session, party_id=party.id, actor=ACTOR).items[0]
    post_receipt(session, party_id=party.id, amount="100.00", received_date=clock.today(), method="check",
                 allocations={first.invoice_id: "100.00"}, actor=ACTOR)
    make_encounter(session, party, dos=date(2026, 4, 1), amounts=("75.00",))
    second = create_on_demand_batch(session, party_id=party.id, actor=ACTOR).items[0]
    session.commit()

    memo = create_credit_memo(session, batch_item_id=first.id, encounter_ids=[e1.id], action="void",
                              reason="Billed in error: pre-employment screen was the patient's own", actor="ann")
    session.commit()
    # Who, what, which records: the audit log names the memo, its invoice, encounters and amounts.
    audits = session.execute(sa.select(AuditRecord).where(AuditRecord.action == "credit_memo.create")).scalars().all()
    assert len(audits) == 1, "creating a credit memo writes one audit record"
    audit = audits[0]
    assert (audit.actor, audit.entity, audit.record_ids) == ("ann", "credit_memo", str(memo.id))
    detail = json.loads(audit.detail)
    assert (detail["number"], detail["invoice"], detail["action"]) == ("CM-000001", first.invoice_number, "void")
    assert (detail["encounters"], detail["amount"], detail["unapplied"]) == ([e1.number], "60.00", "60.00")
    assert detail["reason"].startswith("Billed in error")
    assert memo.number == 1 and memo.amount == D("60.00") and memo.unapplied == D("60.00")
    assert invoice_totals(session, first.invoice_id).status == "Paid"
    assert invoice_totals(session, first.invoice_id).credits == D("0.00")
    assert party_account(session, party_id=party.id).unapplied_credits == D("60.00")
    assert session.get(Encounter, e1.id).voided

    allocate_credit(session, credit_memo_id=memo.id, allocations={second.invoice_id: "60.00"}, actor=ACTOR)
    session.commit()
    totals = invoice_totals(session, second.invoice_id)
    assert (totals.credits, totals.balance_due, totals.credited) == (D("60.00"), D("15.00"), True)
    assert list_credit_memos(session, party_id=party.id)[0].unapplied == D("0.00")


def test_credit_memo_on_an_open_invoice_lowers_its_balance(session):
    billing_on(session)
    party = make_party(session)
    e1 = make_encounter(session, party, amounts=("60.00",))
    make_encounter(session, party, amounts=("40.00",))
    item = create_on_demand_batch(session, party_id=party.id, actor=ACTOR).items[0]
    memo = create_credit_memo(session, batch_item_id=item.id, encounter_ids=[e1.id], action="self-pay",
                              reason="Patient pays", actor=ACTOR)
    totals = invoice_totals(session, item.invoice_id)
    assert (totals.billed, totals.credits, totals.balance_due) == (D("100.00"), D("60.00"), D("40.00"))
    assert memo.unapplied == 0
    enc = session.get(Encounter, e1.id)
    assert enc.party_id is None and enc.self_pay


def test_reassigned_encounter_goes_on_the_new_partys_next_batch_only(session):
    billing_on(session)
    wrong, right = make_party(session, name="Wrong Co"), make_party(session, name="Right Co")
    enc = make_encounter(session, wrong, amounts=("88.00",))
    make_encounter(session, wrong, amounts=("12.00",))
    item = create_on_demand_batch(session, party_id=wrong.id, actor=ACTOR).items[0]
    create_credit_memo(session, batch_item_id=item.id, encounter_ids=[enc.id], action="reassign",
                       reassign_to_party_id=right.id, reason="Injury was at Right Co's site", actor=ACTOR)
    assert_refused_unchanged(session, lambda: create_on_demand_batch(session, party_id=wrong.id, actor=ACTOR),
                             match="Nothing to invoice")
    new = create_on_demand_batch(session, party_id=right.id, actor=ACTOR)
    session.commit()
    assert new.items[0].billed == D("88.00")
    live = session.execute(sa.select(InvoiceLine.invoice_id).where(
        InvoiceLine.encounter_id == enc.id, InvoiceLine.live == sa.true())).scalars().all()
    assert live == [new.items[0].invoice_id]
    assert invoice_totals(session, item.invoice_id).balance_due == D("12.00")
    # Credited once on the first invoice, the visit can still be credited on the invoice that now bills it.
    again = create_credit_memo(session, batch_item_id=new.items[0].id, encounter_ids=[enc.id], action="void",
                               reason="Not a work injury after all", actor=ACTOR)
    assert again.amount_cents == 8800
    assert invoice_totals(session, new.items[0].invoice_id).balance_due == D("0.00")


def test_refusals_change_nothing(session):
    billing_on(session)
    party, other = make_party(session), make_party(session)
    e1 = make_encounter(session, party, amounts=("60.00",))
    e2 = make_encounter(session, party, amounts=("40.00",))
    stranger = make_encounter(session, other)
    item = create_on_demand_batch(session, party_id=party.id, actor=ACTOR).items[0]
    create_credit_memo(session, batch_item_id=item.id, encounter_ids=[e1.id], action="void", reason="x", actor=ACTOR)
    session.commit()
    cases = [
        (dict(encounter_ids=[e1.id], action="void", reason="again"), "already credited on CM-000001"),
        (dict(encounter_ids=[e2.id], action="void", reason="  "), "reason is required"),
        (dict(encounter_ids=[e2.id], action="refund", reason="r"), "not one of"),
        (dict(encounter_ids=[], action="void", reason="r"), "at least one encounter"),
        (dict(encounter_ids=[stranger.id], action="void", reason="r"), "is not on invoice"),
        (dict(encounter_ids=[e2.id], action="reassign", reason="r"), "Choose the bill-to party"),
        (dict(encounter_ids=[e2.id], action="reassign", reason="r", reassign_to_party_id=party.id), "different party"),
        (dict(encounter_ids=[e2.id], action="void", reason="r", reassign_to_party_id=other.id), "only for"),
    ]
    for kwargs, message in cases:
        assert_refused_unchanged(session, lambda kwargs=kwargs: create_credit_memo(
            session, batch_item_id=item.id, actor=ACTOR, **kwargs), match=message)
    assert_refused_unchanged(session, lambda: create_credit_memo(
        session, batch_item_id=9999, encounter_ids=[e2.id], action="void", reason="r", actor=ACTOR),
        match="no batch item")


def test_credit_memo_refusals_in_the_managers_words(session):
    billing_on(session)
    party, other = make_party(session), make_party(session)
    paid = make_encounter(session, party, amounts=("80.00",))
    free = make_encounter(session, party, amounts=("0.00",))
    item = create_on_demand_batch(session, party_id=party.id, actor=ACTOR).items[0]
    session.commit()

    def refused(message, **kwargs):
        values = {"batch_item_id": item.id, "encounter_ids": [paid.id], "action": "void", "reason": "Error",
                  "actor": ACTOR, **kwargs}
        assert_refused_unchanged(session, lambda: create_credit_memo(session, **values), match=message)

    refused(r"^A reason is required for a credit memo \(it is printed on it\).$", reason="   ")
    refused(r"^Reason is 1,001 characters long; shorten it to at most 1,000.$", reason="r" * 1001)
    refused(r"^Choose the bill-to party the encounters are reassigned to.$", action="reassign")
    refused(r"^Reassign to a different party than the one already billed.$", action="reassign",
            reassign_to_party_id=party.id)
    refused(r"^A party to reassign to is only for the 'reassign' action, not 'void'.$", reassign_to_party_id=other.id)
    refused(r"^Select at least one encounter to credit, or enter an amount to credit on one.$", encounter_ids=[])
    # A $0 encounter is never invoiced (the batch leaves it out), so it is not on the invoice either.
    refused(rf"^Encounter {free.number} is not on invoice {item.invoice_number}.$", encounter_ids=[free.id])
    refused(rf"^There is no encounter with id {free.id + 1000}.$", encounter_ids=[free.id + 1000])
    refused(r"^Action 'refund' is not one of ", action="refund")
    refused(r"^Batch item id 'x' is not a whole number.$", batch_item_id="x")
    memo = create_credit_memo(session, batch_item_id=item.id, encounter_ids=[paid.id, paid.id], action="void",
                              reason="Error", actor=ACTOR)
    assert memo.amount_cents == 8000  # the same encounter twice is credited once
