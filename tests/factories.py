"""Small factories that make parties, groups and encounters for tests."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

from sqlmodel import Session

from core import clock, set_invoice_billing
from core.allocations import refresh_invoices
from core.models import (
    Allocation,
    ChargeLine,
    Encounter,
    Group,
    Invoice,
    Party,
    Patient,
    Receipt,
)
from core.money import to_cents
from core.numbering import next_numbers

_counter = itertools.count(1)
ACTOR = "test.manager"


def billing_on(session: Session) -> None:
    set_invoice_billing(session, enabled=True, actor=ACTOR)


def make_group(session: Session, name: str | None = None) -> Group:
    group = Group(name=name or f"Group {next(_counter)}")
    session.add(group)
    session.flush()
    return group


def make_party(session: Session, *, name: str | None = None, group: Group | None = None, billable: bool = True,
               address: bool = True, kind: str = "employer") -> Party:
    n = next(_counter)
    party = Party(account_code=f"ACC{n:05d}", name=name or f"Employer {n}", kind=kind,
                  group_id=group.id if group else None, billable=billable,
                  address_line1="1 Main St" if address else "", city="Springfield" if address else "",
                  state="IL", postal_code="62701" if address else "")
    session.add(party)
    session.flush()
    return party


def make_encounter(session: Session, party: Party, *, dos: date = date(2026, 3, 10), post: date | None = None,
                   amounts: tuple[str, ...] = ("100.00",), voided: bool = False) -> Encounter:
    n = next(_counter)
    patient = Patient(account=f"P{n:06d}", name=f"Patient {n}")
    session.add(patient)
    session.flush()
    cents = [to_cents(Decimal(a)) for a in amounts]
    enc = Encounter(number=f"E{n:07d}", patient_id=patient.id, party_id=party.id, date_of_service=dos,
                    post_date=post or dos, total_cents=sum(cents), voided=voided)
    session.add(enc)
    session.flush()
    for i, c in enumerate(cents, start=1):
        session.add(ChargeLine(encounter_id=enc.id, line_no=i, procedure_code="99213", description="Visit",
                               units=1, amount_cents=c))
    session.flush()
    return enc


def pay_directly(session: Session, invoice_id: int, amount: str) -> None:
    """A payment written straight to the ledger, for tests that do not exercise receipts."""
    inv = session.get(Invoice, invoice_id)
    (number,) = next_numbers(session, "receipt")
    receipt = Receipt(number=number, party_id=inv.party_id, amount_cents=to_cents(Decimal(amount)),
                      received_date=clock.today(), post_date=clock.today(), method="check", reference="CHK 1",
                      created_by=ACTOR, created_at=clock.now())
    session.add(receipt)
    session.flush()
    session.add(Allocation(invoice_id=invoice_id, receipt_id=receipt.id, amount_cents=to_cents(Decimal(amount)),
                           created_by=ACTOR, created_at=clock.now()))
    session.flush()
    refresh_invoices(session, [invoice_id])

