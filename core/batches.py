"""On-demand batches, their preview, and rebatching (resending) earlier batches, all set-based."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from core import audit, clock, invoices, locking, requests
from core.dates import DateInput, to_date
from core.db import expire_loaded, get_record, guarded
from core.errors import ConcurrencyError, InvoiceDeskError, NotFoundError
from core.invoices import Totals
from core.mail import last_delivery
from core.models import Batch, BatchItem, BatchKind, Encounter, Invoice, InvoiceLine, Party
from core.money import from_cents
from core.numbering import next_numbers, printed_invoice_number
from core.parties import get_group, get_party
from core.roles import Actor
from core.settings import needs_invoice_billing, profile_for_new_batch
from core.validation import free_text

ELIGIBLE = "eligible"
# Why an encounter of the target is left out, in the order the reasons are tested.
REASONS = ("voided", "party not billable", "missing address", "already invoiced", "zero total",
           "outside DOS range", "outside post date range")


@dataclass(frozen=True)
class PreviewParty:
    party_id: int
    account_code: str
    name: str
    encounter_count: int
    total: Decimal


@dataclass(frozen=True)
class Exclusion:
    party_id: int
    account_code: str
    name: str
    reason: str
    encounter_count: int
    total: Decimal


@dataclass(frozen=True)
class BatchPreview:
    target: str
    ranges: str
    parties: list[PreviewParty] = field(default_factory=list)
    excluded: list[Exclusion] = field(default_factory=list)

    @property
    def invoice_count(self) -> int:
        return len(self.parties)

    @property
    def encounter_count(self) -> int:
        return sum(p.encounter_count for p in self.parties)

    @property
    def total(self) -> Decimal:
        return sum((p.total for p in self.parties), Decimal("0.00"))

    @property
    def excluded_by_reason(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for e in self.excluded:
            counts[e.reason] += e.encounter_count
        return {reason: counts[reason] for reason in REASONS if counts.get(reason)}

    def nothing_eligible_message(self) -> str:
        where = f"{self.target}{' with ' + self.ranges if self.ranges else ''}"
        if not self.excluded:
            return f"Nothing to invoice for {where}: there are no encounters for it."
        reasons = ", ".join(f"{n} {reason}" for reason, n in self.excluded_by_reason.items())
        return f"Nothing to invoice for {where}. Encounters left out: {reasons}."


@dataclass(frozen=True)
class _Target:
    party_id: int | None
    group_id: int | None
    label: str
    dos_from: date | None
    dos_to: date | None
    post_from: date | None
    post_to: date | None

    @property
    def ranges(self) -> str:
        parts = []
        for label, lo, hi in (("DOS", self.dos_from, self.dos_to), ("post date", self.post_from, self.post_to)):
            if lo and hi:
                parts.append(f"{label} {lo} to {hi}")
            elif lo:
                parts.append(f"{label} from {lo}")
            elif hi:
                parts.append(f"{label} up to {hi}")
        return " and ".join(parts)

    def party_clause(self) -> sa.ColumnElement[bool]:
        if self.party_id is not None:
            return col(Party.id) == self.party_id
        return col(Party.group_id) == self.group_id


def _target(session: Session, party_id: int | None, group_id: int | None, dos_from: DateInput | None,
            dos_to: DateInput | None, post_from: DateInput | None, post_to: DateInput | None) -> _Target:
    if (party_id is None) == (group_id is None):
        raise InvoiceDeskError("Choose exactly one target: an employer (bill-to party) or an employer group, not "
                               + ("both." if party_id is not None else "neither."))
    dates = {label: to_date(value, label) for label, value in
             (("DOS From", dos_from), ("DOS To", dos_to), ("Post Date From", post_from), ("Post Date To", post_to))}
    for lo, hi in (("DOS From", "DOS To"), ("Post Date From", "Post Date To")):
        start, end = dates[lo], dates[hi]
        if start is not None and end is not None and start > end:
            raise InvoiceDeskError(f"{lo} ({dates[lo]}) is after {hi} ({dates[hi]}); swap them or clear one.")
    if party_id is not None:
        party = get_party(session, party_id)
        label = f"{party.name} ({party.account_code})"
    else:
        assert group_id is not None
        label = f"employer group {get_group(session, group_id).name}"
    return _Target(party_id, group_id, label, dates["DOS From"], dates["DOS To"], dates["Post Date From"],
                   dates["Post Date To"])


def _has_address() -> sa.ColumnElement[bool]:
    return sa.and_(*(sa.func.trim(column) != "" for column in (col(Party.address_line1), col(Party.city), col(Party.postal_code))))


def _on_live_invoice() -> sa.ColumnElement[bool]:
    return sa.exists().where(col(InvoiceLine.encounter_id) == col(Encounter.id), col(InvoiceLine.live) == sa.true())


def _range_clauses(t: _Target) -> tuple[sa.ColumnElement[bool], sa.ColumnElement[bool]]:
    def inside(column, lo, hi):
        clauses = ([column >= lo] if lo else []) + ([column <= hi] if hi else [])
        return sa.and_(sa.true(), *clauses)

    return inside(col(Encounter.date_of_service), t.dos_from, t.dos_to), inside(col(Encounter.post_date), t.post_from, t.post_to)


def _eligible_clause(t: _Target) -> sa.ColumnElement[bool]:
    in_dos, in_post = _range_clauses(t)
    return sa.and_(t.party_clause(), col(Encounter.voided) == sa.false(), col(Party.billable) == sa.true(), _has_address(),
                   ~_on_live_invoice(), col(Encounter.total_cents) > 0, in_dos, in_post)


def _preview(session: Session, t: _Target) -> BatchPreview:
    in_dos, in_post = _range_clauses(t)
    reason = sa.case(
        (col(Encounter.voided) == sa.true(), "voided"),
        (col(Party.billable) == sa.false(), "party not billable"),
        (~_has_address(), "missing address"),
        (_on_live_invoice(), "already invoiced"),
        (col(Encounter.total_cents) <= 0, "zero total"),
        (~in_dos, "outside DOS range"),
        (~in_post, "outside post date range"),
        else_=ELIGIBLE,
    ).label("reason")
    inner = (sa.select(col(Encounter.party_id), col(Encounter.total_cents), reason)
             .join(Party, col(Party.id) == col(Encounter.party_id)).where(t.party_clause()).subquery())
    rows = session.execute(
        sa.select(inner.c.party_id, inner.c.reason, sa.func.count(), sa.func.sum(inner.c.total_cents))
        .group_by(inner.c.party_id, inner.c.reason)
    ).all()
    names = {p.id: (p.account_code, p.name) for p in session.execute(
        sa.select(col(Party.id), col(Party.account_code), col(Party.name)).where(col(Party.id).in_({r[0] for r in rows})))}
    parties, excluded = [], []
    for party_id, why, count, cents in rows:
        code, name = names[party_id]
        if why == ELIGIBLE:
            parties.append(PreviewParty(party_id, code, name, count, from_cents(cents)))
        else:
            excluded.append(Exclusion(party_id, code, name, why, count, from_cents(cents)))
    parties.sort(key=lambda p: (p.name, p.account_code))
    excluded.sort(key=lambda e: (e.name, REASONS.index(e.reason)))
    return BatchPreview(target=t.label, ranges=t.ranges, parties=parties, excluded=excluded)


@guarded
def preview_on_demand_batch(session: Session, *, party_id: int | None = None, group_id: int | None = None,
                            dos_from: DateInput | None = None, dos_to: DateInput | None = None,
                            post_from: DateInput | None = None, post_to: DateInput | None = None) -> BatchPreview:
    """What create_on_demand_batch would make now, and what it would leave out and why; writes nothing."""
    return _preview(session, _target(session, party_id, group_id, dos_from, dos_to, post_from, post_to))


def _new_batch(session: Session, *, kind: str, actor: str, note: str, at: datetime, **fields) -> Batch:
    profile = profile_for_new_batch(session, actor=actor)
    (number,) = next_numbers(session, "batch")
    batch = Batch(number=number, kind=kind, internal_note=note, profile_id=profile.id, created_by=actor,
                  created_at=at, sent_on=clock.day_of(at, session), **fields)
    session.add(batch)
    session.flush()
    return batch


def _check_note(note: str) -> str:
    return free_text(note, "internal_note", 2000)


def _finish_batch(session: Session, batch: Batch) -> Batch:
    bi, inv = BatchItem.__table__, Invoice.__table__
    session.execute(sa.update(Batch.__table__).where(Batch.__table__.c.id == batch.id).values(
        invoice_count=sa.select(sa.func.count()).where(bi.c.batch_id == batch.id).scalar_subquery(),
        encounter_count=sa.select(sa.func.coalesce(sa.func.sum(inv.c.encounter_count), 0))
        .where(inv.c.id == bi.c.invoice_id, bi.c.batch_id == batch.id).scalar_subquery(),
        total_cents=sa.select(sa.func.coalesce(sa.func.sum(bi.c.balance_cents), 0))
        .where(bi.c.batch_id == batch.id).scalar_subquery(),
    ))
    session.refresh(batch)
    _ = batch.items  # loaded while the session is open, so callers can read them after commit
    return batch


@guarded
@needs_invoice_billing("creating a batch")
def create_on_demand_batch(session: Session, *, party_id: int | None = None, group_id: int | None = None,
                           dos_from: DateInput | None = None, dos_to: DateInput | None = None,
                           post_from: DateInput | None = None, post_to: DateInput | None = None,
                           internal_note: str = "", actor: str | Actor,
                           as_of: datetime | None = None, kind: str = BatchKind.ON_DEMAND,
                           request_key: str | None = None) -> Batch:
    """One new invoice per party with eligible encounters, each sent as item 1 of one new batch."""
    actor = audit.require_actor(actor)
    key = requests.check_key(request_key)
    note = _check_note(internal_note)
    t = _target(session, party_id, group_id, dos_from, dos_to, post_from, post_to)
    # The target's parties first (domain rule 15); what is eligible is read only once they are ours.
    if t.party_id is not None:
        locked = locking.lock_parties(session, [t.party_id])
    else:
        assert t.group_id is not None  # _target checked exactly one was given
        locked = locking.lock_group(session, t.group_id)
    asked = {"party": t.party_id, "group": t.group_id, "ranges": t.ranges, "note": note, "kind": str(kind)}
    done = requests.replay(session, key, "batch.create", asked)
    if done is not None:
        return _loaded(session, done[0])
    eligible = sa.and_(_eligible_clause(t), col(Encounter.party_id).in_(locked))
    per_party: list[int] = list(session.execute(
        sa.select(col(Encounter.party_id)).join(Party, col(Party.id) == col(Encounter.party_id)).where(eligible)
        .group_by(col(Encounter.party_id)).order_by(col(Encounter.party_id))
    ).scalars())
    if not per_party:
        raise InvoiceDeskError(_preview(session, t).nothing_eligible_message())

    at = as_of or clock.now()
    try:
        with session.begin_nested():
            batch = _new_batch(session, kind=kind, actor=actor, note=note, at=at, party_id=t.party_id,
                               group_id=t.group_id, dos_from=t.dos_from, dos_to=t.dos_to, post_from=t.post_from,
                               post_to=t.post_to)
            invoices.insert_invoices(session, batch, per_party, eligible)
            _insert_items(session, batch)
    except IntegrityError as exc:
        raise ConcurrencyError("Another manager invoiced some of these encounters at the same moment; "
                               "nothing was created. Preview again and retry.") from exc
    batch = _finish_batch(session, batch)
    requests.remember(session, key, "batch.create", [batch.id], asked, actor=actor, at=at)
    audit.record(session, actor=actor, action="batch.create", entity="batch", ids=[batch.id], at=at,
                 detail={"number": batch.number, "kind": kind, "target": t.label, "ranges": t.ranges,
                         "invoices": batch.invoice_count, "encounters": batch.encounter_count,
                         "total": str(batch.total)})
    return batch


def _loaded(session: Session, batch_id: int) -> Batch:
    batch = session.get_one(Batch, batch_id)
    _ = batch.items
    return batch


def _insert_items(session: Session, batch: Batch) -> None:
    """A batch item for every invoice this batch sends (last_batch_id), with its snapshot as of now."""
    inv = Invoice.__table__
    printed = printed_invoice_number(inv.c.number, inv.c.times_batched)
    party = Party.__table__
    newline = sa.literal("\n")
    city_line = party.c.city + sa.literal(", ") + party.c.state + sa.literal(" ") + party.c.postal_code
    bill_to = (party.c.name + newline + party.c.contact_name + newline + party.c.address_line1 + newline
               + party.c.address_line2 + newline + city_line)
    source = (sa.select(sa.literal(batch.id), inv.c.id, inv.c.party_id, inv.c.times_batched, printed,
                        sa.literal(batch.sent_on, sa.Date), inv.c.billed_cents, inv.c.payments_cents,
                        inv.c.credits_cents, inv.c.writeoffs_cents, inv.c.balance_cents, bill_to)
              .join(party, party.c.id == inv.c.party_id).where(inv.c.last_batch_id == batch.id))
    session.execute(sa.insert(BatchItem.__table__).from_select(
        ["batch_id", "invoice_id", "party_id", "times_batched", "invoice_number", "sent_on", "billed_cents",
         "payments_cents", "credits_cents", "writeoffs_cents", "balance_cents", "bill_to"], source))


@guarded
def get_batch(session: Session, *, batch_id: int | None = None, number: int | None = None) -> Batch:
    if batch_id is not None:
        batch = get_record(session, Batch, batch_id)
        what = f"id {batch_id!r}"
    else:
        batch = session.execute(sa.select(Batch).where(col(Batch.number) == number)).scalar_one_or_none()
        what = f"number {number!r}"
    if batch is None:
        raise NotFoundError(f"There is no batch with {what}.")
    return batch


@guarded
@needs_invoice_billing("rebatching")
def rebatch(session: Session, *, source_batch_id: int, invoice_ids: list[int] | None = None,
            include_paid: bool = False, internal_note: str = "", actor: str | Actor,
            as_of: datetime | None = None, request_key: str | None = None) -> Batch:
    """Resend invoices of an earlier batch: each gets its next suffix and a snapshot as of now."""
    actor = audit.require_actor(actor)
    key = requests.check_key(request_key)
    note = _check_note(internal_note)
    source = get_batch(session, batch_id=source_batch_id)
    wanted = _invoice_ids(invoice_ids)
    inv, bi = Invoice.__table__, BatchItem.__table__
    in_source = inv.c.id.in_(sa.select(bi.c.invoice_id).where(bi.c.batch_id == source.id))
    chosen: list[sa.ColumnElement[bool]] = [in_source] if wanted is None else [in_source, inv.c.id.in_(wanted)]
    # An invoice's party never changes: lock the parties of the chosen invoices, then count what is open.
    locking.lock_parties(session, session.execute(sa.select(inv.c.party_id).where(*chosen).distinct()).scalars())
    asked = {"source": source.id, "invoices": sorted(wanted, key=str) if wanted is not None else None,
             "include_paid": bool(include_paid), "note": note}
    done = requests.replay(session, key, "batch.rebatch", asked)
    if done is not None:
        return _loaded(session, done[0])
    if wanted is not None:
        found = set(session.execute(sa.select(inv.c.id).where(*chosen)).scalars())
        if wanted - found:
            absent = sorted(wanted - found, key=str)
            named = dict(session.execute(sa.select(inv.c.id, inv.c.number).where(inv.c.id.in_(absent))).all())
            if unknown := [str(i) for i in absent if i not in named]:
                raise NotFoundError(f"There is no invoice with id(s) {', '.join(unknown)}.")
            raise InvoiceDeskError(f"Batch {source.number} does not contain invoice "
                                   f"{', '.join(named[i] for i in absent)}; rebatch it from its own batch.")
    at = as_of or clock.now()
    batch = _resend(session, source, chosen, include_paid=include_paid, note=note, actor=actor, at=at)
    if batch is None:
        raise InvoiceDeskError(_all_paid_message(session, source, chosen))
    requests.remember(session, key, "batch.rebatch", [batch.id], asked, actor=actor, at=at)
    return batch


def _invoice_ids(invoice_ids: list[int] | None) -> set[int] | None:
    if invoice_ids is None:
        return None
    wanted = set(invoice_ids)
    if not wanted:
        raise InvoiceDeskError("Choose at least one invoice to rebatch.")
    return wanted


def _all_paid_message(session: Session, source: Batch, chosen: list[sa.ColumnElement[bool]]) -> str:
    total = session.execute(sa.select(sa.func.count()).select_from(Invoice.__table__).where(*chosen)).scalar_one()
    if total == 0:
        return f"Batch {source.number} has no invoices to resend."
    return (f"All {total} chosen invoice(s) of batch {source.number} are paid, so nothing was resent. "
            "Tick 'Include paid invoices' to send them anyway.")


def _resend(session: Session, source: Batch, chosen: list[sa.ColumnElement[bool]], *, include_paid: bool, note: str,
            actor: str, at: datetime) -> Batch | None:
    """One rebatch of the chosen invoices of a source batch (their parties locked); None when none is to be sent."""
    inv = Invoice.__table__
    if not include_paid:
        chosen = [*chosen, inv.c.paid == sa.false()]
    # Invoice rows locked in id order after the party locks (the global order), before the set-based UPDATE
    # touches them; read and locked in one statement.
    ids = session.execute(sa.select(inv.c.id).where(*chosen).order_by(inv.c.id)
                          .with_for_update(key_share=True)).scalars().all()
    if not ids:
        return None
    try:
        # One savepoint for all of the rebatch's writes: a refusal takes back its batch and suffixes too.
        with session.begin_nested():
            batch = _new_batch(session, kind=BatchKind.REBATCH, actor=actor, note=note, at=at, party_id=source.party_id,
                               group_id=source.group_id, source_batch_id=source.id)
            # The party locks make concurrent rebatches of one invoice queue, so suffixes stay consecutive;
            # the unique (invoice, times batched) constraint is the backstop.
            session.execute(sa.update(inv).where(*chosen).values(times_batched=inv.c.times_batched + 1,
                                                                 last_batch_id=batch.id))
            expire_loaded(session, Invoice)
            _insert_items(session, batch)
    except IntegrityError as exc:
        raise ConcurrencyError("Another manager resent these invoices at the same moment; nothing was created. "
                               "Try again.") from exc
    batch = _finish_batch(session, batch)
    if batch.invoice_count == 0:
        raise ConcurrencyError("Another manager changed these invoices at the same moment; nothing was resent. "
                               "Try again.")
    audit.record(session, actor=actor, action="batch.rebatch", entity="batch", ids=[batch.id], at=at,
                 detail={"number": batch.number, "source_batch": source.number, "include_paid": include_paid,
                         "invoices": batch.invoice_count, "total": str(batch.total)})
    return batch


@guarded
@needs_invoice_billing("rebatching")
def rebatch_invoices(session: Session, *, invoice_ids: list[int], include_paid: bool = False,
                     internal_note: str = "", actor: str | Actor, as_of: datetime | None = None,
                     request_key: str | None = None) -> list[Batch]:
    """Resend invoices chosen from any batches: one rebatch per batch that last sent them, in one transaction.

    Paid invoices are left out unless include_paid; a source batch whose chosen invoices are all paid gets no
    rebatch, and only when nothing at all is left to send is the whole action refused.
    """
    actor = audit.require_actor(actor)
    key = requests.check_key(request_key)
    note = _check_note(internal_note)
    wanted = _invoice_ids(invoice_ids if invoice_ids is not None else [])
    assert wanted is not None  # a list was given, so a set comes back
    inv = Invoice.__table__
    rows = session.execute(sa.select(inv.c.id, inv.c.party_id, inv.c.last_batch_id)
                           .where(inv.c.id.in_([i for i in wanted if isinstance(i, int)]))).all()
    missing = wanted - {r.id for r in rows}
    if missing:
        raise NotFoundError(f"There is no invoice with id(s) {', '.join(str(i) for i in sorted(missing, key=str))}.")
    locking.lock_parties(session, {r.party_id for r in rows})
    asked = {"invoices": sorted(wanted, key=str), "include_paid": bool(include_paid), "note": note}
    done = requests.replay(session, key, "batch.rebatch_invoices", asked)
    if done is not None:
        return [_loaded(session, i) for i in done]
    per_source: dict[int, list[int]] = defaultdict(list)
    for r in session.execute(sa.select(inv.c.id, inv.c.last_batch_id).where(inv.c.id.in_(wanted))
                             .order_by(inv.c.id)):
        per_source[r.last_batch_id].append(r.id)
    at = as_of or clock.now()
    made = []
    for source_id in sorted(per_source):
        source = session.get_one(Batch, source_id)
        batch = _resend(session, source, [inv.c.id.in_(per_source[source_id])], include_paid=include_paid,
                        note=note, actor=actor, at=at)
        if batch is not None:
            made.append(batch)
    if not made:
        raise InvoiceDeskError(f"All {len(wanted)} chosen invoice(s) are paid, so nothing was resent. "
                               "Tick 'Include paid invoices' to send them anyway.")
    requests.remember(session, key, "batch.rebatch_invoices", [b.id for b in made], asked, actor=actor, at=at)
    return made


@dataclass(frozen=True)
class BatchRow:
    batch_id: int
    number: int
    kind: str
    target: str
    source_batch_number: int | None
    created_by: str
    created_at: datetime
    invoice_count: int
    encounter_count: int
    total: Decimal
    internal_note: str


@guarded
def list_batches(session: Session, *, kind: str | None = None, party_id: int | None = None,
                 created_from: date | None = None, created_to: date | None = None, number: int | None = None,
                 limit: int = 50, offset: int = 0) -> list[BatchRow]:
    """Batches newest first; the party filter finds batches that sent it an invoice, whatever their target."""
    from core.models import Group

    b, p, g, src = Batch.__table__, Party.__table__, Group.__table__, Batch.__table__.alias("source")
    q = (sa.select(b, p.c.name.label("party_name"), g.c.name.label("group_name"),
                   src.c.number.label("source_number"))
         .outerjoin(p, p.c.id == b.c.party_id).outerjoin(g, g.c.id == b.c.group_id)
         .outerjoin(src, src.c.id == b.c.source_batch_id)
         .order_by(b.c.number.desc()).limit(limit).offset(offset))
    if kind:
        if kind not in tuple(BatchKind):
            raise InvoiceDeskError(f"Kind {kind!r:.40} is not a kind of batch; use one of {', '.join(BatchKind)}.")
        q = q.where(b.c.kind == kind)
    if number is not None:
        q = q.where(b.c.number == number)
    if party_id is not None:
        bi = BatchItem.__table__
        q = q.where(b.c.id.in_(sa.select(bi.c.batch_id).where(bi.c.party_id == party_id)))
    if created_from:
        q = q.where(b.c.sent_on >= created_from)
    if created_to:
        q = q.where(b.c.sent_on <= created_to)
    rows = []
    for r in session.execute(q):
        target = r.party_name or (f"Group: {r.group_name}" if r.group_name else "All parties")
        rows.append(BatchRow(r.id, r.number, r.kind, target, r.source_number, r.created_by, r.created_at,
                             r.invoice_count, r.encounter_count, from_cents(r.total_cents), r.internal_note))
    return rows


@dataclass(frozen=True)
class ItemEncounter:
    encounter_id: int
    number: str
    date_of_service: date
    patient: str
    amount: Decimal
    credited: bool


@dataclass(frozen=True)
class ItemDetail:
    batch_item_id: int
    invoice_id: int
    invoice_number: str
    times_batched: int
    party_id: int
    party_name: str
    sent: Totals  # what this sending printed: the snapshot, never changed afterwards
    now: Totals  # the invoice's live totals today
    encounters: list[ItemEncounter]
    delivery: str = ""  # its last e-mail: sent, failed, queued, no address; "" if never e-mailed (core.mail)


@guarded
def batch_items(session: Session, *, batch_id: int) -> list[ItemDetail]:
    """A batch's invoices as sent (snapshots), each with its encounters and whether they were credited since."""
    from core.models import Patient

    bi, inv, p = BatchItem.__table__, Invoice.__table__, Party.__table__
    il, enc, pt = InvoiceLine.__table__, Encounter.__table__, Patient.__table__
    items = session.execute(
        sa.select(bi, inv.c.billed_cents.label("now_billed"), inv.c.payments_cents.label("now_payments"),
                  inv.c.credits_cents.label("now_credits"), inv.c.writeoffs_cents.label("now_writeoffs"), inv.c.due_on, p.c.name.label("party_name"),
                  last_delivery(bi.c.id).label("delivery"))
        .join(inv, inv.c.id == bi.c.invoice_id).join(p, p.c.id == bi.c.party_id)
        .where(bi.c.batch_id == batch_id).order_by(bi.c.id)).all()
    encounters: dict[int, list[ItemEncounter]] = defaultdict(list)
    for r in session.execute(
            sa.select(il.c.invoice_id, il.c.live, enc.c.id, enc.c.number, enc.c.date_of_service, pt.c.name,
                      il.c.amount_cents)
            .join(enc, enc.c.id == il.c.encounter_id).join(pt, pt.c.id == enc.c.patient_id)
            .where(il.c.invoice_id.in_(sa.select(bi.c.invoice_id).where(bi.c.batch_id == batch_id)))
            .order_by(enc.c.date_of_service, enc.c.number)):
        encounters[r.invoice_id].append(ItemEncounter(r.id, r.number, r.date_of_service, r.name,
                                                      from_cents(r.amount_cents), not r.live))
    today = clock.today(session)
    return [ItemDetail(r.id, r.invoice_id, r.invoice_number, r.times_batched, r.party_id, r.party_name,
                       sent=invoices.totals_from_cents(r.billed_cents, r.payments_cents, r.credits_cents,
                                                       writeoffs=r.writeoffs_cents),
                       now=invoices.totals_from_cents(r.now_billed, r.now_payments, r.now_credits, r.due_on, today,
                                                      r.now_writeoffs),
                       encounters=encounters[r.invoice_id], delivery=r.delivery or "") for r in items]
