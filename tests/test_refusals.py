"""Every public writer refuses bad input with a clear message and changes nothing, even committed anyway.

Each case runs against one small practice (below) on SQLite and PostgreSQL, and is checked with the
whole-database fingerprint: the caller catches the refusal and commits whatever the session holds.
A writer that adds a row, takes a number or changes a loaded object before it validates shows up here.
The refusals each writer's own test file already checks this way (bad amounts, dates and ranges, a paid
invoice, credit memo actions, both or neither batch target, ...) are not repeated; imports are in
test_imports.py, since a bad file is reported rather than raised.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core import (
    BillingDisabledError,
    ConcurrencyError,
    NotFoundError,
    allocate_credit,
    allocate_receipt,
    clock,
    create_credit_memo,
    create_group,
    create_on_demand_batch,
    create_party,
    invoice_totals,
    post_receipt,
    rebatch,
    save_invoice_profile,
    set_invoice_billing,
    update_group,
    update_party,
    void_receipt,
)
from core.models import Batch, BatchItem, Group, Invoice
from tests.factories import ACTOR
from tests.support.fingerprint import assert_refused_unchanged
from tests.support.practice import Practice, build_practice

D = Decimal
UNKNOWN = 987654


@pytest.fixture
def practice(session) -> Practice:
    return build_practice(session)


def _billing_off(session):
    set_invoice_billing(session, enabled=False, actor=ACTOR)


def _refused(session, practice, prepare, action, match):
    if prepare:
        prepare(session)
    refusal = assert_refused_unchanged(session, lambda: action(session, practice), match=match)
    # A record that does not exist is a NotFoundError (pages show it as such), anything else is not.
    assert isinstance(refusal, NotFoundError) == (str(UNKNOWN) in match), type(refusal)
    return refusal


# ---------- post_receipt ----------

def _receipt(**change):
    def call(s, p: Practice):
        args = dict(party_id=p.party.id, amount="60.00", received_date=clock.today(s), method="check",
                    reference="CHK 200", actor=ACTOR)
        args.update({k: (v(s, p) if callable(v) else v) for k, v in change.items()})
        return post_receipt(s, **args)
    return call


RECEIPT_CASES = [
    ("unknown party", None, _receipt(party_id=UNKNOWN), "no bill-to party with id 987654"),
    ("unknown invoice", None, _receipt(allocations={UNKNOWN: "10.00"}), "no invoice with id 987654"),
    ("good allocation then another party's", None,
     _receipt(amount="200.00", allocations=lambda s, p: {p.a.invoice_id: "10.00", p.t.invoice_id: "10.00"}),
     "belongs to another party"),
    ("over the invoice's balance", None, _receipt(amount="500.00", allocations=lambda s, p: {p.a.invoice_id: "100.01"}),
     r"\$100.01 is more than invoice .* balance of \$100.00"),
    ("over the receipt", None,
     _receipt(amount="60.00", allocations=lambda s, p: {p.a.invoice_id: "50.00", p.e.invoice_id: "10.01"}),
     r"add up to \$60.01, more than the \$60.00 available"),
    ("allocation of zero", None, _receipt(allocations=lambda s, p: {p.a.invoice_id: "0"}), "above zero"),
    ("no received date", None, _receipt(received_date=None), "Received date is required"),
    ("bad post date", None, _receipt(post_date="last Friday"), "Post date 'last Friday' is not a date"),
    ("reference too long", None, _receipt(reference="R" * 121), "Reference is 121 characters long; shorten it to at most 120"),
    ("note too long", None, _receipt(note="n" * 2001), "Note is 2,001 characters long; shorten it to at most 2,000"),
    ("no actor", None, _receipt(actor="  "), "actor"),
    ("billing switched off", _billing_off, _receipt(allocations=lambda s, p: {p.a.invoice_id: "10.00"}),
     "Settings > Invoice billing"),
]


@pytest.mark.parametrize("prepare, action, match", [c[1:] for c in RECEIPT_CASES],
                         ids=[c[0] for c in RECEIPT_CASES])
def test_post_receipt_refusals_change_nothing(session, practice, prepare, action, match):
    _refused(session, practice, prepare, action, match)


# ---------- allocate_receipt and allocate_credit ----------

def _allocate(allocations, receipt=None):
    def call(s, p: Practice):
        rid = receipt(p) if callable(receipt) else (receipt or p.receipt.id)
        return allocate_receipt(s, receipt_id=rid, allocations=allocations(p), actor=ACTOR)
    return call


ALLOCATE_CASES = [
    ("unknown receipt", None, _allocate(lambda p: {p.a.invoice_id: "1.00"}, receipt=UNKNOWN),
     "no receipt with id 987654"),
    ("unknown invoice", None, _allocate(lambda p: {UNKNOWN: "1.00"}), "no invoice with id 987654"),
    ("another party's invoice", None, _allocate(lambda p: {p.t.invoice_id: "1.00"}), "belongs to another party"),
    ("over the invoice's balance", None, _allocate(lambda p: {p.e.invoice_id: "15.01"}),
     r"\$15.01 is more than invoice .* balance of \$15.00"),
    ("over the unapplied amount", None, _allocate(lambda p: {p.a.invoice_id: "80.01"}),
     r"more than the \$80.00 available"),
    ("good allocation then over the unapplied amount", None,
     _allocate(lambda p: {p.e.invoice_id: "15.00", p.a.invoice_id: "65.01"}), r"more than the \$80.00 available"),
    ("to a paid invoice", None, _allocate(lambda p: {p.b.invoice_id: "1.00"}), "already paid"),
    ("nothing to allocate", None, _allocate(lambda p: {}), "at least one invoice"),
    ("on a voided receipt", None, _allocate(lambda p: {p.a.invoice_id: "1.00"}, receipt=lambda p: p.voided.id),
     "is voided"),
    ("billing switched off", _billing_off, _allocate(lambda p: {p.a.invoice_id: "1.00"}),
     "Settings > Invoice billing"),
]


@pytest.mark.parametrize("prepare, action, match", [c[1:] for c in ALLOCATE_CASES],
                         ids=[c[0] for c in ALLOCATE_CASES])
def test_allocate_receipt_refusals_change_nothing(session, practice, prepare, action, match):
    _refused(session, practice, prepare, action, match)
    session.refresh(practice.receipt)
    assert practice.receipt.unapplied == D("80.00")


def _credit(allocations, memo=None):
    def call(s, p: Practice):
        return allocate_credit(s, credit_memo_id=memo or p.memo.id, allocations=allocations(p), actor=ACTOR)
    return call


CREDIT_CASES = [
    ("unknown credit memo", _credit(lambda p: {p.a.invoice_id: "1.00"}, memo=UNKNOWN), "no credit memo with id 987654"),
    ("another party's invoice", _credit(lambda p: {p.t.invoice_id: "1.00"}), "belongs to another party"),
    ("over the invoice's balance", _credit(lambda p: {p.e.invoice_id: "15.01"}), "balance of \\$15.00"),
    ("over the unapplied credit", _credit(lambda p: {p.a.invoice_id: "20.01"}), r"more than the \$20.00 available"),
    ("to a paid invoice", _credit(lambda p: {p.b.invoice_id: "1.00"}), "already paid"),
    ("nothing to allocate", _credit(lambda p: {}), "at least one invoice"),
]


@pytest.mark.parametrize("action, match", [c[1:] for c in CREDIT_CASES], ids=[c[0] for c in CREDIT_CASES])
def test_allocate_credit_refusals_change_nothing(session, practice, action, match):
    _refused(session, practice, None, action, match)


# ---------- void_receipt ----------

VOID_CASES = [
    ("unknown receipt", lambda s, p: void_receipt(s, receipt_id=UNKNOWN, reason="NSF", actor=ACTOR),
     "no receipt with id 987654"),
    ("twice", lambda s, p: void_receipt(s, receipt_id=p.voided.id, reason="NSF again", actor=ACTOR),
     "already voided on .*: Check returned NSF"),
    ("empty reason", lambda s, p: void_receipt(s, receipt_id=p.receipt.id, reason="  ", actor=ACTOR),
     "reason is required"),
    ("reason too long", lambda s, p: void_receipt(s, receipt_id=p.receipt.id, reason="x" * 501, actor=ACTOR),
     "Reason is 501 characters long; shorten it to at most 500"),
    ("no actor", lambda s, p: void_receipt(s, receipt_id=p.receipt.id, reason="NSF", actor=""), "actor"),
]


@pytest.mark.parametrize("action, match", [c[1:] for c in VOID_CASES], ids=[c[0] for c in VOID_CASES])
def test_void_receipt_refusals_change_nothing(session, practice, action, match):
    _refused(session, practice, None, action, match)
    assert invoice_totals(session, practice.b.invoice_id).status == "Paid"  # the receipt still pays B


# ---------- create_credit_memo ----------

def _memo(item=lambda p: p.a.id, encounters=None, action="void", reason="Billed in error", **extra):
    def call(s, p: Practice):
        ids = encounters(p) if encounters else [p.a_encounter]
        return create_credit_memo(s, batch_item_id=item(p), encounter_ids=ids, action=action, reason=reason,
                                  actor=ACTOR, **{k: (v(p) if callable(v) else v) for k, v in extra.items()})
    return call


MEMO_CASES = [
    ("unknown batch item", _memo(item=lambda p: UNKNOWN), "no batch item with id 987654"),
    ("a credited encounter with a new one", _memo(item=lambda p: p.b.id, encounters=lambda p: p.b_encounters),
     "already credited on CM-000001"),
    ("another invoice's encounter", _memo(encounters=lambda p: [p.t_encounter]), "is not on invoice"),
    ("an encounter not yet invoiced", _memo(encounters=lambda p: [p.fresh]), "is not on invoice"),
    ("reassign to an unknown party", _memo(action="reassign", reassign_to_party_id=UNKNOWN),
     "no bill-to party with id 987654"),
]


@pytest.mark.parametrize("action, match", [c[1:] for c in MEMO_CASES], ids=[c[0] for c in MEMO_CASES])
def test_create_credit_memo_refusals_change_nothing(session, practice, action, match):
    _refused(session, practice, None, action, match)
    assert invoice_totals(session, practice.a.invoice_id).credits == D("0.00")


# ---------- create_on_demand_batch and rebatch ----------

def _batch(**kwargs):
    def call(s, p: Practice):
        args = {"party_id": p.party.id, "actor": ACTOR}
        args.update({k: (v(p) if callable(v) else v) for k, v in kwargs.items()})
        return create_on_demand_batch(s, **args)
    return call


def _rebatch(**kwargs):
    def call(s, p: Practice):
        args = {"source_batch_id": p.a.batch_id, "actor": ACTOR}
        args.update({k: (v(p) if callable(v) else v) for k, v in kwargs.items()})
        return rebatch(s, **args)
    return call


BATCH_CASES = [
    ("batch: billing switched off", _billing_off, _batch(), "Settings > Invoice billing"),
    ("batch: nothing eligible", None, _batch(party_id=lambda p: p.other.id), "Nothing to invoice for Bolt"),
    ("batch: nothing in the ranges", None, _batch(dos_from=date(2026, 5, 1)), "1 outside DOS range"),
    ("batch: note too long", None, _batch(internal_note="n" * 2001), "Internal note is 2,001 characters long; shorten it to at most 2,000"),
    ("rebatch: billing switched off", _billing_off, _rebatch(), "Settings > Invoice billing"),
    ("rebatch: another batch's invoice", None, _rebatch(invoice_ids=lambda p: [p.t.invoice_id]),
     "does not contain invoice INV-"),
    ("rebatch: no invoices chosen", None, _rebatch(invoice_ids=[]), "at least one invoice"),
    ("rebatch: only paid invoices", None, _rebatch(source_batch_id=lambda p: p.b.batch_id), "are paid"),
    ("rebatch: note too long", None, _rebatch(internal_note="n" * 2001), "Internal note is 2,001 characters long; shorten it to at most 2,000"),
]


@pytest.mark.parametrize("prepare, action, match", [c[1:] for c in BATCH_CASES], ids=[c[0] for c in BATCH_CASES])
def test_batch_and_rebatch_refusals_change_nothing(session, practice, prepare, action, match):
    refusal = _refused(session, practice, prepare, action, match)
    assert isinstance(refusal, BillingDisabledError) == (prepare is _billing_off)


# ---------- parties, groups and the invoice profile ----------

PARTY_CASES = [
    ("create: account code in use", lambda s, p: create_party(s, account_code=p.party.account_code, name="Again",
                                                             actor=ACTOR), "already in use"),
    ("create: no name", lambda s, p: create_party(s, account_code="NEW1", name="  ", actor=ACTOR), "needs a name"),
    ("create: unknown kind", lambda s, p: create_party(s, account_code="NEW1", name="New", kind="insurer",
                                                       actor=ACTOR), "employer or attorney"),
    ("create: bad e-mail", lambda s, p: create_party(s, account_code="NEW1", name="New", email="ap@acme",
                                                     actor=ACTOR), "not an e-mail"),
    ("create: unknown group", lambda s, p: create_party(s, account_code="NEW1", name="New", group_id=UNKNOWN,
                                                        actor=ACTOR), "no employer group with id 987654"),
    ("create: name too long", lambda s, p: create_party(s, account_code="NEW1", name="N" * 201, actor=ACTOR),
     "Name is 201 characters long; shorten it to at most 200"),
    ("create: billable not yes or no", lambda s, p: create_party(s, account_code="NEW1", name="New",
                                                                 billable="maybe", actor=ACTOR), "Billable must be"),
    ("update: unknown party", lambda s, p: update_party(s, party_id=UNKNOWN, name="X", actor=ACTOR),
     "no bill-to party with id 987654"),
    ("update: another party's account code", lambda s, p: update_party(
        s, party_id=p.other.id, account_code=p.party.account_code, actor=ACTOR), "already in use"),
    ("update: name and a bad e-mail", lambda s, p: update_party(s, party_id=p.party.id, name="Renamed",
                                                                email="nope", actor=ACTOR), "not an e-mail"),
    ("update: empty name", lambda s, p: update_party(s, party_id=p.party.id, name="", actor=ACTOR), "needs a name"),
    ("update: unknown group", lambda s, p: update_party(s, party_id=p.party.id, name="Renamed", group_id=UNKNOWN,
                                                        actor=ACTOR), "no employer group with id 987654"),
    ("update: unknown field", lambda s, p: update_party(s, party_id=p.party.id, colour="red", actor=ACTOR),
     "Unknown party field"),
    ("update: active not yes or no", lambda s, p: update_party(s, party_id=p.party.id, name="Renamed",
                                                               active="no", actor=ACTOR), "Active must be"),
    ("group create: empty name", lambda s, p: create_group(s, name=" ", actor=ACTOR), "needs a name"),
    ("group create: name in use", lambda s, p: create_group(s, name="HARBOR GROUP", actor=ACTOR),
     "already a group called HARBOR GROUP"),
    ("group update: unknown group", lambda s, p: update_group(s, group_id=UNKNOWN, name="X", actor=ACTOR),
     "no employer group with id 987654"),
    ("group update: empty name", lambda s, p: update_group(s, group_id=p.group.id, name="", actor=ACTOR),
     "needs a name"),
    ("group update: name of another group", lambda s, p: update_group(s, group_id=p.group.id, name="bolt sites",
                                                                      actor=ACTOR), "already a group"),
    ("group update: rename with a bad active flag", lambda s, p: update_group(
        s, group_id=p.group.id, name="Harbor and Bay", active="no", actor=ACTOR), "Active must be"),
    ("profile: unknown field", lambda s, p: save_invoice_profile(s, colour="red", actor=ACTOR),
     "Unknown invoice profile field .colour.\\."),
    ("profile: total by", lambda s, p: save_invoice_profile(s, total_by="party", actor=ACTOR), "Total by"),
    ("profile: terms", lambda s, p: save_invoice_profile(s, terms_days=366, actor=ACTOR), "0 to 365"),
    ("profile: prefix", lambda s, p: save_invoice_profile(s, number_prefix="INV #", actor=ACTOR), "number prefix"),
    ("profile: logo too large", lambda s, p: save_invoice_profile(s, logo=b"x" * (2 * 1024 * 1024 + 1),
                                                                  actor=ACTOR), "larger than 2 MB"),
    ("profile: remit-to name too long", lambda s, p: save_invoice_profile(s, remit_to_name="R" * 201,
                                                                          actor=ACTOR), "Remit to name is 201 characters long"),
    ("profile: footer too long", lambda s, p: save_invoice_profile(s, footer="F" * 201, actor=ACTOR),
     "The footer is 201 characters; at most 200 fit"),
]


@pytest.mark.parametrize("action, match", [c[1:] for c in PARTY_CASES], ids=[c[0] for c in PARTY_CASES])
def test_party_group_and_profile_refusals_change_nothing(session, practice, action, match):
    create_group(session, name="Bolt Sites", actor=ACTOR)
    _refused(session, practice, None, action, match)


def test_rebatch_that_collides_takes_back_its_own_writes_and_keeps_the_callers(session, practice):
    """A resend that meets another manager's item -2 is refused; its batch and suffixes go, the caller's stay."""
    a = practice.a
    # What a concurrent resend leaves behind: item -2 of invoice A, its invoice row not yet showing it.
    session.add(BatchItem(batch_id=a.batch_id, invoice_id=a.invoice_id, party_id=practice.party.id, times_batched=2,
                          invoice_number=f"{a.invoice_number}-2", sent_on=a.sent_on, billed_cents=10000,
                          payments_cents=0, credits_cents=0, balance_cents=10000))
    session.commit()
    refusal = assert_refused_unchanged(session, lambda: rebatch(session, source_batch_id=a.batch_id, actor=ACTOR),
                                       match="Another manager resent these invoices")
    assert isinstance(refusal, ConcurrencyError)
    # In one caller transaction, a write made before the refused rebatch is kept.
    create_group(session, name="Kept Group", actor=ACTOR)
    with pytest.raises(ConcurrencyError):
        rebatch(session, source_batch_id=a.batch_id, actor=ACTOR)
    session.commit()
    assert session.execute(sa.select(Group.name).where(Group.name == "Kept Group")).scalar_one() == "Kept Group"
    assert session.execute(sa.select(sa.func.count()).select_from(Batch)).scalar_one() == 4  # A, E, B, T
    assert session.get(Invoice, a.invoice_id).times_batched == 1
