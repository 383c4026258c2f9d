"""Invoice Desk: the router over pages/, with the shared sidebar."""

import streamlit as st

st.set_page_config(page_title="Invoice Desk", page_icon=":material/receipt_long:", layout="wide")

pages = [
    st.Page("pages/dashboard.py", title="Dashboard", icon=":material/dashboard:", default=True),
]
st.navigation(pages).run()
