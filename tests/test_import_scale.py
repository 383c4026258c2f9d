"""A file of 200,000 visits imports whole on SQLite and PostgreSQL with bounded memory (issue 10).

The import runs in a process of its own (tests/support/import_memory.py), so the peak resident memory it
prints is the import's, Python and its libraries included; run with -s to see the figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROWS = 200_000
MAX_PEAK_MB = 300


@pytest.mark.slow
def test_two_hundred_thousand_visits_import_whole_in_bounded_memory(engine):
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-m", "tests.support.import_memory", url, str(ROWS)], cwd=root,
                          capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\n{engine.dialect.name}: {figures['bytes'] / 1e6:.1f} MB, {ROWS:,} rows; started at "
          f"{figures['before_mb']} MB; " + "; ".join(
              f"{name}: {figures[name]['seconds']} s, peak {figures[name]['peak_mb']} MB"
              for name in ("first", "again", "bad_last")))
    first, again, bad = figures["first"], figures["again"], figures["bad_last"]
    assert (first["created"], first["updated"], first["unchanged"], first["errors"]) == (ROWS, 0, 0, [])
    assert (again["created"], again["updated"], again["unchanged"], again["errors"]) == (0, 0, ROWS, [])
    # The last row's units are 0: the whole file is refused, that row named, nothing written.
    assert bad["errors"] == [f"row {ROWS + 1}, column units: '0' is not a whole number above zero."]
    assert (figures["encounters"], figures["charge_lines"], figures["audit_changes"]) == (ROWS, ROWS, ROWS)
    assert bad["peak_mb"] < MAX_PEAK_MB, f"the imports peaked at {bad['peak_mb']} MB"
