"""Credit memos: correcting encounters invoiced in error, with the credit beyond the balance left unapplied."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session, col

from core import allocations as ledger
from core import audit, clock, locking, requests
from core.db import expire_loaded, get_record, guarded
from core.errors import InvoiceDeskError, NotFoundError
from core.models import (
    CREDIT_ACTIONS,
    BatchItem,
    CreditAction,
    CreditMemo,
    CreditMemoLine,
    Encounter,
    Invoice,
    InvoiceLine,
    Party,
)
from core.money import MoneyInput, format_money, from_cents, parse_money, to_cents
from core.numbering import credit_memo_number, next_numbers
from core.parties import get_party
from core.roles import Actor
from core.settings import needs_invoice_billing
from core.validation import free_text


@guarded
def create_credit_memo(session: Session, *, batch_item_id: int, encounter_ids: list[int], action: str, reason: str,
                       reassign_to_party_id: int | None = None, actor: str | Actor,
                       line_amounts: dict[int, MoneyInput] | None = None,
                       as_of: datetime | None = None, request_key: str | None = None) -> CreditMemo:
    """Credit encounters of the invoice a batch item sent; cannot be undone, so the caller confirms first.

    `encounter_ids` are credited whole (what is left of each) and leave the invoice as `action` says (self-pay,
    reassign, void). `line_amounts` (encounter id -> amount) credit an amount on an encounter that stays billed:
    an adjustment, never above what is left of it; with only amounts the action is "adjust".
    """
    actor = audit.require_actor(actor)
    key = requests.check_key(request_key)
    item = get_record(session, BatchItem, batch_item_id)
    if item is None:
        raise NotFoundError(f"There is no batch item with id {batch_item_id!r}.")
    if action not in CREDIT_ACTIONS:
        raise InvoiceDeskError(f"Action '{action}' is not one of {', '.join(CreditAction)}.")
    action = CreditAction(action)
    reason = free_text(reason, "reason", 1000)
    if not reason:
        raise InvoiceDeskError("A reason is required for a credit memo (it is printed on it).")
    target = None
    if action == CreditAction.REASSIGN:
        if reassign_to_party_id is None:
            raise InvoiceDeskError("Choose the bill-to party the encounters are reassigned to.")
        target = get_party(session, reassign_to_party_id)
        if target.id == item.party_id:
            raise InvoiceDeskError("Reassign to a different party than the one already billed.")
    elif reassign_to_party_id is not None:
        raise InvoiceDeskError(f"A party to reassign to is only for the 'reassign' action, not '{action}'.")
    wanted = list(dict.fromkeys(encounter_ids or []))
    amounts = _line_amounts(line_amounts)
    if not wanted and not amounts:
        raise InvoiceDeskError("Select at least one encounter to credit, or enter an amount to credit on one.")
    if action == CreditAction.ADJUST and wanted:
        raise InvoiceDeskError("An adjustment credits amounts on encounters that stay billed; to credit whole "
                               "encounters choose self-pay, reassign or void.")
    if action != CreditAction.ADJUST and not wanted:
        raise InvoiceDeskError("Only amounts were entered: that is an adjustment; choose the action 'adjust'.")
    # The billed party and the party the visits move to, by id; then read the invoice as it is now.
    locking.lock_parties(session, [item.party_id, reassign_to_party_id])
    asked = {"item": item.id, "encounters": wanted, "action": str(action), "reason": reason,
             "reassign_to": reassign_to_party_id, **({"amounts": amounts} if amounts else {})}
    done = requests.replay(session, key, "credit_memo.create", asked)
    if done is not None:
        return session.get_one(CreditMemo, done[0])
    ledger.lock_invoices(session, [item.invoice_id])
    invoice = session.execute(sa.select(Invoice).where(col(Invoice.id) == item.invoice_id)
                              .execution_options(populate_existing=True)).scalar_one()

    asked_for = [*wanted, *(e for e in amounts if e not in wanted)]
    cml = CreditMemoLine.__table__
    credited_so_far = (sa.select(sa.func.coalesce(sa.func.sum(cml.c.amount_cents), 0))
                       .where(cml.c.invoice_line_id == col(InvoiceLine.id)).scalar_subquery())
    lines = {r.encounter_id: r for r in session.execute(
        sa.select(col(InvoiceLine.id), col(InvoiceLine.encounter_id), col(InvoiceLine.amount_cents), col(InvoiceLine.live),
                  col(Encounter.number), credited_so_far.label("credited"))
        .join(Encounter, col(Encounter.id) == col(InvoiceLine.encounter_id))
        .where(col(InvoiceLine.invoice_id) == invoice.id, col(InvoiceLine.encounter_id).in_(asked_for)))}
    credited_whole = dict(session.execute(
        sa.select(col(CreditMemoLine.encounter_id), col(CreditMemo.number)).join(CreditMemo)
        .where(col(CreditMemo.invoice_id) == invoice.id, col(CreditMemoLine.whole),
               col(CreditMemoLine.encounter_id).in_(asked_for))).all())
    for encounter_id in asked_for:
        line = lines.get(encounter_id)
        if line is None:
            known = session.execute(sa.select(col(Encounter.number)).where(col(Encounter.id) == encounter_id)).scalar()
            raise InvoiceDeskError(f"Encounter {known} is not on invoice {invoice.number}." if known
                                   else f"There is no encounter with id {encounter_id}.")
        if encounter_id in credited_whole or not line.live:
            raise InvoiceDeskError(f"Encounter {line.number} was already credited on "
                                   f"{credit_memo_number(credited_whole[encounter_id]) if encounter_id in credited_whole else 'a credit memo'}.")
        if encounter_id in wanted and encounter_id in amounts:
            raise InvoiceDeskError(f"Encounter {line.number} is credited whole; do not enter an amount on it too.")
        left = line.amount_cents - line.credited
        if encounter_id in amounts and amounts[encounter_id] > left:
            raise InvoiceDeskError(f"{format_money(from_cents(amounts[encounter_id]))} is more than what is left to "
                                   f"credit on encounter {line.number} ({format_money(from_cents(left))}).")
    whole = {e: lines[e].amount_cents - lines[e].credited for e in wanted}
    amount = sum(whole.values()) + sum(amounts.values())
    if amount <= 0:
        raise InvoiceDeskError("The selected encounters have $0.00 left to credit; there is nothing to credit.")

    at = as_of or clock.now()
    (number,) = next_numbers(session, "credit_memo")
    memo = CreditMemo(number=number, invoice_id=invoice.id, batch_item_id=item.id, party_id=invoice.party_id,
                      action=action, reason=reason, reassign_to_party_id=reassign_to_party_id, amount_cents=amount,
                      issued_on=clock.day_of(at, session), created_by=actor, created_at=at)
    session.add(memo)
    session.flush()
    session.execute(sa.insert(cml), [
        *({"credit_memo_id": memo.id, "invoice_line_id": lines[e].id, "encounter_id": e, "amount_cents": c,
           "whole": True} for e, c in whole.items()),
        *({"credit_memo_id": memo.id, "invoice_line_id": lines[e].id, "encounter_id": e, "amount_cents": c,
           "whole": False} for e, c in amounts.items())])
    if wanted:
        il, enc = InvoiceLine.__table__, Encounter.__table__
        session.execute(sa.update(il).where(il.c.id.in_([lines[e].id for e in wanted])).values(live=False))
        moves: dict[CreditAction, dict[str, object]] = {
            CreditAction.SELF_PAY: {"party_id": None, "self_pay": True}, CreditAction.VOID: {"voided": True},
            CreditAction.REASSIGN: {"party_id": reassign_to_party_id}}
        session.execute(sa.update(enc).where(enc.c.id.in_(wanted)).values(**moves[action]))
        expire_loaded(session, Encounter, wanted)
        expire_loaded(session, InvoiceLine, [lines[e].id for e in wanted])

    # The credit pays down this invoice first; what exceeds its balance stays with the party as credit.
    applied = min(amount, invoice.balance_cents)
    ledger.apply(session, source=memo, allocations={invoice.id: applied} if applied else {}, actor=actor, at=at,
                 checked=True)
    session.refresh(memo)
    requests.remember(session, key, "credit_memo.create", [memo.id], asked, actor=actor, at=at)
    audit.record(session, actor=actor, action="credit_memo.create", entity="credit_memo", ids=[memo.id], at=at,
                 detail={"number": credit_memo_number(number), "invoice": invoice.number, "action": action,
                         "reason": reason, "encounters": [lines[e].number for e in wanted],
                         "adjustments": {lines[e].number: str(from_cents(c)) for e, c in amounts.items()} or None,
                         "amount": str(from_cents(amount)), "unapplied": str(from_cents(amount - applied)),
                         "reassigned_to": target.account_code if target is not None else None})
    return memo


def _line_amounts(line_amounts: dict | None) -> dict[int, int]:
    """Encounter id -> cents to credit on it, each above zero; nothing is read."""
    if line_amounts is None:
        return {}
    if not isinstance(line_amounts, dict):
        raise InvoiceDeskError("Amounts to credit are given as encounter id -> amount.")
    out: dict[int, int] = {}
    for encounter_id, value in line_amounts.items():
        if isinstance(encounter_id, bool) or not isinstance(encounter_id, int):
            raise InvoiceDeskError(f"Encounter id {encounter_id!r} is not a number.")
        out[encounter_id] = to_cents(parse_money(value, field="The amount to credit"))
    return out


@guarded
@needs_invoice_billing("applying credit to invoices")
def allocate_credit(session: Session, *, credit_memo_id: int, allocations: dict[int, MoneyInput], actor: str | Actor,
                    as_of: datetime | None = None, request_key: str | None = None) -> CreditMemo:
    """Apply a credit memo's unapplied credit to other open invoices of its party."""
    actor = audit.require_actor(actor)
    key = requests.check_key(request_key)
    parsed = ledger.parse(allocations)
    memo = ledger.locked_source(session, CreditMemo, credit_memo_id, "credit memo")
    done = requests.replay(session, key, "credit_memo.allocate", {"source": memo.id, "allocations": parsed})
    if done is not None:
        return session.get_one(CreditMemo, done[0])
    return ledger.allocate_unapplied(session, source=memo, number=credit_memo_number(memo.number), entity="credit_memo",
                               allocations=parsed, actor=actor, as_of=as_of, key=key)


@dataclass(frozen=True)
class CreditMemoRow:
    credit_memo_id: int
    number: str
    invoice_number: str
    party_id: int
    party_name: str
    action: str
    reason: str
    amount: Decimal
    unapplied: Decimal
    created_on: date
    created_by: str
    refunded: Decimal = Decimal("0.00")


@guarded
def list_credit_memos(session: Session, *, party_id: int | None = None, only_unapplied: bool = False,
                      limit: int = 100, offset: int = 0) -> list[CreditMemoRow]:
    cm, inv, p = CreditMemo.__table__, Invoice.__table__, Party.__table__
    q = (sa.select(cm, inv.c.number.label("invoice_number"), p.c.name.label("party_name"))
         .join(inv, inv.c.id == cm.c.invoice_id).join(p, p.c.id == cm.c.party_id)
         .order_by(cm.c.id.desc()).limit(limit).offset(offset))
    if party_id is not None:
        q = q.where(cm.c.party_id == party_id)
    if only_unapplied:
        q = q.where(ledger.unapplied(cm) > 0)
    return [CreditMemoRow(r.id, credit_memo_number(r.number), r.invoice_number, r.party_id, r.party_name, r.action,
                          r.reason, from_cents(r.amount_cents),
                          from_cents(r.amount_cents - r.applied_cents - r.refunded_cents),
                          clock.day_of(r.created_at, session), r.created_by, from_cents(r.refunded_cents))
            for r in session.execute(q)]
