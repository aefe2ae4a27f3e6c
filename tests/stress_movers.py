"""Worker of the deadlock stress test: the executive page's movers table in several threads.

Run by ``tests/unit/test_polars_callbacks.py`` in a subprocess, because the deadlock it guards
against freezes the whole interpreter (GIL included), so no watchdog inside the same process
could report it. Each thread loops, for a bounded time, over what two sessions on the
executive summary do at once: build the movers table
(``app.charts.executive_summary.movers_table``) and convert polars frames to pandas as
``st.dataframe`` does. The parent kills this process if it does not finish in time and fails on
the stall.

Usage: ``python -m tests.stress_movers DB_PATH SECONDS THREADS``; prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import threading
import time

from analytics.kpis import cubes
from analytics.kpis import summary as kpis
from analytics.store.database import Database
from app.charts.executive_summary import movers_table


def main() -> int:
    """Run the threads and print the iterations each completed."""
    db_path, seconds, threads = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    db = Database(db_path, read_only=True)
    try:
        backend = db.backend()
        summary = kpis.compute_executive_summary(backend, cubes.default_filters(backend))
    finally:
        db.close()
    movers = summary.movers
    if movers.height == 0:
        print(json.dumps({"error": "the summary has no movers to format"}))
        return 2
    deadline = time.monotonic() + seconds
    counts = [0] * threads
    errors: list[str] = []

    def work(index: int) -> None:
        try:
            while time.monotonic() < deadline:
                shown = movers_table(movers)
                shown.to_pandas()
                movers.to_pandas()
                counts[index] += 1
        except Exception as exc:  # reported to the parent, which fails the test
            errors.append(f"{type(exc).__name__}: {exc}")

    workers = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    print(json.dumps({"iterations": counts, "rows": movers.height, "errors": errors}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
