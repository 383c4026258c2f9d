"""Indexes on the days the ledger is dated by (issue 16).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29

Reports as of today read the stored invoice and receipt totals when nothing is dated after today
(core.as_of.stored_is_as_of); the newest of each of these days is then one index look instead of a scan.
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_invoice_first_sent_on", "invoice", "first_sent_on"),
    ("ix_receipt_received_date", "receipt", "received_date"),
    ("ix_receipt_voided_on", "receipt", "voided_on"),
    ("ix_credit_memo_issued_on", "credit_memo", "issued_on"),
    ("ix_write_off_written_on", "write_off", "written_on"),
    ("ix_refund_refunded_on", "refund", "refunded_on"),
    ("ix_allocation_applied_on", "allocation", "applied_on"),
    ("ix_allocation_reversed_on", "allocation", "reversed_on"),
)


def upgrade() -> None:
    for name, table, column in INDEXES:
        op.create_index(name, table, [column])


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
