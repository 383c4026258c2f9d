"""Screenshots of every page in headless Chromium: python scripts/screenshots.py [OUT_DIR | --docs] [--width N]

Starts the app on a fresh demo database on a free loopback port, visits each page with Playwright
driving Debian's chromium, and writes one PNG per page (default /tmp/invoice-desk-screens).
--docs writes the three shown in README.md to docs/ instead. --width 390 looks at a phone's width (whole
pages, named NAME-390.png).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.browser import CHROMIUM_ARGS, chromium, free_port, start_app  # noqa: E402

DOCS = {"dashboard": 1250, "employer": 1150, "batches": 1500}
PAGES = [("dashboard", "", "Statement/Invoice Management Dashboard"),
         ("batches", "batches?batch=115", "Invoice Batch Items"),
         ("employer", "employer?party_id=6&status=All", "Invoice History"),
         ("payments", "payments", "Payments"),
         ("settings", "settings", "Settings"),
         ("audit", "audit", "Audit log")]


def main() -> None:
    from playwright.sync_api import sync_playwright

    args = sys.argv[1:]
    width = 1440
    if "--width" in args:
        at = args.index("--width")
        width = int(args[at + 1])
        del args[at:at + 2]
    docs = args == ["--docs"]
    out = ROOT / "docs" if docs else Path(args[0] if args else "/tmp/invoice-desk-screens")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        app = start_app(Path(tmp) / "demo.db", port)
        try:
            with sync_playwright() as p:
                if not chromium():
                    raise SystemExit("Debian's chromium is not installed (apt-get install chromium)")
                browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1440, "height": 2400})
                for name, path, text in PAGES:
                    if docs and name not in DOCS:
                        continue
                    page.set_viewport_size({"width": width, "height": DOCS[name] if docs else (2400 if width > 800
                                                                                               else 844)})
                    page.goto(f"http://127.0.0.1:{port}/{path}", timeout=120_000)
                    page.get_by_text(text).locator("visible=true").first.wait_for(timeout=120_000)
                    page.wait_for_timeout(3000)
                    target = out / (f"screen-{name}.png" if docs else f"{name}{'' if width == 1440 else f'-{width}'}.png")
                    page.screenshot(path=str(target), full_page=width < 800)
                    print(target)
                browser.close()
        finally:
            app.terminate()
            app.wait(timeout=20)


if __name__ == "__main__":
    main()
