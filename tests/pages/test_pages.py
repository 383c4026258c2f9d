"""Every screen through Streamlit's AppTest: renders on demo and empty data, main actions, bad input."""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import date

import pytest
import sqlalchemy as sa
from sqlmodel import Session
from streamlit.testing.v1 import AppTest

from core import (
    invoice_history,
    list_batches,
    open_engine,
    open_invoices,
    preview_on_demand_batch,
    read_session,
    search_parties,
)
from core.models import Batch, BatchItem, CreditMemo, Encounter, Party, Receipt
from tests.pages.conftest import APP

PAGES = ["pages/dashboard.py", "pages/batches.py", "pages/employer.py", "pages/payments.py", "pages/settings.py",
         "pages/audit.py"]


def _app(page: str | None = None, **query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _plain(elements) -> list[str]:
    """What a manager reads: message bodies with Markdown escapes removed."""
    return [re.sub(r"\\(.)", r"\1", e.value) for e in elements]


def _button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def _counts(url: str) -> dict[str, int]:
    engine = open_engine(url)
    with Session(engine) as s:
        counts = {m.__tablename__: s.execute(sa.select(sa.func.count()).select_from(m)).scalar_one()
                  for m in (Batch, BatchItem, Receipt, CreditMemo, Party, Encounter)}
    engine.dispose()
    return counts


@contextmanager
def _session(url: str):
    engine = open_engine(url)
    with read_session(engine) as s:
        yield s
    engine.dispose()


def _newest_batch(url: str):
    with _session(url) as s:
        return list_batches(s, limit=1)[0]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_demo_data(demo_db, page):
    at = _app(page)
    assert at.title, "each page has a title"
    assert not at.error


@pytest.mark.parametrize("page", [None, *PAGES])
def test_every_page_renders_on_an_empty_database(empty_db, page):
    at = _app(page)
    if page is None:
        assert at.title[0].value == "Welcome to Invoice Desk"


def test_welcome_loads_the_demo_practice(empty_db):
    at = _app()
    _button(at, "Load the demo practice").click().run()
    assert not at.exception
    assert _counts(empty_db)["party"] == 40


def _party_with_new_encounters(url: str) -> tuple[int, str, int]:
    with _session(url) as s:
        for party in search_parties(s, limit=100):
            preview = preview_on_demand_batch(s, party_id=party.id)
            if preview.encounter_count:
                return party.id, party.name, preview.encounter_count
    raise AssertionError("the demo has no party with encounters left to invoice")


def test_preview_then_create_batch_with_the_f2_button(demo_db):
    party_id, name, encounters = _party_with_new_encounters(demo_db)
    at = _app("pages/dashboard.py")
    at.selectbox(key="dash_party").select(party_id)
    at.text_area(key="dash_note").input("Called in by HR")
    _button(at, "Preview").click().run()
    assert not at.exception
    assert any(f"for **{encounters}** encounters" in t for t in _plain(at.success))
    before = _counts(demo_db)
    create = _button(at, "Create Batch")
    assert create.proto.shortcut.lower() == "f2"
    create.click().run()
    assert not at.exception
    after = _counts(demo_db)
    assert after["batch"] == before["batch"] + 1 and after["batch_item"] == before["batch_item"] + 1
    newest = _newest_batch(demo_db)
    assert newest.internal_note == "Called in by HR" and newest.target == name
    assert any(f"Batch **{newest.number}** created" in t for t in _plain(at.success))


@pytest.mark.parametrize("setup, message", [
    ({}, "Choose exactly one target"),
    ({"dash_dos_from": date(2026, 5, 2), "dash_dos_to": date(2026, 5, 1)}, "DOS From (2026-05-02) is after DOS To"),
])
def test_bad_batch_input_shows_the_core_message_and_creates_nothing(demo_db, setup, message):
    party_id, _, _ = _party_with_new_encounters(demo_db)
    at = _app("pages/dashboard.py")
    if setup:
        at.selectbox(key="dash_party").select(party_id)
        for key, value in setup.items():
            at.date_input(key=key).set_value(value)
    before = _counts(demo_db)
    _button(at, "Create Batch").click().run()
    assert not at.exception
    assert any(message in t for t in _plain(at.error))
    assert _counts(demo_db) == before


def test_rebatch_from_a_batchs_items(demo_db):
    with _session(demo_db) as s:
        row = next(r for r in invoice_history(s, status="open", limit=500) if r.times_batched == 1)
    at = _app("pages/batches.py", batch=str(row.batch_number))
    assert any(f"stb {row.batch_number}" in t for t in _plain(at.subheader))
    at.multiselect(key="stb_rebatch_invoices").set_value([row.invoice_number])
    at.text_area(key="stb_rebatch_note").input("Second notice by phone")
    _button(at, "Rebatch").click().run()
    assert not at.exception
    with _session(demo_db) as s:
        newest = list_batches(s, limit=1)[0]
        resent = invoice_history(s, status="all", number_contains=f"{row.invoice_number}-")
    assert newest.kind == "rebatch" and newest.internal_note == "Second notice by phone"
    assert resent and resent[0].batch_number == newest.number


def test_credit_memo_needs_confirmation_then_is_issued(demo_db):
    with _session(demo_db) as s:
        row = next(r for r in invoice_history(s, status="open", limit=500) if r.encounter_count >= 2)
    at = _app("pages/batches.py", batch=str(row.batch_number))
    at.selectbox(key="stb_memo_invoice").select(row.invoice_number).run()
    at.radio(key="stb_memo_action").set_value("self-pay").run()
    first = at.multiselect(key="stb_memo_encounters").options[0]
    at.multiselect(key="stb_memo_encounters").select(first)
    at.text_area(key="stb_memo_reason").input("Patient paying out of pocket")
    before = _counts(demo_db)
    _button(at, "Issue Credit Memo").click().run()
    assert any("cannot be undone" in t for t in _plain(at.error))
    assert _counts(demo_db) == before
    at.checkbox(key="stb_memo_confirm").check()
    _button(at, "Issue Credit Memo").click().run()
    assert not at.exception
    assert _counts(demo_db)["credit_memo"] == before["credit_memo"] + 1
    assert any("Credit memo **CM-" in t for t in _plain(at.success))


def test_history_filters_by_status_and_contains(demo_db):
    with _session(demo_db) as s:
        resent = invoice_history(s, status="all", number_contains="-2", limit=1)[0]
        party_id = resent.party_id
        expected_all = invoice_history(s, party_id=party_id, status="all", limit=50)
        expected_paid = invoice_history(s, party_id=party_id, status="paid", limit=50)
    at = _app("pages/employer.py", party_id=str(party_id))
    shown = at.dataframe[0].value
    assert list(shown["Invoice"]) == [r.invoice_number for r in expected_all if r.status == "Open"][:50]
    at.segmented_control(key="status").set_value("Paid").run()
    assert list(at.dataframe[0].value["Invoice"]) == [r.invoice_number for r in expected_paid]
    at.segmented_control(key="status").set_value("All").run()
    at.text_input(key="invoice").input(resent.invoice_number[-6:].lower()).run()
    assert list(at.dataframe[0].value["Invoice"]) == [resent.invoice_number]


def test_a_shared_history_link_opens_with_its_filters(demo_db):
    with _session(demo_db) as s:
        resent = invoice_history(s, status="all", number_contains="-2", limit=1)[0]
    # The URL a manager copies: /employer?party_id=..&status=All&invoice=..
    at = _app("pages/employer.py", party_id=str(resent.party_id), status="All",
              invoice=resent.invoice_number.lower())
    assert at.segmented_control(key="status").value == "All"
    assert at.text_input(key="invoice").value == resent.invoice_number.lower()
    assert list(at.dataframe[0].value["Invoice"]) == [resent.invoice_number]


def test_history_rows_can_be_rebatched_from_the_multiselect(demo_db):
    with _session(demo_db) as s:
        row = next(r for r in invoice_history(s, status="open", limit=500))
    at = _app("pages/employer.py", party_id=str(row.party_id))
    at.multiselect(key="emp_selected").select(row.invoice_number).run()
    before = _counts(demo_db)
    _button(at, "Rebatch selected").click().run()
    assert not at.exception and any("Resent in batch" in t for t in _plain(at.success))
    assert _counts(demo_db)["batch"] == before["batch"] + 1


def _open_party(url: str, minimum: int = 2) -> tuple[int, list]:
    with _session(url) as s:
        for party in search_parties(s, limit=100):
            invoices = open_invoices(s, party_id=party.id)
            if len(invoices) >= minimum:
                return party.id, invoices
    raise AssertionError("no party with open invoices")


def test_post_a_receipt_with_the_suggested_allocation(demo_db):
    party_id, invoices = _open_party(demo_db)
    amount = invoices[0].balance_due + invoices[1].balance_due
    at = _app("pages/payments.py")
    at.selectbox(key="pay_party").select(party_id).run()
    at.text_input(key="pay_amount").input(f"{amount:.2f}")
    at.text_input(key="pay_reference").input("CHK 4242")
    _button(at, "Suggest allocation").click().run()
    assert any("Suggested" in t for t in _plain(at.info))
    assert at.text_input(key=f"pay_apply_{invoices[0].invoice_id}").value == f"{invoices[0].balance_due:.2f}"
    _button(at, "Post receipt").click().run()
    assert not at.exception and any("posted" in t for t in _plain(at.success))
    with _session(demo_db) as s:
        after = {i.invoice_id for i in open_invoices(s, party_id=party_id)}
    assert invoices[0].invoice_id not in after and invoices[1].invoice_id not in after


@pytest.mark.parametrize("amount, apply, message", [
    ("ten dollars", None, "is not a number"),
    ("10.00", "500000.00", "more than invoice"),
    ("10.00", "20.00", "more than the $10.00 available"),
    ("", None, "required"),
])
def test_bad_receipts_show_the_core_message_and_change_nothing(demo_db, amount, apply, message):
    party_id, invoices = _open_party(demo_db)
    at = _app("pages/payments.py")
    at.selectbox(key="pay_party").select(party_id).run()
    at.text_input(key="pay_amount").input(amount)
    if apply:
        at.text_input(key=f"pay_apply_{invoices[0].invoice_id}").input(apply)
    before = _counts(demo_db)
    _button(at, "Post receipt").click().run()
    assert not at.exception
    assert any(message in t for t in _plain(at.error)), _plain(at.error)
    assert _counts(demo_db) == before


def test_void_a_receipt_from_the_payments_page(demo_db):
    with _session(demo_db) as s:
        receipt = s.execute(sa.select(Receipt).where(Receipt.voided == sa.false(), Receipt.applied_cents > 0)
                            .limit(1)).scalar_one()
    at = _app("pages/payments.py")
    at.selectbox(key="pay_party").select(receipt.party_id).run()
    at.selectbox(key="pay_void_id").select(receipt.id)
    at.text_input(key="pay_void_reason").input("Check returned NSF")
    at.checkbox(key="pay_void_confirm").check()
    _button(at, "Void receipt").click().run()
    assert not at.exception and any("voided" in t for t in _plain(at.success))
    with _session(demo_db) as s:
        assert s.get(Receipt, receipt.id).voided


def test_csv_import_with_errors_reports_rows_and_imports_nothing(demo_db):
    at = _app("pages/settings.py")
    at.radio(key="set_import_kind").set_value("encounters").run()
    at.text_area(key="set_import_text").input(
        "encounter_number,patient_account,patient_name,party_account_code,date_of_service,post_date,"
        "procedure_code,description,units,amount\n"
        "N-1,P-1,Ann Lee,EMP001,2026-02-30,2026-03-01,80305,Screen,1,45.00\n"
        "N-2,P-2,Bo Li,NOPE,2026-03-01,2026-03-01,80305,Screen,1,-4.00\n")
    before = _counts(demo_db)
    _button(at, "Import").click().run()
    assert not at.exception and any("Nothing was imported" in t for t in _plain(at.error))
    report = at.dataframe[0].value
    assert list(report["Row"]) == [2, 3] and set(report["Column"]) == {"date_of_service", "amount"}
    assert _counts(demo_db) == before


def test_csv_import_of_parties_then_billing_switch(empty_db):
    at = _app("pages/settings.py")
    at.text_area(key="set_import_text").input(
        "account_code,name,kind,group,billable,contact_name,email,address_line1,address_line2,city,state,"
        "postal_code\nNEW1,New Employer,employer,,yes,,,1 Main St,,Salem,OR,97301\n")
    _button(at, "Import").click().run()
    assert any("1 created" in t for t in _plain(at.success))
    assert _counts(empty_db)["party"] == 1


def test_party_form_refuses_a_duplicate_code(demo_db):
    at = _app("pages/settings.py")
    at.text_input(key="set_new_code").input("EMP001")
    at.text_input(key="set_new_name").input("Duplicate")
    before = _counts(demo_db)
    _button(at, "Add party").click().run()
    assert any("already in use" in t for t in _plain(at.error))
    assert _counts(demo_db) == before


def test_navigation_search_opens_a_batch_and_a_party(demo_db):
    at = _app()
    at.sidebar.text_input(key="nav_search").input("stb 12").run()
    assert not at.exception
    assert any("stb 12" in t for t in _plain(at.subheader))
    at.sidebar.text_input(key="nav_search").input("Acme Staffing").run()
    assert at.title[0].value == "Employer Dashboard"


def test_billing_off_banner_on_every_page(demo_db):
    with _session(demo_db) as s:
        from core import set_invoice_billing

        set_invoice_billing(s, enabled=False, actor="test")
        s.commit()
    at = _app("pages/audit.py")
    assert any("Invoice billing is switched off" in t for t in _plain(at.warning))


def test_hostile_names_and_notes_render_as_text(demo_db):
    from core import create_party, transaction

    engine = open_engine(demo_db)
    with transaction(engine) as s:
        party = create_party(s, account_code="EVIL1", name="![x](http://169.254.169.254/) :red[boom] $1$ <b>",
                             address_line1="1 Main", city="Salem", postal_code="97301", actor="test")
    engine.dispose()
    at = _app("pages/employer.py", party_id=str(party.id))
    shown = next(m.value for m in at.markdown if "EVIL1" in m.value)
    assert "\\!\\[x\\]\\(http\\:" in shown and "\\:red\\[boom\\]" in shown and "\\$1\\$" in shown
    assert _plain([m for m in at.markdown if "EVIL1" in m.value])[0].startswith(
        "**![x](http://169.254.169.254/) :red[boom] $1$ <b>**")
