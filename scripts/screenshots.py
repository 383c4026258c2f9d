"""Screenshots of every page in headless Chromium: python scripts/screenshots.py [OUT_DIR | --docs] [--width N]

Starts the app on a fresh demo database on a free loopback port, visits each page with Playwright
driving Debian's chromium, and writes one PNG per page (default /tmp/invoice-desk-screens).
--docs writes the three shown in README.md to docs/ instead. Whole pages, named NAME-WIDTH.png; --width 390
looks at a phone's width. The browser tests take the same screenshots (tests/e2e, INVOICE_DESK_SCREENSHOTS).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.demo import prepare  # noqa: E402
from tests.support.browser import (  # noqa: E402
    CHROMIUM_ARGS,
    chromium,
    free_port,
    open_page,
    shoot_whole,
    start_app,
    tour,
)

DOCS = {"dashboard": 1250, "employer": 1150, "batches": 1500}


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
        url = f"sqlite:///{Path(tmp) / 'demo.db'}"
        prepare(url, say=lambda _: None)  # the demo for today, as ./desk start writes it
        app = start_app(url, port)
        base = f"http://127.0.0.1:{port}"
        try:
            with sync_playwright() as p:
                if not chromium():
                    raise SystemExit("Debian's chromium is not installed (apt-get install chromium)")
                browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1440, "height": 2400})
                for name, path, text in tour(url):
                    if docs and name not in DOCS:
                        continue
                    open_page(page, base, path, text, width)
                    if docs:
                        page.set_viewport_size({"width": width, "height": DOCS[name]})
                        page.wait_for_timeout(1500)
                        target = out / f"screen-{name}.png"
                        page.screenshot(path=str(target))
                    else:
                        target = shoot_whole(page, out / f"{name}-{width}.png", width)
                    print(target)
                browser.close()
        finally:
            app.terminate()
            app.wait(timeout=20)


if __name__ == "__main__":
    main()
