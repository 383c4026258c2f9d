"""Statement/Invoice Management Dashboard (first cut: headline figures and recent invoices)."""

import streamlit as st

from app.state import reading
from core import format_money, invoice_billing_enabled, invoice_history, invoice_history_count

st.title("Statement/Invoice Management Dashboard")
with reading() as s:
    enabled = invoice_billing_enabled(s)
    open_count = invoice_history_count(s, status="open")
    rows = invoice_history(s, status="all", limit=20)
if not enabled:
    st.warning("Invoice billing is switched off. Turn it on in Settings > Invoice billing.")
st.metric("Open invoice sendings", f"{open_count:,}")
if rows:
    st.subheader("Recent invoices")
    st.dataframe(
        [{"Invoice": r.invoice_number, "Party": r.party_name, "Batch": r.batch_number, "Kind": r.batch_kind,
          "Sent": r.sent_on, "Billed": format_money(r.billed), "Balance": format_money(r.balance_due),
          "Status": r.status} for r in rows],
        hide_index=True, width="stretch",
    )
else:
    st.info("No invoices yet.")
