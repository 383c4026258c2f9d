"""Corrections (write-offs, refunds, un-applying, amount adjustments) and figures as of a day.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28

- write_off (WO-) and refund (RF-): new ledger documents, never changed or deleted.
- An allocation may come from a write-off; it carries the practice's day it counts from (applied_on) and, once
  reversed, the day, who and why (reversed_on, reversed_by, reverse_reason).
- An invoice's balance is billed - payments - credits - write-offs; a batch item keeps the write-offs as sent.
- Receipts and credit memos keep what was refunded out of them; a receipt keeps the day it was voided and a
  credit memo the day it was issued.
- A credit memo line may credit an amount on an encounter that stays billed (action "adjust"), so one invoice
  line may have several credit memo lines.
- The invoice profile chooses the aging basis (date first sent or due date) and the write-off amount above
  which a second confirmation is asked.

The ledger's guards (migration 0004) are rewritten to know the new columns. Existing rows get their days from
their stored moments on the practice's wall clock (Settings > Time zone, else the server's zone).
"""
import os
from collections.abc import Sequence
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, available_timezones

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "invoice_desk_app"

_ALLOCATION_CHANGED = (
    "NEW.id <> OLD.id OR NEW.invoice_id IS NOT OLD.invoice_id OR NEW.receipt_id IS NOT OLD.receipt_id "
    "OR NEW.credit_memo_id IS NOT OLD.credit_memo_id OR NEW.write_off_id IS NOT OLD.write_off_id "
    "OR NEW.amount_cents <> OLD.amount_cents OR NEW.applied_on IS NOT OLD.applied_on "
    "OR NEW.created_at IS NOT OLD.created_at OR NEW.created_by IS NOT OLD.created_by "
    "OR (NOT OLD.live AND NEW.live) "
    "OR (NOT OLD.live AND (NEW.reversed_at IS NOT OLD.reversed_at OR NEW.reversed_on IS NOT OLD.reversed_on "
    "OR NEW.reversed_by IS NOT OLD.reversed_by OR NEW.reverse_reason IS NOT OLD.reverse_reason)) "
    "OR (OLD.live AND NEW.live AND (NEW.reversed_at IS NOT OLD.reversed_at OR NEW.reversed_on IS NOT OLD.reversed_on "
    "OR NEW.reversed_by IS NOT OLD.reversed_by OR NEW.reverse_reason IS NOT OLD.reverse_reason)) "
    "OR (OLD.live AND NOT NEW.live AND (NEW.reversed_at IS NULL OR NEW.reversed_on IS NULL))")
_RECEIPT_CHANGED = (
    "NEW.id <> OLD.id OR NEW.number <> OLD.number OR NEW.party_id <> OLD.party_id "
    "OR NEW.amount_cents <> OLD.amount_cents OR NEW.received_date IS NOT OLD.received_date "
    "OR NEW.post_date IS NOT OLD.post_date OR NEW.method IS NOT OLD.method "
    "OR NEW.reference IS NOT OLD.reference OR NEW.note IS NOT OLD.note "
    "OR NEW.created_at IS NOT OLD.created_at OR NEW.created_by IS NOT OLD.created_by "
    "OR (OLD.voided AND NOT NEW.voided) "
    "OR (OLD.voided AND (NEW.void_reason IS NOT OLD.void_reason OR NEW.voided_by IS NOT OLD.voided_by "
    "OR NEW.voided_at IS NOT OLD.voided_at OR NEW.voided_on IS NOT OLD.voided_on)) "
    "OR (NOT NEW.voided AND (NEW.voided_at IS NOT NULL OR NEW.voided_on IS NOT NULL OR NEW.void_reason <> '' "
    "OR NEW.voided_by <> '')) "
    "OR (NEW.voided AND NOT OLD.voided AND (NEW.voided_at IS NULL OR NEW.voided_on IS NULL OR NEW.void_reason = ''))")
_MEMO_CHANGED = (
    "NEW.id <> OLD.id OR NEW.number <> OLD.number OR NEW.party_id <> OLD.party_id "
    "OR NEW.amount_cents <> OLD.amount_cents OR NEW.invoice_id <> OLD.invoice_id "
    "OR NEW.batch_item_id <> OLD.batch_item_id OR NEW.action IS NOT OLD.action "
    "OR NEW.reason IS NOT OLD.reason OR NEW.reassign_to_party_id IS NOT OLD.reassign_to_party_id "
    "OR NEW.issued_on IS NOT OLD.issued_on "
    "OR NEW.created_at IS NOT OLD.created_at OR NEW.created_by IS NOT OLD.created_by")
# Only stored totals (recomputed by core.allocations), a reversal and a void may change a ledger row.
_GUARDS = {"allocation": _ALLOCATION_CHANGED, "receipt": _RECEIPT_CHANGED, "credit_memo": _MEMO_CHANGED,
           "credit_memo_line": "1 = 1", "write_off": "1 = 1", "refund": "1 = 1"}
_OLD_NO_DELETE = ("allocation", "receipt", "credit_memo", "credit_memo_line")
_NO_DELETE = (*_OLD_NO_DELETE, "write_off", "refund")


def _sqlite_triggers(tables: Sequence[str], guards: dict[str, str]) -> list[str]:
    return [
        *(f"CREATE TRIGGER {t}_no_replace BEFORE INSERT ON {t} WHEN EXISTS (SELECT 1 FROM {t} WHERE id = NEW.id) "
          f"BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: {t} rows are never replaced'); END" for t in tables),
        *(f"CREATE TRIGGER {t}_no_delete BEFORE DELETE ON {t} BEGIN "
          f"SELECT RAISE(ABORT, 'the ledger is append-only: {t} rows are never deleted'); END" for t in tables),
        *(f"CREATE TRIGGER {t}_guard BEFORE UPDATE ON {t} WHEN {cond} BEGIN "
          f"SELECT RAISE(ABORT, 'the ledger is append-only: this change to {t} is refused'); END"
          for t, cond in guards.items()),
    ]


def _sqlite_drop(tables: Sequence[str], guards: Sequence[str]) -> list[str]:
    return [*(f"DROP TRIGGER IF EXISTS {t}_{kind}" for t in tables for kind in ("no_replace", "no_delete")),
            *(f"DROP TRIGGER IF EXISTS {t}_guard" for t in guards)]


def _pg_guard(table: str, cond: str) -> list[str]:
    cond = cond.replace(" IS NOT OLD.", " IS DISTINCT FROM OLD.")
    return [f"CREATE OR REPLACE FUNCTION {table}_guard() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF {cond} THEN RAISE EXCEPTION 'the ledger is append-only: this change to {table} is refused'; "
            "END IF; RETURN NEW; END $$"]


def _zone(conn) -> ZoneInfo | None:
    name = conn.execute(sa.text("SELECT value FROM setting WHERE key = 'time_zone'")).scalar()
    name = (name or os.environ.get("TZ", "").lstrip(":")).strip()
    return ZoneInfo(name) if name in available_timezones() else None


def _day(moment: datetime | str | None, zone: ZoneInfo | None) -> date | None:
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment.astimezone(zone) if zone is not None else moment.astimezone()).date()


def _backfill(conn) -> None:
    """Days for rows written before this revision, from their moments on the practice's wall clock."""
    zone = _zone(conn)
    receipts = {r.id: r for r in conn.execute(sa.text("SELECT id, created_at, received_date FROM receipt"))}
    rows = []
    for a in conn.execute(sa.text("SELECT a.id, a.receipt_id, a.created_at, a.reversed_at, i.first_sent_on "
                                  "FROM allocation a JOIN invoice i ON i.id = a.invoice_id")):
        receipt = receipts.get(a.receipt_id)
        # Allocated as the receipt was posted: it paid the invoices the day the money was received.
        if receipt is not None and str(receipt.created_at) == str(a.created_at):
            on = receipt.received_date
        else:
            on = _day(a.created_at, zone)
        on = on if not isinstance(on, str) else date.fromisoformat(on)
        sent = a.first_sent_on if not isinstance(a.first_sent_on, str) else date.fromisoformat(a.first_sent_on)
        # Money cannot reach an invoice before it was first sent.
        rows.append({"id": a.id, "on": max(on, sent) if on is not None else sent, "off": _day(a.reversed_at, zone)})
    if rows:
        conn.execute(sa.text("UPDATE allocation SET applied_on = :on, reversed_on = :off WHERE id = :id"), rows)
    voids = [{"id": r.id, "on": _day(r.voided_at, zone)} for r in conn.execute(
        sa.text("SELECT id, voided_at FROM receipt WHERE voided_at IS NOT NULL"))]
    if voids:
        conn.execute(sa.text("UPDATE receipt SET voided_on = :on WHERE id = :id"), voids)
    memos = [{"id": m.id, "on": _day(m.created_at, zone)} for m in conn.execute(
        sa.text("SELECT id, created_at FROM credit_memo"))]
    if memos:
        conn.execute(sa.text("UPDATE credit_memo SET issued_on = :on WHERE id = :id"), memos)


def upgrade() -> None:
    conn = op.get_bind()
    dialect = conn.dialect.name
    if dialect == "sqlite":
        # Tables are copied and swapped below (core.db.upgrade turns foreign keys off); they are checked at the end.
        for statement in _sqlite_drop(_OLD_NO_DELETE, _OLD_NO_DELETE):
            op.execute(statement)
    else:
        for t in ("allocation", "receipt", "credit_memo"):
            op.execute(f"DROP TRIGGER IF EXISTS {t}_guard ON {t}")

    op.create_table(
        "write_off",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.Column("written_on", sa.Date(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_write_off_amount_positive")),
        sa.CheckConstraint("reason IN ('small balance', 'short-pay', 'bad debt', 'other')",
                           name=op.f("ck_write_off_reason")),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoice.id"], name=op.f("fk_write_off_invoice_id_invoice")),
        sa.ForeignKeyConstraint(["party_id"], ["party.id"], name=op.f("fk_write_off_party_id_party")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_write_off")),
        sa.UniqueConstraint("number", name=op.f("uq_write_off_number")),
    )
    op.create_index(op.f("ix_write_off_invoice_id"), "write_off", ["invoice_id"])
    op.create_index(op.f("ix_write_off_party_id"), "write_off", ["party_id"])
    op.create_table(
        "refund",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("receipt_id", sa.Integer(), nullable=True),
        sa.Column("credit_memo_id", sa.Integer(), nullable=True),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("reference", sa.String(length=120), nullable=False),
        sa.Column("refunded_on", sa.Date(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_refund_amount_positive")),
        sa.CheckConstraint("(receipt_id IS NULL) <> (credit_memo_id IS NULL)", name=op.f("ck_refund_one_source")),
        sa.CheckConstraint("method IN ('check', 'ACH', 'card', 'cash', 'other')", name=op.f("ck_refund_method")),
        sa.ForeignKeyConstraint(["party_id"], ["party.id"], name=op.f("fk_refund_party_id_party")),
        sa.ForeignKeyConstraint(["receipt_id"], ["receipt.id"], name=op.f("fk_refund_receipt_id_receipt")),
        sa.ForeignKeyConstraint(["credit_memo_id"], ["credit_memo.id"],
                                name=op.f("fk_refund_credit_memo_id_credit_memo")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refund")),
        sa.UniqueConstraint("number", name=op.f("uq_refund_number")),
    )
    for column in ("party_id", "receipt_id", "credit_memo_id"):
        op.create_index(op.f(f"ix_refund_{column}"), "refund", [column])

    with op.batch_alter_table("invoice_profile") as b:
        b.add_column(sa.Column("aging_basis", sa.String(length=20), server_default="first sent", nullable=False))
        b.add_column(sa.Column("write_off_confirm_cents", sa.BigInteger(), server_default="5000", nullable=False))
        b.create_check_constraint("aging_basis", "aging_basis IN ('first sent', 'due date')")
        b.create_check_constraint("write_off_confirm_not_negative", "write_off_confirm_cents >= 0")
    with op.batch_alter_table("invoice") as b:
        b.add_column(sa.Column("writeoffs_cents", sa.BigInteger(), server_default="0", nullable=False))
        b.drop_constraint(op.f("ck_invoice_balance_sum"), type_="check")
        b.create_check_constraint("balance_sum",
                                  "balance_cents = billed_cents - payments_cents - credits_cents - writeoffs_cents")
    op.add_column("batch_item", sa.Column("writeoffs_cents", sa.BigInteger(), server_default="0", nullable=False))
    with op.batch_alter_table("receipt") as b:
        b.add_column(sa.Column("voided_on", sa.Date(), nullable=True))
        b.add_column(sa.Column("refunded_cents", sa.BigInteger(), server_default="0", nullable=False))
        b.create_check_constraint("refunded_within_amount",
                                  "refunded_cents >= 0 AND applied_cents + refunded_cents <= amount_cents")
    with op.batch_alter_table("credit_memo") as b:
        b.add_column(sa.Column("refunded_cents", sa.BigInteger(), server_default="0", nullable=False))
        b.add_column(sa.Column("issued_on", sa.Date(), nullable=True))
        b.create_check_constraint("refunded_within_amount",
                                  "refunded_cents >= 0 AND applied_cents + refunded_cents <= amount_cents")
        b.drop_constraint(op.f("ck_credit_memo_action"), type_="check")
        b.create_check_constraint("action", "action IN ('self-pay', 'reassign', 'void', 'adjust')")
    with op.batch_alter_table("credit_memo_line") as b:
        b.add_column(sa.Column("whole", sa.Boolean(), server_default=sa.true(), nullable=False))
        b.drop_constraint(op.f("uq_credit_memo_line_invoice_line_id"), type_="unique")
        b.create_index("ix_credit_memo_line_invoice_line_id", ["invoice_line_id"])
    with op.batch_alter_table("allocation") as b:
        b.add_column(sa.Column("write_off_id", sa.Integer(), nullable=True))
        b.add_column(sa.Column("applied_on", sa.Date(), nullable=True))
        b.add_column(sa.Column("reversed_on", sa.Date(), nullable=True))
        b.add_column(sa.Column("reversed_by", sa.String(length=120), server_default="", nullable=False))
        b.add_column(sa.Column("reverse_reason", sa.String(length=500), server_default="", nullable=False))
        b.create_foreign_key("fk_allocation_write_off_id_write_off", "write_off", ["write_off_id"], ["id"])
        b.create_index("ix_allocation_write_off_id", ["write_off_id"])
        b.drop_constraint(op.f("ck_allocation_one_source"), type_="check")
        b.create_check_constraint(
            "one_source", "(CASE WHEN receipt_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN credit_memo_id IS NULL "
            "THEN 0 ELSE 1 END) + (CASE WHEN write_off_id IS NULL THEN 0 ELSE 1 END) = 1")

    _backfill(conn)

    if dialect == "sqlite":
        broken = conn.execute(sa.text("PRAGMA foreign_key_check")).all()
        if broken:
            raise RuntimeError(f"Migration 0008 would leave rows pointing at nothing: {broken[:5]}")
        for statement in _sqlite_triggers(_NO_DELETE, _GUARDS):
            op.execute(statement)
    else:
        for t, cond in _GUARDS.items():
            for statement in _pg_guard(t, cond):
                op.execute(statement)
        for t in ("allocation", "receipt", "credit_memo", "write_off", "refund"):
            op.execute(f"DROP TRIGGER IF EXISTS {t}_guard ON {t}")
            op.execute(f"CREATE TRIGGER {t}_guard BEFORE UPDATE ON {t} FOR EACH ROW EXECUTE FUNCTION {t}_guard()")
        for t in ("write_off", "refund"):
            op.execute(f"CREATE TRIGGER {t}_no_delete BEFORE DELETE ON {t} FOR EACH ROW EXECUTE FUNCTION "
                       "ledger_no_delete()")
            op.execute(f"CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} FOR EACH STATEMENT EXECUTE FUNCTION "
                       "ledger_no_delete()")
        op.execute(f"""
DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
    GRANT SELECT, INSERT ON write_off, refund TO {APP_ROLE};
    REVOKE UPDATE ON write_off, refund FROM {APP_ROLE};
  END IF;
END $$""")


def downgrade() -> None:
    raise NotImplementedError("Corrections are money records; this revision is not taken back. Restore a backup.")
