"""Statement/Invoice Management Dashboard: headline figures (now or as of a day), charts, the reconciliation, recent
batches, Create On-Demand Batch."""

from datetime import date

import streamlit as st

from app import figures as fig
from app.auth import VIEWER_NOTE, may
from app.state import actor, local_time, reading, require_router, today, writing
from app.ui import (
    attempt,
    clear_fields,
    group_choices,
    group_picker,
    md,
    money,
    months_back,
    party_picker,
    request_key,
    shortcut,
    table,
)
from core import (
    MANAGER,
    aging_basis,
    aging_report,
    collections_by_month,
    create_on_demand_batch,
    days_to_pay,
    headline,
    invoices_by_month,
    list_batches,
    preview_on_demand_batch,
    rebatch_effects,
    reconcile,
)
from core.as_of import basis_label


@st.cache_data(ttl=30, show_spinner=False)
def _figures(day: date | None):
    with reading() as s:
        return headline(s, as_of=day), list_batches(s, limit=8), aging_basis(s)


@st.cache_data(ttl=30, show_spinner=False)
def _charts(day: date, first: date, group_id: int | None):
    """The four main charts' rows for the chosen months and group, as they stood at the end of `day` (core's report
    queries, the same the month-end notebook draws)."""
    window = dict(today=day, date_from=first, group_id=group_id)
    with reading() as s:
        return dict(months=invoices_by_month(s, **window), collections=collections_by_month(s, **window),
                    aging=aging_report(s, by="total", as_of=day, group_id=group_id)[0].buckets,
                    debtors=aging_report(s, by="party", as_of=day, group_id=group_id, limit=10))


# The tabs' rows are read only when their tab is open (a cold dashboard read every report at once: 3.6 s on a busy
# practice's year, issue 16).
@st.cache_data(ttl=30, show_spinner=False)
def _days(day: date, first: date, group_id: int | None):
    with reading() as s:
        return days_to_pay(s, today=day, date_from=first, group_id=group_id)


@st.cache_data(ttl=30, show_spinner=False)
def _resends(day: date, first: date, group_id: int | None):
    with reading() as s:
        return rebatch_effects(s, today=day, date_from=first, group_id=group_id)


@st.cache_data(ttl=30, show_spinner=False)
def _groups(day: date, group_id: int | None):
    with reading() as s:
        return aging_report(s, by="group", as_of=day, group_id=group_id)


@st.cache_data(ttl=30, show_spinner=False)
def _reconciliation(day: date | None):
    with reading() as s:
        return reconcile(s, as_of=day)


require_router()
practice_today = today()
title, when = st.columns([3, 1], vertical_alignment="bottom")
title.title("Statement/Invoice Management Dashboard")
# Month-end figures: as they stood at the end of a past day (only what was sent, received, credited, written off or
# refunded by then counts; ages count from that day).
picked = when.date_input("As of", value=practice_today, max_value=practice_today, key="dash_as_of",
                         format="YYYY-MM-DD") or practice_today
as_of = None if picked >= practice_today else picked
figures, recent, basis = _figures(as_of)
if as_of is not None:
    st.info(f"Figures as of the end of {as_of}. Batches below are the latest, whatever the day.",
            icon=":material/event:")

top = st.columns(3)
top[0].metric("Open invoices", f"{figures.open_invoices:,}")
top[1].metric("Open balance", money(figures.open_balance))
top[2].metric("Overdue", money(figures.overdue_balance), help=f"{figures.overdue_invoices:,} invoices past due")
bottom = st.columns(3)
bottom[0].metric("Paid, last 30 days", money(figures.paid_last_30_days))
bottom[1].metric("Unapplied money", money(figures.unapplied), help="Receipts and credit memos not yet allocated")
bottom[2].metric("Last batch", f"stb {figures.last_batch_number}" if figures.last_batch_number else "none")
st.caption(f"Batches: {figures.batches_last_24_hours} in the last 24 hours, {figures.batches_last_7_days} in the "
           f"last 7 days" + (f"; last made {local_time(figures.last_batch_at)}" if figures.last_batch_at else ""))

st.subheader("Charts")
groups = group_choices()
f1, f2, _ = st.columns([1, 1.4, 1.6])
end = as_of or practice_today
first = f1.date_input("Months from", value=months_back(end, 12), max_value=end, key="dash_from",
                      format="YYYY-MM-DD", help="The charts show the months from this one to the As of day's.")
group_id = f2.selectbox("Employer group", list(groups), index=None, format_func=lambda i: groups.get(i, str(i)),
                        placeholder="All parties", key="dash_chart_group",
                        help="Charts for one employer group's parties; the figures above stay practice-wide.")
first = first or months_back(end, 12)
if (end.year - first.year) * 12 + end.month - first.month >= 120:
    st.warning("The charts show at most 120 months (10 years); showing the last 120.", icon=":material/date_range:")
    first = months_back(end, 120)
charts = _charts(end, first, group_id)
label = basis_label(basis)
chart_left, chart_right = st.columns([3, 2])
with chart_left:
    st.subheader("Invoices by month first sent", divider=False)
    st.plotly_chart(fig.invoices_by_month_figure(charts["months"]), width="stretch", key="dash_months")
    st.subheader("Collections by month received", divider=False)
    st.plotly_chart(fig.collections_figure(charts["collections"]), width="stretch", key="dash_collections")
with chart_right:
    st.subheader("Open balance by age", divider=False)
    st.caption(f"Aging by {label} (Settings > Invoice profile)")
    st.plotly_chart(fig.aging_figure(charts["aging"], basis=label), width="stretch", key="dash_aging")
    st.subheader("Top 10 debtors", divider=False)
    st.plotly_chart(fig.aging_breakdown_figure(charts["debtors"], basis=label), width="stretch", key="dash_debtors")
# Aging by group first: it follows the aging charts above, and it is the quickest of the three to read.
group_tab, days_tab, resend_tab = st.tabs(["Aging by group", "Days to pay", "Rebatching"], key="dash_tab",
                                          on_change="rerun")
if group_tab.open:
    with group_tab:
        st.plotly_chart(fig.aging_breakdown_figure(_groups(end, group_id), basis=label), width="stretch",
                        key="dash_groups")
if days_tab.open:
    with days_tab:
        days = _days(end, first, group_id)
        d1, d2 = st.columns(2)
        d1.plotly_chart(fig.days_to_pay_figure(days, title="Invoices paid off, by days from first sending"),
                        width="stretch", key="dash_days")
        d2.plotly_chart(fig.days_to_pay_trend_figure(days.by_month, title="Average days to pay, by month paid"),
                        width="stretch", key="dash_days_trend")
if resend_tab.open:
    with resend_tab:
        resends, sendings = _resends(end, first, group_id)
        r1, r2 = st.columns(2)
        r1.plotly_chart(fig.rebatch_effect_figure(resends, title="Resends by month: paid within 30 days"),
                        width="stretch", key="dash_resends")
        r2.plotly_chart(fig.rebatch_effect_figure(sendings, title="First sending against each resend"),
                        width="stretch", key="dash_sendings")
        st.caption("Of what was outstanding when an invoice went out, how much came in by receipts allocated within "
                   "30 days after; a sending less than 30 days old is still counting.")

with st.expander("Reconciliation: do the books agree?", icon=":material/balance:"):
    st.caption("Per party, the open balance from the invoices, from the ledger of documents and from the aging; "
               "no encounter on two live invoices; no gap or duplicate in any number series; every receipt and "
               "credit memo applied + unapplied + refunded = its amount.")
    if st.button("Check now", key="dash_reconcile", icon=":material/fact_check:"):
        _reconciliation.clear()
        st.session_state["dash_reconciled"] = True
    if st.session_state.get("dash_reconciled"):
        result = _reconciliation(as_of)
        (st.success if result.ok else st.error)(md(result.summary),
                                                icon=":material/check_circle:" if result.ok else ":material/error:")
        for problem in result.problems:
            st.markdown(f"- {md(problem)}")
        for note in result.notes:
            st.caption(note)

st.subheader("Recent batches")
if recent:
    table([{"Batch": b.number, "Target": b.target, "Total": b.total, "Invoices": b.invoice_count,
            "Created": local_time(b.created_at), "Kind": b.kind, "Created by": b.created_by} for b in recent],
          money_columns=["Total"], date_columns=["Created"])
    st.page_link("pages/batches.py", label="All batches in Batch History", icon=":material/inventory_2:")
else:
    st.info("No batches yet." + (" Create the first one below." if may(MANAGER) else ""))

st.divider()
if not may(MANAGER):  # a viewer looks: the batch form is for managers (core refuses a viewer's batch anyway)
    st.caption(VIEWER_NOTE)
    st.stop()
st.subheader("Create On-Demand Batch")
# A batch just made is announced once, on the run after it (issue 11 #7), and the form starts empty again, so a
# second F2 asks for a new target instead of repeating the first.
created = st.session_state.pop("dash_created", None)
if created:
    clear_fields({"dash_party": None, "dash_group": None, "dash_dos_from": None, "dash_dos_to": None,
                  "dash_post_from": None, "dash_post_to": None, "dash_note": ""})
target_kind = st.radio("Bill to", ["Employer", "Employer group"], horizontal=True, key="dash_target_kind")
with st.form("dash_batch_form"):
    st.selectbox("Batch", ["Invoices"], key="dash_batch_type", help="On-demand batches send invoices.")
    if target_kind == "Employer":
        party_id = party_picker("Employer or attorney", key="dash_party")
        group_id = None
    else:
        group_id = group_picker("Employer group", key="dash_group")
        party_id = None
    c1, c2, c3, c4 = st.columns(4)
    dos_from = c1.date_input("DOS From", value=None, key="dash_dos_from", format="YYYY-MM-DD")
    dos_to = c2.date_input("DOS To", value=None, key="dash_dos_to", format="YYYY-MM-DD")
    post_from = c3.date_input("Post Date From", value=None, key="dash_post_from", format="YYYY-MM-DD")
    post_to = c4.date_input("Post Date To", value=None, key="dash_post_to", format="YYYY-MM-DD")
    note = st.text_area("Internal note", key="dash_note", max_chars=2000,
                        help="Kept with the batch and shown in Batch History; never printed on an invoice.")
    b1, b2, _ = st.columns([1, 1.4, 3])
    preview_clicked = b1.form_submit_button("Preview", icon=":material/visibility:")
    create_clicked = b2.form_submit_button("Create Batch", type="primary", shortcut="F2",
                                           icon=":material/send:", help="F2, from anywhere on this page")
shortcut("F2", "Create Batch")  # F2 with the cursor in the picker, a date or the note too (issue 11 #3)

criteria = dict(party_id=party_id, group_id=group_id, dos_from=dos_from, dos_to=dos_to, post_from=post_from,
                post_to=post_to)
if preview_clicked:
    def _preview():
        with reading() as s:
            return preview_on_demand_batch(s, **criteria)

    preview = attempt(_preview)
    if preview is not None:
        if preview.parties:
            st.success(f"This batch would send **{preview.invoice_count}** invoice(s) for "
                       f"**{preview.encounter_count}** encounters, **{money(preview.total)}** in all.")
            table([{"Account": p.account_code, "Party": p.name, "Encounters": p.encounter_count, "Total": p.total}
                   for p in preview.parties], money_columns=["Total"])
        else:
            st.warning(md(preview.nothing_eligible_message()))
        if preview.excluded:
            st.markdown("**Left out, and why**")
            table([{"Party": e.name, "Reason": e.reason, "Encounters": e.encounter_count, "Total": e.total}
                   for e in preview.excluded], money_columns=["Total"])

if create_clicked:
    def _create():
        with writing() as s:
            return create_on_demand_batch(s, internal_note=note, actor=actor(), request_key=request_key("batch"),
                                          **criteria)

    batch = attempt(_create, once="batch")
    if batch is not None:
        st.session_state["dash_created"] = (batch.number, batch.invoice_count, batch.encounter_count, batch.total)
        st.rerun()

if created:
    number, invoices, encounters, total = created
    st.success(f"Batch **{number}** created: {invoices} invoice(s), {encounters} encounters, {money(total)}.",
               icon=":material/check_circle:")
    st.page_link("pages/batches.py", label=f"Open batch {number}'s Invoice Batch Items",
                 query_params={"batch": str(number)}, icon=":material/open_in_new:")
