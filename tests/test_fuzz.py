"""Any arguments to any public core function: a result or an InvoiceDeskError, never a raw error (issue 10).

A hypothesis fuzzer over the public functions on the demo practice, on SQLite and PostgreSQL, with the hostile
values a careless or hostile caller types: strings where numbers go, comma amounts, 1e26, NaN, infinities, three
decimals, far dates, huge and unknown ids, unicode digits, NUL bytes, 100,000-character strings, SQL fragments.
Nothing is committed by the calls; now and then a refused call's session is committed anyway and the whole
database is compared with before. INVOICE_DESK_FUZZ_EXAMPLES runs longer (a nightly-style run).
"""

from __future__ import annotations

import inspect
import os
from collections import Counter
from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

import core
from core import InvoiceDeskError, load_demo_data
from tests.conftest import module_engine, public_parameters
from tests.support.fingerprint import commit_anyway, fingerprint

EXAMPLES = int(os.environ.get("INVOICE_DESK_FUZZ_EXAMPLES", "1600"))
FUNCTIONS = [
    "post_receipt", "allocate_receipt", "void_receipt", "allocate_credit", "create_credit_memo",
    "create_on_demand_batch", "preview_on_demand_batch", "rebatch", "rebatch_invoices", "create_party",
    "update_party", "create_group", "update_group", "set_invoice_billing", "save_invoice_profile", "set_time_zone",
    "import_csv", "invoice_history", "invoice_history_count", "list_batches", "batch_items", "get_batch",
    "list_receipts", "list_credit_memos", "party_account", "suggest_allocation", "open_invoices", "search_parties",
    "search_groups", "navigate", "audit_log", "audit_changes", "audit_change_count", "headline", "invoices_by_month",
    "open_aging", "get_party", "render_batch_item_pdf", "render_credit_memo_pdf", "render_statement_pdf",
    "render_items_pdf", "verify_document", "invoice_totals", "parse_money", "format_money", "csv_bytes", "defuse",
    "template_csv", "write_off", "refund", "unapply_allocation", "list_allocations", "list_write_offs", "list_refunds",
    "party_ledger", "reconcile", "render_party_ledger_pdf", "write_off_needs_confirmation", "aging_basis",
    "aging_report", "collections_by_month", "days_to_pay", "rebatch_effect", "rebatch_effects", "unapplied_money",
    "send_batch_email", "deliveries", "send_test_email", "smtp_settings",
]
# Not drawn: render_batch_pdf (a whole batch's PDF per example; the table in test_hostile_inputs.py covers it on a
# one-invoice batch) and load_demo_data (refuses a database that has data, which the table checks too).
HOSTILE = [
    None, True, False, 0, -1, 1, 2, 7, 10**20, 2**63, 1.5, float("nan"), float("inf"), "", " ", "1", "abc", "12,34",
    "1,5", "12.345", "1e30", "NaN", "Infinity", "\x00", "a\x00b", "x" * 100_000, "' OR 1=1 --", "\u00b2", "\u0663",
    "2026-01-01", "12/31/2026", "31/12/2026", "2026-W01-1", "0001-01-01", Decimal("1e26"), Decimal("NaN"),
    Decimal("-1"), Decimal("0.001"), [], [1], [1, "a"], [2**63], {}, {1: "5.00"}, {"a": "x"}, {1: None},
    {2: "1e30"}, date(1, 1, 1), date(9999, 12, 31), datetime(2026, 1, 1), b"bytes", object(), "employer", "check",
    "void", "parties", "encounters", "batch_item", "on-demand",
]
OUTCOMES: Counter = Counter()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def demo_engine(request, tmp_path_factory):
    engine = module_engine(request, tmp_path_factory, "fuzz")
    with Session(engine) as s:
        load_demo_data(s)
        s.commit()
    yield engine
    engine.dispose()


def _parameters(name: str) -> list[inspect.Parameter]:
    return public_parameters(getattr(core, name))


values = st.one_of(st.sampled_from(HOSTILE), st.integers(-3, 400), st.text(max_size=30),
                   st.decimals(allow_nan=True, allow_infinity=True, places=3))


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(data=st.data())
def test_any_arguments_get_a_result_or_a_refusal(demo_engine, data):
    name = data.draw(st.sampled_from(FUNCTIONS), label="function")
    kwargs = {}
    for param in _parameters(name):
        if param.name == "actor":
            kwargs["actor"] = data.draw(st.sampled_from(["maria.billing", "maria.billing", "", None, 5]), label="actor")
        elif param.default is param.empty or data.draw(st.booleans(), label=f"pass {param.name}?"):
            kwargs[param.name] = data.draw(values, label=param.name)
    check_unchanged = data.draw(st.integers(0, 24), label="commit anyway?") == 0
    before = fingerprint(demo_engine) if check_unchanged else None
    with Session(demo_engine, expire_on_commit=False) as s:
        try:
            function = getattr(core, name)
            takes_session = next(iter(inspect.signature(function).parameters)) == "session"
            function(s, **kwargs) if takes_session else function(**kwargs)
            OUTCOMES["done"] += 1
        except InvoiceDeskError as exc:
            OUTCOMES["refused"] += 1
            assert str(exc).strip(), f"{name}({kwargs!r:.300}) was refused without a message"
            if before is not None:
                commit_anyway(s)
                assert fingerprint(demo_engine) == before, f"refused {name}({kwargs!r:.300}) changed the database"
                OUTCOMES["refused, committed anyway, unchanged"] += 1
        finally:
            s.rollback()


def test_the_fuzzer_reached_both_outcomes():
    print(dict(OUTCOMES))
    if OUTCOMES:
        assert OUTCOMES["done"] > 0 and OUTCOMES["refused"] > 0 and OUTCOMES["refused, committed anyway, unchanged"] > 0
