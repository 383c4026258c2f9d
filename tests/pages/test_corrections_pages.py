"""Issue 12's screens through AppTest: write-offs (asking twice above the profile's amount), un-applying,
refunds, amount adjustments, figures as of a day, the ledger and the reconciliation, each checked in the
database afterwards; a refusal shows core's message and changes nothing."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from core.demo import DEMO_AS_OF
from core.models import (
    Allocation,
    Batch,
    BatchItem,
    CreditMemo,
    InvoiceLine,
    InvoiceProfile,
    Receipt,
    Refund,
    WriteOff,
)
from tests.pages.conftest import app, button, charts, db, dollars, ledger, metrics, plain, snapshot


def _open_invoice(s, *, above: int = 0):
    """The oldest open invoice of the demo with a balance above `above` cents."""
    return next(x for x in sorted(ledger(s).values(), key=lambda x: x.invoice_id) if x.balance > above)


def test_a_small_write_off_closes_a_short_pay_at_once(demo_db):
    with db(demo_db) as s:
        target = _open_invoice(s)
    at = app("pages/employer.py", party_id=str(target.party_id))
    at.selectbox(key="emp_wo_invoice").set_value(target.invoice_id)
    at.text_input(key="emp_wo_amount").input("5.00")
    at.selectbox(key="emp_wo_reason").set_value("short-pay")
    button(at, "Write off").click().run()
    assert not at.error, plain(at.error)
    with db(demo_db) as s:
        wo = s.execute(sa.select(WriteOff).order_by(WriteOff.id.desc()).limit(1)).scalar_one()
    # The demo wrote one off already: this one takes the next number.
    assert wo.number == 2
    assert any(t.startswith("WO-000002: $5.00 of ") and "written off" in t for t in plain(at.success))
    with db(demo_db) as s:
        after = ledger(s)[target.invoice_id]
    assert (wo.invoice_id, wo.amount_cents, wo.reason, wo.created_by) == (target.invoice_id, 500, "short-pay", "manager")
    assert after.balance == target.balance - 500
    # The history table shows it in its own column.
    assert any(str(v) == "5.00" for v in at.dataframe[0].value["Written off"]), "Written off column"


def test_a_write_off_above_the_profile_amount_asks_twice_and_cancel_changes_nothing(demo_db):
    with db(demo_db) as s:
        target = _open_invoice(s, above=10_000)
    at = app("pages/employer.py", party_id=str(target.party_id))
    at.selectbox(key="emp_wo_invoice").set_value(target.invoice_id)
    at.text_input(key="emp_wo_amount").input("75.00")
    at.selectbox(key="emp_wo_reason").set_value("bad debt")
    before = snapshot(demo_db)
    button(at, "Write off").click().run()
    assert any("Write off $75.00 of" in t and "asks twice" in t for t in plain(at.warning))
    assert snapshot(demo_db) == before, "the first click writes nothing"
    button(at, "Cancel").click().run()
    assert snapshot(demo_db) == before and not any("asks twice" in t for t in plain(at.warning))

    button(at, "Write off").click().run()
    button(at, "Yes, write it off").click().run()
    assert not at.error, plain(at.error)
    with db(demo_db) as s:
        newest = s.execute(sa.select(WriteOff).order_by(WriteOff.id.desc()).limit(1)).scalar_one()
        assert (newest.invoice_id, newest.amount_cents, newest.reason) == (target.invoice_id, 7500, "bad debt")
        assert s.execute(sa.select(sa.func.count()).select_from(WriteOff)).scalar_one() == 2, "one write-off made"


def test_a_write_off_over_the_balance_is_refused_with_its_reason(demo_db):
    with db(demo_db) as s:
        target = _open_invoice(s)
    at = app("pages/employer.py", party_id=str(target.party_id))
    at.selectbox(key="emp_wo_invoice").set_value(target.invoice_id)
    at.text_input(key="emp_wo_amount").input(f"{(target.balance + 1) / 100:.2f}")
    at.selectbox(key="emp_wo_reason").set_value("other")
    at.text_input(key="emp_wo_note").input("goodwill")
    before = snapshot(demo_db)
    button(at, "Write off").click().run()
    if any("asks twice" in t for t in plain(at.warning)):
        button(at, "Yes, write it off").click().run()
    assert any("is more than invoice" in t and dollars(target.balance) in t for t in plain(at.error)), plain(at.error)
    assert snapshot(demo_db) == before


def test_un_apply_returns_money_to_unapplied_and_refund_pays_it_back(demo_db):
    with db(demo_db) as s:
        receipt = s.execute(sa.select(Receipt).where(Receipt.voided == sa.false(), Receipt.applied_cents > 0,
                                                     Receipt.applied_cents == Receipt.amount_cents)
                            .order_by(Receipt.id).limit(1)).scalar_one()
        allocation = s.execute(sa.select(Allocation).where(Allocation.receipt_id == receipt.id,
                                                           Allocation.live == sa.true()).limit(1)).scalar_one()
        invoice_before = ledger(s)[allocation.invoice_id].balance
    at = app("pages/payments.py", party_id=str(receipt.party_id))
    at.selectbox(key="pay_unapply_id").set_value(allocation.id)
    before = snapshot(demo_db)
    button(at, "Un-apply").click().run()
    assert any("A reason is required to un-apply" in t for t in plain(at.error)) and snapshot(demo_db) == before
    at.text_input(key="pay_unapply_reason").input("Applied to the wrong invoice")
    button(at, "Un-apply").click().run()
    assert not at.error, plain(at.error)
    assert any("it is unapplied again" in t for t in plain(at.success))
    with db(demo_db) as s:
        back = s.get(Allocation, allocation.id)
        assert (back.live, back.reverse_reason, back.reversed_by) == (False, "Applied to the wrong invoice", "manager")
        assert ledger(s)[allocation.invoice_id].balance == invoice_before + allocation.amount_cents
        assert s.get(Receipt, receipt.id).voided is False

    # The money now unapplied is refunded: the whole of it when no amount is typed.
    at.selectbox(key="pay_refund_source").set_value(("receipt", receipt.id))
    at.text_input(key="pay_refund_amount").input(f"{(allocation.amount_cents + 1) / 100:.2f}")
    before = snapshot(demo_db)
    button(at, "Refund").click().run()
    assert any("is more than the" in t and "unapplied on RCT-" in t for t in plain(at.error)), plain(at.error)
    assert snapshot(demo_db) == before
    at.text_input(key="pay_refund_amount").input("")
    at.text_input(key="pay_refund_reference").input("CHK 5001")
    button(at, "Refund").click().run()
    assert not at.error, plain(at.error)
    assert f"Refund RF-000001 of {dollars(allocation.amount_cents)} recorded." in plain(at.success)
    with db(demo_db) as s:
        refund = s.execute(sa.select(Refund)).scalar_one()
        assert (refund.receipt_id, refund.amount_cents, refund.reference) == (receipt.id, allocation.amount_cents,
                                                                                "CHK 5001")
        assert s.get(Receipt, receipt.id).refunded_cents == allocation.amount_cents


def test_an_adjustment_takes_an_amount_off_a_visit_that_stays_billed(demo_db):
    with db(demo_db) as s:
        target = _open_invoice(s, above=1_000)
        item = s.execute(sa.select(BatchItem).where(BatchItem.invoice_id == target.invoice_id)
                         .order_by(BatchItem.times_batched.desc()).limit(1)).scalar_one()
        batch_number = s.get(Batch, item.batch_id).number
        line = s.execute(sa.select(InvoiceLine).where(InvoiceLine.invoice_id == target.invoice_id,
                                                      InvoiceLine.live == sa.true()).limit(1)).scalar_one()
    at = app("pages/batches.py", batch=str(batch_number))
    at.selectbox(key="stb_memo_invoice").set_value(item.invoice_number)
    at.radio(key="stb_memo_action").set_value("adjust").run()
    at.text_input(key=f"stb_memo_adjust_{line.encounter_id}").input("2.00")
    at.text_area(key="stb_memo_reason").input("Courtesy discount")
    at.checkbox(key="stb_memo_confirm").check()
    button(at, "Issue Credit Memo").click().run()
    assert not at.error, plain(at.error)
    assert any("issued for $2.00" in t for t in plain(at.success))
    with db(demo_db) as s:
        memo = s.execute(sa.select(CreditMemo).order_by(CreditMemo.id.desc()).limit(1)).scalar_one()
        assert (memo.action, memo.amount_cents, memo.invoice_id) == ("adjust", 200, target.invoice_id)
        assert s.get(InvoiceLine, line.id).live, "the visit stays on the invoice"
        assert ledger(s)[target.invoice_id].balance == target.balance - 200


def test_dashboard_as_of_a_past_day_and_the_reconciliation(demo_db):
    at = app("pages/dashboard.py")
    now = metrics(at)
    # 200 days before the day the demo was written for (the clock may run on from there).
    at.date_input(key="dash_as_of").set_value(DEMO_AS_OF - timedelta(days=200)).run()
    assert not at.exception
    past = metrics(at)
    assert past["Open invoices"] != now["Open invoices"] or past["Open balance"] != now["Open balance"]
    assert any("Figures as of the end of" in t for t in plain(at.info))
    button(at, "Check now").click().run()
    assert any(t.startswith("All reconciled as of") for t in plain(at.success)), plain(at.error)


def test_settings_saves_the_aging_basis_and_refuses_a_bad_write_off_amount(demo_db):
    at = app("pages/settings.py")
    at.radio(key="set_aging_basis").set_value("due date")
    at.text_input(key="set_write_off_confirm").input("ten dollars")
    before = snapshot(demo_db)
    button(at, "Save profile").click().run()
    assert any("is not a number" in t for t in plain(at.error)) and snapshot(demo_db) == before
    at.text_input(key="set_write_off_confirm").input("25.00")
    button(at, "Save profile").click().run()
    assert not at.error, plain(at.error)
    with db(demo_db) as s:
        newest = s.execute(sa.select(InvoiceProfile).order_by(InvoiceProfile.version.desc()).limit(1)).scalar_one()
    assert (newest.aging_basis, newest.write_off_confirm_cents) == ("due date", 2500)
    dash = app("pages/dashboard.py")
    assert "Aging by days past due (Settings > Invoice profile)" in [c.value for c in dash.caption]
    aging = next(c for c in charts(dash) if c["layout"]["xaxis"].get("title", {}).get("text") == "days past due")
    assert list(aging["data"][0]["x"]) == ["current", "1-30", "31-60", "61-90", "91-120", "over 120"]
