"""8 processes x 20 rounds of every ledger action at once, on SQLite and PostgreSQL; then the invariants in SQL.

The counts (actions done, refusals by message, failures) are printed; run with -s to see them.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from concurrent.futures import ProcessPoolExecutor

import pytest

from core.db import transaction
from tests.factories import billing_on, make_encounter, make_group, make_party
from tests.support.invariants import counts, ledger_problems
from tests.support.stress import ACTIONS, run_worker

pytestmark = pytest.mark.clockless  # the worker processes read the real clock: one run in CI says all

PROCESSES, ROUNDS = 8, 20


def _practice(engine) -> int:
    with transaction(engine) as s:
        billing_on(s)
        group = make_group(s)
        for n in range(6):
            party = make_party(s, group=group if n < 4 else None)
            for k in range(8):
                make_encounter(s, party, amounts=(f"{50 + 10 * k}.00", "15.00"))
        return group.id


def test_eight_processes_at_once_keep_the_books(engine):
    group_id = _practice(engine)
    url = engine.url.render_as_string(hide_password=False)
    with ProcessPoolExecutor(PROCESSES, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(run_worker, [url] * PROCESSES, range(PROCESSES), [ROUNDS] * PROCESSES,
                                [group_id] * PROCESSES))
    done, refused, failed = Counter(), Counter(), []
    for r in results:
        done.update(r["done"])
        refused.update(r["refused"])
        failed += r["failed"]
    print(f"\n{engine.dialect.name}: {sum(done.values())} actions done, {sum(refused.values())} refused, "
          f"{len(failed)} failed, of {PROCESSES * ROUNDS * len(ACTIONS)}")
    print("  done:", dict(sorted(done.items())))
    for message, n in refused.most_common():
        print(f"  refused {n:4d} x {message}")
    print("  rows:", counts(engine))
    assert failed == [], failed[:3]
    # Every kind of action really ran many times, so the invariants below were tested by a race.
    assert all(done[action] >= 5 for action in ACTIONS), done
    assert ledger_problems(engine) == []
