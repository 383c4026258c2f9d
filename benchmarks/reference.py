"""The hand-written references: plain sqlite3 or psycopg running the least SQL that does the same work as core,
on the same database in the same run. What they return is compared with core's, so a figure measures the same
rows both ways.

SQL here is written once with :name parameters; for psycopg they become %(name)s.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa


class Raw:
    """One DB-API connection to the benchmark's database."""

    def __init__(self, url: str) -> None:
        parsed = sa.engine.make_url(url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            self.conn = sqlite3.connect(parsed.database or ":memory:", isolation_level=None)
            self.conn.execute("PRAGMA busy_timeout = 30000")
        else:
            import psycopg

            # Planned for each statement's own values, as core's engine plans them (core.db.open_engine).
            self.conn = psycopg.connect(parsed.set(drivername="postgresql").render_as_string(hide_password=False),
                                        options="-c plan_cache_mode=force_custom_plan")

    def sql(self, text: str) -> str:
        return text if self.dialect == "sqlite" else re.sub(r"(?<!:):(\w+)", r"%(\1)s", text.replace("%", "%%"))

    def value(self, v):
        """A parameter as the driver stores it: SQLite keeps dates as ISO text (as SQLAlchemy writes them)."""
        if self.dialect == "sqlite" and isinstance(v, datetime):
            return v.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
        if self.dialect == "sqlite" and isinstance(v, date):
            return v.isoformat()
        return v

    def execute(self, text: str, params: dict | None = None):
        cur = self.conn.cursor()
        cur.execute(self.sql(text), {k: self.value(v) for k, v in (params or {}).items()})
        return cur

    def many(self, text: str, rows: list[dict]) -> None:
        cur = self.conn.cursor()
        cur.executemany(self.sql(text), [{k: self.value(v) for k, v in r.items()} for r in rows])

    def one(self, text: str, params: dict | None = None):
        return self.execute(text, params).fetchone()

    def all(self, text: str, params: dict | None = None) -> list:
        return self.execute(text, params).fetchall()

    @contextmanager
    def rolled_back(self) -> Iterator[Raw]:
        """A transaction taken back at the end, so the next run starts from the same rows."""
        if self.dialect == "sqlite":
            self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        finally:
            self.conn.rollback()

    def close(self) -> None:
        self.conn.close()


def _month(raw: Raw, column: str) -> str:
    return f"substr({column}, 1, 7)" if raw.dialect == "sqlite" else f"to_char({column}, 'YYYY-MM')"


# ---------- 1. a group batch ----------

ELIGIBLE = """FROM encounter e JOIN party p ON p.id = e.party_id
WHERE p.group_id = :group AND e.voided = FALSE AND p.billable = TRUE AND e.total_cents > 0
  AND trim(p.address_line1) <> '' AND trim(p.city) <> '' AND trim(p.postal_code) <> ''
  AND NOT EXISTS (SELECT 1 FROM invoice_line l WHERE l.encounter_id = e.id AND l.live = TRUE)"""


def _next(raw: Raw, series: str, count: int = 1) -> int:
    return raw.one("UPDATE number_sequence SET last_value = last_value + :n WHERE name = :s RETURNING last_value",
                   {"n": count, "s": series})[0]


def _new_batch(raw: Raw, kind: str, today: date, source: int | None, group: int | None) -> int:
    number = _next(raw, "batch")
    profile = raw.one("SELECT max(id) FROM invoice_profile")[0]
    return raw.one("INSERT INTO batch (number, kind, group_id, source_batch_id, internal_note, profile_id, "
                   "created_by, created_at, sent_on, invoice_count, encounter_count, total_cents) VALUES (:n, :k, :g, "
                   ":src, '', :p, 'reference', CURRENT_TIMESTAMP, :d, 0, 0, 0) RETURNING id",
                   {"n": number, "k": kind, "g": group, "src": source, "p": profile, "d": today})[0]


def _items_and_totals(raw: Raw, batch: int, today: date) -> tuple[int, int]:
    raw.execute("""INSERT INTO batch_item (batch_id, invoice_id, party_id, times_batched, invoice_number, sent_on,
        billed_cents, payments_cents, credits_cents, writeoffs_cents, balance_cents, bill_to)
        SELECT :b, i.id, i.party_id, i.times_batched,
               CASE WHEN i.times_batched = 1 THEN i.number ELSE i.number || '-' || CAST(i.times_batched AS VARCHAR(8)) END,
               :d, i.billed_cents, i.payments_cents, i.credits_cents, i.writeoffs_cents, i.balance_cents,
               p.name || :nl || p.contact_name || :nl || p.address_line1 || :nl || p.address_line2 || :nl
               || p.city || ', ' || p.state || ' ' || p.postal_code
        FROM invoice i JOIN party p ON p.id = i.party_id WHERE i.last_batch_id = :b""",
                {"b": batch, "d": today, "nl": "\n"})
    count, total = raw.one("SELECT count(*), coalesce(sum(balance_cents), 0) FROM batch_item WHERE batch_id = :b",
                           {"b": batch})
    raw.execute("UPDATE batch SET invoice_count = :c, total_cents = :t WHERE id = :b",
                {"c": count, "t": total, "b": batch})
    # The batch as core's API hands it back: its row and its items (`Batch.items`), read as plain tuples.
    raw.one("SELECT * FROM batch WHERE id = :b", {"b": batch})
    raw.all("SELECT * FROM batch_item WHERE batch_id = :b ORDER BY id", {"b": batch})
    return count, total


def group_batch(raw: Raw, group: int, today: date, terms: int) -> tuple[int, int]:
    """(invoices, total cents) of a new on-demand batch for the group."""
    parties = [r[0] for r in raw.all(f"SELECT e.party_id {ELIGIBLE} GROUP BY e.party_id ORDER BY e.party_id",
                                     {"group": group})]
    batch = _new_batch(raw, "on-demand", today, None, group)
    last = _next(raw, "invoice", len(parties))
    raw.many("INSERT INTO invoice (seq, number, party_id, batch_id, last_batch_id, first_sent_on, due_on, "
             "encounter_count, billed_cents, payments_cents, credits_cents, writeoffs_cents, balance_cents, paid, "
             "times_batched, created_at) VALUES (:seq, :num, :party, :b, :b, :d, :due, 0, 0, 0, 0, 0, 0, FALSE, 1, "
             "CURRENT_TIMESTAMP)",
             [{"seq": seq, "num": f"INV-{seq:06d}", "party": party, "b": batch, "d": today,
               "due": today + timedelta(days=terms)}
              for seq, party in zip(range(last - len(parties) + 1, last + 1), parties, strict=True)])
    raw.execute(f"""INSERT INTO invoice_line (invoice_id, encounter_id, amount_cents, live)
        SELECT i.id, e.id, e.total_cents, TRUE {ELIGIBLE.replace('WHERE', 'JOIN invoice i ON i.party_id = e.party_id '
                                                                    'AND i.batch_id = :b WHERE', 1)}""",
                {"group": group, "b": batch})
    raw.execute("""UPDATE invoice SET
        billed_cents = (SELECT coalesce(sum(amount_cents), 0) FROM invoice_line WHERE invoice_id = invoice.id),
        balance_cents = (SELECT coalesce(sum(amount_cents), 0) FROM invoice_line WHERE invoice_id = invoice.id),
        encounter_count = (SELECT count(*) FROM invoice_line WHERE invoice_id = invoice.id)
        WHERE batch_id = :b""", {"b": batch})
    return _items_and_totals(raw, batch, today)


# ---------- 2. a rebatch ----------

def rebatch(raw: Raw, source: int, today: date) -> tuple[int, int]:
    batch = _new_batch(raw, "rebatch", today, source, None)
    raw.execute("UPDATE invoice SET times_batched = times_batched + 1, last_batch_id = :b WHERE paid = FALSE AND id IN "
                "(SELECT invoice_id FROM batch_item WHERE batch_id = :src)", {"b": batch, "src": source})
    return _items_and_totals(raw, batch, today)


# ---------- 3. invoice history ----------

def _contains(raw: Raw) -> str:
    if raw.dialect == "sqlite":  # the trigram index, as core uses it
        return "bi.id IN (SELECT rowid FROM batch_item_fts WHERE invoice_number LIKE :like)"
    return "bi.invoice_number ILIKE :like"


def history_page(raw: Raw, text: str) -> list[int]:
    """The page's hundred ids first (on SQLite the trigram index walked newest first), then their columns."""
    if raw.dialect == "sqlite":
        ids = ("SELECT f.rowid AS id FROM batch_item_fts f CROSS JOIN batch_item bi ON bi.id = f.rowid "
               "CROSS JOIN invoice i ON i.id = bi.invoice_id WHERE f.invoice_number LIKE :like AND i.paid = FALSE "
               "ORDER BY f.rowid DESC LIMIT 100")
    else:
        ids = (f"SELECT bi.id FROM batch_item bi JOIN invoice i ON i.id = bi.invoice_id "
               f"WHERE i.paid = FALSE AND {_contains(raw)} ORDER BY bi.id DESC LIMIT 100")
    rows = raw.all(f"""SELECT bi.id, bi.invoice_id, bi.invoice_number, bi.times_batched, bi.party_id, bi.sent_on,
        bi.balance_cents, bi.batch_id, i.number, i.due_on, i.encounter_count, i.billed_cents, i.payments_cents,
        i.credits_cents, i.writeoffs_cents, b.number, b.kind, p.name,
        (SELECT d.status FROM delivery d WHERE d.batch_item_id = bi.id ORDER BY d.id DESC LIMIT 1)
        FROM ({ids}) page JOIN batch_item bi ON bi.id = page.id JOIN invoice i ON i.id = bi.invoice_id
        JOIN batch b ON b.id = bi.batch_id JOIN party p ON p.id = bi.party_id
        ORDER BY page.id DESC""", {"like": f"%{text}%"})
    return [r[0] for r in rows]


def history_count(raw: Raw, text: str) -> int:
    return raw.one(f"SELECT count(*) FROM batch_item bi JOIN invoice i ON i.id = bi.invoice_id "
                   f"WHERE i.paid = FALSE AND {_contains(raw)}", {"like": f"%{text}%"})[0]


# ---------- 4. the dashboard's figures and the books' checks ----------

def headline(raw: Raw, today: date, now: datetime) -> tuple[int, int]:
    """(open invoices, open cents), with the other headline figures read as core reads them."""
    open_ = raw.one("SELECT count(*), coalesce(sum(balance_cents), 0) FROM invoice WHERE paid = FALSE")
    raw.one("SELECT count(*), coalesce(sum(balance_cents), 0) FROM invoice WHERE paid = FALSE AND due_on < :d",
            {"d": today})
    raw.one("SELECT coalesce(sum(amount_cents), 0) FROM receipt WHERE voided = FALSE AND received_date > :d",
            {"d": today - timedelta(days=30)})
    raw.one("SELECT coalesce(sum(amount_cents - applied_cents - refunded_cents), 0) FROM receipt WHERE voided = FALSE")
    raw.one("SELECT coalesce(sum(amount_cents - applied_cents - refunded_cents), 0) FROM credit_memo")
    raw.one("SELECT number, created_at FROM batch ORDER BY created_at DESC, id DESC LIMIT 1")
    for span in (timedelta(hours=24), timedelta(days=7)):
        raw.one("SELECT count(*) FROM batch WHERE created_at >= :t", {"t": now - span})
    return int(open_[0]), int(open_[1])


def by_month(raw: Raw, first_month: date, today: date) -> dict[str, tuple[int, int, int]]:
    """Invoices first sent each month of the window: (how many, billed cents, the whole open balance at the end of
    the month: everything billed minus what was applied, plus what was taken back, up to then)."""
    month = _month(raw, "first_sent_on")
    sent = {m: (int(n), int(c)) for m, n, c in raw.all(
        f"SELECT {month}, count(*), sum(billed_cents) FROM invoice WHERE first_sent_on >= :d GROUP BY {month}",
        {"d": first_month})}
    change: dict[str, int] = {}
    for sql, sign in ((f"SELECT {month}, sum(billed_cents) FROM invoice WHERE first_sent_on <= :t GROUP BY {month}",
                       1),
                      (f"SELECT {_month(raw, 'applied_on')}, sum(amount_cents) FROM allocation WHERE applied_on <= :t "
                       f"GROUP BY {_month(raw, 'applied_on')}", -1),
                      (f"SELECT {_month(raw, 'reversed_on')}, sum(amount_cents) FROM allocation "
                       f"WHERE reversed_on <= :t GROUP BY {_month(raw, 'reversed_on')}", 1)):
        for m, cents in raw.all(sql, {"t": today}):
            change[m] = change.get(m, 0) + sign * int(cents)
    start = f"{first_month:%Y-%m}"
    running = sum(c for m, c in change.items() if m < start)
    out = {}
    day = first_month
    while day <= today:
        m = f"{day:%Y-%m}"
        running += change.get(m, 0)
        if m in sent:
            out[m] = (*sent[m], running)
        day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return out


def open_by_party(raw: Raw, today: date) -> dict[int, int]:
    """Open cents per party in aging buckets by the day first sent (30, 60, 90, older), and by group."""
    cut = {f"d{n}": today - timedelta(days=n) for n in (30, 60, 90)}
    rows = raw.all("""SELECT party_id,
        sum(CASE WHEN first_sent_on > :d30 THEN balance_cents ELSE 0 END),
        sum(CASE WHEN first_sent_on <= :d30 AND first_sent_on > :d60 THEN balance_cents ELSE 0 END),
        sum(CASE WHEN first_sent_on <= :d60 AND first_sent_on > :d90 THEN balance_cents ELSE 0 END),
        sum(CASE WHEN first_sent_on <= :d90 THEN balance_cents ELSE 0 END)
        FROM invoice WHERE paid = FALSE GROUP BY party_id ORDER BY sum(balance_cents) DESC""", cut)
    raw.all("SELECT p.group_id, g.name, sum(i.balance_cents) FROM invoice i JOIN party p ON p.id = i.party_id "
            "LEFT JOIN party_group g ON g.id = p.group_id WHERE i.paid = FALSE GROUP BY p.group_id, g.name")
    raw.one("""SELECT sum(CASE WHEN first_sent_on > :d30 THEN balance_cents ELSE 0 END),
        sum(CASE WHEN first_sent_on <= :d30 AND first_sent_on > :d60 THEN balance_cents ELSE 0 END),
        sum(CASE WHEN first_sent_on <= :d60 AND first_sent_on > :d90 THEN balance_cents ELSE 0 END),
        sum(CASE WHEN first_sent_on <= :d90 THEN balance_cents ELSE 0 END), count(*), min(first_sent_on)
        FROM invoice WHERE paid = FALSE""", cut)
    return {int(r[0]): int(sum(r[1:])) for r in rows}


def collections(raw: Raw, first_month: date) -> dict[str, int]:
    month = _month(raw, "received_date")
    return {m: int(c) for m, c in raw.all(
        f"SELECT {month}, sum(amount_cents) FROM receipt WHERE voided = FALSE AND received_date >= :d "
        f"GROUP BY {month}", {"d": first_month})}


def books(raw: Raw, today: date) -> int:
    """The books' checks, plainly, as core's reconcile makes them: each party's open balance three ways (the stored
    invoice totals, the ledger of documents plus unapplied money, the aging of balances from live allocations),
    stored invoice totals against lines and allocations, encounters on two live invoices, receipts' and credit
    memos' applied amounts, number series and printed numbers; returns how many problems."""
    stored = dict(raw.all("SELECT party_id, sum(balance_cents) FROM invoice WHERE paid = FALSE GROUP BY party_id"))
    aged = dict(raw.all("""SELECT i.party_id, sum(i.billed_cents - coalesce(a.cents, 0)) FROM invoice i
        LEFT JOIN (SELECT invoice_id, sum(amount_cents) AS cents FROM allocation
                   WHERE applied_on <= :d AND (reversed_on IS NULL OR reversed_on > :d) GROUP BY invoice_id) a
        ON a.invoice_id = i.id WHERE i.first_sent_on <= :d AND i.billed_cents - coalesce(a.cents, 0) > 0
        GROUP BY i.party_id""", {"d": today}))
    ledger: dict[int, int] = {}
    for sql in ("SELECT i.party_id, sum(l.amount_cents) FROM invoice i JOIN invoice_line l ON l.invoice_id = i.id "
                "WHERE i.first_sent_on <= :d GROUP BY i.party_id",
                "SELECT party_id, -sum(amount_cents) FROM receipt WHERE received_date <= :d GROUP BY party_id",
                "SELECT party_id, sum(amount_cents - refunded_cents) FROM receipt WHERE voided = TRUE "
                "AND voided_on <= :d GROUP BY party_id",
                "SELECT party_id, -sum(amount_cents) FROM credit_memo WHERE issued_on <= :d GROUP BY party_id",
                "SELECT party_id, -sum(amount_cents) FROM write_off WHERE written_on <= :d GROUP BY party_id",
                "SELECT party_id, sum(amount_cents) FROM refund WHERE refunded_on <= :d GROUP BY party_id",
                "SELECT party_id, sum(amount_cents - applied_cents - refunded_cents) FROM receipt WHERE voided = FALSE "
                "GROUP BY party_id",
                "SELECT party_id, sum(amount_cents - applied_cents - refunded_cents) FROM credit_memo GROUP BY party_id"):
        for party, cents in raw.all(sql, {"d": today}):
            ledger[party] = ledger.get(party, 0) + int(cents or 0)
    problems = sum(1 for party in set(stored) | set(aged) | set(ledger)
                   if not int(stored.get(party, 0)) == int(aged.get(party, 0)) == ledger.get(party, 0))
    problems += raw.one("""SELECT count(*) FROM invoice i
        LEFT JOIN (SELECT invoice_id, sum(amount_cents) AS billed FROM invoice_line GROUP BY invoice_id) l
          ON l.invoice_id = i.id
        LEFT JOIN (SELECT invoice_id, sum(CASE WHEN receipt_id IS NOT NULL THEN amount_cents ELSE 0 END) AS paid,
                          sum(CASE WHEN credit_memo_id IS NOT NULL THEN amount_cents ELSE 0 END) AS credited,
                          sum(CASE WHEN write_off_id IS NOT NULL THEN amount_cents ELSE 0 END) AS written
                   FROM allocation WHERE live = TRUE GROUP BY invoice_id) a ON a.invoice_id = i.id
        WHERE i.billed_cents <> coalesce(l.billed, 0) OR i.payments_cents <> coalesce(a.paid, 0)
           OR i.credits_cents <> coalesce(a.credited, 0) OR i.writeoffs_cents <> coalesce(a.written, 0)
           OR i.balance_cents <> i.billed_cents - i.payments_cents - i.credits_cents - i.writeoffs_cents
           OR i.balance_cents < 0 OR i.paid <> (i.balance_cents = 0)""")[0]
    problems += raw.one("SELECT count(*) FROM (SELECT encounter_id FROM invoice_line WHERE live = TRUE "
                        "GROUP BY encounter_id HAVING count(*) > 1) t")[0]
    for source, column in (("receipt", "receipt_id"), ("credit_memo", "credit_memo_id")):
        voided = "r.voided = TRUE" if source == "receipt" else "FALSE"
        problems += raw.one(f"""SELECT count(*) FROM {source} r
            LEFT JOIN (SELECT {column} AS owner, sum(amount_cents) AS cents FROM allocation
                       WHERE live = TRUE AND {column} IS NOT NULL GROUP BY {column}) a ON a.owner = r.id
            LEFT JOIN (SELECT {column} AS owner, sum(amount_cents) AS cents FROM refund
                       WHERE {column} IS NOT NULL GROUP BY {column}) f ON f.owner = r.id
            WHERE r.applied_cents <> coalesce(a.cents, 0) OR r.refunded_cents <> coalesce(f.cents, 0)
               OR r.amount_cents - coalesce(a.cents, 0) - coalesce(f.cents, 0) < 0
               OR ({voided} AND coalesce(a.cents, 0) <> 0)""")[0]
    for table, column in (("batch", "number"), ("invoice", "seq"), ("receipt", "number"), ("credit_memo", "number"),
                          ("write_off", "number"), ("refund", "number")):
        n, distinct, low, top = raw.one(f"SELECT count({column}), count(DISTINCT {column}), min({column}), "
                                        f"max({column}) FROM {table}")
        problems += int(not (n == distinct == (top or 0) and (n == 0 or low == 1)))
    problems += raw.one("SELECT count(*) FROM (SELECT invoice_number FROM batch_item GROUP BY invoice_number "
                        "HAVING count(*) > 1) t")[0]
    problems += raw.one("""SELECT count(*) FROM (SELECT i.id FROM invoice i JOIN batch_item b ON b.invoice_id = i.id
        GROUP BY i.id, i.times_batched HAVING count(*) <> i.times_batched OR max(b.times_batched) <> i.times_batched)
        t""")[0]
    return int(problems)


def _days(raw: Raw, later: str, earlier: str) -> str:
    if raw.dialect == "sqlite":
        return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"
    return f"({later} - {earlier})"


def days_to_pay(raw: Raw, first_month: date, today: date) -> dict[str, tuple[int, int]]:
    """Invoices paid off by receipts in the window: (how many, days in all) by the month of the paying receipt."""
    days = _days(raw, "max(r.received_date)", "i.first_sent_on")
    rows = raw.all(f"""SELECT i.party_id, max(r.received_date) AS paid_on, {days} AS days
        FROM invoice i JOIN allocation a ON a.invoice_id = i.id AND a.live = TRUE
        JOIN receipt r ON r.id = a.receipt_id
        WHERE i.paid = TRUE GROUP BY i.id, i.party_id, i.first_sent_on
        HAVING max(r.received_date) >= :d""", {"d": first_month})
    out: dict[str, tuple[int, int]] = {}
    for _, paid_on, n_days in rows:
        key = str(paid_on)[:7]
        n, total = out.get(key, (0, 0))
        out[key] = (n + 1, total + max(0, int(n_days)))
    return out


def rebatch_effect(raw: Raw, first_month: date, today: date) -> dict[int, tuple[int, int, int]]:
    """Resends sent in the window with something outstanding, by which sending (2, 3, 4 and on): (how many, what
    was outstanding, what receipts paid of it in the 30 days after, capped at it)."""
    within = _days(raw, "a.applied_on", "bi.sent_on")
    for key, resends in ((_month(raw, "bi.sent_on"), "AND bi.times_batched >= 2"),
                         ("CASE WHEN bi.times_batched >= 4 THEN 4 ELSE bi.times_batched END", "")):
        rows = _effect(raw, key, resends, within, first_month, today)
    return {int(k): (int(n), int(o), int(p)) for k, n, o, p in rows}


def _effect(raw: Raw, key: str, resends: str, within: str, first_month: date, today: date) -> list:
    return raw.all(f"""SELECT {key}, count(*),
            sum(bi.balance_cents),
            sum(CASE WHEN coalesce(p.cents, 0) > bi.balance_cents THEN bi.balance_cents ELSE coalesce(p.cents, 0) END)
        FROM batch_item bi LEFT JOIN (
            SELECT bi.id AS item, sum(a.amount_cents) AS cents FROM batch_item bi JOIN batch b ON b.id = bi.batch_id
            JOIN allocation a ON a.invoice_id = bi.invoice_id AND a.receipt_id IS NOT NULL
             AND a.created_at > b.created_at AND {within} <= 30 AND a.applied_on <= :t
             AND (a.reversed_on IS NULL OR a.reversed_on > :t)
            WHERE bi.sent_on >= :d AND bi.sent_on <= :t AND bi.balance_cents > 0 {resends} GROUP BY bi.id) p
          ON p.item = bi.id
        WHERE bi.sent_on >= :d AND bi.sent_on <= :t AND bi.balance_cents > 0 {resends}
        GROUP BY {key}""", {"d": first_month, "t": today})


# ---------- 5. the floor under suggest_allocation ----------

def open_invoices(raw: Raw, party: int) -> list[tuple[int, int]]:
    return [(r[0], r[1]) for r in raw.all(
        "SELECT id, balance_cents FROM invoice WHERE party_id = :p AND paid = FALSE ORDER BY first_sent_on, id",
        {"p": party})]


# ---------- 8. an encounter import ----------

def import_encounters(raw: Raw, data: str) -> int:
    """The same rows as core's import: new patients, encounters and their charge lines, by executemany."""
    rows = list(csv.DictReader(io.StringIO(data)))
    parties = dict(raw.all("SELECT account_code, id FROM party"))
    patients = dict(raw.all("SELECT account, id FROM patient"))
    new_patients = {r["patient_account"]: r["patient_name"] for r in rows if r["patient_account"] not in patients}
    raw.many("INSERT INTO patient (account, name) VALUES (:a, :n)",
             [{"a": a, "n": n} for a, n in new_patients.items()])
    patients = dict(raw.all("SELECT account, id FROM patient"))
    encounters: dict[str, dict] = {}
    for r in rows:
        e = encounters.setdefault(r["encounter_number"], {
            "num": r["encounter_number"], "pt": patients[r["patient_account"]],
            "party": parties[r["party_account_code"]], "dos": date.fromisoformat(r["date_of_service"]),
            "post": date.fromisoformat(r["post_date"]), "total": 0, "lines": []})
        cents = round(float(r["amount"]) * 100)
        e["total"] += cents
        e["lines"].append((r["procedure_code"], r["description"], int(r["units"]), cents))
    raw.many("INSERT INTO encounter (number, patient_id, party_id, date_of_service, post_date, total_cents, voided, "
             "self_pay) VALUES (:num, :pt, :party, :dos, :post, :total, FALSE, FALSE)",
             [{k: v for k, v in e.items() if k != "lines"} for e in encounters.values()])
    ids = dict(raw.all("SELECT number, id FROM encounter WHERE number LIKE 'IMP%'"))
    raw.many("INSERT INTO charge_line (encounter_id, line_no, procedure_code, description, units, amount_cents) "
             "VALUES (:e, :n, :code, :d, :u, :c)",
             [{"e": ids[num], "n": n, "code": code, "d": d, "u": u, "c": c}
              for num, e in encounters.items() for n, (code, d, u, c) in enumerate(e["lines"], start=1)])
    return len(encounters)
