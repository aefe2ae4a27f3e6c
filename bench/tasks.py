"""One measurement per fresh process: ``python -m bench.tasks TASK --db PATH ...``.

Each task prints one JSON line with its timings and the process's peak resident set
size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``: interpreter, imports and data
included, so ``rss_after_imports_mb`` is reported beside it). bench.run starts one
process per measurement so that every "cold" figure really starts cold: new
interpreter, new DuckDB connection, nothing cached.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from datetime import date
from pathlib import Path

FLOOR_SQL = (
    "select date_trunc('month', ts) as month, count(distinct customer_id) as active_customers, "
    "sum(case when direction = 'debit' then amount else 0 end) as spend "
    "from transactions group by 1 order by 1"
)
"""The floor: one DuckDB pass over every transaction, monthly active customers and spend."""

WARM_REPEATS = 5


def _peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _filters(args: argparse.Namespace, **slices):
    from analytics.schemas import KpiFilters

    return KpiFilters(date.fromisoformat(args.start), date.fromisoformat(args.end), **slices)


def task_generate(args: argparse.Namespace) -> dict:
    t0 = time.perf_counter()
    from sample_data import build_sample_database

    imported = time.perf_counter()
    rss_imports = _peak_rss_mb()
    build_sample_database(
        Path(args.db), customers=args.customers, seed=args.seed, truth_path=Path(args.truth)
    )
    done = time.perf_counter()
    return {
        "import_seconds": imported - t0,
        "seconds": done - imported,
        "rss_after_imports_mb": rss_imports,
        "peak_rss_mb": _peak_rss_mb(),
    }


def task_summary(args: argparse.Namespace) -> dict:
    t0 = time.perf_counter()
    # Ibis imports its DuckDB backend on the first Database.backend() and its result converter
    # (which imports pandas, about 0.35 s) on the first query: imports, so they are timed with
    # the imports (a Streamlit server has pandas loaded before its first page).
    import ibis.backends.duckdb  # noqa: F401
    import ibis.backends.duckdb.converter  # noqa: F401

    from analytics.db import Database
    from analytics.kpis import compute_executive_summary

    imported = time.perf_counter()
    rss_imports = _peak_rss_mb()
    start = time.perf_counter()
    db = Database(args.db, read_only=True, threads=args.threads)
    summary = compute_executive_summary(db.backend(), _filters(args))
    cold = time.perf_counter() - start
    peak = _peak_rss_mb()
    warm = []
    for _ in range(WARM_REPEATS):
        s = time.perf_counter()
        compute_executive_summary(db.backend(), _filters(args))
        warm.append(time.perf_counter() - s)
    # A filter change the page has not seen: a region and a product slice.
    changed = []
    for region in ("North", "South", "East", "West", "Capital"):
        s = time.perf_counter()
        compute_executive_summary(db.backend(), _filters(args, regions=(region,), products=("credit_card",)))
        changed.append(time.perf_counter() - s)
    # Two products (customer-months holding ANY of them): the on-the-fly path over customer_month.
    two = []
    for products in (
        ("savings", "mortgage"),
        ("credit_card", "personal_loan"),
        ("insurance", "investment_fund"),
    ):
        s = time.perf_counter()
        compute_executive_summary(db.backend(), _filters(args, products=products))
        two.append(time.perf_counter() - s)
    db.close()
    return {
        "import_seconds": imported - t0,
        "seconds": cold,
        "warm_seconds": statistics.median(warm),
        "filter_change_seconds": statistics.median(changed),
        "two_products_seconds": statistics.median(two),
        "customers_matched": summary.customers_matched,
        "rss_after_imports_mb": rss_imports,
        "peak_rss_mb": peak,
    }


def task_pandas(args: argparse.Namespace) -> dict:
    t0 = time.perf_counter()
    from bench import pandas_baseline

    imported = time.perf_counter()
    rss_imports = _peak_rss_mb()
    s = time.perf_counter()
    raw = pandas_baseline.load_raw(args.db)
    loaded = time.perf_counter()
    rss_loaded = _peak_rss_mb()
    baseline = pandas_baseline.compute_summary(raw, _filters(args))
    computed = time.perf_counter()
    peak = _peak_rss_mb()
    out = {
        "import_seconds": imported - t0,
        "load_seconds": loaded - s,
        "seconds": computed - loaded,
        "rss_after_imports_mb": rss_imports,
        "rss_after_load_mb": rss_loaded,
        "peak_rss_mb": peak,
    }
    if args.check:
        # After the measurement: our numbers for the same filters, compared value by value.
        from analytics.db import Database
        from analytics.kpis import compute_executive_summary

        db = Database(args.db, read_only=True, threads=args.threads)
        summary = compute_executive_summary(db.backend(), _filters(args))
        db.close()
        checked, worst, problems = pandas_baseline.compare(summary, baseline, tol=1e-6)
        out |= {"checked_values": checked, "max_relative_difference": worst, "mismatches": problems[:20]}
    return out


def task_floor(args: argparse.Namespace) -> dict:
    t0 = time.perf_counter()
    from analytics.db import Database

    imported = time.perf_counter()
    rss_imports = _peak_rss_mb()
    start = time.perf_counter()
    db = Database(args.db, read_only=True, threads=args.threads)
    months = db.query(FLOOR_SQL)
    cold = time.perf_counter() - start
    peak = _peak_rss_mb()
    warm = []
    for _ in range(WARM_REPEATS):
        s = time.perf_counter()
        db.query(FLOOR_SQL)
        warm.append(time.perf_counter() - s)
    counts = db.query("select count(*) as n from transactions").item()
    db.close()
    return {
        "import_seconds": imported - t0,
        "seconds": cold,
        "warm_seconds": statistics.median(warm),
        "months": months.height,
        "transactions": counts,
        "rss_after_imports_mb": rss_imports,
        "peak_rss_mb": peak,
    }


def task_sizes(args: argparse.Namespace) -> dict:
    from analytics.db import Database

    db = Database(args.db, read_only=True, threads=args.threads)
    names = (
        "customers",
        "holdings",
        "transactions",
        "digital_events",
        "offers",
        "surveys",
        "customer_month",
        "kpi_cube",
        "kpi_cube_product",
    )
    sizes = {name: db.query(f'select count(*) as n from "{name}"').item() for name in names}
    db.close()
    return {"rows": sizes}


def task_page(args: argparse.Namespace) -> dict:
    """Server time of filter changes on the executive page, driven by Streamlit's AppTest.

    The bank is copied first (the app opens its database for writing). The first run fills
    the caches (connection, months, the default filters' summary); then a region is picked
    in the sidebar (a summary not cached yet), then the selection is cleared again (cached).
    """
    import os
    import shutil
    import tempfile

    from streamlit.testing.v1 import AppTest

    from analytics.schemas import User

    main = Path(__file__).resolve().parent.parent / "app" / "main.py"
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "bank.duckdb"
        shutil.copyfile(args.db, copy)
        os.environ["TAILOR_DB"] = str(copy)
        at = AppTest.from_file(str(main), default_timeout=600)
        at.session_state["user"] = User("bench", "executive")
        s = time.perf_counter()
        at.run()
        first = time.perf_counter() - s
        if at.exception:
            return {"seconds": None, "note": f"page raised: {at.exception[0].message}"}
        timings = {}
        for label, regions in (
            ("new_filter", ["North"]),
            ("new_filter_2", ["South", "East"]),
            ("cached", []),
        ):
            s = time.perf_counter()
            at.multiselect(key="filter_regions").set_value(regions).run()
            timings[label] = time.perf_counter() - s
            if at.exception:
                return {"seconds": None, "note": f"page raised: {at.exception[0].message}"}
        tiles = len(at.metric)
    change = statistics.median([timings["new_filter"], timings["new_filter_2"]])
    return {
        "seconds": change,
        "first_run_seconds": first,
        "cached_seconds": timings["cached"],
        "tiles": tiles,
        "note": (
            "AppTest run of app/main.py after a region pick not seen before "
            "(median of 2, summary computed); "
            f"back to a cached selection {timings['cached'] * 1000:.0f} ms; first run {first:.2f} s; "
            f"{tiles} tiles drawn"
        ),
        "peak_rss_mb": _peak_rss_mb(),
    }


def task_clv(args: argparse.Namespace) -> dict:
    """Predictive CLV on the bank: the run ``python -m analytics clv`` makes, without the write.

    The daily spend log query, then the check fit (summary with a 26-week holdout, both
    models, the holdout table) and the final fit (summary to the snapshot, both models,
    every customer's predictions). Phases are timed from the pipeline's progress lines.
    """
    t0 = time.perf_counter()
    from analytics.clv_store import compute_bank_clv
    from analytics.db import Database

    imported = time.perf_counter()
    rss_imports = _peak_rss_mb()
    marks: list[float] = []
    start = time.perf_counter()
    db = Database(args.db, read_only=True, threads=args.threads)
    fits = compute_bank_clv(
        db.backend(),
        as_of=db.snapshot_date(),
        history_start=db.history_start(),
        progress=lambda _line: marks.append(time.perf_counter()),
    )
    done = time.perf_counter()
    db.close()
    # marks: log read starts, check fit starts, final fit starts.
    return {
        "import_seconds": imported - t0,
        "seconds": done - start,
        "log_seconds": marks[1] - marks[0],
        "check_fit_seconds": marks[2] - marks[1],
        "final_fit_seconds": done - marks[2],
        "customers": fits.final.n_customers,
        "rss_after_imports_mb": rss_imports,
        "peak_rss_mb": _peak_rss_mb(),
    }


COHORT_FLOOR_SQL = "select count(*) as n, sum(fee_margin + holding_margin) as margin from customer_month"
"""The cohort matrix's floor: one DuckDB pass over customer_month, the rollup the matrix reads."""


def task_cohort(args: argparse.Namespace) -> dict:
    """The cohort matrix of the KPIs page, cold: new process, new connection, nothing cached."""
    t0 = time.perf_counter()
    import ibis.backends.duckdb  # noqa: F401 - Ibis's lazy imports count as imports (see task_summary)
    import ibis.backends.duckdb.converter  # noqa: F401

    from analytics.db import Database
    from analytics.retention import compute_cohort_matrix

    imported = time.perf_counter()
    start = time.perf_counter()
    db = Database(args.db, read_only=True, threads=args.threads)
    matrix = compute_cohort_matrix(db.backend())
    cold = time.perf_counter() - start
    warm = []
    for _ in range(WARM_REPEATS):
        s = time.perf_counter()
        compute_cohort_matrix(db.backend())
        warm.append(time.perf_counter() - s)
    db.close()
    return {
        "import_seconds": imported - t0,
        "seconds": cold,
        "warm_seconds": statistics.median(warm),
        "cells": matrix.cells.height,
        "peak_rss_mb": _peak_rss_mb(),
    }


def task_cohort_floor(args: argparse.Namespace) -> dict:
    """One raw DuckDB pass over customer_month, cold, then warm."""
    t0 = time.perf_counter()
    # Database.query runs on the thread's Ibis-backed cursor: the same imports as task_cohort.
    import ibis.backends.duckdb  # noqa: F401
    import ibis.backends.duckdb.converter  # noqa: F401

    from analytics.db import Database

    imported = time.perf_counter()
    start = time.perf_counter()
    db = Database(args.db, read_only=True, threads=args.threads)
    rows = db.query(COHORT_FLOOR_SQL).item(0, "n")
    cold = time.perf_counter() - start
    warm = []
    for _ in range(WARM_REPEATS):
        s = time.perf_counter()
        db.query(COHORT_FLOOR_SQL)
        warm.append(time.perf_counter() - s)
    db.close()
    return {
        "import_seconds": imported - t0,
        "seconds": cold,
        "warm_seconds": statistics.median(warm),
        "customer_months": rows,
        "peak_rss_mb": _peak_rss_mb(),
    }


TASKS = {
    "generate": task_generate,
    "summary": task_summary,
    "pandas": task_pandas,
    "floor": task_floor,
    "sizes": task_sizes,
    "page": task_page,
    "clv": task_clv,
    "cohort": task_cohort,
    "cohort_floor": task_cohort_floor,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tasks")
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("--db", required=True)
    parser.add_argument("--truth")
    parser.add_argument("--customers", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--start")
    parser.add_argument("--end")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    result = TASKS[args.task](args)
    sys.stdout.write(json.dumps(result, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
