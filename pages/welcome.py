"""Welcome: the first start on an empty database offers the demo practice or a CSV import."""

import streamlit as st

from app.auth import may
from app.state import actor, require_router, writing
from app.ui import attempt
from core import ADMIN, load_demo_data
from core.demo import STEPS

require_router()
st.title("Welcome to Invoice Desk")
st.write("This database has no bill-to parties yet. Start with the demo practice to look around, or bring in "
         "your own parties and encounters from CSV files.")
left, right = st.columns(2)
with left.container(border=True):
    st.subheader("Demo practice")
    st.write("Five employer groups, forty parties, a year of encounters up to today, batches, receipts, resends "
             "and credit memos. Invoice billing is switched on.")
    if not may(ADMIN):
        st.caption("Loading the demo is for an administrator.")
    elif st.button("Load the demo practice", type="primary", key="welcome_demo"):
        with st.status("Writing the demo practice for today...", expanded=True) as status:
            def load():
                with writing() as s:
                    load_demo_data(s, progress=lambda n, name: status.write(f"{n + 1}/{len(STEPS)} {name}"))
                return True

            if attempt(load):
                st.session_state["welcome_loaded"] = actor()
                st.rerun()
with right.container(border=True):
    st.subheader("Your own data")
    st.write("Import parties first, then encounters. Each file is imported whole or not at all, and every bad "
             "row is reported with its row number and column.")
    st.page_link("pages/settings.py", label="Settings > CSV import", icon=":material/upload_file:")
