"""The app in a real browser (Debian's Chromium through Playwright): what AppTest cannot see.

Every check waits for a condition (Playwright's expect retries until its timeout), never for a
moment: a page counts as loaded when its own content is visible and the app has stopped running.
"""

from __future__ import annotations

import io
import os
import re
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect
from pypdf import PdfReader

from core import (
    batch_items,
    create_group,
    create_on_demand_batch,
    invoice_history,
    load_demo_data,
    open_engine,
    open_invoices,
    read_session,
    transaction,
    update_party,
)
from core.models import Document, Invoice, Party, Receipt
from tests.e2e.conftest import SEARCH, require_chromium, routed_without_page_not_found, settled
from tests.factories import make_encounter
from tests.support.browser import free_port, start_app
from tests.support.pdf_text import pdf_pages


def _party(url: str, code: str) -> Party:
    engine = open_engine(url)
    with read_session(engine) as s:
        party = s.execute(sa.select(Party).where(Party.account_code == code)).scalar_one()
    engine.dispose()
    return party


def test_a_cold_deep_link_opens_through_the_router(server, page):
    # The first visit after the server started, straight to a shared history link.
    base, url = server
    party = _party(url, "EMP006")
    page.goto(f"{base}/employer?party_id={party.id}&status=All")
    expect(page.get_by_text("Invoice History").first).to_be_visible()
    expect(page.get_by_role("button", name="Rebatch selected")).to_be_visible()
    routed_without_page_not_found(page)
    expect(page.get_by_text(f"{party.name} · EMP006").first).to_be_visible()
    expect(page).to_have_url(re.compile(rf"[?&]party_id={party.id}(&|$)"))
    expect(page).to_have_url(re.compile(r"[?&]status=All(&|$)"))


def _busiest_party(url: str) -> Party:
    """The party with the most open invoices in the demo (the demo is written for today, so it varies)."""
    engine = open_engine(url)
    with read_session(engine) as s:
        party_id = s.execute(sa.select(Invoice.party_id).where(Invoice.paid == sa.false())
                             .group_by(Invoice.party_id).order_by(sa.func.count().desc(), Invoice.party_id)).scalar()
        party = s.get_one(Party, party_id)
    engine.dispose()
    return party


def test_suggested_allocation_fills_the_amount_boxes_and_posts(server, page):
    base, url = server
    party = _busiest_party(url)
    engine = open_engine(url)
    with read_session(engine) as s:
        before = open_invoices(s, party_id=party.id)
    assert len(before) >= 3, "two invoices to pay and one left open"
    amount = before[0].balance_due + before[1].balance_due
    page.goto(f"{base}/payments?party_id={party.id}")
    expect(page.get_by_role("button", name="Post receipt")).to_be_visible()
    routed_without_page_not_found(page)
    page.get_by_label("Amount", exact=True).fill(f"{amount:.2f}")
    page.get_by_label("Amount", exact=True).press("Enter")
    settled(page)
    page.get_by_role("button", name="Suggest allocation").click()
    expect(page.get_by_text("Suggested (exact match)")).to_be_visible()
    boxes = page.get_by_placeholder("0.00", exact=True)
    expect(boxes).to_have_count(len(before))
    expect(boxes.nth(0)).to_have_value(f"{before[0].balance_due:.2f}")
    expect(boxes.nth(1)).to_have_value(f"{before[1].balance_due:.2f}")
    for i in range(2, len(before)):
        expect(boxes.nth(i)).to_have_value("")
    page.get_by_role("button", name="Post receipt").click()
    expect(page.get_by_text("posted for")).to_be_visible()
    with read_session(engine) as s:
        after = {i.invoice_id for i in open_invoices(s, party_id=party.id)}
        receipts = s.execute(sa.select(sa.func.count()).select_from(Receipt)).scalar_one()
    assert before[0].invoice_id not in after and before[1].invoice_id not in after
    assert {i.invoice_id for i in before[2:]} <= after
    # Issue 11 #2: the form is empty again and lists only what is still open, so a second click posts nothing.
    settled(page)
    expect(page.get_by_label("Amount", exact=True)).to_have_value("")
    expect(boxes).to_have_count(len(before) - 2)
    page.get_by_role("button", name="Post receipt").click()
    settled(page)
    expect(page.get_by_text("posted for")).to_have_count(0)
    with read_session(engine) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Receipt)).scalar_one() == receipts
    engine.dispose()


def test_navigation_search_opens_a_batch(server, page):
    base, _ = server
    page.goto(f"{base}/")  # the dashboard is the default page
    expect(page.get_by_text("Create On-Demand Batch").first).to_be_visible()
    routed_without_page_not_found(page)
    search = page.get_by_placeholder(SEARCH)
    search.fill("stb 12")
    search.press("Enter")
    expect(page.get_by_text("Invoice Batch Items: stb 12")).to_be_visible()
    expect(page).to_have_url(re.compile(r"[?&]batch=12(&|$)"))
    routed_without_page_not_found(page)


# ---------- Make batch PDF: the worker processes inside `streamlit run`, on SQLite and PostgreSQL ----------

BATCH_PDF_WAIT = 120_000
ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'
# What the page showed when the PDF workers re-ran the app script, or stopped early.
PDF_FAILURES = re.compile(r"process pool|terminated abruptly|Traceback|PDF worker stopped|could not be drawn", re.I)


def _big_batch(url: str) -> tuple[int, int, list[int], list[str]]:
    """The demo practice plus one group batch of every party outside the demo's groups, each with a new visit.

    The demo's own batches hold at most 5 invoices; the workers start at 8 (core.documents._PARALLEL_FROM).
    Returns the batch's id and number, its item ids and its invoice numbers.
    """
    engine = open_engine(url)
    with transaction(engine) as s:
        load_demo_data(s)
        group = create_group(s, name="E2E batch PDF", actor="e2e test")
        loose = s.execute(sa.select(Party.id).where(Party.group_id.is_(None)).order_by(Party.id)).scalars().all()
        for party_id in loose:
            party = update_party(s, party_id=party_id, group_id=group.id, actor="e2e test")
            make_encounter(s, party, amounts=("85.00",))  # a visit to invoice, whatever day the demo was written
        batch = create_on_demand_batch(s, group_id=group.id, internal_note="E2E batch PDF", actor="e2e test")
        batch_id, number = batch.id, batch.number
    with read_session(engine) as s:
        items = batch_items(s, batch_id=batch_id)
    engine.dispose()
    return batch_id, number, [i.batch_item_id for i in items], [i.invoice_number for i in items]


@pytest.fixture(params=["sqlite", "postgresql"])
def batch_server(request, tmp_path):
    """The app on its own database (SQLite file or a fresh PostgreSQL one) holding a batch of 13 invoices."""
    require_chromium()
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'demo.db'}"
    else:
        url = request.getfixturevalue("pg_cluster").copy_database(prefix="e2e")
    batch_id, number, item_ids, invoices = _big_batch(url)
    port = free_port()
    log = tmp_path / "streamlit.log"
    proc = start_app(url, port, demo=False, log=log)  # the demo is loaded already, with the big batch in it
    yield SimpleNamespace(db=request.param, base=f"http://127.0.0.1:{port}", url=url, pid=proc.pid, log=log,
                          batch_id=batch_id, number=number, item_ids=item_ids, invoices=invoices)
    proc.terminate()
    proc.wait(timeout=30)


class _WorkerWatch(threading.Thread):
    """Every 20 ms, the pids of `python -m core.pdf_worker` processes the server started (Linux /proc)."""

    def __init__(self, parent: int):
        super().__init__(daemon=True)
        self.parent, self.seen, self._done = parent, set(), threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            for proc in Path("/proc").glob("[0-9]*"):
                try:
                    ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                    if ppid == self.parent and b"core.pdf_worker" in (proc / "cmdline").read_bytes():
                        self.seen.add(int(proc.name))
                except (OSError, ValueError, IndexError):
                    pass  # gone meanwhile
            self._done.wait(0.02)

    def stop(self) -> set[int]:
        self._done.set()
        self.join(timeout=5)
        return self.seen


def _fingerprinted(url: str, item_ids: list[int]) -> set[int]:
    engine = open_engine(url)
    with read_session(engine) as s:
        found = set(s.execute(sa.select(Document.ref_id).where(Document.kind == "batch_item",
                                                               Document.ref_id.in_(item_ids))).scalars())
    engine.dispose()
    return found


def test_make_batch_pdf_draws_a_big_batch_in_workers(batch_server, page):
    """Make batch PDF on the real page: at 8+ invoices the PDF is drawn by `python -m core.pdf_worker` children.

    Before they started from core.pdf_worker, the workers re-ran the app script inside `streamlit run` and the
    page died after ~33 s with "A process in the process pool was terminated abruptly".
    """
    app = batch_server
    assert len(app.item_ids) >= 9, "a batch big enough for the PDF workers"
    assert not _fingerprinted(app.url, app.item_ids), "no invoice of the new batch was printed yet"
    page.goto(f"{app.base}/batches?batch={app.number}")
    expect(page.get_by_text(f"Invoice Batch Items: stb {app.number}")).to_be_visible()
    routed_without_page_not_found(page)
    page.get_by_role("tab", name="Batch PDF").click()
    expect(page.get_by_text(f"All {len(app.item_ids)} invoices of stb {app.number} in one PDF")).to_be_visible()

    watch = _WorkerWatch(app.pid)
    watch.start()
    try:
        page.get_by_role("button", name="Make batch PDF").click()
        download_button = page.get_by_role("button", name="Download batch PDF")
        # The download button, or a failure shown instead (then the checks below say what it was).
        expect(download_button.or_(page.locator(ERRORS)).first).to_be_visible(timeout=BATCH_PDF_WAIT)
        settled(page)
    finally:
        workers = watch.stop()
    shot = Path(f"/tmp/e2e_batch_pdf_{app.db}.png")
    page.screenshot(path=str(shot), full_page=True)

    log = app.log.read_text(errors="replace")
    body = page.locator('[data-testid="stMain"]').inner_text()
    assert not PDF_FAILURES.search(body), f"the page shows a failure:\n{body[-2000:]}\n--- server log ---\n{log[-3000:]}"
    assert not page.locator(ERRORS).count(), f"the page shows an error:\n{body[-2000:]}"
    assert not PDF_FAILURES.search(log), f"the server logged a failure:\n{log[-3000:]}"
    expect(download_button).to_be_visible()
    if (os.cpu_count() or 1) >= 2:
        assert workers, "the batch PDF was drawn in worker processes started from core.pdf_worker"

    with page.expect_download() as info:
        download_button.click()
    download = info.value
    assert download.failure() is None
    assert download.suggested_filename == f"stb-{app.number}.pdf"
    pdf = Path(download.path()).read_bytes()
    assert pdf.startswith(b"%PDF-")
    pages = pdf_pages(pdf)
    assert len(pages) >= len(app.item_ids), "every invoice has at least one page"
    text = " ".join(pages)
    missing = [n for n in app.invoices if n not in text]
    assert not missing, f"invoices missing from the batch PDF: {missing}"
    assert PdfReader(io.BytesIO(pdf)).metadata.title == f"Batch {app.number}"

    assert _fingerprinted(app.url, app.item_ids) == set(app.item_ids), "a fingerprint for every item of the batch"
    expect(page.locator(ERRORS)).to_have_count(0)


@pytest.mark.parametrize("path", ["dashboard", "batches", "employer", "payments", "settings", "audit"])
def test_every_page_opens_by_its_own_address(server, page, path):
    """Issue 11 #9: every page's address opens it, the first page's (/dashboard) included."""
    base, _ = server
    page.goto(f"{base}/{path}")
    routed_without_page_not_found(page)
    expect(page.get_by_role("heading", level=1).first).to_be_visible()


@pytest.mark.parametrize("path, empty", [("dashboard", False), ("welcome", True)])
def test_the_first_page_opens_by_its_address_on_a_cold_server(tmp_path, page, path, empty):
    """Issue 11 #9: the first visit after a start, straight to /dashboard (or /welcome on an empty database)."""
    database = tmp_path / "cold.db"
    engine = open_engine(f"sqlite:///{database}")
    if not empty:
        with transaction(engine) as s:
            load_demo_data(s)
    engine.dispose()
    port = free_port()
    proc = start_app(database, port, demo=False)
    try:
        page.goto(f"http://127.0.0.1:{port}/{path}")
        routed_without_page_not_found(page)
        title = "Welcome" if empty else "Statement/Invoice Management"
        expect(page.get_by_role("heading", level=1).first).to_contain_text(title.split("/")[0])
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_ticking_a_history_row_selects_it_for_rebatch(server, page, tmp_path):
    """Issue 11 #5: a row ticked in Invoice History is selected, and Rebatch selected resends it."""
    base, url = server
    party = _busiest_party(url)  # one with open invoices on whatever day the demo was written
    page.goto(f"{base}/employer?party_id={party.id}&status=Open")
    routed_without_page_not_found(page)
    rebatch = page.get_by_role("button", name="Rebatch selected")
    expect(rebatch).to_be_disabled()
    grid = page.locator('[data-testid="stDataFrame"]').first  # the history; the ledger's table comes after it
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)  # the first row's tick box, under the header
    settled(page)
    expect(rebatch).to_be_enabled()
    engine = open_engine(url)
    with read_session(engine) as s:
        first = invoice_history(s, party_id=party.id, status="open", limit=1)[0]
    engine.dispose()
    expect(page.locator('[data-testid="stMultiSelect"]').get_by_text(first.invoice_number)).to_be_visible()
    rebatch.click()
    settled(page)
    expect(page.get_by_text("Resent in batch stb").first).to_be_visible()
    # The table is read again with the new sending, and nothing stays ticked or selected.
    expect(rebatch).to_be_disabled()
    expect(page.locator('[data-testid="stMultiSelect"]').get_by_text(first.invoice_number)).to_have_count(0)
    page.screenshot(path=str(tmp_path / "employer-ticked-row-rebatched.png"), full_page=True)


def _with_new_visits(url: str, code: str, count: int = 2) -> Party:
    """A demo party given visits no batch has invoiced yet."""

    engine = open_engine(url)
    with transaction(engine) as s:
        party = s.execute(sa.select(Party).where(Party.account_code == code)).scalar_one()
        for _ in range(count):
            make_encounter(s, party, amounts=("55.00",))
        s.expunge(party)
    engine.dispose()
    return party


def _batches_for(url: str, party_id: int) -> list[tuple[int, str]]:
    engine = open_engine(url)
    with read_session(engine) as s:
        rows = s.execute(sa.text("SELECT number, internal_note FROM batch WHERE party_id = :p ORDER BY number"),
                         {"p": party_id}).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def _newest_number(url: str) -> int:
    engine = open_engine(url)
    with read_session(engine) as s:
        number = s.execute(sa.text("SELECT max(number) FROM batch")).scalar_one()
    engine.dispose()
    return number


def test_f2_creates_the_batch_while_typing_in_the_note_and_in_the_picker(server, page):
    """Issue 11 #3: F2 pressed with the cursor in a field creates the batch, with what was being typed, once."""
    base, url = server
    party = _with_new_visits(url, "EMP003")
    before = _batches_for(url, party.id)
    page.goto(f"{base}/dashboard")
    routed_without_page_not_found(page)
    picker = page.get_by_label("Employer or attorney")
    picker.click()
    page.keyboard.type(party.account_code)
    page.keyboard.press("Enter")
    note = page.get_by_role("textbox", name="Internal note")
    note.click()
    note.type("Typed, then F2")
    next_number = _newest_number(url) + 1
    note.press("F2")  # the cursor is still in the note
    expect(page.get_by_text(f"Batch {next_number} created").first).to_be_visible()
    settled(page)
    made = _batches_for(url, party.id)[len(before):]
    assert [n for _, n in made] == ["Typed, then F2"], made

    # Again from the employer picker, its list open: F2 makes the batch for the party picked.
    other = _with_new_visits(url, "EMP006")
    before_other = _batches_for(url, other.id)
    picker = page.get_by_label("Employer or attorney")
    picker.click()
    page.keyboard.type(other.account_code)
    page.keyboard.press("Enter")
    picker.click()
    next_number = _newest_number(url) + 1
    page.keyboard.press("F2")
    expect(page.get_by_text(f"Batch {next_number} created").first).to_be_visible()
    settled(page)
    assert len(_batches_for(url, other.id)) == len(before_other) + 1

    # Issue 11 #7: the form is empty again; a second F2 asks for a target and the last success is gone with it.
    expect(page.get_by_role("textbox", name="Internal note")).to_have_value("")
    expect(page.get_by_text(other.name).locator("visible=true")).to_have_count(0)
    newest = _newest_number(url)
    page.keyboard.press("F2")
    expect(page.get_by_text("Choose exactly one target").first).to_be_visible()
    settled(page)
    expect(page.get_by_text(f"Batch {next_number} created")).to_have_count(0)
    assert _newest_number(url) == newest
    # A preview of another employer after a batch: the batch's message does not stay up beside it.
    third = _with_new_visits(url, "EMP002")
    picker.click()
    page.keyboard.type(third.account_code)
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_text("This batch would send").first).to_be_visible()
    settled(page)
    expect(page.get_by_text("created:")).to_have_count(0)


def _heading_batch(page, number: int) -> None:
    expect(page.get_by_role("heading", name=f"Invoice Batch Items: stb {number}")).to_be_visible()
    expect(page).to_have_url(re.compile(rf"[?&]batch={number}(&|$)"))


def test_batch_history_shows_the_batch_asked_for_by_search_link_row_and_picker(server, page):
    """Issue 11 #1: switching between batches by the search, a link, a ticked row and the picker."""
    base, url = server
    newest = _newest_number(url)
    a, b, c = newest, newest - 1, newest - 2
    page.goto(f"{base}/batches?batch={a}")
    routed_without_page_not_found(page)
    _heading_batch(page, a)
    search = page.get_by_placeholder(SEARCH)
    search.fill(f"stb {b}")
    search.press("Enter")
    _heading_batch(page, b)
    # A ticked row of the list (the list is newest first: c is its third row).
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 2 * 35 + 17)
    _heading_batch(page, c)
    # The picker.
    page.get_by_label("Open batch").click()
    page.get_by_role("option", name=f"stb {a}", exact=True).click()
    _heading_batch(page, a)
    # And the search again, after all of them.
    search.fill(f"stb {c}")
    search.press("Enter")
    _heading_batch(page, c)


def test_a_tables_csv_is_made_when_its_download_is_clicked(server, page):
    """Issue 16 made a table's CSV only on the click (not on every rerun): the download still carries the rows the
    table shows, here the Employer Dashboard's invoice history."""
    base, url = server
    party = _busiest_party(url)
    page.goto(f"{base}/employer?party_id={party.id}&status=Open")
    routed_without_page_not_found(page)
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name="Download CSV").first.click()
    download = info.value
    assert download.failure() is None and download.suggested_filename.endswith(".csv")
    lines = Path(download.path()).read_text(encoding="utf-8-sig").splitlines()
    engine = open_engine(url)
    with read_session(engine) as s:
        shown = [r.invoice_number for r in invoice_history(s, party_id=party.id, status="open")]
    engine.dispose()
    assert lines[0].startswith("Invoice,Balance,Status")
    assert [line.split(",")[0] for line in lines[1:]] == shown
