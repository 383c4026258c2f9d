"""Invoice Desk core: the billing domain, with no user interface; pages, notebooks and scripts use these names."""

from core.accounts import AccountSummary, party_account
from core.audit import AuditEntry, audit_log
from core.batches import (
    BatchPreview,
    create_on_demand_batch,
    get_batch,
    preview_on_demand_batch,
    rebatch,
)
from core.credit_memos import CreditMemoRow, create_credit_memo, list_credit_memos
from core.db import open_engine, read_session, transaction
from core.demo import load_demo_data
from core.documents import (
    DocumentCheck,
    render_batch_item_pdf,
    render_batch_pdf,
    render_credit_memo_pdf,
    render_statement_pdf,
    verify_document,
)
from core.errors import BillingDisabledError, ConcurrencyError, InvoiceDeskError, NotFoundError
from core.history import HistoryRow, invoice_history, invoice_history_count
from core.imports import ImportReport, RowError, import_csv, template_csv
from core.models import (
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
)
from core.money import format_money, parse_money
from core.numbering import numbering_gaps
from core.parties import search_groups, search_parties
from core.payments import (
    AllocationSuggestion,
    ReceiptRow,
    allocate_credit,
    allocate_receipt,
    list_receipts,
    open_invoices,
    post_receipt,
    suggest_allocation,
    void_receipt,
)
from core.settings import (
    current_profile,
    invoice_billing_enabled,
    save_invoice_profile,
    set_invoice_billing,
)
from core.totals import Totals, invoice_totals

__all__ = [
    "DocumentCheck", "render_batch_item_pdf", "render_batch_pdf", "render_credit_memo_pdf", "render_statement_pdf",
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
    "save_invoice_profile", "search_groups", "search_parties", "set_invoice_billing", "template_csv", "transaction",
]
