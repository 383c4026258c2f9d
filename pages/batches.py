"""Batch History (stb): every batch, and a batch's Invoice Batch Items with Rebatch, PDFs and Credit Memo."""

from decimal import Decimal

import streamlit as st

from app import mailer
from app.auth import role_tabs
from app.state import actor, local_time, reading, require_router, writing
from app.ui import (
    PAGE_SIZE,
    attempt,
    clear_fields,
    md,
    money,
    newer_older,
    party_picker,
    plain_money,
    request_key,
    table,
    totals_line,
    url_number,
)
from core import (
    BATCH_KINDS,
    MANAGER,
    VIEWER,
    InvoiceDeskError,
    batch_items,
    create_credit_memo,
    deliveries,
    list_batches,
    rebatch,
    render_batch_item_pdf,
    render_batch_pdf,
    render_credit_memo_pdf,
    verify_document,
)
from core.numbering import credit_memo_number

require_router()
st.title("Batch History")


@st.cache_data(ttl=30, show_spinner=False)
def _batches(kind, party_id, created_from, created_to, number, offset):
    with reading() as s:
        rows = list_batches(s, kind=kind, party_id=party_id, created_from=created_from, created_to=created_to,
                            number=number, limit=PAGE_SIZE + 1, offset=offset)
    return rows


@st.cache_data(ttl=30, show_spinner=False)
def _batch(number: int):
    with reading() as s:
        rows = list_batches(s, number=number, limit=1)
        return (rows[0], batch_items(s, batch_id=rows[0].batch_id)) if rows else (None, [])


# ---------- the list ----------
with st.expander("Filters", expanded=False, icon=":material/filter_list:"):
    f1, f2, f3, f4, f5 = st.columns([1, 2, 1, 1, 1])
    kind = f1.selectbox("Kind", BATCH_KINDS, index=None, placeholder="Any kind", key="stb_kind")
    with f2:
        party_id = party_picker("Sent to party", key="stb_party", include_inactive=True)
    created_from = f3.date_input("From", value=None, key="stb_from", format="YYYY-MM-DD")
    created_to = f4.date_input("To", value=None, key="stb_to", format="YYYY-MM-DD")
    number = f5.number_input("Batch number", min_value=1, value=None, step=1, key="stb_number")

page_offset = st.session_state.get("stb_offset", 0)  # set by the Newer/Older buttons below
rows = _batches(kind, party_id, created_from, created_to, number, page_offset)
has_more = len(rows) > PAGE_SIZE
rows = rows[:PAGE_SIZE]


# Which batch is open has one source of truth: the link (?batch=42). A row ticked in the list, the "Open batch"
# picker, the navigation search (stb 42), an invoice found by the search and "Open stb 43" after a rebatch all
# change the link, and the page shows the batch the link names.
def _open_ticked_row() -> None:
    ticked = st.session_state["stb_table"].selection.rows
    if ticked:
        st.query_params["batch"] = str(st.session_state["stb_listed"][ticked[0]])


def _open_picked() -> None:
    picked = st.session_state.get("stb_open")
    if picked is None:
        st.query_params.pop("batch", None)
    else:
        st.query_params["batch"] = str(picked)


st.session_state["stb_listed"] = [b.number for b in rows]
table([{"Batch": b.number, "Target": b.target, "Total": b.total, "Invoices": b.invoice_count,
        "Created": local_time(b.created_at), "Kind": b.kind,
        "Source": f"stb {b.source_batch_number}" if b.source_batch_number else "",
        "Encounters": b.encounter_count, "Created by": b.created_by, "Internal note": b.internal_note} for b in rows],
      money_columns=["Total"], key="stb_table", selection="single-row", height=320, csv_name="batches",
      on_select=_open_ticked_row)
newer_older(key="stb_offset", has_more=has_more)

wanted_number = url_number("batch", "a batch number")
numbers = [b.number for b in rows]
if wanted_number is not None and wanted_number not in numbers:
    numbers.insert(0, wanted_number)
# The picker follows the link; set before the picker is drawn, as Streamlit allows.
if st.session_state.get("stb_open") != wanted_number:
    st.session_state["stb_open"] = wanted_number
opened = st.selectbox("Open batch", numbers, format_func=lambda n: f"stb {n}", placeholder="Choose a batch",
                      key="stb_open", on_change=_open_picked)

if opened is None:
    st.info("Choose a batch to see its Invoice Batch Items.")
    st.stop()

batch, items = _batch(int(opened))
if batch is None:
    st.error(f"There is no batch {opened}.")
    st.stop()

# ---------- Invoice Batch Items ----------
st.divider()
st.subheader(f"Invoice Batch Items: stb {batch.number}")
st.markdown(f"**{batch.kind}** batch for **{md(batch.target)}**, made by {md(batch.created_by)} on "
            + local_time(batch.created_at) + (f", resending stb {batch.source_batch_number}"
                                                  if batch.source_batch_number else ""))
if batch.internal_note:
    st.info(f"Internal note (never printed): {md(batch.internal_note)}", icon=":material/sticky_note_2:")
# What was sent (its balance, as printed), then where each invoice stands now: payments and credits to date.
table([{"Invoice": i.invoice_number, "Balance now": i.now.balance_due, "Status now": i.now.status,
        "E-mail": i.delivery, "Party": i.party_name, "Billed": i.sent.billed, "Balance when sent": i.sent.balance_due,
        "Payments to date": i.now.payments, "Credits to date": i.now.credits,
        "Written off to date": i.now.writeoffs, "Times batched": i.times_batched, "Encounters": len(i.encounters)}
       for i in items], money_columns=["Billed", "Balance when sent", "Payments to date", "Credits to date",
                                       "Written off to date", "Balance now"],
      column_help={"Balance when sent": "The balance printed on the invoice this batch sent.",
                   "Payments to date": "Every payment applied to the invoice so far, before or after this batch.",
                   "E-mail": "The last e-mail of this invoice: sent, failed, queued or no address (E-mail tab).",
                   "Credits to date": "Every credit memo on the invoice so far."},
      csv_name=f"stb-{batch.number}-items")
totals_line([("Billed", sum((i.sent.billed for i in items), start=Decimal("0.00"))),
             ("Balance when sent", batch.total),
             ("Balance now", sum((i.now.balance_due for i in items), start=Decimal("0.00")))])

# A viewer looks and downloads: no Rebatch or Credit Memo tab (core refuses their writes anyway).
tab_items, tab_rebatch, tab_memo, tab_pdf, tab_mail = role_tabs(
    [("Invoice and encounters", VIEWER), ("Rebatch", MANAGER), ("Credit Memo", MANAGER), ("Batch PDF", VIEWER),
     ("E-mail", MANAGER)])
by_number = {i.invoice_number: i for i in items}

with tab_items:
    chosen = st.selectbox("Invoice", list(by_number), key="stb_item")
    item = by_number[chosen]
    table([{"DOS": e.date_of_service, "Patient": e.patient, "Amount": e.amount,
            "Credited": "yes" if e.credited else "", "Encounter": e.number} for e in item.encounters],
          money_columns=["Amount"], date_columns=["DOS"])
    d1, d2 = st.columns([1, 3])

    def _item_pdf(item_id=item.batch_item_id):
        with reading() as s:
            return render_batch_item_pdf(s, batch_item_id=item_id)

    d1.download_button("Download PDF", data=_item_pdf, file_name=f"{item.invoice_number}.pdf",
                       mime="application/pdf", icon=":material/download:", key=f"stb_pdf_{item.batch_item_id}",
                       on_click="ignore")
    if d2.button("Check archived PDF", key="stb_verify"):
        with reading() as s:
            check = verify_document(s, kind="batch_item", ref_id=item.batch_item_id)
        if check.archived_sha256 is None:
            d2.info("Not printed yet: the first download archives its fingerprint.")
        elif check.unchanged:
            d2.success(f"Archived, unchanged (SHA-256 {check.current_sha256[:16]}..., first made "
                       f"{local_time(check.archived_on)[:10]}).")
        else:
            d2.error("The document no longer matches the one first printed.")

if tab_rebatch is not None:
    with tab_rebatch:
        st.caption("Resend invoices of this batch: each gets its next suffix (-2, -3, ...) and its balance as of now.")
        with st.form("stb_rebatch_form"):
            picked = st.multiselect("Invoices", list(by_number), default=list(by_number), key="stb_rebatch_invoices")
            include_paid = st.checkbox("Include paid invoices", value=False, key="stb_rebatch_paid")
            note = st.text_area("Internal note", key="stb_rebatch_note", max_chars=2000)
            go = st.form_submit_button("Rebatch", type="primary", icon=":material/replay:")
        if go:
            def _rebatch():
                with writing() as s:
                    return rebatch(s, source_batch_id=batch.batch_id, invoice_ids=[by_number[n].invoice_id for n in picked],
                                   include_paid=include_paid, internal_note=note, actor=actor(),
                                   request_key=request_key("rebatch"))

            new = attempt(_rebatch, once="rebatch")
            if new is not None:
                st.session_state["stb_rebatched"] = (batch.number, new.number, new.invoice_count, new.total)
                st.rerun()  # every figure above is read again
        rebatched = st.session_state.get("stb_rebatched")
        if rebatched and rebatched[0] == batch.number:
            _, new_number, new_count, new_total = rebatched
            st.success(f"Batch **{new_number}** made: {new_count} invoice(s) resent, {money(new_total)} due.")
            st.page_link("pages/batches.py", label=f"Open stb {new_number}", query_params={"batch": str(new_number)})

if tab_memo is not None:
    with tab_memo:
        st.caption("Correct encounters invoiced in error, or take an amount off one. A credit memo cannot be undone.")
        if st.session_state.pop("stb_memo_clear", False):  # a memo was just issued: the form starts empty
            clear_fields({"stb_memo_encounters": [], "stb_memo_reason": "", "stb_memo_confirm": False,
                          "stb_memo_target": None,
                          **{k: "" for k in st.session_state if str(k).startswith("stb_memo_adjust_")}})
        memo_invoice = st.selectbox("Invoice", list(by_number), key="stb_memo_invoice")
        memo_item = by_number[memo_invoice]
        open_encounters = {e.encounter_id: e for e in memo_item.encounters if not e.credited}
        action = st.radio("Action", ["self-pay", "reassign", "void", "adjust"], horizontal=True, key="stb_memo_action",
                          captions=["The patient pays", "Bill another party", "Billed in error",
                                    "Take an amount off; the visit stays billed"])
        with st.form("stb_memo_form"):
            amounts: dict[int, str] = {}
            encounter_ids: list[int] = []
            if action == "adjust":
                # An amount on a visit (a courtesy discount, a contract-rate correction), never above what is left of it.
                for e in open_encounters.values():
                    left, right = st.columns([3, 1.2], vertical_alignment="center")
                    left.markdown(f"**{md(e.number)}** · {e.date_of_service} · {md(e.patient)} · {money(e.amount)}")
                    typed = right.text_input(f"Amount off {e.number}", key=f"stb_memo_adjust_{e.encounter_id}",
                                             label_visibility="collapsed", placeholder="0.00")
                    if typed.strip():
                        amounts[e.encounter_id] = typed.strip()
            else:
                encounter_ids = st.multiselect(
                    "Encounters", list(open_encounters), key="stb_memo_encounters",
                    format_func=lambda e: f"{open_encounters[e].number} · {open_encounters[e].date_of_service} · "
                                          f"{open_encounters[e].patient} · {plain_money(open_encounters[e].amount)}")
            target = party_picker("Reassign to", key="stb_memo_target") if action == "reassign" else None
            reason = st.text_area("Reason (printed on the credit memo)", key="stb_memo_reason", max_chars=1000)
            confirm = st.checkbox("I understand this cannot be undone", key="stb_memo_confirm")
            issue = st.form_submit_button("Issue Credit Memo", type="primary", icon=":material/receipt:")
        if issue:
            if not confirm:
                st.error("Tick 'I understand this cannot be undone' to issue the credit memo.")
            else:
                def _memo():
                    with writing() as s:
                        memo = create_credit_memo(s, batch_item_id=memo_item.batch_item_id, encounter_ids=encounter_ids,
                                                  action=action, reason=reason, reassign_to_party_id=target,
                                                  line_amounts=amounts or None, actor=actor(),
                                                  request_key=request_key("credit_memo"))
                        return memo.id, memo.number, memo.amount, memo.unapplied

                made = attempt(_memo, once="credit_memo")
                if made:
                    # The memo is announced on this batch only, the form starts empty, and the figures above are read
                    # again (issue 11 #7: the items table showed Credits $0.00 after a memo).
                    st.session_state["stb_memo_made"] = (batch.number, *made)
                    st.session_state["stb_memo_clear"] = True
                    st.rerun()
        made = st.session_state.get("stb_memo_made")
        if made and made[0] == batch.number:
            _, memo_id, memo_number, amount, unapplied = made
            st.success(f"Credit memo **{credit_memo_number(memo_number)}** issued for {money(amount)}"
                       + (f"; {money(unapplied)} stays on account as unapplied credit." if unapplied else "."))

            def _memo_pdf(memo_id=memo_id):
                with reading() as s:
                    return render_credit_memo_pdf(s, credit_memo_id=memo_id)

            st.download_button("Download credit memo PDF", data=_memo_pdf, file_name=f"{credit_memo_number(memo_number)}.pdf",
                               mime="application/pdf", key="stb_memo_pdf", on_click="ignore")

with tab_pdf:
    st.caption(f"All {len(items)} invoices of stb {batch.number} in one PDF, drawn over all cores.")
    pdf_key = f"stb_batch_pdf_{batch.batch_id}"
    if st.button("Make batch PDF", key="stb_make_pdf", icon=":material/picture_as_pdf:"):
        bar = st.progress(0.0, text="Drawing invoices...")
        try:
            with reading() as s:
                st.session_state[pdf_key] = render_batch_pdf(
                    s, batch_id=batch.batch_id,
                    progress=lambda done, total: bar.progress(done / total, text=f"{done} of {total} invoices"))
        except InvoiceDeskError as exc:
            st.error(md(exc))
        bar.empty()
    if pdf_key in st.session_state:
        st.download_button("Download batch PDF", data=st.session_state[pdf_key], file_name=f"stb-{batch.number}.pdf",
                           mime="application/pdf", key="stb_batch_pdf_download", icon=":material/download:",
                           on_click="ignore")

# ---------- E-mail (issue 15) ----------


def _delivery_log(batch_id: int) -> list:
    with reading() as s:
        return deliveries(s, batch_id=batch_id)


def _mail_running() -> bool:
    """A send started from this browser tab is still going: the send buttons wait for it."""
    job = mailer.job(st.session_state.get("stb_mail_key", ""))
    return job is not None and not job.finished.is_set()


def _start_send(chosen: list, where: str) -> None:
    """Send these items in the background under this form's request key: a double click or a rerun finds the same
    job (and core claims each item once per key); the key is renewed once the send is done."""
    form = f"mail_{batch.batch_id}_{where}"
    key = request_key(form)
    st.session_state.update(stb_mail_running=key, stb_mail_key=key, stb_mail_where=where, stb_mail_form=form)
    mailer.start(request_key=key, batch_id=batch.batch_id, batch_number=batch.number,
                 item_ids=[i.batch_item_id for i in chosen], total=len(chosen), actor=actor(), smtp=smtp)
    st.rerun()  # drawn again with the send buttons waiting and the progress bar showing


@st.fragment(run_every=1.0)
def _sending(key: str) -> None:
    """The send's progress while it runs in the background; its report once it is done (the page is read again)."""
    job = mailer.job(key)
    if job is None:
        return
    if not job.finished.is_set():
        st.progress(job.done / job.total if job.total else 0.0,
                    text=f"Sending stb {job.batch_number}: {job.done} of {job.total} e-mails")
        return
    if st.session_state.pop("stb_mail_running", None) == key:
        # The next click is a new request: a retry of what failed sends it again.
        st.session_state.pop(f"_request_key_{st.session_state.get('stb_mail_form')}", None)
        st.cache_data.clear()
        st.rerun()
    if job.error:
        st.error(md(job.error), icon=":material/error:")
    elif job.report is not None:
        (st.success if not job.report.failed else st.warning)(md(job.report.summary), icon=":material/mail:")


def _progress_here(where: str) -> None:
    if st.session_state.get("stb_mail_key") and st.session_state.get("stb_mail_where") == where:
        _sending(st.session_state["stb_mail_key"])


smtp = None
if tab_mail is not None:
    try:
        smtp = mailer.settings()
    except InvoiceDeskError:
        pass  # the E-mail tab says what is wrong with the settings
busy = _mail_running()

if smtp is not None:
    with tab_items:
        # One invoice by e-mail, from the invoice itself (the E-mail tab sends several).
        e1, e2 = st.columns([1, 3])
        if e1.button("E-mail this invoice", key="stb_mail_one", icon=":material/send:", disabled=busy):
            _start_send([item], "item")
        last_status = item.delivery or "never e-mailed"
        e2.caption(f"{md(item.invoice_number)}: {last_status}. Its PDF goes as archived to its party's billing "
                   "addresses.")
        _progress_here("item")

if tab_mail is not None:
    with tab_mail:
        if smtp is None:
            mailer.settings_or_say()
        else:
            st.caption(f"From {md(smtp.from_address)} through {md(smtp.host)}:{smtp.port} ({smtp.security}). Each "
                       "invoice goes to its party's billing addresses with its PDF attached, as archived.")
            log = _delivery_log(batch.batch_id)
            last = {}
            for row in reversed(log):
                last[row.batch_item_id] = row.status
            failed = [i for i in items if last.get(i.batch_item_id) == "failed"]
            picked = st.multiselect("Invoices to send", list(by_number), default=list(by_number),
                                    key=f"stb_mail_pick_{batch.batch_id}")
            b1, b2, _ = st.columns([1.3, 1.3, 2])
            send = b1.button(f"Send {len(picked)} by e-mail", type="primary", disabled=busy or not picked,
                             key="stb_mail_send", icon=":material/send:")
            retry = b2.button(f"Retry {len(failed)} failed", disabled=busy or not failed, key="stb_mail_retry",
                              icon=":material/replay:")
            if send:
                _start_send([by_number[n] for n in picked], "batch")
            elif retry:
                _start_send(failed, "retry")
            _progress_here("batch")
            _progress_here("retry")
            if log:
                st.markdown("**Delivery log**")
                table([{"Invoice": r.invoice_number, "Status": r.status, "To": r.to_addresses, "Cc": r.cc_addresses,
                        "Server's answer or reason": r.answer, "Queued": local_time(r.created_at),
                        "By": r.created_by} for r in log], height="auto" if len(log) <= 8 else 300,
                      csv_name=f"stb-{batch.number}-deliveries")
