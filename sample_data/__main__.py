"""``python -m sample_data --customers N --seed S --db PATH [--truth PATH]``: build the sample bank."""

from __future__ import annotations

import argparse
import sys
import time

from sample_data.generate import DEFAULT_TRUTH_PATH, build_sample_database


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, build the database and print progress lines on stderr."""
    from analytics.store.database import resolve_db_path

    parser = argparse.ArgumentParser(prog="python -m sample_data", description=__doc__)
    parser.add_argument("--customers", type=int, default=20_000, help="number of customers (default 20000)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument(
        "--db", help="DuckDB file to write (default: $TAILOR_DB, else sample_data/bank.duckdb)"
    )
    parser.add_argument("--truth", help=f"where to write the planted truths (default {DEFAULT_TRUTH_PATH})")
    args = parser.parse_args(argv)

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    path = resolve_db_path(args.db)
    started = time.perf_counter()
    progress(f"building the sample bank: {args.customers:,} customers, seed {args.seed} -> {path}")
    build_sample_database(
        path, customers=args.customers, seed=args.seed, truth_path=args.truth, progress=progress
    )
    progress(f"done in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
