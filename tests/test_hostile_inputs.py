"""Every public function of core, every argument, every hostile value: a result or a clear refusal (issue 10).

Table-driven, on SQLite and PostgreSQL: each public function is called with arguments that work on a small
practice (tests/support/practice.py), then once per (argument, hostile value) with that one argument
replaced. Each call must return or raise InvoiceDeskError with a message; a refused call's session is then
committed anyway and the whole database compared with before. The number of cases is printed (run with -s).
Where the fuzzer (test_fuzz.py) draws at random, this table tries every pair.
"""

from __future__ import annotations

import inspect
from collections import Counter
from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlmodel import Session

import core
from core import InvoiceDeskError, import_csv
from tests.conftest import module_engine, public_parameters
from tests.factories import ACTOR
from tests.support.fingerprint import commit_anyway, fingerprint
from tests.support.practice import Practice, build_practice
from tests.support.smtp import smtp_server

UNKNOWN = 987_654_321
HOSTILE: list[object] = [
    None, True, -1, 0, UNKNOWN, 2**63, 10**26, 1.5, float("nan"), float("inf"),
    Decimal("1e26"), Decimal("NaN"), Decimal("Infinity"), Decimal("12.345"), Decimal("-0.01"),
    "", "abc", "12,34", "1,5", "12.345", "1e30", "NaN", "Infinity", "-Infinity", "\u00b2", "\u0663", "\uff11",
    "\x00", "a\x00b", "x" * 100_000, "' OR 1=1 --", "1); DROP TABLE party; --",
    date(1, 1, 1), date(9999, 12, 31), datetime(2999, 1, 1), "0001-01-01", "9999-12-31", "31/12/2026",
    "2026-W01-1", 20260101, [], [UNKNOWN], ["1", None], {}, {UNKNOWN: "5.00"}, {"a": "1e30"}, b"\x00bytes",
    object(),
]


def _baselines(p: Practice, audit_id: int, today: date, allocation_id: int,
               smtp: object) -> dict[str, dict[str, object]]:
    """Arguments that work for each public function on the practice (the table's starting point)."""
    return {
        "aging_basis": {},
        "list_allocations": {"receipt_id": p.receipt.id},
        "list_refunds": {}, "list_write_offs": {},
        "party_ledger": {"party_id": p.party.id},
        "reconcile": {},
        "refund": {"receipt_id": p.receipt.id, "amount": "1.00", "method": "check", "actor": ACTOR},
        "render_party_ledger_pdf": {"party_id": p.party.id},
        "unapply_allocation": {"allocation_id": allocation_id, "reason": "Wrong invoice", "actor": ACTOR},
        "write_off": {"invoice_id": p.e.invoice_id, "amount": "1.00", "reason": "small balance", "actor": ACTOR},
        "write_off_needs_confirmation": {"amount": "10.00"},
        "allocate_credit": {"credit_memo_id": p.memo.id, "allocations": {p.a.invoice_id: "1.00"}, "actor": ACTOR},
        "allocate_receipt": {"receipt_id": p.receipt.id, "allocations": {p.a.invoice_id: "1.00"}, "actor": ACTOR},
        "audit_actions": {}, "audit_actors": {},
        "audit_change_count": {"audit_id": audit_id},
        "audit_changes": {"audit_id": audit_id},
        "audit_log": {},
        "batch_items": {"batch_id": p.a.batch_id},
        "create_credit_memo": {"batch_item_id": p.a.id, "encounter_ids": [p.a_encounter], "action": "void",
                               "reason": "Billed in error", "actor": ACTOR},
        "create_group": {"name": "Inland Group", "actor": ACTOR},
        "create_on_demand_batch": {"party_id": p.party.id, "actor": ACTOR},
        "create_party": {"account_code": "NEW1", "name": "New Co", "actor": ACTOR},
        "csv_bytes": {"rows": [{"Name": "Acme", "Amount": "1.00"}]},
        "current_profile": {},
        "defuse": {"value": "=1+1"},
        "format_money": {"amount": Decimal("1250.00")},
        "get_batch": {"batch_id": p.a.batch_id},
        "get_party": {"party_id": p.party.id},
        "headline": {},
        "import_csv": {"kind": "parties", "actor": ACTOR,
                       "data": "account_code,name,kind,group,billable,contact_name,email,address_line1,"
                               "address_line2,city,state,postal_code\nNEW2,New Two,employer,,yes,,,,,,,\n"},
        "invoice_billing_enabled": {},
        "invoice_history": {}, "invoice_history_count": {},
        "invoice_totals": {"invoice_id": p.a.invoice_id},
        "invoices_by_month": {},
        "aging_report": {"by": "party", "limit": 10}, "collections_by_month": {}, "days_to_pay": {},
        "rebatch_effect": {"by": "sending"}, "rebatch_effects": {}, "unapplied_money": {},
        "list_batches": {}, "list_credit_memos": {}, "list_receipts": {},
        "load_demo_data": {},
        "navigate": {"text": "Acme"},
        "numbering_gaps": {},
        "open_aging": {},
        "open_invoices": {"party_id": p.party.id},
        "parse_money": {"value": "1,250.00"},
        "party_account": {"party_id": p.party.id},
        "party_count": {},
        "post_receipt": {"party_id": p.party.id, "amount": "60.00", "received_date": today, "method": "check",
                         "actor": ACTOR},
        "preview_on_demand_batch": {"party_id": p.party.id},
        "rebatch": {"source_batch_id": p.a.batch_id, "actor": ACTOR},
        "rebatch_invoices": {"invoice_ids": [p.a.invoice_id], "actor": ACTOR},
        "render_batch_item_pdf": {"batch_item_id": p.a.id},
        "render_batch_pdf": {"batch_id": p.a.batch_id, "workers": 1},
        "render_credit_memo_pdf": {"credit_memo_id": p.memo.id},
        "render_items_pdf": {"batch_item_ids": [p.a.id]},
        "render_statement_pdf": {"party_id": p.party.id},
        "save_invoice_profile": {"actor": ACTOR, "footer": "Thank you."},
        "search_groups": {}, "search_parties": {},
        "set_invoice_billing": {"enabled": True, "actor": ACTOR},
        "set_time_zone": {"zone": "America/Chicago", "actor": ACTOR},
        "suggest_allocation": {"party_id": p.party.id, "amount": "100.00"},
        "template_csv": {"kind": "parties"},
        "time_zone_name": {},
        "update_group": {"group_id": p.group.id, "actor": ACTOR},
        "update_party": {"party_id": p.party.id, "actor": ACTOR},
        "verify_document": {"kind": "batch_item", "ref_id": p.a.id},
        # E-mail through the module's SMTP server on loopback (tests/support/smtp.py).
        "send_batch_email": {"batch_id": p.a.batch_id, "actor": ACTOR, "settings": smtp},
        "send_test_email": {"to": "me@riverbend.example", "actor": ACTOR, "settings": smtp},
        "deliveries": {"batch_id": p.a.batch_id},
        "smtp_settings": {"secrets": {"host": "mail.example", "from": "billing@riverbend.example"}},
        "void_receipt": {"receipt_id": p.receipt.id, "reason": "Check returned", "actor": ACTOR},
    }


# Infrastructure, not a manager's input: opening an engine or a session from a URL the operator configured.
NOT_TABLED = {"open_engine", "read_session", "transaction"}
FUNCTIONS = sorted(name for name in core.__all__ if inspect.isfunction(getattr(core, name)) and name not in NOT_TABLED)
CASES: Counter = Counter()
# (function, argument, index of the hostile value) -> dialect -> "done" or "refused"
OUTCOMES: dict[tuple[str, str, int], dict[str, str]] = {}


def _parameters(name: str) -> list[str]:
    return [p.name for p in public_parameters(getattr(core, name))]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def practice_engine(request, tmp_path_factory):
    engine = module_engine(request, tmp_path_factory, "hostile")
    with Session(engine, expire_on_commit=False) as s:
        practice = build_practice(s)
        report = import_csv(s, kind="parties", actor=ACTOR,
                            data="account_code,name,kind,group,billable,contact_name,email,address_line1,"
                                 "address_line2,city,state,postal_code\nIMP1,Imported Co,employer,,yes,,,,,,,\n")
        assert report.ok
        s.commit()
        audit_id = core.audit_log(s, action="import.parties")[0].id
        [allocation] = core.list_allocations(s, receipt_id=practice.receipt.id)  # its 50.00 on invoice B
        server = smtp_server()
        _, smtp = server.__enter__()
        baselines = _baselines(practice, audit_id, core.clock.today(s), allocation.allocation_id, smtp)
    # Each function's arguments work as given (a table of refusals would prove little otherwise).
    yield engine, baselines
    server.__exit__(None, None, None)
    engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_argument_with_every_hostile_value(practice_engine, name):
    engine, baselines = practice_engine
    function = getattr(core, name)
    takes_session = _parameters(name) != list(inspect.signature(function).parameters)
    base = baselines[name]
    before = fingerprint(engine)
    failures = []
    for param in _parameters(name):
        for index, value in enumerate(HOSTILE):
            kwargs = {**base, param: value}
            outcome = OUTCOMES.setdefault((name, param, index), {})
            CASES[engine.dialect.name] += 1
            with Session(engine, expire_on_commit=False) as s:
                try:
                    function(s, **kwargs) if takes_session else function(**kwargs)
                    CASES[f"{engine.dialect.name} done"] += 1
                    outcome[engine.dialect.name] = "done"
                except InvoiceDeskError as exc:
                    CASES[f"{engine.dialect.name} refused"] += 1
                    outcome[engine.dialect.name] = f"refused: {exc}"[:160]
                    if not str(exc).strip():
                        failures.append(f"{param}={value!r:.60}: refused without a message")
                    commit_anyway(s)
                    after = fingerprint(engine)
                    if after != before:
                        changed = sorted(t for t in after if after[t] != before.get(t))
                        failures.append(f"{param}={value!r:.60}: refused, yet changed {changed}")
                    continue
                except Exception as exc:  # noqa: BLE001 - the point: nothing else may escape
                    failures.append(f"{param}={value!r:.60}: {type(exc).__name__}: {str(exc)[:200]}")
                    continue
                finally:
                    s.rollback()
            # A call that worked may have written beside the session (an archived document's fingerprint).
            before = fingerprint(engine)
    assert not failures, f"{name}: {len(failures)} cases failed:\n" + "\n".join(failures[:40])


@pytest.mark.slow
def test_the_table_ran_every_case():
    print("\ncases:", dict(CASES))
    for dialect in ("sqlite", "postgresql"):
        if CASES[dialect]:
            assert CASES[f"{dialect} done"] > 0 and CASES[f"{dialect} refused"] > 0
    # The same call gets the same answer from either database: both done, or both refused.
    differ = [f"{name}({param}={HOSTILE[index]!r:.40}): {seen}" for (name, param, index), seen in OUTCOMES.items()
              if len(seen) == 2 and (seen["sqlite"] == "done") != (seen["postgresql"] == "done")]
    groups = Counter(d.split("=")[0] for d in differ)
    assert not differ, f"{len(differ)} cases differ between the databases: {dict(groups)}\n" + "\n".join(differ[:60])
