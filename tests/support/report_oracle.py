"""Every report of core.reports worked out again in plain Python from the raw rows, for the tests to compare.

Nothing here calls core's report code or its SQL helpers: the rows are read with plain SELECTs of whole tables,
and the rules (domain rule 17: what counts as of a day) are applied one row at a time, the slow obvious way.
Money stays in integer cents.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlmodel import Session

from core.models import Allocation, Batch, BatchItem, CreditMemo, Invoice, Party, Receipt, Refund


def _day(value) -> date | None:
    if value is None or isinstance(value, date) and not isinstance(value, datetime):
        return value
    return date.fromisoformat(str(value)[:10])


def _moment(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def month_start(d: date) -> date:
    return date(d.year, d.month, 1)


def months_between(first: date, last: date) -> list[date]:
    """The first day of every month from first's to last's."""
    out, m = [], month_start(first)
    while m <= last:
        out.append(m)
        m = date(m.year + (m.month == 12), m.month % 12 + 1, 1)
    return out


def month_end(m: date) -> date:
    nxt = date(m.year + (m.month == 12), m.month % 12 + 1, 1)
    return date.fromordinal(nxt.toordinal() - 1)


@dataclass
class Rows:
    invoices: list
    allocations: list
    receipts: list
    memos: list
    refunds: list
    items: list
    batch_made: dict
    parties: dict

    @classmethod
    def read(cls, session: Session) -> Rows:
        def table(model, *columns):
            return session.execute(sa.select(*(getattr(model.__table__.c, c) for c in columns))).all()

        return cls(
            invoices=table(Invoice, "id", "party_id", "first_sent_on", "due_on", "billed_cents"),
            allocations=table(Allocation, "id", "invoice_id", "receipt_id", "credit_memo_id", "write_off_id",
                              "amount_cents", "applied_on", "reversed_on", "created_at"),
            receipts=table(Receipt, "id", "number", "party_id", "received_date", "voided_on", "amount_cents"),
            memos=table(CreditMemo, "id", "number", "party_id", "issued_on", "amount_cents"),
            refunds=table(Refund, "id", "receipt_id", "credit_memo_id", "amount_cents", "refunded_on"),
            items=table(BatchItem, "id", "batch_id", "invoice_id", "party_id", "times_batched", "sent_on",
                        "balance_cents"),
            batch_made={row.id: _moment(row.created_at) for row in table(Batch, "id", "created_at")},
            parties={row.id: row for row in table(Party, "id", "name", "account_code", "group_id")},
        )

    def mine(self, party_id: int | None, group_id: int | None):
        """Whether a party's rows belong in a report for that party or group."""
        def keep(pid: int) -> bool:
            return ((party_id is None or pid == party_id)
                    and (group_id is None or self.parties[pid].group_id == group_id))
        return keep

    @staticmethod
    def live(a, d: date) -> bool:
        return _day(a.applied_on) <= d and (a.reversed_on is None or _day(a.reversed_on) > d)

    def balance(self, invoice, d: date) -> int | None:
        """The invoice's balance at the end of d, or None if it was not yet sent."""
        if _day(invoice.first_sent_on) > d:
            return None
        return invoice.billed_cents - sum(a.amount_cents for a in self.allocations
                                          if a.invoice_id == invoice.id and self.live(a, d))

    def invoices_by_month(self, first: date, d: date, party_id=None, group_id=None) -> list[tuple]:
        """(month, invoices, billed, settled, open, open_invoices, open_balance at month end) per month."""
        keep = self.mine(party_id, group_id)
        mine = [i for i in self.invoices if keep(i.party_id)]
        out = []
        for m in months_between(first, d):
            sent = [(i, self.balance(i, d)) for i in mine if month_start(_day(i.first_sent_on)) == m
                    and _day(i.first_sent_on) <= d]
            end = min(month_end(m), d)
            line = sum(b for i in mine if (b := self.balance(i, end)) is not None)
            billed = sum(i.billed_cents for i, _ in sent)
            open_ = sum(b for _, b in sent)
            out.append((m, len(sent), billed, billed - open_, open_, sum(1 for _, b in sent if b > 0), line))
        return out

    def aging(self, d: date, by: str, basis: str, party_id=None, group_id=None) -> dict:
        """{key: {bucket: cents}} with key None (by total), a group id or None (by group), a party id."""
        keep = self.mine(party_id, group_id)
        out: dict = defaultdict(lambda: defaultdict(int))
        for i in self.invoices:
            b = self.balance(i, d)
            if not keep(i.party_id) or b is None or b <= 0:
                continue
            if basis == "due date":
                days = (d - _day(i.due_on)).days
                name = "current" if days <= 0 else next(
                    n for lim, n in ((30, "1-30"), (60, "31-60"), (90, "61-90"), (120, "91-120"), (10**9, "over 120"))
                    if days <= lim)
            else:
                days = (d - _day(i.first_sent_on)).days
                name = next(n for lim, n in ((30, "0-30"), (60, "31-60"), (90, "61-90"), (120, "91-120"),
                                             (10**9, "over 120")) if days <= lim)
            key = None if by == "total" else self.parties[i.party_id].group_id if by == "group" else i.party_id
            out[key][name] += b
        return {k: dict(v) for k, v in out.items()}

    def _applied(self, column: str, owner: int, d: date) -> int:
        return sum(a.amount_cents for a in self.allocations if getattr(a, column) == owner and self.live(a, d))

    def _refunded(self, column: str, owner: int, d: date) -> int:
        return sum(f.amount_cents for f in self.refunds if getattr(f, column) == owner and _day(f.refunded_on) <= d)

    def receipts_on(self, d: date, keep) -> list[tuple]:
        """(receipt, applied, refunded) for receipts counted at the end of d."""
        return [(r, self._applied("receipt_id", r.id, d), self._refunded("receipt_id", r.id, d))
                for r in self.receipts if keep(r.party_id) and _day(r.received_date) <= d
                and (r.voided_on is None or _day(r.voided_on) > d)]

    def collections(self, first: date, d: date, party_id=None, group_id=None) -> list[tuple]:
        """(month, receipts, received, applied, refunded, unapplied) per month received."""
        counted = self.receipts_on(d, self.mine(party_id, group_id))
        out = []
        for m in months_between(first, d):
            rows = [(r, a, f) for r, a, f in counted if month_start(_day(r.received_date)) == m]
            out.append((m, len(rows), sum(r.amount_cents for r, _, _ in rows), sum(a for _, a, _ in rows),
                        sum(f for _, _, f in rows), sum(r.amount_cents - a - f for r, a, f in rows)))
        return out

    def days_to_pay(self, first: date, d: date, party_id=None, group_id=None) -> dict[int, tuple[date, int]]:
        """{invoice id: (paid on, days)} for invoices paid off by receipts, paid on or after the first month."""
        keep = self.mine(party_id, group_id)
        received = {r.id: _day(r.received_date) for r in self.receipts}
        out = {}
        for i in self.invoices:
            if not keep(i.party_id) or self.balance(i, d) != 0:
                continue
            paid = [received[a.receipt_id] for a in self.allocations
                    if a.invoice_id == i.id and a.receipt_id is not None and self.live(a, d)]
            if paid and max(paid) >= month_start(first):
                out[i.id] = (max(paid), max(0, (max(paid) - _day(i.first_sent_on)).days))
        return out

    def rebatch_effect(self, first: date, d: date, party_id=None, group_id=None) -> list[tuple]:
        """(sent on, times batched, outstanding, paid within 30 days, still counting) per batch item."""
        keep = self.mine(party_id, group_id)
        out = []
        for item in self.items:
            sent = _day(item.sent_on)
            if not keep(item.party_id) or not month_start(first) <= sent <= d or item.balance_cents <= 0:
                continue
            made = self.batch_made[item.batch_id]
            paid = sum(a.amount_cents for a in self.allocations
                       if a.invoice_id == item.invoice_id and a.receipt_id is not None and self.live(a, d)
                       and _moment(a.created_at) > made and (_day(a.applied_on) - sent).days <= 30)
            out.append((sent, item.times_batched, item.balance_cents, min(paid, item.balance_cents),
                        (d - sent).days < 30))
        return out

    def unapplied(self, d: date, party_id=None, group_id=None) -> set[tuple]:
        """{(kind, id, unapplied cents)} for receipts and credit memos with money left at the end of d."""
        keep = self.mine(party_id, group_id)
        out = {("receipt", r.id, r.amount_cents - a - f) for r, a, f in self.receipts_on(d, keep)
               if r.amount_cents - a - f > 0}
        for m in self.memos:
            if keep(m.party_id) and _day(m.issued_on) <= d:
                left = m.amount_cents - self._applied("credit_memo_id", m.id, d) - self._refunded("credit_memo_id",
                                                                                                  m.id, d)
                if left > 0:
                    out.add(("credit memo", m.id, left))
        return out
