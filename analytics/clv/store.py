"""Predictive CLV on the bank's own transactions: fitted in batch, stored, read by the page.

The models (:mod:`analytics.clv.predictive`) are fitted by ``python -m analytics clv`` (``make run``
does it once after building the sample bank), never while a user waits: the KPIs page
reads the newest stored fit. One run makes two fits on the bank's debit spend
(:func:`analytics.clv.transactions.bank_transaction_log`):

1. the **check fit**, calibrated up to ``holdout_days`` before the snapshot, whose
   predictions for the holdout are compared with what the customers then did
   (:func:`analytics.clv.predictive.calibration_holdout_table`): the evidence that the model predicts;
2. the **final fit**, calibrated on everything up to the snapshot, which gives every
   customer's probability of being alive, expected transactions, expected spend per
   transaction and CLV over the horizon (stored in ``clv_predictions``).

Both fits use only the customers who consented to profiling (their latest choice): a CLV
prediction is a profile of one person, and the fitted population is the one predicted for. The
stored predictions therefore name no one else, and :func:`load_clv_predictions` leaves out a
customer who withdrew after the fit (docs/privacy.md).

Customers who joined before the history starts have their first purchase *in the data* at
the history's start, not their true first purchase; the models treat them as customers
first seen then (docs/clv.md).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import ibis
import numpy as np
import polars as pl
from ibis.common.exceptions import TableNotFound

from analytics.access.consent import keep_profiling_consented, profiling_consented
from analytics.clv.predictive import DEFAULT_DISCOUNT_RATE, ClvResult, fit_clv
from analytics.clv.transactions import Period, bank_transaction_log, summarize_transactions
from analytics.common.docs import shared_docs
from analytics.common.exports import write_safe_csv
from analytics.store.contracts import CLV_FITS, CLV_PREDICTIONS
from analytics.store.database import Database

DEFAULT_PERIOD: Period = "week"
DEFAULT_HOLDOUT_DAYS = 182
"""The check fit's holdout: the last 26 weeks before the snapshot."""

MSG_NO_FILE = "Cannot read {path}: no such file."
MSG_BAD_FILE_TYPE = "Cannot read {path}: use a .csv or .parquet file."
MSG_UNREADABLE = "Cannot read {path}: {reason}"
MSG_BAD_HOLDOUT = "The holdout must be between 7 and 730 days, got {days}."
MSG_TOO_LITTLE_HISTORY = (
    "The data covers {days} days up to {as_of}: too little for a {holdout}-day holdout."
    " Use a shorter holdout."
)


@dataclass(frozen=True)
class StoredClvFit:
    """The newest stored CLV fit on the bank, as the page shows it.

    Parameters
    ----------
    fit_id : str
        Identifier (``clv_predictions.fit_id``).
    fitted_at : datetime.datetime
        When it was stored (UTC).
    fitted_by : str
        Who or what ran it.
    data_as_of : datetime.date
        Snapshot date of the data it was fitted on.
    period : {"day", "week", "month"}
        Time unit of the models.
    calibration_end, holdout_end : datetime.date
        End of the final fit's data; end of the check fit's holdout (the check fit's
        calibration ends ``holdout_end - holdout length``, see ``calibration``).
    check_calibration_end : datetime.date
        Last day of the check fit's calibration window.
    horizon_periods : float
        CLV horizon in periods.
    discount_rate : float
        Annual discount rate.
    parameters, check_parameters : dict
        r, alpha, a, b, p, q, gamma and the two log-likelihoods of the final and check fits.
    customers, repeat_customers : int
        Customers in the final fit (all with profiling consent), and those with a repeat purchase.
    calibration : polars.DataFrame
        Predicted against actual holdout transactions by frequency bucket (check fit).
    warnings : tuple of str
        The final fit's warnings.
    """

    fit_id: str
    fitted_at: datetime
    fitted_by: str
    data_as_of: date
    period: str
    calibration_end: date
    holdout_end: date
    check_calibration_end: date
    horizon_periods: float
    discount_rate: float
    parameters: dict
    check_parameters: dict
    customers: int
    repeat_customers: int
    calibration: pl.DataFrame
    warnings: tuple[str, ...]


def _parameters(result: ClvResult) -> dict:
    return asdict(result.params) | {
        "bgnbd_log_likelihood": result.bgnbd_log_likelihood,
        "gamma_gamma_log_likelihood": result.gamma_gamma_log_likelihood,
    }


@dataclass(frozen=True)
class BankClvFits:
    """The two fits of one run on the bank (see the module docstring).

    Parameters
    ----------
    check, final : analytics.clv.predictive.ClvResult
        The fit that ends before the holdout (with the holdout table) and the fit on all data.
    check_end, as_of : datetime.date
        End of the check fit's calibration; the snapshot date (end of everything).
    """

    check: ClvResult
    final: ClvResult
    check_end: date
    as_of: date


def compute_bank_clv(
    backend: ibis.BaseBackend,
    *,
    as_of: date,
    history_start: date,
    period: Period = DEFAULT_PERIOD,
    holdout_days: int = DEFAULT_HOLDOUT_DAYS,
    horizon_periods: float | None = None,
    discount_rate: float = DEFAULT_DISCOUNT_RATE,
    progress: Callable[[str], None] | None = None,
) -> BankClvFits:
    """Fit the check and final BG/NBD + Gamma-Gamma models on consenting customers' spend (nothing stored).

    Customers without profiling consent are left out of both fits (docs/privacy.md).

    Parameters
    ----------
    backend : ibis.BaseBackend
        Backend over the bank.
    as_of, history_start : datetime.date
        The data's snapshot date and first day (``Database.snapshot_date()``,
        ``Database.history_start()``).
    period : {"day", "week", "month"}
        Time unit of the models.
    holdout_days : int
        Length of the check fit's holdout, ending on the snapshot date.
    horizon_periods : float, optional
        CLV horizon in periods (default one year).
    discount_rate : float
        Annual discount rate of the CLV.
    progress : callable, optional
        Called with one line per step.

    Returns
    -------
    BankClvFits
        Both fits.

    Raises
    ------
    analytics.clv.fitting.ClvFitError
        When a model cannot be fitted (the message says why).
    ValueError
        For a holdout out of range or longer than the data allows.
    """
    say = progress or (lambda _line: None)
    if not 7 <= holdout_days <= 730:
        raise ValueError(MSG_BAD_HOLDOUT.format(days=holdout_days))
    if (as_of - history_start).days < 2 * holdout_days:
        raise ValueError(
            MSG_TOO_LITTLE_HISTORY.format(
                days=(as_of - history_start).days, as_of=as_of, holdout=holdout_days
            )
        )
    say("reading the debit transactions of customers with profiling consent (one row per customer and day)")
    log = keep_profiling_consented(bank_transaction_log(backend, end=as_of), backend)
    columns = {"customer_col": "customer_id", "date_col": "date", "value_col": "value"}
    check_end = as_of - timedelta(days=holdout_days)
    say(f"check fit: calibration to {check_end}, holdout to {as_of}")
    check_summary = summarize_transactions(
        log, **columns, calibration_end=check_end, holdout_end=as_of, period=period, as_of=as_of
    )
    check = fit_clv(check_summary, horizon_periods=horizon_periods, discount_rate=discount_rate)
    say(f"final fit: calibration to {as_of} ({check.n_customers:,} customers in the check fit)")
    final_summary = summarize_transactions(log, **columns, calibration_end=as_of, period=period, as_of=as_of)
    final = fit_clv(final_summary, horizon_periods=horizon_periods, discount_rate=discount_rate)
    return BankClvFits(check=check, final=final, check_end=check_end, as_of=as_of)


def fit_bank_clv(
    db: Database,
    *,
    period: Period = DEFAULT_PERIOD,
    holdout_days: int = DEFAULT_HOLDOUT_DAYS,
    horizon_periods: float | None = None,
    discount_rate: float = DEFAULT_DISCOUNT_RATE,
    fitted_by: str = "batch",
    progress: Callable[[str], None] | None = None,
) -> StoredClvFit | None:
    """Fit the bank's CLV models (:func:`compute_bank_clv`) and store them.

    Parameters
    ----------
    db : Database
        The bank, opened read-write (the fit is stored in ``clv_fits`` and
        ``clv_predictions``, replacing the previous predictions).
    period, holdout_days, horizon_periods, discount_rate, progress
        As :func:`compute_bank_clv`.
    fitted_by : str
        Recorded with the fit (the user name, or "batch").

    Returns
    -------
    StoredClvFit
        The stored fit (as read back from the database).

    Raises
    ------
    analytics.clv.fitting.ClvFitError
        When a model cannot be fitted (the message says why).
    ValueError
        For a holdout out of range or longer than the data allows.
    """
    say = progress or (lambda _line: None)
    fits = compute_bank_clv(
        db.backend(),
        as_of=db.snapshot_date(),
        history_start=db.history_start(),
        period=period,
        holdout_days=holdout_days,
        horizon_periods=horizon_periods,
        discount_rate=discount_rate,
        progress=say,
    )
    check, final, check_end, as_of = fits.check, fits.final, fits.check_end, fits.as_of
    fit_id = uuid.uuid4().hex[:12]
    fitted_at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    calibration = check.calibration_holdout
    record = pl.DataFrame(
        {
            "fit_id": [fit_id],
            "fitted_at": [fitted_at],
            "fitted_by": [fitted_by],
            "data_as_of": [as_of],
            "period": [period],
            "calibration_end": [as_of],
            "holdout_end": [as_of],
            "horizon_periods": [final.horizon_periods],
            "discount_rate": [final.discount_rate],
            "parameters": [json.dumps(_parameters(final))],
            "check_parameters": [json.dumps(_parameters(check) | {"calibration_end": check_end.isoformat()})],
            "customers": [final.n_customers],
            "repeat_customers": [final.n_repeat_customers],
            "calibration": [json.dumps(calibration.to_dicts() if calibration is not None else [])],
            "warnings": [json.dumps(list(final.warnings))],
        },
        schema=CLV_FITS.schema,
    )
    predictions = final.customers.select(
        pl.lit(fit_id).alias("fit_id"),
        pl.col("customer_id").cast(pl.Int64),
        *(pl.col(c).cast(pl.Float64) for c in CLV_PREDICTIONS.schema.names()[2:]),
    )
    say(f"storing {predictions.height:,} customers' predictions")
    db.store_model_output(append={CLV_FITS.name: record}, replace={CLV_PREDICTIONS.name: predictions})
    return load_stored_clv(db.backend())


@shared_docs
def load_stored_clv(backend: ibis.BaseBackend) -> StoredClvFit | None:
    """The newest stored fit, or None when none was stored (or the table does not exist yet).

    Parameters
    ----------
    {backend}

    Returns
    -------
    StoredClvFit or None
        The fit without its per-customer rows (see :func:`load_clv_predictions`).
    """
    try:
        fits = backend.table(CLV_FITS.name)
    except TableNotFound:
        # A database from before this table existed, opened read-only: nothing fitted yet.
        return None
    rows = fits.order_by(ibis.desc("fitted_at")).limit(1).to_polars()
    if rows.height == 0:
        return None
    row = rows.row(0, named=True)
    check = json.loads(row["check_parameters"])
    return StoredClvFit(
        fit_id=row["fit_id"],
        fitted_at=row["fitted_at"],
        fitted_by=row["fitted_by"],
        data_as_of=row["data_as_of"],
        period=row["period"],
        calibration_end=row["calibration_end"],
        holdout_end=row["holdout_end"],
        check_calibration_end=date.fromisoformat(check.pop("calibration_end")),
        horizon_periods=row["horizon_periods"],
        discount_rate=row["discount_rate"],
        parameters=json.loads(row["parameters"]),
        check_parameters=check,
        customers=row["customers"],
        repeat_customers=row["repeat_customers"],
        calibration=pl.DataFrame(json.loads(row["calibration"])),
        warnings=tuple(json.loads(row["warnings"])),
    )


@shared_docs
def load_clv_predictions(backend: ibis.BaseBackend, fit_id: str) -> pl.DataFrame:
    """Per-customer predictions of a stored fit, of the customers who consent to profiling now.

    Parameters
    ----------
    {backend}
    fit_id : str
        The stored fit.

    Returns
    -------
    polars.DataFrame
        ``clv_predictions`` columns by customer; a customer who withdrew profiling consent
        after the fit is left out.
    """
    table = backend.table(CLV_PREDICTIONS.name)
    mine = table.filter(table.fit_id == fit_id).semi_join(profiling_consented(backend), "customer_id")
    return mine.order_by("customer_id").to_polars()


def summarize_predictions(predictions: pl.DataFrame, *, bins: int = 20) -> dict[str, pl.DataFrame]:
    """Histograms and value deciles of the per-customer predictions, for charts.

    Parameters
    ----------
    predictions : polars.DataFrame
        From :func:`load_clv_predictions` (``probability_alive``, ``clv`` and
        ``expected_transactions`` needed).
    bins : int
        Bins of each histogram.

    Returns
    -------
    dict of str to polars.DataFrame
        ``probability_alive`` and ``clv``: ``bin_start, bin_end, customers`` (the CLV
        histogram stops at the 99th percentile; the last bin holds everything above);
        ``deciles``: customers ranked by CLV in ten equal groups (10 = highest) with
        ``customers, mean_clv, share_of_clv, mean_probability_alive, mean_expected_transactions``.
    """
    alive = predictions.get_column("probability_alive").to_numpy()
    value = predictions.get_column("clv").to_numpy()
    out = {"probability_alive": _histogram(alive, np.linspace(0.0, 1.0, bins + 1))}
    top = float(np.quantile(value, 0.99)) if value.size else 1.0
    edges = np.linspace(0.0, max(top, 1e-9), bins + 1)
    out["clv"] = _histogram(np.minimum(value, top), edges)
    total = float(value.sum()) or 1.0
    ranked = predictions.with_columns(
        decile=(pl.col("clv").rank("ordinal") * 10 / (pl.len() + 1)).floor().cast(pl.Int64) + 1
    )
    out["deciles"] = (
        ranked.group_by("decile")
        .agg(
            customers=pl.len(),
            mean_clv=pl.col("clv").mean(),
            share_of_clv=pl.col("clv").sum() / total,
            mean_probability_alive=pl.col("probability_alive").mean(),
            mean_expected_transactions=pl.col("expected_transactions").mean(),
        )
        .sort("decile")
    )
    return out


def _histogram(values: np.ndarray, edges: np.ndarray) -> pl.DataFrame:
    counts, _ = np.histogram(values, bins=edges)
    return pl.DataFrame({"bin_start": edges[:-1], "bin_end": edges[1:], "customers": counts.astype(np.int64)})


def read_transaction_file(path: str | Path, *, id_columns: tuple[str, ...] = ()) -> pl.LazyFrame:
    """Open a CSV or Parquet transaction log lazily, with a clear error naming the file.

    Parameters
    ----------
    path : str or pathlib.Path
        The file.
    id_columns : tuple of str
        CSV columns read as text whatever they look like, so that an identifier such as
        ``00042`` keeps its leading zeros.

    Returns
    -------
    polars.LazyFrame
        Its rows (CSV read with inferred types over the whole file, so a column's
        type does not depend on its first rows).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(MSG_NO_FILE.format(path=path))
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            header = pl.scan_csv(path, n_rows=0).collect_schema().names()
            overrides = {c: pl.String for c in id_columns if c in header}
            frame = pl.scan_csv(path, infer_schema_length=None, schema_overrides=overrides)
        elif suffix == ".parquet":
            frame = pl.scan_parquet(path)
        else:
            raise ValueError(MSG_BAD_FILE_TYPE.format(path=path))
        frame.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(MSG_UNREADABLE.format(path=path, reason=reason)) from exc
    return frame


def write_predictions(frame: pl.DataFrame, path: str | Path) -> Path:
    """Write per-customer predictions as Parquet or as formula-guarded CSV (by the file's extension)."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        frame.write_parquet(path)
    else:
        write_safe_csv(frame, path)
    return path
