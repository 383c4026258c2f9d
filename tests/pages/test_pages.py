"""Screens through Streamlit's AppTest: the first start, batches, credit memos, history, receipts, imports.

Figures on every page are in test_figures.py and the remaining page actions in test_actions.py; here
each write is checked in the database afterwards and each refusal leaves the whole database unchanged.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core import invoice_history, list_batches, open_invoices, preview_on_demand_batch, search_parties
from core.models import Allocation, BatchItem, CreditMemo, CreditMemoLine, InvoiceLine, Party, Receipt
from tests.pages.conftest import app, button, db, ledger, plain, snapshot


def _newest_batch(url: str):
    with db(url) as s:
        return list_batches(s, limit=1)[0]


def test_welcome_loads_the_demo_practice(empty_db):
    at = app()
    button(at, "Load the demo practice").click().run()
    assert not at.exception and not at.error
    with db(empty_db) as s:
        parties = s.execute(sa.select(sa.func.count()).select_from(Party)).scalar_one()
    assert parties == 40
    assert at.title[0].value == "Statement/Invoice Management Dashboard", "the welcome page gives way"


def _party_with_new_encounters(url: str) -> tuple[int, str, int]:
    with db(url) as s:
        for party in search_parties(s, limit=100):
            preview = preview_on_demand_batch(s, party_id=party.id)
            if preview.encounter_count:
                return party.id, party.name, preview.encounter_count
    raise AssertionError("the demo has no party with encounters left to invoice")


def test_preview_then_create_batch_with_the_f2_button(demo_db):
    party_id, name, encounters = _party_with_new_encounters(demo_db)
    at = app("pages/dashboard.py")
    at.selectbox(key="dash_party").select(party_id)
    at.text_area(key="dash_note").input("Called in by HR")
    before = snapshot(demo_db)
    button(at, "Preview").click().run()
    assert not at.exception
    assert any(f"for **{encounters}** encounters" in t for t in plain(at.success))
    assert snapshot(demo_db) == before, "a preview writes nothing"
    create = button(at, "Create Batch")
    assert create.proto.shortcut.lower() == "f2"
    create.click().run()
    assert not at.exception
    newest = _newest_batch(demo_db)
    assert newest.internal_note == "Called in by HR" and newest.target == name and newest.kind == "on-demand"
    with db(demo_db) as s:
        items = s.execute(sa.select(BatchItem.invoice_id).where(BatchItem.batch_id == newest.batch_id)).scalars().all()
        lines = s.execute(sa.select(sa.func.count()).select_from(InvoiceLine)
                          .where(InvoiceLine.invoice_id.in_(items))).scalar_one()
    assert len(items) == 1 and lines == encounters
    assert any(f"Batch **{newest.number}** created" in t for t in plain(at.success))
    # Issue 11 #7: the form starts empty; pressing F2 again asks for a target and makes nothing, and the
    # announcement of the batch made does not stay up beside that message.
    assert at.selectbox(key="dash_party").value is None and at.text_area(key="dash_note").value == ""
    before = snapshot(demo_db)
    button(at, "Create Batch").click().run()
    assert any("Choose exactly one target" in t for t in plain(at.error))
    assert not any("created" in t for t in plain(at.success)) and snapshot(demo_db) == before


@pytest.mark.parametrize("setup, message", [
    ({}, "Choose exactly one target"),
    ({"dash_dos_from": date(2026, 5, 2), "dash_dos_to": date(2026, 5, 1)}, "DOS From (2026-05-02) is after DOS To"),
])
def test_bad_batch_input_shows_the_core_message_and_creates_nothing(demo_db, setup, message):
    party_id, _, _ = _party_with_new_encounters(demo_db)
    at = app("pages/dashboard.py")
    if setup:
        at.selectbox(key="dash_party").select(party_id)
        for key, value in setup.items():
            at.date_input(key=key).set_value(value)
    before = snapshot(demo_db)
    button(at, "Create Batch").click().run()
    assert not at.exception
    assert any(message in t for t in plain(at.error))
    assert snapshot(demo_db) == before


def test_rebatch_a_chosen_invoice_from_a_batchs_items(demo_db):
    with db(demo_db) as s:
        row = next(r for r in invoice_history(s, status="open", limit=500) if r.times_batched == 1)
    at = app("pages/batches.py", batch=str(row.batch_number))
    assert any(f"stb {row.batch_number}" in t for t in plain(at.subheader))
    at.multiselect(key="stb_rebatch_invoices").set_value([row.invoice_number])
    at.text_area(key="stb_rebatch_note").input("Second notice by phone")
    button(at, "Rebatch").click().run()
    assert not at.exception and not at.error
    newest = _newest_batch(demo_db)
    with db(demo_db) as s:
        resent = s.execute(sa.select(BatchItem.invoice_number, BatchItem.times_batched)
                           .where(BatchItem.batch_id == newest.batch_id)).all()
    assert newest.kind == "rebatch" and newest.internal_note == "Second notice by phone"
    assert resent == [(f"{row.invoice_number}-2", 2)], "only the invoice chosen, with its next suffix"


def test_credit_memo_needs_confirmation_then_is_issued(demo_db):
    with db(demo_db) as s:
        row = next(r for r in invoice_history(s, status="open", limit=500) if r.encounter_count >= 2)
    at = app("pages/batches.py", batch=str(row.batch_number))
    at.selectbox(key="stb_memo_invoice").select(row.invoice_number).run()
    at.radio(key="stb_memo_action").set_value("self-pay").run()
    first = at.multiselect(key="stb_memo_encounters").options[0]
    at.multiselect(key="stb_memo_encounters").select(first)
    at.text_area(key="stb_memo_reason").input("Patient paying out of pocket")
    before = snapshot(demo_db)
    button(at, "Issue Credit Memo").click().run()
    assert any("cannot be undone" in t for t in plain(at.error))
    assert snapshot(demo_db) == before
    at.checkbox(key="stb_memo_confirm").check()
    button(at, "Issue Credit Memo").click().run()
    assert not at.exception and not at.error
    with db(demo_db) as s:
        memo = s.execute(sa.select(CreditMemo).order_by(CreditMemo.id.desc()).limit(1)).scalar_one()
        credited = s.execute(sa.select(CreditMemoLine.amount_cents).where(CreditMemoLine.credit_memo_id == memo.id)
                             ).scalars().all()
    assert (memo.invoice_id, memo.action, memo.reason, memo.created_by) == (
        row.invoice_id, "self-pay", "Patient paying out of pocket", "manager")
    assert len(credited) == 1 and memo.amount_cents == credited[0]
    assert any(f"Credit memo **CM-{memo.number:06d}** issued" in t for t in plain(at.success))
    # Issue 11 #7 and #8: the items table shows the credit at once, beside the balance as sent and as it is now.
    items = at.dataframe[1].value
    line = items[items["Invoice"] == row.invoice_number].iloc[0]
    with db(demo_db) as s:
        books = ledger(s)[row.invoice_id]
    assert line["Credits to date"] == Decimal(memo.amount_cents) / 100 == Decimal(books.credits) / 100
    assert line["Payments to date"] == Decimal(books.payments) / 100
    assert line["Balance now"] == Decimal(books.balance) / 100
    assert line["Billed"] == Decimal(books.billed) / 100


def test_history_filters_by_status_and_contains(demo_db):
    with db(demo_db) as s:
        resent = invoice_history(s, status="all", number_contains="-2", limit=1)[0]
        party_id = resent.party_id
        books = ledger(s)
        rows = s.execute(sa.select(BatchItem.invoice_id, BatchItem.invoice_number).where(
            BatchItem.party_id == party_id).order_by(BatchItem.id.desc())).all()
    at = app("pages/employer.py", party_id=str(party_id))
    shown = at.dataframe[0].value
    assert list(shown["Invoice"]) == [r.invoice_number for r in rows if books[r.invoice_id].balance > 0][:50]
    at.segmented_control(key="status").set_value("Paid").run()
    assert list(at.dataframe[0].value["Invoice"]) == [r.invoice_number for r in rows
                                                      if books[r.invoice_id].balance == 0][:50]
    at.segmented_control(key="status").set_value("All").run()
    at.text_input(key="invoice").input(resent.invoice_number[-6:].lower()).run()
    assert list(at.dataframe[0].value["Invoice"]) == [resent.invoice_number]


def test_a_shared_history_link_opens_with_its_filters(demo_db):
    with db(demo_db) as s:
        resent = invoice_history(s, status="all", number_contains="-2", limit=1)[0]
    # The URL a manager copies: /employer?party_id=..&status=All&invoice=..
    at = app("pages/employer.py", party_id=str(resent.party_id), status="All",
             invoice=resent.invoice_number.lower())
    assert at.segmented_control(key="status").value == "All"
    assert at.text_input(key="invoice").value == resent.invoice_number.lower()
    assert list(at.dataframe[0].value["Invoice"]) == [resent.invoice_number]


def test_history_rows_can_be_rebatched_from_the_multiselect(demo_db):
    with db(demo_db) as s:
        row = next(r for r in invoice_history(s, status="open", limit=500))
    at = app("pages/employer.py", party_id=str(row.party_id))
    at.multiselect(key="emp_selected").select(row.invoice_number).run()
    button(at, "Rebatch selected").click().run()
    newest = _newest_batch(demo_db)
    assert not at.exception and f"Resent in batch stb {newest.number}." in plain(at.success)
    with db(demo_db) as s:
        resent = s.execute(sa.select(BatchItem.invoice_id).where(BatchItem.batch_id == newest.batch_id)
                           ).scalars().all()
    assert newest.kind == "rebatch" and resent == [row.invoice_id]


def _open_party(url: str, minimum: int = 2) -> tuple[int, list]:
    with db(url) as s:
        for party in search_parties(s, limit=100):
            invoices = open_invoices(s, party_id=party.id)
            if len(invoices) >= minimum:
                return party.id, invoices
    raise AssertionError("no party with open invoices")


def test_post_a_receipt_with_the_suggested_allocation(demo_db):
    party_id, invoices = _open_party(demo_db)
    amount = invoices[0].balance_due + invoices[1].balance_due
    at = app("pages/payments.py")
    at.selectbox(key="pay_party").select(party_id).run()
    at.text_input(key="pay_amount").input(f"{amount:.2f}")
    at.text_input(key="pay_reference").input("CHK 4242")
    button(at, "Suggest allocation").click().run()
    assert any("Suggested" in t for t in plain(at.info))
    assert at.text_input(key=f"pay_apply_{invoices[0].invoice_id}").value == f"{invoices[0].balance_due:.2f}"
    button(at, "Post receipt").click().run()
    assert not at.exception and any("posted" in t for t in plain(at.success))
    with db(demo_db) as s:
        receipt = s.execute(sa.select(Receipt).order_by(Receipt.id.desc()).limit(1)).scalar_one()
        allocated = dict(s.execute(sa.select(Allocation.invoice_id, Allocation.amount_cents)
                                   .where(Allocation.receipt_id == receipt.id)).all())
        books = ledger(s)
    assert (receipt.party_id, receipt.reference, receipt.amount_cents) == (party_id, "CHK 4242", int(amount * 100))
    assert allocated == {i.invoice_id: int(i.balance_due * 100) for i in invoices[:2]}
    assert books[invoices[0].invoice_id].balance == 0 and books[invoices[1].invoice_id].balance == 0


def test_a_posted_receipt_empties_the_form_and_a_second_click_posts_nothing(demo_db):
    """Issue 11 #2: after posting, the form is empty and the balances fresh; the same reference asks first."""
    party_id, invoices = _open_party(demo_db)
    first = invoices[0]
    at = app("pages/payments.py")
    at.selectbox(key="pay_party").select(party_id).run()
    at.text_input(key="pay_amount").input("25.00")
    at.text_input(key="pay_reference").input("CHK 7001")
    at.text_input(key=f"pay_apply_{first.invoice_id}").input("25.00")
    button(at, "Post receipt").click().run()
    assert not at.exception and any("posted for $25.00; $0.00 unapplied" in t for t in plain(at.success))
    assert at.text_input(key="pay_amount").value == "" and at.text_input(key="pay_reference").value == ""
    assert at.text_input(key=f"pay_apply_{first.invoice_id}").value == ""
    # The balance shown is the one after the payment.
    from app.ui import md, money

    line = next(m.value for m in at.markdown if m.value.startswith(f"**{md(first.number)}**"))
    assert f"balance **{money(first.balance_due - 25)}**" in line
    with db(demo_db) as s:
        count = s.execute(sa.select(sa.func.count()).select_from(Receipt)).scalar_one()

    button(at, "Post receipt").click().run()  # the second click of a double click
    assert any("required" in t for t in plain(at.error))
    # The same check again: asked first, posted only when ticked.
    at.text_input(key="pay_amount").input("25.00")
    at.text_input(key="pay_reference").input("chk 7001 ")
    at.run()
    assert not at.exception
    assert any("already has the reference chk 7001" in t for t in plain(at.warning))
    button(at, "Post receipt").click().run()
    assert any("Not posted" in t for t in plain(at.error))
    with db(demo_db) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Receipt)).scalar_one() == count
    at.checkbox(key="pay_duplicate_ok").check()
    button(at, "Post receipt").click().run()
    assert any("posted for $25.00; $25.00 unapplied" in t for t in plain(at.success))
    with db(demo_db) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Receipt)).scalar_one() == count + 1


@pytest.mark.parametrize("amount, apply, message", [
    ("ten dollars", None, "is not a number"),
    ("10.00", "500000.00", "more than invoice"),
    ("10.00", "20.00", "more than the $10.00 available"),
    ("", None, "required"),
])
def test_bad_receipts_show_the_core_message_and_change_nothing(demo_db, amount, apply, message):
    party_id, invoices = _open_party(demo_db)
    at = app("pages/payments.py")
    at.selectbox(key="pay_party").select(party_id).run()
    at.text_input(key="pay_amount").input(amount)
    if apply:
        at.text_input(key=f"pay_apply_{invoices[0].invoice_id}").input(apply)
    before = snapshot(demo_db)
    button(at, "Post receipt").click().run()
    assert not at.exception
    assert any(message in t for t in plain(at.error)), plain(at.error)
    assert snapshot(demo_db) == before


def test_csv_import_with_errors_reports_rows_and_imports_nothing(demo_db):
    at = app("pages/settings.py")
    at.radio(key="set_import_kind").set_value("encounters").run()
    at.text_area(key="set_import_text").input(
        "encounter_number,patient_account,patient_name,party_account_code,date_of_service,post_date,"
        "procedure_code,description,units,amount\n"
        "N-0,P-0,Cy Good,EMP001,2026-03-01,2026-03-01,80305,Screen,1,45.00\n"
        "N-1,P-1,Ann Lee,EMP001,2026-02-30,2026-03-01,80305,Screen,1,45.00\n"
        "N-2,P-2,Bo Li,NOPE,2026-03-01,2026-03-01,80305,Screen,1,-4.00\n")
    before = snapshot(demo_db)
    button(at, "Import").click().run()
    assert not at.exception and any("Nothing was imported" in t for t in plain(at.error))
    report = at.dataframe[0].value
    assert list(report["Row"]) == [3, 4] and set(report["Column"]) == {"date_of_service", "amount"}
    assert snapshot(demo_db) == before, "not even the good row"


def test_csv_import_of_parties(empty_db):
    at = app("pages/settings.py")
    at.text_area(key="set_import_text").input(
        "account_code,name,kind,group,billable,contact_name,email,address_line1,address_line2,city,state,"
        "postal_code\nNEW1,New Employer,employer,,yes,,,1 Main St,,Salem,OR,97301\n")
    button(at, "Import").click().run()
    assert any("1 created" in t for t in plain(at.success))
    with db(empty_db) as s:
        parties = s.execute(sa.select(Party.account_code, Party.name, Party.billable, Party.city)).all()
    assert parties == [("NEW1", "New Employer", True, "Salem")]

    # The audit log names what the file created, row by row.
    audit = app("pages/audit.py")
    assert "What an import changed" in [h.value for h in audit.subheader]
    changes = audit.dataframe[-1].value
    assert changes[["Row", "Record", "Action"]].values.tolist() == [[2, "party NEW1", "created"]]
    assert "Name: New Employer; " in changes["Changes"][0] and "None" not in changes["Changes"][0]


def test_party_form_refuses_a_duplicate_code(demo_db):
    at = app("pages/settings.py")
    at.text_input(key="set_new_code").input("EMP001")
    at.text_input(key="set_new_name").input("Duplicate")
    before = snapshot(demo_db)
    button(at, "Add party").click().run()
    assert any("already in use" in t for t in plain(at.error))
    assert snapshot(demo_db) == before


@pytest.mark.parametrize("page, name, typed", [
    ("pages/employer.py", "party_id", "\u00b2"), ("pages/employer.py", "party_id", "99999999999999999999"),
    ("pages/payments.py", "party_id", "-1"), ("pages/batches.py", "batch", "99999999999999999999"),
    ("pages/batches.py", "batch", "\u0663"), ("pages/employer.py", "party_id", "1 OR 1=1"),
])
def test_a_hostile_number_in_the_link_gets_a_message_not_an_exception(demo_db, page, name, typed):
    at = app(page, **{name: typed})
    assert not at.exception
    assert any("in the link is not" in t for t in plain(at.warning))


@pytest.mark.parametrize("typed", ["stb \u00b2", "stb 99999999999999999999", "\x00", "x" * 50_000])
def test_a_hostile_navigation_search_gets_a_message_not_an_exception(demo_db, typed):
    at = app()
    at.sidebar.text_input(key="nav_search").input(typed).run()
    assert not at.exception


def test_navigation_search_opens_a_batch_and_a_party(demo_db):
    at = app()
    at.sidebar.text_input(key="nav_search").input("stb 12").run()
    assert not at.exception
    assert any("stb 12" in t for t in plain(at.subheader))
    at.sidebar.text_input(key="nav_search").input("Acme Staffing").run()
    assert at.title[0].value == "Employer Dashboard"
    assert any(t.startswith("**Acme Staffing** ·") for t in plain(at.markdown))


def test_hostile_names_and_notes_render_as_text(demo_db):
    from core import create_party

    with db(demo_db) as s:
        party = create_party(s, account_code="EVIL1", name="![x](http://169.254.169.254/) :red[boom] $1$ <b>",
                             address_line1="1 Main", city="Salem", postal_code="97301", actor="test")
    at = app("pages/employer.py", party_id=str(party.id))
    shown = next(m.value for m in at.markdown if "EVIL1" in m.value)
    assert "\\!\\[x\\]\\(http\\:" in shown and "\\:red\\[boom\\]" in shown and "\\$1\\$" in shown
    assert plain([m for m in at.markdown if "EVIL1" in m.value])[0].startswith(
        "**![x](http://169.254.169.254/) :red[boom] $1$ <b>**")


# Every value a link can carry, in every parameter a page reads from its link, and in the navigation search.
HOSTILE_TEXT = ["", "0", "-1", "abc", "12,34", "1e30", "NaN", "Infinity", "\u00b2", "\u0663", "\uff11", "\x00",
                "a\x00b", "x" * 100_000, "' OR 1=1 --", "1); DROP TABLE party; --", "99999999999999999999",
                "2026-W01-1", "31/12/2026", "<script>alert(1)</script>", "%00", "stb \u00b2"]
LINK_PARAMETERS = [("pages/employer.py", "party_id"), ("pages/payments.py", "party_id"),
                   ("pages/batches.py", "batch"), ("pages/employer.py", "status"), ("pages/employer.py", "invoice")]


@pytest.mark.slow
@pytest.mark.parametrize("page, name", LINK_PARAMETERS, ids=[f"{p.split('/')[1]}?{n}" for p, n in LINK_PARAMETERS])
def test_every_link_parameter_with_every_hostile_value_renders_a_page(demo_db, page, name):
    from streamlit.testing.v1 import AppTest

    from tests.pages.conftest import APP

    for typed in HOSTILE_TEXT:
        at = AppTest.from_file(APP, default_timeout=120)
        at.query_params[name] = typed
        if name in ("status", "invoice"):
            at.query_params["party_id"] = "1"
        at.run()
        at.switch_page(page)
        at.run()
        assert not at.exception, (name, typed[:40], [e.value for e in at.exception])
        assert at.title, (name, typed[:40])  # the page itself, not a blank screen
        if name in ("party_id", "batch") and typed not in ("", "0"):
            shown = plain(at.warning) + plain(at.error) + plain(at.info)
            assert shown or name == "batch", (name, typed[:40])


@pytest.mark.slow
def test_every_hostile_navigation_search_renders_a_message(demo_db):
    at = app()
    for typed in HOSTILE_TEXT:
        at.sidebar.text_input(key="nav_search").input(typed).run()
        assert not at.exception, (typed[:40], [e.value for e in at.exception])


def _open_batch(at) -> str:
    """The batch Batch History shows, by its heading ("Invoice Batch Items: stb 12"), or what it says instead."""
    heads = [h.value for h in at.subheader if h.value.startswith("Invoice Batch Items")]
    return heads[0].rsplit(" ", 1)[-1] if heads else "none: " + " ".join(plain(at.info))


def test_batch_history_shows_the_batch_asked_for_however_it_was_asked(demo_db):
    """Issue 11 #1: the link is the one source of truth; the search, the picker and links all change it."""
    with db(demo_db) as s:
        a, b, c = (n for (n,) in s.execute(sa.text("SELECT number FROM batch ORDER BY number DESC LIMIT 3")))
    at = app("pages/batches.py", batch=str(a))
    assert _open_batch(at) == str(a)
    at.sidebar.text_input(key="nav_search").input(f"stb {b}").run()
    assert _open_batch(at) == str(b) and at.query_params["batch"] == str(b)
    at.selectbox(key="stb_open").select(c).run()
    assert _open_batch(at) == str(c) and at.query_params["batch"] == str(c)
    at.sidebar.text_input(key="nav_search").input(f"stb {a}").run()
    assert _open_batch(at) == str(a)
    at.sidebar.text_input(key="nav_search").input("stb").run()
    assert _open_batch(at) == "none: Choose a batch to see its Invoice Batch Items."
    at.sidebar.text_input(key="nav_search").input(f"stb {b}").run()
    assert _open_batch(at) == str(b)


def _options(at) -> list[str]:
    return [o for box in [*at.selectbox, *at.multiselect] for o in box.options]


def test_no_dropdown_shows_a_markdown_escape(demo_db):
    """Issue 11 #6: dropdown options are plain text, so they carry no Markdown escapes (no "\\$25\\.00")."""
    with db(demo_db) as s:
        number = s.execute(sa.text("SELECT max(number) FROM batch")).scalar_one()
        paid_by = s.execute(sa.text("SELECT party_id FROM receipt WHERE amount_cents > applied_cents "
                                    "AND NOT voided LIMIT 1")).scalar_one()
    batches = app("pages/batches.py", batch=str(number))
    payments = app("pages/payments.py", party_id=str(paid_by))
    options = _options(batches) + _options(payments)
    assert any("$" in o for o in options), "the dropdowns tried include amounts"
    assert [o for o in options if "\\" in o] == []
