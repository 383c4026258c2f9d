"""Browser-test fixtures: the demo app on a loopback port, Debian's Chromium, one fresh page per test."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from core import load_demo_data, open_engine, transaction
from tests.support.browser import CHROMIUM_ARGS, chromium, free_port, start_app

WAIT = 90_000
SEARCH = "stb, stb 42, INV-000123, a party name"


def require_chromium() -> str:
    path = chromium()
    if not path:
        if os.environ.get("INVOICE_DESK_REQUIRE_CHROMIUM") == "1":
            pytest.fail("Chromium is required here (INVOICE_DESK_REQUIRE_CHROMIUM=1)")
        pytest.skip("Debian's chromium is not installed")
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_chromium()
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
def browser():
    from playwright.sync_api import sync_playwright

    executable = require_chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
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


def settled(page) -> None:
    """The app finished its run: Streamlit marks its root notRunning (a rerun marks it running again)."""
    expect(page.locator('[data-testid="stApp"]')).to_have_attribute("data-test-script-state", "notRunning")


def routed_without_page_not_found(page) -> None:
    """The router ran (its search box is there) and, once the app is idle, no "Page not found" dialog."""
    expect(page.get_by_placeholder(SEARCH)).to_be_visible()
    settled(page)
    expect(page.get_by_text("Page not found")).to_have_count(0)
    expect(page.get_by_role("dialog")).to_have_count(0)


