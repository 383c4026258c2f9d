"""Invoice history on a million batch items: core.invoice_history against hand-written SQL, same run.

    python benchmarks/history.py [--items 1000000] [--url sqlite:///...]

Builds the rows with bulk inserts (not through the app), then times each filter the Employer
Dashboard offers, both ways, and prints the ratio. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa  # noqa: E402
from sqlmodel import Session  # noqa: E402

from core import invoice_history, open_engine  # noqa: E402

PER_INVOICE = 4


def build(engine, items: int) -> None:
    rng = random.Random(1)
    invoices = items // PER_INVOICE
    parties = max(10, invoices // 250)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as c:
        c.execute(sa.text("INSERT INTO invoice_profile (version, remit_to_name, remit_to_address, logo_mime, footer, "
                          "terms_days, show_procedure_codes, total_by, number_prefix, created_by) VALUES "
                          "(1, 'x', '', '', '', 30, true, 'patient', 'INV-', 'bench')"))
        c.execute(sa.text("INSERT INTO party (account_code, name, kind, billable, active, contact_name, email, "
                          "address_line1, address_line2, city, state, postal_code) VALUES "
                          "(:code, :name, 'employer', true, true, '', '', '1 Main', '', 'Salem', 'OR', '97301')"),
                  [{"code": f"P{i:05d}", "name": f"Party {i}"} for i in range(parties)])
        c.execute(sa.text("INSERT INTO batch (number, kind, internal_note, profile_id, created_by, created_at, "
                          "sent_on, invoice_count, encounter_count, total_cents) VALUES "
                          "(:n, 'on-demand', '', 1, 'bench', :at, :on, 0, 0, 0)"),
                  [{"n": n, "at": now, "on": date(2026, 1, 1)} for n in range(1, PER_INVOICE + 1)])
        step = 50_000
        for start in range(0, invoices, step):
            rows = []
            for i in range(start, min(invoices, start + step)):
                billed = rng.randint(1000, 200000)
                paid = billed if rng.random() < 0.6 else 0
                rows.append({"seq": i + 1, "number": f"INV-{i + 1:07d}", "party": i % parties + 1,
                             "sent": date(2025, 1, 1) + timedelta(days=i % 365), "billed": billed, "paid": paid,
                             "balance": billed - paid, "is_paid": paid == billed, "at": now})
            c.execute(sa.text(
                "INSERT INTO invoice (seq, number, party_id, batch_id, first_sent_on, due_on, encounter_count, "
                "billed_cents, payments_cents, credits_cents, balance_cents, paid, times_batched, last_batch_id, "
                "created_at) VALUES (:seq, :number, :party, 1, :sent, :sent, 1, :billed, :paid, 0, :balance, "
                ":is_paid, 4, 4, :at)"), rows)
            c.execute(sa.text(
                "INSERT INTO batch_item (batch_id, invoice_id, party_id, times_batched, invoice_number, sent_on, "
                "billed_cents, payments_cents, credits_cents, balance_cents) "
                "SELECT t.n, i.id, i.party_id, t.n, CASE WHEN t.n = 1 THEN i.number ELSE i.number || '-' || t.n END, "
                "i.first_sent_on, i.billed_cents, 0, 0, i.billed_cents FROM invoice i "
                "CROSS JOIN (SELECT 1 AS n UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4) t "
                "WHERE i.seq > :lo AND i.seq <= :hi"), {"lo": start, "hi": start + step})
    with engine.connect() as c:
        if engine.dialect.name == "postgresql":
            c.execute(sa.text("ANALYZE"))
        else:
            c.exec_driver_sql("ANALYZE")
        c.commit()


_COLUMNS = ("SELECT bi.id, bi.invoice_id, bi.invoice_number, bi.times_batched, bi.party_id, bi.sent_on, "
            "bi.balance_cents, bi.batch_id, i.number, i.due_on, i.encounter_count, i.billed_cents, "
            "i.payments_cents, i.credits_cents, b.number, b.kind, p.name FROM batch_item bi "
            "JOIN invoice i ON i.id = bi.invoice_id JOIN batch b ON b.id = bi.batch_id "
            "JOIN party p ON p.id = bi.party_id ")
# The hand-written reference: the same rows and columns, the plainest SQL that gets them.
RAW = {
    "party, open": _COLUMNS + "WHERE bi.party_id = :party AND i.paid = false ORDER BY bi.id DESC LIMIT 100",
    "all parties, paid": _COLUMNS + "WHERE i.paid = true ORDER BY bi.id DESC LIMIT 100",
    "contains '0123-3'": _COLUMNS + "WHERE bi.invoice_number LIKE '%0123-3%' ORDER BY bi.id DESC LIMIT 100",
}
CORE = {
    "party, open": dict(party_id=7, status="open"),
    "all parties, paid": dict(status="paid"),
    "contains '0123-3'": dict(status="all", number_contains="0123-3"),
}


def timed(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_engine(args.url or f"sqlite:///{tmp}/history.db")
        start = time.perf_counter()
        build(engine, args.items)
        print(f"built {args.items:,} batch items in {time.perf_counter() - start:.0f} s on {engine.dialect.name}")
        with Session(engine) as s:
            for name, sql in RAW.items():
                raw = timed(lambda sql=sql: s.execute(sa.text(sql), {"party": 7}).all())
                core = timed(lambda kw=CORE[name]: invoice_history(s, **kw))
                rows = len(invoice_history(s, **CORE[name]))
                print(f"{name:>20}: core {core * 1000:7.1f} ms, raw SQL {raw * 1000:7.1f} ms, "
                      f"ratio {core / raw:5.1f} ({rows} rows)")
        engine.dispose()


if __name__ == "__main__":
    main()
