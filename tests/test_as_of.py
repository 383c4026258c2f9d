"""Issue 12's figures as of a day and its two agings, on SQLite and PostgreSQL.

The aging places invoices whose ages sit on each bucket's edges, counted from the date first sent and, after the
profile switches, as days past due. The as-of test builds a practice, takes every figure as of a day D, then adds
one of each kind of document after D (dated after D through `as_of=`) and finds every figure as of D unchanged.
Every expected figure is worked out here by hand, to the cent.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import Session

from core import (
    allocate_credit,
    allocate_receipt,
    clock,
    create_credit_memo,
    create_on_demand_batch,
    headline,
    invoices_by_month,
    list_allocations,
    open_aging,
    party_account,
    party_ledger,
    post_receipt,
    rebatch,
    reconcile,
    refund,
    render_statement_pdf,
    save_invoice_profile,
    unapply_allocation,
    void_receipt,
    write_off,
)
from core.accounts import AccountSummary
from core.reports import MonthFigures
from tests.factories import ACTOR, billing_on, make_encounter, make_party
from tests.support.fingerprint import assert_refused_unchanged
from tests.support.pdf_text import pdf_text

D = Decimal
TODAY = date(2026, 6, 30)
TERMS = 30


def noon(session: Session, d: date) -> datetime:
    return clock.day_start(d, session) + timedelta(hours=12)


def day(d: date) -> str:
    return f"{d:%b} {d.day}, {d.year}"


@pytest.fixture(autouse=True)
def frozen(session, time_machine):
    time_machine.move_to(noon(session, TODAY).timestamp(), tick=False)
    assert clock.today(session) == TODAY
    billing_on(session)
    save_invoice_profile(session, actor=ACTOR, remit_to_name="Riverbend Occupational Health", terms_days=TERMS)
    session.commit()


def send(session: Session, party, amounts: tuple[str, ...], on: date):
    encounters = [make_encounter(session, party, dos=on - timedelta(days=2), amounts=(a,)) for a in amounts]
    batch = create_on_demand_batch(session, party_id=party.id, actor=ACTOR, as_of=noon(session, on))
    session.commit()
    return batch.items[0], encounters, batch


def pay(session: Session, party, amount: str, on: date, allocations: dict, *, method: str = "check",
        reference: str = ""):
    receipt = post_receipt(session, party_id=party.id, amount=amount, received_date=on, method=method,
                           reference=reference, allocations=allocations, actor=ACTOR, as_of=noon(session, on))
    session.commit()
    return receipt


# ---------------------------------------------------------------------------------------------- aging

# Age in days on TODAY -> amount billed; every amount twice the one before (plus a cent each), so a bucket's sum
# says which invoices are in it. The age-61 invoice is partly paid: its balance, not what it billed, is aged.
AMOUNTS = {151: "1034.24", 150: "517.12", 121: "258.56", 120: "129.28", 91: "64.64", 90: "32.32", 61: "16.16",
           60: "8.08", 31: "4.04", 30: "2.02", 0: "1.01"}
PAID_ON_61 = D("0.50")
BALANCE = {age: D(a) - (PAID_ON_61 if age == 61 else 0) for age, a in AMOUNTS.items()}
# Placed by hand: a bucket holds its upper edge, the next day starts the next bucket.
BY_FIRST_SENT = {"0-30": (0, 30), "31-60": (31, 60), "61-90": (61, 90), "91-120": (91, 120),
                 "over 120": (121, 150, 151)}
# Terms 30: days past due = age - 30 (age 0: -30, age 30: 0 ... age 151: 121).
BY_DAYS_PAST_DUE = {"current": (0, 30), "1-30": (31, 60), "31-60": (61, 90), "61-90": (91, 120),
                    "91-120": (121, 150), "over 120": (151,)}


def _aged(buckets: dict[str, tuple[int, ...]]) -> dict[str, Decimal]:
    return {name: sum((BALANCE[age] for age in ages), D("0.00")) for name, ages in buckets.items()}


def test_aging_by_date_first_sent_and_by_days_past_due_at_the_bucket_edges(session):
    party = make_party(session, name="Edges Inc")
    items = {}
    for age in AMOUNTS:  # oldest first
        items[age], _, _ = send(session, party, (AMOUNTS[age],), TODAY - timedelta(days=age))
    pay(session, party, str(PAID_ON_61), TODAY, {items[61].invoice_id: PAID_ON_61})
    total = D("2066.97")  # 1.01 * (2**11 - 1) - 0.50
    assert sum(BALANCE.values()) == total

    first_sent = _aged(BY_FIRST_SENT)
    assert first_sent == {"0-30": D("3.03"), "31-60": D("12.12"), "61-90": D("47.98"), "91-120": D("193.92"),
                          "over 120": D("1809.92")}
    account = party_account(session, party_id=party.id)
    assert list(account.aging.items()) == list(first_sent.items())
    assert (account.aging_basis, account.aging_label, account.open_balance) == (
        "first sent", "days since first sent", total)
    assert open_aging(session, party_id=party.id) == first_sent
    assert open_aging(session) == first_sent
    assert open_aging(session, as_of=TODAY) == first_sent
    text = pdf_text(render_statement_pdf(session, party_id=party.id, as_of=TODAY))
    assert "Aging (days since first sent)" in text and "days past due" not in text
    assert ("0-30 days 31-60 days 61-90 days 91-120 days over 120 days Total "
            "$3.03 $12.12 $47.98 $193.92 $1,809.92 $2,066.97") in text

    assert_refused_unchanged(session, lambda: save_invoice_profile(session, actor=ACTOR, aging_basis="due"),
                             match=r"^Aging counts from 'first sent' or 'due date', not 'due'\.$")
    # By due date: the due dates are those of the first sending (sent + 30), whatever the terms are now.
    save_invoice_profile(session, actor=ACTOR, aging_basis="due date", terms_days=45)
    session.commit()
    past_due = _aged(BY_DAYS_PAST_DUE)
    assert past_due == {"current": D("3.03"), "1-30": D("12.12"), "31-60": D("47.98"), "61-90": D("193.92"),
                        "91-120": D("775.68"), "over 120": D("1034.24")}
    account = party_account(session, party_id=party.id)
    assert list(account.aging.items()) == list(past_due.items())
    assert (account.aging_basis, account.aging_label, account.open_balance) == ("due date", "days past due", total)
    assert open_aging(session, party_id=party.id) == past_due
    assert open_aging(session) == past_due
    text = pdf_text(render_statement_pdf(session, party_id=party.id, as_of=TODAY))
    assert "Aging (days past due)" in text and "days since first sent" not in text
    assert ("current 1-30 days 31-60 days 61-90 days 91-120 days over 120 days Total "
            "$3.03 $12.12 $47.98 $193.92 $775.68 $1,034.24 $2,066.97") in text
    # Back to the first sending: the first buckets again.
    save_invoice_profile(session, actor=ACTOR, aging_basis="first sent")
    session.commit()
    assert party_account(session, party_id=party.id).aging == first_sent
    assert reconcile(session).ok


# ---------------------------------------------------------------------------------------------- as of a day

AS_OF = date(2026, 5, 15)
LATER = [date(2026, 5, 20), date(2026, 5, 25), date(2026, 5, 28), date(2026, 6, 1), date(2026, 6, 5),
         date(2026, 6, 10), date(2026, 6, 15), date(2026, 6, 20), date(2026, 6, 22)]


def _before(session: Session) -> dict:
    """Everything up to and including AS_OF, in the order it happened (numbers follow that order)."""
    p, q = make_party(session, name="Asof Freight"), make_party(session, name="Quarry Co")
    i1, (_e1a, e1b), _ = send(session, p, ("300.00", "200.00"), date(2026, 3, 2))        # batch 1
    j1, (f1,), _ = send(session, q, ("80.00",), date(2026, 3, 16))                       # batch 2
    i2, (e2,), b3 = send(session, p, ("250.00",), date(2026, 4, 1))                      # batch 3
    r0 = pay(session, p, "30.00", date(2026, 4, 5), {i2.invoice_id: "30.00"}, reference="CHK 10")   # RCT-000001
    r1 = pay(session, p, "400.00", date(2026, 4, 10), {i1.invoice_id: "300.00"}, reference="CHK 11")  # RCT-000002
    write_off(session, invoice_id=i2.invoice_id, amount="10.00", reason="short-pay", actor=ACTOR,
              as_of=noon(session, date(2026, 4, 20)))
    create_credit_memo(session, batch_item_id=i1.id, encounter_ids=[e1b.id], action="void", reason="Billed in error",
                       actor=ACTOR, as_of=noon(session, date(2026, 4, 25)))                # CM-000001
    pay(session, q, "40.00", date(2026, 5, 1), {j1.invoice_id: "40.00"})                  # RCT-000003
    # Quarry's visit credited whole: 40.00 pays what J1 still owed, 40.00 stays as credit.
    mq = create_credit_memo(session, batch_item_id=j1.id, encounter_ids=[f1.id], action="void", reason="Not ours",
                            actor=ACTOR, as_of=noon(session, date(2026, 5, 5)))           # CM-000002
    i3, _, _ = send(session, p, ("120.00",), date(2026, 5, 10))                          # batch 4
    pay(session, p, "25.00", AS_OF, {i3.invoice_id: "25.00"}, reference="CHK 12")       # RCT-000004, on the day
    return {"p": p, "q": q, "i1": i1, "i2": i2, "e2": e2, "b3": b3, "i3": i3, "r0": r0, "r1": r1, "mq": mq}


def _after(session: Session, w: dict) -> None:
    """One of each kind of document, each dated after AS_OF."""
    p, q = w["p"], w["q"]
    send(session, p, ("75.00",), LATER[0])                                               # an invoice sent after
    rebatch(session, source_batch_id=w["b3"].id, actor=ACTOR, as_of=noon(session, LATER[0]))  # a resend after
    pay(session, p, "50.00", LATER[1], {w["i2"].invoice_id: "50.00"}, method="ACH", reference="ACH 555")  # RCT-05
    # Money received before the day, allocated after it.
    allocate_receipt(session, receipt_id=w["r1"].id, allocations={w["i2"].invoice_id: "20.00"}, actor=ACTOR,
                     as_of=noon(session, LATER[2]))
    write_off(session, invoice_id=w["i3"].invoice_id, amount="5.00", reason="small balance", actor=ACTOR,
              as_of=noon(session, LATER[3]))
    refund(session, receipt_id=w["r1"].id, amount="50.00", method="check", actor=ACTOR,
           as_of=noon(session, LATER[4]))
    # Un-apply an allocation made before the day.
    first = next(a for a in list_allocations(session, receipt_id=w["r1"].id) if a.invoice_id == w["i1"].invoice_id)
    assert first.applied_on is not None and first.applied_on < AS_OF
    unapply_allocation(session, allocation_id=first.allocation_id, reason="Wrong invoice", actor=ACTOR,
                       as_of=noon(session, LATER[5]))
    create_credit_memo(session, batch_item_id=w["i2"].id, encounter_ids=[], action="adjust",
                       line_amounts={w["e2"].id: "15.00"}, reason="Contract rate", actor=ACTOR,
                       as_of=noon(session, LATER[6]))
    void_receipt(session, receipt_id=w["r0"].id, reason="NSF", actor=ACTOR, as_of=noon(session, LATER[7]))
    j2, _, _ = send(session, q, ("60.00",), LATER[8])
    # Credit issued before the day, applied and refunded after it.
    allocate_credit(session, credit_memo_id=w["mq"].id, allocations={j2.invoice_id: "30.00"}, actor=ACTOR,
                    as_of=noon(session, LATER[8] + timedelta(days=3)))
    refund(session, credit_memo_id=w["mq"].id, amount="10.00", method="check", actor=ACTOR,
           as_of=noon(session, LATER[8] + timedelta(days=4)))
    session.commit()


def _statement_before_later_receipts(text: str) -> str:
    return text.split("Received after the statement date", 1)[0].strip()


def _figures(session: Session, w: dict) -> dict:
    p = w["p"]
    text = pdf_text(render_statement_pdf(session, party_id=p.id, as_of=AS_OF))
    checked = reconcile(session, as_of=AS_OF)
    return {
        "account": party_account(session, party_id=p.id, as_of=AS_OF),
        "other account": party_account(session, party_id=w["q"].id, as_of=AS_OF),
        "aging": open_aging(session, as_of=AS_OF),
        "party aging": open_aging(session, party_id=p.id, as_of=AS_OF),
        "headline": headline(session, as_of=AS_OF),
        "months": invoices_by_month(session, today=AS_OF),
        "party months": invoices_by_month(session, today=AS_OF, party_id=p.id),
        "statement": _statement_before_later_receipts(text),
        "reconcile": (checked.ok, checked.problems, checked.as_of, checked.notes, checked.checked["parties"]),
        "ledger": party_ledger(session, party_id=p.id, date_to=AS_OF),
    }


def test_figures_as_of_a_day_do_not_move_when_later_documents_are_added(session):
    w = _before(session)
    p, i1, i2, i3 = w["p"], w["i1"], w["i2"], w["i3"]
    before = _figures(session, w)

    # By hand, as of AS_OF: I1 500.00 - 300.00 paid - 200.00 credited = 0; I2 250.00 - 30.00 - 10.00 written
    # off = 210.00 (44 days old); I3 120.00 - 25.00 = 95.00 (5 days old); RCT-000002 has 100.00 unapplied.
    assert before["account"] == AccountSummary(
        party_id=p.id, open_balance=D("305.00"), open_invoices=2, unapplied_receipts=D("100.00"),
        unapplied_credits=D("0.00"), aging={"0-30": D("95.00"), "31-60": D("210.00"), "61-90": D("0.00"),
                                            "91-120": D("0.00"), "over 120": D("0.00")},
        last_payment_on=AS_OF, last_payment_amount=D("25.00"), average_days_to_pay=39.0, as_of=AS_OF,
        aging_basis="first sent")
    # Quarry's J1 (80.00, first sent Mar 16): 40.00 paid May 1 (46 days), 40.00 credited; 40.00 credit left.
    assert before["other account"] == AccountSummary(
        party_id=w["q"].id, open_balance=D("0.00"), open_invoices=0, unapplied_receipts=D("0.00"),
        unapplied_credits=D("40.00"), aging=dict.fromkeys(("0-30", "31-60", "61-90", "91-120", "over 120"), D("0.00")),
        last_payment_on=date(2026, 5, 1), last_payment_amount=D("40.00"), average_days_to_pay=46.0, as_of=AS_OF,
        aging_basis="first sent")
    assert before["aging"] == before["party aging"] == {
        "0-30": D("95.00"), "31-60": D("210.00"), "61-90": D("0.00"), "91-120": D("0.00"), "over 120": D("0.00")}
    # Open: I2 (due May 1, overdue) and I3 (due Jun 9); received in the 30 days to the day: 40.00 + 25.00; the
    # last batch by the end of the day is batch 4 (May 10), the only one in its last 7 days.
    h = before["headline"]
    assert (h.open_invoices, h.open_balance, h.overdue_invoices, h.overdue_balance, h.paid_last_30_days,
            h.unapplied, h.last_batch_number, h.batches_last_24_hours, h.batches_last_7_days, h.as_of) == (
        2, D("305.00"), 1, D("210.00"), D("65.00"), D("140.00"), 4, 0, 1, AS_OF)
    months = {m.month: m for m in before["months"]}
    assert len(months) == 12 and min(months) == date(2025, 6, 1) and max(months) == date(2026, 5, 1)
    # The open balance at each month's end, whenever sent: March 500.00 + 80.00 (nothing paid yet); April I1 settled,
    # J1 80.00, I2 210.00; May (to AS_OF) J1 settled by receipt and credit, I2 210.00, I3 95.00.
    assert months[date(2026, 3, 1)] == MonthFigures(date(2026, 3, 1), 2, D("580.00"), D("580.00"), D("0.00"),
                                                    open_invoices=0, settled_invoices=2, open_balance=D("580.00"))
    assert months[date(2026, 4, 1)] == MonthFigures(date(2026, 4, 1), 1, D("250.00"), D("40.00"), D("210.00"),
                                                    open_invoices=1, settled_invoices=0, open_balance=D("290.00"))
    assert months[date(2026, 5, 1)] == MonthFigures(date(2026, 5, 1), 1, D("120.00"), D("25.00"), D("95.00"),
                                                    open_invoices=1, settled_invoices=0, open_balance=D("305.00"))
    assert sum(m.invoices for m in before["months"]) == 4
    assert [m.invoices for m in before["party months"] if m.invoices] == [1, 1, 1]
    statement = before["statement"]
    assert f"As of {day(AS_OF)}" in statement
    assert (f"{i2.invoice_number} Apr 1, 2026 May 1, 2026 $250.00 $30.00 $0.00 $10.00 $210.00" in statement)
    assert f"{i3.invoice_number} May 10, 2026 Jun 9, 2026 $120.00 $25.00 $0.00 $0.00 $95.00" in statement
    assert i1.invoice_number not in statement.split("Open invoices", 1)[1]
    assert "Unapplied money on account: $100.00" in statement
    assert before["reconcile"][:2] == (True, [])
    assert before["ledger"][-1].running_balance == D("305.00") - D("100.00")

    _after(session, w)
    after = _figures(session, w)
    for name, figure in before.items():
        assert after[name] == figure, name

    # The payment received after the day is listed apart on the statement as of the day, not as paid.
    text = pdf_text(render_statement_pdf(session, party_id=p.id, as_of=AS_OF))
    later = text.split("Received after the statement date", 1)[1]
    assert "RCT-000005 May 25, 2026 ACH ACH 555 $50.00" in later
    assert "RCT-000005" not in _statement_before_later_receipts(text)
    assert after["account"].last_payment_on <= AS_OF
    # Today, every later document counts: I1 300.00 open again; I2 250 - 30 (voided) ... = 155.00;
    # I3 95.00 - 5.00 = 90.00; I4 75.00. RCT-000002: 400 - 20 applied - 50 refunded = 330.00 unapplied.
    now = party_account(session, party_id=p.id)
    assert (now.open_balance, now.open_invoices, now.unapplied_receipts, now.last_payment_on) == (
        D("620.00"), 4, D("330.00"), date(2026, 5, 25))
    assert reconcile(session).ok
