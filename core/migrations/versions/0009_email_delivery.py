"""E-mail delivery of invoices (issue 15).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29

- A party's billing e-mail holds several To addresses, and it gets Cc addresses beside them.
- The invoice profile carries the subject and body templates of the e-mail that carries an invoice.
- document_content: a document's bytes as first mailed, insert-only, so the mailed PDF is the archived one.
- delivery: one row per batch item per send request (queued, sent, failed, no address), with the recipients,
  the Message-ID, the server's answer or the reason, and the SHA-256 of the PDF attached.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "invoice_desk_app"
# The defaults as this revision wrote them (core.models keeps the current ones).
DEFAULT_EMAIL_SUBJECT = "Invoice {invoice_number} from {practice_name}"
DEFAULT_EMAIL_BODY = ("Hello {contact_name},\n\nPlease find attached invoice {invoice_number} for {party_name}: "
                      "{balance_due} due by {due_date}.\n\nThank you,\n{practice_name}")


def upgrade() -> None:
    with op.batch_alter_table("party") as party:
        party.alter_column("email", existing_type=sa.String(length=200), type_=sa.String(length=1000),
                           existing_nullable=False)
        party.add_column(sa.Column("email_cc", sa.String(length=1000), nullable=False, server_default=""))
    op.add_column("invoice_profile", sa.Column("email_subject", sa.String(length=300), nullable=False,
                                               server_default=DEFAULT_EMAIL_SUBJECT))
    op.add_column("invoice_profile", sa.Column("email_body", sa.String(length=4000), nullable=False,
                                               server_default=DEFAULT_EMAIL_BODY))
    op.create_table(
        "delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_item_id", sa.Integer(), nullable=False),
        sa.Column("request_key", sa.String(length=120), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("to_addresses", sa.String(length=1000), nullable=False),
        sa.Column("cc_addresses", sa.String(length=1000), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("message_id", sa.String(length=300), nullable=False),
        sa.Column("answer", sa.String(length=1000), nullable=False),
        sa.Column("attachment_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('queued', 'sent', 'failed', 'no address')", name=op.f("ck_delivery_status")),
        sa.ForeignKeyConstraint(["batch_item_id"], ["batch_item.id"], name=op.f("fk_delivery_batch_item_id_batch_item")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery")),
        sa.UniqueConstraint("request_key", "batch_item_id", name="uq_delivery_request_item"),
    )
    op.create_index(op.f("ix_delivery_batch_item_id"), "delivery", ["batch_item_id"], unique=False)
    op.create_table(
        "document_content",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("ref_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_content")),
        sa.UniqueConstraint("kind", "ref_id", name="uq_document_content_kind_ref"),
    )
    if op.get_bind().dialect.name == "postgresql":  # archived bytes never change (the app role may not update them)
        op.execute(f"""
DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
    GRANT SELECT, INSERT ON document_content TO {APP_ROLE};
    REVOKE UPDATE, DELETE ON document_content FROM {APP_ROLE};
  END IF;
END $$""")


def downgrade() -> None:
    op.drop_table("document_content")
    op.drop_index(op.f("ix_delivery_batch_item_id"), table_name="delivery")
    op.drop_table("delivery")
    with op.batch_alter_table("invoice_profile") as profile:
        profile.drop_column("email_body")
        profile.drop_column("email_subject")
    with op.batch_alter_table("party") as party:
        party.drop_column("email_cc")
        party.alter_column("email", existing_type=sa.String(length=1000), type_=sa.String(length=200),
                           existing_nullable=False)
