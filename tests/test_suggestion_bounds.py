"""The exact-match search behind suggest_allocation (issue 16): exhaustive for a few open invoices, bounded in
work for thousands, and never wrong: what it returns always adds up to the amount with whole balances."""

from __future__ import annotations

import itertools
import random

from hypothesis import given
from hypothesis import strategies as st

from core.payments import _EXACT_WINDOW, _exact_subset

balances = st.lists(st.integers(min_value=1, max_value=50_000), min_size=1, max_size=12)


@given(balances, st.data())
def test_a_few_invoices_are_searched_exhaustively(open_cents, data):
    target = data.draw(st.one_of(
        st.integers(1, sum(open_cents) + 100),
        st.lists(st.sampled_from(range(len(open_cents))), unique=True, min_size=1).map(
            lambda picked: sum(open_cents[i] for i in picked))))
    got = _exact_subset(open_cents, target)
    exists = any(sum(c) == target for r in range(1, len(open_cents) + 1)
                 for c in itertools.combinations(open_cents, r))
    assert (got is not None) == exists
    if got is not None:
        assert len(set(got)) == len(got) and sum(open_cents[i] for i in got) == target
        # The match whose newest invoice is oldest: no subset of fewer of the oldest invoices adds up.
        newest = max(got)
        assert not any(sum(c) == target for r in range(1, newest + 1)
                       for c in itertools.combinations(open_cents[:newest], r))


@given(st.integers(0, 2**32), st.integers(1, 3))
def test_thousands_of_invoices_give_a_right_match_or_none(seed, how_many):
    rng = random.Random(seed)
    open_cents = [5_000 + rng.randrange(60_000) for _ in range(6_000)]
    picked = rng.sample(range(_EXACT_WINDOW), how_many)
    for target in (sum(open_cents[i] for i in picked), rng.randrange(1, sum(open_cents)), sum(open_cents) + 1):
        got = _exact_subset(open_cents, target)  # how long it takes is benchmarks/run.py's figure 5, not a test's
        if got is not None:
            assert sum(open_cents[i] for i in got) == target and max(got) < _EXACT_WINDOW
    # One or two invoices among the oldest are always found, whatever the work bound left undone.
    assert _exact_subset(open_cents, open_cents[_EXACT_WINDOW - 1] + open_cents[_EXACT_WINDOW - 2]) is not None
