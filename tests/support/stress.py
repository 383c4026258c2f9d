"""Many managers at once: worker processes that each run every ledger action in a loop (issue 9).

`run_worker` runs in its own process with its own engine. Each round it runs each action once on targets
picked at random from what the database holds at that moment, and counts what happened: done, refused
(by message, numbers masked) or failed (anything that is not an InvoiceDeskError: a raw error).
"""

from __future__ import annotations

import os
import random
import re
import traceback
from collections import Counter
from contextlib import nullcontext
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa

ACTOR = "stress.manager"
ACTIONS = ("post", "void", "party batch", "group batch", "rebatch", "import", "credit memo", "allocate")


def _clock():
    moment = os.environ.get("INVOICE_DESK_TEST_NOW", "")
    if not moment:
        return nullcontext()
    import time_machine

    return time_machine.travel(datetime.fromisoformat(moment).timestamp(), tick=True)


def _mask(message: str) -> str:
    return re.sub(r"(RCT-|INV-|CM-|\$)?\d[\d,.\-]*", "#", message)[:90]


def encounters_csv(rows: list[tuple[str, str, str, str]]) -> str:
    head = ("encounter_number,patient_account,patient_name,party_account_code,date_of_service,post_date,"
            "procedure_code,description,units,amount\n")
    return head + "".join(f"{n},{p},Pat {p},{code},2026-03-10,2026-03-10,99213,Visit,1,{amount}\n"
                          for n, p, code, amount in rows)


def _pick(conn, query: str, rng: random.Random, **params):
    rows = conn.execute(sa.text(query), params).all()
    return rng.choice(rows) if rows else None


def run_worker(url: str, worker: int, rounds: int, group_id: int) -> dict:
    import core
    from core.db import open_engine, transaction

    rng = random.Random(worker * 7919)
    engine = open_engine(url, migrate=False)
    done, refused, failed = Counter(), Counter(), []
    today = None
    with _clock():
        for round_no in range(rounds):
            for action in ACTIONS:
                try:
                    with engine.connect() as conn:
                        with transaction(engine) as s:
                            today = today or core.clock.today(s)
                        args = _targets(action, conn, rng, round_no, group_id, worker)
                    if args is None:
                        refused[f"{action}: nothing to pick"] += 1
                        continue
                    with transaction(engine) as s:
                        _act(core, s, action, args, today)
                    done[action] += 1
                except core.InvoiceDeskError as exc:
                    refused[f"{action}: {_mask(str(exc))}"] += 1
                except Exception:  # noqa: BLE001 - a raw error is what this run exists to find
                    failed.append(f"{action}: {traceback.format_exc(limit=4)}")
    engine.dispose()
    return {"done": dict(done), "refused": dict(refused), "failed": failed}


def _targets(action: str, conn, rng: random.Random, round_no: int, group_id: int, worker: int):
    if action == "post":
        inv = _pick(conn, "SELECT id, party_id, balance_cents FROM invoice WHERE paid = :f", rng, f=False)
        if inv is None:
            return None
        # Some of each check stays unapplied, for the allocations to use.
        return {"party_id": inv.party_id, "cents": rng.randint(1, inv.balance_cents), "invoice_id": inv.id,
                "extra": rng.choice([0, 500, 2500])}
    if action == "allocate":
        # A receipt with money left, to an open invoice of its party (as read now; it may be gone by the time).
        pair = _pick(conn, "SELECT r.id AS receipt_id, i.id AS invoice_id, r.amount_cents - r.applied_cents AS left, "
                     "i.balance_cents FROM receipt r JOIN invoice i ON i.party_id = r.party_id "
                     "WHERE r.voided = :f AND r.applied_cents < r.amount_cents AND i.paid = :f", rng, f=False)
        if pair is None:
            return None
        return {"receipt_id": pair.receipt_id, "invoice_id": pair.invoice_id,
                "cents": rng.randint(1, min(pair.left, pair.balance_cents))}
    if action == "void":
        # Any receipt, voided or not: two managers voiding one check is a race too.
        receipt = _pick(conn, "SELECT id FROM receipt", rng)
        return receipt and {"receipt_id": receipt.id}
    if action == "party batch":
        party = _pick(conn, "SELECT id FROM party", rng)
        return {"party_id": party.id}
    if action == "group batch":
        return {"group_id": group_id}
    if action == "rebatch":
        batch = _pick(conn, "SELECT id FROM batch", rng)
        return batch and {"batch_id": batch.id}
    if action == "credit memo":
        line = _pick(conn, "SELECT b.id AS item_id, l.encounter_id FROM invoice_line l "
                     "JOIN batch_item b ON b.invoice_id = l.invoice_id AND b.times_batched = 1 WHERE l.live = :t",
                     rng, t=True)
        return line and {"item_id": line.item_id, "encounter_id": line.encounter_id}
    if action == "import":
        party = _pick(conn, "SELECT account_code FROM party", rng)
        # Two new visits every worker imports in this round (the same new patients), and a change of the charges
        # of an existing visit (refused when it is on an invoice by then).
        rows = [(f"NEW{round_no:03d}{k}", f"NP{round_no:03d}{k}", party.account_code, "125.00") for k in range(2)]
        rows += [(f"W{worker}R{round_no:03d}{k}", f"WP{worker}R{round_no:03d}{k}", code, "60.00")
                 for k, code in enumerate(conn.execute(sa.text("SELECT account_code FROM party")).scalars())]
        old = _pick(conn, "SELECT e.number, p.account, y.account_code FROM encounter e "
                    "JOIN patient p ON p.id = e.patient_id JOIN party y ON y.id = e.party_id", rng)
        if old is not None and old.number.startswith("E") and rng.random() < 0.5:
            rows.append((old.number, old.account, old.account_code, f"{rng.randint(50, 300)}.00"))
        return {"csv": encounters_csv(rows)}
    raise AssertionError(action)


def _act(core, s, action: str, a: dict, today) -> None:
    money = Decimal(a.get("cents", 0)) / 100
    if action == "post":
        core.post_receipt(s, party_id=a["party_id"], amount=money + Decimal(a["extra"]) / 100, received_date=today,
                          method="check",
                          allocations={a["invoice_id"]: money}, actor=ACTOR)
    elif action == "allocate":
        core.allocate_receipt(s, receipt_id=a["receipt_id"], allocations={a["invoice_id"]: money}, actor=ACTOR)
    elif action == "void":
        core.void_receipt(s, receipt_id=a["receipt_id"], reason="Check returned", actor=ACTOR)
    elif action == "party batch":
        core.create_on_demand_batch(s, party_id=a["party_id"], actor=ACTOR)
    elif action == "group batch":
        core.create_on_demand_batch(s, group_id=a["group_id"], actor=ACTOR)
    elif action == "rebatch":
        core.rebatch(s, source_batch_id=a["batch_id"], actor=ACTOR)
    elif action == "credit memo":
        core.create_credit_memo(s, batch_item_id=a["item_id"], encounter_ids=[a["encounter_id"]], action="void",
                                reason="Billed in error", actor=ACTOR)
    elif action == "import":
        report = core.import_csv(s, kind="encounters", data=a["csv"], actor=ACTOR)
        if not report.ok:
            raise core.InvoiceDeskError(str(report.errors[0]).split(": ", 1)[-1])


def post_receipts_until(url: str, party_ids: list[int], stop_file: str, pause: float = 0.2) -> list[float]:
    """Another manager, in another process: post a receipt every `pause` seconds until stop_file exists.

    Returns how long each post took, from asking to committed.
    """
    import time
    from pathlib import Path

    import core
    from core.db import open_engine, transaction

    engine = open_engine(url, migrate=False)
    waits: list[float] = []
    with _clock():
        while not Path(stop_file).exists() or not waits:
            with transaction(engine) as s:
                today = core.clock.today(s)
            started = time.monotonic()
            with transaction(engine) as s:
                core.post_receipt(s, party_id=party_ids[len(waits) % len(party_ids)], amount="10.00",
                                  received_date=today, method="check", actor=ACTOR)
            waits.append(time.monotonic() - started)
            time.sleep(pause)
    engine.dispose()
    return waits
