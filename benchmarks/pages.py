"""How long each page takes to draw on the demo practice, cold and warm, through Streamlit's AppTest.

    ./desk python benchmarks/pages.py [--runs 5] [--url sqlite:///...]

Cold: a new session after every cache is cleared (a server's first visitor after a write). Warm: the same
session drawing the page again (a manager moving between pages). Also the first page of a new server process
(its imports and engine). AppTest times the script's run; the browser adds the page's transfer and drawing. Each is the median of --runs. The target
(issue 11) is under 1 s warm and 2 s cold; it is measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from core.demo import prepare  # noqa: E402
from tests.support.browser import tour  # noqa: E402

TARGET_WARM, TARGET_COLD = 1.0, 2.0


def measure(path: str, runs: int) -> tuple[float, float, str]:
    """Median cold and warm seconds of one page, and its title (to show the page really was drawn)."""
    cold, warm = [], []
    name, _, query = path.partition("?")
    title = ""
    for _ in range(runs):
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
        at.run()  # the router's first run (imports, the engine): not the page's cost
        at.switch_page(f"pages/{name}.py")
        for pair in filter(None, query.split("&")):
            key, _, value = pair.partition("=")
            at.query_params[key] = value
        st.cache_data.clear()  # cold: every cached read is made again, as after a write
        began = time.perf_counter()
        at.run()
        cold.append(time.perf_counter() - began)
        if at.exception:
            raise SystemExit(f"{path}: {at.exception[0].value}")
        title = at.title[0].value if at.title else ""
        began = time.perf_counter()
        at.run()  # warm: the same session draws the page again
        warm.append(time.perf_counter() - began)
    return statistics.median(cold), statistics.median(warm), title


FIRST_RUN = """
import sys, time
began = time.perf_counter()
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[1], default_timeout=120)
at.run()
print(time.perf_counter() - began)
"""


def first_run(runs: int) -> float:
    """A new server process's first page: importing Streamlit, pandas, plotly and core, opening the engine."""
    import subprocess

    times = [float(subprocess.run([sys.executable, "-c", FIRST_RUN, str(ROOT / "streamlit_app.py")], check=True,
                                  capture_output=True, text=True, cwd=ROOT).stdout.split()[-1]) for _ in range(runs)]
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--url", help="a database holding data (default: a new demo database)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'demo.db'}"
        if not args.url:
            prepare(url, say=lambda _: None)
        os.environ["INVOICE_DESK_DATABASE_URL"] = url
        os.environ.pop("INVOICE_DESK_DEMO", None)
        print(f"{'page':<40} {'cold s':>7} {'warm s':>7}  target: cold < {TARGET_COLD:.0f} s, warm < "
              f"{TARGET_WARM:.0f} s")
        print(f"{'a new server process, first page':<40} {first_run(args.runs):>7.2f}")
        for _, path, _ in tour(url):
            cold, warm, title = measure(path, args.runs)
            met = "met" if cold < TARGET_COLD and warm < TARGET_WARM else "MISSED"
            print(f"{title[:24] + ' (' + path.split('?')[0] + ')':<40} {cold:>7.2f} {warm:>7.2f}  {met}")


if __name__ == "__main__":
    main()
