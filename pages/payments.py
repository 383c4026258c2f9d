"""Payments: post a receipt with a suggested allocation, allocate unapplied money, un-apply one allocation, refund
unapplied money, void a receipt."""

from decimal import Decimal

import streamlit as st

from app.auth import role_tabs
from app.state import actor, reading, require_router, today, writing
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
    MANAGER,
    RECEIPT_METHODS,
    VIEWER,
    allocate_credit,
    allocate_receipt,
    list_allocations,
    list_credit_memos,
    list_receipts,
    list_refunds,
    open_invoices,
    post_receipt,
    refund,
    suggest_allocation,
    unapply_allocation,
    void_receipt,
)
from core.numbering import receipt_number, refund_number

require_router()
st.title("Payments")
# The most open invoices offered for allocation in one form; older ones first.
MAX_ROWS = 60


@st.cache_data(ttl=30, show_spinner=False)
def _open(pid: int):
    with reading() as s:
        return open_invoices(s, party_id=pid)


@st.cache_data(ttl=30, show_spinner=False)
def _receipts(pid, only_unapplied, offset=0, limit=PAGE_SIZE * 4):
    with reading() as s:
        return list_receipts(s, party_id=pid, only_unapplied=only_unapplied, limit=limit, offset=offset)


@st.cache_data(ttl=30, show_spinner=False)
def _memos(pid):
    with reading() as s:
        return list_credit_memos(s, party_id=pid, only_unapplied=True)


def _allocation_inputs(invoices, *, prefix: str) -> dict[int, str]:
    """One amount box per open invoice, oldest first; blank means nothing applied."""
    entered = {}
    # One line per invoice saying what it is, its box beside it; on a phone the box goes right under its own
    # line (a grid of columns there stacked into unlabelled boxes, issue 11 #11).
    for inv in invoices[:MAX_ROWS]:
        left, right = st.columns([3, 1.2], vertical_alignment="center")
        left.markdown(f"**{md(inv.number)}** · balance **{money(inv.balance_due)}**  \n"
                      f"sent {inv.first_sent_on} · due {inv.due_on}")
        entered[inv.invoice_id] = right.text_input(f"Apply to {inv.number}", key=f"{prefix}_{inv.invoice_id}",
                                                   label_visibility="collapsed", placeholder="0.00")
    if len(invoices) > MAX_ROWS:
        st.caption(f"{len(invoices) - MAX_ROWS} newer open invoices are not listed; allocate to them afterwards.")
    return {invoice_id: text for invoice_id, text in entered.items() if text.strip()}


party_id = party_picker("Received from", key="pay_party", default=url_number("party_id", "a bill-to party"))
if party_id is None:
    st.info("Choose the party that paid to post a receipt, allocate its unapplied money or void a receipt.")
    everyone = _receipts(None, False)
    st.subheader("Recent receipts, all parties")
    table([{"Receipt": r.number, "Amount": r.amount, "Party": r.party_name, "Received": r.received_date,
            "Unapplied": r.unapplied, "Status": "voided" if r.voided else "posted", "Method": r.method,
            "Reference": r.reference} for r in everyone],
          money_columns=["Amount", "Unapplied"], date_columns=["Received"], height=420)
    waiting = [r for r in everyone if r.unapplied > 0]
    if waiting:
        st.caption("Receipts with unapplied money: " + ", ".join(f"{r.number} ({md(r.party_name)}, {money(r.unapplied)})"
                                                                  for r in waiting[:8]))
    st.stop()

practice_today = today()
# A viewer sees the receipts list only (core refuses their writes anyway).
tab_new, tab_list, tab_apply, tab_unapply, tab_refund, tab_void = role_tabs(
    [("New receipt", MANAGER), ("Receipts", VIEWER), ("Allocate unapplied money", MANAGER), ("Un-apply", MANAGER),
     ("Refund", MANAGER), ("Void", MANAGER)])


def _changed() -> None:
    """After money moved, every list on the page is read again."""
    for cached in (_open, _receipts, _memos, _allocations, _refunds):
        cached.clear()


@st.cache_data(ttl=30, show_spinner=False)
def _allocations(pid):
    with reading() as s:
        return list_allocations(s, party_id=pid, include_reversed=False)


@st.cache_data(ttl=30, show_spinner=False)
def _refunds(pid):
    with reading() as s:
        return list_refunds(s, party_id=pid)


def _unapplied_sources(pid) -> dict[tuple[str, int], str]:
    """The party's receipts and credit memos with money left, as a picker shows them."""
    found = {("receipt", r.receipt_id): f"{r.number} · {r.received_date} · {plain_money(r.unapplied)} unapplied"
             for r in _receipts(pid, True)}
    found.update({("memo", m.credit_memo_id): f"{m.number} · credit memo · {plain_money(m.unapplied)} unapplied"
                  for m in _memos(pid)})
    return found


if tab_new is not None:
    with tab_new:
        # After a receipt is posted the form starts empty and the balances are read again, so one more click posts
        # nothing (issue 11 #2); the message says what was posted.
        posted_message = st.session_state.pop("pay_posted", None)
        if posted_message:
            clear_fields({"pay_amount": "", "pay_reference": "", "pay_note": "", "pay_duplicate_ok": False,
                          **{k: "" for k in st.session_state if str(k).startswith("pay_apply_")}})
            st.success(posted_message, icon=":material/check_circle:")
        c1, c2, c3 = st.columns(3)
        amount = c1.text_input("Amount", key="pay_amount", placeholder="1250.00")
        received = c2.date_input("Received", value=practice_today, max_value=practice_today, key="pay_received",
                                 format="YYYY-MM-DD")
        method = c3.selectbox("Method", RECEIPT_METHODS, key="pay_method")
        reference = c1.text_input("Reference", key="pay_reference", placeholder="check number")
        note = c2.text_input("Internal note", key="pay_note")
        if c3.button("Suggest allocation", key="pay_suggest", icon=":material/auto_fix_high:"):
            def _suggest():
                with reading() as s:
                    return suggest_allocation(s, party_id=party_id, amount=amount)

            suggestion = attempt(_suggest)
            if suggestion is not None:
                st.session_state["pay_suggestion"] = (party_id, amount, suggestion)
                # The boxes take the suggestion through their keys: a browser keeps a keyed box's own
                # value over a new default, so the state is what has to change.
                for inv in _open(party_id)[:MAX_ROWS]:
                    applied = suggestion.allocations.get(inv.invoice_id)
                    st.session_state[f"pay_apply_{inv.invoice_id}"] = f"{applied:.2f}" if applied else ""
        saved = st.session_state.get("pay_suggestion")
        suggestion = saved[2] if saved and saved[0] == party_id and saved[1] == amount else None
        if suggestion is not None:
            st.info(f"Suggested ({suggestion.method}): {md(suggestion.explanation)} Edit the amounts before posting.")
        invoices = _open(party_id)
        with st.form("pay_form"):
            if invoices:
                entered = _allocation_inputs(invoices, prefix="pay_apply")
            else:
                entered = {}
                st.caption("No open invoices: the whole receipt stays unapplied.")
            post = st.form_submit_button("Post receipt", type="primary", icon=":material/savings:")
        # The same check twice is nearly always a mistake: a receipt of this party with this reference asks first.
        duplicate_ok = False
        same = [r for r in _receipts(party_id, False) if reference.strip() and not r.voided
                and r.reference.strip().lower() == reference.strip().lower()]
        if same:
            st.warning(f"{same[0].number} ({money(same[0].amount)}, received {same[0].received_date}) "
                       f"already has the reference {md(reference.strip())}.", icon=":material/content_copy:")
            duplicate_ok = st.checkbox("It is another payment: post it anyway", key="pay_duplicate_ok")
        if post and same and not duplicate_ok:
            st.error("Not posted: tick the box above if this is another payment with the same reference.",
                     icon=":material/error:")
        elif post:
            def _post():
                with writing() as s:
                    r = post_receipt(s, party_id=party_id, amount=amount, received_date=received, method=method,
                                     reference=reference, note=note, allocations=entered, actor=actor(),
                                     request_key=request_key("receipt"))
                    return r.number, r.amount, r.unapplied

            posted = attempt(_post, once="receipt")
            if posted:
                st.session_state.pop("pay_suggestion", None)
                number, total, unapplied = posted
                st.session_state["pay_posted"] = (f"Receipt {receipt_number(number)} posted for {money(total)}; "
                                                  f"{money(unapplied)} unapplied.")
                st.rerun()

with tab_list:
    only_unapplied = st.toggle("Only receipts with unapplied money", key="pay_only_unapplied")
    offset = st.session_state.get("pay_list_offset", 0)
    receipts = _receipts(party_id, only_unapplied, offset, PAGE_SIZE + 1)
    more = len(receipts) > PAGE_SIZE
    receipts = receipts[:PAGE_SIZE]
    table([{"Receipt": r.number, "Amount": r.amount, "Unapplied": r.unapplied, "Received": r.received_date,
            "Status": f"voided: {r.void_reason}" if r.voided else "posted", "Applied": r.applied,
            "Refunded": r.refunded, "Method": r.method, "Reference": r.reference} for r in receipts],
          money_columns=["Amount", "Applied", "Refunded", "Unapplied"], date_columns=["Received"], csv_name="receipts")
    live = [r for r in receipts if not r.voided]
    totals_line([("Received", sum((r.amount for r in live), start=Decimal("0.00"))),
                 ("Unapplied", sum((r.unapplied for r in live), start=Decimal("0.00")))])
    newer_older(key="pay_list_offset", has_more=more)

if tab_apply is not None:
    with tab_apply:
        sources = _unapplied_sources(party_id)
        if not sources:
            st.caption("This party has no unapplied money.")
        else:
            source = st.selectbox("Unapplied money from", list(sources), format_func=sources.get, key="pay_source")
            with st.form("pay_allocate_form"):
                entered = _allocation_inputs(_open(party_id), prefix="pay_alloc")
                apply = st.form_submit_button("Allocate", type="primary")
            if apply:
                def _apply():
                    with writing() as s:
                        if source[0] == "receipt":
                            allocate_receipt(s, receipt_id=source[1], allocations=entered, actor=actor(),
                                             request_key=request_key("allocate"))
                        else:
                            allocate_credit(s, credit_memo_id=source[1], allocations=entered, actor=actor(),
                                            request_key=request_key("allocate"))
                    return True

                if attempt(_apply, once="allocate"):
                    _changed()
                    st.success("Allocated.")

if tab_unapply is not None:
    with tab_unapply:
        # Money put on the wrong invoice goes back to unapplied; the receipt (or credit memo) stays as it was posted.
        unapplied_msg = st.session_state.pop("pay_unapplied_msg", None)
        if unapplied_msg:
            clear_fields({"pay_unapply_reason": ""})
            st.success(unapplied_msg, icon=":material/check_circle:")
        live = {a.allocation_id: a for a in _allocations(party_id) if a.kind != "write-off"}
        if not live:
            st.caption("Nothing of this party's money is applied to an invoice.")
        else:
            with st.form("pay_unapply_form"):
                allocation_id = st.selectbox(
                    "Allocation", list(live), index=None, key="pay_unapply_id",
                    format_func=lambda i: f"{live[i].source} → {live[i].invoice_number} · {plain_money(live[i].amount)} · "
                                          f"applied {live[i].applied_on}")
                why = st.text_input("Reason", key="pay_unapply_reason", placeholder="Applied to the wrong invoice")
                go = st.form_submit_button("Un-apply", icon=":material/undo:")
            if go:
                if allocation_id is None:
                    st.error("Choose the allocation to un-apply.")
                else:
                    chosen = live[allocation_id]

                    def _unapply(allocation_id=allocation_id, why=why):
                        with writing() as s:
                            unapply_allocation(s, allocation_id=allocation_id, reason=why, actor=actor(),
                                               request_key=request_key("unapply"))
                        return True

                    if attempt(_unapply, once="unapply"):
                        _changed()
                        st.session_state["pay_unapplied_msg"] = (
                            f"{plain_money(chosen.amount)} of {chosen.source} taken back from {chosen.invoice_number}; "
                            "it is unapplied again.")
                        st.rerun()

if tab_refund is not None:
    with tab_refund:
        refunded_msg = st.session_state.pop("pay_refunded_msg", None)
        if refunded_msg:
            clear_fields({"pay_refund_amount": "", "pay_refund_reference": ""})
            st.success(refunded_msg, icon=":material/check_circle:")
        sources = _unapplied_sources(party_id)
        if not sources:
            st.caption("This party has no unapplied money to refund.")
        else:
            with st.form("pay_refund_form"):
                source = st.selectbox("Refund from", list(sources), format_func=sources.get, key="pay_refund_source")
                r1, r2, r3 = st.columns(3)
                amount = r1.text_input("Amount", key="pay_refund_amount", placeholder="all that is unapplied")
                method = r2.selectbox("Method", RECEIPT_METHODS, key="pay_refund_method")
                reference = r3.text_input("Reference", key="pay_refund_reference", placeholder="check number")
                go = st.form_submit_button("Refund", icon=":material/currency_exchange:")
            if go:
                left = {**{("receipt", r.receipt_id): r.unapplied for r in _receipts(party_id, True)},
                        **{("memo", m.credit_memo_id): m.unapplied for m in _memos(party_id)}}

                def _refund(source=source, amount=amount.strip() or f"{left.get(source, 0):.2f}", method=method,
                            reference=reference):
                    with writing() as s:
                        made = refund(s, receipt_id=source[1] if source[0] == "receipt" else None,
                                      credit_memo_id=source[1] if source[0] == "memo" else None, amount=amount,
                                      method=method, reference=reference, actor=actor(),
                                      request_key=request_key("refund"))
                        return refund_number(made.number), made.amount

                made = attempt(_refund, once="refund")
                if made:
                    _changed()
                    st.session_state["pay_refunded_msg"] = f"Refund {made[0]} of {money(made[1])} recorded."
                    st.rerun()
        refunds = _refunds(party_id)
        if refunds:
            st.caption("Refunds of this party")
            table([{"Refund": r.number, "Amount": r.amount, "From": r.source, "Refunded": r.refunded_on,
                    "Method": r.method, "Reference": r.reference, "By": r.created_by} for r in refunds],
                  money_columns=["Amount"], date_columns=["Refunded"])

if tab_void is not None:
    with tab_void:
        voidable = {r.receipt_id: f"{r.number} · {r.received_date} · {plain_money(r.amount)} · {r.reference}"
                    for r in _receipts(party_id, False) if not r.voided}
        with st.form("pay_void_form"):
            receipt_id = st.selectbox("Receipt", list(voidable), format_func=voidable.get, index=None, key="pay_void_id")
            reason = st.text_input("Reason", key="pay_void_reason", placeholder="Check returned NSF")
            confirm = st.checkbox("Reverse every allocation of this receipt", key="pay_void_confirm")
            void = st.form_submit_button("Void receipt", icon=":material/block:")
        if void:
            if receipt_id is None or not confirm:
                st.error("Choose a receipt and tick the confirmation to void it.")
            else:
                def _void():
                    with writing() as s:
                        return void_receipt(s, receipt_id=receipt_id, reason=reason, actor=actor(),
                                            request_key=request_key("void")).number

                number = attempt(_void, once="void")
                if number:
                    _changed()
                    st.success(f"Receipt {receipt_number(number)} voided; its allocations were reversed.")
