"""The navigation search box: `stb`, `stb 42`, an invoice number or part of one, a party name."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import Session, col

from core.db import guarded
from core.errors import InvoiceDeskError
from core.history import HistoryRow, invoice_history
from core.inputs import parse_id, search_text
from core.models import Batch, Party
from core.parties import search_parties

# stb, stb 42, stb42; "stb ²" or "stb 99999999999999999999" get a message, "Stbury Ltd" is a party search.
_STB = re.compile(r"^\s*stb(?:\s+(\S+)|([0-9]\S*))?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Destination:
    """Where a search leads: kind is batch_history, batch, invoices, party, parties or nothing."""

    kind: str
    message: str = ""
    batch_id: int | None = None
    batch_number: int | None = None
    party_id: int | None = None
    invoices: list[HistoryRow] = field(default_factory=list)
    parties: list[Party] = field(default_factory=list)


@guarded
def navigate(session: Session, *, text: str) -> Destination:
    try:
        text = search_text(text)
    except InvoiceDeskError as exc:
        return Destination("nothing", str(exc))
    if not text:
        return Destination("nothing", "Type stb, stb and a batch number, an invoice number or a party name.")
    m = _STB.match(text)
    if m:
        typed = m.group(1) or m.group(2)
        if not typed:
            return Destination("batch_history")
        number = parse_id(typed)
        if number is None:
            return Destination("nothing", f"'{typed[:40]}' is not a batch number; type stb and a number such as "
                                          "stb 42.")
        batch_id = session.execute(sa.select(col(Batch.id)).where(col(Batch.number) == number)).scalar_one_or_none()
        if batch_id is None:
            return Destination("nothing", f"There is no batch {number}.")
        return Destination("batch", batch_id=batch_id, batch_number=number)
    invoices = invoice_history(session, status="all", number_contains=text, limit=50) if len(text) >= 2 else []
    parties = search_parties(session, text=text, limit=20)
    if len(parties) == 1 and not invoices:
        return Destination("party", party_id=parties[0].id)
    if invoices and not parties:
        return Destination("invoices", invoices=invoices)
    if parties or invoices:
        return Destination("parties", parties=parties, invoices=invoices)
    return Destination("nothing", f"Nothing matches '{text}'.")
