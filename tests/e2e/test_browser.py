"""The app in a real browser (Debian's Chromium through Playwright): what AppTest cannot see."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from core import load_demo_data, open_engine, open_invoices, read_session, transaction
from core.models import Party
from tests.support.browser import CHROMIUM_ARGS, chromium, free_port, start_app

WAIT = 90_000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not chromium():
        if os.environ.get("INVOICE_DESK_REQUIRE_CHROMIUM") == "1":
            pytest.fail("Chromium is required here (INVOICE_DESK_REQUIRE_CHROMIUM=1)")
        pytest.skip("Debian's chromium is not installed")
    database = tmp_path_factory.mktemp("e2e") / "demo.db"
    engine = open_engine(f"sqlite:///{database}")
    with transaction(engine) as s:
        load_demo_data(s)
    engine.dispose()
    port = free_port()
    proc = start_app(database, port, demo=False)
    yield f"http://127.0.0.1:{port}", f"sqlite:///{database}"
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(WAIT)
    yield page
    context.close()


def _party(url: str, code: str) -> Party:
    engine = open_engine(url)
    with read_session(engine) as s:
        party = s.execute(sa.select(Party).where(Party.account_code == code)).scalar_one()
    engine.dispose()
    return party


def test_a_cold_deep_link_opens_through_the_router(server, page):
    # The first visit after the server started, straight to a shared history link.
    base, _ = server
    page.goto(f"{base}/employer?party_id=6&status=All")
    page.get_by_text("Invoice History").first.wait_for()
    # The router ran: its search box is there, and no "page not found" dialog covers the page.
    page.get_by_placeholder("stb, stb 42, INV-000123, a party name").wait_for(state="visible")
    page.get_by_role("button", name="Rebatch selected").wait_for(state="visible")
    assert page.get_by_text("Page not found").count() == 0
    assert page.get_by_text("EMP006").count() >= 1
    assert "status=All" in page.url and "party_id=6" in page.url


def test_suggested_allocation_fills_the_amount_boxes_and_posts(server, page):
    base, url = server
    party = _party(url, "EMP006")
    engine = open_engine(url)
    with read_session(engine) as s:
        before = open_invoices(s, party_id=party.id)
    amount = before[0].balance_due + before[1].balance_due
    page.goto(f"{base}/payments?party_id={party.id}")
    page.get_by_role("button", name="Post receipt").wait_for()
    page.get_by_label("Amount", exact=True).fill(f"{amount:.2f}")
    page.get_by_label("Amount", exact=True).press("Enter")
    page.get_by_role("button", name="Suggest allocation").click()
    page.get_by_text("Suggested (exact match)").wait_for()
    boxes = page.get_by_placeholder("0.00", exact=True)
    values = [boxes.nth(i).input_value() for i in range(boxes.count())]
    assert values[:2] == [f"{before[0].balance_due:.2f}", f"{before[1].balance_due:.2f}"]
    assert all(v == "" for v in values[2:])
    page.get_by_role("button", name="Post receipt").click()
    page.get_by_text("posted for").wait_for()
    with read_session(engine) as s:
        after = {i.invoice_id for i in open_invoices(s, party_id=party.id)}
    engine.dispose()
    assert before[0].invoice_id not in after and before[1].invoice_id not in after
    assert {i.invoice_id for i in before[2:]} <= after


def test_navigation_search_opens_a_batch(server, page):
    base, _ = server
    page.goto(f"{base}/")  # the dashboard is the default page
    page.get_by_text("Create On-Demand Batch").first.wait_for()
    assert page.get_by_text("Page not found").count() == 0
    search = page.get_by_placeholder("stb, stb 42, INV-000123, a party name")
    search.fill("stb 12")
    search.press("Enter")
    page.get_by_text("Invoice Batch Items: stb 12").wait_for()
    assert "batch=12" in page.url
