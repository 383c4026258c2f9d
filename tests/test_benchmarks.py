"""benchmarks/run.py --quick end to end, on SQLite and PostgreSQL, so the benchmark itself cannot rot (issue 16).

Nothing here asserts a timing: a missed target is the benchmark's news (exit status 1 only with --strict). What is
asserted is that it built a practice that reconciles, measured every figure, found core and each reference doing
the same work (exit status 3 otherwise), and wrote its table and JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIGURES = {str(n) for n in range(1, 10)}


@pytest.mark.slow
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_the_quick_benchmark_runs_every_figure(database, tmp_path, request):
    args = [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--results", str(tmp_path)]
    if database == "postgresql":
        cluster = request.getfixturevalue("pg_cluster")
        args += ["--url", cluster.create_database(f"bench_{uuid.uuid4().hex[:8]}")]
    done = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (written,) = tmp_path.glob("*-quick.json")
    result = json.loads(written.read_text())
    assert result["machine"]["database"].startswith(database)
    figures = result["figures"]
    assert {f["number"] for f in figures} == FIGURES
    assert all(f["ours"] > 0 for f in figures), [f for f in figures if not f["ours"] > 0]
    compared = [f for f in figures if f["reference"] is not None]
    assert len(compared) >= 12 and all(f["ratio"] > 0 for f in compared)
    # The printed table is the JSON's: one line per figure, whether its target was met.
    lines = [line for line in done.stdout.splitlines() if line.startswith("| ") and not line.startswith("| #")]
    assert len(lines) == len(figures)
    missed = [f for f in figures if not f["met"]]
    assert (f"{len(missed)} target(s) missed." in done.stdout) == bool(missed)
