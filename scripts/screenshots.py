"""Screenshots of every page in headless Chromium: python scripts/screenshots.py [OUT_DIR | --docs]

Starts the app on a fresh demo database on a free loopback port, visits each page with Playwright
driving Debian's chromium, and writes one PNG per page (default /tmp/invoice-desk-screens).
--docs writes the three shown in README.md to docs/ instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]
DOCS = {"dashboard": 1250, "employer": 1150, "batches": 1500}
PAGES = [("dashboard", "dashboard", "Statement/Invoice Management Dashboard"),
         ("batches", "batches?batch=115", "Invoice Batch Items"),
         ("employer", "employer?party_id=6&status=All", "Invoice History"),
         ("payments", "payments", "Payments"),
         ("settings", "settings", "Settings"),
         ("audit", "audit", "Audit log")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise SystemExit("Debian's chromium is not installed (apt-get install chromium)")
    return path


def start_app(database: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "INVOICE_DESK_DATABASE_URL": f"sqlite:///{database}", "INVOICE_DESK_DEMO": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app.py"),
                             "--server.headless=true", f"--server.port={port}", "--server.address=127.0.0.1",
                             "--browser.gatherUsageStats=false"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(120):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
            return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("the app did not start")


def main() -> None:
    from playwright.sync_api import sync_playwright

    docs = sys.argv[1:] == ["--docs"]
    out = ROOT / "docs" if docs else Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/invoice-desk-screens")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        app = start_app(Path(tmp) / "demo.db", port)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1440, "height": 2400})
                for name, path, text in PAGES:
                    if docs and name not in DOCS:
                        continue
                    page.set_viewport_size({"width": 1440, "height": DOCS[name] if docs else 2400})
                    page.goto(f"http://127.0.0.1:{port}/{path}", timeout=120_000)
                    page.get_by_text(text).first.wait_for(timeout=120_000)
                    page.wait_for_timeout(3000)
                    target = out / (f"screen-{name}.png" if docs else f"{name}.png")
                    page.screenshot(path=str(target))
                    print(target)
                browser.close()
        finally:
            app.terminate()
            app.wait(timeout=20)


if __name__ == "__main__":
    main()
