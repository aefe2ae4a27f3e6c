"""``clv``: predictive CLV (BG/NBD + Gamma-Gamma) of a transaction file, or of the bank (stored).

The CLV modules are imported inside the command: they pull in scipy.optimize, which would slow
``--help`` and every other command (see ``main``).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from analytics.cli.common import CliError, emit, parse_day, progress, run_by
from analytics.store.database import open_database, resolve_db_path


def cmd_clv(args: argparse.Namespace) -> int:
    """Fit BG/NBD + Gamma-Gamma: on a transaction file (--input), else on the bank (stored)."""
    started = time.perf_counter()
    try:
        payload = _clv_file(args) if args.input else _clv_bank(args)
    except ValueError as exc:  # ClvFitError included: the message says what failed
        raise CliError(str(exc)) from exc
    if payload is None:
        return 0
    progress(f"done in {time.perf_counter() - started:.1f} s")
    emit(payload, as_json=args.json, text=lambda: _clv_text(payload))
    return 0


def _clv_payload(params: dict, *, customers: int, repeat: int, warnings, calibration, output) -> dict:
    return {
        **{k: params[k] for k in ("r", "alpha", "a", "b", "p", "q", "gamma")},
        "log_likelihood": {
            "bgnbd": params["bgnbd_log_likelihood"],
            "gamma_gamma": params["gamma_gamma_log_likelihood"],
        },
        "customers": customers,
        "repeat_customers": repeat,
        "warnings": list(warnings),
        "calibration_holdout": calibration,
        "output": output,
    }


def _clv_file(args: argparse.Namespace) -> dict:
    from analytics.clv import predictive as clv  # scipy.optimize: see the docstring
    from analytics.clv import store as clv_store
    from analytics.clv.transactions import summarize_transactions

    missing = [
        f
        for f, v in (
            ("--customer-col", args.customer_col),
            ("--date-col", args.date_col),
            ("--value-col", args.value_col),
            ("--calibration-end", args.calibration_end),
        )
        if not v
    ]
    if missing:
        raise CliError(f"With --input, give {', '.join(missing)}.")
    progress(f"reading {args.input}")
    log = clv_store.read_transaction_file(args.input, id_columns=(args.customer_col,))
    summary = summarize_transactions(
        log,
        customer_col=args.customer_col,
        date_col=args.date_col,
        value_col=args.value_col,
        calibration_end=parse_day(args.calibration_end, "--calibration-end"),
        holdout_end=parse_day(args.holdout_end, "--holdout-end"),
        period=args.period,
        as_of=parse_day(args.as_of, "--as-of"),
    )
    progress(f"fitting BG/NBD and Gamma-Gamma on {summary.frame.height:,} customers")
    result = clv.fit_clv(summary, horizon_periods=args.horizon, discount_rate=args.discount_rate)
    source = Path(args.input)
    output = Path(args.output) if args.output else source.with_name(f"{source.stem}_clv.csv")
    clv_store.write_predictions(result.customers, output)
    progress(f"per-customer predictions written to {output}")
    params = dataclasses.asdict(result.params) | {
        "bgnbd_log_likelihood": result.bgnbd_log_likelihood,
        "gamma_gamma_log_likelihood": result.gamma_gamma_log_likelihood,
    }
    return _clv_payload(
        params,
        customers=result.n_customers,
        repeat=result.n_repeat_customers,
        warnings=result.warnings,
        calibration=result.calibration_holdout,
        output=str(output),
    )


def _clv_bank(args: argparse.Namespace) -> dict | None:
    from analytics.clv import store as clv_store  # scipy.optimize: see the docstring

    db = open_database(args.db)
    try:
        if args.if_missing:
            stored = clv_store.load_stored_clv(db.backend())
            if stored is not None and stored.data_as_of == db.snapshot_date():
                progress(f"a CLV fit of {stored.fitted_at:%Y-%m-%d %H:%M} is stored; nothing to do")
                return None
        progress(f"fitting predictive CLV on the bank at {db.path}")
        fit = clv_store.fit_bank_clv(
            db,
            period=args.period,
            holdout_days=args.holdout_days,
            horizon_periods=args.horizon,
            discount_rate=args.discount_rate,
            fitted_by=run_by(),
            progress=progress,
        )
    finally:
        db.close()
    return _clv_payload(
        fit.parameters,
        customers=fit.customers,
        repeat=fit.repeat_customers,
        warnings=fit.warnings,
        calibration=fit.calibration,
        output=f"{args.db or resolve_db_path()}: clv_predictions (fit {fit.fit_id})",
    )


def _clv_text(payload: dict) -> str:
    lines = [
        "BG/NBD      r = {r:.4f}  alpha = {alpha:.4f}  a = {a:.4f}  b = {b:.4f}".format(**payload),
        "Gamma-Gamma p = {p:.4f}  q = {q:.4f}  gamma = {gamma:.4f}".format(**payload),
        f"log-likelihood: BG/NBD {payload['log_likelihood']['bgnbd']:.2f},"
        f" Gamma-Gamma {payload['log_likelihood']['gamma_gamma']:.2f}",
        f"customers {payload['customers']:,} ({payload['repeat_customers']:,} with a repeat purchase)",
        f"per-customer predictions: {payload['output']}",
        *(f"note: {w}" for w in payload["warnings"]),
    ]
    return "\n".join(lines)


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``clv`` to the command parser."""
    clv_cmd = sub.add_parser(
        "clv",
        parents=[common],
        help="predictive CLV (BG/NBD + Gamma-Gamma) of a transaction file, or of the bank (stored)",
    )
    clv_cmd.add_argument("--input", help="CSV or Parquet transaction log (one row per transaction)")
    clv_cmd.add_argument("--customer-col", help="customer id column of --input")
    clv_cmd.add_argument("--date-col", help="date column of --input")
    clv_cmd.add_argument("--value-col", help="value column of --input")
    clv_cmd.add_argument("--calibration-end", help="last day of the calibration window, YYYY-MM-DD")
    clv_cmd.add_argument("--holdout-end", help="last day of the holdout window, YYYY-MM-DD (optional)")
    clv_cmd.add_argument(
        "--as-of", help="the day the file was taken (default today); later dates are refused"
    )
    clv_cmd.add_argument("--output", help="per-customer file, .csv or .parquet (default INPUT_clv.csv)")
    clv_cmd.add_argument("--period", choices=["day", "week", "month"], default="week", help="time unit")
    clv_cmd.add_argument("--horizon", type=float, help="CLV horizon in periods (default one year)")
    clv_cmd.add_argument(
        "--discount-rate", type=float, default=0.10, help="annual discount rate (default 0.10)"
    )
    clv_cmd.add_argument(
        "--holdout-days", type=int, default=182, help="bank: holdout of the check fit (default 182)"
    )
    clv_cmd.add_argument(
        "--if-missing", action="store_true", help="bank: do nothing if a fit of this data exists"
    )
    clv_cmd.set_defaults(func=cmd_clv)
