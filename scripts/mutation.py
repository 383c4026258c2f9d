"""Mutation testing of core/ with mutmut 3, one module at a time: `./desk mutate [core/MODULE.py ...]`.

For each module it mutates only that file, runs mutmut with one worker (by default) on the fast subset
(SQLite only; no tests/e2e, no tests/pages; the slow tests listed in SLOW_TESTS only for the module they
belong to), saves the result in mutants/scores/ and prints a table. mutmut picks, for each mutant, the
tests that reached the mutated function in its stats run, so a module's run only pays for its own tests.

This file is also a pytest plugin (`-p scripts.mutation`, set in [tool.mutmut] of pyproject.toml): it does
the deselecting, so a plain `mutmut run` uses the same subset. Mutation testing is not part of CI.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCORES = Path("mutants") / "scores"
ENV_MODULES = "INVOICE_DESK_MUTATE"  # the modules being mutated, comma-separated, for the plugin below

# Money modules first: their target is 90 % (80 % for the rest of core).
MONEY = ["core/invoices.py", "core/receipts.py", "core/allocations.py", "core/payments.py", "core/credit_memos.py", "core/batches.py", "core/history.py",
         "core/accounts.py"]
# Slow tests that only run when the module they exercise is the one being mutated.
SLOW_TESTS = {
    "test_long_invoice_breaks_cleanly_with_headers_and_page_numbers": "core/documents.py",
    "test_batch_pdf_in_parallel_with_progress": "core/documents.py",
    "test_demo_data_is_deterministic_and_demo_sized": "core/demo.py",
    "test_ten_megabytes_of_garbage": "core/imports.py",
    "test_two_hundred_thousand_visits_import_whole_in_bounded_memory": "core/imports.py",
    "test_every_argument_with_every_hostile_value": "core/validation.py",
    "test_the_table_ran_every_case": "core/validation.py",
}
# Whole files of slow tests, likewise (the demo tests load the demo practice, a few seconds each time).
SLOW_FILES = {"tests/test_demo.py": "core/demo.py"}


# ---- pytest plugin -------------------------------------------------------------------------------------

def pytest_configure(config):
    """In a mutation run a failing Hypothesis test stops at its first failing example: shrinking it to the
    simplest one (which can take minutes) only matters to a person reading the failure, not to a verdict."""
    if os.environ.get(ENV_MODULES):
        from hypothesis import Phase, settings

        settings.register_profile("mutation", phases=[Phase.explicit, Phase.reuse, Phase.generate], database=None,
                                  print_blob=False)
        settings.load_profile("mutation")


def _durations() -> dict[str, float]:
    """How long each test took in mutmut's coverage run (mutmut runs the tests from inside mutants/)."""
    for path in (Path("mutmut-stats.json"), Path("mutants") / "mutmut-stats.json"):
        if path.is_file():
            try:
                return json.loads(path.read_text()).get("duration_by_test", {})
            except ValueError:
                return {}
    return {}


def pytest_collection_modifyitems(config, items):
    """The fast subset: no PostgreSQL run (the `postgresql` parameter, or a PostgreSQL fixture), no slow
    test that belongs to a module not being mutated."""
    mutating = set(filter(None, os.environ.get(ENV_MODULES, "").split(",")))
    keep, drop = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        on_postgres = "postgresql" in params.values() or {"pg_cluster", "pg_engine"} & set(item.fixturenames)
        owner = SLOW_TESTS.get(getattr(item, "originalname", item.name)) or SLOW_FILES.get(item.nodeid.split("::")[0])
        slow_elsewhere = owner is not None and mutating and owner not in mutating
        (drop if on_postgres or slow_elsewhere else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    # Fastest first, so a killed mutant is found by its quickest failing test (pytest stops at the first, -x).
    durations = _durations() if mutating else {}
    items[:] = sorted(keep, key=lambda item: durations.get(item.nodeid, 0.0)) if durations else keep


# ---- runner --------------------------------------------------------------------------------------------

def core_modules() -> list[str]:
    found = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "core").glob("*.py") if p.name != "__init__.py")
    return [m for m in MONEY if m in found] + [m for m in found if m not in MONEY]


def _survivor_line(source_lines: list[str], start: int, diff: str) -> tuple[int, str, str]:
    """File line, original and mutated text of a mutant, from mutmut's diff of its function."""
    removed = [ln[1:] for ln in diff.splitlines() if ln.startswith("-") and not ln.startswith("---")]
    added = [ln[1:] for ln in diff.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    hunk = re.search(r"^@@ -(\d+)", diff, re.M)
    body = diff[hunk.end():].splitlines()[1:] if hunk else []
    context = next((i for i, ln in enumerate(body) if ln.startswith("-")), 0)
    guess = start + (int(hunk.group(1)) - 1 if hunk else 0) + context
    old = removed[0] if removed else ""
    # the nearest source line with exactly that text (mutmut diffs the function alone, without its comments)
    candidates = [i + 1 for i, text in enumerate(source_lines) if text.strip() == old.strip() and i + 1 >= start]
    line = min(candidates, key=lambda n: abs(n - guess)) if candidates else guess
    new = (added[0].strip() if len(added) == len(removed) else " ".join(a.strip() for a in added)) if added \
        else "(deleted)"
    return line, old.strip(), new


def _score_path(module: str) -> Path:
    return SCORES / (module.replace("/", "_") + ".json")


def _mutant_names(module: str) -> list[str]:
    """Every mutant of a module, by mutmut's full name (core.batches.x_rebatch__mutmut_3)."""
    from mutmut.mutation.file_mutation import mutate_file_contents

    prefix = module.removesuffix(".py").replace("/", ".")
    return sorted(f"{prefix}.{name}" for name in mutate_file_contents(module, (ROOT / module).read_text()).mutant_names)


def _pick(module: str, names: list[str], fraction: float) -> list[str]:
    """A fixed random share of the names: the same ones every time for the same module and names."""
    import random

    return sorted(random.Random(module).sample(names, max(1, round(len(names) * fraction)))) if names else []


def _child(modules: list[str], max_children: int, recheck: bool = False, sample: float | None = None,
           resume: bool = False) -> int:
    """Run mutmut on modules inside this process (config from pyproject.toml, narrowed to the modules)."""
    import mutmut.__main__ as mm
    from mutmut.configuration import config

    # A shell's background job starts with SIGINT ignored; --minutes needs it to stop mutmut cleanly.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    config().only_mutate = list(modules)
    started = time.monotonic()
    try:
        from mutmut.stats import status_by_exit_code

        names = []
        for module in modules:
            if recheck:  # only the mutants the last run did not kill, against the tests as they are now
                path = _score_path(module)
                names += [s["mutant"] for s in json.loads(path.read_text())["survivors"]] if path.exists() else []
            elif sample and resume:  # a random share of the mutants the interrupted run had not reached
                meta = json.loads((Path("mutants") / (module + ".meta")).read_text())["exit_code_by_key"]
                names += _pick(module, sorted(key for key, code in meta.items() if status_by_exit_code[code] in
                                              ("not checked", "check was interrupted by user")), sample)
            elif sample:
                names += _pick(module, _mutant_names(module), sample)
        if recheck and not names:
            print("nothing to recheck: every mutant was killed", flush=True)
        mm.cli(["run", "--max-children", str(max_children), *names], standalone_mode=False)
    except SystemExit as exc:
        if exc.code:
            return int(exc.code) if isinstance(exc.code, int) else 1
    except KeyboardInterrupt:
        pass  # stopped outside mutmut's own handler: keep what was checked
    for module in modules:
        save_scores(module, time.monotonic() - started, shared=len(modules) > 1, sample=sample)
    return 0


def save_scores(module: str, elapsed: float, shared: bool = False, sample: float | None = None) -> None:
    """Counts and the mutants not killed, from mutmut's verdicts in mutants/, to mutants/scores/."""
    import ast

    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code

    meta = json.loads((Path("mutants") / (module + ".meta")).read_text())
    statuses = {key: status_by_exit_code[code] for key, code in meta["exit_code_by_key"].items()}
    source = (ROOT / module).read_text()
    starts = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            starts.setdefault(node.name, min([node.lineno] + [d.lineno for d in node.decorator_list]))
    lines = source.splitlines()
    survivors = []
    for key, status in sorted(statuses.items()):
        if status in ("killed", "not checked", "check was interrupted by user"):
            continue
        diff = get_diff_for_mutant(key, path=module)
        func = re.sub(r"__mutmut_\d+$", "", key.rsplit(".", 1)[-1]).split("ǁ")[-1].removeprefix("x_")
        line, old, new = _survivor_line(lines, starts.get(func, 1), diff)
        survivors.append({"mutant": key, "status": status, "line": line, "original": old, "mutated": new})
    counts = {s: sum(1 for v in statuses.values() if v == s) for s in set(statuses.values())}
    SCORES.mkdir(parents=True, exist_ok=True)
    _score_path(module).write_text(json.dumps({
        "module": module, "mutants": len(statuses), "counts": counts, "seconds": round(elapsed), "shared": shared, "sample": sample,
        "survivors": sorted(survivors, key=lambda s: s["line"]),
    }, indent=1))


def _save_empty(module: str) -> None:
    SCORES.mkdir(parents=True, exist_ok=True)
    _score_path(module).write_text(json.dumps(
        {"module": module, "mutants": 0, "counts": {}, "seconds": 0, "survivors": []}))


def _fresh_workdir() -> None:
    """mutmut caches per file by mtime; a module mutated in an earlier run must be copied again."""
    work = Path("mutants")
    if not work.exists():
        return
    for entry in work.iterdir():
        if entry.name == "scores":
            continue
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def table(modules: list[str]) -> str:
    rows = ["| module | mutants | checked | killed | survived | no tests | timeout/suspicious | score | time |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    total = {"mutants": 0, "checked": 0, "killed": 0, "survived": 0, "no tests": 0, "other": 0, "seconds": 0}
    shared_runs = []  # a --together run's time is the whole run's: count it once in the total
    for module in modules:
        path = _score_path(module)
        if not path.exists():
            rows.append(f"| {module} | not run | | | | | | | |")
            continue
        r = json.loads(path.read_text())
        c = r["counts"]
        other = c.get("timeout", 0) + c.get("suspicious", 0) + c.get("segfault", 0)
        unchecked = c.get("not checked", 0) + c.get("check was interrupted by user", 0)
        row = {"mutants": r["mutants"], "checked": r["mutants"] - unchecked, "killed": c.get("killed", 0),
               "survived": c.get("survived", 0),
               "no tests": c.get("no tests", 0), "other": other, "seconds": r["seconds"]}
        for k in total:
            if k != "seconds":
                total[k] += row[k]
        if r.get("shared"):  # saved once per module, a second or so apart: the longest counts once
            shared_runs.append(row["seconds"])
        else:
            total["seconds"] += row["seconds"]
        name = f"{module} (sample {r['sample']:.0%})" if r.get("sample") else module
        rows.append(_row(name, row, shared=r.get("shared", False)))
    total["seconds"] += max(shared_runs, default=0)
    rows.append(_row("**all above**", total))
    return "\n".join(rows)


def _row(name: str, r: dict, shared: bool = False) -> str:
    score = f"{100 * r['killed'] / r['checked']:.1f} %" if r["checked"] else "-"
    return (f"| {name} | {r['mutants']} | {r['checked']} | {r['killed']} | {r['survived']} | {r['no tests']} "
            f"| {r['other']} "
            f"| {score} | {r['seconds'] // 60}m{r['seconds'] % 60:02d}s{' (one run for all)' if shared else ''} |")


def survivors(module: str) -> str:
    path = _score_path(module)
    if not path.exists():
        return f"{module}: not run"
    r = json.loads(path.read_text())
    out = [f"{module}: {len(r['survivors'])} not killed"]
    out += [f"  {module}:{s['line']}  [{s['status']}]  {s['original']}  ->  {s['mutated']}   ({s['mutant']})"
            for s in r["survivors"]]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help="core/MODULE.py ... (default: every module of core/)")
    parser.add_argument("--max-children", type=int, default=1, help="mutmut workers (default 1)")
    parser.add_argument("--minutes", type=float, help="stop a module after this long and keep the partial result")
    parser.add_argument("--table", action="store_true", help="only print the saved table, run nothing")
    parser.add_argument("--together", action="store_true",
                        help="one mutmut run for all the modules (one coverage run instead of one per module)")
    parser.add_argument("--recheck", action="store_true",
                        help="run again only the mutants the last run of these modules did not kill (after new tests)")
    parser.add_argument("--resume", action="store_true",
                        help="go on with an interrupted run (keeps every verdict so far; new tests are picked up)")
    parser.add_argument("--sample", type=float, metavar="FRACTION",
                        help="check only this fixed random share of each module's mutants (0.2 = one in five)")
    parser.add_argument("--survivors", action="store_true", help="also list the mutants not killed")
    parser.add_argument("--_child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    if args._child:
        return _child(args._child.split(","), args.max_children, args.recheck, args.sample, args.resume)

    modules = [m.removeprefix("./") for m in args.modules] or core_modules()
    unknown = [m for m in modules if m not in core_modules()]
    if unknown:
        parser.error(f"not a module of core/: {', '.join(unknown)} (choose from {', '.join(core_modules())})")
    failed = []
    if not args.table:
        try:
            import mutmut  # noqa: F401
        except ImportError:
            print("mutmut is not installed: .venv/bin/uv pip install --python .venv/bin/python 'mutmut>=3.8'",
                  file=sys.stderr)
            return 2
        runs = []
        for module in modules:
            if not _mutant_names(module):  # mutmut stops with an error on a file it cannot mutate
                _save_empty(module)
                print(f"   {module} has nothing mutmut mutates (no function bodies)", flush=True)
            elif args.together and runs:
                runs[0].append(module)
            else:
                runs.append([module])
        for run in runs:
            module = ",".join(run)
            print(f"== mutating {module}", flush=True)
            if not (args.recheck or args.resume):
                _fresh_workdir()
            env = dict(os.environ, **{ENV_MODULES: module})
            child = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--_child", module,
                                      *(["--recheck"] if args.recheck else []),
                                      *(["--sample", str(args.sample)] if args.sample else []),
                                      *(["--resume"] if args.resume else []),
                                      "--max-children", str(args.max_children)], env=env)
            try:
                code = child.wait(timeout=args.minutes * 60 if args.minutes else None)
            except subprocess.TimeoutExpired:
                print(f"\n== {args.minutes:g} minutes are up: stopping {module}, keeping what was checked", flush=True)
                child.send_signal(signal.SIGINT)  # mutmut stops its workers and saves every verdict so far
                code = child.wait()
            if code:
                print(f"mutmut failed on {module} (exit {code}); see its message above", file=sys.stderr)
                failed.append(module)
        if failed:
            print(f"mutmut failed on: {', '.join(failed)}", file=sys.stderr)
    print(table(modules))
    if args.survivors or (not args.table and len(modules) <= 3):
        for module in modules:
            print()
            print(survivors(module))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
