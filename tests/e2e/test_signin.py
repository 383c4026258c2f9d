"""Sign-in and roles in a real browser, against a real OpenID Connect provider (issue 14).

The app runs on the demo database with an `[auth]` section pointing at oidc-provider-mock on loopback, and an
`[access]` section: everyone at riverbend.example may look, mia@ is a manager. It shows that

- signed out, every page's address gives the sign-in screen and no data at all;
- a viewer, signed in through the provider's form, sees who they are in the sidebar and no write control,
  and core refuses the write anyway when it is forced past the page;
- a manager's batch is made from the dashboard and the audit log names the manager's address;
- a signed-in stranger (on no list) sees the refusal and nothing else;
- signing out goes through the provider's end of session and back to the sign-in screen, and every page's
  address is closed again.

The provider's tokens carry the real time, so the module runs once, on the real clock (`clockless`).
"""

from __future__ import annotations

import json
import re
import secrets
import warnings
from types import SimpleNamespace

import authlib.deprecate  # noqa: F401 (first: it sets its warnings to "always"; the block below overrides that)
import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from app.auth import VIEWER_NOTE, role_for
from core import (
    Actor,
    InvoiceDeskError,
    create_on_demand_batch,
    load_demo_data,
    open_engine,
    preview_on_demand_batch,
    read_session,
    transaction,
)
from core.models import AuditRecord, Batch, Party
from tests.e2e.conftest import SEARCH, require_chromium, settled
from tests.support.browser import free_port, start_app, tour

with warnings.catch_warnings():  # the provider imports Authlib's deprecated jose and httpx modules
    warnings.simplefilter("ignore", DeprecationWarning)
    from oidc_provider_mock import User, run_server_in_thread

# The provider's Authlib grants still use its deprecated get_jwt_config: not this project's to fix.
pytestmark = [pytest.mark.clockless, pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")]

VIEWER, MANAGER, STRANGER = "vic@riverbend.example", "mia@riverbend.example", "eve@elsewhere.example"
NAMES = {VIEWER: "Vic Viewer", MANAGER: "Mia Manager", STRANGER: "Eve Elsewhere"}
ACCESS = {"viewers": ["@riverbend.example"], "managers": [MANAGER], "admins": ["ada@riverbend.example"]}
SIGN_IN_TEXT = "Sign in with your work account to continue"
# What data looks like on any page: tables, figures, charts, the sidebar's menu and search.
DATA = ('[data-testid="stDataFrame"], [data-testid="stTable"], [data-testid="stMetric"], '
        '[data-testid="stPlotlyChart"], [data-testid="stSidebar"], [data-testid="stTabs"]')


@pytest.fixture(scope="module")
def provider():
    """oidc-provider-mock on a free loopback port, with the three people's claims preset by their `sub`."""
    require_chromium()
    users = [User(sub=email, claims={"email": email, "email_verified": True, "name": name})
             for email, name in NAMES.items()]
    with run_server_in_thread(user_claims=users) as server:  # binds "localhost" as IPv4: 127.0.0.1
        assert server.server_address[0] == "127.0.0.1"
        yield f"http://127.0.0.1:{server.server_port}"


@pytest.fixture(scope="module")
def desk(provider, tmp_path_factory):
    """One app server on the demo database, sign-in on: the provider above, the ACCESS lists."""
    folder = tmp_path_factory.mktemp("signin")
    database = folder / "demo.db"
    url = f"sqlite:///{database}"
    engine = open_engine(url)
    with transaction(engine) as s:
        load_demo_data(s)
    with read_session(engine) as s:
        names = list(s.execute(sa.select(Party.name)).scalars())
    engine.dispose()
    port = free_port()
    base = f"http://127.0.0.1:{port}"  # the same host as redirect_uri, so the auth cookies come back
    auth = {"redirect_uri": f"{base}/oauth2callback", "cookie_secret": secrets.token_hex(32),
            "client_id": "invoice-desk", "client_secret": "e2e-client-secret",
            "server_metadata_url": f"{provider}/.well-known/openid-configuration"}
    lines = ["[auth]", *(f"{k} = {json.dumps(v)}" for k, v in auth.items()),
             "[access]", *(f"{k} = {json.dumps(v)}" for k, v in ACCESS.items())]
    secrets_file = folder / "secrets.toml"
    secrets_file.write_text("\n".join(lines) + "\n")
    log = folder / "desk.log"
    proc = start_app(database, port, demo=False, log=log, args=[f"--secrets.files={secrets_file}"])
    pages = {name: path for name, path, _ in tour(url)}  # every page, with real ids in its address
    yield SimpleNamespace(base=base, url=url, provider=provider, party_names=names, pages=pages,
                          paths=["", *pages.values()], log=log)
    proc.terminate()
    proc.wait(timeout=30)


def _count(url: str, model) -> int:
    engine = open_engine(url)
    with read_session(engine) as s:
        count = s.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()
    engine.dispose()
    return count


def _shows_nothing_but(page, desk, shown) -> None:
    """Once the run is over, `shown` is on the page and nothing from the database: no party, no money, no
    table, figure, chart or tab, no sidebar (so no menu and no search)."""
    expect(shown).to_be_visible()
    settled(page)
    text = page.locator('[data-testid="stApp"]').inner_text()
    assert "$" not in text, text
    assert not [name for name in desk.party_names if name in text], text
    expect(page.locator(DATA)).to_have_count(0)
    expect(page.get_by_placeholder(SEARCH)).to_have_count(0)


def _sign_in_screen(page):
    expect(page.get_by_role("heading", name="Invoice Desk")).to_be_visible()
    expect(page.get_by_text(SIGN_IN_TEXT)).to_be_visible()
    return page.get_by_role("button", name="Sign in", exact=True)


def _every_page_is_closed(page, desk) -> None:
    for path in desk.paths:
        page.goto(f"{desk.base}/{path}")
        _shows_nothing_but(page, desk, _sign_in_screen(page))


def _sign_in(page, desk, email: str) -> None:
    """From the sign-in screen through the provider's form (its `sub` field, Authorize) back to the app."""
    page.goto(f"{desk.base}/dashboard")
    _sign_in_screen(page).click()
    page.wait_for_url(f"{desk.provider}/oauth2/authorize?*")
    page.get_by_placeholder("sub").fill(email)
    page.get_by_role("button", name="Authorize", exact=True).click()
    page.wait_for_url(f"{desk.base}/**")


def _sidebar(page):
    return page.locator('[data-testid="stSidebar"]')


def test_signed_out_every_page_shows_the_sign_in_screen_and_no_data(desk, page):
    _every_page_is_closed(page, desk)
    assert not [c for c in page.context.cookies() if c["name"].startswith("_streamlit_user")]


def test_a_viewer_sees_no_write_control_and_core_refuses_a_forced_write(desk, page):
    _sign_in(page, desk, VIEWER)
    expect(page).to_have_url(f"{desk.base}/dashboard")
    expect(page.get_by_role("heading", name="Statement/Invoice Management Dashboard")).to_be_visible()
    expect(_sidebar(page).get_by_text(NAMES[VIEWER], exact=True)).to_be_visible()
    expect(_sidebar(page)).to_contain_text(f"{VIEWER} · viewer")
    expect(_sidebar(page).get_by_role("button", name="Sign out")).to_be_visible()
    # The dashboard: its figures, then the viewer's note where the batch form would be.
    expect(page.get_by_text(VIEWER_NOTE)).to_be_visible()
    settled(page)
    expect(page.get_by_role("button", name="Create Batch")).to_have_count(0)
    expect(page.get_by_role("button", name="Preview")).to_have_count(0)
    expect(page.get_by_text("Create On-Demand Batch")).to_have_count(0)

    page.goto(f"{desk.base}/{desk.pages['batches']}")  # batches?batch=N
    expect(page.get_by_role("tab", name="Invoice and encounters")).to_be_visible()
    settled(page)
    expect(page.get_by_role("tab", name="Rebatch")).to_have_count(0)
    expect(page.get_by_role("tab", name="Credit Memo")).to_have_count(0)

    page.goto(f"{desk.base}/{desk.pages['payments']}")  # payments?party_id=P
    expect(page.get_by_role("tab", name="Receipts")).to_be_visible()
    settled(page)
    expect(page.get_by_role("tab", name="New receipt")).to_have_count(0)

    # Forced past the page: the Actor the app makes for this address, on the same database.
    role = role_for(VIEWER, ACCESS)
    assert role == "viewer"
    actor = Actor(email=VIEWER, role=role, name=NAMES[VIEWER])
    before = _count(desk.url, Batch)
    engine = open_engine(desk.url)
    with read_session(engine) as s:
        party_id = next(p for p in s.execute(sa.select(Party.id).order_by(Party.id)).scalars()
                        if preview_on_demand_batch(s, party_id=p).parties)
    with pytest.raises(InvoiceDeskError, match="may look at everything but change nothing"), \
            transaction(engine) as s:
        create_on_demand_batch(s, party_id=party_id, actor=actor)
    engine.dispose()
    assert _count(desk.url, Batch) == before


def test_a_manager_creates_a_batch_and_the_audit_log_names_them(desk, page):
    engine = open_engine(desk.url)
    with read_session(engine) as s:
        party, preview = next((p, preview) for p in s.execute(sa.select(Party).order_by(Party.id.desc())).scalars()
                              if (preview := preview_on_demand_batch(s, party_id=p.id)).parties)
        code, label = party.account_code, f"{party.name} ({party.account_code})"
    engine.dispose()

    _sign_in(page, desk, MANAGER)
    expect(_sidebar(page)).to_contain_text(f"{MANAGER} · manager")
    expect(page.get_by_text("Create On-Demand Batch")).to_be_visible()
    settled(page)
    page.get_by_label("Employer or attorney").click()
    page.keyboard.type(code)
    page.get_by_role("option", name=label, exact=True).click()
    page.get_by_role("button", name="Create Batch").click()
    created = page.get_by_text(re.compile(rf"Batch \d+ created: 1 invoice\(s\), {preview.encounter_count} "
                                          rf"encounters, \$[\d,]+\.\d\d")).first
    expect(created).to_be_visible()
    number = int(re.search(r"Batch (\d+) created", created.inner_text()).group(1))
    assert f"${preview.total:,}" in created.inner_text()

    engine = open_engine(desk.url)
    with read_session(engine) as s:
        batch = s.execute(sa.select(Batch).where(Batch.number == number)).scalar_one()
        records = s.execute(sa.select(AuditRecord).where(AuditRecord.action == "batch.create",
                                                         AuditRecord.record_ids == str(batch.id))).scalars().all()
        assert batch.created_by == MANAGER
        assert [r.actor for r in records] == [MANAGER]
    engine.dispose()

    # The Audit log page offers the manager's address among who did things.
    page.goto(f"{desk.base}/audit")
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    settled(page)
    page.get_by_label("Who").click()
    expect(page.get_by_role("option", name=MANAGER, exact=True)).to_be_visible()


def test_a_stranger_sees_the_refusal_and_nothing_else(desk, page):
    _sign_in(page, desk, STRANGER)
    refusal = page.get_by_text(f"You are signed in as {STRANGER}, but that address is not on Invoice Desk's "
                               "access list")
    _shows_nothing_but(page, desk, refusal)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    for path in desk.paths:
        page.goto(f"{desk.base}/{path}")
        _shows_nothing_but(page, desk, refusal)
        expect(page.get_by_role("button", name="Sign in", exact=True)).to_have_count(0)


def test_signing_out_ends_the_session_and_closes_every_page(desk, page):
    _sign_in(page, desk, VIEWER)
    expect(_sidebar(page)).to_contain_text(f"{VIEWER} · viewer")
    settled(page)
    _sidebar(page).get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{desk.provider}/oauth2/end_session?*")
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(f"{desk.base}/**")
    _shows_nothing_but(page, desk, _sign_in_screen(page))
    assert not [c for c in page.context.cookies() if c["name"].startswith("_streamlit_user")]
    _every_page_is_closed(page, desk)
