"""A small practice with one of everything a refusal can be aimed at, for the refusal tables.

Two parties (one in a group), four invoices (open, open, paid, another party's), an uninvoiced encounter, a
receipt with money unapplied, a voided receipt and a credit memo with unapplied credit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from core import (
    clock,
    create_credit_memo,
    create_on_demand_batch,
    invoice_totals,
    post_receipt,
    void_receipt,
)
from core.models import Group, Party
from tests.factories import ACTOR, billing_on, make_encounter, make_group, make_party

D = Decimal


@dataclass
class Practice:
    party: Party           # has invoices A (100.00, open), E (15.00, open) and B (30.00 + 20.00, paid)
    other: Party           # has invoice T (70.00, open)
    group: Group
    a: object              # batch items, one per invoice
    e: object
    b: object
    t: object
    a_encounter: int
    b_encounters: list[int]
    t_encounter: int
    fresh: int             # an encounter of party not yet invoiced (dated 2026-04-15, 25.00)
    receipt: object        # 130.00, 50.00 on B: 80.00 unapplied
    voided: object         # 10.00, voided
    memo: object           # CM-000001 on B's 20.00 encounter: B was paid, so 20.00 unapplied credit


def build_practice(session) -> Practice:
    """The small practice every refusal case relies on, committed; its starting figures asserted."""
    billing_on(session)
    group = make_group(session, "Harbor Group")
    party = make_party(session, name="Acme Manufacturing", group=group)
    other = make_party(session, name="Bolt Industries")

    def invoice(p, amounts, dos):
        encounters = [make_encounter(session, p, dos=dos, amounts=(x,)) for x in amounts]
        item = create_on_demand_batch(session, party_id=p.id, actor=ACTOR).items[0]
        return item, [e.id for e in encounters]

    a, (a_encounter,) = invoice(party, ["100.00"], date(2026, 1, 5))
    e, _ = invoice(party, ["15.00"], date(2026, 1, 6))
    b, b_encounters = invoice(party, ["30.00", "20.00"], date(2026, 1, 7))
    t, (t_encounter,) = invoice(other, ["70.00"], date(2026, 1, 8))
    fresh = make_encounter(session, party, dos=date(2026, 4, 15), amounts=("25.00",))
    today = clock.today(session)
    receipt = post_receipt(session, party_id=party.id, amount="130.00", received_date=today, method="check",
                           reference="CHK 100", allocations={b.invoice_id: "50.00"}, actor=ACTOR)
    voided = post_receipt(session, party_id=party.id, amount="10.00", received_date=today, method="check",
                          actor=ACTOR)
    void_receipt(session, receipt_id=voided.id, reason="Check returned NSF", actor=ACTOR)
    memo = create_credit_memo(session, batch_item_id=b.id, encounter_ids=[b_encounters[1]], action="void",
                              reason="Billed in error", actor=ACTOR)
    session.commit()
    # The starting point every case relies on, from the amounts above.
    assert (receipt.unapplied, memo.unapplied) == (D("80.00"), D("20.00"))
    assert [invoice_totals(session, i.invoice_id).balance_due for i in (a, e, b, t)] == [
        D("100.00"), D("15.00"), D("0.00"), D("70.00")]
    return Practice(party, other, group, a, e, b, t, a_encounter, b_encounters, t_encounter, fresh.id, receipt,
                    voided, memo)
