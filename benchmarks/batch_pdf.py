"""A 1,000-invoice batch PDF drawn over all cores, against the same batch drawn in one process.

    python benchmarks/batch_pdf.py [--invoices 1000]

Prints both times and their ratio; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa  # noqa: E402
from sqlmodel import Session  # noqa: E402

from core import create_on_demand_batch, open_engine, set_invoice_billing  # noqa: E402
from core.documents import render_batch_pdf  # noqa: E402
from core.models import ChargeLine, Encounter, Group, Party, Patient  # noqa: E402


def build(session: Session, invoices: int) -> int:
    set_invoice_billing(session, enabled=True, actor="bench")
    group = Group(name="Bench Group")
    session.add(group)
    session.flush()
    session.execute(sa.insert(Party.__table__), [
        {"account_code": f"B{i:05d}", "name": f"Bench Employer {i}", "kind": "employer", "group_id": group.id,
         "billable": True, "active": True, "contact_name": "", "email": "", "address_line1": "1 Main St",
         "address_line2": "", "city": "Salem", "state": "OR", "postal_code": "97301"} for i in range(invoices)])
    parties = session.execute(sa.select(Party.id).order_by(Party.id)).scalars().all()
    session.execute(sa.insert(Patient.__table__), [{"account": f"P{i}", "name": f"Patient {i}"} for i in range(invoices)])
    patients = session.execute(sa.select(Patient.id).order_by(Patient.id)).scalars().all()
    rows = [{"number": f"E{i}-{k}", "patient_id": patients[i], "party_id": parties[i],
             "date_of_service": date(2026, 3, 1 + k), "post_date": date(2026, 3, 2 + k), "total_cents": 12500,
             "voided": False, "self_pay": False} for i in range(invoices) for k in range(3)]
    session.execute(sa.insert(Encounter.__table__), rows)
    ids = session.execute(sa.select(Encounter.id)).scalars().all()
    session.execute(sa.insert(ChargeLine.__table__), [
        {"encounter_id": e, "line_no": 1, "procedure_code": "99213", "description": "Visit", "units": 1,
         "amount_cents": 12500} for e in ids])
    return create_on_demand_batch(session, group_id=group.id, actor="bench").id


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--invoices", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_engine(f"sqlite:///{tmp}/bench.db")
        with Session(engine) as s:
            batch_id = build(s, args.invoices)
            s.commit()
            timings = {}
            for label, workers in (("one process", 1), (f"{os.cpu_count()} workers", None)):
                start = time.perf_counter()
                pdf = render_batch_pdf(s, batch_id=batch_id, workers=workers)
                timings[label] = time.perf_counter() - start
                print(f"{label:>12}: {timings[label]:7.1f} s for {args.invoices} invoices ({len(pdf) / 1e6:.1f} MB)")
            s.rollback()
        serial, parallel = timings.values()
        print(f"parallel / one process = {parallel / serial:.2f}")


if __name__ == "__main__":
    main()
