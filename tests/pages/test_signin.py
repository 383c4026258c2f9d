"""Sign-in and roles on every page through AppTest (issue 14): signed out, a stranger, a viewer, a manager, an admin,
and local mode (no [auth] section).

`at.secrets` gives the app an [auth] and an [access] section; `at.user` is who the identity cookie says signed in.
Signed out or on no list, every page shows the sign-in screen or a refusal and no figure, table, chart or party
name. A viewer sees every page without one write control; a manager everything but Settings' controls; an admin
all. A write forced past a page (a page bug simulated) is still refused by core.
"""

from __future__ import annotations

import getpass

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from app import auth
from app.ui import md
from core import ADMIN, MANAGER, VIEWER
from core.models import AuditRecord, Batch, Party
from tests.pages.conftest import APP, PAGES, app, db, plain, plain_text, snapshot

AUTH = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "c" * 40, "client_id": "invoice-desk",
        "client_secret": "not-a-secret", "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}
ACCESS = {"viewers": ["@riverbend.example"], "managers": ["mia@riverbend.example"],
          "admins": ["ada@riverbend.example"]}
VIEWER_USER = {"email": "vic@riverbend.example", "name": "Vic Viewer"}
MANAGER_USER = {"email": "Mia@Riverbend.example", "name": "Mia Manager"}
ADMIN_USER = {"email": "ada@riverbend.example", "name": "Ada Admin"}

# What a page shows only to someone who may write, by the lowest role that sees it.
WRITE_BUTTONS = {
    "pages/dashboard.py": {MANAGER: ["Preview", "Create Batch"]},
    "pages/batches.py": {MANAGER: ["Rebatch", "Issue Credit Memo"]},
    "pages/employer.py": {MANAGER: ["Rebatch selected"]},
    "pages/payments.py": {MANAGER: ["Post receipt", "Un-apply", "Void receipt"]},  # and the tabs below
    "pages/settings.py": {ADMIN: ["Save time zone", "Save profile", "Add party", "Add group", "Import"]},
    "pages/audit.py": {},
}
WRITE_TABS = {"pages/batches.py": ["Rebatch", "Credit Memo", "E-mail"],
              "pages/payments.py": ["New receipt", "Allocate unapplied money", "Un-apply", "Refund", "Void"]}
READ_BUTTONS = {"pages/batches.py": ["Make batch PDF", "Check archived PDF"], "pages/dashboard.py": ["Check now"]}
RANK = {VIEWER: 0, MANAGER: 1, ADMIN: 2}


def _party(url: str) -> tuple[int, str]:
    with db(url) as s:
        party = s.execute(sa.select(Party).order_by(Party.id).limit(1)).scalar_one()
        return party.id, party.name


def signed(page: str | None, user: dict | None, *, access: dict | None = None, url: str | None = None) -> AppTest:
    """The app with sign-in configured; `user` None is signed out. Employer and Payments open a party."""
    query = {"party_id": str(_party(url)[0])} if url and page in ("pages/employer.py", "pages/payments.py") else {}
    return app(page, secrets={"auth": AUTH, "access": ACCESS if access is None else access},
               user={"is_logged_in": False} if user is None else {"is_logged_in": True, **user}, **query)


def _labels(at: AppTest) -> set[str]:
    return {b.label for b in at.button} | {b.label for b in at.get("download_button")}


def _shows_no_data(at: AppTest, party_name: str) -> None:
    assert not at.dataframe and not at.metric and not at.get("plotly_chart")
    assert not at.sidebar.text_input, "no search box"
    everything = " ".join(plain_text(e.value) for kind in (at.markdown, at.caption, at.title, at.subheader, at.info,
                                                           at.warning, at.success) for e in kind)
    assert party_name not in everything and "$" not in everything


@pytest.mark.parametrize("page", PAGES)
def test_signed_out_every_page_shows_the_sign_in_screen_and_no_data(demo_db, page):
    _, name = _party(demo_db)
    at = signed(page, None, url=demo_db)
    assert [t.value for t in at.title] == ["Invoice Desk"]
    assert "Sign in" in _labels(at) and "Sign in with your work account" in at.markdown[0].value
    _shows_no_data(at, name)


def test_signed_out_with_named_providers_offers_each(demo_db):
    provider = {k: AUTH[k] for k in ("client_id", "client_secret", "server_metadata_url")}
    shared = {k: AUTH[k] for k in ("redirect_uri", "cookie_secret")}
    at = app(secrets={"auth": {**shared, "google": provider, "microsoft": provider}, "access": ACCESS},
             user={"is_logged_in": False})
    assert {"Sign in with Google", "Sign in with Microsoft"} <= _labels(at)


@pytest.mark.parametrize("user, says", [
    ({"email": "eve@elsewhere.example", "name": "Eve"}, "eve@elsewhere.example, but that address is not on"),
    ({"email": "vic@riverbend.example.evil.test"}, "not on Invoice Desk's access list"),  # a lookalike domain
    ({"email": "vic@riverbend.example", "email_verified": False}, "has not verified the address"),
    ({"sub": "12345", "name": "No Mail"}, "did not give an e-mail address"),
], ids=["stranger", "lookalike domain", "unverified", "no e-mail"])
@pytest.mark.parametrize("page", PAGES)
def test_a_stranger_sees_a_polite_refusal_and_nothing_else(demo_db, page, user, says):
    _, name = _party(demo_db)
    at = signed(page, user, url=demo_db)
    assert any(says in text for text in plain(at.warning)), plain(at.warning)
    assert _labels(at) == {"Sign out"}
    _shows_no_data(at, name)


def test_no_access_section_lets_nobody_in(demo_db):
    at = signed("pages/dashboard.py", MANAGER_USER, access={})
    assert "not on Invoice Desk's access list" in plain(at.warning)[0]


@pytest.mark.parametrize("who, role", [(VIEWER_USER, VIEWER), (MANAGER_USER, MANAGER), (ADMIN_USER, ADMIN)],
                         ids=["viewer", "manager", "admin"])
@pytest.mark.parametrize("page", PAGES)
def test_each_role_sees_the_controls_it_may_use(demo_db, page, who, role):
    at = signed(page, who, url=demo_db)
    labels = _labels(at)
    for lowest, buttons in WRITE_BUTTONS[page].items():
        if RANK[role] >= RANK[lowest]:
            assert set(buttons) <= labels, (role, set(buttons) - labels)
        else:
            assert not set(buttons) & labels, (role, set(buttons) & labels)
    tabs = {t.label for t in at.tabs}
    hidden = set(WRITE_TABS.get(page, ())) & tabs
    assert not hidden if role == VIEWER else set(WRITE_TABS.get(page, ())) <= tabs, (role, tabs)
    assert set(READ_BUTTONS.get(page, ())) <= labels, "looking and downloading are for everyone"
    # The sidebar names them and their role, with Sign out.
    sidebar = " ".join(plain_text(m.value) for m in at.sidebar.markdown)
    assert who["name"] in sidebar and f"{who['email'].lower()} · {role}" in sidebar
    assert [b.label for b in at.sidebar.button] == ["Sign out"]
    if page == "pages/settings.py":
        assert bool(at.toggle) == (role == ADMIN)
        notes = plain(at.info)
        assert (role == ADMIN) == (not any("administrator" in n or "viewer" in n for n in notes)), notes
    if page == "pages/dashboard.py" and role == VIEWER:
        assert auth.VIEWER_NOTE in [c.value for c in at.caption]


@pytest.mark.parametrize("page", PAGES)
def test_local_mode_every_page_has_every_control_and_the_notice(demo_db, page):
    at = app(page, **({"party_id": str(_party(demo_db)[0])} if page in ("pages/employer.py", "pages/payments.py") else {}))
    labels = _labels(at)
    for buttons in WRITE_BUTTONS[page].values():
        assert set(buttons) <= labels, set(buttons) - labels
    assert set(WRITE_TABS.get(page, ())) <= {t.label for t in at.tabs}
    assert "Sign-in is off: local mode, this computer only. Acting as **manager**." in plain(at.sidebar.caption)
    assert not at.sidebar.button and "Sign in" not in labels


def test_without_an_admins_list_managers_are_admins(demo_db):
    at = signed("pages/settings.py", MANAGER_USER, access={"managers": ["@riverbend.example"]})
    assert at.toggle and "Save profile" in _labels(at)


def test_a_manager_creates_a_batch_and_the_audit_log_names_their_email(demo_any, demo_next_day):
    at = signed("pages/dashboard.py", MANAGER_USER, url=demo_any)
    with db(demo_any) as s:
        before = s.execute(sa.select(sa.func.max(AuditRecord.id))).scalar_one()
        wanted = s.execute(sa.select(Party.id).where(Party.billable).order_by(Party.id)).scalars().all()
    for party_id in wanted:  # the first party with something left to invoice
        at.selectbox(key="dash_party").select(party_id)
        next(b for b in at.button if b.label == "Create Batch").click().run()
        if at.success:
            break
    assert not at.exception and any("created" in t for t in plain(at.success)), plain(at.error)
    with db(demo_any) as s:
        actors = s.execute(sa.select(AuditRecord.actor).where(AuditRecord.id > before)).scalars().all()
        made_by = s.execute(sa.select(Batch.created_by).order_by(Batch.id.desc()).limit(1)).scalar_one()
    assert actors and set(actors) == {"mia@riverbend.example"} and made_by == "mia@riverbend.example"


def test_a_viewers_forced_write_is_refused_by_core(demo_db, monkeypatch):
    """A page bug that showed a viewer the Create Batch button: core refuses, the page says why, nothing changes."""
    monkeypatch.setattr(auth, "may", lambda need=MANAGER: True)
    at = signed("pages/dashboard.py", VIEWER_USER, url=demo_db)
    party_id, _ = _party(demo_db)
    at.selectbox(key="dash_party").select(party_id)
    before = snapshot(demo_db)
    next(b for b in at.button if b.label == "Create Batch").click().run()
    assert not at.exception
    assert any("Vic Viewer may look at everything but change nothing" in e for e in plain(at.error)), plain(at.error)
    assert snapshot(demo_db) == before


def test_sign_out_returns_to_the_sign_in_screen(demo_db):
    at = signed("pages/employer.py", VIEWER_USER, url=demo_db)
    assert at.dataframe
    next(b for b in at.sidebar.button if b.label == "Sign out").click().run()
    at.run()
    assert not at.exception and at.user.get("is_logged_in") is False
    assert "Sign in" in _labels(at) and not at.dataframe


def test_a_hostile_name_in_the_sidebar_is_shown_literally(demo_db):
    at = signed("pages/audit.py", {"email": "vic@riverbend.example", "name": "**Boss** [x](javascript:alert(1)) $5"})
    shown = [m.value for m in at.sidebar.markdown]
    name = "**Boss** [x](javascript:alert(1)) $5"
    assert any(md(name) in v for v in shown), "escaped: no bold, no link, no LaTeX"
    assert not any(name in v for v in shown)


def test_local_mode_acts_as_the_operating_system_user(demo_db, monkeypatch):
    """No [auth]: full rights, the local-mode notice, and writes recorded as the computer's user."""
    monkeypatch.delenv("INVOICE_DESK_USER")
    at = app("pages/settings.py")
    me = getpass.getuser()
    assert f"Sign-in is off: local mode, this computer only. Acting as **{me}**." in plain(at.sidebar.caption)
    assert not at.sidebar.button, "no Sign out in local mode"
    assert at.toggle and "Save profile" in _labels(at)
    at.selectbox(key="set_zone").select("America/Chicago")
    next(b for b in at.button if b.label == "Save time zone").click().run()
    with db(demo_db) as s:
        newest = s.execute(sa.select(AuditRecord).order_by(AuditRecord.id.desc()).limit(1)).scalar_one()
    assert (newest.action, newest.actor) == ("settings.time_zone", me)


@pytest.mark.parametrize("email, access, role", [
    ("mia@riverbend.example", ACCESS, MANAGER),
    ("MIA@RIVERBEND.EXAMPLE ", ACCESS, MANAGER),
    ("ada@riverbend.example", ACCESS, ADMIN),            # on the admins list and (by domain) the viewers list
    ("new.hire@riverbend.example", ACCESS, VIEWER),       # the whole domain
    ("vic@sub.riverbend.example", ACCESS, None),          # a subdomain is another domain
    ("vic@riverbend.example.evil.test", ACCESS, None),
    ("mia@riverbend.example", {"viewers": ["riverbend.example"], "managers": "mia@riverbend.example"}, ADMIN),
    ("x@y.example", {"viewers": [None, 5, " @Y.example "]}, VIEWER),
    ("no-at-sign", ACCESS, None),
    ("", ACCESS, None),
    ("mia@riverbend.example", {"managers": 42}, None),
], ids=str)
def test_role_for_reads_addresses_and_domains(email, access, role):
    assert auth.role_for(email, access) == role


def test_local_mode_listening_wider_warns_on_every_page(demo_db):
    from streamlit import config

    before = config.get_option("server.address")
    config.set_option("server.address", "0.0.0.0")
    try:
        at = AppTest.from_file(APP, default_timeout=120)
        at.run()
    finally:
        config.set_option("server.address", before)
    assert any("Sign-in is off, yet this server listens on 0.0.0.0" in w for w in plain(at.warning)), plain(at.warning)
    quiet = AppTest.from_file(APP, default_timeout=120).run()
    assert not any("Sign-in is off, yet" in w for w in plain(quiet.warning)), "on 127.0.0.1 nothing to warn about"


@pytest.mark.parametrize("who, can_load", [(VIEWER_USER, False), (MANAGER_USER, False), (ADMIN_USER, True)],
                         ids=["viewer", "manager", "admin"])
def test_only_an_admin_may_load_the_demo_on_the_welcome_page(empty_db, who, can_load):
    at = app(secrets={"auth": AUTH, "access": ACCESS}, user={"is_logged_in": True, **who})
    assert at.title[0].value == "Welcome to Invoice Desk"
    assert ("Load the demo practice" in _labels(at)) == can_load
    assert ("Loading the demo is for an administrator." in [c.value for c in at.caption]) != can_load
