"""The app in a real browser (Debian's Chromium through Playwright): what AppTest cannot see.

Every check waits for a condition (Playwright's expect retries until its timeout), never for a
moment: a page counts as loaded when its own content is visible and the app has stopped running.
"""

from __future__ import annotations

import os
import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from core import load_demo_data, open_engine, open_invoices, read_session, transaction
from core.models import Party
from tests.support.browser import CHROMIUM_ARGS, chromium, free_port, start_app

WAIT = 90_000
SEARCH = "stb, stb 42, INV-000123, a party name"


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
    expect.set_options(timeout=WAIT)
    yield page
    context.close()


def _party(url: str, code: str) -> Party:
    engine = open_engine(url)
    with read_session(engine) as s:
        party = s.execute(sa.select(Party).where(Party.account_code == code)).scalar_one()
    engine.dispose()
    return party


def _settled(page) -> None:
    """The app finished its run: Streamlit marks its root notRunning (a rerun marks it running again)."""
    expect(page.locator('[data-testid="stApp"]')).to_have_attribute("data-test-script-state", "notRunning")


def _routed_without_page_not_found(page) -> None:
    """The router ran (its search box is there) and, once the app is idle, no "Page not found" dialog."""
    expect(page.get_by_placeholder(SEARCH)).to_be_visible()
    _settled(page)
    expect(page.get_by_text("Page not found")).to_have_count(0)
    expect(page.get_by_role("dialog")).to_have_count(0)


def test_a_cold_deep_link_opens_through_the_router(server, page):
    # The first visit after the server started, straight to a shared history link.
    base, url = server
    party = _party(url, "EMP006")
    page.goto(f"{base}/employer?party_id={party.id}&status=All")
    expect(page.get_by_text("Invoice History").first).to_be_visible()
    expect(page.get_by_role("button", name="Rebatch selected")).to_be_visible()
    _routed_without_page_not_found(page)
    expect(page.get_by_text(f"{party.name} · EMP006").first).to_be_visible()
    expect(page).to_have_url(re.compile(rf"[?&]party_id={party.id}(&|$)"))
    expect(page).to_have_url(re.compile(r"[?&]status=All(&|$)"))


def test_suggested_allocation_fills_the_amount_boxes_and_posts(server, page):
    base, url = server
    party = _party(url, "EMP006")
    engine = open_engine(url)
    with read_session(engine) as s:
        before = open_invoices(s, party_id=party.id)
    assert len(before) >= 3, "two invoices to pay and one left open"
    amount = before[0].balance_due + before[1].balance_due
    page.goto(f"{base}/payments?party_id={party.id}")
    expect(page.get_by_role("button", name="Post receipt")).to_be_visible()
    _routed_without_page_not_found(page)
    page.get_by_label("Amount", exact=True).fill(f"{amount:.2f}")
    page.get_by_label("Amount", exact=True).press("Enter")
    _settled(page)
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
    engine.dispose()
    assert before[0].invoice_id not in after and before[1].invoice_id not in after
    assert {i.invoice_id for i in before[2:]} <= after


def test_navigation_search_opens_a_batch(server, page):
    base, _ = server
    page.goto(f"{base}/")  # the dashboard is the default page
    expect(page.get_by_text("Create On-Demand Batch").first).to_be_visible()
    _routed_without_page_not_found(page)
    search = page.get_by_placeholder(SEARCH)
    search.fill("stb 12")
    search.press("Enter")
    expect(page.get_by_text("Invoice Batch Items: stb 12")).to_be_visible()
    expect(page).to_have_url(re.compile(r"[?&]batch=12(&|$)"))
    _routed_without_page_not_found(page)
