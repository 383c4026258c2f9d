"""Invoice Desk: the router over pages/, the navigation search and the billing banner on every page."""

import streamlit as st

from app import auth
from app.state import reading, routed_run
from app.ui import md
from core import invoice_billing_enabled, navigate, party_count

st.set_page_config(page_title="Invoice Desk", page_icon=":material/receipt_long:", layout="wide")

PAGES = {
    "dashboard": st.Page("pages/dashboard.py", title="Statement/Invoice Management", icon=":material/dashboard:",
                         url_path="dashboard"),
    "batches": st.Page("pages/batches.py", title="Batch History", icon=":material/inventory_2:", url_path="batches"),
    "employer": st.Page("pages/employer.py", title="Employer Dashboard", icon=":material/apartment:",
                        url_path="employer"),
    "payments": st.Page("pages/payments.py", title="Payments", icon=":material/payments:", url_path="payments"),
    "settings": st.Page("pages/settings.py", title="Settings", icon=":material/settings:", url_path="settings"),
    "audit": st.Page("pages/audit.py", title="Audit log", icon=":material/history:", url_path="audit"),
}
WELCOME = st.Page("pages/welcome.py", title="Welcome", icon=":material/waving_hand:", url_path="welcome")

@st.cache_data(ttl=60, show_spinner=False)
def _status() -> tuple[bool, bool]:
    """Empty database? Billing on? Read once a minute at most; every write clears it."""
    with reading() as s:
        return party_count(s) == 0, invoice_billing_enabled(s)


empty, billing_on = _status()

pages = ([WELCOME] if empty else []) + list(PAGES.values())


def _home() -> None:
    """The app's root (/): the welcome page on an empty database, else the dashboard, at its own address.

    Streamlit serves its default page only at the root, so the dashboard as default made /dashboard a
    "Page not found" (issue 11 #9); this hidden default sends the root on instead, and every page keeps its URL.
    """
    st.switch_page(pages[0], query_params=st.query_params.to_dict())


HOME = st.Page(_home, title="Invoice Desk", url_path="home", default=True)
page = st.navigation([HOME, *pages], position="hidden")
# Signed out, or signed in but on no access list: the sign-in screen or a refusal, and nothing else (issue 14).
acting = auth.gate()


def _search() -> None:
    text = st.session_state.get("nav_search", "")
    with reading() as s:
        st.session_state["nav_result"] = navigate(s, text=text)


with st.sidebar:
    for listed in pages:  # the menu (the router's own would list the hidden home page too)
        st.page_link(listed)
    st.divider()
    st.text_input("Search", key="nav_search", on_change=_search,
                  placeholder="stb, stb 42, INV-000123, a party name",
                  help="`stb` opens Batch History, `stb 42` opens batch 42, any part of an invoice number lists "
                       "matching invoices, a party name opens its Employer Dashboard.")
    found = st.session_state.pop("nav_result", None)
    if found is not None:
        if found.kind == "batch_history":
            st.switch_page(PAGES["batches"])
        elif found.kind == "batch":
            st.switch_page(PAGES["batches"], query_params={"batch": str(found.batch_number)})
        elif found.kind == "party":
            st.switch_page(PAGES["employer"], query_params={"party_id": str(found.party_id)})
        elif found.kind == "nothing":
            st.warning(md(found.message))
        else:
            st.session_state["nav_matches"] = found
    matches = st.session_state.get("nav_matches")
    if matches is not None:
        for party in matches.parties[:10]:
            st.page_link(PAGES["employer"], label=md(f"{party.name} ({party.account_code})"), icon=":material/apartment:",
                         query_params={"party_id": str(party.id)})
        for row in matches.invoices[:15]:
            st.page_link(PAGES["batches"], label=md(f"{row.invoice_number} · {row.party_name}"),
                         icon=":material/description:", query_params={"batch": str(row.batch_number)})
        if len(matches.invoices) > 15:
            st.caption(f"{len(matches.invoices) - 15} more invoices match; narrow the search.")
    st.divider()
    auth.sidebar(acting)

if not billing_on and not empty:
    st.warning("Invoice billing is switched off: batches and invoice payments are refused until it is turned on "
               "in **Settings > Invoice billing**.", icon=":material/block:")

routed_run()
page.run()
