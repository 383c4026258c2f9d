"""A synthetic busy practice for the benchmarks, written straight into the tables (not through core), consistent
enough that `core.reconcile` finds nothing wrong with it.

What it holds, for a Scale (the defaults are a busy practice's year):
- one employer group of `parties` employers, each with a billing address and e-mail;
- `encounters` encounters not invoiced yet, spread over the parties (what a group batch picks up);
- a history of about `history` batch items: invoices of one encounter each, sent by an on-demand batch for the
  whole group and resent by three rebatches, three in five of them paid by a check after the last sending;
- one open on-demand batch of `rebatch_invoices` invoices (the batch the rebatch figure resends);
- one open batch of `open_invoices` invoices for the first party (the party suggest_allocation works on).

Every number is made from its row's index, so two builds of one Scale are the same, on either database.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from core import set_invoice_billing
from core.models import (
    Allocation,
    Batch,
    BatchItem,
    ChargeLine,
    Encounter,
    Group,
    Invoice,
    InvoiceLine,
    NumberSequence,
    Party,
    Patient,
    Receipt,
)
from core.settings import profile_for_new_batch

ACTOR = "bench@invoice-desk.example"
SENDINGS = 4  # an on-demand batch and three rebatches
FIRST_DAY = date(2025, 8, 1)  # the history's first batch; its last rebatches fall before the clock's today
RECENT = date(2026, 11, 2)  # the two open batches
ELIGIBLE_FROM = date(2026, 11, 3)  # the encounters not invoiced yet: dates of service from here
CHUNK = 20_000


@dataclass(frozen=True)
class Scale:
    parties: int = 200
    encounters: int = 100_000
    history: int = 1_000_000
    rebatch_invoices: int = 10_000
    open_invoices: int = 6_000
    import_rows: int = 200_000
    pdf_invoices: int = 1_000

    @property
    def resent_invoices(self) -> int:
        """Invoices of the history sent four times each."""
        return max(self.parties, (self.history - self.rebatch_invoices - self.open_invoices) // SENDINGS)

    @property
    def items(self) -> int:
        return self.resent_invoices * SENDINGS + self.rebatch_invoices + self.open_invoices

    def as_dict(self) -> dict:
        return {**asdict(self), "batch_items": self.items}


FULL = Scale()
QUICK = Scale(parties=20, encounters=2_000, history=20_000, rebatch_invoices=500, open_invoices=600,
              import_rows=4_000, pdf_invoices=6)


@dataclass(frozen=True)
class Practice:
    """What the figures need to find in the built practice."""

    group_id: int
    rebatch_batch_id: int
    open_party_id: int
    contains: str  # a number fragment the history filter looks for
    scale: Scale


def _amount(k: int) -> int:
    """An encounter's total in cents, from its index: $50.00 to $649.99."""
    return 5_000 + (k * 7_919) % 60_000


def _chunks(rows: Iterator[dict]) -> Iterator[list[dict]]:
    chunk: list[dict] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _insert(conn: sa.Connection, table: sa.Table, rows: Iterator[dict]) -> int:
    count = 0
    for chunk in _chunks(rows):
        conn.execute(sa.insert(table), chunk)
        count += len(chunk)
    return count


def _stamp(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 17, 0, tzinfo=UTC)


def build(engine: sa.Engine, scale: Scale, say=print) -> Practice:
    """Write the practice into an empty database at the newest schema (open_engine made it)."""
    with Session(engine) as s:
        set_invoice_billing(s, enabled=True, actor=ACTOR)
        profile = profile_for_new_batch(s, actor=ACTOR)
        s.commit()
        profile_id, terms = profile.id, profile.terms_days

    n_parties, resent = scale.parties, scale.resent_invoices
    regular_batches = -(-resent // n_parties)  # one invoice per party per on-demand batch
    with engine.begin() as conn:
        conn.execute(sa.insert(Group.__table__), [{"id": 1, "name": "Bench Group", "active": True}])
        conn.execute(sa.insert(Party.__table__), [
            {"id": p, "account_code": f"B{p:05d}", "name": f"Bench Employer {p:05d}", "kind": "employer",
             "group_id": 1, "billable": True, "active": True, "contact_name": f"Payables {p}",
             "email": f"ap{p}@employer{p}.example", "email_cc": "", "address_line1": f"{p} Main St",
             "address_line2": "", "city": "Salem", "state": "OR", "postal_code": "97301"}
            for p in range(1, n_parties + 1)])
        patients = max(100, n_parties * 5)
        _insert(conn, Patient.__table__, ({"id": i, "account": f"PT{i:06d}", "name": f"Patient {i}"}
                                          for i in range(1, patients + 1)))

        # ---- batches: on-demand j (ids 4j+1) and its three rebatches; then the two open batches ----
        batches: list[dict] = []
        for j in range(regular_batches):
            first = FIRST_DAY + timedelta(days=j * 365 // max(1, regular_batches))
            for t in range(SENDINGS):
                day = first + timedelta(days=30 * t)
                bid = j * SENDINGS + t + 1
                batches.append({"id": bid, "number": bid, "kind": "on-demand" if t == 0 else "rebatch",
                                "group_id": 1, "source_batch_id": bid - 1 if t else None, "profile_id": profile_id,
                                "created_by": ACTOR, "created_at": _stamp(day), "sent_on": day, "internal_note": ""})
        rebatch_batch_id = len(batches) + 1
        open_batch_id = rebatch_batch_id + 1
        for bid, party in ((rebatch_batch_id, None), (open_batch_id, 1)):
            batches.append({"id": bid, "number": bid, "kind": "on-demand", "group_id": None if party else 1,
                            "party_id": party, "source_batch_id": None, "profile_id": profile_id,
                            "created_by": ACTOR, "created_at": _stamp(RECENT), "sent_on": RECENT,
                            "internal_note": ""})
        for b in batches:
            b.setdefault("party_id", None)
        conn.execute(sa.insert(Batch.__table__), batches)
        sent_on = {b["id"]: b["sent_on"] for b in batches}

        # ---- invoices, one encounter each: k < resent is resent; then the two open batches ----
        def invoice_plan() -> Iterator[tuple[int, int, int, int]]:
            """(invoice id, party, first batch id, times batched)"""
            for k in range(resent):
                yield k + 1, k % n_parties + 1, (k // n_parties) * SENDINGS + 1, SENDINGS
            for k in range(scale.rebatch_invoices):
                yield resent + k + 1, k % n_parties + 1, rebatch_batch_id, 1
            for k in range(scale.open_invoices):
                yield resent + scale.rebatch_invoices + k + 1, 1, open_batch_id, 1

        def paid(k: int, times: int) -> bool:
            return times == SENDINGS and k % 5 < 3

        def encounters() -> Iterator[dict]:
            for k, party, batch_id, _ in invoice_plan():
                day = sent_on[batch_id] - timedelta(days=10)
                yield {"id": k, "number": f"H{k:07d}", "patient_id": k % patients + 1, "party_id": party,
                       "date_of_service": day, "post_date": day + timedelta(days=3), "total_cents": _amount(k),
                       "voided": False, "self_pay": False}
            first = resent + scale.rebatch_invoices + scale.open_invoices  # the last history encounter's id
            for i in range(scale.encounters):
                day = ELIGIBLE_FROM + timedelta(days=i % 18)
                yield {"id": first + i + 1, "number": f"E{i:07d}", "patient_id": i % patients + 1,
                       "party_id": i % n_parties + 1, "date_of_service": day, "post_date": day + timedelta(days=1),
                       "total_cents": _amount(first + i + 1), "voided": False, "self_pay": False}

        total_encounters = _insert(conn, Encounter.__table__, encounters())
        say(f"  {total_encounters:,} encounters")
        conn.execute(sa.insert(ChargeLine.__table__).from_select(
            ["encounter_id", "line_no", "procedure_code", "description", "units", "amount_cents"],
            sa.select(Encounter.__table__.c.id, sa.literal(1), sa.literal("99213"), sa.literal("Office visit"),
                      sa.literal(1), Encounter.__table__.c.total_cents)))

        def invoices() -> Iterator[dict]:
            for k, party, batch_id, times in invoice_plan():
                billed = _amount(k)
                pays = billed if paid(k, times) else 0
                first = sent_on[batch_id]
                yield {"id": k, "seq": k, "number": f"INV-{k:06d}", "party_id": party, "batch_id": batch_id,
                       "last_batch_id": batch_id + times - 1, "first_sent_on": first,
                       "due_on": first + timedelta(days=terms), "encounter_count": 1, "billed_cents": billed,
                       "payments_cents": pays, "credits_cents": 0, "writeoffs_cents": 0,
                       "balance_cents": billed - pays, "paid": pays == billed, "times_batched": times,
                       "created_at": _stamp(first)}

        total_invoices = _insert(conn, Invoice.__table__, invoices())
        i, line = Invoice.__table__, InvoiceLine.__table__
        conn.execute(sa.insert(line).from_select(["invoice_id", "encounter_id", "amount_cents", "live"],
                                                 sa.select(i.c.id, i.c.id, i.c.billed_cents, sa.true())))
        say(f"  {total_invoices:,} invoices")

        # ---- every sending of every invoice: the snapshot as sent (payments came after the last one) ----
        b, bi = Batch.__table__, BatchItem.__table__
        sendings = sa.union_all(*(sa.select(sa.literal(t).label("n")) for t in range(1, SENDINGS + 1))).subquery()
        n = sendings.c.n
        conn.execute(sa.insert(bi).from_select(
            ["batch_id", "invoice_id", "party_id", "times_batched", "invoice_number", "sent_on", "bill_to",
             "billed_cents", "payments_cents", "credits_cents", "writeoffs_cents", "balance_cents"],
            sa.select(b.c.id, i.c.id, i.c.party_id, n,
                      sa.case((n == 1, i.c.number), else_=i.c.number + "-" + sa.cast(n, sa.String)),
                      b.c.sent_on, sa.literal("Bench Employer\n1 Main St\nSalem, OR 97301"), i.c.billed_cents,
                      sa.literal(0), sa.literal(0), sa.literal(0), i.c.billed_cents)
            .select_from(i).join(sendings, n <= i.c.times_batched).join(b, b.c.id == i.c.batch_id + n - 1)
            .order_by(b.c.id, i.c.id)))
        conn.execute(sa.update(b).values(
            invoice_count=sa.select(sa.func.count()).where(bi.c.batch_id == b.c.id).scalar_subquery(),
            encounter_count=sa.select(sa.func.count()).where(bi.c.batch_id == b.c.id).scalar_subquery(),
            total_cents=sa.select(sa.func.coalesce(sa.func.sum(bi.c.balance_cents), 0))
            .where(bi.c.batch_id == b.c.id).scalar_subquery()))
        say(f"  {scale.items:,} batch items in {len(batches):,} batches")

        # ---- a check for each paid invoice, received ten days after its last sending ----
        def receipts() -> Iterator[dict]:
            number = 0
            for k, party, batch_id, times in invoice_plan():
                if paid(k, times):
                    number += 1
                    day = sent_on[batch_id + times - 1] + timedelta(days=10)
                    yield {"id": number, "number": number, "party_id": party, "amount_cents": _amount(k),
                           "received_date": day, "post_date": day, "method": "check", "reference": f"CK{k}",
                           "note": "", "voided": False, "applied_cents": _amount(k), "refunded_cents": 0,
                           "created_by": ACTOR, "created_at": _stamp(day), "_invoice": k}

        receipt_rows = list(receipts())
        allocations = [{"invoice_id": r.pop("_invoice"), "receipt_id": r["id"], "amount_cents": r["amount_cents"],
                        "live": True, "applied_on": r["received_date"], "created_by": ACTOR,
                        "created_at": r["created_at"]} for r in receipt_rows]
        _insert(conn, Receipt.__table__, iter(receipt_rows))
        _insert(conn, Allocation.__table__, iter(allocations))
        say(f"  {len(receipt_rows):,} receipts")

        conn.execute(sa.delete(NumberSequence.__table__).where(
            NumberSequence.__table__.c.name.in_(["batch", "invoice", "receipt"])))
        conn.execute(sa.insert(NumberSequence.__table__), [
            {"name": "batch", "last_value": len(batches)}, {"name": "invoice", "last_value": total_invoices},
            {"name": "receipt", "last_value": len(receipt_rows)}])
        if engine.dialect.name == "postgresql":  # the ids were given, so move each id sequence past them
            for table in ("party_group", "party", "patient", "batch", "encounter", "charge_line", "invoice",
                          "invoice_line", "batch_item", "receipt", "allocation"):
                conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                     f"(SELECT coalesce(max(id), 1) FROM {table}))"))
    # Statistics for the planner, and on PostgreSQL the tables vacuumed as well: an autovacuum of the freshly loaded
    # tables otherwise runs during the first figures (a batch at 100,000 encounters measured 9.5 s instead of 2 s).
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
    else:
        with engine.connect() as conn:
            conn.execute(sa.text("ANALYZE"))
            conn.commit()
    # Third sendings of invoices numbered ...13: one in a hundred, all open (id % 5 is 3), so a full page.
    return Practice(group_id=1, rebatch_batch_id=rebatch_batch_id, open_party_id=1, contains="13-3", scale=scale)
