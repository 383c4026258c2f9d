"""What a manager reads on every page: figures, rows and messages, checked against SQL over the raw rows.

The demo practice for the figures, an empty database for the first start, and the billing-off banner
on every page (and on none while billing is on).
"""

from __future__ import annotations

import json
from datetime import UTC, date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa

from core import (
    aging_report,
    clock,
    collections_by_month,
    create_on_demand_batch,
    days_to_pay,
    invoices_by_month,
    preview_on_demand_batch,
    search_parties,
    set_invoice_billing,
)
from core.models import Allocation, AuditRecord, Batch, BatchItem, CreditMemo, Group, Party, Receipt
from tests.pages.conftest import (
    PAGES,
    app,
    banner_count,
    charts_by_key,
    db,
    dollars,
    ledger,
    metrics,
    plain,
    practice_clock,
    receipt_applied,
)


def _aware(moment):
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _send_something_today(url: str, *, prefer: list[int] | None = None) -> int:
    """An on-demand batch made now for a party with encounters left: an open invoice not yet due."""
    with db(url) as s:
        candidates = [*(prefer or []), *(p.id for p in search_parties(s, limit=100))]
        party_id = next(pid for pid in candidates if preview_on_demand_batch(s, party_id=pid).encounter_count)
        create_on_demand_batch(s, party_id=party_id, internal_note="made by the test", actor="test.manager")
    return party_id


def test_dashboard_headline_figures_are_sums_over_the_raw_rows(demo_any, demo_next_day):
    _send_something_today(demo_any)
    with db(demo_any) as s:
        today, now = clock.today(s), clock.now()
        books = [x for x in ledger(s).values() if x.balance > 0]
        overdue = [x for x in books if x.due < today]
        applied = receipt_applied(s)
        receipts = s.execute(sa.select(Receipt.id, Receipt.amount_cents, Receipt.received_date, Receipt.voided)).all()
        memo_applied = dict(s.execute(sa.select(Allocation.credit_memo_id, sa.func.sum(Allocation.amount_cents))
                                      .where(Allocation.live == sa.true(), Allocation.credit_memo_id.is_not(None))
                                      .group_by(Allocation.credit_memo_id)).all())
        memos = s.execute(sa.select(CreditMemo.id, CreditMemo.amount_cents)).all()
        batches = s.execute(sa.select(Batch.number, Batch.created_at)).all()
        items = s.execute(sa.select(BatchItem.batch_id, BatchItem.balance_cents, Batch.number)
                          .join(Batch, Batch.id == BatchItem.batch_id)).all()
        last = max(batches, key=lambda b: (_aware(b.created_at), b.number))
        last_made = practice_clock(last.created_at, s)
    live = [r for r in receipts if not r.voided]
    paid_30 = sum(r.amount_cents for r in live if today - timedelta(days=30) < r.received_date <= today)
    unapplied = (sum(r.amount_cents - applied.get(r.id, 0) for r in live)
                 + sum(m.amount_cents - memo_applied.get(m.id, 0) for m in memos))
    assert overdue and len(overdue) < len(books) and paid_30 > 0 and unapplied > 0, "the scenario shows every figure"

    at = app("pages/dashboard.py")
    assert metrics(at) == {
        "Open invoices": f"{len(books):,}",
        "Open balance": dollars(sum(x.balance for x in books)),
        "Overdue": dollars(sum(x.balance for x in overdue)),
        "Paid, last 30 days": dollars(paid_30),
        "Unapplied money": dollars(unapplied),
        "Last batch": f"stb {last.number}",
    }
    # The aging chart's bars add up to the open balance; every money axis starts at $0 and hovers in dollars.
    drawn = charts_by_key(at)
    months, aging = drawn["dash_months"], drawn["dash_aging"]
    assert round(sum(aging["data"][0]["y"]) * 100) == sum(x.balance for x in books)
    shown = dict(zip(months["data"][1]["customdata"], months["data"][1]["y"], strict=True))
    assert shown and all(round(y * 100) == sum(x.balance for x in books if f"{x.first_sent:%B %Y}" == month)
                         for month, y in shown.items())
    for chart in (months, aging):
        assert chart["layout"]["yaxis"]["rangemode"] == "tozero" and chart["layout"]["yaxis"]["tickprefix"] == "$"
        assert all("$%{y:,.2f}" in trace["hovertemplate"] for trace in chart["data"])
    assert aging["data"][0]["x"] == ["0-30", "31-60", "61-90", "91-120", "over 120"]
    overdue_metric = next(m for m in at.metric if m.label == "Overdue")
    assert overdue_metric.proto.help == f"{len(overdue):,} invoices past due"
    day = sum(_aware(b.created_at) >= now - timedelta(hours=24) for b in batches)
    week = sum(_aware(b.created_at) >= now - timedelta(days=7) for b in batches)
    assert day == 1 and week > day
    assert f"Batches: {day} in the last 24 hours, {week} in the last 7 days; last made {last_made}" in plain(at.caption)
    # Recent batches: the eight newest, each with its invoices and the balance it sent.
    recent = at.dataframe[0].value
    newest = sorted((b.number for b in batches), reverse=True)[:8]
    assert list(recent["Batch"]) == newest
    assert list(recent["Invoices"]) == [sum(1 for i in items if i.number == n) for n in newest]
    assert list(recent["Total"]) == [Decimal(sum(i.balance_cents for i in items if i.number == n)) / 100
                                     for n in newest]


def test_batch_history_lists_the_newest_batches_and_a_batchs_items(demo_any):
    with db(demo_any) as s:
        rows = s.execute(sa.select(Batch.id, Batch.number, Batch.kind, Batch.created_at, Batch.internal_note)
                         .order_by(Batch.number.desc()).limit(50)).all()
        items = s.execute(sa.select(BatchItem.batch_id, BatchItem.invoice_id, BatchItem.invoice_number,
                                    BatchItem.balance_cents).order_by(BatchItem.id)).all()
        created = [practice_clock(r.created_at, s) for r in rows]
        books = ledger(s)
    at = app("pages/batches.py")
    listing = at.dataframe[0].value
    assert list(listing["Batch"]) == [r.number for r in rows]
    assert list(listing["Kind"]) == [r.kind for r in rows]
    assert list(listing["Created"]) == created
    assert list(listing["Internal note"]) == [r.internal_note for r in rows]
    assert list(listing["Invoices"]) == [sum(1 for i in items if i.batch_id == r.id) for r in rows]
    assert list(listing["Total"]) == [Decimal(sum(i.balance_cents for i in items if i.batch_id == r.id)) / 100
                                      for r in rows]
    # The newest batch with a paid and an open invoice, opened by its link: its items and live balances.
    def mixed(r):
        own = [books[i.invoice_id].balance for i in items if i.batch_id == r.id]
        return 0 in own and any(own)

    opened = next(r for r in rows if mixed(r))
    at = app("pages/batches.py", batch=str(opened.number))
    assert f"Invoice Batch Items: stb {opened.number}" in plain(at.subheader)
    shown = at.dataframe[1].value
    own = [i for i in items if i.batch_id == opened.id]
    assert list(shown["Invoice"]) == [i.invoice_number for i in own]
    assert list(shown["Balance when sent"]) == [Decimal(i.balance_cents) / 100 for i in own]
    assert list(shown["Balance now"]) == [Decimal(books[i.invoice_id].balance) / 100 for i in own]
    assert list(shown["Status now"]) == ["Paid" if books[i.invoice_id].balance == 0 else "Open" for i in own]


def _days_to_pay(s, party_id: int, books) -> str:
    """Mean days from first sending to the last receipt that paid each paid invoice, whole days."""
    r, a = Receipt.__table__, Allocation.__table__
    paid_on = dict(s.execute(sa.select(a.c.invoice_id, sa.func.max(r.c.received_date)).join(r, r.c.id == a.c.receipt_id)
                             .where(a.c.live == sa.true()).group_by(a.c.invoice_id)).all())
    days = [max(0, (paid_on[x.invoice_id] - x.first_sent).days) for x in books.values()
            if x.party_id == party_id and x.balance == 0 and x.invoice_id in paid_on]
    if not days:
        return "n/a"
    return str((Decimal(sum(days)) / len(days)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def test_employer_dashboard_shows_a_partys_balance_and_history(demo_any):
    with db(demo_any) as s:
        credited = s.execute(sa.select(CreditMemo.party_id).order_by(CreditMemo.id)).scalars().all()
        prepaid = s.execute(sa.select(Receipt.party_id).where(Receipt.reference == "CHK 77120")).scalar_one()
    # A credited party, with an invoice sent today so the overdue flag is not on every row.
    fresh = _send_something_today(demo_any, prefer=credited)
    for party_id in dict.fromkeys([fresh, prepaid]):
        with db(demo_any) as s:
            today = clock.today(s)
            books = ledger(s)
            party = s.get(Party, party_id)
            open_ = [x for x in books.values() if x.party_id == party_id and x.balance > 0]
            applied = receipt_applied(s)
            receipts = s.execute(sa.select(Receipt).where(Receipt.party_id == party_id, Receipt.voided == sa.false())
                                 .order_by(Receipt.received_date.desc(), Receipt.id.desc())).scalars().all()
            memos = s.execute(sa.select(CreditMemo.id, CreditMemo.amount_cents)
                              .where(CreditMemo.party_id == party_id)).all()
            memo_applied = {m.id: s.execute(sa.select(sa.func.coalesce(sa.func.sum(Allocation.amount_cents), 0)).where(
                Allocation.credit_memo_id == m.id, Allocation.live == sa.true())).scalar_one() for m in memos}
            items = s.execute(sa.select(BatchItem.invoice_id, BatchItem.invoice_number, BatchItem.sent_on,
                                        Batch.number, Batch.kind).join(Batch, Batch.id == BatchItem.batch_id)
                              .where(BatchItem.party_id == party_id).order_by(BatchItem.id.desc())).all()
            days_to_pay = _days_to_pay(s, party_id, books)
        unapplied = (sum(r.amount_cents - applied.get(r.id, 0) for r in receipts)
                     + sum(m.amount_cents - memo_applied[m.id] for m in memos))
        at = app("pages/employer.py", party_id=str(party_id), status="All")
        assert any(f"**{party.name}** · {party.account_code}" in t for t in plain(at.markdown))
        assert metrics(at) == {
            "Open balance": dollars(sum(x.balance for x in open_)),
            "Unapplied money": dollars(unapplied),
            "Last payment": dollars(receipts[0].amount_cents) if receipts else "none",
            "Last payment on": str(receipts[0].received_date) if receipts else "never",
            "Average days to pay": days_to_pay,
        }
        history = at.dataframe[0].value
        assert len(items) <= 50, "one page of history"
        assert list(history["Invoice"]) == [i.invoice_number for i in items]
        assert list(history["Batch"]) == [f"stb {i.number}" for i in items]
        assert list(history["Kind"]) == [i.kind for i in items]
        assert list(history["Sent"]) == [i.sent_on for i in items]
        ledger_rows = [books[i.invoice_id] for i in items]
        assert list(history["Billed"]) == [Decimal(x.billed) / 100 for x in ledger_rows]
        assert list(history["Payments"]) == [Decimal(x.payments) / 100 for x in ledger_rows]
        assert list(history["Credits"]) == [Decimal(x.credits) / 100 for x in ledger_rows]
        assert list(history["Balance"]) == [Decimal(x.balance) / 100 for x in ledger_rows]
        assert list(history["Status"]) == ["Paid" if x.balance == 0 else "Open" for x in ledger_rows]
        flags = [", ".join(name for name, on in (("partially paid", x.payments > 0 and x.balance > 0),
                                                 ("credited", x.credits > 0),
                                                 ("overdue", x.balance > 0 and x.due < today)) if on)
                 for x in ledger_rows]
        assert list(history["Flags"]) == flags
        if party_id == fresh:
            assert "credited" in " ".join(flags) and "" in flags and any("overdue" in f for f in flags)


def test_payments_lists_receipts_with_what_is_left_unapplied(demo_any):
    with db(demo_any) as s:
        applied = receipt_applied(s)
        rows = s.execute(sa.select(Receipt, Party.name).join(Party, Party.id == Receipt.party_id)
                         .order_by(Receipt.received_date.desc(), Receipt.id.desc())).all()
        prepaid = next(r for r, _ in rows if r.reference == "CHK 77120")
    unapplied = [0 if r.voided else r.amount_cents - applied.get(r.id, 0) for r, _ in rows]
    at = app("pages/payments.py")
    everyone = at.dataframe[0].value
    shown = min(len(rows), 200)
    assert list(everyone["Receipt"]) == [f"RCT-{r.number:06d}" for r, _ in rows][:shown]
    assert list(everyone["Party"]) == [name for _, name in rows][:shown]
    assert list(everyone["Amount"]) == [Decimal(r.amount_cents) / 100 for r, _ in rows][:shown]
    assert list(everyone["Unapplied"]) == [Decimal(c) / 100 for c in unapplied][:shown]
    assert list(everyone["Status"]) == ["voided" if r.voided else "posted" for r, _ in rows][:shown]
    waiting = [f"RCT-{r.number:06d} ({name}, {dollars(c)})" for (r, name), c in zip(rows, unapplied, strict=True)
               if c > 0][:8]
    assert "Receipts with unapplied money: " + ", ".join(waiting) in plain(at.caption)

    # One party's Receipts tab: its own receipts and the totals of the live ones.
    own = [(r, c) for (r, _), c in zip(rows, unapplied, strict=True) if r.party_id == prepaid.party_id]
    at = app("pages/payments.py", party_id=str(prepaid.party_id))
    tab = at.dataframe[0].value
    assert list(tab["Receipt"]) == [f"RCT-{r.number:06d}" for r, _ in own]
    assert list(tab["Applied"]) == [Decimal(0 if r.voided else applied.get(r.id, 0)) / 100 for r, _ in own]
    assert list(tab["Unapplied"]) == [Decimal(c) / 100 for _, c in own]
    received = sum(r.amount_cents for r, _ in own if not r.voided)
    assert f"Received: {dollars(received)} · Unapplied: {dollars(sum(c for _, c in own))}" in " ".join(
        plain(at.caption)).replace("*", "")


def test_audit_log_lists_the_newest_records(demo_any):
    with db(demo_any) as s:
        set_invoice_billing(s, enabled=True, actor="ana.audit")  # a record written now, by a named manager
    with db(demo_any) as s:
        rows = s.execute(sa.select(AuditRecord).order_by(AuditRecord.id.desc()).limit(50)).scalars().all()
        when = [practice_clock(r.at, s) for r in rows]
    at = app("pages/audit.py")
    log = at.dataframe[0].value
    assert list(log["When"]) == when
    assert list(log["Who"]) == [r.actor for r in rows]
    assert list(log["What"]) == [r.action for r in rows]
    # Records are named as a manager knows them (a number or a code), details read as words: no ids, no Python.
    assert "Ids" not in log.columns
    assert log["Who"][0] == "ana.audit" and log["Details"][0] == "Before: on; After: on"
    assert not any(mark in text for text in log["Details"] for mark in ("{", "[", "_", "': "))
    batches = [r for r in rows if r.action.startswith(("batch.", "receipt.", "credit_memo."))]
    assert batches and all(str(json.loads(r.detail)["number"]) in record for r, record in zip(rows, log["Record"], strict=True)
                       if r in batches)


def test_every_page_on_an_empty_database_says_what_to_do_first(empty_db):
    at = app()
    assert [t.value for t in at.title] == ["Welcome to Invoice Desk"]
    assert any("This database has no bill-to parties yet" in t for t in plain(at.markdown))
    assert [b.label for b in at.button if b.label == "Load the demo practice"]
    expected = {
        "pages/dashboard.py": ("info", "No batches yet. Create the first one below."),
        "pages/batches.py": ("info", "Choose a batch to see its Invoice Batch Items."),
        "pages/employer.py": ("info", "Choose a bill-to party to see its balance and Invoice History."),
        "pages/payments.py": ("info", "Choose the party that paid to post a receipt, allocate its unapplied money "
                                      "or void a receipt."),
        "pages/settings.py": ("caption", "No profile yet: the first batch uses a plain default."),
        "pages/audit.py": ("caption", "No audit records match these filters."),
    }
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception and not at.error, (page, [e.value for e in at.exception], plain(at.error))
        kind, text = expected[page]
        assert text in plain(getattr(at, kind)), (page, plain(getattr(at, kind)))
        assert all(len(frame.value) == 0 for frame in at.dataframe), page
    at.switch_page("pages/dashboard.py").run()
    assert metrics(at) == {"Open invoices": "0", "Open balance": "$0.00", "Overdue": "$0.00",
                           "Paid, last 30 days": "$0.00", "Unapplied money": "$0.00", "Last batch": "none"}
    # Empty charts say why, with no axes drawn around nothing (they were at $-1 to $1). A tab's charts are drawn
    # when it is open (issue 16), so each tab is opened in turn.
    empty = charts_by_key(at)
    assert [t.label for t in at.tabs] == ["Aging by group", "Days to pay", "Rebatching"]
    for tab in ("Days to pay", "Rebatching"):
        at.session_state["dash_tab"] = tab
        empty |= charts_by_key(at.run())
    assert {key: c["layout"]["annotations"][0]["text"] for key, c in empty.items()} == {
        "dash_months": "No invoices sent in these months yet",
        "dash_collections": "No money received in these months yet",
        "dash_aging": "Nothing is open: no balance to age",
        "dash_debtors": "Nothing is open: no balance to age",
        "dash_days": "No invoice was paid off in these months yet",
        "dash_days_trend": "No invoice was paid off in these months yet",
        "dash_resends": "No invoice was resent with a balance in these months",
        "dash_sendings": "No invoice was resent with a balance in these months",
        "dash_groups": "Nothing is open: no balance to age",
    }
    assert all(not c["data"] and c["layout"]["yaxis"]["visible"] is False for c in empty.values())


def test_billing_off_banner_on_every_page_and_on_none_while_on(demo_db):
    at = app()
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception and banner_count(at) == 0, page
    with db(demo_db) as s:
        set_invoice_billing(s, enabled=False, actor="test.manager")
    at = app()
    assert banner_count(at) == 1, "the first page a manager lands on"
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, page
        assert banner_count(at) == 1, f"no billing-off banner on {page}"
        assert any("Settings > Invoice billing" in t for t in plain(at.warning)), page


def test_dashboard_charts_follow_the_months_and_group_chosen(demo_any, demo_next_day):
    """The chart filters: a group's charts hold only its parties' money (core's reports for that group, which
    tests/test_report_queries.py checks against the raw rows); months from a later month draw fewer months."""
    with db(demo_any) as s:
        today = clock.today(s)
        group = s.execute(sa.select(Group).order_by(Group.id)).scalars().first()
        group_aging = aging_report(s, by="total", as_of=today, group_id=group.id)[0]
        group_months = invoices_by_month(s, today=today, months=12, group_id=group.id)
        whole = aging_report(s, by="total", as_of=today)[0]
        debtors = aging_report(s, by="party", as_of=today, group_id=group.id, limit=10)
        group_days = days_to_pay(s, today=today, months=12, group_id=group.id)
    at = app("pages/dashboard.py")
    drawn = charts_by_key(at)
    assert round(sum(drawn["dash_aging"]["data"][0]["y"]) * 100) == int(whole.total * 100)
    assert len(drawn["dash_months"]["data"][0]["x"]) == 12

    at.selectbox(key="dash_chart_group").select(group.id).run()
    assert not at.exception
    drawn = charts_by_key(at)
    assert round(sum(drawn["dash_aging"]["data"][0]["y"]) * 100) == int(group_aging.total * 100) < int(
        whole.total * 100)
    assert [round(y * 100) for y in drawn["dash_months"]["data"][1]["y"]] == [int(m.open * 100)
                                                                            for m in group_months]
    assert [round(y * 100) for y in drawn["dash_months"]["data"][2]["y"]] == [int(m.open_balance * 100)
                                                                            for m in group_months]
    shown = set(drawn["dash_debtors"]["data"][0]["customdata"])
    assert shown == {d.name for d in debtors} and shown
    # The tabs follow the group too; only the open tab's charts are read and drawn.
    assert "dash_groups" in drawn and not {"dash_days", "dash_resends"} & set(drawn)
    at.session_state["dash_tab"] = "Days to pay"
    drawn = charts_by_key(at.run())
    assert "dash_groups" not in drawn and {"dash_days", "dash_days_trend"} <= set(drawn)
    assert sum(drawn["dash_days"]["data"][0]["y"]) == group_days.invoices
    at.session_state["dash_tab"] = "Aging by group"
    at.run()
    # The headline figures stay practice-wide; only the charts follow the group.
    assert metrics(at)["Open balance"] == dollars(int(whole.total * 100))

    at.date_input(key="dash_from").set_value(today.replace(day=1) - timedelta(days=1)).run()
    drawn = charts_by_key(at)
    assert len(drawn["dash_months"]["data"][0]["x"]) == 2 and len(drawn["dash_collections"]["data"][0]["x"]) == 2
    assert [round(y * 100) for y in drawn["dash_months"]["data"][1]["y"]] == [int(m.open * 100)
                                                                            for m in group_months[-2:]]


def test_employer_dashboard_charts_for_the_months_chosen(demo_any, demo_next_day):
    with db(demo_any) as s:
        today = clock.today(s)
        debtor = aging_report(s, by="party", as_of=today, limit=1)[0]
        months = invoices_by_month(s, today=today, months=12, party_id=debtor.key)
        received = collections_by_month(s, today=today, months=12, party_id=debtor.key)
    at = app("pages/employer.py", party_id=str(debtor.key))
    drawn = charts_by_key(at)
    assert set(drawn) == {"emp_aging", "emp_months", "emp_collections", "emp_days"}
    assert round(sum(drawn["emp_aging"]["data"][0]["y"]) * 100) == int(debtor.total * 100)
    assert [round(y * 100) for y in drawn["emp_months"]["data"][0]["y"]] == [int(m.paid_or_credited * 100)
                                                                           for m in months]
    assert [round(y * 100) for y in drawn["emp_collections"]["data"][0]["y"]] == [int(m.applied * 100)
                                                                                for m in received]
    at.date_input(key="emp_from").set_value(date(today.year - 1, today.month, 1)).run()
    assert not at.exception
    assert len(charts_by_key(at)["emp_months"]["data"][0]["x"]) == 13
