"""How long each page takes to draw on the demo practice, cold and warm, through Streamlit's AppTest.

    ./desk python benchmarks/pages.py [--runs 5] [--url sqlite:///...]

Cold: a new session after every cache is cleared (a server's first visitor after a write). Warm: the same
session drawing the page again (a manager moving between pages). Each is the median of --runs. The target
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


def measure(path: str, runs: int) -> tuple[float, float]:
    cold, warm = [], []
    for _ in range(runs):
        st.cache_data.clear()
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
        name, _, query = path.partition("?")
        for pair in filter(None, query.split("&")):
            key, _, value = pair.partition("=")
            at.query_params[key] = value
        at.run()
        began = time.perf_counter()
        at.switch_page(f"pages/{name}.py").run()
        cold.append(time.perf_counter() - began)
        if at.exception:
            raise SystemExit(f"{path}: {at.exception[0].value}")
        began = time.perf_counter()
        at.run()
        warm.append(time.perf_counter() - began)
    return statistics.median(cold), statistics.median(warm)


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
        print(f"{'page':<12} {'cold s':>8} {'warm s':>8}  target: cold < {TARGET_COLD:.0f} s, warm < {TARGET_WARM:.0f} s")
        for name, path, _ in tour(url):
            cold, warm = measure(path, args.runs)
            met = "met" if cold < TARGET_COLD and warm < TARGET_WARM else "MISSED"
            print(f"{name:<12} {cold:>8.2f} {warm:>8.2f}  {met}")


if __name__ == "__main__":
    main()
