"""A big encounter file imported in a process of its own, so its peak memory is the import's: run by
tests/test_import_scale.py as `python -m tests.support.import_memory URL ROWS`, it prints one JSON line.

Three imports of the same file: the first creates every encounter, the second finds them unchanged, and a
third, whose last row has units 0, imports nothing and names that row.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from sqlmodel import Session

from core import import_csv, open_engine
from core.imports import ENCOUNTER_COLUMNS
from tests.factories import ACTOR, billing_on, make_party


def encounter_file(rows: int, party_code: str, *, bad_last: bool = False) -> bytes:
    """`rows` one-line visits of 5,000 patients, as a practice's system exports them (about 79 bytes a row)."""
    lines = [",".join(ENCOUNTER_COLUMNS)]
    for n in range(rows):
        units = "0" if bad_last and n == rows - 1 else "1"
        lines.append(f"BIG{n:06d},BP{n % 5000:05d},Patient {n % 5000},{party_code},2026-03-02,2026-03-03,99213,"
                     f"Visit,{units},{40 + n % 60}.00")
    return ("\n".join(lines) + "\n").encode()


def _peak_mb() -> float:
    """This process's peak resident memory since it started: VmHWM, which exec resets (ru_maxrss would carry the
    peak of the pytest process that forked it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: KiB on Linux, bytes on macOS


def main(url: str, rows: int) -> dict:
    engine = open_engine(url)
    with Session(engine) as s:
        billing_on(s)
        code = make_party(s).account_code
        s.commit()
    figures: dict = {"rows": rows, "before_mb": round(_peak_mb())}
    for name in ("first", "again", "bad_last"):
        data = encounter_file(rows, code, bad_last=name == "bad_last")
        figures["bytes"] = len(data)
        start = time.perf_counter()
        with Session(engine) as s:
            report = import_csv(s, kind="encounters", data=data, actor=ACTOR)
            s.commit()
        figures[name] = {"created": report.created, "updated": report.updated, "unchanged": report.unchanged,
                         "errors": [str(e) for e in report.errors], "seconds": round(time.perf_counter() - start, 1),
                         "peak_mb": round(_peak_mb())}
        del data
    with engine.connect() as conn:
        from sqlalchemy import text
        figures["encounters"] = conn.execute(text("SELECT count(*) FROM encounter")).scalar_one()
        figures["charge_lines"] = conn.execute(text("SELECT count(*) FROM charge_line")).scalar_one()
        figures["audit_changes"] = conn.execute(text("SELECT count(*) FROM audit_change")).scalar_one()
    engine.dispose()
    return figures


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]))))
