"""Starts `streamlit run` for browser tests, on the test run's clock (INVOICE_DESK_TEST_NOW) when one is set."""

import os
import sys
from datetime import datetime

if __name__ == "__main__":
    frozen = os.environ.get("INVOICE_DESK_TEST_NOW")
    if frozen:
        import time_machine

        time_machine.travel(datetime.fromisoformat(frozen).timestamp(), tick=True).start()
    from streamlit.web.cli import main

    sys.argv = ["streamlit", *sys.argv[1:]]
    sys.exit(main())
