"""A receipt's method is one of the closed vocabulary (core.models.ReceiptMethod), checked by the database too.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""
import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out, not imported: a migration must say what it did even after the vocabulary grows.
METHODS = "method IN ('check', 'ACH', 'card', 'cash', 'other')"


def _receipt_triggers() -> list[str]:
    """SQLite rebuilds the table to add a CHECK, dropping its triggers: migration 0004's receipt guards again."""
    path = Path(__file__).with_name("0004_request_keys_and_ledger_guards.py")
    spec = importlib.util.spec_from_file_location("_ledger_guards_0004", path)
    assert spec is not None and spec.loader is not None
    guards = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(guards)
    return [s for s in guards.SQLITE_UP if " ON receipt " in s]


def _alter(change) -> None:
    with op.batch_alter_table("receipt") as batch_op:
        change(batch_op)
    if op.get_bind().dialect.name == "sqlite":
        for statement in _receipt_triggers():
            op.execute(statement)


def upgrade() -> None:
    _alter(lambda batch_op: batch_op.create_check_constraint("method", METHODS))


def downgrade() -> None:
    _alter(lambda batch_op: batch_op.drop_constraint(op.f("ck_receipt_method"), type_="check"))
