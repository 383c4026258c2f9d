"""Every page action through Streamlit's AppTest, checked in the database afterwards.

A write shows its message and leaves a row with the values typed; a refusal shows the core's
message beside the form and leaves the whole database exactly as it was.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from core import clock, time_zone_name
from core.models import (
    Allocation,
    AuditRecord,
    Batch,
    BatchItem,
    Document,
    InvoiceProfile,
    Party,
    Receipt,
    Setting,
)
from core.settings import INVOICE_BILLING
from tests.pages.conftest import (
    app,
    banner_count,
    button,
    column,
    db,
    dollars,
    ledger,
    pdf_text,
    plain,
    plain_text,
    practice_clock,
    practice_day,
    receipt_applied,
    snapshot,
)

MANAGER = "manager"  # who the app acts as in local mode (INVOICE_DESK_USER, set in conftest)


def _newest_audit(url: str, action: str) -> AuditRecord:
    with db(url) as s:
        return s.execute(sa.select(AuditRecord).where(AuditRecord.action == action)
                         .order_by(AuditRecord.id.desc()).limit(1)).scalar_one()


# ---------- Payments ----------

def test_allocate_unapplied_money_refuses_too_much_then_applies_what_was_typed(demo_db):
    with db(demo_db) as s:
        receipt = s.execute(sa.select(Receipt).where(Receipt.reference == "CHK 77120")).scalar_one()
        available = receipt.amount_cents - receipt_applied(s).get(receipt.id, 0)
        books = ledger(s)
        target = next(x for x in sorted(books.values(), key=lambda x: x.invoice_id)
                      if x.party_id == receipt.party_id and x.balance > available)
    assert available == 25000
    at = app("pages/payments.py", party_id=str(receipt.party_id))
    at.selectbox(key="pay_source").set_value(("receipt", receipt.id))
    assert at.selectbox(key="pay_source").value == ("receipt", receipt.id)
    before = snapshot(demo_db)
    at.text_input(key=f"pay_alloc_{target.invoice_id}").input("250.01")
    button(at, "Allocate").click().run()
    assert "The allocations add up to $250.01, more than the $250.00 available." in plain(at.error)
    assert not at.success and snapshot(demo_db) == before

    at.text_input(key=f"pay_alloc_{target.invoice_id}").input("120.50")
    button(at, "Allocate").click().run()
    assert not at.error and "Allocated." in plain(at.success)
    with db(demo_db) as s:
        rows = s.execute(sa.select(Allocation).where(Allocation.receipt_id == receipt.id)).scalars().all()
        after = ledger(s)[target.invoice_id]
        left = receipt.amount_cents - receipt_applied(s).get(receipt.id, 0)
    assert [(a.invoice_id, a.amount_cents, a.live, a.created_by) for a in rows] == [
        (target.invoice_id, 12050, True, MANAGER)]
    assert after.balance == target.balance - 12050 and left == 25000 - 12050
    assert _newest_audit(demo_db, "receipt.allocate").record_ids == str(receipt.id)
    at.run()
    assert "$129.50 unapplied" in plain_text(at.selectbox(key="pay_source").options[0])


def test_void_needs_its_confirmation_and_a_reason_then_restores_the_balances(demo_db):
    with db(demo_db) as s:
        receipt = s.execute(sa.select(Receipt).where(Receipt.voided == sa.false(), Receipt.applied_cents > 0)
                            .order_by(Receipt.id).limit(1)).scalar_one()
        allocated = dict(s.execute(sa.select(Allocation.invoice_id, Allocation.amount_cents).where(
            Allocation.receipt_id == receipt.id, Allocation.live == sa.true())).all())
        balances = {i: ledger(s)[i].balance for i in allocated}
    assert allocated
    at = app("pages/payments.py", party_id=str(receipt.party_id))
    at.selectbox(key="pay_void_id").select(receipt.id)
    at.text_input(key="pay_void_reason").input("Check returned NSF")
    assert at.checkbox(key="pay_void_confirm").value is False
    before = snapshot(demo_db)
    button(at, "Void receipt").click().run()
    assert "Choose a receipt and tick the confirmation to void it." in plain(at.error)
    assert not at.success and snapshot(demo_db) == before, "no void without the confirmation"

    at.checkbox(key="pay_void_confirm").check()
    at.text_input(key="pay_void_reason").input("  ")
    button(at, "Void receipt").click().run()
    assert any("A reason is required to void a receipt" in t for t in plain(at.error))
    assert snapshot(demo_db) == before

    at.text_input(key="pay_void_reason").input("Check returned NSF")
    button(at, "Void receipt").click().run()
    assert not at.error
    assert f"Receipt RCT-{receipt.number:06d} voided; its allocations were reversed." in plain(at.success)
    with db(demo_db) as s:
        voided = s.get(Receipt, receipt.id)
        books = ledger(s)
        live = s.execute(sa.select(sa.func.count()).select_from(Allocation).where(
            Allocation.receipt_id == receipt.id, Allocation.live == sa.true())).scalar_one()
    assert (voided.voided, voided.void_reason, voided.voided_by) == (True, "Check returned NSF", MANAGER)
    assert live == 0
    assert {i: books[i].balance for i in allocated} == {i: balances[i] + cents for i, cents in allocated.items()}


# ---------- Batch History ----------

def _mixed_batch(url: str):
    """The smallest batch with both paid and open invoices (by the raw rows)."""
    with db(url) as s:
        books = ledger(s)
        items = s.execute(sa.select(BatchItem.batch_id, BatchItem.id, BatchItem.invoice_id, BatchItem.invoice_number,
                                    Batch.number).join(Batch, Batch.id == BatchItem.batch_id)
                          .order_by(Batch.number, BatchItem.id)).all()
    by_batch: dict[int, list] = {}
    for item in items:
        by_batch.setdefault(item.batch_id, []).append(item)
    mixed = [own for own in by_batch.values()
             if 0 in (balances := [books[i.invoice_id].balance for i in own]) and any(balances)]
    assert mixed, "the demo has a batch with both paid and open invoices"
    return min(mixed, key=len), books


def test_batch_pdf_shows_its_progress_and_holds_every_invoice(demo_db, monkeypatch):
    from streamlit.elements.progress import ProgressMixin

    shown: list[str] = []
    original = ProgressMixin.progress

    def progress(self, value, text=None, **kwargs):
        shown.append(text)
        return original(self, value, text=text, **kwargs)

    monkeypatch.setattr(ProgressMixin, "progress", progress)
    own, _ = _mixed_batch(demo_db)
    number, batch_id = own[0].number, own[0].batch_id
    at = app("pages/batches.py", batch=str(number))
    assert not [b for b in at.get("download_button") if b.label == "Download batch PDF"]
    at.button(key="stb_make_pdf").click().run()
    assert not at.exception and not at.error
    n = len(own)
    assert shown == [f"{i} of {n} invoices" for i in range(1, n + 1)]
    assert not at.get("progress"), "the bar goes away when the PDF is ready"
    assert [b.label for b in at.get("download_button") if b.label == "Download batch PDF"]
    text = pdf_text(at.session_state[f"stb_batch_pdf_{batch_id}"])
    assert all(i.invoice_number in text for i in own)
    with db(demo_db) as s:
        archived = s.execute(sa.select(Document.ref_id).where(Document.kind == "batch_item")).scalars().all()
    assert sorted(archived) == sorted(i.id for i in own), "each invoice's fingerprint is archived"


def test_archive_check_of_an_item_pdf(demo_db, downloads, demo_next_day):
    own, _ = _mixed_batch(demo_db)
    item = own[0]
    at = app("pages/batches.py", batch=str(item.number))
    assert at.selectbox(key="stb_item").value == item.invoice_number
    before = snapshot(demo_db)
    at.button(key="stb_verify").click().run()
    assert "Not printed yet: the first download archives its fingerprint." in plain(at.info)
    assert snapshot(demo_db) == before, "checking archives nothing"

    pdf = downloads[f"{item.invoice_number}.pdf"]()  # what the manager's click on Download PDF gets
    assert item.invoice_number in pdf_text(pdf)
    with db(demo_db) as s:
        doc = s.execute(sa.select(Document).where(Document.kind == "batch_item", Document.ref_id == item.id)
                        ).scalar_one()
        made_on = practice_day(doc.created_at, s)
    assert doc.sha256 == hashlib.sha256(pdf).hexdigest() and doc.size == len(pdf)
    at.button(key="stb_verify").click().run()
    assert (f"Archived, unchanged (SHA-256 {doc.sha256[:16]}..., first made {made_on:%Y-%m-%d})."
            in plain(at.success))

    with db(demo_db) as s:
        s.execute(sa.update(Document).where(Document.id == doc.id).values(sha256="0" * 64))
    at.button(key="stb_verify").click().run()
    assert "The document no longer matches the one first printed." in plain(at.error)


def test_batch_history_rebatch_leaves_paid_invoices_out_by_default(demo_db):
    own, books = _mixed_batch(demo_db)
    at = app("pages/batches.py", batch=str(own[0].number))
    assert at.checkbox(key="stb_rebatch_paid").value is False, "Include paid invoices starts unticked"
    assert at.multiselect(key="stb_rebatch_invoices").value == [i.invoice_number for i in own]
    at.text_area(key="stb_rebatch_note").input("Second notice by phone")
    button(at, "Rebatch").click().run()
    assert not at.error
    open_ = [i for i in own if books[i.invoice_id].balance > 0]
    with db(demo_db) as s:
        newest = s.execute(sa.select(Batch).order_by(Batch.number.desc()).limit(1)).scalar_one()
        resent = s.execute(sa.select(BatchItem.invoice_id).where(BatchItem.batch_id == newest.id)
                           .order_by(BatchItem.invoice_id)).scalars().all()
    assert (newest.kind, newest.source_batch_id, newest.internal_note) == ("rebatch", own[0].batch_id,
                                                                          "Second notice by phone")
    assert resent == sorted(i.invoice_id for i in open_)
    due = sum(books[i.invoice_id].balance for i in open_)
    assert (f"Batch **{newest.number}** made: {len(open_)} invoice(s) resent, {dollars(due)} due."
            in plain(at.success))


def test_batch_list_date_filter_includes_its_last_day(demo_any):
    with db(demo_any) as s:
        batches = s.execute(sa.select(Batch.number, Batch.created_at).order_by(Batch.number.desc())).all()
        days = {b.number: practice_day(b.created_at, s) for b in batches}
    ordered = sorted(set(days.values()))
    day = ordered[len(ordered) // 2]
    assert ordered[0] < day < ordered[-1]
    at = app("pages/batches.py")
    at.date_input(key="stb_from").set_value(day)
    at.date_input(key="stb_to").set_value(day).run()
    assert column(at, "Batch") == [b.number for b in batches if days[b.number] == day]
    at.date_input(key="stb_from").set_value(None).run()
    assert column(at, "Batch") == [b.number for b in batches if days[b.number] <= day][:50]


# ---------- Employer Dashboard ----------

def test_employer_rebatch_refuses_a_paid_invoice_until_include_paid_is_ticked(demo_db):
    with db(demo_db) as s:
        books = ledger(s)
        items = s.execute(sa.select(BatchItem.party_id, BatchItem.invoice_id, BatchItem.invoice_number)
                          .order_by(BatchItem.id.desc())).all()
    first_page: dict[int, list] = {}
    for item in items:
        first_page.setdefault(item.party_id, []).append(item)
    paid = next(i for own in first_page.values() for i in own[:50] if books[i.invoice_id].balance == 0)
    at = app("pages/employer.py", party_id=str(paid.party_id), status="Paid")
    assert at.checkbox(key="emp_include_paid").value is False, "Include paid invoices starts unticked"
    at.multiselect(key="emp_selected").set_value([paid.invoice_number]).run()
    before = snapshot(demo_db)
    button(at, "Rebatch selected").click().run()
    assert any("are paid, so nothing was resent. Tick 'Include paid invoices'" in t for t in plain(at.error))
    assert not at.success and snapshot(demo_db) == before

    at.checkbox(key="emp_include_paid").check()
    button(at, "Rebatch selected").click().run()
    assert not at.error, plain(at.error)
    with db(demo_db) as s:
        newest = s.execute(sa.select(Batch).order_by(Batch.number.desc()).limit(1)).scalar_one()
        resent = s.execute(sa.select(BatchItem.invoice_id).where(BatchItem.batch_id == newest.id)).scalars().all()
    assert newest.kind == "rebatch" and resent == [paid.invoice_id]
    assert f"Resent in batch stb {newest.number}." in plain(at.success)


def test_employer_statement_and_selected_invoices_download_as_pdfs(demo_db, downloads):
    with db(demo_db) as s:
        receipt = s.execute(sa.select(Receipt).where(Receipt.reference == "CHK 77120")).scalar_one()
        party = s.get(Party, receipt.party_id)
        open_ = sorted((x for x in ledger(s).values() if x.party_id == party.id and x.balance > 0),
                       key=lambda x: x.invoice_id)
    at = app("pages/employer.py", party_id=str(party.id))
    # The file is named for the day it is as of (today, unless a past day is chosen).
    [name] = [n for n in downloads if n.startswith(f"statement-{party.account_code}-")]
    assert re.fullmatch(rf"statement-{party.account_code}-\d{{4}}-\d\d-\d\d\.pdf", name)
    statement = pdf_text(downloads[name]())
    assert party.account_code in statement
    assert dollars(sum(x.balance for x in open_)) in statement and "$250.00" in statement
    assert all(x.number in statement for x in open_)

    chosen = [at.multiselect(key="emp_selected").options[i] for i in (0, 1)]
    at.multiselect(key="emp_selected").set_value(chosen).run()
    pdfs = pdf_text(downloads[f"{party.account_code}-invoices.pdf"]())
    assert re.findall(r"INVOICE (\S+)", pdfs) == chosen, "the chosen invoices, in the order chosen"


# ---------- Settings ----------

def test_billing_switch_turns_invoice_billing_off_and_on(demo_db):
    at = app("pages/settings.py")
    assert at.toggle(key="set_billing").value is True and banner_count(at) == 0
    # One click on the switch only asks: billing stays on until the manager confirms, or keeps it on.
    at.toggle(key="set_billing").set_value(False).run()
    assert not at.exception and any("Switch invoice billing **off**?" in t for t in plain(at.warning))
    with db(demo_db) as s:
        assert s.get(Setting, INVOICE_BILLING).value == "on"
    button(at, "Keep it on").click().run()
    assert at.toggle(key="set_billing").value is True and not any("Switch invoice billing" in t for t in plain(at.warning))
    with db(demo_db) as s:
        assert s.get(Setting, INVOICE_BILLING).value == "on"
    at.toggle(key="set_billing").set_value(False).run()
    button(at, "Switch billing off").click().run()
    assert not at.exception
    with db(demo_db) as s:
        assert s.get(Setting, INVOICE_BILLING).value == "off"
    assert banner_count(at) == 1 and at.toggle(key="set_billing").value is False
    record = _newest_audit(demo_db, "settings.invoice_billing")
    assert (record.actor, record.detail) == (MANAGER, '{"after": "off", "before": "on"}')

    at.toggle(key="set_billing").set_value(True).run()
    with db(demo_db) as s:
        assert s.get(Setting, INVOICE_BILLING).value == "on"
    assert banner_count(at) == 0 and at.toggle(key="set_billing").value is True
    assert _newest_audit(demo_db, "settings.invoice_billing").detail == '{"after": "on", "before": "off"}'


def test_profile_form_refuses_a_bad_prefix_then_saves_a_new_version(demo_db):
    with db(demo_db) as s:
        version = s.execute(sa.select(sa.func.max(InvoiceProfile.version))).scalar_one()
    at = app("pages/settings.py")
    at.text_input(key="set_remit_name").input("Riverbend Occupational Health PC")
    at.text_area(key="set_remit_address").input("PO Box 9\nRiverbend, OR 97401")
    at.text_input(key="set_footer").input("Pay online at pay.example.test")
    at.number_input(key="set_terms").set_value(45)
    at.radio(key="set_total_by").set_value("procedure")
    at.checkbox(key="set_codes").uncheck()
    at.text_input(key="set_prefix").input("RB 2!")
    before = snapshot(demo_db)
    button(at, "Save profile").click().run()
    assert "The number prefix must be 1 to 12 letters, digits, '-', '_' or '/', not 'RB 2!'." in plain(at.error)
    assert not at.success and snapshot(demo_db) == before

    at.text_input(key="set_prefix").input("RB-")
    button(at, "Save profile").click().run()
    assert not at.error and f"Saved as version {version + 1}. New batches use it." in plain(at.success)
    with db(demo_db) as s:
        saved = s.execute(sa.select(InvoiceProfile).where(InvoiceProfile.version == version + 1)).scalar_one()
    assert (saved.remit_to_name, saved.remit_to_address, saved.footer, saved.terms_days, saved.total_by,
            saved.show_procedure_codes, saved.number_prefix, saved.created_by) == (
        "Riverbend Occupational Health PC", "PO Box 9\nRiverbend, OR 97401", "Pay online at pay.example.test", 45,
        "procedure", False, "RB-", MANAGER)
    at.run()
    assert any(f"Version {version + 1}, saved by manager." in t for t in plain(at.caption))


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])
def test_time_zone_select_saves_and_sets_the_practices_today(demo_db, zone):
    at = app("pages/settings.py")
    assert at.selectbox(key="set_zone").value == ""
    at.selectbox(key="set_zone").set_value(zone)
    button(at, "Save time zone").click().run()
    assert not at.exception and not at.error
    with db(demo_db) as s:
        assert time_zone_name(s) == zone
    today = clock.now().astimezone(ZoneInfo(zone)).date()
    assert at.selectbox(key="set_zone").value == zone
    assert any(f"The practice's today is **{today:%A, %B %-d, %Y}**" in m.value for m in at.markdown)
    record = _newest_audit(demo_db, "settings.time_zone")
    assert (record.actor, record.detail) == (MANAGER, f'{{"after": "{zone}", "before": "server"}}')
    # Every page counts days in that zone: the receipt form's default received date is its today.
    with db(demo_db) as s:
        party_id = s.execute(sa.select(Party.id).order_by(Party.id).limit(1)).scalar_one()
    at = app("pages/payments.py", party_id=str(party_id))
    assert at.date_input(key="pay_received").value == today


# ---------- Audit log ----------

def test_audit_log_date_filter_includes_its_last_day(demo_any):
    with db(demo_any) as s:
        records = s.execute(sa.select(AuditRecord).order_by(AuditRecord.id.desc())).scalars().all()
        days = {r.id: practice_day(r.at, s) for r in records}
        when = {r.id: practice_clock(r.at, s) for r in records}
    counts: dict = {}
    for d in days.values():
        counts[d] = counts.get(d, 0) + 1
    ordered = sorted(counts)
    day = next(d for d in ordered[1:-1] if 1 < counts[d] <= 50)
    at = app("pages/audit.py")
    at.date_input(key="audit_since").set_value(day)
    at.date_input(key="audit_until").set_value(day).run()
    on_day = [r for r in records if days[r.id] == day]
    assert column(at, "When") == [when[r.id] for r in on_day]
    assert column(at, "What") == [r.action for r in on_day]
    # "From" the next day with no "To": the chosen day is left out, every later one is in.
    at.date_input(key="audit_since").set_value(day + timedelta(days=1))
    at.date_input(key="audit_until").set_value(None).run()
    later = [r for r in records if days[r.id] > day][:50]
    assert column(at, "When") == [when[r.id] for r in later]

