"""Make docs/invoice.png and docs/reprint.png from the demo practice: python scripts/sample_documents.py"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import load_demo_data, open_engine, transaction  # noqa: E402
from core.documents import render_batch_item_pdf  # noqa: E402
from core.models import BatchItem, Invoice  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_engine(f"sqlite:///{tmp}/demo.db")
        with transaction(engine) as s:
            load_demo_data(s)
        with transaction(engine) as s:
            # A short resent invoice with a payment on it, so one page shows the whole story.
            reprint = s.execute(sa.select(BatchItem).join(Invoice, Invoice.id == BatchItem.invoice_id)
                                .where(BatchItem.times_batched == 2)
                                .order_by((BatchItem.payments_cents == 0), Invoice.encounter_count, BatchItem.id)
                                ).scalars().first()
            first = s.execute(sa.select(BatchItem).where(BatchItem.invoice_id == reprint.invoice_id,
                                                         BatchItem.times_batched == 1)).scalar_one()
            for name, item in (("invoice", first), ("reprint", reprint)):
                pdf = Path(tmp) / f"{name}.pdf"
                pdf.write_bytes(render_batch_item_pdf(s, batch_item_id=item.id))
                subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                                str(DOCS / name)], check=True)
                print(f"docs/{name}.png: {item.invoice_number}")
        engine.dispose()


if __name__ == "__main__":
    main()
