"""Issue 12's corrections: write-offs, refunds, un-applying one allocation, amount adjustments on credit memos; the
books reconciled and a party's ledger with its running balance. Every figure expected below is worked out here by
hand from the amounts and days this file chose, to the cent, on SQLite and PostgreSQL (the `session` fixture).

The clock is frozen at noon of TODAY on the practice's wall; each write is dated with `as_of=` a moment of its day,
so the days printed and the days the ledger keeps are the ones chosen here.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from core import (
    allocate_credit,
    allocate_receipt,
    audit_log,
    clock,
    create_credit_memo,
    create_on_demand_batch,
    invoice_totals,
    list_allocations,
    list_credit_memos,
    list_receipts,
    list_refunds,
    list_write_offs,
    party_account,
    party_ledger,
    post_receipt,
    rebatch,
    reconcile,
    refund,
    render_batch_item_pdf,
    render_credit_memo_pdf,
    save_invoice_profile,
    set_invoice_billing,
    set_time_zone,
    unapply_allocation,
    verify_document,
    void_receipt,
    write_off,
    write_off_needs_confirmation,
)
from core.models import Encounter, InvoiceLine, Patient
from tests.factories import ACTOR, billing_on, make_encounter, make_party
from tests.support.fingerprint import assert_refused_unchanged
from tests.support.pdf_text import pdf_text

D = Decimal
TODAY = date(2026, 6, 30)


def noon(session: Session, d: date) -> datetime:
    """A moment on the practice's day d, whatever the zone."""
    return clock.day_start(d, session) + timedelta(hours=12)


def day(d: date) -> str:
    """How a document writes a date: Mar 1, 2026."""
    return f"{d:%b} {d.day}, {d.year}"


@pytest.fixture(autouse=True)
def frozen(session, time_machine):
    """The practice's today is TODAY (a POSIX timestamp, so time-machine leaves the zone alone)."""
    time_machine.move_to(noon(session, TODAY).timestamp(), tick=False)
    assert clock.today(session) == TODAY
    billing_on(session)
    session.commit()


def send(session: Session, party, amounts: tuple[str, ...], on: date):
    """One new invoice of the party, first sent on that day, one encounter per amount; (item, encounters, batch)."""
    encounters = [make_encounter(session, party, dos=on - timedelta(days=2), amounts=(a,)) for a in amounts]
    batch = create_on_demand_batch(session, party_id=party.id, actor=ACTOR, as_of=noon(session, on))
    session.commit()
    return batch.items[0], encounters, batch


def pay(session: Session, party, amount: str, on: date, allocations: dict | None = None, reference: str = ""):
    receipt = post_receipt(session, party_id=party.id, amount=amount, received_date=on, method="check",
                           reference=reference, allocations=allocations or {}, actor=ACTOR, as_of=noon(session, on))
    session.commit()
    return receipt


def archived(session: Session, item_id: int) -> bytes:
    """A sending's PDF as a manager downloads it (the first download archives its fingerprint)."""
    pdf = render_batch_item_pdf(session, batch_item_id=item_id)
    session.commit()
    return pdf


def assert_reprints_unchanged(session: Session, before: dict[int, bytes]) -> None:
    for item_id, pdf in before.items():
        assert render_batch_item_pdf(session, batch_item_id=item_id) == pdf, f"batch item {item_id} changed"
        check = verify_document(session, kind="batch_item", ref_id=item_id)
        assert check.unchanged and check.archived_sha256 == hashlib.sha256(pdf).hexdigest()
    session.commit()


# ---------------------------------------------------------------------------------------------- write-offs

def test_a_short_pay_write_off_closes_the_invoice_numbered_and_audited(session):
    employer = make_party(session, name="Cascade Timber")
    item, _, _ = send(session, employer, ("1250.00",), date(2026, 3, 2))
    pay(session, employer, "1245.00", date(2026, 3, 20), {item.invoice_id: "1245.00"}, reference="CHK 5501")
    assert invoice_totals(session, item.invoice_id).balance_due == D("5.00")

    wo = write_off(session, invoice_id=item.invoice_id, amount="5.00", reason="short-pay",
                   note="Employer paid the contract rate", actor="ann", as_of=noon(session, date(2026, 3, 21)))
    session.commit()
    assert (wo.number, wo.amount, wo.reason, wo.written_on) == (1, D("5.00"), "short-pay", date(2026, 3, 21))
    totals = invoice_totals(session, item.invoice_id)
    assert (totals.billed, totals.payments, totals.credits, totals.writeoffs, totals.balance_due) == (
        D("1250.00"), D("1245.00"), D("0.00"), D("5.00"), D("0.00"))
    assert totals.status == "Paid" and totals.flags == ["written off"]
    (row,) = list_write_offs(session, party_id=employer.id)
    assert (row.number, row.invoice_number, row.party_name, row.amount, row.reason, row.note, row.created_by) == (
        "WO-000001", item.invoice_number, "Cascade Timber", D("5.00"), "short-pay",
        "Employer paid the contract rate", "ann")
    (entry,) = audit_log(session, action="write_off.create")
    assert (entry.actor, entry.entity, entry.record_ids) == ("ann", "write_off", str(wo.id))
    assert entry.detail == {"number": "WO-000001", "invoice": item.invoice_number, "amount": "5.00",
                            "reason": "short-pay", "note": "Employer paid the contract rate", "balance_after": "0.00"}
    assert party_account(session, party_id=employer.id).open_balance == D("0.00")

    # The next write-off takes the next number, whatever its invoice or party.
    other = make_party(session)
    second, _, _ = send(session, other, ("0.40",), date(2026, 4, 1))
    again = write_off(session, invoice_id=second.invoice_id, amount="0.40", reason="Small Balance", actor=ACTOR)
    session.commit()
    assert again.number == 2 and again.reason == "small balance"
    assert [r.number for r in list_write_offs(session)] == ["WO-000002", "WO-000001"]
    assert reconcile(session).ok


def test_write_off_refusals_say_why_and_change_nothing(session):
    party = make_party(session)
    open_item, _, _ = send(session, party, ("100.00",), date(2026, 3, 2))
    paid_item, _, _ = send(session, party, ("40.00",), date(2026, 3, 3))
    pay(session, party, "40.00", date(2026, 3, 4), {paid_item.invoice_id: "40.00"})
    number = open_item.invoice_number

    def refused(match: str, **changes):
        args = {"invoice_id": open_item.invoice_id, "amount": "10.00", "reason": "bad debt", "actor": ACTOR, **changes}
        assert_refused_unchanged(session, lambda: write_off(session, **args), match=match)

    refused(rf"^\$100\.01 is more than invoice {number}'s balance of \$100\.00\.$", amount="100.01")
    refused(rf"^Invoice {paid_item.invoice_number} is already paid; there is nothing to write off\.$",
            invoice_id=paid_item.invoice_id)
    refused(r"^The amount to write off must be above zero\.$", amount="0")
    refused(r"^The amount to write off must be above zero\.$", amount=D("0.00"))
    refused(r"^The amount to write off cannot be negative \(-5\.00\)\.$", amount="-5.00")
    refused(r"^The amount to write off 0\.001 has more than two decimal places; amounts are to the cent\.$",
            amount="0.001")
    refused(r"^The write-off reason 'goodwill' is not one of small balance, short-pay, bad debt, other\.$",
            reason="goodwill")
    refused(r"^Say what the write-off is for when the reason is 'other'\.$", reason="other")
    refused(r"^Say what the write-off is for when the reason is 'other'\.$", reason="other", note="   ")
    refused(r"^There is no invoice with id 999999\.$", invoice_id=999999)
    refused(r"^Invoice id True is not a whole number\.$", invoice_id=True)
    assert list_write_offs(session) == []
    assert invoice_totals(session, open_item.invoice_id).balance_due == D("100.00")
    # The whole balance, to the cent, is accepted; with 'other' and a note too.
    write_off(session, invoice_id=open_item.invoice_id, amount="99.99", reason="other", note="Goodwill", actor=ACTOR)
    write_off(session, invoice_id=open_item.invoice_id, amount="0.01", reason="small balance", actor=ACTOR)
    session.commit()
    assert invoice_totals(session, open_item.invoice_id).status == "Paid"
    refused(rf"^Invoice {number} is already paid; there is nothing to write off\.$", amount="0.01")


def test_a_write_off_above_the_profiles_threshold_asks_a_second_time(session):
    # No profile yet: the default $50.00.
    assert not write_off_needs_confirmation(session, amount="50.00")
    assert write_off_needs_confirmation(session, amount="50.01")
    save_invoice_profile(session, actor=ACTOR, remit_to_name="Riverbend Occupational Health")
    session.commit()
    assert not write_off_needs_confirmation(session, amount=D("50.00"))
    assert write_off_needs_confirmation(session, amount="50.01")
    save_invoice_profile(session, actor=ACTOR, write_off_confirm_cents=20000)
    session.commit()
    assert not write_off_needs_confirmation(session, amount="200.00")
    assert not write_off_needs_confirmation(session, amount="50.01")
    assert write_off_needs_confirmation(session, amount="200.01")
    save_invoice_profile(session, actor=ACTOR, write_off_confirm_cents=0)
    session.commit()
    assert write_off_needs_confirmation(session, amount="0.01")
    with pytest.raises(Exception, match=r"^The amount to write off 'ten' is not a number; write it like 125\.00\.$"):
        write_off_needs_confirmation(session, amount="ten")
    for bad in (-1, True, "5000", 100_000_001):
        assert_refused_unchanged(session, lambda bad=bad: save_invoice_profile(
            session, actor=ACTOR, write_off_confirm_cents=bad),
            match=r"^The write-off amount that asks for a second confirmation must be whole cents from 0 to "
                  r"100,000,000 \(\$1,000,000\.00\), not ")


def test_a_write_off_prints_on_the_next_resend_and_the_earlier_sending_stays_as_it_was(session):
    party = make_party(session)
    item, _, batch = send(session, party, ("1250.00",), date(2026, 3, 2))
    first = archived(session, item.id)
    pay(session, party, "1245.00", date(2026, 3, 10), {item.invoice_id: "1245.00"}, reference="CHK 5501")
    write_off(session, invoice_id=item.invoice_id, amount="5.00", reason="short-pay", actor=ACTOR,
              as_of=noon(session, date(2026, 3, 12)))
    session.commit()
    resend = rebatch(session, source_batch_id=batch.id, include_paid=True, actor=ACTOR,
                     as_of=noon(session, date(2026, 3, 15)))
    session.commit()
    (again,) = resend.items
    text = pdf_text(archived(session, again.id))
    assert again.invoice_number == f"{item.invoice_number}-2"
    assert "Payment received Mar 10, 2026, check CHK 5501 -$1,245.00" in text
    assert "Written off Mar 12, 2026, WO-000001 (short-pay) -$5.00" in text
    assert "Balance due $0.00" in text
    assert "Written off" not in pdf_text(first)
    assert_reprints_unchanged(session, {item.id: first})


def test_a_write_off_is_a_row_of_the_party_ledger_and_a_request_key_acts_once(session):
    party = make_party(session)
    item, _, _ = send(session, party, ("80.00",), date(2026, 3, 2))
    at = noon(session, date(2026, 3, 9))
    made = [write_off(session, invoice_id=item.invoice_id, amount="7.50", reason="bad debt", actor=ACTOR, as_of=at,
                      request_key="wo-form-1") for _ in range(2)]
    session.commit()
    assert made[0].id == made[1].id
    assert len(list_write_offs(session)) == 1 and len(audit_log(session, action="write_off.create")) == 1
    assert invoice_totals(session, item.invoice_id).writeoffs == D("7.50")
    # The same key for another request is refused, not replayed.
    assert_refused_unchanged(session, lambda: write_off(session, invoice_id=item.invoice_id, amount="1.00",
                                                        reason="bad debt", actor=ACTOR, request_key="wo-form-1"),
                             match=r"^This submission was already used with other values; nothing was changed\.")
    rows = [(r.on, r.kind, r.number, r.amount, r.running_balance) for r in party_ledger(session, party_id=party.id)]
    assert rows == [(date(2026, 3, 2), "invoice", item.invoice_number, D("80.00"), D("80.00")),
                    (date(2026, 3, 9), "write-off", "WO-000001", D("-7.50"), D("72.50"))]
    assert party_ledger(session, party_id=party.id)[-1].description == f"bad debt (on {item.invoice_number})"


# ---------------------------------------------------------------------------------------------- refunds

def test_what_is_left_of_one_payment_across_several_invoices_is_refunded(session):
    party = make_party(session)
    items = [send(session, party, (a,), date(2026, 3, 2 + i))[0] for i, a in enumerate(("100.00", "200.00", "50.25"))]
    receipt = pay(session, party, "400.00", date(2026, 3, 10), {i.invoice_id: a for i, a in
                                                                zip(items, ("100.00", "200.00", "50.25"), strict=True)})
    assert receipt.unapplied == D("49.75")
    assert party_account(session, party_id=party.id).unapplied_receipts == D("49.75")

    rf = refund(session, receipt_id=receipt.id, amount="49.75", method="Check", reference="CHK 300", actor="ann",
                as_of=noon(session, date(2026, 3, 12)))
    session.commit()
    assert (rf.number, rf.amount, rf.method, rf.refunded_on) == (1, D("49.75"), "check", date(2026, 3, 12))
    account = party_account(session, party_id=party.id)
    assert (account.open_balance, account.unapplied_receipts, account.unapplied) == (D("0.00"),) * 3
    (row,) = list_receipts(session, party_id=party.id)
    assert (row.amount, row.applied, row.refunded, row.unapplied, row.voided) == (
        D("400.00"), D("350.25"), D("49.75"), D("0.00"), False)
    assert list_receipts(session, party_id=party.id, only_unapplied=True) == []
    (listed,) = list_refunds(session, party_id=party.id)
    assert (listed.number, listed.source, listed.amount, listed.method, listed.reference) == (
        "RF-000001", "RCT-000001", D("49.75"), "check", "CHK 300")
    (entry,) = audit_log(session, action="refund.create")
    assert (entry.actor, entry.entity, entry.record_ids) == ("ann", "refund", str(rf.id))
    assert entry.detail == {"number": "RF-000001", "from": "RCT-000001", "amount": "49.75", "method": "check",
                            "reference": "CHK 300", "unapplied_after": "0.00"}
    assert [invoice_totals(session, i.invoice_id).status for i in items] == ["Paid"] * 3
    assert reconcile(session).ok


def test_refund_refusals_say_why_and_change_nothing(session):
    party = make_party(session)
    item, _, _ = send(session, party, ("60.00", "40.00"), date(2026, 3, 2))
    partly = pay(session, party, "150.00", date(2026, 3, 5), {item.invoice_id: "100.00"})      # RCT-000001: 50 left
    other, _, _ = send(session, party, ("25.00",), date(2026, 3, 6))
    whole = pay(session, party, "25.00", date(2026, 3, 7), {other.invoice_id: "25.00"})        # RCT-000002: none
    bounced = pay(session, party, "70.00", date(2026, 3, 8))                                     # RCT-000003
    void_receipt(session, receipt_id=bounced.id, reason="NSF", actor=ACTOR)
    memo = create_credit_memo(session, batch_item_id=other.id, encounter_ids=[
        session.execute(sa.select(InvoiceLine.encounter_id).where(InvoiceLine.invoice_id == other.invoice_id))
        .scalar_one()], action="void", reason="Duplicate", actor=ACTOR)                        # CM-000001: 25 left
    session.commit()

    def refused(match: str, **changes):
        args = {"receipt_id": partly.id, "amount": "10.00", "method": "check", "actor": ACTOR, **changes}
        assert_refused_unchanged(session, lambda: refund(session, **args), match=match)

    refused(r"^\$50\.01 is more than the \$50\.00 unapplied on RCT-000001\.$", amount="50.01")
    refused(r"^RCT-000002 has no unapplied money to refund\.$", receipt_id=whole.id)
    refused(r"^Receipt RCT-000003 is voided; there is nothing to refund\.$", receipt_id=bounced.id)
    refused(r"^Refund from a receipt or from a credit memo, not both\.$", credit_memo_id=memo.id)
    refused(r"^Choose the receipt or the credit memo to refund from \(one of them\)\.$", receipt_id=None)
    refused(r"^The amount to refund must be above zero\.$", amount="0.00")
    refused(r"^The amount to refund cannot be negative \(-1\.00\)\.$", amount="-1.00")
    refused(r"^Method 'bitcoin' is not one of check, ACH, card, cash, other\.$", method="bitcoin")
    refused(r"^There is no receipt with id 99999\.$", receipt_id=99999)
    refused(r"^There is no credit memo with id 99999\.$", receipt_id=None, credit_memo_id=99999)
    refused(r"^\$25\.01 is more than the \$25\.00 unapplied on CM-000001\.$", receipt_id=None,
            credit_memo_id=memo.id, amount="25.01")
    assert list_refunds(session) == []
    # Exactly what is left is accepted; then there is nothing left.
    refund(session, receipt_id=partly.id, amount="50.00", method="ACH", actor=ACTOR)
    session.commit()
    refused(r"^RCT-000001 has no unapplied money to refund\.$", amount="0.01")


def test_unapplied_credit_of_a_credit_memo_is_refunded(session):
    party = make_party(session)
    item, (big, _), _ = send(session, party, ("60.00", "40.00"), date(2026, 3, 2))
    pay(session, party, "70.00", date(2026, 3, 5), {item.invoice_id: "70.00"})
    # The credit (60.00) is beyond the balance (30.00): 30.00 pays the invoice, 30.00 stays as credit.
    memo = create_credit_memo(session, batch_item_id=item.id, encounter_ids=[big.id], action="void",
                              reason="Billed in error", actor=ACTOR, as_of=noon(session, date(2026, 3, 6)))
    session.commit()
    assert (memo.amount, memo.unapplied) == (D("60.00"), D("30.00"))
    assert invoice_totals(session, item.invoice_id).status == "Paid"
    assert party_account(session, party_id=party.id).unapplied_credits == D("30.00")

    rf = refund(session, credit_memo_id=memo.id, amount="30.00", method="check", reference="CHK 42", actor=ACTOR,
                as_of=noon(session, date(2026, 3, 9)))
    session.commit()
    assert rf.number == 1 and rf.credit_memo_id == memo.id and rf.receipt_id is None
    (row,) = list_credit_memos(session, party_id=party.id)
    assert (row.amount, row.unapplied, row.refunded) == (D("60.00"), D("0.00"), D("30.00"))
    assert party_account(session, party_id=party.id).unapplied == D("0.00")
    assert list_refunds(session)[0].source == "CM-000001"
    assert audit_log(session, action="refund.create")[0].detail["from"] == "CM-000001"
    assert reconcile(session).ok
    assert party_ledger(session, party_id=party.id)[-1].running_balance == D("0.00")


def test_unapplied_credit_of_a_credit_memo_pays_another_invoice_and_then_none_is_left_to_refund(session):
    party = make_party(session)
    item, (big, _), _ = send(session, party, ("60.00", "40.00"), date(2026, 3, 2))
    pay(session, party, "70.00", date(2026, 3, 5), {item.invoice_id: "70.00"})
    memo = create_credit_memo(session, batch_item_id=item.id, encounter_ids=[big.id], action="void",
                              reason="Billed in error", actor=ACTOR)
    later, _, _ = send(session, party, ("45.00",), date(2026, 3, 7))
    allocate_credit(session, credit_memo_id=memo.id, allocations={later.invoice_id: "30.00"}, actor=ACTOR)
    session.commit()
    assert invoice_totals(session, later.invoice_id).balance_due == D("15.00")
    assert list_credit_memos(session)[0].unapplied == D("0.00")
    assert party_account(session, party_id=party.id).unapplied == D("0.00")
    assert_refused_unchanged(session, lambda: refund(session, credit_memo_id=memo.id, amount="0.01", method="check",
                                                     actor=ACTOR), match=r"^CM-000001 has no unapplied money")
    assert reconcile(session).ok


def test_voiding_a_refunded_receipt_reverses_only_what_stayed_applied(session):
    party = make_party(session)
    item, _, _ = send(session, party, ("100.00",), date(2026, 3, 2))
    receipt = pay(session, party, "150.00", date(2026, 3, 5), {item.invoice_id: "100.00"})
    refund(session, receipt_id=receipt.id, amount="20.00", method="check", actor=ACTOR,
           as_of=noon(session, date(2026, 3, 6)))
    void_receipt(session, receipt_id=receipt.id, reason="Check returned NSF", actor=ACTOR,
                 as_of=noon(session, date(2026, 3, 9)))
    session.commit()
    session.refresh(receipt)
    assert (receipt.voided, receipt.refunded, receipt.applied_cents, receipt.unapplied) == (
        True, D("20.00"), 0, D("0.00"))
    (row,) = list_receipts(session, party_id=party.id)
    assert (row.voided, row.applied, row.refunded, row.unapplied) == (True, D("0.00"), D("20.00"), D("0.00"))
    assert invoice_totals(session, item.invoice_id).balance_due == D("100.00")
    entry = audit_log(session, action="receipt.void")[0]
    assert (entry.detail["reversed"], entry.detail["refunded_before"]) == ("100.00", "20.00")
    account = party_account(session, party_id=party.id)
    assert (account.open_balance, account.unapplied) == (D("100.00"), D("0.00"))
    rows = [(r.on, r.kind, r.amount, r.running_balance) for r in party_ledger(session, party_id=party.id)]
    assert rows == [(date(2026, 3, 2), "invoice", D("100.00"), D("100.00")),
                    (date(2026, 3, 5), "receipt", D("-150.00"), D("-50.00")),
                    (date(2026, 3, 5), "allocation", D("0.00"), D("-50.00")),
                    (date(2026, 3, 6), "refund", D("20.00"), D("-30.00")),
                    (date(2026, 3, 9), "void", D("130.00"), D("100.00"))]
    result = reconcile(session)
    assert result.ok, result.problems


def test_a_refund_and_an_un_apply_submitted_twice_act_once(session):
    party = make_party(session)
    item, _, _ = send(session, party, ("100.00",), date(2026, 3, 2))
    receipt = pay(session, party, "130.00", date(2026, 3, 4), {item.invoice_id: "100.00"})
    refunds = [refund(session, receipt_id=receipt.id, amount="30.00", method="check", actor=ACTOR,
                      request_key="refund-form-7") for _ in range(2)]
    session.commit()
    assert refunds[0].id == refunds[1].id and len(list_refunds(session)) == 1
    assert list_receipts(session)[0].refunded == D("30.00")
    (allocation,) = list_allocations(session, receipt_id=receipt.id)
    for _ in range(2):  # the second is the first's answer, not "already taken back"
        unapply_allocation(session, allocation_id=allocation.allocation_id, reason="Wrong invoice", actor=ACTOR,
                           request_key="unapply-form-3")
        session.commit()
    assert len(audit_log(session, action="allocation.unapply")) == 1
    assert list_receipts(session)[0].unapplied == D("100.00")
    assert reconcile(session).ok


# ---------------------------------------------------------------------------------------------- un-apply

def test_unapplying_and_applying_again_moves_the_balance_and_the_reprints_stay(session):
    party = make_party(session)
    wrong, _, wrong_batch = send(session, party, ("100.00",), date(2026, 3, 2))
    right, _, _ = send(session, party, ("80.00",), date(2026, 3, 3))
    first = archived(session, wrong.id)
    receipt = pay(session, party, "100.00", date(2026, 3, 5), {wrong.invoice_id: "100.00"}, reference="CHK 77")
    resent = rebatch(session, source_batch_id=wrong_batch.id, include_paid=True, actor=ACTOR,
                     as_of=noon(session, date(2026, 3, 6))).items[0]
    session.commit()
    reprint = archived(session, resent.id)
    assert "Payment received Mar 5, 2026, check CHK 77 -$100.00" in pdf_text(reprint)

    (allocation,) = list_allocations(session, receipt_id=receipt.id)
    assert (allocation.source, allocation.kind, allocation.invoice_number, allocation.amount, allocation.live,
            allocation.applied_on) == ("RCT-000001", "payment", wrong.invoice_number, D("100.00"), True,
                                       date(2026, 3, 5))
    assert_refused_unchanged(session, lambda: unapply_allocation(session, allocation_id=allocation.allocation_id,
                                                                 reason="  ", actor=ACTOR),
                             match=r"^A reason is required to un-apply money \(for example: applied to the wrong "
                                   r"invoice\)\.$")
    assert_refused_unchanged(session, lambda: unapply_allocation(session, allocation_id=987654, reason="x",
                                                                 actor=ACTOR),
                             match=r"^There is no allocation with id 987654\.$")
    unapply_allocation(session, allocation_id=allocation.allocation_id, reason="Applied to the wrong invoice",
                       actor="ann", as_of=noon(session, date(2026, 3, 10)))
    session.commit()
    assert invoice_totals(session, wrong.invoice_id).balance_due == D("100.00")
    (row,) = list_receipts(session, party_id=party.id)
    assert (row.amount, row.applied, row.unapplied, row.voided) == (D("100.00"), D("0.00"), D("100.00"), False)
    (entry,) = audit_log(session, action="allocation.unapply")
    assert (entry.actor, entry.entity, entry.record_ids) == ("ann", "receipt", str(receipt.id))
    assert entry.detail == {"number": "RCT-000001", "invoice": wrong.invoice_number, "amount": "100.00",
                            "reason": "Applied to the wrong invoice"}

    allocate_receipt(session, receipt_id=receipt.id, allocations={right.invoice_id: "80.00"}, actor=ACTOR,
                     as_of=noon(session, date(2026, 3, 11)))
    session.commit()
    assert invoice_totals(session, right.invoice_id).status == "Paid"
    assert invoice_totals(session, wrong.invoice_id).balance_due == D("100.00")
    assert list_receipts(session)[0].unapplied == D("20.00")
    rows = list_allocations(session, receipt_id=receipt.id)
    assert [(r.invoice_id, r.amount, r.live, r.applied_on, r.reversed_on, r.reverse_reason) for r in rows] == [
        (wrong.invoice_id, D("100.00"), False, date(2026, 3, 5), date(2026, 3, 10), "Applied to the wrong invoice"),
        (right.invoice_id, D("80.00"), True, date(2026, 3, 11), None, "")]
    assert [r.allocation_id for r in list_allocations(session, receipt_id=receipt.id, include_reversed=False)] == [
        rows[1].allocation_id]
    account = party_account(session, party_id=party.id)
    assert (account.open_balance, account.unapplied_receipts) == (D("100.00"), D("20.00"))
    # Both sendings made before print as they did; a new resend shows no payment on the first invoice.
    assert_reprints_unchanged(session, {wrong.id: first, resent.id: reprint})
    latest = rebatch(session, source_batch_id=wrong_batch.id, actor=ACTOR,
                     as_of=noon(session, date(2026, 3, 12))).items[0]
    session.commit()
    text = pdf_text(render_batch_item_pdf(session, batch_item_id=latest.id))
    assert "Payment received" not in text and "Balance due $100.00" in text
    assert reconcile(session).ok

    # A second un-apply of the same allocation is refused and names when it was taken back.
    assert_refused_unchanged(session, lambda: unapply_allocation(session, allocation_id=allocation.allocation_id,
                                                                 reason="again", actor=ACTOR),
                             match=rf"^\$100\.00 of RCT-000001 on invoice {wrong.invoice_number} was already taken "
                                   r"back on 2026-03-10: Applied to the wrong invoice\.$")


def test_a_write_off_allocation_is_not_unapplied_and_a_credit_allocation_is(session):
    party = make_party(session)
    item, (big, _), _ = send(session, party, ("60.00", "40.00"), date(2026, 3, 2))
    later, _, _ = send(session, party, ("50.00",), date(2026, 3, 3))
    write_off(session, invoice_id=later.invoice_id, amount="3.00", reason="small balance", actor=ACTOR)
    pay(session, party, "100.00", date(2026, 3, 4), {item.invoice_id: "100.00"})
    memo = create_credit_memo(session, batch_item_id=item.id, encounter_ids=[big.id], action="void",
                              reason="Billed in error", actor=ACTOR)
    allocate_credit(session, credit_memo_id=memo.id, allocations={later.invoice_id: "47.00"}, actor=ACTOR)
    session.commit()
    memo_pdf = render_credit_memo_pdf(session, credit_memo_id=memo.id)
    session.commit()
    assert "Credit on account $60.00" in pdf_text(memo_pdf)  # the invoice was paid when the memo was issued
    by_kind = {r.kind: r for r in list_allocations(session, invoice_id=later.invoice_id)}
    assert set(by_kind) == {"write-off", "credit"} and by_kind["write-off"].source == "WO-000001"
    assert_refused_unchanged(session, lambda: unapply_allocation(
        session, allocation_id=by_kind["write-off"].allocation_id, reason="undo", actor=ACTOR),
        match=r"^WO-000001 is a write-off, not a payment or a credit; it cannot be un-applied\.$")
    unapply_allocation(session, allocation_id=by_kind["credit"].allocation_id, reason="Keep the credit", actor=ACTOR)
    session.commit()
    assert invoice_totals(session, later.invoice_id).balance_due == D("47.00")
    assert list_credit_memos(session)[0].unapplied == D("60.00")
    assert audit_log(session, action="allocation.unapply")[0].entity == "credit_memo"
    assert render_credit_memo_pdf(session, credit_memo_id=memo.id, archive=False) == memo_pdf
    assert verify_document(session, kind="credit_memo", ref_id=memo.id).unchanged
    assert reconcile(session).ok


# ---------------------------------------------------------------------------------------------- adjustments

def test_an_amount_adjustment_keeps_the_encounter_billed_and_a_whole_credit_takes_what_is_left(session):
    party = make_party(session)
    item, (line, kept), _ = send(session, party, ("100.00", "40.00"), date(2026, 3, 2))
    patient = session.get(Patient, line.patient_id).name
    memo = create_credit_memo(session, batch_item_id=item.id, encounter_ids=[], action="adjust",
                              line_amounts={line.id: "2.00"}, reason="Contract rate", actor=ACTOR,
                              as_of=noon(session, date(2026, 3, 4)))
    session.commit()
    assert (memo.amount, memo.action, memo.unapplied) == (D("2.00"), "adjust", D("0.00"))
    totals = invoice_totals(session, item.invoice_id)
    assert (totals.billed, totals.credits, totals.balance_due) == (D("140.00"), D("2.00"), D("138.00"))
    live = session.execute(sa.select(InvoiceLine.live).where(InvoiceLine.encounter_id == line.id)).scalar_one()
    encounter = session.get(Encounter, line.id)
    assert live and not encounter.voided and encounter.party_id == party.id and not encounter.self_pay
    entry = audit_log(session, action="credit_memo.create")[0]
    assert (entry.detail["encounters"], entry.detail["adjustments"], entry.detail["amount"]) == (
        [], {line.number: "2.00"}, "2.00")

    text = pdf_text(render_credit_memo_pdf(session, credit_memo_id=memo.id))
    session.commit()
    assert f"{line.date_of_service:%m/%d/%Y} {patient} {line.number} (adjustment) $2.00" in text
    assert "An amount is taken off these visits; they stay billed to you." in text
    assert "Total credit $2.00" in text and kept.number not in text

    def refused(match: str, **changes):
        args = {"batch_item_id": item.id, "encounter_ids": [], "action": "adjust", "reason": "r",
                "line_amounts": {line.id: "1.00"}, "actor": ACTOR, **changes}
        assert_refused_unchanged(session, lambda: create_credit_memo(session, **args), match=match)

    refused(rf"^\$98\.01 is more than what is left to credit on encounter {line.number} \(\$98\.00\)\.$",
            line_amounts={line.id: "98.01"})
    refused(r"^An adjustment credits amounts on encounters that stay billed; to credit whole encounters choose "
            r"self-pay, reassign or void\.$", encounter_ids=[kept.id])
    refused(r"^Only amounts were entered: that is an adjustment; choose the action 'adjust'\.$", action="void")
    refused(rf"^Encounter {line.number} is credited whole; do not enter an amount on it too\.$", action="void",
            encounter_ids=[line.id])
    refused(r"^The amount to credit must be above zero\.$", line_amounts={line.id: "0"})

    whole = create_credit_memo(session, batch_item_id=item.id, encounter_ids=[line.id], action="void",
                               reason="Not a work injury", actor=ACTOR, as_of=noon(session, date(2026, 3, 5)))
    session.commit()
    assert whole.amount == D("98.00")
    totals = invoice_totals(session, item.invoice_id)
    assert (totals.credits, totals.balance_due) == (D("100.00"), D("40.00"))
    text = pdf_text(render_credit_memo_pdf(session, credit_memo_id=whole.id))
    session.commit()
    assert f"{line.number} $98.00" in text and "(adjustment)" not in text
    refused(rf"^Encounter {line.number} was already credited on CM-000002\.$", line_amounts={line.id: "0.01"})
    # What stays billed can still be adjusted, to the cent of what is left.
    create_credit_memo(session, batch_item_id=item.id, encounter_ids=[], action="adjust",
                       line_amounts={kept.id: "40.00"}, reason="Waived", actor=ACTOR)
    session.commit()
    assert invoice_totals(session, item.invoice_id).status == "Paid"
    assert reconcile(session).ok


# ---------------------------------------------------------------------------------------------- billing off

def test_corrections_stay_possible_with_invoice_billing_switched_off(session):
    party = make_party(session)
    item, _, _ = send(session, party, ("100.00",), date(2026, 3, 2))
    other, _, _ = send(session, party, ("50.00",), date(2026, 3, 3))
    receipt = pay(session, party, "120.00", date(2026, 3, 4), {item.invoice_id: "100.00"})
    set_invoice_billing(session, enabled=False, actor=ACTOR)
    session.commit()

    write_off(session, invoice_id=other.invoice_id, amount="5.00", reason="small balance", actor=ACTOR)
    refund(session, receipt_id=receipt.id, amount="20.00", method="check", actor=ACTOR)
    (allocation,) = list_allocations(session, receipt_id=receipt.id)
    unapply_allocation(session, allocation_id=allocation.allocation_id, reason="Wrong invoice", actor=ACTOR)
    session.commit()
    assert invoice_totals(session, other.invoice_id).balance_due == D("45.00")
    assert invoice_totals(session, item.invoice_id).balance_due == D("100.00")
    assert list_receipts(session)[0].unapplied == D("100.00")
    # Allocating money is billing, and stays refused while it is off.
    assert_refused_unchanged(session, lambda: allocate_receipt(session, receipt_id=receipt.id,
                                                               allocations={other.invoice_id: "45.00"}, actor=ACTOR),
                             match="^Invoice billing is switched off")
    assert reconcile(session).ok


# ---------------------------------------------------------------------------------------------- the party ledger

def _ledger_scene(session: Session):
    """One party with every kind of ledger row, each on a day of its own (see the expected rows below)."""
    party = make_party(session, name="Ledger Logistics")
    i1, _, b1 = send(session, party, ("100.00", "60.00"), date(2026, 3, 2))
    i2, (e2,), _ = send(session, party, ("90.00",), date(2026, 3, 5))
    resent = rebatch(session, source_batch_id=b1.id, actor=ACTOR, as_of=noon(session, date(2026, 3, 20)))
    r1 = post_receipt(session, party_id=party.id, amount="200.00", received_date=date(2026, 3, 25), method="check",
                      reference="CHK 1", allocations={i1.invoice_id: "160.00"}, actor=ACTOR,
                      as_of=noon(session, date(2026, 3, 25)))
    create_credit_memo(session, batch_item_id=i2.id, encounter_ids=[], action="adjust", line_amounts={e2.id: "10.00"},
                       reason="Contract rate", actor=ACTOR, as_of=noon(session, date(2026, 4, 1)))
    write_off(session, invoice_id=i2.invoice_id, amount="5.00", reason="small balance", actor=ACTOR,
              as_of=noon(session, date(2026, 4, 5)))
    refund(session, receipt_id=r1.id, amount="15.00", method="check", reference="CHK 77", actor=ACTOR,
           as_of=noon(session, date(2026, 4, 10)))
    r2 = post_receipt(session, party_id=party.id, amount="30.00", received_date=date(2026, 4, 15), method="ACH",
                      allocations={i2.invoice_id: "30.00"}, actor=ACTOR, as_of=noon(session, date(2026, 4, 15)))
    void_receipt(session, receipt_id=r2.id, reason="Returned", actor=ACTOR, as_of=noon(session, date(2026, 4, 20)))
    (a1,) = list_allocations(session, receipt_id=r1.id)
    unapply_allocation(session, allocation_id=a1.allocation_id, reason="Wrong invoice", actor=ACTOR,
                       as_of=noon(session, date(2026, 4, 25)))
    session.commit()
    return party, i1, i2, b1, resent


def test_the_party_ledger_runs_to_the_open_balance_less_unapplied_money(session):
    party, i1, i2, first_batch, resent_batch = _ledger_scene(session)
    n1, n2 = i1.invoice_number, i2.invoice_number
    expected = [
        (date(2026, 3, 2), "invoice", n1, D("160.00"), D("160.00")),
        (date(2026, 3, 5), "invoice", n2, D("90.00"), D("250.00")),
        (date(2026, 3, 20), "resent", f"{n1}-2", D("0.00"), D("250.00")),
        (date(2026, 3, 25), "receipt", "RCT-000001", D("-200.00"), D("50.00")),
        (date(2026, 3, 25), "allocation", "RCT-000001", D("0.00"), D("50.00")),
        (date(2026, 4, 1), "credit memo", "CM-000001", D("-10.00"), D("40.00")),
        (date(2026, 4, 1), "allocation", "CM-000001", D("0.00"), D("40.00")),  # the memo first, then where it went
        (date(2026, 4, 5), "write-off", "WO-000001", D("-5.00"), D("35.00")),
        (date(2026, 4, 10), "refund", "RF-000001", D("15.00"), D("50.00")),
        (date(2026, 4, 15), "receipt", "RCT-000002", D("-30.00"), D("20.00")),
        (date(2026, 4, 15), "allocation", "RCT-000002", D("0.00"), D("20.00")),
        (date(2026, 4, 20), "void", "RCT-000002", D("30.00"), D("50.00")),
        (date(2026, 4, 25), "un-apply", "RCT-000001", D("0.00"), D("50.00")),
    ]
    rows = party_ledger(session, party_id=party.id)
    assert [(r.on, r.kind, r.number, r.amount, r.running_balance) for r in rows] == expected
    described = {(r.kind, r.number): r.description for r in rows}
    assert described[("invoice", n1)] == f"batch {first_batch.number}, 2 encounters"
    assert described[("resent", f"{n1}-2")] == f"batch {resent_batch.number}"
    assert described[("receipt", "RCT-000001")] == "check CHK 1"
    assert described[("allocation", "RCT-000001")] == f"$160.00 to {n1}"
    assert described[("un-apply", "RCT-000001")] == f"$160.00 taken back from {n1}: Wrong invoice"
    assert described[("refund", "RF-000001")] == "from RCT-000001, check CHK 77"
    assert described[("write-off", "WO-000001")] == f"small balance (on {n2})"
    assert described[("credit memo", "CM-000001")] == f"adjust: Contract rate (on {n2})"
    assert described[("void", "RCT-000002")] == "Returned"

    # By hand: I1 160.00 open again after the un-apply; I2 90.00 - 10.00 credit - 5.00 written off = 75.00;
    # RCT-000001 200.00 - 15.00 refunded = 185.00 unapplied (RCT-000002 voided).
    account = party_account(session, party_id=party.id)
    assert (account.open_balance, account.unapplied_receipts, account.unapplied_credits) == (
        D("235.00"), D("185.00"), D("0.00"))
    assert rows[-1].running_balance == account.open_balance - account.unapplied == D("50.00")

    # From a day: the first row carries the balance forward, the running balances are the same.
    since = party_ledger(session, party_id=party.id, date_from=date(2026, 4, 5))
    assert (since[0].on, since[0].kind, since[0].number, since[0].amount, since[0].running_balance) == (
        date(2026, 4, 4), "balance forward", "", D("0.00"), D("40.00"))
    assert [(r.on, r.kind, r.number, r.amount, r.running_balance) for r in since[1:]] == expected[7:]
    window = party_ledger(session, party_id=party.id, date_from=date(2026, 4, 5), date_to=date(2026, 4, 15))
    assert [(r.kind, r.running_balance) for r in window] == [
        ("balance forward", D("40.00")), ("write-off", D("35.00")), ("refund", D("50.00")), ("receipt", D("20.00")),
        ("allocation", D("20.00"))]
    # A range after the last row still says where the balance stands.
    (after,) = party_ledger(session, party_id=party.id, date_from=date(2026, 5, 1))
    assert (after.kind, after.running_balance) == ("balance forward", D("50.00"))
    with pytest.raises(Exception, match=r"^The ledger's range starts on 2026-04-16, after it ends on 2026-04-15\.$"):
        party_ledger(session, party_id=party.id, date_from=date(2026, 4, 16), date_to=date(2026, 4, 15))
    assert resent_batch.items[0].invoice_number == f"{n1}-2"


# ---------------------------------------------------------------------------------------------- reconcile

def _every_kind(session: Session):
    """The ledger scene, and a second party whose credit memo goes beyond a paid invoice: its credit is partly
    refunded and partly applied to another invoice."""
    party, i1, i2, _, _ = _ledger_scene(session)
    other = make_party(session, name="Second Shift Inc")
    k1, (k1a, _), _ = send(session, other, ("70.00", "30.00"), date(2026, 5, 1))
    rq = pay(session, other, "100.00", date(2026, 5, 2), {k1.invoice_id: "100.00"}, reference="CHK 9")
    memo = create_credit_memo(session, batch_item_id=k1.id, encounter_ids=[k1a.id], action="void",
                              reason="Billed in error", actor=ACTOR, as_of=noon(session, date(2026, 5, 3)))
    refund(session, credit_memo_id=memo.id, amount="20.00", method="check", actor=ACTOR,
           as_of=noon(session, date(2026, 5, 4)))
    k2, _, _ = send(session, other, ("60.00",), date(2026, 5, 5))
    allocate_credit(session, credit_memo_id=memo.id, allocations={k2.invoice_id: "50.00"}, actor=ACTOR,
                    as_of=noon(session, date(2026, 5, 6)))
    session.commit()
    return party, other, i2, rq


def _break(session: Session, sql: str, **params) -> None:
    """Change one stored figure behind core's back (the app's role may update these rows)."""
    session.execute(sa.text(sql), params)
    session.commit()
    session.expire_all()


def test_reconcile_finds_the_books_agree_and_names_a_broken_invoice_and_receipt(session):
    party, other, i2, rq = _every_kind(session)
    result = reconcile(session)
    assert result.ok and result.problems == [] and result.as_of == TODAY and result.notes == []
    assert result.checked == {"parties": 2, "invoices": 4, "encounters invoiced": 6, "receipts": 3,
                              "credit memos": 2, "write-offs": 1, "refunds": 2, "number series": 7}
    assert result.summary.startswith(f"All reconciled as of {TODAY}: 2 parties, 4 invoices, 6 encounters invoiced, "
                                     "3 receipts, 2 credit memos, ")
    assert result.summary.endswith("2 refunds, 7 number series.")
    past = reconcile(session, as_of=date(2026, 4, 12))
    assert past.ok and past.notes, past.problems

    # One invoice's billed amount and balance a dollar too high: the invoice and its party are named.
    _break(session, "UPDATE invoice SET billed_cents = billed_cents + 100, balance_cents = balance_cents + 100 "
                    "WHERE id = :id", id=i2.invoice_id)
    broken = reconcile(session)
    assert not broken.ok
    assert broken.problems == [
        f"Party {party.account_code}: open balance from invoices $236.00, from the ledger of documents $235.00, "
        "from the aging $236.00.",
        f"Invoice {i2.invoice_number}: billed $91.00 stored, $90.00 from its lines; balance $76.00 stored, $75.00 "
        "from its ledger.",
    ]
    assert broken.summary.startswith(f"2 problems found as of {TODAY} (")
    _break(session, "UPDATE invoice SET billed_cents = billed_cents - 100, balance_cents = balance_cents - 100 "
                    "WHERE id = :id", id=i2.invoice_id)
    assert reconcile(session).ok

    # A receipt whose stored applied amount lost a dollar.
    _break(session, "UPDATE receipt SET applied_cents = applied_cents - 100 WHERE id = :id", id=rq.id)
    broken = reconcile(session)
    assert broken.problems == [f"Receipt RCT-000003 of party {other.account_code}: applied $99.00 and refunded "
                               "$0.00 stored, $100.00 and $0.00 from its allocations and refunds."]


# ---------------------------------------------------------------------------------------------- the practice's days

def _late_evening(session: Session, d: date) -> datetime:
    """23:30 on the practice's day d: in Los Angeles that is already the next day in UTC."""
    return clock.day_start(d, session) + timedelta(hours=23, minutes=30)


def test_a_credit_memo_issued_late_in_the_practices_evening_prints_the_day_it_was_issued(session):
    set_time_zone(session, zone="America/Los_Angeles", actor=ACTOR)
    session.commit()
    party = make_party(session)
    item, (encounter,), _ = send(session, party, ("100.00",), date(2026, 3, 2))
    memo = create_credit_memo(session, batch_item_id=item.id, encounter_ids=[], action="adjust",
                              line_amounts={encounter.id: "2.00"}, reason="Contract rate", actor=ACTOR,
                              as_of=_late_evening(session, date(2026, 3, 12)))
    session.commit()
    # Everything else dates it on the practice's day ...
    assert memo.issued_on == date(2026, 3, 12)
    assert list_credit_memos(session)[0].created_on == date(2026, 3, 12)
    assert [r.on for r in party_ledger(session, party_id=party.id) if r.kind == "credit memo"] == [date(2026, 3, 12)]
    # ... and so does the memo the party receives (not Mar 13, the day in UTC).
    text = pdf_text(render_credit_memo_pdf(session, credit_memo_id=memo.id, archive=False))
    assert "Issued Mar 12, 2026" in text


def test_voiding_a_receipt_twice_names_the_practices_day_of_the_first_void(session):
    set_time_zone(session, zone="America/Los_Angeles", actor=ACTOR)
    session.commit()
    party = make_party(session)
    receipt = pay(session, party, "30.00", date(2026, 3, 10))
    void_receipt(session, receipt_id=receipt.id, reason="NSF", actor=ACTOR,
                 as_of=_late_evening(session, date(2026, 3, 12)))
    session.commit()
    session.refresh(receipt)
    assert receipt.voided_on == date(2026, 3, 12)
    assert [r.on for r in party_ledger(session, party_id=party.id) if r.kind == "void"] == [date(2026, 3, 12)]
    assert_refused_unchanged(session, lambda: void_receipt(session, receipt_id=receipt.id, reason="again",
                                                           actor=ACTOR),
                             match=r"^Receipt RCT-000001 was already voided on 2026-03-12: NSF$")
