"""The money ledger's invariants, checked in plain SQL after a race (issue 9) and after every step of the property
tests (write-offs, refunds and un-applies too, issue 12), independent of core's code.

Each check is a query that returns the rows that break it; `ledger_problems` names every such row.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

CHECKS = {
    "encounter on two live invoice lines":
        "SELECT encounter_id FROM invoice_line WHERE live = :t GROUP BY encounter_id HAVING count(*) > 1",
    "suffixes of an invoice not 1..n":
        "SELECT i.id FROM invoice i JOIN batch_item b ON b.invoice_id = i.id GROUP BY i.id, i.times_batched "
        "HAVING count(*) <> i.times_batched OR min(b.times_batched) <> 1 OR max(b.times_batched) <> i.times_batched "
        "OR count(DISTINCT b.times_batched) <> count(*)",
    "invoice payments differ from its live receipt allocations":
        "SELECT i.id FROM invoice i WHERE i.payments_cents <> (SELECT coalesce(sum(a.amount_cents), 0) "
        "FROM allocation a WHERE a.invoice_id = i.id AND a.live = :t AND a.receipt_id IS NOT NULL)",
    "invoice credits differ from its live credit allocations":
        "SELECT i.id FROM invoice i WHERE i.credits_cents <> (SELECT coalesce(sum(a.amount_cents), 0) "
        "FROM allocation a WHERE a.invoice_id = i.id AND a.live = :t AND a.credit_memo_id IS NOT NULL)",
    "invoice write-offs differ from its live write-off allocations":
        "SELECT i.id FROM invoice i WHERE i.writeoffs_cents <> (SELECT coalesce(sum(a.amount_cents), 0) "
        "FROM allocation a WHERE a.invoice_id = i.id AND a.live = :t AND a.write_off_id IS NOT NULL)",
    "balance is not billed - payments - credits - write-offs, or below zero":
        "SELECT id FROM invoice WHERE balance_cents <> billed_cents - payments_cents - credits_cents - writeoffs_cents "
        "OR balance_cents < 0",
    "paid flag differs from a zero balance":
        "SELECT id FROM invoice WHERE (paid = :t) <> (balance_cents = 0)",
    "billed differs from the sum of the invoice's lines":
        "SELECT i.id FROM invoice i WHERE i.billed_cents <> (SELECT coalesce(sum(l.amount_cents), 0) "
        "FROM invoice_line l WHERE l.invoice_id = i.id) OR i.encounter_count <> (SELECT count(*) "
        "FROM invoice_line l WHERE l.invoice_id = i.id)",
    "invoice without lines":
        "SELECT i.id FROM invoice i WHERE NOT EXISTS (SELECT 1 FROM invoice_line l WHERE l.invoice_id = i.id)",
    "batch without items, or its count wrong":
        "SELECT b.id FROM batch b WHERE b.invoice_count <> (SELECT count(*) FROM batch_item x WHERE x.batch_id = b.id) "
        "OR NOT EXISTS (SELECT 1 FROM batch_item x WHERE x.batch_id = b.id)",
    "receipt applied differs from its live allocations":
        "SELECT r.id FROM receipt r WHERE r.applied_cents <> (SELECT coalesce(sum(a.amount_cents), 0) "
        "FROM allocation a WHERE a.receipt_id = r.id AND a.live = :t) OR r.applied_cents > r.amount_cents",
    "voided receipt with money still applied":
        "SELECT r.id FROM receipt r WHERE r.voided = :t AND r.applied_cents <> 0",
    "credit memo applied differs from its live allocations":
        "SELECT m.id FROM credit_memo m WHERE m.applied_cents <> (SELECT coalesce(sum(a.amount_cents), 0) "
        "FROM allocation a WHERE a.credit_memo_id = m.id AND a.live = :t) OR m.applied_cents > m.amount_cents",
    "receipt refunded differs from its refunds, or applied + refunded above its amount":
        "SELECT r.id FROM receipt r WHERE r.refunded_cents <> (SELECT coalesce(sum(f.amount_cents), 0) "
        "FROM refund f WHERE f.receipt_id = r.id) OR r.applied_cents + r.refunded_cents > r.amount_cents",
    "credit memo refunded differs from its refunds, or applied + refunded above its amount":
        "SELECT m.id FROM credit_memo m WHERE m.refunded_cents <> (SELECT coalesce(sum(f.amount_cents), 0) "
        "FROM refund f WHERE f.credit_memo_id = m.id) OR m.applied_cents + m.refunded_cents > m.amount_cents",
    "refund of another party's money, or from no source or two":
        "SELECT f.id FROM refund f LEFT JOIN receipt r ON r.id = f.receipt_id "
        "LEFT JOIN credit_memo m ON m.id = f.credit_memo_id "
        "WHERE (r.id IS NULL) = (m.id IS NULL) OR coalesce(r.party_id, m.party_id) <> f.party_id",
    "write-off allocation reversed":
        "SELECT a.id FROM allocation a WHERE a.write_off_id IS NOT NULL "
        "AND (a.live <> :t OR a.reversed_at IS NOT NULL OR a.reversed_on IS NOT NULL)",
    "write-off is not one allocation of its amount on its own invoice":
        "SELECT w.id FROM write_off w WHERE (SELECT count(*) FROM allocation a WHERE a.write_off_id = w.id) <> 1 "
        "OR NOT EXISTS (SELECT 1 FROM allocation a JOIN invoice i ON i.id = a.invoice_id WHERE a.write_off_id = w.id "
        "AND a.invoice_id = w.invoice_id AND a.amount_cents = w.amount_cents AND i.party_id = w.party_id)",
    "credit memo lines on one invoice line above that line's amount":
        "SELECT l.invoice_line_id FROM credit_memo_line l JOIN invoice_line il ON il.id = l.invoice_line_id "
        "GROUP BY l.invoice_line_id, il.amount_cents HAVING sum(l.amount_cents) > il.amount_cents",
    "invoice line credited whole still live, or taken off without a whole credit":
        "SELECT il.id FROM invoice_line il WHERE (il.live = :t) = EXISTS (SELECT 1 FROM credit_memo_line l "
        "WHERE l.invoice_line_id = il.id AND l.whole = :t)",
    "credit memo without lines, or its amount differs from them":
        "SELECT m.id FROM credit_memo m WHERE m.amount_cents <> (SELECT coalesce(sum(l.amount_cents), 0) "
        "FROM credit_memo_line l WHERE l.credit_memo_id = m.id) OR NOT EXISTS "
        "(SELECT 1 FROM credit_memo_line l WHERE l.credit_memo_id = m.id)",
    "allocation to another party's invoice":
        "SELECT a.id FROM allocation a JOIN invoice i ON i.id = a.invoice_id "
        "LEFT JOIN receipt r ON r.id = a.receipt_id LEFT JOIN credit_memo m ON m.id = a.credit_memo_id "
        "LEFT JOIN write_off w ON w.id = a.write_off_id "
        "WHERE coalesce(r.party_id, m.party_id, w.party_id) <> i.party_id",
    "invoice line amount differs from its encounter's total when invoiced and unchanged since":
        "SELECT l.id FROM invoice_line l JOIN encounter e ON e.id = l.encounter_id "
        "WHERE l.live = :t AND l.amount_cents <> e.total_cents",
    "encounter total differs from its charge lines":
        "SELECT e.id FROM encounter e WHERE e.total_cents <> (SELECT coalesce(sum(c.amount_cents), 0) "
        "FROM charge_line c WHERE c.encounter_id = e.id)",
    "a number used twice":
        "SELECT invoice_number FROM batch_item GROUP BY invoice_number HAVING count(*) > 1 "
        "UNION ALL SELECT number FROM invoice GROUP BY number HAVING count(*) > 1",
    "a numbering series behind the numbers in use":
        "SELECT s.name FROM number_sequence s WHERE s.last_value < CASE s.name "
        "WHEN 'batch' THEN (SELECT coalesce(max(number), 0) FROM batch) "
        "WHEN 'invoice' THEN (SELECT coalesce(max(seq), 0) FROM invoice) "
        "WHEN 'receipt' THEN (SELECT coalesce(max(number), 0) FROM receipt) "
        "WHEN 'credit_memo' THEN (SELECT coalesce(max(number), 0) FROM credit_memo) "
        "WHEN 'write_off' THEN (SELECT coalesce(max(number), 0) FROM write_off) "
        "WHEN 'refund' THEN (SELECT coalesce(max(number), 0) FROM refund) ELSE 0 END",
}


def ledger_problems(engine: Engine) -> list[str]:
    """Every row that breaks an invariant, as 'check: ids'; empty when the books agree."""
    problems = []
    with engine.connect() as conn:
        for name, query in CHECKS.items():
            params = {"t": True} if ":t" in query else {}
            rows = [str(r[0]) for r in conn.execute(sa.text(query), params)]
            if rows:
                problems.append(f"{name}: {', '.join(rows[:20])}{' ...' if len(rows) > 20 else ''}")
    return problems


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()  # noqa: S608 - fixed names
                for t in ("batch", "invoice", "batch_item", "receipt", "allocation", "credit_memo", "write_off",
                          "refund", "encounter", "patient")}
