"""PDF documents: what they say, that reprints are identical, and that hostile data stays text."""

from __future__ import annotations

import hashlib
import io
import re
import socket
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

import core.documents as documents
from core import (
    create_credit_memo,
    create_on_demand_batch,
    post_receipt,
    rebatch,
    save_invoice_profile,
)
from core.documents import (
    render_batch_item_pdf,
    render_batch_pdf,
    render_credit_memo_pdf,
    render_statement_pdf,
    verify_document,
)
from core.models import ChargeLine, Encounter, Patient
from tests.factories import ACTOR, billing_on, make_encounter, make_group, make_party

NOTE = "Internal: CFO is difficult, do not call before 10"


def _pages(pdf: bytes) -> list[str]:
    return [re.sub(r"\s+", " ", page.extract_text()) for page in PdfReader(io.BytesIO(pdf)).pages]


def _text(pdf: bytes) -> str:
    return " ".join(_pages(pdf))


@pytest.fixture
def invoiced(sqlite_engine):
    from sqlmodel import Session

    with Session(sqlite_engine, expire_on_commit=False) as s:
        billing_on(s)
        save_invoice_profile(s, actor=ACTOR, remit_to_name="Riverbend Occupational Health",
                             remit_to_address="400 Clinic Way\nRiverbend, OR 97401", terms_days=30,
                             footer="Call billing at 555-0142")
        party = make_party(s, name="Zoë Müller-Øberg Trucking")
        encounters = [make_encounter(s, party, dos=date(2026, 5, d), amounts=(a,)) for d, a in
                      ((4, "120.00"), (11, "80.00"))]
        s.get(Patient, encounters[0].patient_id).name = "José Peña"
        batch = create_on_demand_batch(s, party_id=party.id, internal_note=NOTE, actor=ACTOR)
        s.commit()
        yield s, party, batch, encounters


def test_invoice_and_reprint_show_suffix_payments_and_balance_never_the_note(invoiced):
    s, party, batch, _ = invoiced
    first = _text(render_batch_item_pdf(s, batch_item_id=batch.items[0].id))
    base = batch.items[0].invoice_number
    assert base in first and "$200.00" in first and "Zoë Müller-Øberg Trucking" in first and "José Peña" in first
    assert "Reprint" not in first and NOTE not in first and "CFO" not in first
    post_receipt(s, party_id=party.id, amount="75.00", received_date=date(2026, 6, 2), method="check",
                 reference="CHK 99871", allocations={batch.items[0].invoice_id: Decimal("75.00")}, actor=ACTOR)
    again = rebatch(s, source_batch_id=batch.id, internal_note=NOTE, actor=ACTOR)
    s.commit()
    reprint = _text(render_batch_item_pdf(s, batch_item_id=again.items[0].id))
    assert f"{base}-2" in reprint and f"Reprint of invoice {base} first sent" in reprint
    assert "CHK 99871" in reprint and "Jun 2, 2026" in reprint and "$125.00" in reprint
    assert "Balance due $125.00" in reprint and NOTE not in reprint
    # The first sending, printed again after the payment, still reads as it was sent.
    assert "CHK 99871" not in _text(render_batch_item_pdf(s, batch_item_id=batch.items[0].id))


def test_same_item_twice_same_bytes_and_profile_changes_only_affect_new_batches(invoiced):
    s, party, batch, _ = invoiced
    item = batch.items[0]
    one = render_batch_item_pdf(s, batch_item_id=item.id)
    two = render_batch_item_pdf(s, batch_item_id=item.id)
    assert hashlib.sha256(one).hexdigest() == hashlib.sha256(two).hexdigest()
    s.commit()
    save_invoice_profile(s, actor=ACTOR, remit_to_name="New Name Clinic", footer="New footer", terms_days=10)
    post_receipt(s, party_id=party.id, amount="5.00", received_date=date(2026, 6, 1), method="card",
                 allocations={item.invoice_id: "5.00"}, actor=ACTOR)
    party.name = "Renamed Co"
    s.add(party)
    s.commit()
    assert render_batch_item_pdf(s, batch_item_id=item.id) == one
    check = verify_document(s, kind="batch_item", ref_id=item.id)
    assert check.unchanged and check.archived_sha256 == hashlib.sha256(one).hexdigest()
    make_encounter(s, party, dos=date(2026, 7, 1))
    newer = create_on_demand_batch(s, party_id=party.id, actor=ACTOR)
    text = _text(render_batch_item_pdf(s, batch_item_id=newer.items[0].id))
    assert "New Name Clinic" in text and "net 10 days" in text and "Renamed Co" in text
    assert "New Name Clinic" not in _text(one)


HOSTILE = ["<script>alert(1)</script>", "<img src=http://169.254.169.254/>", "[[[", "A" * 2000,
           "<a href='file:///etc/passwd'>x</a>", "{{ 7*7 }}", "&amp; &lt;b&gt;"]


def test_hostile_values_render_as_text_without_any_fetch(sqlite_engine, monkeypatch):
    from sqlmodel import Session

    requested: list[str] = []
    real = documents._link_callback

    def spy(logo_uri, refused):
        inner = real(logo_uri, refused)

        def resolve(uri, rel):
            requested.append(uri)
            return inner(uri, rel)

        return resolve

    def no_network(*args, **kwargs):
        raise AssertionError(f"a network connection was attempted: {args}")

    monkeypatch.setattr(documents, "_link_callback", spy)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    with Session(sqlite_engine, expire_on_commit=False) as s:
        billing_on(s)
        party = make_party(s, name=HOSTILE[0] + HOSTILE[1])
        for value in HOSTILE:
            enc = make_encounter(s, party)
            s.get(Patient, enc.patient_id).name = value[:200]
            s.execute(sa.update(ChargeLine).where(ChargeLine.encounter_id == enc.id).values(
                description=value[:200]))
        s.flush()
        batch = create_on_demand_batch(s, party_id=party.id, internal_note="<b>note</b>", actor=ACTOR)
        post_receipt(s, party_id=party.id, amount="1.00", received_date=date(2026, 6, 1), method="check",
                     reference="<img src=x onerror=alert(1)>", allocations={batch.items[0].invoice_id: "1.00"},
                     actor=ACTOR)
        again = rebatch(s, source_batch_id=batch.id, actor=ACTOR)
        text = _text(render_batch_item_pdf(s, batch_item_id=again.items[0].id)).replace(" ", "")
        for value in ["<script>alert(1)</script>", "<imgsrc=http://169.254.169.254/>", "[[[", "{{7*7}}",
                      "&amp;&lt;b&gt;", "<imgsrc=xonerror=alert(1)>", "A" * 150]:
            assert value in text
        assert "<b>note</b>" not in text and "note" not in text.lower().replace("anote", "")
    assert set(requested) <= {"font:regular", "font:bold"}


def test_long_invoice_breaks_cleanly_with_headers_and_page_numbers(sqlite_engine):
    from sqlmodel import Session

    with Session(sqlite_engine, expire_on_commit=False) as s:
        billing_on(s)
        party = make_party(s, name="Big Fleet Inc")
        for i in range(500):
            make_encounter(s, party, dos=date(2026, 1 + i % 12, 1 + i % 28), amounts=("10.00", "2.50"))
        batch = create_on_demand_batch(s, party_id=party.id, actor=ACTOR)
        pages = _pages(render_batch_item_pdf(s, batch_item_id=batch.items[0].id))
    assert len(pages) > 5
    for number, page in enumerate(pages, start=1):
        if number < len(pages) or re.search(r"\d\d/\d\d/2026", page):
            # The table header, repeated on every page of lines (the last page may hold the totals alone).
            assert "Date of service" in page and "Encounter" in page
        assert f"Page {number} of {len(pages)}" in page
    assert "Balance due $6,250.00" in pages[-1] and "Billed (500 encounters) $6,250.00" in pages[-1]


def test_batch_pdf_in_parallel_with_progress(sqlite_engine):
    from sqlmodel import Session

    with Session(sqlite_engine, expire_on_commit=False) as s:
        billing_on(s)
        group = make_group(s)
        parties = [make_party(s, group=group, name=f"Site {i:02d}") for i in range(10)]
        for p in parties:
            make_encounter(s, p, amounts=("33.33",))
        batch = create_on_demand_batch(s, group_id=group.id, actor=ACTOR)
        seen: list[tuple[int, int]] = []
        pdf = render_batch_pdf(s, batch_id=batch.id, progress=lambda done, total: seen.append((done, total)),
                               workers=2)
        s.commit()
        pages = _pages(pdf)
        assert len(pages) == 10
        assert [re.search(r"INV-\d{6}", p).group(0) for p in pages] == [i.invoice_number for i in batch.items]
        # Each invoice names its own party and no other.
        for page, party in zip(pages, sorted(parties, key=lambda p: p.id), strict=True):
            assert re.findall(r"Site \d\d", page) == [party.name]
        assert seen == [(i, 10) for i in range(1, 11)]
        # Each invoice's fingerprint was archived, and a single print of it matches.
        assert verify_document(s, kind="batch_item", ref_id=batch.items[3].id).unchanged


def test_credit_memo_and_statement_documents(invoiced):
    s, party, batch, encounters = invoiced
    post_receipt(s, party_id=party.id, amount="200.00", received_date=date(2026, 6, 3), method="ACH",
                 reference="ACH 55", allocations={batch.items[0].invoice_id: "200.00"}, actor=ACTOR)
    memo = create_credit_memo(s, batch_item_id=batch.items[0].id, encounter_ids=[encounters[1].id], action="void",
                              reason="Billed in error", actor=ACTOR)
    s.commit()
    memo_pdf = render_credit_memo_pdf(s, credit_memo_id=memo.id)
    text = _text(memo_pdf)
    assert "CM-000001" in text and "Billed in error" in text and "Credit on account $80.00" in text
    assert NOTE not in text
    assert verify_document(s, kind="credit_memo", ref_id=memo.id).unchanged
    statement = _text(render_statement_pdf(s, party_id=party.id))
    assert "Unapplied money on account: $80.00" in statement  # (the June check is listed only within 12 months)
    assert "No open invoices." in statement
    # As of June 10 the invoice (sent today) did not exist yet: the check received June 3 was all unapplied.
    before = _text(render_statement_pdf(s, party_id=party.id, as_of=date(2026, 6, 10)))
    assert "Unapplied money on account: $200.00" in before and "ACH 55" in before
    assert "No open invoices." in before and batch.items[0].invoice_number not in before


def test_profile_groups_by_procedure_and_can_hide_codes(sqlite_engine):
    from sqlmodel import Session

    with Session(sqlite_engine, expire_on_commit=False) as s:
        billing_on(s)
        save_invoice_profile(s, actor=ACTOR, total_by="procedure", show_procedure_codes=False)
        party = make_party(s)
        for amounts in (("45.00", "110.00"), ("45.00",)):
            enc = make_encounter(s, party, amounts=amounts)
            s.execute(sa.update(ChargeLine).where(ChargeLine.encounter_id == enc.id, ChargeLine.line_no == 1)
                      .values(procedure_code="80305", description="Drug screen"))
        batch = create_on_demand_batch(s, party_id=party.id, actor=ACTOR)
        text = _text(render_batch_item_pdf(s, batch_item_id=batch.items[0].id))
    # A subtotal only where a group has several lines (issue 11): two drug screens, one visit.
    assert "Subtotal Drug screen $90.00" in text and "Subtotal Visit" not in text and "Visit" in text
    assert "80305" not in text and "99213" not in text and "Balance due $200.00" in text


def test_a_patient_gets_a_subtotal_only_with_several_visits(sqlite_engine):
    """Issue 11: one line under a patient needs no subtotal repeating it; two lines get one."""
    from sqlmodel import Session

    with Session(sqlite_engine, expire_on_commit=False) as s:
        billing_on(s)
        party = make_party(s)
        twice = make_encounter(s, party, amounts=("45.00",))
        again = make_encounter(s, party, amounts=("30.00",))
        s.execute(sa.update(Encounter).where(Encounter.id == again.id).values(patient_id=twice.patient_id))
        once = make_encounter(s, party, amounts=("20.00",))
        batch = create_on_demand_batch(s, party_id=party.id, actor=ACTOR)
        text = _text(render_batch_item_pdf(s, batch_item_id=batch.items[0].id))
        names = dict(s.execute(sa.select(Patient.id, Patient.name)).all())
    assert f"Subtotal {names[twice.patient_id]} $75.00" in text
    assert f"Subtotal {names[once.patient_id]}" not in text and names[once.patient_id] in text
    assert "Balance due $95.00" in text
