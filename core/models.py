"""The tables of Invoice Desk: parties, encounters, invoices, batches, money and the audit log."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar

import sqlalchemy as sa
from sqlmodel import Field, Relationship, SQLModel

from core.money import from_cents

# Stable constraint names, so Alembic migrations can name what they change.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}



# ---------- closed vocabularies: each spelled once, here; CHECK constraints are built from them ----------

class PartyKind(StrEnum):
    EMPLOYER = "employer"
    ATTORNEY = "attorney"


class BatchKind(StrEnum):
    CYCLE = "cycle"
    ON_DEMAND = "on-demand"
    REBATCH = "rebatch"


class ReceiptMethod(StrEnum):
    CHECK = "check"
    ACH = "ACH"
    CARD = "card"
    CASH = "cash"
    OTHER = "other"


class CreditAction(StrEnum):
    SELF_PAY = "self-pay"
    REASSIGN = "reassign"
    VOID = "void"
    # An amount credited on an encounter that stays billed (a courtesy discount, a contract-rate correction).
    ADJUST = "adjust"


class WriteOffReason(StrEnum):
    SMALL_BALANCE = "small balance"
    SHORT_PAY = "short-pay"
    BAD_DEBT = "bad debt"
    OTHER = "other"


class AgingBasis(StrEnum):
    FIRST_SENT = "first sent"
    DUE_DATE = "due date"


class InvoiceStatus(StrEnum):
    OPEN = "Open"
    PAID = "Paid"


class TotalBy(StrEnum):
    PATIENT = "patient"
    PROCEDURE = "procedure"


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
    NO_ADDRESS = "no address"


def one_of(column: str, vocabulary: type[StrEnum]) -> str:
    """The CHECK constraint text for a column that takes one of a vocabulary's values."""
    return f"{column} IN ({', '.join(repr(str(v)) for v in vocabulary)})"


# The same vocabularies as tuples of their values, the names the first release exported.
PARTY_KINDS = tuple(PartyKind)
BATCH_KINDS = tuple(BatchKind)
RECEIPT_METHODS = tuple(ReceiptMethod)
CREDIT_ACTIONS = tuple(CreditAction)
WRITE_OFF_REASONS = tuple(WriteOffReason)
DELIVERY_STATUSES = tuple(DeliveryStatus)


class Table(SQLModel):
    """A SQLModel table class; says to the type checker that it has a SQLAlchemy Table.

    Ids are typed `int` with a default of None: None only until the row is flushed, and no code reads one before.
    """

    __table__: ClassVar[sa.Table]


# A system setting such as the invoice billing switch; values are text.
class Setting(Table, table=True):
    __tablename__ = "setting"
    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=400)
    updated_by: str = Field(default="", max_length=120)
    updated_at: datetime | None = None


# The last number handed out for each numbering series (batches, invoices, credit memos, receipts).
class NumberSequence(Table, table=True):
    __tablename__ = "number_sequence"
    name: str = Field(primary_key=True, max_length=32)
    last_value: int = Field(default=0, sa_type=sa.BigInteger)


# A named set of employers, such as a corporate parent with several sites.
class Group(Table, table=True):
    __tablename__ = "party_group"
    id: int = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    active: bool = True


# Who receives an invoice: an employer or an attorney.
class Party(Table, table=True):
    __tablename__ = "party"
    __table_args__ = (sa.CheckConstraint(one_of("kind", PartyKind), name="kind"),)
    id: int = Field(default=None, primary_key=True)
    account_code: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=200, index=True)
    kind: str = Field(default="employer", max_length=20)
    group_id: int | None = Field(default=None, foreign_key="party_group.id", index=True)
    billable: bool = True
    active: bool = True
    contact_name: str = Field(default="", max_length=200)
    # Billing e-mail: the To and Cc addresses, each a comma-separated list (issue 15).
    email: str = Field(default="", max_length=1000)
    email_cc: str = Field(default="", max_length=1000, sa_column_kwargs={"server_default": ""})
    address_line1: str = Field(default="", max_length=200)
    address_line2: str = Field(default="", max_length=200)
    city: str = Field(default="", max_length=100)
    state: str = Field(default="", max_length=40)
    postal_code: str = Field(default="", max_length=20)


# A patient, known by the practice's patient account.
class Patient(Table, table=True):
    __tablename__ = "patient"
    id: int = Field(default=None, primary_key=True)
    account: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=200)


# One patient visit, billed to a party (none once it became self-pay).
class Encounter(Table, table=True):
    __tablename__ = "encounter"
    __table_args__ = (
        sa.Index("ix_encounter_party_dos", "party_id", "date_of_service"),
        sa.Index("ix_encounter_party_post", "party_id", "post_date"),
        sa.CheckConstraint("total_cents >= 0", name="total_not_negative"),
    )
    id: int = Field(default=None, primary_key=True)
    number: str = Field(max_length=40, unique=True)
    patient_id: int = Field(foreign_key="patient.id")
    party_id: int | None = Field(default=None, foreign_key="party.id")
    date_of_service: date
    post_date: date
    # Sum of the charge lines, kept with them so batches need no per-encounter aggregate.
    total_cents: int = Field(default=0, sa_type=sa.BigInteger)
    voided: bool = False
    self_pay: bool = False

    @property
    def total(self) -> Decimal:
        return from_cents(self.total_cents)


# One charge of an encounter: a procedure, its units and amount.
class ChargeLine(Table, table=True):
    __tablename__ = "charge_line"
    __table_args__ = (
        sa.UniqueConstraint("encounter_id", "line_no", name="uq_charge_line_encounter_line"),
        sa.CheckConstraint("amount_cents >= 0", name="amount_not_negative"),
        sa.CheckConstraint("units > 0", name="units_positive"),
    )
    id: int = Field(default=None, primary_key=True)
    encounter_id: int = Field(foreign_key="encounter.id")
    line_no: int
    procedure_code: str = Field(max_length=20)
    description: str = Field(default="", max_length=200)
    units: int = 1
    amount_cents: int = Field(sa_type=sa.BigInteger)


# One version of how invoices look; a batch keeps the version in force when it was made.
DEFAULT_EMAIL_SUBJECT = "Invoice {invoice_number} from {practice_name}"
DEFAULT_EMAIL_BODY = ("Hello {contact_name},\n\nPlease find attached invoice {invoice_number} for {party_name}: "
                      "{balance_due} due by {due_date}.\n\nThank you,\n{practice_name}")


class InvoiceProfile(Table, table=True):
    __tablename__ = "invoice_profile"
    __table_args__ = (
        sa.CheckConstraint(one_of("total_by", TotalBy), name="total_by"),
        sa.CheckConstraint("terms_days >= 0", name="terms_not_negative"),
        sa.CheckConstraint(one_of("aging_basis", AgingBasis), name="aging_basis"),
        sa.CheckConstraint("write_off_confirm_cents >= 0", name="write_off_confirm_not_negative"),
    )
    id: int = Field(default=None, primary_key=True)
    version: int = Field(unique=True)
    remit_to_name: str = Field(default="", max_length=200)
    remit_to_address: str = Field(default="", max_length=600)
    logo: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    logo_mime: str = Field(default="", max_length=40)
    footer: str = Field(default="", max_length=1000)
    terms_days: int = 30
    show_procedure_codes: bool = True
    total_by: str = Field(default="patient", max_length=20)
    number_prefix: str = Field(default="INV-", max_length=12)
    # Aging counts days from the date first sent or from the due date; every aging names which.
    aging_basis: str = Field(default="first sent", max_length=20, sa_column_kwargs={"server_default": "first sent"})
    # A write-off above this many cents asks for a second confirmation.
    write_off_confirm_cents: int = Field(default=5000, sa_type=sa.BigInteger,
                                         sa_column_kwargs={"server_default": "5000"})
    # The e-mail that carries an invoice: templates with {invoice_number}, {balance_due}, ... (core.mail).
    email_subject: str = Field(default=DEFAULT_EMAIL_SUBJECT, max_length=300,
                               sa_column_kwargs={"server_default": DEFAULT_EMAIL_SUBJECT})
    email_body: str = Field(default=DEFAULT_EMAIL_BODY, max_length=4000,
                            sa_column_kwargs={"server_default": DEFAULT_EMAIL_BODY})
    created_by: str = Field(default="", max_length=120)
    created_at: datetime | None = None


# One run that sends invoices: on demand, a rebatch of an earlier batch, or the monthly cycle.
class Batch(Table, table=True):
    __tablename__ = "batch"
    __table_args__ = (sa.CheckConstraint(one_of("kind", BatchKind), name="kind"),)
    id: int = Field(default=None, primary_key=True)
    number: int = Field(unique=True, sa_type=sa.BigInteger)
    kind: str = Field(max_length=20, index=True)
    party_id: int | None = Field(default=None, foreign_key="party.id")
    group_id: int | None = Field(default=None, foreign_key="party_group.id")
    source_batch_id: int | None = Field(default=None, foreign_key="batch.id")
    dos_from: date | None = None
    dos_to: date | None = None
    post_from: date | None = None
    post_to: date | None = None
    internal_note: str = Field(default="", max_length=2000)
    profile_id: int = Field(foreign_key="invoice_profile.id")
    created_by: str = Field(max_length=120)
    created_at: datetime = Field(index=True)
    sent_on: date
    invoice_count: int = 0
    encounter_count: int = 0
    total_cents: int = Field(default=0, sa_type=sa.BigInteger)
    items: list["BatchItem"] = Relationship(sa_relationship_kwargs={"order_by": "BatchItem.id", "viewonly": True})

    @property
    def total(self) -> Decimal:
        return from_cents(self.total_cents)


# A stable bill for one party; its encounters never change after it is first sent.
# The money columns are the live ledger totals, kept by core.totals in the same transaction.
class Invoice(Table, table=True):
    __tablename__ = "invoice"
    __table_args__ = (
        sa.CheckConstraint("balance_cents >= 0", name="balance_not_negative"),
        sa.CheckConstraint("balance_cents = billed_cents - payments_cents - credits_cents - writeoffs_cents",
                           name="balance_sum"),
        sa.Index("ix_invoice_party_paid", "party_id", "paid"),
        sa.Index("ix_invoice_paid", "paid"),
        # The newest day anything is dated on (core.as_of.stored_is_as_of): one index look each.
        sa.Index("ix_invoice_first_sent_on", "first_sent_on"),
    )
    id: int = Field(default=None, primary_key=True)
    seq: int = Field(unique=True, sa_type=sa.BigInteger)
    number: str = Field(max_length=40, unique=True)
    party_id: int = Field(foreign_key="party.id")
    batch_id: int = Field(foreign_key="batch.id", index=True)
    first_sent_on: date
    due_on: date
    encounter_count: int = 0
    billed_cents: int = Field(default=0, sa_type=sa.BigInteger)
    payments_cents: int = Field(default=0, sa_type=sa.BigInteger)
    credits_cents: int = Field(default=0, sa_type=sa.BigInteger)
    writeoffs_cents: int = Field(default=0, sa_type=sa.BigInteger, sa_column_kwargs={"server_default": "0"})
    balance_cents: int = Field(default=0, sa_type=sa.BigInteger)
    paid: bool = False
    times_batched: int = 1
    # The batch that sent it last: lets a rebatch insert its items with one INSERT ... SELECT.
    last_batch_id: int = Field(foreign_key="batch.id", index=True)
    created_at: datetime


# An encounter billed on an invoice; live until a credit memo takes it off.
class InvoiceLine(Table, table=True):
    __tablename__ = "invoice_line"
    __table_args__ = (
        # An encounter is on at most one live invoice line, whoever writes at the same moment.
        sa.Index(
            "uq_invoice_line_live_encounter",
            "encounter_id",
            unique=True,
            sqlite_where=sa.text("live = 1"),
            postgresql_where=sa.text("live"),
        ),
        sa.Index("ix_invoice_line_encounter", "encounter_id"),
    )
    id: int = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="invoice.id", index=True)
    encounter_id: int = Field(foreign_key="encounter.id")
    amount_cents: int = Field(sa_type=sa.BigInteger)
    live: bool = True


# One invoice as sent in one batch: the printed number and a snapshot of its money then.
class BatchItem(Table, table=True):
    __tablename__ = "batch_item"
    __table_args__ = (
        sa.UniqueConstraint("invoice_id", "times_batched", name="uq_batch_item_invoice_times"),
        sa.Index("ix_batch_item_party_id", "party_id", "id"),
        sa.CheckConstraint("times_batched >= 1", name="times_positive"),
    )
    id: int = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batch.id", index=True)
    invoice_id: int = Field(foreign_key="invoice.id", index=True)
    party_id: int = Field(foreign_key="party.id")
    times_batched: int
    invoice_number: str = Field(max_length=48, unique=True)
    sent_on: date
    # The bill-to block as it was when sent, so a reprint reads the same after the party is edited.
    bill_to: str | None = Field(default=None, sa_type=sa.Text)
    billed_cents: int = Field(sa_type=sa.BigInteger)
    payments_cents: int = Field(sa_type=sa.BigInteger)
    credits_cents: int = Field(sa_type=sa.BigInteger)
    writeoffs_cents: int = Field(default=0, sa_type=sa.BigInteger, sa_column_kwargs={"server_default": "0"})
    balance_cents: int = Field(sa_type=sa.BigInteger)

    @property
    def billed(self) -> Decimal:
        return from_cents(self.billed_cents)

    @property
    def payments(self) -> Decimal:
        return from_cents(self.payments_cents)

    @property
    def credits(self) -> Decimal:
        return from_cents(self.credits_cents)

    @property
    def writeoffs(self) -> Decimal:
        return from_cents(self.writeoffs_cents)

    @property
    def balance_due(self) -> Decimal:
        return from_cents(self.balance_cents)


# Money received from a party: a check, ACH, card; what is not allocated stays unapplied.
class Receipt(Table, table=True):
    __tablename__ = "receipt"
    __table_args__ = (
        sa.CheckConstraint("amount_cents > 0", name="amount_positive"),
        sa.CheckConstraint("applied_cents >= 0 AND applied_cents <= amount_cents", name="applied_within_amount"),
        sa.CheckConstraint(one_of("method", ReceiptMethod), name="method"),
        sa.CheckConstraint("refunded_cents >= 0 AND applied_cents + refunded_cents <= amount_cents",
                           name="refunded_within_amount"),
        sa.Index("ix_receipt_received_date", "received_date"),
        sa.Index("ix_receipt_voided_on", "voided_on"),
    )
    id: int = Field(default=None, primary_key=True)
    number: int = Field(unique=True, sa_type=sa.BigInteger)
    party_id: int = Field(foreign_key="party.id", index=True)
    amount_cents: int = Field(sa_type=sa.BigInteger)
    received_date: date
    post_date: date
    method: str = Field(max_length=20)
    reference: str = Field(default="", max_length=120)
    note: str = Field(default="", max_length=2000)
    voided: bool = False
    void_reason: str = Field(default="", max_length=500)
    voided_by: str = Field(default="", max_length=120)
    voided_at: datetime | None = None
    # The practice's day of the void, so figures "as of a day" before it still count the receipt.
    voided_on: date | None = None
    # Sum of live allocations, kept by core.allocations in the same transaction as they change.
    applied_cents: int = Field(default=0, sa_type=sa.BigInteger, sa_column_kwargs={"server_default": "0"})
    # Sum of refunds paid back out of it (core.corrections).
    refunded_cents: int = Field(default=0, sa_type=sa.BigInteger, sa_column_kwargs={"server_default": "0"})
    created_by: str = Field(max_length=120)
    created_at: datetime

    @property
    def amount(self) -> Decimal:
        return from_cents(self.amount_cents)

    @property
    def refunded(self) -> Decimal:
        return from_cents(self.refunded_cents)

    @property
    def unapplied(self) -> Decimal:
        return from_cents(0 if self.voided else self.amount_cents - self.applied_cents - self.refunded_cents)

    @property
    def document_number(self) -> str:
        """The number as printed and searched: RCT-000012."""
        from core.numbering import receipt_number

        return receipt_number(self.number)


# A correction crediting selected encounters of one invoice; what exceeds the balance stays unapplied.
class CreditMemo(Table, table=True):
    __tablename__ = "credit_memo"
    __table_args__ = (
        sa.CheckConstraint(one_of("action", CreditAction), name="action"),
        sa.CheckConstraint("amount_cents > 0", name="amount_positive"),
        sa.CheckConstraint("applied_cents >= 0 AND applied_cents <= amount_cents", name="applied_within_amount"),
        sa.CheckConstraint("refunded_cents >= 0 AND applied_cents + refunded_cents <= amount_cents",
                           name="refunded_within_amount"),
        sa.Index("ix_credit_memo_issued_on", "issued_on"),
    )
    id: int = Field(default=None, primary_key=True)
    number: int = Field(unique=True, sa_type=sa.BigInteger)
    invoice_id: int = Field(foreign_key="invoice.id", index=True)
    batch_item_id: int = Field(foreign_key="batch_item.id")
    party_id: int = Field(foreign_key="party.id", index=True)
    action: str = Field(max_length=20)
    reason: str = Field(max_length=1000)
    reassign_to_party_id: int | None = Field(default=None, foreign_key="party.id")
    amount_cents: int = Field(sa_type=sa.BigInteger)
    # Applied to its own invoice or, later, to the party's other invoices; the rest is unapplied credit.
    applied_cents: int = Field(default=0, sa_type=sa.BigInteger, sa_column_kwargs={"server_default": "0"})
    refunded_cents: int = Field(default=0, sa_type=sa.BigInteger, sa_column_kwargs={"server_default": "0"})
    # The practice's day it was issued (figures "as of a day" count it from then).
    issued_on: date | None = None
    created_by: str = Field(max_length=120)
    created_at: datetime

    @property
    def amount(self) -> Decimal:
        return from_cents(self.amount_cents)

    @property
    def refunded(self) -> Decimal:
        return from_cents(self.refunded_cents)

    @property
    def unapplied(self) -> Decimal:
        return from_cents(self.amount_cents - self.applied_cents - self.refunded_cents)

    @property
    def document_number(self) -> str:
        """The number as printed and searched: CM-000003."""
        from core.numbering import credit_memo_number

        return credit_memo_number(self.number)


# One encounter credited by a credit memo: the whole of what is left of it (the encounter leaves the invoice), or
# an amount on it (an adjustment; the encounter stays, and later credits take at most what is left).
class CreditMemoLine(Table, table=True):
    __tablename__ = "credit_memo_line"
    __table_args__ = (sa.Index("ix_credit_memo_line_invoice_line_id", "invoice_line_id"),)
    id: int = Field(default=None, primary_key=True)
    credit_memo_id: int = Field(foreign_key="credit_memo.id", index=True)
    invoice_line_id: int = Field(foreign_key="invoice_line.id")
    encounter_id: int = Field(foreign_key="encounter.id")
    amount_cents: int = Field(sa_type=sa.BigInteger)
    whole: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})


# A remaining balance or a short-pay closed without payment: reduces an open invoice like a credit (WO-000001).
class WriteOff(Table, table=True):
    __tablename__ = "write_off"
    __table_args__ = (
        sa.CheckConstraint("amount_cents > 0", name="amount_positive"),
        sa.CheckConstraint(one_of("reason", WriteOffReason), name="reason"),
        sa.Index("ix_write_off_written_on", "written_on"),
    )
    id: int = Field(default=None, primary_key=True)
    number: int = Field(unique=True, sa_type=sa.BigInteger)
    invoice_id: int = Field(foreign_key="invoice.id", index=True)
    party_id: int = Field(foreign_key="party.id", index=True)
    amount_cents: int = Field(sa_type=sa.BigInteger)
    reason: str = Field(max_length=20)
    note: str = Field(default="", max_length=1000)
    written_on: date
    created_by: str = Field(max_length=120)
    created_at: datetime

    @property
    def amount(self) -> Decimal:
        return from_cents(self.amount_cents)


# Money paid back to a party out of a receipt's or a credit memo's unapplied money (RF-000001).
class Refund(Table, table=True):
    __tablename__ = "refund"
    __table_args__ = (
        sa.CheckConstraint("amount_cents > 0", name="amount_positive"),
        sa.CheckConstraint("(receipt_id IS NULL) <> (credit_memo_id IS NULL)", name="one_source"),
        sa.CheckConstraint(one_of("method", ReceiptMethod), name="method"),
        sa.Index("ix_refund_refunded_on", "refunded_on"),
    )
    id: int = Field(default=None, primary_key=True)
    number: int = Field(unique=True, sa_type=sa.BigInteger)
    party_id: int = Field(foreign_key="party.id", index=True)
    receipt_id: int | None = Field(default=None, foreign_key="receipt.id", index=True)
    credit_memo_id: int | None = Field(default=None, foreign_key="credit_memo.id", index=True)
    amount_cents: int = Field(sa_type=sa.BigInteger)
    method: str = Field(max_length=20)
    reference: str = Field(default="", max_length=120)
    refunded_on: date
    created_by: str = Field(max_length=120)
    created_at: datetime

    @property
    def amount(self) -> Decimal:
        return from_cents(self.amount_cents)


# Money applied to an invoice, from a receipt (a payment), a credit memo (a credit) or a write-off.
class Allocation(Table, table=True):
    __tablename__ = "allocation"
    __table_args__ = (
        sa.CheckConstraint("amount_cents > 0", name="amount_positive"),
        sa.CheckConstraint(
            "(CASE WHEN receipt_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN credit_memo_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN write_off_id IS NULL THEN 0 ELSE 1 END) = 1", name="one_source"
        ),
        sa.Index("ix_allocation_invoice_live", "invoice_id", "live"),
        sa.Index("ix_allocation_applied_on", "applied_on"),
        sa.Index("ix_allocation_reversed_on", "reversed_on"),
    )
    id: int = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="invoice.id")
    receipt_id: int | None = Field(default=None, foreign_key="receipt.id", index=True)
    credit_memo_id: int | None = Field(default=None, foreign_key="credit_memo.id", index=True)
    write_off_id: int | None = Field(default=None, foreign_key="write_off.id", index=True)
    amount_cents: int = Field(sa_type=sa.BigInteger)
    live: bool = True
    # The practice's day the money counts on the invoice from: a receipt's received date when allocated as it
    # was posted, else the day it was allocated. Figures "as of a day" read this and reversed_on.
    applied_on: date | None = None
    created_by: str = Field(max_length=120)
    created_at: datetime
    reversed_at: datetime | None = None
    reversed_on: date | None = None
    reversed_by: str = Field(default="", max_length=120, sa_column_kwargs={"server_default": ""})
    # Why one allocation was un-applied (a void's reason stays on its receipt).
    reverse_reason: str = Field(default="", max_length=500, sa_column_kwargs={"server_default": ""})


# What one submitted form made: the same request key twice returns the first result (core.requests).
class RequestKey(Table, table=True):
    __tablename__ = "request_key"
    key: str = Field(primary_key=True, max_length=120)
    action: str = Field(max_length=60)
    record_ids: str = Field(default="", sa_type=sa.Text)
    digest: str = Field(max_length=64)
    actor: str = Field(max_length=120)
    created_at: datetime


# The fingerprint of a document when first made, to prove a later rendering is the same document.
class Document(Table, table=True):
    __tablename__ = "document"
    __table_args__ = (sa.UniqueConstraint("kind", "ref_id", name="uq_document_kind_ref"),)
    id: int = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    ref_id: int
    sha256: str = Field(max_length=64)
    size: int
    created_at: datetime


# Who did what, when, to which records; rows are never changed or removed.
class AuditRecord(Table, table=True):
    __tablename__ = "audit_record"
    id: int = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    actor: str = Field(max_length=120, index=True)
    action: str = Field(max_length=60, index=True)
    entity: str = Field(max_length=40)
    record_ids: str = Field(default="", sa_type=sa.Text)
    detail: str = Field(default="", sa_type=sa.Text)


# One row an import created or changed, linked to the import's audit record: which record, on which line of the
# file, and each field's old and new value (JSON). Kept apart so a file of 200,000 rows is recorded row by row.
class AuditChange(Table, table=True):
    __tablename__ = "audit_change"
    id: int = Field(default=None, primary_key=True)
    audit_id: int = Field(foreign_key="audit_record.id", index=True)
    line: int
    entity: str = Field(max_length=40)
    record_id: int
    record_key: str = Field(max_length=40)
    action: str = Field(max_length=20)
    changes: str = Field(default="", sa_type=sa.Text)


# A document's bytes as first mailed (issue 15): the mailed PDF is the archived one, byte for byte. Insert-only.
class DocumentContent(Table, table=True):
    __tablename__ = "document_content"
    __table_args__ = (sa.UniqueConstraint("kind", "ref_id", name="uq_document_content_kind_ref"),)
    id: int = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    ref_id: int
    sha256: str = Field(max_length=64)
    content: bytes = Field(sa_type=sa.LargeBinary)
    created_at: datetime


# One e-mail of one batch item (issue 15): queued, then sent with the server's answer or failed with the reason;
# "no address" when the party has no billing e-mail. One per item per send request (its request key).
class Delivery(Table, table=True):
    __tablename__ = "delivery"
    __table_args__ = (
        sa.CheckConstraint(one_of("status", DeliveryStatus), name="status"),
        sa.UniqueConstraint("request_key", "batch_item_id", name="uq_delivery_request_item"),
    )
    id: int = Field(default=None, primary_key=True)
    batch_item_id: int = Field(foreign_key="batch_item.id", index=True)
    request_key: str = Field(max_length=120)
    status: str = Field(max_length=20)
    to_addresses: str = Field(default="", max_length=1000)
    cc_addresses: str = Field(default="", max_length=1000)
    subject: str = Field(default="", max_length=300)
    message_id: str = Field(default="", max_length=300)
    answer: str = Field(default="", max_length=1000)
    attachment_sha256: str = Field(default="", max_length=64)
    created_by: str = Field(max_length=120)
    created_at: datetime
    finished_at: datetime | None = None
