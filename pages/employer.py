"""Employer Dashboard: one party's balance, aging and payment behaviour as of a day, its Invoice History, write-offs
and its ledger."""

from datetime import date
from decimal import Decimal

import streamlit as st

from app import figures as fig
from app.auth import may
from app.state import actor, reading, require_router, today, writing
from app.ui import (
    PAGE_SIZE,
    attempt,
    clear_fields,
    md,
    money,
    months_back,
    paginator,
    party_picker,
    plain_money,
    request_key,
    table,
    totals_line,
    url_number,
)
from core import (
    MANAGER,
    WRITE_OFF_REASONS,
    InvoiceDeskError,
    collections_by_month,
    days_to_pay,
    get_party,
    invoice_history,
    invoice_history_count,
    invoices_by_month,
    open_invoices,
    parse_money,
    party_account,
    party_ledger,
    rebatch_invoices,
    render_items_pdf,
    render_party_ledger_pdf,
    render_statement_pdf,
    write_off,
    write_off_needs_confirmation,
)
from core.inputs import search_text
from core.numbering import write_off_number

require_router()
st.title("Employer Dashboard")

wanted = st.query_params.get("party_id")
default = url_number("party_id", "a bill-to party")
party_id = party_picker("Employer or attorney", key="emp_party", include_inactive=True, default=default)
if party_id is None:
    st.info("Choose a bill-to party to see its balance and Invoice History.")
    st.stop()
if str(party_id) != wanted:
    st.query_params["party_id"] = str(party_id)


@st.cache_data(ttl=30, show_spinner=False)
def _account(pid: int, day: date):
    with reading() as s:
        return get_party(s, pid), party_account(s, party_id=pid, as_of=day)


@st.cache_data(ttl=30, show_spinner=False)
def _charts(pid: int, day: date, first: date):
    """The party's charts for the chosen months, as they stood at the end of `day` (core's report queries)."""
    window = dict(party_id=pid, today=day, date_from=first)
    with reading() as s:
        return (invoices_by_month(s, **window), collections_by_month(s, **window), days_to_pay(s, **window))


practice_today = today()
head, when = st.columns([3, 1], vertical_alignment="bottom")
# A month-end look: every figure below, the charts and the statement as they stood at the end of that day.
as_of = when.date_input("As of", value=practice_today, max_value=practice_today, key="emp_as_of", format="YYYY-MM-DD",
                        help="Figures, charts and the statement count only what was sent, received, credited, "
                             "written off or refunded on or before this day.") or practice_today
party, account = _account(party_id, as_of)
head.markdown(f"**{md(party.name)}** · {md(party.account_code)} · {party.kind}"
              + ("" if party.billable else " · **not billable**") + ("" if party.active else " · **inactive**")
              + ("" if as_of == practice_today else f" · **as of {as_of}**"))

c = st.columns(5)
c[0].metric("Open balance", money(account.open_balance), help=f"{account.open_invoices} open invoices")
c[1].metric("Unapplied money", money(account.unapplied),
            help=f"Receipts {money(account.unapplied_receipts)}, credit memos {money(account.unapplied_credits)}")
c[2].metric("Last payment", money(account.last_payment_amount) if account.last_payment_amount is not None else "none",
            help=str(account.last_payment_on or ""))
c[3].metric("Last payment on", str(account.last_payment_on or "never"))
c[4].metric("Average days to pay", f"{account.average_days_to_pay:.0f}" if account.average_days_to_pay is not None
            else "n/a")

with st.expander("Charts", expanded=True, icon=":material/bar_chart:"):
    first = st.date_input("Months from", value=months_back(as_of, 12), max_value=as_of, key="emp_from",
                          format="YYYY-MM-DD", help="The charts show the months from this one to the As of day's.")
    first = first or months_back(as_of, 12)
    if (as_of.year - first.year) * 12 + as_of.month - first.month >= 120:
        st.warning("The charts show at most 120 months (10 years); showing the last 12.", icon=":material/date_range:")
        first = months_back(as_of, 12)
    months, collections, days = _charts(party_id, as_of, first)
    left, right = st.columns(2)
    with left:
        st.plotly_chart(fig.aging_figure(account.aging, height=260, title="Aging of the open balance",
                                         basis=account.aging_label), width="stretch", key="emp_aging")
        st.plotly_chart(fig.collections_figure(collections, height=260, title="Received by month"),
                        width="stretch", key="emp_collections")
    with right:
        st.plotly_chart(fig.invoices_by_month_figure(months, height=260, title="Invoiced by month"),
                        width="stretch", key="emp_months")
        st.plotly_chart(fig.days_to_pay_trend_figure(days.by_month, height=260, title="Days to pay, by month paid"),
                        width="stretch", key="emp_days")


def _statement(pid=party_id, day=as_of):
    with reading() as s:
        return render_statement_pdf(s, party_id=pid, as_of=day)


links = st.columns([1.6, 1, 3])
links[0].download_button("Account statement PDF", data=_statement,
                         file_name=f"statement-{party.account_code}-{as_of}.pdf",
                         mime="application/pdf", icon=":material/download:", key="emp_statement", on_click="ignore")
if may(MANAGER):
    links[1].page_link("pages/payments.py", label="Post a receipt", icon=":material/payments:",
                       query_params={"party_id": str(party_id)})

# ---------- Invoice History ----------
st.subheader("Invoice History")
f1, f2 = st.columns([1, 2])
with f1:
    status = st.segmented_control("Status", ["Open", "Paid", "All"], default="Open", key="status",
                                  bind="query-params") or "Open"
with f2:
    contains = st.text_input("Invoice ID contains", key="invoice", bind="query-params",
                             placeholder="any part of the number, e.g. -2 or 0123")
    try:  # the filter can arrive in a link: checked here, so a bad one shows its message, not a broken page
        contains = search_text(contains, "The invoice number filter")
    except InvoiceDeskError as exc:
        st.error(str(exc), icon=":material/error:")
        contains = ""


@st.cache_data(ttl=30, show_spinner=False)
def _history(pid, status, contains, offset):
    with reading() as s:
        return (invoice_history_count(s, party_id=pid, status=status, number_contains=contains),
                invoice_history(s, party_id=pid, status=status, number_contains=contains, limit=PAGE_SIZE,
                                offset=offset))


count, _ = _history(party_id, status.lower(), contains, 0)
offset = paginator(count, key="emp_history_page")
_, rows = _history(party_id, status.lower(), contains, offset)


# After a rebatch the table gets a new key, so no tick outlives the rows it was made on.
table_key = f"emp_history_table_{st.session_state.get('emp_history_generation', 0)}"


def _tick_rows() -> None:
    """Rows ticked in the table become the selected invoices (issue 11 #5: ticking a row did nothing)."""
    ticked = st.session_state[table_key].selection.rows
    listed = st.session_state.get("emp_listed", [])
    st.session_state["emp_selected"] = list(dict.fromkeys(listed[i] for i in ticked if i < len(listed)))


st.session_state["emp_listed"] = [r.invoice_number for r in rows]
table([{"Invoice": r.invoice_number, "Balance": r.balance_due, "Status": r.status, "E-mail": r.delivery, "Sent": r.sent_on,
        "Billed": r.billed, "Payments": r.payments, "Credits": r.credits, "Written off": r.writeoffs,
        "Flags": ", ".join(r.flags), "Batch": f"stb {r.batch_number}", "Kind": r.batch_kind,
        "Encounters": r.encounter_count} for r in rows],
      money_columns=["Billed", "Payments", "Credits", "Written off", "Balance"], date_columns=["Sent"],
      key=table_key, selection="multi-row", csv_name=f"invoice-history-{party.account_code}",
      on_select=_tick_rows)
if not rows:
    st.caption("No invoices match these filters.")
else:
    distinct = {r.invoice_id: r for r in rows}.values()  # several sendings of one invoice owe one balance
    totals_line([("Billed", sum((r.billed for r in distinct), start=Decimal("0.00"))),
                 ("Balance of the invoices shown", sum((r.balance_due for r in distinct), start=Decimal("0.00")))])

by_number = {r.invoice_number: r for r in rows}
# The selection is kept in the picker's state: rows ticked in the table land there, and what another filter or
# page no longer lists leaves it.
st.session_state["emp_selected"] = [n for n in st.session_state.get("emp_selected", []) if n in by_number]
chosen = st.multiselect("Selected invoices", list(by_number), key="emp_selected",
                        help="Pick rows in the table or here.")
a1, a2, a3 = st.columns([1, 1, 3])
# A viewer may pick invoices and download their PDFs; rebatching them is for managers.
writer = may(MANAGER)
include_paid = writer and a3.checkbox("Include paid invoices in the rebatch", key="emp_include_paid")
if writer and a1.button("Rebatch selected", disabled=not chosen, key="emp_rebatch", icon=":material/replay:"):
    def _rebatch(ids=tuple(by_number[n].invoice_id for n in chosen)):
        with writing() as s:  # one action, one transaction: a rebatch per batch that last sent them, or none
            return [b.number for b in rebatch_invoices(s, invoice_ids=list(ids), include_paid=include_paid,
                                                       actor=actor(), request_key=request_key("emp_rebatch"))]

    made = attempt(_rebatch, once="emp_rebatch")
    if made:
        st.session_state["emp_resent"] = (party_id, made)
        st.session_state.pop("emp_selected", None)
        st.session_state["emp_history_generation"] = st.session_state.get("emp_history_generation", 0) + 1
        st.rerun()  # the history is read again, with the new sendings
resent = st.session_state.get("emp_resent")
if resent and resent[0] == party_id:
    st.success("Resent in batch " + ", ".join(f"stb {n}" for n in resent[1]) + ".")
if chosen:
    def _pdfs(ids=tuple(by_number[n].batch_item_id for n in chosen)):
        with reading() as s:
            return render_items_pdf(s, batch_item_ids=list(ids))

    a2.download_button("Download PDFs", data=_pdfs, file_name=f"{party.account_code}-invoices.pdf",
                       mime="application/pdf", key="emp_pdfs", icon=":material/download:", on_click="ignore")



# ---------- Write off ----------
@st.cache_data(ttl=30, show_spinner=False)
def _open(pid: int):
    with reading() as s:
        return open_invoices(s, party_id=pid)


if writer:  # write-offs are for managers
    with st.expander("Write off a balance", icon=":material/money_off:"):
        done = st.session_state.pop("emp_written_off", None)
        if done:
            clear_fields({"emp_wo_amount": "", "emp_wo_note": ""})
            st.success(done, icon=":material/check_circle:")
        open_now = {i.invoice_id: i for i in _open(party_id)}
        if not open_now:
            st.caption("This party has no open invoice to write off.")
        else:
            w1, w2 = st.columns([2, 1])
            invoice_id = w1.selectbox("Invoice", list(open_now), key="emp_wo_invoice",
                                      format_func=lambda i: f"{open_now[i].number} · balance "
                                                            f"{plain_money(open_now[i].balance_due)} · "
                                                            f"sent {open_now[i].first_sent_on}")
            amount = w2.text_input("Amount", key="emp_wo_amount", placeholder=f"{open_now[invoice_id].balance_due:.2f}",
                                   help="Blank writes off the whole balance.") or f"{open_now[invoice_id].balance_due:.2f}"
            reason = w1.selectbox("Reason", WRITE_OFF_REASONS, key="emp_wo_reason")
            note = w2.text_input("Note", key="emp_wo_note", placeholder="required for 'other'")
            asked = (invoice_id, amount.strip(), reason, note.strip())
            pending = st.session_state.get("emp_wo_pending")

            def _write_off(asked=asked):
                with writing() as s:
                    wo = write_off(s, invoice_id=asked[0], amount=asked[1], reason=asked[2], note=asked[3], actor=actor(),
                                   request_key=request_key("emp_write_off"))
                    return write_off_number(wo.number), wo.amount

            def _finish(made) -> None:
                if made:
                    st.session_state.pop("emp_wo_pending", None)
                    st.session_state["emp_written_off"] = (f"{made[0]}: {money(made[1])} of {open_now[invoice_id].number} "
                                                           "written off.")
                    _open.clear()
                    _account.clear()
                    _history.clear()
                    st.rerun()

            if pending == asked:
                # Above the profile's threshold a write-off asks a second time, naming what it will do.
                st.warning(f"Write off {money(parse_money(amount))} of {open_now[invoice_id].number} ({reason})? This is above the "
                           "amount that asks twice (Settings > Invoice profile).", icon=":material/warning:")
                y, n = st.columns(2)
                if y.button("Yes, write it off", type="primary", key="emp_wo_yes"):
                    _finish(attempt(_write_off, once="emp_write_off"))
                if n.button("Cancel", key="emp_wo_no"):
                    st.session_state.pop("emp_wo_pending", None)
                    st.rerun()
            elif st.button("Write off", key="emp_wo_go", icon=":material/money_off:"):
                def _needs(amount=amount):
                    with reading() as s:
                        return write_off_needs_confirmation(s, amount=amount)

                needs = attempt(_needs)
                if needs:
                    st.session_state["emp_wo_pending"] = asked
                    st.rerun()
                elif needs is False:
                    _finish(attempt(_write_off, once="emp_write_off"))

# ---------- Ledger ----------


@st.cache_data(ttl=30, show_spinner=False)
def _ledger(pid: int, start, end):
    """Read once per party and period until a write clears the cache (a rerun draws it again from here)."""
    with reading() as s:
        return party_ledger(s, party_id=pid, date_from=start, date_to=end)


with st.expander("Ledger: every document with the running balance", icon=":material/receipt_long:"):
    l1, l2 = st.columns(2)
    start = l1.date_input("From", value=None, max_value=practice_today, key="emp_ledger_from", format="YYYY-MM-DD")
    end = l2.date_input("To", value=None, max_value=practice_today, key="emp_ledger_to", format="YYYY-MM-DD")

    ledger = attempt(lambda: _ledger(party_id, start, end))
    if ledger is not None:
        # Rows that only move money between documents (an allocation, an un-apply, a resend) leave Amount blank.
        moves = ("allocation", "un-apply", "resent", "balance forward")
        table([{"Date": r.on, "Entry": r.kind, "Number": r.number, "Amount": None if r.kind in moves else r.amount,
                "Balance": r.running_balance,
                "Details": r.description} for r in ledger],
              money_columns=["Amount", "Balance"], date_columns=["Date"], height=360,
              csv_name=f"ledger-{party.account_code}")
        if not ledger:
            st.caption("Nothing in this period.")

        def _ledger_pdf(pid=party_id, start=start, end=end):
            with reading() as s:
                return render_party_ledger_pdf(s, party_id=pid, date_from=start, date_to=end)

        st.download_button("Ledger PDF", data=_ledger_pdf, file_name=f"ledger-{party.account_code}.pdf",
                           mime="application/pdf", icon=":material/download:", key="emp_ledger_pdf", on_click="ignore")
