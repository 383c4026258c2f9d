"""An independent, pure-Python model of the money rules (domain.md rules 2, 5, 6, 7, 9, 10) and of the
corrections of issue 12: write-offs, refunds, un-applying one allocation and amounts credited on encounters
that stay billed (adjustments).

It knows nothing of `core`: plain dicts of parties, encounters, invoices, receipts, credit memos, write-offs,
refunds and allocations, money in integer cents, days as `datetime.date`. The property tests drive the real
code and this model side by side: the model says whether an action must succeed or must be refused (and why,
as a set of reasons, any of which may be the one the code names), and what every figure is afterwards.

Records are keyed by the ids the database gave them: an id is identity (and the tie-break of "oldest
first"), never a figure. The model is told each id right after the real call made the record; an allocation
the model makes without one, and `told_allocation` names it from the row the code wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

# A refusal reason -> a regular expression the code's message must match (any one of the reasons).
REFUSAL_PATTERNS = {
    "range reversed": r"is after",
    "nothing eligible": r"Nothing to invoice",
    "empty subset": r"at least one invoice to rebatch",
    "not in source batch": r"does not contain invoice|There is no invoice with id",
    "all chosen paid": r"are paid, so nothing",
    "no such invoice": r"no invoice with id",
    "amount not above zero": r"above zero",
    "received in the future": r"in the future",
    "invoice of another party": r"another party",
    "more than the balance": r"already paid|more than invoice .*balance",
    "more than available": r"add up to .*more than the .*available",
    "receipt voided": r"is voided",
    "already voided": r"already voided",
    "no allocations": r"at least one invoice and amount",
    "reason missing": r"reason is required",
    "reassign target missing": r"Choose the bill-to party",
    "reassign to same party": r"different party",
    "reassign target for other action": r"only for the 'reassign' action",
    "no encounters": r"at least one encounter",
    "encounter not on invoice": r"is not on invoice",
    "already credited": r"already credited",
    "nothing to credit": r"nothing to credit",
    # credit memo amounts (adjustments)
    "adjust with whole encounters": r"An adjustment credits amounts on encounters that stay billed",
    "only amounts without adjust": r"Only amounts were entered.*choose the action 'adjust'",
    "whole and an amount on one encounter": r"is credited whole; do not enter an amount on it too",
    "more than left on the encounter": r"more than what is left to credit on encounter",
    # write-offs
    "write-off reason unknown": r"The write-off reason .* is not one of",
    "write-off note missing": r"Say what the write-off is for",
    "nothing to write off": r"already paid; there is nothing to write off",
    # refunds
    "refund method unknown": r"Method .* is not one of",
    "nothing unapplied to refund": r"has no unapplied money to refund",
    "more than unapplied": r"is more than the .* unapplied on",
    # un-applying one allocation
    "write-off cannot be un-applied": r"is a write-off, not a payment or a credit",
    "already taken back": r"was already taken back on",
}

WRITE_OFF_REASONS = ("small balance", "short-pay", "bad debt", "other")
REFUND_METHODS = ("check", "ACH", "card", "cash", "other")


@dataclass
class MParty:
    id: int
    billable: bool
    has_address: bool
    group: bool  # a member of the one employer group the tests use


@dataclass
class MEncounter:
    id: int
    party: int | None  # None: self-pay, no party is billed
    dos: date
    post: date
    cents: int
    voided: bool = False


@dataclass
class MInvoice:
    id: int
    party: int
    first_sent: date
    lines: dict[int, int]  # encounter id -> cents invoiced
    credited: set[int] = field(default_factory=set)  # encounters taken off (credited whole) by a credit memo
    adjusted: dict[int, int] = field(default_factory=dict)  # encounter id -> cents credited on it by amounts
    times_batched: int = 1

    def left(self, encounter_id: int) -> int:
        """What is left to credit on an encounter of this invoice: its line less the amounts credited on it."""
        if encounter_id in self.credited:
            return 0
        return self.lines[encounter_id] - self.adjusted.get(encounter_id, 0)


@dataclass
class MAllocation:
    """Money on an invoice from a receipt, a credit memo or a write-off; live until reversed."""
    kind: str  # "receipt", "memo" or "write-off"
    source: int  # the id of the receipt, credit memo or write-off
    invoice: int
    cents: int
    id: int | None = None  # the database's id, told right after the call that made it
    live: bool = True


@dataclass(frozen=True)
class MItem:
    """One invoice as sent in one batch, with the snapshot the model expects on it."""
    invoice: int
    times_batched: int
    batch: int
    kind: str
    sent_on: date
    billed: int
    payments: int
    credits: int
    balance: int
    writeoffs: int = 0


@dataclass
class MReceipt:
    id: int
    party: int
    cents: int
    received: date
    allocs: list[MAllocation] = field(default_factory=list)  # every allocation it made, reversed ones too
    voided: bool = False
    refunded: int = 0

    @property
    def allocations(self) -> dict[int, int]:
        """Invoice id -> cents of its live allocations."""
        return _live(self.allocs)

    @property
    def applied(self) -> int:
        return 0 if self.voided else sum(self.allocations.values())

    @property
    def unapplied(self) -> int:
        """Neither allocated nor refunded; a voided receipt has none (what it refunded stays refunded)."""
        return 0 if self.voided else self.cents - self.applied - self.refunded


@dataclass
class MMemo:
    id: int
    party: int
    invoice: int
    cents: int
    lines: dict[int, tuple[int, bool]] = field(default_factory=dict)  # encounter id -> (cents, credited whole)
    allocs: list[MAllocation] = field(default_factory=list)
    refunded: int = 0

    @property
    def allocations(self) -> dict[int, int]:
        return _live(self.allocs)

    @property
    def applied(self) -> int:
        return sum(self.allocations.values())

    @property
    def unapplied(self) -> int:
        return self.cents - self.applied - self.refunded


@dataclass
class MWriteOff:
    id: int
    party: int
    invoice: int
    cents: int
    reason: str
    note: str


@dataclass
class MRefund:
    id: int
    party: int
    receipt: int | None
    memo: int | None
    cents: int
    method: str


@dataclass(frozen=True)
class Figures:
    billed: int
    payments: int
    credits: int
    balance: int
    status: str
    partially_paid: bool
    credited: bool
    overdue: bool
    writeoffs: int = 0

    @property
    def flags(self) -> frozenset[str]:
        return frozenset(name for name, on in (("partially paid", self.partially_paid), ("credited", self.credited),
                                               ("written off", self.writeoffs > 0), ("overdue", self.overdue)) if on)


@dataclass(frozen=True)
class Account:
    open_balance: int
    open_invoices: int
    unapplied_receipts: int
    unapplied_credits: int
    last_payment_on: date | None
    last_payment_cents: int | None


@dataclass(frozen=True)
class Suggestion:
    method: str  # "exact match", "oldest first", "nothing open"
    allocations: dict[int, int] | None  # None for "exact match": any exact subset will do
    unapplied: int


class LedgerModel:
    def __init__(self, *, today: date, terms_days: int) -> None:
        self.today = today
        self.terms_days = terms_days
        self.parties: dict[int, MParty] = {}
        self.encounters: dict[int, MEncounter] = {}
        self.invoices: dict[int, MInvoice] = {}
        self.batches: dict[int, list[int]] = {}  # batch id -> invoice ids it sent
        self.items: list[MItem] = []  # every batch item, in the order sent
        self.receipts: dict[int, MReceipt] = {}
        self.memos: dict[int, MMemo] = {}
        self.write_offs: dict[int, MWriteOff] = {}
        self.refunds: dict[int, MRefund] = {}
        self.allocations: list[MAllocation] = []  # every allocation, in the order made

    # ----- figures (rule 6)
    def billed(self, invoice_id: int) -> int:
        return sum(self.invoices[invoice_id].lines.values())

    def _on(self, invoice_id: int, kind: str) -> int:
        return sum(a.cents for a in self.allocations if a.live and a.invoice == invoice_id and a.kind == kind)

    def payments(self, invoice_id: int) -> int:
        return self._on(invoice_id, "receipt")

    def credits(self, invoice_id: int) -> int:
        return self._on(invoice_id, "memo")

    def writeoffs(self, invoice_id: int) -> int:
        return self._on(invoice_id, "write-off")

    def balance(self, invoice_id: int) -> int:
        return (self.billed(invoice_id) - self.payments(invoice_id) - self.credits(invoice_id)
                - self.writeoffs(invoice_id))

    def due_on(self, invoice_id: int) -> date:
        return self.invoices[invoice_id].first_sent + timedelta(days=self.terms_days)

    def figures(self, invoice_id: int) -> Figures:
        billed, paid, credits = self.billed(invoice_id), self.payments(invoice_id), self.credits(invoice_id)
        writeoffs = self.writeoffs(invoice_id)
        balance = billed - paid - credits - writeoffs
        return Figures(billed, paid, credits, balance, "Paid" if balance == 0 else "Open",
                       partially_paid=paid > 0 and balance > 0, credited=credits > 0,
                       overdue=balance > 0 and self.today > self.due_on(invoice_id), writeoffs=writeoffs)

    def account(self, party_id: int) -> Account:
        open_ids = [i for i, inv in self.invoices.items() if inv.party == party_id and self.balance(i) > 0]
        live = [r for r in self.receipts.values() if r.party == party_id and not r.voided]
        last = max(live, key=lambda r: (r.received, r.id), default=None)
        return Account(
            open_balance=sum(self.balance(i) for i in open_ids), open_invoices=len(open_ids),
            unapplied_receipts=sum(r.unapplied for r in live),
            unapplied_credits=sum(m.unapplied for m in self.memos.values() if m.party == party_id),
            last_payment_on=last.received if last else None, last_payment_cents=last.cents if last else None)

    def on_live_line(self, encounter_id: int) -> bool:
        return any(encounter_id in inv.lines and encounter_id not in inv.credited for inv in self.invoices.values())

    def printed_number(self, base: str, times_batched: int) -> str:
        return base if times_batched == 1 else f"{base}-{times_batched}"

    # ----- encounters come in (an import, in real life)
    def add_encounter(self, enc: MEncounter) -> None:
        self.encounters[enc.id] = enc

    # ----- on-demand batch (rule 2)
    def on_demand(self, *, party: int | None, group: bool, dos_from: date | None, dos_to: date | None,
                  post_from: date | None, post_to: date | None) -> tuple[set[str], dict[int, list[int]]]:
        """(refusal reasons, {party id: encounter ids it must be invoiced for})."""
        if (dos_from and dos_to and dos_from > dos_to) or (post_from and post_to and post_from > post_to):
            return {"range reversed"}, {}

        def inside(day: date, lo: date | None, hi: date | None) -> bool:
            return (lo is None or day >= lo) and (hi is None or day <= hi)

        chosen: dict[int, list[int]] = {}
        for enc in self.encounters.values():
            if enc.party is None:
                continue
            p = self.parties[enc.party]
            in_target = (p.id == party) if party is not None else (group and p.group)
            if (in_target and p.billable and p.has_address and not enc.voided and enc.cents > 0
                    and not self.on_live_line(enc.id) and inside(enc.dos, dos_from, dos_to)
                    and inside(enc.post, post_from, post_to)):
                chosen.setdefault(p.id, []).append(enc.id)
        return (set() if chosen else {"nothing eligible"}), chosen

    def apply_on_demand(self, *, batch_id: int, invoice_ids: dict[int, int], chosen: dict[int, list[int]],
                        sent_on: date) -> None:
        """invoice_ids: party id -> the id of the invoice the code made for it."""
        for party, encounter_ids in chosen.items():
            inv = MInvoice(invoice_ids[party], party, sent_on,
                           {e: self.encounters[e].cents for e in encounter_ids})
            self.invoices[inv.id] = inv
        self.batches[batch_id] = [invoice_ids[p] for p in chosen]
        self._send(batch_id, "on-demand", [invoice_ids[p] for p in chosen], sent_on)

    def _send(self, batch_id: int, kind: str, invoice_ids: list[int], sent_on: date) -> None:
        for i in invoice_ids:
            f = self.figures(i)
            self.items.append(MItem(i, self.invoices[i].times_batched, batch_id, kind, sent_on, f.billed,
                                    f.payments, f.credits, f.balance, f.writeoffs))

    # ----- rebatch (rule 5)
    def rebatch(self, *, source: int, subset: list[int] | None, include_paid: bool) -> tuple[set[str], list[int]]:
        """(refusal reasons, invoice ids that must be resent)."""
        in_source = self.batches[source]
        if subset is not None:
            if not subset:
                return {"empty subset"}, []
            if set(subset) - set(in_source):
                return {"not in source batch"}, []
        chosen = [i for i in in_source if subset is None or i in subset]
        send = [i for i in chosen if include_paid or self.balance(i) > 0]
        return (set() if send else {"all chosen paid"}), send

    def last_batch(self, invoice_id: int) -> int:
        """The batch that sent an invoice last (batch ids grow with time)."""
        return max(b for b, sent in self.batches.items() if invoice_id in sent)

    def rebatch_invoices(self, *, invoice_ids: list[int], include_paid: bool) -> tuple[set[str], dict[int, list[int]]]:
        """(refusal reasons, source batch id -> invoice ids it resends): one rebatch per batch that last sent them."""
        if not invoice_ids:
            return {"empty subset"}, {}
        if set(invoice_ids) - set(self.invoices):
            return {"no such invoice"}, {}
        per_source: dict[int, list[int]] = {}
        for i in sorted(set(invoice_ids)):
            if include_paid or self.balance(i) > 0:
                per_source.setdefault(self.last_batch(i), []).append(i)
        return (set() if per_source else {"all chosen paid"}), dict(sorted(per_source.items()))

    def apply_rebatch(self, *, batch_id: int, send: list[int], sent_on: date) -> None:
        for i in send:
            self.invoices[i].times_batched += 1
        self.batches[batch_id] = list(send)
        self._send(batch_id, "rebatch", send, sent_on)

    # ----- allocations (rule 9; credit memos' unapplied credit too, rule 10)
    def allocation_problems(self, *, party: int, available: int, allocations: dict[int, int]) -> set[str]:
        problems = set()
        for invoice_id, cents in allocations.items():
            if cents <= 0:
                problems.add("amount not above zero")
            inv = self.invoices[invoice_id]
            if inv.party != party:
                problems.add("invoice of another party")
            elif cents > self.balance(invoice_id):
                problems.add("more than the balance")
        if sum(allocations.values()) > available:
            problems.add("more than available")
        return problems

    def post_receipt(self, *, party: int, cents: int, received: date, allocations: dict[int, int]) -> set[str]:
        problems = set()
        if cents <= 0:
            problems.add("amount not above zero")
        if received > self.today:
            problems.add("received in the future")
        return problems | self.allocation_problems(party=party, available=cents, allocations=allocations)

    def apply_post_receipt(self, *, receipt_id: int, party: int, cents: int, received: date,
                           allocations: dict[int, int]) -> None:
        self.receipts[receipt_id] = MReceipt(receipt_id, party, cents, received)
        self._allocate("receipt", receipt_id, allocations)

    def _allocate(self, kind: str, source_id: int, allocations: dict[int, int]) -> None:
        owner = {"receipt": self.receipts, "memo": self.memos}.get(kind, {}).get(source_id)
        for invoice_id, cents in allocations.items():
            a = MAllocation(kind, source_id, invoice_id, cents)
            self.allocations.append(a)
            if owner is not None:
                owner.allocs.append(a)

    def told_allocation(self, *, allocation_id: int, kind: str, source: int, invoice: int, cents: int) -> bool:
        """The code wrote this allocation row: name the model's one it must be (made by the last call, no id yet)."""
        for a in self.allocations:
            if a.id is None and (a.kind, a.source, a.invoice, a.cents) == (kind, source, invoice, cents):
                a.id = allocation_id
                return True
        return False

    def unnamed_allocations(self) -> list[MAllocation]:
        return [a for a in self.allocations if a.id is None]

    def allocate_receipt(self, *, receipt_id: int, allocations: dict[int, int]) -> set[str]:
        r = self.receipts[receipt_id]
        if r.voided:  # core reads the amounts before the receipt: a zero amount may be named first
            return {"receipt voided"} | ({"amount not above zero"} if any(c <= 0 for c in allocations.values())
                                         else set())
        if not allocations:
            return {"no allocations"}
        return self.allocation_problems(party=r.party, available=r.unapplied, allocations=allocations)

    def apply_allocate_receipt(self, *, receipt_id: int, allocations: dict[int, int]) -> None:
        self._allocate("receipt", receipt_id, allocations)

    def void_receipt(self, *, receipt_id: int, reason: str) -> set[str]:
        problems = set()
        if not reason.strip():
            problems.add("reason missing")
        if self.receipts[receipt_id].voided:
            problems.add("already voided")
        return problems

    def apply_void_receipt(self, *, receipt_id: int) -> None:
        """Every live allocation of the receipt is taken back; what it refunded stays refunded."""
        r = self.receipts[receipt_id]
        r.voided = True
        for a in r.allocs:
            a.live = False

    # ----- credit memos (rule 10), with amounts credited on encounters that stay billed (adjustments)
    def credit_memo(self, *, invoice_id: int, encounter_ids: list[int], action: str, reason: str,
                    reassign_to: int | None, amounts: dict[int, int] | None = None) -> set[str]:
        inv = self.invoices[invoice_id]
        amounts = amounts or {}
        problems = set()
        if not reason.strip():
            problems.add("reason missing")
        if action == "reassign" and reassign_to is None:
            problems.add("reassign target missing")
        if action == "reassign" and reassign_to == inv.party:
            problems.add("reassign to same party")
        if action != "reassign" and reassign_to is not None:
            problems.add("reassign target for other action")
        if any(c <= 0 for c in amounts.values()):
            problems.add("amount not above zero")
        if not encounter_ids and not amounts:
            problems.add("no encounters")
        if action == "adjust" and encounter_ids:
            problems.add("adjust with whole encounters")
        if action != "adjust" and not encounter_ids and amounts:
            problems.add("only amounts without adjust")
        for e in [*encounter_ids, *(e for e in amounts if e not in encounter_ids)]:
            if e not in inv.lines:
                problems.add("encounter not on invoice")
            elif e in inv.credited:
                problems.add("already credited")
            elif e in encounter_ids and e in amounts:
                problems.add("whole and an amount on one encounter")
            elif e in amounts and amounts[e] > inv.left(e):
                problems.add("more than left on the encounter")
        if not problems and sum(inv.left(e) for e in encounter_ids) + sum(amounts.values()) <= 0:
            problems.add("nothing to credit")
        return problems

    def apply_credit_memo(self, *, memo_id: int, invoice_id: int, encounter_ids: list[int], action: str,
                          reassign_to: int | None, amounts: dict[int, int] | None = None) -> MMemo:
        inv = self.invoices[invoice_id]
        amounts = amounts or {}
        # A whole encounter is credited for what is left of it (an earlier adjustment took the rest).
        lines = {e: (inv.left(e), True) for e in encounter_ids} | {e: (c, False) for e, c in amounts.items()}
        cents = sum(c for c, _ in lines.values())
        # The credit pays down this invoice; beyond its balance it stays with the party as credit.
        applied = min(cents, self.balance(invoice_id))
        memo = MMemo(memo_id, inv.party, invoice_id, cents, lines)
        self.memos[memo_id] = memo
        self._allocate("memo", memo_id, {invoice_id: applied} if applied else {})
        for e, c in amounts.items():
            inv.adjusted[e] = inv.adjusted.get(e, 0) + c
        inv.credited |= set(encounter_ids)
        for e in encounter_ids:
            enc = self.encounters[e]
            if action == "self-pay":
                enc.party = None
            elif action == "void":
                enc.voided = True
            else:
                enc.party = reassign_to
        return memo

    def allocate_credit(self, *, memo_id: int, allocations: dict[int, int]) -> set[str]:
        m = self.memos[memo_id]
        if not allocations:
            return {"no allocations"}
        return self.allocation_problems(party=m.party, available=m.unapplied, allocations=allocations)

    def apply_allocate_credit(self, *, memo_id: int, allocations: dict[int, int]) -> None:
        self._allocate("memo", memo_id, allocations)

    # ----- write-offs (issue 12): close some or all of an open balance without payment, like a credit
    def write_off(self, *, invoice_id: int, cents: int, reason: str, note: str) -> set[str]:
        problems = set()
        if cents <= 0:
            problems.add("amount not above zero")
        if reason.strip().lower() not in WRITE_OFF_REASONS:
            problems.add("write-off reason unknown")
        elif reason.strip().lower() == "other" and not note.strip():
            problems.add("write-off note missing")
        balance = self.balance(invoice_id)
        if balance == 0:
            problems.add("nothing to write off")
        if cents > balance:
            problems.add("more than the balance")
        return problems

    def apply_write_off(self, *, write_off_id: int, invoice_id: int, cents: int, reason: str, note: str) -> None:
        inv = self.invoices[invoice_id]
        self.write_offs[write_off_id] = MWriteOff(write_off_id, inv.party, invoice_id, cents, reason.strip().lower(),
                                                  note.strip())
        self._allocate("write-off", write_off_id, {invoice_id: cents})

    # ----- refunds (issue 12): pay back a receipt's or a credit memo's unapplied money
    def refund(self, *, receipt_id: int | None = None, memo_id: int | None = None, cents: int,
               method: str) -> set[str]:
        problems = set()
        if cents <= 0:
            problems.add("amount not above zero")
        if method.strip().lower() not in {m.lower() for m in REFUND_METHODS}:
            problems.add("refund method unknown")
        source = self.receipts[receipt_id] if receipt_id is not None else self.memos[memo_id]
        if isinstance(source, MReceipt) and source.voided:
            return problems | {"receipt voided"}
        if source.unapplied == 0:
            problems.add("nothing unapplied to refund")
        if cents > source.unapplied:
            problems.add("more than unapplied")
        return problems

    def apply_refund(self, *, refund_id: int, receipt_id: int | None = None, memo_id: int | None = None,
                     cents: int, method: str) -> None:
        source = self.receipts[receipt_id] if receipt_id is not None else self.memos[memo_id]
        source.refunded += cents
        self.refunds[refund_id] = MRefund(refund_id, source.party, receipt_id, memo_id, cents,
                                          next(m for m in REFUND_METHODS if m.lower() == method.strip().lower()))

    # ----- un-applying one allocation (issue 12): its money returns to its receipt's or memo's unapplied
    def allocation(self, allocation_id: int) -> MAllocation:
        return next(a for a in self.allocations if a.id == allocation_id)

    def unapply(self, *, allocation_id: int, reason: str) -> set[str]:
        if not reason.strip():
            return {"reason missing"}
        a = self.allocation(allocation_id)
        if a.kind == "write-off":
            return {"write-off cannot be un-applied"}
        return set() if a.live else {"already taken back"}

    def apply_unapply(self, *, allocation_id: int) -> None:
        self.allocation(allocation_id).live = False

    # ----- the payment suggestion (rule 9)
    def open_oldest_first(self, party: int) -> list[int]:
        open_ids = [i for i, inv in self.invoices.items() if inv.party == party and self.balance(i) > 0]
        return sorted(open_ids, key=lambda i: (self.invoices[i].first_sent, i))

    def suggest(self, *, party: int, cents: int) -> Suggestion:
        open_ids = self.open_oldest_first(party)
        if not open_ids:
            return Suggestion("nothing open", {}, cents)
        if cents in _subset_sums([self.balance(i) for i in open_ids]):
            return Suggestion("exact match", None, 0)
        left, chosen = cents, {}
        for i in open_ids:
            if left == 0:
                break
            take = min(left, self.balance(i))
            chosen[i] = take
            left -= take
        return Suggestion("oldest first", chosen, left)


def _live(allocs: list[MAllocation]) -> dict[int, int]:
    """Invoice id -> cents of the live allocations among these."""
    out: dict[int, int] = {}
    for a in allocs:
        if a.live:
            out[a.invoice] = out.get(a.invoice, 0) + a.cents
    return out


def _subset_sums(values: list[int]) -> set[int]:
    sums = {0}
    for v in values:
        sums |= {s + v for s in sums}
    return sums - {0}
