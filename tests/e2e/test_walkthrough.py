"""The seed's walkthrough, end to end through the pages, as a billing manager does it in a browser.

An employer needs its invoice now: batch it with F2, resend it (-2), post the employer's partial check,
resend it again (-3) with the reduced total, find it in the history by a filtered link someone shared, and
download the reprint, whose text says what was billed, paid and is still due, byte for byte the same twice.
"""

from __future__ import annotations

import io
import re
from decimal import Decimal

import sqlalchemy as sa
from playwright.sync_api import expect
from pypdf import PdfReader

from core import create_party, open_engine, read_session, transaction
from core.models import Batch, BatchItem
from tests.e2e.conftest import routed_without_page_not_found, settled
from tests.factories import make_encounter

ACTOR = "walkthrough.setup"


def _new_employer(url: str) -> tuple[int, str, str]:
    """An employer with three visits never invoiced: $500.00 in all."""
    engine = open_engine(url)
    with transaction(engine) as s:
        party = create_party(s, account_code="WALK01", name="Walkthrough Freight Co", actor=ACTOR,
                             address_line1="12 Dock Rd", city="Salem", state="OR", postal_code="97301")
        for amount in ("100.00", "150.00", "250.00"):
            make_encounter(s, party, amounts=(amount,))
        found = (party.id, party.account_code, party.name)
    engine.dispose()
    return found


def _items(url: str, party_id: int) -> list[tuple[int, str, int]]:
    """(batch number, invoice number as printed, balance sent in cents) of the party's sendings, oldest first."""
    engine = open_engine(url)
    with read_session(engine) as s:
        rows = s.execute(sa.select(Batch.number, BatchItem.invoice_number, BatchItem.balance_cents)
                         .join(Batch, Batch.id == BatchItem.batch_id).where(BatchItem.party_id == party_id)
                         .order_by(BatchItem.id)).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def _pdf_text(data: bytes) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)


def _download(page, button) -> bytes:
    with page.expect_download() as info:
        button.click()
    download = info.value
    assert download.failure() is None
    with open(download.path(), "rb") as f:
        return f.read()


def _rebatch_open_batch(page, number: int, due: str) -> None:
    """On Batch History with batch `number` open: its Rebatch tab resends it; the message says what is due."""
    expect(page.get_by_role("heading", name=f"Invoice Batch Items: stb {number}")).to_be_visible()
    settled(page)
    page.get_by_role("tab", name="Rebatch").click()
    page.get_by_role("button", name="Rebatch").click()
    expect(page.get_by_text(re.compile(rf"Batch \d+ made: 1 invoice\(s\) resent, {re.escape(due)} due")).first).to_be_visible()
    settled(page)


def test_batch_resend_partial_payment_resend_history_link_and_reprint(server, page, browser):
    base, url = server
    party_id, code, name = _new_employer(url)

    # 1. Create On-Demand Batch: pick the employer and press F2.
    page.goto(f"{base}/dashboard")
    routed_without_page_not_found(page)
    page.get_by_label("Employer or attorney").click()
    page.keyboard.type(code)
    page.keyboard.press("Enter")
    page.keyboard.press("F2")
    expect(page.get_by_text(re.compile(r"Batch \d+ created: 1 invoice\(s\), 3 encounters, \$500\.00")).first) \
        .to_be_visible()
    settled(page)
    ((first_batch, invoice, sent),) = _items(url, party_id)
    assert sent == 50000 and not invoice.endswith("-2")

    # 2. Batch History: open the batch by its link and resend it: the -2 item, still $500.00.
    page.get_by_role("link", name=f"Open batch {first_batch}'s Invoice Batch Items").click()
    _rebatch_open_batch(page, first_batch, "$500.00")
    second_batch, second_number, second_sent = _items(url, party_id)[-1]
    assert (second_number, second_sent) == (f"{invoice}-2", 50000)

    # 3. Payments: the employer's check for $200.00, applied to that invoice.
    page.goto(f"{base}/payments?party_id={party_id}")
    routed_without_page_not_found(page)
    page.get_by_label("Amount", exact=True).fill("200.00")
    page.get_by_label("Reference", exact=True).fill("CHK 4417")
    page.get_by_label(f"Apply to {invoice}").fill("200.00")
    page.get_by_role("button", name="Post receipt").click()
    expect(page.get_by_text("posted for $200.00").first).to_be_visible()
    settled(page)

    # 4. Batch History: resend the -2 batch; the -3 item carries the balance after the payment.
    page.goto(f"{base}/batches?batch={second_batch}")
    _rebatch_open_batch(page, second_batch, "$300.00")
    third_batch, third_number, third_sent = _items(url, party_id)[-1]
    assert (third_number, third_sent) == (f"{invoice}-3", 30000)

    # 5. Employer Dashboard: Open invoices whose number contains -3; the address is the filter.
    page.goto(f"{base}/employer?party_id={party_id}")
    routed_without_page_not_found(page)
    page.get_by_label("Invoice ID contains").fill("-3")
    page.get_by_label("Invoice ID contains").press("Enter")
    settled(page)
    expect(page).to_have_url(re.compile(r"[?&]invoice=-3(&|$)"))
    shared = page.url
    # A colleague opens the shared link in a browser of their own: the same filter, the same one invoice.
    other = browser.new_context(viewport={"width": 1440, "height": 1400}).new_page()
    other.goto(shared)
    routed_without_page_not_found(other)
    expect(other.get_by_label("Invoice ID contains")).to_have_value("-3")
    expect(other.get_by_text(f"{name} · {code}").first).to_be_visible()
    expect(other.get_by_text("Balance of the invoices shown: $300.00")).to_be_visible()
    other.context.close()

    # 6. The reprint: its text tells the story, and a second download is the same bytes.
    page.goto(f"{base}/batches?batch={third_batch}")
    expect(page.get_by_role("heading", name=f"Invoice Batch Items: stb {third_batch}")).to_be_visible()
    settled(page)
    button = page.get_by_role("button", name="Download PDF")
    pdf = _download(page, button)
    text = _pdf_text(pdf)
    assert f"{invoice}-3" in text and "Balance due" in text and "CHK 4417" in text  # the check, named
    assert "$500.00" in text and "$200.00" in text and "$300.00" in text
    assert name in text and "Walkthrough" in text
    amounts = [Decimal(a.replace(",", "")) for a in re.findall(r"\$([\d,]+\.\d\d)", text)]
    assert Decimal("300.00") in amounts and max(amounts) == Decimal("500.00")
    assert _download(page, button) == pdf
