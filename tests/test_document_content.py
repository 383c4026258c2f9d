"""What the PDFs say: due dates, payment and credit lines with their signs, balances, the statement's
open rows and aging, credit memos, the logo, and that documents stay as first made.

One practice is built per module and database (SQLite and PostgreSQL); every figure expected below is
worked out here from the amounts and dates this file chose, never read back from core.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from PIL import Image
from sqlmodel import Session

from core import (
    InvoiceDeskError,
    clock,
    create_credit_memo,
    create_on_demand_batch,
    current_profile,
    open_engine,
    post_receipt,
    rebatch,
    render_batch_item_pdf,
    render_batch_pdf,
    render_credit_memo_pdf,
    render_statement_pdf,
    save_invoice_profile,
    verify_document,
    void_receipt,
)
from core.models import Document, Encounter, InvoiceLine, Patient
from tests.factories import ACTOR, billing_on, make_encounter, make_party
from tests.support.fingerprint import assert_refused_unchanged
from tests.support.pdf_text import page_images, pdf_pages, pdf_runs, pdf_text

TERMS = 30
FIRST = date(2026, 1, 30)          # first sending: +30 days crosses the end of February
REPRINT = date(2026, 2, 20)        # the rebatch (-2)
BATCH_NOTE = "Internal: controller prefers phone, never e-mail"
REBATCH_NOTE = "Internal: resend after the dispute call"
RECEIPT_NOTE = "Internal: check arrived folded in a lunch order"
REASON = "Billed to the wrong employer <b>&amp;</b> {{ 7*7 }}"
STATEMENT_DAY = date(2026, 6, 30)
LOGO_SIZE = (4, 3)


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def day(d: date) -> str:
    """How a document writes a date: Mar 1, 2026."""
    return f"{MONTHS[d.month - 1]} {d.day}, {d.year}"


def usd(amount: Decimal) -> str:
    """$1,234.50 and -$12.00, written out by hand from the amount."""
    whole, cents = f"{abs(amount):.2f}".split(".")
    groups = []
    while len(whole) > 3:
        whole, groups = whole[:-3], [whole[-3:], *groups]
    return ("-" if amount < 0 else "") + "$" + ",".join([whole, *groups]) + "." + cents


def D(text: str) -> Decimal:
    return Decimal(text)


def noon(session: Session, d: date) -> datetime:
    """A moment on the practice's day d, whatever the zone."""
    return clock.day_start(d, session) + timedelta(hours=12)


def png(size: tuple[int, int] = LOGO_SIZE) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (11, 79, 108)).save(out, format="PNG")
    return out.getvalue()


# ---------- the practice, built once per module and database ----------

@dataclass
class Practice:
    session: Session
    ids: dict = field(default_factory=dict)
    numbers: dict = field(default_factory=dict)
    first_pdf: bytes = b""

    def pdf(self, key: str) -> bytes:
        """A document of this practice, rendered for the test that asks (the first rendering is archived).

        Not cached across tests: each test that reads a document renders it itself, so a test runner that picks
        the tests reaching a renderer (mutmut does) finds every test that reads what it renders."""
        s = self.session
        if key == "memo":
            pdf = render_credit_memo_pdf(s, credit_memo_id=self.ids["memo"])
        elif key == "statement":
            pdf = render_statement_pdf(s, party_id=self.ids["statement_party"], as_of=STATEMENT_DAY)
        else:
            pdf = render_batch_item_pdf(s, batch_item_id=self.ids[key])
        s.commit()
        return pdf

    def text(self, key: str) -> str:
        return pdf_text(self.pdf(key))


# The invoice: three encounters; two payments, a bounced check and a credit memo before the reprint.
ENCOUNTERS = {"a": D("120.00"), "b": D("80.10"), "c": D("45.55")}
PAID_BEFORE_REPRINT = [  # (received, method, reference, receipt amount, allocated to the invoice)
    (date(2026, 2, 5), "check", "CHK 1001", D("50.25"), D("50.25")),
    (date(2026, 2, 10), "ACH", "ACH 77", D("30.00"), D("20.00")),
]
BOUNCED = (date(2026, 2, 11), "check", "CHK 1002", D("15.00"))
CREDITED = ("b", "c")
AFTER_REPRINT = (date(2026, 2, 25), "card", "CARD 9", D("5.00"))

# The statement party, invoices sent at these ages (days before STATEMENT_DAY) with profile terms 0, so the
# due date is the sending date and the ages read the same counted from either.
# age -> (encounter amounts, paid on it, index of an encounter credited or None)
STATEMENT_INVOICES = {
    0: (("110.00",), D("10.01"), None),
    30: (("230.00",), D("0"), None),
    31: (("310.50",), D("0.50"), None),
    60: (("420.00",), D("20.00"), None),
    61: (("500.00", "75.25"), D("100.00"), 1),
    90: (("640.00",), D("40.00"), None),
    91: (("700.00",), D("0"), None),
    120: (("810.00",), D("10.00"), None),
    121: (("905.05",), D("5.05"), None),
}
PAID_AGE, PAID_AMOUNT = 45, D("55.00")
STATEMENT_UNAPPLIED = D("12.34")


def _build(s: Session) -> Practice:
    w = Practice(s)
    billing_on(s)
    save_invoice_profile(s, actor=ACTOR, remit_to_name="Riverbend Occupational Health",
                         remit_to_address="400 Clinic Way\nRiverbend, OR 97401", terms_days=TERMS,
                         footer="Call billing at 555-0142", logo=None)
    # --- the invoice, its payments, its credit memo and its reprint
    party = make_party(s, name="Acme Freight")
    encs = {}
    for i, (key, amount) in enumerate(ENCOUNTERS.items()):
        encs[key] = make_encounter(s, party, dos=date(2026, 1, 5 + i), amounts=(str(amount),))
        s.get(Patient, encs[key].patient_id).name = f"Worker {key.upper()}"
    s.flush()
    w.numbers["encounters"] = {k: e.number for k, e in encs.items()}
    first = create_on_demand_batch(s, party_id=party.id, internal_note=BATCH_NOTE, actor=ACTOR,
                                   as_of=noon(s, FIRST))
    item = first.items[0]
    w.ids.update(first=item.id, invoice=item.invoice_id, first_batch=first.id)
    w.numbers["invoice"] = item.invoice_number
    s.commit()
    w.first_pdf = render_batch_item_pdf(s, batch_item_id=item.id)  # downloaded the day it was sent
    s.commit()
    for received, method, ref, amount, allocated in PAID_BEFORE_REPRINT:
        post_receipt(s, party_id=party.id, amount=amount, received_date=received, method=method, reference=ref,
                     allocations={item.invoice_id: allocated}, note=RECEIPT_NOTE, actor=ACTOR,
                     as_of=noon(s, received))
    received, method, ref, amount = BOUNCED
    bounced = post_receipt(s, party_id=party.id, amount=amount, received_date=received, method=method,
                           reference=ref, allocations={item.invoice_id: amount}, actor=ACTOR, as_of=noon(s, received))
    void_receipt(s, receipt_id=bounced.id, reason="Returned NSF", actor=ACTOR, as_of=noon(s, received + timedelta(1)))
    memo = create_credit_memo(s, batch_item_id=item.id, encounter_ids=[encs[k].id for k in CREDITED],
                              action="void", reason=REASON, actor=ACTOR, as_of=noon(s, date(2026, 2, 12)))
    w.ids["memo"], w.numbers["memo"] = memo.id, f"CM-{memo.number:06d}"
    again = rebatch(s, source_batch_id=first.id, internal_note=REBATCH_NOTE, actor=ACTOR, as_of=noon(s, REPRINT))
    w.ids.update(reprint=again.items[0].id, reprint_batch=again.id)
    w.numbers["reprint"] = again.items[0].invoice_number
    received, method, ref, amount = AFTER_REPRINT
    post_receipt(s, party_id=party.id, amount=amount, received_date=received, method=method, reference=ref,
                 allocations={item.invoice_id: amount}, actor=ACTOR, as_of=noon(s, received))
    s.commit()

    # --- an invoice under a profile with a logo
    save_invoice_profile(s, actor=ACTOR, logo=png(), logo_mime="image/png")
    logo_party = make_party(s, name="Logo Client")
    make_encounter(s, logo_party, dos=date(2026, 3, 2), amounts=("64.00",))
    w.ids["logo"] = create_on_demand_batch(s, party_id=logo_party.id, actor=ACTOR,
                                           as_of=noon(s, date(2026, 3, 3))).items[0].id

    # --- the statement party: open invoices of every age around the bucket edges, one paid invoice
    save_invoice_profile(s, actor=ACTOR, terms_days=0, logo=None, logo_mime="")
    sp = make_party(s, name="Statement Holdings")
    w.ids["statement_party"] = sp.id
    invoices, allocations = {}, {}
    for age in sorted([*STATEMENT_INVOICES, PAID_AGE], reverse=True):
        sent = STATEMENT_DAY - timedelta(days=age)
        amounts = STATEMENT_INVOICES[age][0] if age in STATEMENT_INVOICES else (str(PAID_AMOUNT),)
        encs_here = [make_encounter(s, sp, dos=sent - timedelta(days=3), amounts=(a,)) for a in amounts]
        b = create_on_demand_batch(s, party_id=sp.id, actor=ACTOR, as_of=noon(s, sent))
        invoices[age] = (b.items[0], encs_here)
        paid = PAID_AMOUNT if age == PAID_AGE else STATEMENT_INVOICES[age][1]
        if paid:
            allocations[b.items[0].invoice_id] = paid
        credit_index = STATEMENT_INVOICES.get(age, (None, None, None))[2]
        if credit_index is not None:
            create_credit_memo(s, batch_item_id=b.items[0].id, encounter_ids=[encs_here[credit_index].id],
                               action="self-pay", reason="Patient pays", actor=ACTOR,
                               as_of=noon(s, sent + timedelta(days=1)))
    post_receipt(s, party_id=sp.id, amount=sum(allocations.values()) + STATEMENT_UNAPPLIED,
                 received_date=STATEMENT_DAY, method="check", reference="CHK 5500", allocations=allocations,
                 note=RECEIPT_NOTE, actor=ACTOR, as_of=noon(s, STATEMENT_DAY))
    w.numbers["statement"] = {age: item.invoice_number for age, (item, _) in invoices.items()}
    s.commit()
    return w


def _fresh_pg_url(cluster) -> str:
    return cluster.copy_database()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def practice(request, tmp_path_factory):
    if request.param == "sqlite":
        eng = open_engine(f"sqlite:///{tmp_path_factory.mktemp('content') / 'desk.db'}")
    else:
        eng = open_engine(_fresh_pg_url(request.getfixturevalue("pg_cluster")))
    with Session(eng, expire_on_commit=False) as s:
        yield _build(s)
        s.rollback()
    eng.dispose()


# ---------- the invoice: due date, payment and credit lines, balance ----------

def test_first_sending_prints_due_date_as_sent_plus_terms_and_the_whole_balance(practice):
    text = pdf_text(practice.first_pdf)
    due = FIRST + timedelta(days=TERMS)
    assert f"Sent {day(FIRST)}" in text
    assert f"Due {day(due)} (net {TERMS} days)" in text
    billed = sum(ENCOUNTERS.values())
    assert f"Billed (3 encounters) {usd(billed)}" in text
    assert f"Payments received {usd(D('0'))}" in text and f"Balance due {usd(billed)}" in text
    assert re.search(rf"Amount due {re.escape(usd(billed))}", text, re.I)
    assert "Payment received" not in text and "Credit memo" not in text and "Reprint" not in text


def test_reprint_prints_the_due_date_of_the_first_sending(practice):
    """Domain rule 14: one due date, from the first sending (not the resend's day plus terms)."""
    due = f"Due {day(FIRST + timedelta(days=TERMS))} (net {TERMS} days)"
    assert due in practice.text("reprint") and due in practice.text("invoice")
    assert f"Due {day(REPRINT + timedelta(days=TERMS))}" not in practice.text("reprint")


def test_a_resend_after_the_due_date_says_past_due_and_a_paid_one_does_not(session):
    billing_on(session)
    party = make_party(session)
    make_encounter(session, party, dos=date(2026, 1, 5), amounts=("100.00",))
    make_encounter(session, party, dos=date(2026, 1, 5), amounts=("40.00",))
    first = create_on_demand_batch(session, party_id=party.id, actor=ACTOR, as_of=noon(session, date(2026, 1, 10)))
    late = rebatch(session, source_batch_id=first.id, actor=ACTOR, as_of=noon(session, date(2026, 3, 1)))
    text = pdf_text(render_batch_item_pdf(session, batch_item_id=late.items[0].id))
    assert "Due Feb 9, 2026 (past due)" in text and "Sent Mar 1, 2026" in text
    post_receipt(session, party_id=party.id, amount="140.00", received_date=date(2026, 3, 2), method="check",
                 allocations={late.items[0].invoice_id: "140.00"}, actor=ACTOR)
    paid = rebatch(session, source_batch_id=late.id, include_paid=True, actor=ACTOR,
                   as_of=noon(session, date(2026, 3, 5)))
    text = pdf_text(render_batch_item_pdf(session, batch_item_id=paid.items[0].id))
    assert "Due Feb 9, 2026 (net 30 days)" in text and "past due" not in text


def test_reprint_lists_each_payment_by_then_and_the_credit_with_their_signs_and_the_balance(practice):
    text = practice.text("reprint")
    assert f"Reprint of invoice {practice.numbers['invoice']} first sent {day(FIRST)}" in text
    assert f"Sent {day(REPRINT)}" in text
    for received, method, ref, _amount, allocated in PAID_BEFORE_REPRINT:
        # the amount allocated to this invoice, not the receipt's amount, as money taken off
        assert f"Payment received {day(received)}, {method} {ref} {usd(-allocated)}" in text
    assert text.count("Payment received") == len(PAID_BEFORE_REPRINT)
    assert BOUNCED[2] not in text, "a check voided before the reprint is not a payment"
    assert AFTER_REPRINT[2] not in text, "a payment allocated after the reprint was not on it"
    credited = sum(ENCOUNTERS[k] for k in CREDITED)
    assert f"Credit memo {practice.numbers['memo']} {usd(-credited)}" in text
    billed = sum(ENCOUNTERS.values())
    payments = sum(allocated for *_, allocated in PAID_BEFORE_REPRINT)
    balance = billed - payments - credited
    assert balance == D("49.75")  # worked by hand: 245.65 - 70.25 - 125.65
    assert f"Billed (3 encounters) {usd(billed)}" in text
    assert f"Balance due {usd(balance)}" in text
    assert re.search(rf"Amount due {re.escape(usd(balance))}", text, re.I)


def test_reprint_and_batch_pdf_are_the_same_invoice_and_no_internal_note_is_printed(practice):
    s = practice.session
    reprint = practice.text("reprint")
    batch = pdf_pages(render_batch_pdf(s, batch_id=practice.ids["reprint_batch"]))
    s.commit()
    assert batch == pdf_pages(practice.pdf("reprint"))
    for text in (reprint, pdf_text(practice.first_pdf), practice.text("memo"), practice.text("statement")):
        for note in (BATCH_NOTE, REBATCH_NOTE, RECEIPT_NOTE):
            assert note not in text
        assert "Internal" not in text


def test_printing_an_invoice_again_gives_the_first_bytes_after_payments_credits_and_profile_changes(practice):
    s = practice.session
    again = render_batch_item_pdf(s, batch_item_id=practice.ids["first"])
    s.commit()
    assert again == practice.first_pdf
    check = verify_document(s, kind="batch_item", ref_id=practice.ids["first"])
    assert check.unchanged and check.archived_sha256 == hashlib.sha256(practice.first_pdf).hexdigest()


# ---------- the credit memo ----------

def test_credit_memo_prints_number_invoice_encounters_with_amounts_reason_and_total(practice):
    text = practice.text("memo")
    numbers = practice.numbers["encounters"]
    assert f"CREDIT MEMO {practice.numbers['memo']}" in text
    assert f"Against invoice {practice.numbers['invoice']}" in text
    for i, key in enumerate(("a", "b", "c")):
        row = f"{date(2026, 1, 5 + i):%m/%d/%Y} Worker {key.upper()} {numbers[key]} {usd(ENCOUNTERS[key])}"
        assert (row in text) == (key in CREDITED), row
    assert numbers["a"] not in text
    # the reason exactly as typed: markup and template syntax stay text
    assert f"Reason: {REASON}" in text
    credited = sum(ENCOUNTERS[k] for k in CREDITED)
    assert f"Total credit {usd(credited)}" in text
    # the invoice's balance then (245.65 - 50.25 - 20.00 = 175.40) covered the whole credit
    assert f"Applied to invoice {practice.numbers['invoice']} {usd(credited)}" in text
    assert f"Credit on account {usd(D('0'))}" in text
    assert verify_document(practice.session, kind="credit_memo", ref_id=practice.ids["memo"]).unchanged


# ---------- the statement: open rows, balances, aging ----------

def _statement_expectations():
    rows = {}
    for age, (amounts, paid, credit_index) in STATEMENT_INVOICES.items():
        billed = sum(D(a) for a in amounts)
        credits = D(amounts[credit_index]) if credit_index is not None else D("0")
        rows[age] = (billed, paid, credits, billed - paid - credits)
    return rows


def test_statement_lists_only_open_invoices_with_their_own_balance(practice):
    text = practice.text("statement")
    numbers = practice.numbers["statement"]
    rows = _statement_expectations()
    open_part = text.split("Open invoices", 1)[1].split("Receipts in the last 12 months", 1)[0]
    assert set(re.findall(r"INV-\d{6}", open_part)) == {numbers[age] for age in STATEMENT_INVOICES}
    assert numbers[PAID_AGE] not in text
    for age, (billed, paid, credits, balance) in rows.items():
        sent = STATEMENT_DAY - timedelta(days=age)
        # nothing was written off: that column reads $0.00 before the balance
        row = (f"{numbers[age]} {day(sent)} {day(sent)} {usd(billed)} {usd(paid)} {usd(credits)} {usd(D('0'))} "
               f"{usd(balance)}")
        assert row in open_part, row
    total = sum(r[3] for r in rows.values())
    assert total == D("4439.99")  # by hand: 99.99+230+310+400+400+600+700+800+900
    assert f"Open balance {usd(total)}".lower() in text.lower()
    assert f"Unapplied money on account: {usd(STATEMENT_UNAPPLIED)}" in text


def test_statement_aging_places_each_balance_by_its_age_at_the_bucket_edges(practice):
    text = practice.text("statement")
    balance = {age: r[3] for age, r in _statement_expectations().items()}
    buckets = [  # placed by hand: a bucket holds its upper edge, the next day starts the next bucket
        balance[0] + balance[30],
        balance[31] + balance[60],
        balance[61] + balance[90],
        balance[91] + balance[120],
        balance[121],
    ]
    header = "0-30 days 31-60 days 61-90 days 91-120 days over 120 days Total"
    figures = " ".join(usd(b) for b in [*buckets, sum(buckets)])
    assert f"{header} {figures}" in text


# ---------- the logo ----------

def test_logo_of_the_batch_profile_is_drawn_and_an_invoice_without_one_has_no_image(practice):
    with_logo = page_images(practice.pdf("logo"))
    assert with_logo == [[LOGO_SIZE]]
    assert page_images(practice.first_pdf) == [[]]
    assert page_images(practice.pdf("reprint")) == [[]]


# ---------- the archive of fingerprints, on both databases ----------

def test_archived_fingerprint_proves_a_document_and_catches_tampering(session):
    billing_on(session)
    party = make_party(session)
    make_encounter(session, party, amounts=("99.95",))
    item = create_on_demand_batch(session, party_id=party.id, actor=ACTOR).items[0]
    session.commit()
    one = render_batch_item_pdf(session, batch_item_id=item.id)
    session.commit()
    assert render_batch_item_pdf(session, batch_item_id=item.id) == one
    check = verify_document(session, kind="batch_item", ref_id=item.id)
    assert check.unchanged and check.archived_sha256 == hashlib.sha256(one).hexdigest()
    forged = hashlib.sha256(b"another document").hexdigest()
    # Someone with the schema owner's rights rewrites the fingerprint (the app's own role may not, on PostgreSQL).
    owner = session.get_bind()
    if owner.dialect.name == "postgresql":
        from tests.support.postgres import OWNER, as_role

        owner = sa.create_engine(as_role(owner.url, OWNER))
    session.commit()
    with owner.begin() as conn:
        conn.execute(sa.update(Document).where(Document.kind == "batch_item", Document.ref_id == item.id)
                     .values(sha256=forged))
    if owner is not session.get_bind():
        owner.dispose()
    check = verify_document(session, kind="batch_item", ref_id=item.id)
    assert not check.unchanged
    assert check.archived_sha256 == forged and check.current_sha256 == hashlib.sha256(one).hexdigest()


# ---------- invoice profile validation, on both databases ----------

def test_invoice_profile_refuses_bad_values_and_accepts_the_edges(session):
    from core.validation import MAX_LOGO_BYTES

    save_invoice_profile(session, actor=ACTOR, remit_to_name="Base Clinic", terms_days=30)
    session.commit()
    refusals = [
        ({"terms_days": -1}, "Payment terms"), ({"terms_days": 366}, "Payment terms"),
        ({"terms_days": "30"}, "Payment terms"), ({"terms_days": True}, "Payment terms"),
        ({"number_prefix": ""}, "number prefix"), ({"number_prefix": "ABCDEFGHIJKLM"}, "number prefix"),
        ({"number_prefix": "INV #"}, "number prefix"),
        ({"total_by": "encounter"}, "Total by"),
        ({"logo": b"\x89PNG" + b"\0" * (2 * 1024 * 1024 - 3), "logo_mime": "image/png"}, "larger than 2 MB"),
        ({"colour": "blue"}, "Unknown invoice profile field .colour.\\."),
    ]
    for fields, match in refusals:
        assert_refused_unchanged(session, lambda f=fields: save_invoice_profile(session, actor=ACTOR, **f),
                                 match=match)
    assert current_profile(session).terms_days == 30
    accepted = [{"terms_days": 0}, {"terms_days": 365}, {"number_prefix": "A"},
                {"number_prefix": "RB/2026-_x12"}, {"total_by": "procedure"},
                {"logo": b"\x89PNG" + b"\0" * (2 * 1024 * 1024 - 4), "logo_mime": "image/png"}]
    assert len(accepted[-1]["logo"]) == MAX_LOGO_BYTES == 2 * 1024 * 1024
    for fields in accepted:
        saved = save_invoice_profile(session, actor=ACTOR, **fields)
        session.commit()
        session.expire_all()
        for name, value in fields.items():
            assert getattr(current_profile(session), name) == value
        assert saved.remit_to_name == "Base Clinic"  # unchanged fields carry over to the new version
    # The prefix in force is the one new invoice numbers carry.
    billing_on(session)
    party = make_party(session)
    make_encounter(session, party)
    batch = create_on_demand_batch(session, party_id=party.id, actor=ACTOR)
    assert re.fullmatch(r"RB/2026-_x12\d{6}", batch.items[0].invoice_number)


def test_chosen_history_rows_print_as_one_pdf_in_the_order_chosen(session):
    from core import render_items_pdf

    billing_on(session)
    first, second = make_party(session, name="First Freight"), make_party(session, name="Second Sawmill")
    make_encounter(session, first, amounts=("12.00",))
    make_encounter(session, second, amounts=("34.00",))
    a = create_on_demand_batch(session, party_id=first.id, actor=ACTOR).items[0]
    b = create_on_demand_batch(session, party_id=second.id, actor=ACTOR).items[0]
    pages = pdf_pages(render_items_pdf(session, batch_item_ids=[b.id, a.id]))
    assert len(pages) == 2
    assert b.invoice_number in pages[0] and "Second Sawmill" in pages[0] and "$34.00" in pages[0]
    assert a.invoice_number in pages[1] and "First Freight" in pages[1] and "$12.00" in pages[1]
    assert_refused_unchanged(session, lambda: render_items_pdf(session, batch_item_ids=[]),
                             match="^Choose at least one invoice to print.$")


def test_credit_memos_say_what_each_action_means_and_what_is_left_on_account(session):
    from core import set_time_zone

    set_time_zone(session, zone="UTC", actor=ACTOR)
    billing_on(session)
    party = make_party(session, name="Dockside Foods")  # 1 Main St, Springfield, IL 62701
    other = make_party(session, name="Other Payer")
    late = make_encounter(session, party, dos=date(2026, 2, 9), amounts=("30.00",))
    early = make_encounter(session, party, dos=date(2026, 2, 2), amounts=("20.00",))
    kept = make_encounter(session, party, dos=date(2026, 2, 3), amounts=("50.00",))
    item = create_on_demand_batch(session, party_id=party.id, actor=ACTOR, as_of=noon(session, date(2026, 2, 10))).items[0]
    # 90.00 of the 100.00 is paid: a 50.00 credit covers the 10.00 still owed and leaves 40.00 on account.
    post_receipt(session, party_id=party.id, amount="90.00", received_date=date(2026, 2, 11), method="check",
                 allocations={item.invoice_id: "90.00"}, actor=ACTOR, as_of=noon(session, date(2026, 2, 11)))
    memo = create_credit_memo(session, batch_item_id=item.id, encounter_ids=[late.id, early.id], action="self-pay",
                              reason="Workers pay", actor=ACTOR, as_of=noon(session, date(2026, 2, 12)))
    session.commit()
    text = pdf_text(render_credit_memo_pdf(session, credit_memo_id=memo.id))
    patient = {e.id: session.get(Patient, e.patient_id).name for e in (late, early)}
    assert "Issued Feb 12, 2026" in text
    assert "The patient pays these visits; they are no longer billed to you." in text
    assert "Dockside Foods 1 Main St Springfield, IL 62701" in text
    # Oldest visit first.
    assert (f"02/02/2026 {patient[early.id]} {early.number} $20.00 02/09/2026 {patient[late.id]} {late.number} $30.00"
            in text)
    assert f"Applied to invoice {item.invoice_number} $10.00" in text and "Credit on account $40.00" in text
    assert "The credit on account will be applied to your open or next invoices." in text
    assert kept.number not in text

    make_encounter(session, party, dos=date(2026, 2, 13), amounts=("15.00",))
    second = create_on_demand_batch(session, party_id=party.id, actor=ACTOR,
                                    as_of=noon(session, date(2026, 2, 14))).items[0]
    enc_id = session.execute(sa.select(InvoiceLine.encounter_id)
                             .where(InvoiceLine.invoice_id == second.invoice_id)).scalar_one()
    reassigned = create_credit_memo(session, batch_item_id=second.id, encounter_ids=[enc_id], action="reassign",
                                    reassign_to_party_id=other.id, reason="Other employer", actor=ACTOR,
                                    as_of=noon(session, date(2026, 2, 15)))
    session.commit()
    text = pdf_text(render_credit_memo_pdf(session, credit_memo_id=reassigned.id))
    assert "These visits are billed to another party instead." in text
    assert "Credit on account $0.00" in text and "will be applied to your open or next invoices" not in text
    for bad in (True, "1", memo.id + 1000):
        with pytest.raises(Exception) as caught:
            render_credit_memo_pdf(session, credit_memo_id=bad)
        assert str(caught.value) == (f"There is no credit memo with id {bad}." if type(bad) is int
                                     else f"Credit memo id {bad!r} is not a whole number.")


def test_a_statement_lists_the_years_receipts_newest_first_and_works_without_a_profile(session, time_machine):
    from datetime import UTC

    from core import set_time_zone

    time_machine.move_to(datetime(2026, 6, 15, 12, 0, tzinfo=UTC), tick=False)
    set_time_zone(session, zone="UTC", actor=ACTOR)
    billing_on(session)
    party = make_party(session, name="Harbor Lumber")
    other = make_party(session, name="Elsewhere Inc")
    for received, amount, ref in ((date(2025, 6, 14), "11.00", "TOO OLD"), (date(2025, 6, 15), "22.00", "YEAR AGO"),
                                  (date(2026, 3, 1), "33.00", "MARCH"), (date(2026, 6, 1), "44.00", "JUNE")):
        post_receipt(session, party_id=party.id, amount=amount, received_date=received, method="check",
                     reference=ref, actor=ACTOR)
    bounced = post_receipt(session, party_id=party.id, amount="55.00", received_date=date(2026, 6, 2),
                           method="ACH", reference="BOUNCED", actor=ACTOR)
    void_receipt(session, receipt_id=bounced.id, reason="NSF", actor=ACTOR)
    post_receipt(session, party_id=other.id, amount="66.00", received_date=date(2026, 6, 3), method="check",
                 reference="NOT THEIRS", actor=ACTOR)
    session.commit()
    # No invoice profile saved yet: the statement still prints, under a plain default.
    pdf = render_statement_pdf(session, party_id=party.id)
    text = pdf_text(pdf)
    assert "Our Practice" in text and "As of Jun 15, 2026" in text
    receipts = text.split("Receipts in the last 12 months", 1)[1]
    assert re.findall(r"RCT-\d{6} \w+ \d+, \d{4} \w+ ([A-Z ]+?) \$", receipts) == ["JUNE", "MARCH", "YEAR AGO"]
    assert "Jun 1, 2026 check JUNE $44.00 $44.00" in receipts
    assert "BOUNCED" not in text and "TOO OLD" not in text and "NOT THEIRS" not in text
    assert "Unapplied money on account: $110.00" in text  # the receipt too old to list is still on account
    assert render_statement_pdf(session, party_id=party.id, as_of=date(2026, 6, 15)) == pdf
    for bad in (True, "1", party.id + 1000):
        with pytest.raises(Exception) as caught:
            render_statement_pdf(session, party_id=bad)
        assert str(caught.value) == (f"There is no bill-to party with id {bad}." if type(bad) is int
                                     else f"Party id {bad!r} is not a whole number.")


def test_the_longest_footer_allowed_prints_at_its_normal_size(session):
    """A footer is bounded so the PDF stays legible: 200 characters print at 7.5 pt; 201 are refused."""
    from pypdf import PdfReader

    from core.validation import MAX_FOOTER

    billing_on(session)
    footer = ("Questions? Call billing " * 20)[:MAX_FOOTER - 3] + "END"
    save_invoice_profile(session, actor=ACTOR, footer=footer)
    party = make_party(session)
    make_encounter(session, party, amounts=("50.00",))
    item = create_on_demand_batch(session, party_id=party.id, actor=ACTOR).items[0]
    session.commit()
    sizes = []

    def visit(text, cm, tm, font, size):
        if "Call billing" in text or "END" in text:
            sizes.append(round(size * (tm[0] or 1) * (cm[0] or 1), 1))

    page = PdfReader(io.BytesIO(render_batch_item_pdf(session, batch_item_id=item.id))).pages[0]
    page.extract_text(visitor_text=visit)
    assert sizes and min(sizes) >= 7.0, sizes
    with pytest.raises(InvoiceDeskError, match=r"^The footer is 201 characters; at most 200 fit"):
        save_invoice_profile(session, actor=ACTOR, footer=footer + "!")


# ---------- issue 11, documents: page breaks, one footer a page, each document's own footer, the memo's figure ----------

# Patients named so that their lines sort in this order; every third one came twice (two lines and a subtotal).
# Drawn with every line a row of its own (before issue 11), page 1 of each of these ended on Worker 024's heading
# (at 25 the last patient: its line and the totals alone on page 2); from 53 on page 2 ended on Worker 052's too (two
# lines and a subtotal); and at 37 and 78 a page started on a subtotal. Checked when the test was written.
MANY_PATIENTS = [25, 37, 53, 78]


@pytest.mark.parametrize("patients", MANY_PATIENTS)
def test_a_page_never_ends_on_a_patients_heading_nor_starts_on_a_subtotal(session, patients):
    billing_on(session)
    party = make_party(session, name="Many Patients Co")
    for i in range(patients):
        first = make_encounter(session, party, dos=date(2026, 3, 2), amounts=("10.00",))
        session.get(Patient, first.patient_id).name = f"Worker {i:03d}"
        if i % 3 == 1:
            again = make_encounter(session, party, dos=date(2026, 3, 9), amounts=("20.00",))
            session.execute(sa.update(Encounter).where(Encounter.id == again.id).values(patient_id=first.patient_id))
    session.flush()
    item = create_on_demand_batch(session, party_id=party.id, actor=ACTOR).items[0]
    pages = pdf_pages(render_batch_item_pdf(session, batch_item_id=item.id))
    assert len(pages) >= 2
    seen = []
    for page in pages:
        # A heading is a name not after "Subtotal"; what a reader meets under it, on the same page, is a line's date.
        headings = re.findall(r"(?<!Subtotal )(Worker \d{3})( \d\d/\d\d/2026)?", page)
        assert [name for name, line in headings if not line] == [], page[-200:]
        seen += [name for name, _line in headings]
        # Nor does a page start on a subtotal, its lines left on the page before.
        assert "Amount Subtotal" not in page, page[:300]
    assert seen == [f"Worker {i:03d}" for i in range(patients)]  # every patient once, in order
    twice = (patients + 1) // 3
    assert f"Balance due {usd(D('10.00') * patients + D('20.00') * twice)}" in pages[-1]


def _one_of_each(session: Session, footer: str) -> dict[str, bytes]:
    """A one-page invoice, credit memo and statement of one party under a profile with this footer."""
    billing_on(session)
    save_invoice_profile(session, actor=ACTOR, remit_to_name="Riverbend Occupational Health", footer=footer)
    party = make_party(session, name="Dockside Foods")
    make_encounter(session, party, dos=date(2026, 2, 3), amounts=("50.00",))  # stays on the invoice
    credited = [make_encounter(session, party, dos=date(2026, 2, d), amounts=(a,)) for d, a in ((2, "20.00"),
                                                                                                (9, "30.00"))]
    item = create_on_demand_batch(session, party_id=party.id, actor=ACTOR, as_of=noon(session, date(2026, 2, 10))).items[0]
    # 90.00 of the 100.00 is paid: a 50.00 credit covers the 10.00 still owed and leaves 40.00 on account.
    post_receipt(session, party_id=party.id, amount="90.00", received_date=date(2026, 2, 11), method="check",
                 allocations={item.invoice_id: "90.00"}, actor=ACTOR, as_of=noon(session, date(2026, 2, 11)))
    memo = create_credit_memo(session, batch_item_id=item.id, encounter_ids=[e.id for e in credited], action="void",
                              reason="Billed in error", actor=ACTOR, as_of=noon(session, date(2026, 2, 12)))
    session.commit()
    return {"invoice": render_batch_item_pdf(session, batch_item_id=item.id),
            "credit memo": render_credit_memo_pdf(session, credit_memo_id=memo.id),
            "statement": render_statement_pdf(session, party_id=party.id, as_of=date(2026, 2, 20))}


def test_each_page_prints_the_footer_once_on_an_invoice_a_credit_memo_and_a_statement(session):
    contact = "Call billing at (541) 555-0142."
    for kind, pdf in _one_of_each(session, footer=contact).items():
        pages = pdf_pages(pdf)
        assert len(pages) == 1, kind
        assert pages[0].count(contact) == 1, (kind, pages[0])
        assert pages[0].count("Page 1 of 1") == 1, kind


def test_a_credit_memo_and_a_statement_have_footers_of_their_own(session):
    footer = "Questions about this invoice? Call billing at (541) 555-0142."
    pdfs = _one_of_each(session, footer=footer)
    text = {kind: pdf_text(pdf) for kind, pdf in pdfs.items()}
    assert text["invoice"].count(footer) == 1
    for kind in ("credit memo", "statement"):
        assert "this invoice" not in text[kind].lower(), kind
        assert text[kind].count(f"Questions about this {kind}? Call billing at (541) 555-0142.") == 1, text[kind]


def test_a_credit_memo_leads_with_the_amount_credited(session):
    """The memo's large figures are the 50.00 credited; what was applied (10.00) and left on account (40.00) are lines."""
    runs = [run for page in pdf_runs(_one_of_each(session, footer="")["credit memo"]) for run in page]
    body = max(size for text, size in runs if text == "Billed in error")  # the reason, in body type
    large = [(text, size) for text, size in runs if "$" in text and size > body]
    assert {text for text, _size in large} == {"$50.00"} and len(large) >= 2, large
    largest = max(size for text, size in runs if "$" in text)
    assert ("$50.00", largest) in runs
    for figure in ("$10.00", "$40.00"):
        assert [size for text, size in runs if text == figure] == [body], (figure, runs)
    assert re.search(r"Total credit \$50\.00 Applied to invoice \S+ \$10\.00 Credit on account \$40\.00",
                     " ".join(text for text, _size in runs))
