"""Invoice Desk core: the billing domain, with no user interface; pages, notebooks and scripts use these names."""

from core import clock
from core.accounts import AccountSummary, aging_basis, party_account
from core.audit import (
    AuditChangeRow,
    AuditEntry,
    audit_actions,
    audit_actors,
    audit_change_count,
    audit_changes,
    audit_log,
)
from core.batches import (
    BatchPreview,
    BatchRow,
    ItemDetail,
    batch_items,
    create_on_demand_batch,
    get_batch,
    list_batches,
    preview_on_demand_batch,
    rebatch,
    rebatch_invoices,
)
from core.corrections import (
    AllocationRow,
    RefundRow,
    WriteOffRow,
    list_allocations,
    list_refunds,
    list_write_offs,
    refund,
    unapply_allocation,
    write_off,
    write_off_needs_confirmation,
)
from core.credit_memos import CreditMemoRow, allocate_credit, create_credit_memo, list_credit_memos
from core.db import open_engine, read_session, transaction
from core.demo import load_demo_data
from core.documents import (
    DocumentCheck,
    render_batch_item_pdf,
    render_batch_pdf,
    render_credit_memo_pdf,
    render_items_pdf,
    render_party_ledger_pdf,
    render_statement_pdf,
    verify_document,
)
from core.errors import BillingDisabledError, ConcurrencyError, InvoiceDeskError, NotFoundError
from core.exports import csv_bytes, defuse
from core.history import HistoryRow, invoice_history, invoice_history_count
from core.imports import ImportReport, RowError, import_csv, template_csv
from core.invoices import Totals, invoice_totals
from core.models import (
    BATCH_KINDS,
    CREDIT_ACTIONS,
    RECEIPT_METHODS,
    WRITE_OFF_REASONS,
    AuditRecord,
    Batch,
    BatchItem,
    CreditMemo,
    Encounter,
    Group,
    Invoice,
    InvoiceLine,
    InvoiceProfile,
    Party,
    Patient,
    Receipt,
    Refund,
    WriteOff,
)
from core.money import format_money, parse_money
from core.navigation import Destination, navigate
from core.numbering import numbering_gaps
from core.parties import (
    create_group,
    create_party,
    get_party,
    party_count,
    search_groups,
    search_parties,
    update_group,
    update_party,
)
from core.party_ledger import LedgerRow, party_ledger
from core.payments import AllocationSuggestion, open_invoices, suggest_allocation
from core.receipts import ReceiptRow, allocate_receipt, list_receipts, post_receipt, void_receipt
from core.reconcile import Reconciliation, reconcile
from core.reports import Headline, MonthFigures, headline, invoices_by_month, open_aging
from core.settings import (
    current_profile,
    invoice_billing_enabled,
    save_invoice_profile,
    set_invoice_billing,
    set_time_zone,
    time_zone_name,
)

__all__ = [
    "clock",
    "AllocationRow", "LedgerRow", "Reconciliation", "Refund", "RefundRow", "WRITE_OFF_REASONS", "WriteOff",
    "WriteOffRow", "aging_basis", "list_allocations", "list_refunds", "list_write_offs", "party_ledger", "reconcile",
    "refund", "unapply_allocation", "write_off", "write_off_needs_confirmation",
    "csv_bytes", "defuse",
    "BATCH_KINDS", "CREDIT_ACTIONS", "RECEIPT_METHODS",
    "audit_actions", "audit_actors", "AuditChangeRow", "audit_change_count", "audit_changes",
    "BatchRow", "Destination", "Headline", "ItemDetail", "MonthFigures", "batch_items", "create_group", "create_party",
    "get_party", "headline", "invoices_by_month", "list_batches", "navigate", "open_aging", "party_count",
    "update_group", "update_party",
    "DocumentCheck", "render_batch_item_pdf", "render_batch_pdf", "render_credit_memo_pdf", "render_items_pdf", "render_party_ledger_pdf",
    "render_statement_pdf",
    "verify_document",
    "AccountSummary", "AllocationSuggestion", "CreditMemo", "CreditMemoRow", "Receipt", "ReceiptRow",
    "allocate_credit", "allocate_receipt", "create_credit_memo", "list_credit_memos", "list_receipts",
    "open_invoices", "party_account", "post_receipt", "suggest_allocation", "void_receipt",
    "AuditEntry", "AuditRecord", "Batch", "BatchItem", "BatchPreview", "BillingDisabledError", "ConcurrencyError",
    "Encounter", "Group", "HistoryRow", "ImportReport", "Invoice", "InvoiceDeskError", "InvoiceLine",
    "InvoiceProfile", "NotFoundError", "Party", "Patient", "RowError", "Totals", "audit_log",
    "create_on_demand_batch", "current_profile", "format_money", "get_batch", "import_csv",
    "invoice_billing_enabled", "invoice_history", "invoice_history_count", "invoice_totals", "load_demo_data",
    "numbering_gaps", "open_engine", "parse_money", "preview_on_demand_batch", "read_session", "rebatch",
    "rebatch_invoices",
    "save_invoice_profile", "set_time_zone", "time_zone_name", "search_groups", "search_parties", "set_invoice_billing", "template_csv", "transaction",
]
