"""Invoice Desk's benchmarks: every hot path on a busy practice's year, each against a hand-written reference (plain
sqlite3 or psycopg doing the same work) in the same run, as a ratio.

    ./desk python benchmarks/run.py                 # SQLite, the full practice (several minutes)
    ./desk python benchmarks/run.py --quick         # a small practice, under a minute: the script still works
    ./desk python benchmarks/run.py --url postgresql+psycopg://user@host/db   # PostgreSQL (an empty database)
    ./desk python benchmarks/run.py --readme        # also put the table in README.md

Each figure is the median of --runs (5; 3 with --quick), core and reference taking turns. Write figures run in a
transaction that is rolled back, so every run starts from the same rows. Core's answer and the reference's are
compared, so both did the same work. The table is printed and written, with the machine, as JSON to
benchmarks/results/ (not kept in git). Nothing here is a test: tests never assert timings.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from sqlmodel import Session  # noqa: E402

from benchmarks import practice as bench  # noqa: E402
from benchmarks import reference as ref  # noqa: E402
from core import (  # noqa: E402
    aging_report,
    clock,  # noqa: E402
    collections_by_month,
    create_on_demand_batch,
    days_to_pay,
    headline,
    invoice_history,
    invoice_history_count,
    invoices_by_month,
    open_engine,
    open_invoices,
    read_session,
    rebatch,
    rebatch_effects,
    reconcile,
    render_batch_item_pdf,
    render_batch_pdf,
    suggest_allocation,
)
from core.models import Batch, BatchItem, ChargeLine, Encounter, Group, Party  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
README_START, README_END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"  # SQLite's table


def readme_markers(dialect: str) -> tuple[str, str]:
    """The README block a database's table goes in: SQLite's, or one of PostgreSQL's own."""
    if dialect == "sqlite":
        return README_START, README_END
    return f"<!-- benchmarks-{dialect}:start -->", f"<!-- benchmarks-{dialect}:end -->"


@dataclass
class Figure:
    """One line of the table: our time, the reference's, and whether the target was met."""

    number: str
    name: str
    ours: float  # seconds, or rows per second where unit says so
    reference: float | None
    target: str
    met: bool
    unit: str = "ms"
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if not self.reference:
            return None
        if self.unit == "rows/s":  # faster is more here: the ratio is still "times slower than the reference"
            return self.reference / self.ours if self.ours else None
        return self.ours / self.reference

    def shown(self, value: float | None) -> str:
        if value is None:
            return ""
        if self.unit == "ms":
            return f"{value * 1000:,.1f} ms" if value < 10 else f"{value:,.1f} s"
        if self.unit == "rows/s":
            return f"{value:,.0f} rows/s"
        if self.unit == "us/row":
            return f"{value * 1e6:,.2f} us/row"
        return f"{value:,.1f} {self.unit}"


def median_of(fn: Callable[[], object], runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        began = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times), result


def both(ours: Callable[[], object], theirs: Callable[[], object], runs: int) -> tuple[float, float, object, object]:
    """Medians of core and the reference, taking turns so both see the same machine; and their last answers."""
    ours_t, ref_t = [], []
    ours_r = ref_r = None
    for _ in range(runs):
        began = time.perf_counter()
        ours_r = ours()
        ours_t.append(time.perf_counter() - began)
        began = time.perf_counter()
        ref_r = theirs()
        ref_t.append(time.perf_counter() - began)
    return statistics.median(ours_t), statistics.median(ref_t), ours_r, ref_r


DISAGREE = 3  # the exit status when core and a reference did not do the same work, or the practice is wrong


def same(what: str, ours: object, theirs: object) -> None:
    if ours != theirs:
        print(f"{what}: core and the reference disagree ({str(ours)[:300]} against {str(theirs)[:300]}); the figure "
              "would compare different work.", file=sys.stderr)
        raise SystemExit(DISAGREE)


class Bench:
    def __init__(self, engine: sa.Engine, url: str, runs: int, say: Callable[[str], None],
                 profile: frozenset[str] = frozenset()) -> None:
        self.engine, self.url, self.runs, self.say, self.profile = engine, url, runs, say, profile
        self.raw = ref.Raw(url)
        self.figures: list[Figure] = []

    def core(self, fn: Callable[[Session], object], *, read: bool = False) -> Callable[[], object]:
        """fn in a session whose work is taken back afterwards; with read, in core's reading session (as the pages
        read: on SQLite a plain BEGIN, not the writers' BEGIN IMMEDIATE)."""
        def run() -> object:
            if read:
                with read_session(self.engine) as s:
                    return fn(s)
            with Session(self.engine) as s:
                try:
                    return fn(s)
                finally:
                    s.rollback()
        return run

    def reference(self, fn: Callable[[ref.Raw], object]) -> Callable[[], object]:
        def run() -> object:
            with self.raw.rolled_back() as raw:
                return fn(raw)
        return run

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        ratio = f", ratio {figure.ratio:.2f}" if figure.ratio is not None else ""
        self.say(f"  {figure.number} {figure.name}: {figure.shown(figure.ours)}"
                 + (f" against {figure.shown(figure.reference)}" if figure.reference else "")
                 + f"{ratio} ({'met' if figure.met else 'MISSED'}: {figure.target})")
        return figure

    def ratio_figure(self, number: str, name: str, ours, theirs, limit: float, check: str,
                     also: Callable[[float], bool] | None = None, also_text: str = "", read: bool = False) -> Figure:
        o, r, ours_r, ref_r = both(self.core(ours, read=read), self.reference(theirs), self.runs)
        same(name, ours_r, ref_r)
        if number in self.profile:  # one more run of core's side, sampled
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005)
            with profiler:
                self.core(ours, read=read)()
            self.say(profiler.output_text(unicode=False, color=False))
        met = o <= limit * r and (also is None or also(o))
        return self.add(Figure(number, name, o, r, f"at most {limit:g}x{also_text}", met, note=check))


# ---------- the figures ----------

def batch_figures(b: Bench, p: bench.Practice, today: date, terms: int) -> None:
    def ours_batch(s: Session):
        batch = create_on_demand_batch(s, group_id=p.group_id, actor=bench.ACTOR)
        return batch.invoice_count, batch.total_cents

    b.ratio_figure("1", f"create_on_demand_batch, a group of {p.scale.encounters:,} encounters", ours_batch,
                   lambda raw: ref.group_batch(raw, p.group_id, today, terms), 2, "same invoices and total")

    def ours_rebatch(s: Session):
        batch = rebatch(s, source_batch_id=p.rebatch_batch_id, actor=bench.ACTOR)
        return batch.invoice_count, batch.total_cents

    b.ratio_figure("2", f"rebatch of a {p.scale.rebatch_invoices:,}-invoice batch", ours_rebatch,
                   lambda raw: ref.rebatch(raw, p.rebatch_batch_id, today), 2, "same invoices and total")


def history_figures(b: Bench, p: bench.Practice) -> None:
    items = f"{p.scale.items:,} batch items"
    b.ratio_figure("3", f"invoice_history, open, number contains '{p.contains}', a page of 100 ({items})",
                   lambda s: [r.batch_item_id for r in invoice_history(s, status="open", number_contains=p.contains)],
                   lambda raw: ref.history_page(raw, p.contains), 1.5, "same rows",
                   also=lambda o: o < 0.020, also_text=" and under 20 ms", read=True)
    b.ratio_figure("3", "its count", lambda s: invoice_history_count(s, status="open", number_contains=p.contains),
                   lambda raw: ref.history_count(raw, p.contains), 1.5, "same count",
                   also=lambda o: o < 0.020, also_text=" and under 20 ms", read=True)


def report_figures(b: Bench, today: date) -> None:
    window = {"months": 12}
    first_month = date(today.year - 1, today.month, 1) + timedelta(days=31)
    first_month = first_month.replace(day=1)
    now = clock.now()

    def ours_headline(s: Session):
        h = headline(s)
        return h.open_invoices, round(h.open_balance * 100)

    b.ratio_figure("4", "headline figures", ours_headline, lambda raw: ref.headline(raw, today, now), 2,
                   "same open invoices and balance", read=True)

    def ours_months(s: Session):
        return {f"{m.month:%Y-%m}": (m.invoices, round(m.billed * 100), round(m.open_balance * 100))
                for m in invoices_by_month(s, **window) if m.invoices}

    b.ratio_figure("4", "invoices by month (12)", ours_months, lambda raw: ref.by_month(raw, first_month, today), 2,
                   "same counts, billed and month-end balances", read=True)

    def ours_aging(s: Session):
        aging_report(s, by="total")
        aging_report(s, by="group")
        return {r.key: round(r.total * 100) for r in aging_report(s, by="party")}

    b.ratio_figure("4", "aging: total, by party, by group", ours_aging, lambda raw: ref.open_by_party(raw, today), 2,
                   "same open balance per party", read=True)

    def ours_collections(s: Session):
        return {f"{m.month:%Y-%m}": round(m.received * 100) for m in collections_by_month(s, **window)
                if m.received}

    b.ratio_figure("4", "collections by month (12)", ours_collections,
                   lambda raw: ref.collections(raw, first_month), 2, "same money received by month", read=True)

    b.ratio_figure("4", "reconcile", lambda s: len(reconcile(s).problems), lambda raw: ref.books(raw, today), 2,
                   "no problem either way", read=True)

    def ours_days(s: Session):
        return {f"{m.month:%Y-%m}": (m.invoices, round(m.average_days * m.invoices)) for m in
                days_to_pay(s, **window).by_month if m.invoices}

    def theirs_days(raw: ref.Raw):  # the same rounding of the averages core reports
        got = ref.days_to_pay(raw, first_month, today)
        return {k: (n, round(round(Decimal(d) / n, 1) * n)) for k, (n, d) in got.items()}

    b.ratio_figure("4", "days to pay (12 months)", ours_days, theirs_days, 2, "same invoices and days by month", read=True)

    def ours_effect(s: Session):  # both, as the dashboard reads them
        _, by_sending = rebatch_effects(s, **window)
        return {r.sending: (r.items, round(r.outstanding * 100), round(r.paid_within_30_days * 100))
                for r in by_sending if r.items}

    def theirs_effect(raw: ref.Raw):
        return ref.rebatch_effect(raw, first_month, today)

    b.ratio_figure("4", "rebatch effect (by month, then by sending)", ours_effect, theirs_effect, 2,
                   "same sendings, outstanding and paid", read=True)


def allocation_figure(b: Bench, p: bench.Practice) -> None:
    with Session(b.engine) as s:
        balances = [(r.invoice_id, r.balance_due) for r in
                    open_invoices(s, party_id=p.open_party_id)]
    picks = [i for i in (5, len(balances) // 40, len(balances) // 20) if i < len(balances)]
    exact = sum((balances[i][1] for i in picks), start=balances[0][1] * 0)
    beyond = sum((bal for _, bal in balances), start=balances[0][1] * 0) + 1
    floor, _ = median_of(b.reference(lambda raw: ref.open_invoices(raw, p.open_party_id)), b.runs)
    for label, amount, kind in (("an exact match among the oldest", exact, "exact match"),
                                ("more than everything open", beyond, "oldest first")):
        seconds, got = median_of(b.core(lambda s, a=amount: suggest_allocation(s, party_id=p.open_party_id,
                                                                                amount=a), read=True), b.runs)
        found = getattr(got, "method", None) == kind
        b.add(Figure("5", f"suggest_allocation, {len(balances):,} open invoices, {label}", seconds, floor,
                     "under 200 ms, " + kind, seconds < 0.2 and found,
                     note=f"answered {getattr(got, 'method', '?')}"))


def page_figures(b: Bench, p: bench.Practice, runs: int) -> None:
    from benchmarks.pages import measure

    os.environ["INVOICE_DESK_DATABASE_URL"] = b.url
    os.environ.pop("INVOICE_DESK_DEMO", None)
    with Session(b.engine) as s:
        batch = s.execute(sa.select(sa.func.max(Batch.number)).where(Batch.kind == "rebatch")).scalar()
    for path in ("dashboard", f"batches?batch={batch}", f"employer?party_id={p.open_party_id}&status=All"):
        cold, warm, title = measure(path, runs)
        b.add(Figure("6", f"{title} ({path.split('?')[0]}), cold", cold, None, "under 1.5 s", cold < 1.5))
        b.add(Figure("6", f"{title} ({path.split('?')[0]}), warm", warm, None, "under 300 ms", warm < 0.3))


def pdf_figures(b: Bench, p: bench.Practice) -> None:
    """A group of employers with five encounters each, batched once (committed); one invoice, then all of them."""
    n = p.scale.pdf_invoices
    with Session(b.engine) as s:
        group = Group(name="PDF Group")
        s.add(group)
        s.flush()
        top = s.execute(sa.select(sa.func.max(Party.id))).scalar() or 0
        s.execute(sa.insert(Party.__table__), [
            {"account_code": f"PDF{i:05d}", "name": f"Print Employer {i}", "kind": "employer", "group_id": group.id,
             "billable": True, "active": True, "contact_name": "Payables", "email": "", "email_cc": "",
             "address_line1": "1 Main St", "address_line2": "", "city": "Salem", "state": "OR",
             "postal_code": "97301"} for i in range(n)])
        parties = range(top + 1, top + n + 1)
        s.execute(sa.insert(Encounter.__table__), [
            {"number": f"PDF{pid}-{k}", "patient_id": 1 + k, "party_id": pid, "date_of_service": date(2026, 11, 3 + k),
             "post_date": date(2026, 11, 4 + k), "total_cents": 12_500, "voided": False, "self_pay": False}
            for pid in parties for k in range(5)])
        e = Encounter.__table__
        s.execute(sa.insert(ChargeLine.__table__).from_select(
            ["encounter_id", "line_no", "procedure_code", "description", "units", "amount_cents"],
            sa.select(e.c.id, sa.literal(1), sa.literal("99213"), sa.literal("Office visit"), sa.literal(1),
                      e.c.total_cents).where(e.c.number.like("PDF%"))))
        batch = create_on_demand_batch(s, group_id=group.id, actor=bench.ACTOR)
        batch_id = batch.id
        first = s.execute(sa.select(sa.func.min(BatchItem.id)).where(BatchItem.batch_id == batch_id)).scalar()
        s.commit()
    with Session(b.engine) as s:
        one, _ = median_of(lambda: render_batch_item_pdf(s, batch_item_id=first), max(b.runs, 5))
        s.commit()
    cores = os.cpu_count() or 1
    with Session(b.engine) as s:
        whole, pdf = median_of(lambda: render_batch_pdf(s, batch_id=batch_id), b.runs)
        s.commit()
    b.add(Figure("7", "one invoice PDF (5 encounters)", one, None, "measured", True))
    floor = one * n / cores
    b.add(Figure("7", f"batch PDF of {n:,} invoices on {cores} cores ({len(pdf) / 1e6:.1f} MB)", whole, floor,
                 "at most 1.2x one invoice x n / cores", whole <= 1.2 * floor))


def import_csv_text(p: bench.Practice, rows: int) -> str:
    lines = ["encounter_number,patient_account,patient_name,party_account_code,date_of_service,post_date,"
             "procedure_code,description,units,amount"]
    for i in range(rows):
        enc = i // 2
        day = date(2026, 10, 1) + timedelta(days=enc % 28)
        lines.append(f"IMP{enc:07d},IMPPT{enc % 5000:05d},Patient {enc % 5000},B{enc % p.scale.parties + 1:05d},"
                     f"{day},{day + timedelta(days=1)},{'99213' if i % 2 == 0 else '87880'},Visit,1,"
                     f"{62 + i % 50}.{i % 100:02d}")
    return "\n".join(lines) + "\n"


CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
which, url, path = sys.argv[2:5]
data = open(path).read()
from sqlmodel import Session
from core import import_csv, open_engine
from benchmarks.reference import Raw, import_encounters

def high_water():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024

base = high_water()
if which == "ours":
    engine = open_engine(url)
    with Session(engine) as s:
        began = time.perf_counter()
        report = import_csv(s, kind="encounters", data=data.encode(), actor="bench")
        seconds = time.perf_counter() - began
        created = report.created
        s.rollback()
else:
    raw = Raw(url)
    with raw.rolled_back():
        began = time.perf_counter()
        created = import_encounters(raw, data)
        seconds = time.perf_counter() - began
peak = high_water()
print(json.dumps({"seconds": seconds, "created": created, "peak_mb": peak, "grew_mb": peak - base}))
"""

def import_figure(b: Bench, p: bench.Practice, folder: Path) -> None:
    rows = p.scale.import_rows
    path = folder / "import.csv"
    path.write_text(import_csv_text(p, rows))
    got: dict[str, list[dict]] = {"ours": [], "reference": []}
    for _ in range(b.runs):
        for which in got:
            child = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), which, b.url, str(path)],
                                   capture_output=True, text=True, cwd=ROOT)
            if child.returncode:
                print(child.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"The {which} import stopped (status {child.returncode}).")
            got[which].append(json.loads(child.stdout.strip().splitlines()[-1]))
    same("import", {r["created"] for r in got["ours"]}, {r["created"] for r in got["reference"]})
    ours = statistics.median(r["seconds"] for r in got["ours"])
    theirs = statistics.median(r["seconds"] for r in got["reference"])
    peak = max(r["peak_mb"] for r in got["ours"])
    grew = max(r["grew_mb"] for r in got["ours"])
    ref_grew = max(r["grew_mb"] for r in got["reference"])
    b.add(Figure("8", f"import of {rows:,} encounter rows", rows / ours, rows / theirs, "measured", True,
                 unit="rows/s", note=f"peak {peak:,.0f} MB, grew {grew:,.0f} MB (reference grew {ref_grew:,.0f} MB)"))
    b.add(Figure("8", "its peak memory (the import's growth)", grew, ref_grew or None, "measured", True, unit="MB"))


# ---------- the whole run ----------

def machine(engine: sa.Engine) -> dict:
    import sqlite3

    memory = ""
    try:
        kb = int(next(line for line in open("/proc/meminfo") if line.startswith("MemTotal")).split()[1])
        memory = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    with engine.connect() as c:
        server = (c.execute(sa.text("SHOW server_version")).scalar() if engine.dialect.name == "postgresql"
                  else sqlite3.sqlite_version)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip() or "unknown"
    return {"cpu": cpu, "cores": os.cpu_count(), "memory": memory, "python": platform.python_version(), "commit": commit,
            "database": f"{engine.dialect.name} {server}", "when": datetime.now().isoformat(timespec="seconds")}


def fresh(url: str | None, folder: Path, name: str) -> tuple[sa.Engine, str]:
    """An empty database at the newest schema: a new SQLite file, or the PostgreSQL database's schema made again.

    A PostgreSQL database is emptied only when it holds nothing but an earlier benchmark's rows: the run refuses a
    database with a practice's data in it.
    """
    if url is None or url.startswith("sqlite"):
        url = f"sqlite:///{folder / (name + '.db')}"
        return open_engine(url), url
    plain = sa.create_engine(url)
    try:
        with plain.begin() as c:
            if "batch" in sa.inspect(c).get_table_names():
                others = c.execute(sa.text("SELECT count(*) FROM batch WHERE created_by <> :me"),
                                   {"me": bench.ACTOR}).scalar_one()
                if others:
                    raise SystemExit(f"{plain.url.render_as_string(hide_password=True)} holds a practice's batches; "
                                     "give the benchmark an empty database of its own.")
            # The owner of the database owns its public schema (PostgreSQL 15): the ledger's tables, which refuse
            # DELETE and TRUNCATE, go with it.
            c.execute(sa.text("DROP SCHEMA public CASCADE"))
            c.execute(sa.text("CREATE SCHEMA public"))
    finally:
        plain.dispose()
    return open_engine(url), url


def growth(args, scale: bench.Scale, folder: Path, say) -> list[Figure]:
    sizes = (1_000, 3_000, 10_000) if args.quick else (10_000, 100_000, 1_000_000)
    batch_times, page_times = [], []
    for n in sizes:
        small = replace(scale, encounters=n, history=n, rebatch_invoices=min(scale.rebatch_invoices, n // 10),
                        open_invoices=min(scale.open_invoices, n // 10))
        engine, url = fresh(args.url, folder, f"growth{n}")
        p = bench.build(engine, small, say=lambda _: None)
        b = Bench(engine, url, args.runs, say=lambda _: None)
        bt, _ = median_of(b.core(lambda s, g=p.group_id: create_on_demand_batch(s, group_id=g, actor=bench.ACTOR)),
                          args.runs)
        pt, _ = median_of(b.core(lambda s, c=p.contains: invoice_history(s, status="open", number_contains=c),
                                 read=True), args.runs)
        batch_times.append(bt)
        page_times.append(pt)
        b.raw.close()
        engine.dispose()
        say(f"  9 at {n:,}: batch {bt * 1000:,.1f} ms ({bt / n * 1e6:.1f} us a row), history page {pt * 1000:.1f} ms")
    per_row = [t / n for t, n in zip(batch_times, sizes, strict=True)]
    linear = max(per_row[1:]) <= 2 * per_row[1] and per_row[-1] <= 1.5 * per_row[1]
    flat = page_times[-1] <= 2 * page_times[0] + 0.002
    label = " / ".join(f"{n:,}" for n in sizes)
    return [Figure("9", f"batch at {label} encounters (per encounter)", per_row[-1], per_row[1],
                   "linear: a row costs no more at the largest size", linear, unit="us/row",
                   note=", ".join(f"{t * 1000:,.1f} ms" for t in batch_times)),
            Figure("9", f"history page at {label} batch items", page_times[-1], page_times[0],
                   "flat: at most 2x the smallest", flat, note=", ".join(f"{t * 1000:,.1f} ms" for t in page_times))]


def table(figures: list[Figure]) -> str:
    out = ["| # | figure | ours | reference | ratio | target | met |", "|---|---|---:|---:|---:|---|---|"]
    for f in figures:
        ratio = f"{f.ratio:.2f}" if f.ratio is not None else ""
        name = f.name + (f" ({f.note})" if f.note else "")
        out.append(f"| {f.number} | {name} | {f.shown(f.ours)} | {f.shown(f.reference)} | {ratio} | {f.target} | "
                   f"{'yes' if f.met else '**no**'} |")
    return "\n".join(out)


def write_readme(text: str, dialect: str = "sqlite") -> None:
    readme = ROOT / "README.md"
    body = readme.read_text()
    start, end = readme_markers(dialect)
    if start not in body or end not in body:
        raise SystemExit(f"README.md has no {start} ... {end} block to replace.")
    head, _, rest = body.partition(start)
    _, _, tail = rest.partition(end)
    readme.write_text(f"{head}{start}\n{text}\n{end}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small practice; the whole run in under a minute")
    parser.add_argument("--url", help="an empty PostgreSQL (or SQLite) database to build the practice in")
    parser.add_argument("--runs", type=int, help="runs per figure, the median kept (5; 3 with --quick)")
    parser.add_argument("--skip", default="", help="figures to leave out, e.g. 6,7,9")
    parser.add_argument("--readme", action="store_true", help="put the table in README.md")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when a target is missed")
    parser.add_argument("--profile", default="", help="figures whose core side to profile (pyinstrument), e.g. 2,4")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the JSON goes")
    args = parser.parse_args(argv)
    args.runs = args.runs or (3 if args.quick else 5)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    scale = bench.QUICK if args.quick else bench.FULL
    say = print
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="invoice-desk-bench-") as tmp:
        folder = Path(tmp)
        engine, url = fresh(args.url, folder, "practice")
        say(f"Building the practice on {engine.dialect.name}: {scale.parties:,} parties, {scale.encounters:,} "
            f"encounters to invoice, {scale.items:,} batch items of history")
        built = time.perf_counter()
        p = bench.build(engine, scale, say=say)
        say(f"  built in {time.perf_counter() - built:.1f} s")
        with Session(engine) as s:
            today = clock.today(s)
            from core.settings import profile_for_new_batch

            terms = profile_for_new_batch(s, actor=bench.ACTOR).terms_days
            s.rollback()
            problems = reconcile(s).problems
        if problems:
            print(f"The built practice does not reconcile: {problems[:3]}", file=sys.stderr)
            raise SystemExit(DISAGREE)
        b = Bench(engine, url, args.runs, say, frozenset(x.strip() for x in args.profile.split(",") if x.strip()))
        steps = [("1", lambda: batch_figures(b, p, today, terms)), ("3", lambda: history_figures(b, p)),
                 ("4", lambda: report_figures(b, today)), ("5", lambda: allocation_figure(b, p)),
                 ("6", lambda: page_figures(b, p, args.runs)), ("8", lambda: import_figure(b, p, folder)),
                 ("7", lambda: pdf_figures(b, p))]
        for number, step in steps:
            if number not in skip:
                step()
        b.raw.close()
        engine.dispose()
        if "9" not in skip:
            for f in growth(args, scale, folder, say):
                b.add(f)
        info = machine(open_engine(url) if args.url else engine)
    figures = sorted(b.figures, key=lambda f: f.number)
    elapsed = time.perf_counter() - began
    heading = (f"{'Quick run' if args.quick else 'Run'} of {info['when'][:10]} (commit {info['commit']}) on "
               f"{info['cpu']}, {info['cores']} "
               f"cores, {info['memory']}, Python {info['python']}, {info['database']}; medians of {args.runs} runs; "
               f"the whole run took {elapsed:.0f} s.")
    text = heading + "\n\n" + table(figures)
    say("\n" + text)
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / f"{info['when'].replace(':', '')}-{engine.dialect.name}{'-quick' if args.quick else ''}.json"
    out.write_text(json.dumps({"machine": info, "scale": scale.as_dict(), "runs": args.runs, "seconds": elapsed,
                               "figures": [{**asdict(f), "ratio": f.ratio} for f in figures]}, indent=2))
    say(f"\nWritten to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    if args.readme:
        write_readme(text, engine.dialect.name)
        say("README.md's benchmark table updated.")
    missed = [f for f in figures if not f.met]
    if missed:
        say(f"{len(missed)} target(s) missed.")
    return 1 if missed and args.strict else 0  # a missed target is news; --strict makes it a failure


if __name__ == "__main__":
    sys.exit(main())
