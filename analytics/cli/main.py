"""``python -m analytics``: the computations of the pages, for batch jobs and checks.

Every command accepts ``--db PATH`` (default: ``TAILOR_DB``, else
sample_data/bank.duckdb) and prints JSON with ``--json``. Progress lines go to
standard error so that standard output stays machine-readable. Exit codes: 0
success, 1 refused (bad input, missing database), 2 usage error.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from analytics.common.formatting import format_change, format_interval, format_value
from analytics.common.types import AGE_BANDS, PRODUCT_IDS, REGIONS, ROLES, KpiFilters
from analytics.store.database import DatabaseError, DataValidationError, open_database, resolve_db_path

MSG_BAD_MONTH = "{flag} must be a month as YYYY-MM (got {value!r})."
MSG_BAD_CUSTOMERS = "--customers must be between {low:,} and {high:,} (got {value:,})."
MAX_SAMPLE_CUSTOMERS = 1_000_000
MIN_SAMPLE_CUSTOMERS = 100
MSG_OUTSIDE_DATA = "--start/--end must lie within the full months of data: {first:%Y-%m} to {last:%Y-%m}."
MSG_NO_PASSWORD = "No password given: type it at the prompt or pipe it with --password-stdin."


class CliError(Exception):
    """A refusal with a message for the person at the terminal."""


def _positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return value


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, pl.DataFrame):
        return [_to_jsonable(row) for row in value.to_dicts()]
    if isinstance(value, dict):
        return {str(k): _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, float) and value != value:  # NaN never reaches the output
        return None
    return value


def _emit(payload: Any, *, as_json: bool, text: Callable[[], str]) -> None:
    if as_json:
        print(json.dumps(_to_jsonable(payload), indent=2, sort_keys=False))
    else:
        print(text())


def _parse_month(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        parsed = datetime.strptime(value, "%Y-%m")
    except ValueError as exc:
        raise CliError(MSG_BAD_MONTH.format(flag=flag, value=value)) from exc
    return date(parsed.year, parsed.month, 1)


# -- sample-data ------------------------------------------------------------------------
def cmd_sample_data(args: argparse.Namespace) -> int:
    """Build the sample bank (all or nothing) at --db."""
    from sample_data import build_sample_database

    path = resolve_db_path(args.db)
    if not MIN_SAMPLE_CUSTOMERS <= args.customers <= MAX_SAMPLE_CUSTOMERS:
        raise CliError(
            MSG_BAD_CUSTOMERS.format(
                low=MIN_SAMPLE_CUSTOMERS, high=MAX_SAMPLE_CUSTOMERS, value=args.customers
            )
        )
    if args.if_missing and path.exists():
        _progress(f"sample database present at {path}; nothing to do")
        return 0
    started = time.perf_counter()
    _progress(f"building the sample bank: {args.customers:,} customers, seed {args.seed} -> {path}")
    truth = build_sample_database(
        path, customers=args.customers, seed=args.seed, truth_path=args.truth, progress=_progress
    )
    seconds = time.perf_counter() - started
    summary = {"db": str(path), "customers": args.customers, "seed": args.seed, "seconds": round(seconds, 1)}
    _progress(f"done in {seconds:.1f} s")
    if args.json:
        _emit(summary | {"truth_keys": sorted(truth)}, as_json=True, text=str)
    return 0


# -- users ------------------------------------------------------------------------------
def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != password:
            raise CliError("The two passwords differ.")
    else:
        password = ""
    if not password:
        raise CliError(MSG_NO_PASSWORD)
    return password


def cmd_users(args: argparse.Namespace) -> int:
    """Manage the local user store: add, remove, list, unlock, demo."""
    from analytics.access import auth

    db = open_database(args.db)
    try:
        if args.action == "add":
            user = auth.add_user(db, args.username, _read_password(args), args.role, replace=args.replace)
            _emit(user, as_json=args.json, text=lambda: f"added {user.username} ({user.role})")
        elif args.action == "remove":
            auth.remove_user(db, args.username)
            _emit({"removed": args.username}, as_json=args.json, text=lambda: f"removed {args.username}")
        elif args.action == "unlock":
            auth.unlock_user(db, args.username)
            _emit({"unlocked": args.username}, as_json=args.json, text=lambda: f"unlocked {args.username}")
        elif args.action == "list":
            users = auth.list_users(db)
            _emit(users, as_json=args.json, text=lambda: str(users))
        elif args.action == "demo":
            created = auth.create_demo_users(db)
            _emit(created, as_json=args.json, text=lambda: _demo_text(created))
    except auth.UserError as exc:
        raise CliError(str(exc)) from exc
    finally:
        db.close()
    return 0


def _demo_text(created: Sequence[Any]) -> str:
    if not created:
        return "Users exist already; no demo users created."
    lines = [
        "Demo users created. Their passwords are shown this once and stored only as hashes:",
        *(f"  {u.role:<20} user {u.username:<28} password {u.password}" for u in created),
        "Reset one with: python -m analytics users add NAME --role ROLE --replace",
    ]
    return "\n".join(lines)


# -- kpis -------------------------------------------------------------------------------
def _period_filters(backend: Any, args: argparse.Namespace) -> KpiFilters:
    """The period and slices of --start/--end/--region/--age-band/--product, checked against the data."""
    from analytics.kpis import cubes

    months = cubes.available_months(backend)
    default = cubes.default_filters(backend)
    start = _parse_month(args.start, "--start") or default.start_month
    end = _parse_month(args.end, "--end") or default.end_month
    last_full = cubes.default_filters(backend, months=1).end_month
    if months and (start < months[0] or end > last_full):
        # A period partly outside the data would count empty months as real ones.
        raise CliError(MSG_OUTSIDE_DATA.format(first=months[0], last=last_full))
    if start > end:
        raise CliError(f"--start ({start:%Y-%m}) is after --end ({end:%Y-%m}).")
    return KpiFilters(
        start_month=start,
        end_month=end,
        regions=tuple(args.region or ()),
        age_bands=tuple(args.age_band or ()),
        products=tuple(args.product or ()),
    )


def cmd_kpis(args: argparse.Namespace) -> int:
    """Print the executive KPIs (the numbers on the executive summary page)."""
    from analytics.kpis import summary as kpis

    db = open_database(args.db, read_only=True)
    try:
        backend = db.backend()
        summary = kpis.compute_executive_summary(backend, _period_filters(backend, args))
    finally:
        db.close()
    _emit(summary, as_json=args.json, text=lambda: _kpi_text(summary))
    return 0


# -- nps --------------------------------------------------------------------------------
def cmd_nps(args: argparse.Namespace) -> int:
    """Print the NPS drill-down (the NPS section of the KPIs page)."""
    from analytics.kpis import engagement, nps

    db = open_database(args.db, read_only=True)
    try:
        backend = db.backend()
        filters = _period_filters(backend, args)
        segments = engagement.rfm_segments(engagement.compute_rfm(backend, filters))
        drill = nps.compute_nps_drilldown(backend, filters, dimensions=nps.NPS_DIMENSIONS, segments=segments)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    finally:
        db.close()
    _emit(drill, as_json=args.json, text=lambda: _nps_text(drill))
    return 0


# -- clv --------------------------------------------------------------------------------
def _parse_day(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CliError(f"{flag} must be a date as YYYY-MM-DD (got {value!r}).") from exc


def cmd_clv(args: argparse.Namespace) -> int:
    """Fit BG/NBD + Gamma-Gamma: on a transaction file (--input), else on the bank (stored)."""
    from analytics.clv import predictive as clv
    from analytics.clv import store as clv_store

    started = time.perf_counter()
    try:
        if args.input:
            payload = _clv_file(args, clv, clv_store)
        else:
            payload = _clv_bank(args, clv_store)
    except ValueError as exc:  # ClvFitError included: the message says what failed
        raise CliError(str(exc)) from exc
    if payload is None:
        return 0
    _progress(f"done in {time.perf_counter() - started:.1f} s")
    _emit(payload, as_json=args.json, text=lambda: _clv_text(payload))
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


def _clv_file(args: argparse.Namespace, clv: Any, clv_store: Any) -> dict:
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
    _progress(f"reading {args.input}")
    log = clv_store.read_transaction_file(args.input, id_columns=(args.customer_col,))
    summary = clv.summarize_transactions(
        log,
        customer_col=args.customer_col,
        date_col=args.date_col,
        value_col=args.value_col,
        calibration_end=_parse_day(args.calibration_end, "--calibration-end"),
        holdout_end=_parse_day(args.holdout_end, "--holdout-end"),
        period=args.period,
        as_of=_parse_day(args.as_of, "--as-of"),
    )
    _progress(f"fitting BG/NBD and Gamma-Gamma on {summary.frame.height:,} customers")
    result = clv.fit_clv(summary, horizon_periods=args.horizon, discount_rate=args.discount_rate)
    source = Path(args.input)
    output = Path(args.output) if args.output else source.with_name(f"{source.stem}_clv.csv")
    clv_store.write_predictions(result.customers, output)
    _progress(f"per-customer predictions written to {output}")
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


def _clv_bank(args: argparse.Namespace, clv_store: Any) -> dict | None:
    db = open_database(args.db)
    try:
        if args.if_missing:
            stored = clv_store.load_stored_clv(db.backend())
            if stored is not None and stored.data_as_of == db.snapshot_date():
                _progress(f"a CLV fit of {stored.fitted_at:%Y-%m-%d %H:%M} is stored; nothing to do")
                return None
        _progress(f"fitting predictive CLV on the bank at {db.path}")
        fit = clv_store.fit_bank_clv(
            db,
            period=args.period,
            holdout_days=args.holdout_days,
            horizon_periods=args.horizon,
            discount_rate=args.discount_rate,
            fitted_by=getpass.getuser() if sys.stdin.isatty() else "batch",
            progress=_progress,
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


# -- train, score -------------------------------------------------------------------------
MODEL_TARGETS = ("churn", "credit_card", "savings", "investment_fund")
"""The targets of analytics.models.training.Target (listed here so that --help needs no sklearn import)."""


def cmd_train(args: argparse.Namespace) -> int:
    """Train, register, score and explain churn or take-up models; print their metrics.

    ``--target all`` trains every target (``--if-missing`` skips those already registered on
    this data), sharing one computation of the current customers' features.
    """
    from analytics.models import explanations
    from analytics.models import registry as model_registry

    started = time.perf_counter()
    db = open_database(args.db)
    targets = MODEL_TARGETS if args.target == "all" else (args.target,)
    trained_by = getpass.getuser() if sys.stdin.isatty() else "batch"
    published, skipped = [], []
    try:
        registered = set(model_registry.list_models(db.backend()).get_column("target").to_list())
        todo = [t for t in targets if not (args.if_missing and t in registered)]
        skipped = [t for t in targets if t not in todo]
        for target in skipped:
            _progress(f"{target}: a model of this data is registered already (--if-missing)")
        features = model_registry.current_features(db) if todo else None
        for target in todo:
            _progress(f"training the {target} model on the bank at {db.path}")
            published.append(
                explanations.train_and_publish(
                    db,
                    target=target,
                    trained_by=trained_by,
                    shap_rows=args.shap_rows,
                    features=features,
                    progress=_progress,
                )
            )
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    finally:
        db.close()
    _progress(f"done in {time.perf_counter() - started:.1f} s")
    payloads = [_train_payload(p) for p in published]
    if args.target != "all":
        if not payloads:
            _emit({"skipped": skipped}, as_json=args.json, text=lambda: f"skipped: {', '.join(skipped)}")
            return 0
        _emit(payloads[0], as_json=args.json, text=lambda: _train_text(payloads[0]))
        return 0
    payload = {"models": payloads, "skipped": skipped}
    _emit(
        payload,
        as_json=args.json,
        text=lambda: "\n\n".join([*(_train_text(p) for p in payloads), *(f"skipped: {t}" for t in skipped)]),
    )
    return 0


def _train_payload(published) -> dict:
    from analytics.models import registry as model_registry

    model = published.model
    return {
        "model_id": model.model_id,
        "target": model.target,
        "version": model.version,
        "data_as_of": model.data_as_of,
        "metrics": {"model": model.metrics["model"], "baseline": model.metrics["baseline"]},
        "top_features": model.importance.head(model_registry.TOP_FEATURES),
        "artifact_path": model.artifact_path,
        "artifact_sha256": model.artifact_sha256,
        "training_snapshot_hash": model.training_snapshot_hash,
        "scored_customers": published.scores.customers,
        "shap_sample": {
            m.kind: {"rows": m.rows, "seconds": m.seconds, "space": m.space} for m in published.explanations
        },
        "psi_shifted": model.psi.filter(pl.col("band") == "shifted").get_column("feature").to_list(),
    }


def _train_text(payload: dict) -> str:
    model, baseline = payload["metrics"]["model"], payload["metrics"]["baseline"]
    lines = [
        f"model {payload['model_id']} ({payload['target']}, version {payload['version']},"
        f" data as of {payload['data_as_of']})",
        f"test AUC {model['auc']:.3f}, average precision {model['average_precision']:.3f},"
        f" Brier {model['brier']:.4f} ({int(model['rows']):,} rows, prevalence {model['prevalence']:.1%})",
        f"baseline AUC {baseline['auc']:.3f}, average precision {baseline['average_precision']:.3f},"
        f" Brier {baseline['brier']:.4f}",
        "top features (mean |SHAP|, log-odds):",
        *(
            f"  {row['feature']:<30} {row['mean_abs_shap']:.3f} {row['direction']}"
            for row in payload["top_features"].iter_rows(named=True)
        ),
        f"artifact: {payload['artifact_path']} (sha256 {payload['artifact_sha256'][:16]}...)",
    ]
    if "scored_customers" in payload:
        tree = payload["shap_sample"].get("tree", {})
        lines.append(
            f"scored {payload['scored_customers']:,} current customers; SHAP values of"
            f" {tree.get('rows', 0):,} stored ({tree.get('space', '')})"
        )
        if payload["psi_shifted"]:
            shifted = ", ".join(payload["psi_shifted"])
            lines.append(f"population shifted since training (PSI >= 0.25): {shifted}")
    return "\n".join(lines)


def cmd_score(args: argparse.Namespace) -> int:
    """Score and explain every current customer with a registered model (--model-id, or --target's latest)."""
    from analytics.models import explanations
    from analytics.models import registry as model_registry

    started = time.perf_counter()
    db = open_database(args.db)
    try:
        if args.model_id:
            model_id = args.model_id
        else:
            model_id = model_registry.latest_model(db.backend(), args.target).model_id
        _progress(f"scoring and explaining the current customers with {model_id}")
        published = explanations.publish_model(db, model_id, shap_rows=args.shap_rows, progress=_progress)
        summary = published.scores
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    finally:
        db.close()
    _progress(f"done in {time.perf_counter() - started:.1f} s")
    payload = dataclasses.asdict(summary) | {
        "output": f"{args.db or resolve_db_path()}: model_predictions (model {summary.model_id})"
    }
    _emit(payload, as_json=args.json, text=lambda: _score_text(payload))
    return 0


def _score_text(payload: dict) -> str:
    return "\n".join(
        [
            f"model {payload['model_id']} ({payload['target']}, version {payload['version']})",
            f"scored {payload['customers']:,} customers with features as of {payload['features_as_of']}",
            f"mean score {payload['mean_score']:.4f}; top decile mean {payload['top_decile_mean']:.4f}",
            f"written to {payload['output']}",
        ]
    )


# -- retention --------------------------------------------------------------------------
def cmd_retention(args: argparse.Namespace) -> int:
    """Print the retention section: cohort cells, monthly retention and churn, survival by group."""
    from analytics.kpis import retention

    db = open_database(args.db, read_only=True)
    try:
        backend = db.backend()
        filters = _period_filters(backend, args)
        matrix = retention.compute_cohort_matrix(
            backend, end_month=filters.end_month, regions=filters.regions, age_bands=filters.age_bands
        )
        series = retention.compute_retention_series(backend, filters)
        survival = retention.compute_survival(
            backend, by=args.by, regions=filters.regions, age_bands=filters.age_bands
        )
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    finally:
        db.close()
    payload = {
        "cohorts": matrix,
        "series": series,
        # The curves can run to hundreds of rows per group: the groups, landmarks and test are
        # what the page's table shows; --curves adds the step points.
        "survival": {
            "by": survival.by,
            "subject": survival.subject,
            "time_unit": survival.time_unit,
            "groups": survival.groups,
            "landmarks": survival.landmarks,
            "log_rank": survival.log_rank,
            "excluded_before_history": survival.excluded_before_history,
            **({"curves": survival.curves} if args.curves else {}),
        },
    }
    _emit(payload, as_json=args.json, text=lambda: _retention_text(payload))
    return 0


def _retention_text(payload: dict) -> str:
    series = payload["series"].series
    lines = ["month      retention  churn"]
    for row in series.iter_rows(named=True):
        lines.append(
            f"{row['month']:%Y-%m}    {format_value(row['retention_rate'], 'pct'):>8}  "
            f"{format_value(row['churn_rate'], 'pct'):>6}"
        )
    survival = payload["survival"]
    lines.append(f"survival by {survival['by']}:")
    for row in survival["groups"].iter_rows(named=True):
        lines.append(f"  {row['group']:<20} subjects {row['subjects']:>8,}  median {row['median']}")
    if survival["log_rank"] is not None:
        lines.append(f"  log-rank p = {survival['log_rank'].p_value:.3g}")
    return "\n".join(lines)


# -- segments ---------------------------------------------------------------------------
MSG_BAD_SCALING = (
    "--scaling takes column=scaling pairs separated by commas, e.g. spend=log,age=standard (got {item!r})."
)
MSG_SCALING_TWICE = "--scaling names the column {column!r} twice."


def _parse_scaling(text: str | None) -> dict[str, str]:
    """``col=log,col2=standard`` as a dict (the values are checked by features.override_scaling)."""
    chosen: dict[str, str] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        column, sep, scaling = item.rpartition("=")
        if not sep or not column.strip() or not scaling.strip():
            raise CliError(MSG_BAD_SCALING.format(item=item.strip()))
        if column.strip() in chosen:
            raise CliError(MSG_SCALING_TWICE.format(column=column.strip()))
        chosen[column.strip()] = scaling.strip()
    return chosen


def cmd_segments(args: argparse.Namespace) -> int:
    """Segment the bank's customers (or any customer-level file) and profile the segments."""
    from analytics.segments import clustering as segments
    from analytics.segments import features as feats

    started = time.perf_counter()
    overrides = _parse_scaling(args.scaling)
    try:
        columns = [c.strip() for c in args.features.split(",") if c.strip()] if args.features else None
        if args.input:
            _progress(f"reading {args.input}")
            table = _read_table(args.input)
            frame = feats.prepare_feature_frame(table, id_column=args.id_col, features=columns)
            source = Path(args.input)
            output = Path(args.output) if args.output else source.with_name(f"{source.stem}_segments.csv")
        else:
            db = open_database(args.db, read_only=True)
            try:
                chosen = columns or list(feats.resolve_feature_set(args.feature_set))
                frame = feats.load_features(db.backend(), columns=chosen)
            finally:
                db.close()
            output = Path(args.output or "segments.csv")
        for notice in frame.notices:
            _progress(f"note: {notice}")
        frame = feats.override_scaling(frame, overrides)
        result = segments.run_segmentation(
            frame, algorithm=args.algorithm, k=args.k, random_state=args.seed, progress=_progress
        )
        labels = result.assignment.get_column("segment").to_numpy()
        profiles = segments.profile_segments(frame.frame.select(result.features), labels)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    result.assignment.rename({"customer_id": frame.id_column}).write_csv(output)
    _progress(f"assignment of {result.assignment.height:,} customers written to {output}")
    _progress(f"done in {time.perf_counter() - started:.1f} s")
    payload = {
        "algorithm": result.algorithm,
        "k": result.k,
        "features": list(result.features),
        "customers": result.assignment.height,
        "excluded_no_consent": result.excluded_no_consent,
        "sizes": result.sizes,
        "silhouette": result.silhouette,
        "davies_bouldin": result.davies_bouldin,
        "bic": result.bic,
        "noise": result.noise,
        "warnings": list(result.warnings),
        "notices": list(frame.notices),
        "scaling": frame.scaling,
        "evidence": result.evidence,
        "profiles": profiles.select("segment", "customers", "share", "top_features", "suggested_name"),
        "assignment_file": str(output),
    }
    _emit(payload, as_json=args.json, text=lambda: _segments_text(payload))
    return 0


def _read_table(path: str) -> pl.DataFrame:
    from analytics.common.uploads import read_table

    try:
        return read_table(path)
    except ValueError as exc:
        raise CliError(str(exc)) from exc


def _segments_text(payload: dict) -> str:
    silhouette = "n/a" if payload["silhouette"] is None else f"{payload['silhouette']:.3f}"
    lines = [
        f"{payload['algorithm']}, k = {payload['k']}, {payload['customers']:,} customers"
        f" ({payload['excluded_no_consent']:,} without profiling consent left out), silhouette {silhouette}"
    ]
    for row in payload["profiles"].iter_rows(named=True):
        size = f"{row['customers']:>8,} ({row['share']:.1%})"
        lines.append(f"  segment {row['segment']:>2}: {size}  {row['suggested_name']}")
    chosen = payload["scaling"].select(pl.format("{}={}", "column", "scaling")).to_series()
    lines.append(f"scaling: {', '.join(chosen)}")
    lines += [f"warning: {w}" for w in payload["warnings"]]
    lines.append(f"assignment: {payload['assignment_file']}")
    return "\n".join(lines)


# -- model on any table -----------------------------------------------------------------
def cmd_model(args: argparse.Namespace) -> int:
    """Train and explain a two-class model of a column of any customer-level file."""
    from analytics.models import table_model

    started = time.perf_counter()
    _progress(f"reading {args.input}")
    table = _read_table(args.input)
    try:
        _progress(f"training a model of {args.target!r} on {table.height:,} rows (25 % held out)")
        result = table_model.train_on_table(
            table, target=args.target, positive_label=args.positive_label, random_state=args.seed
        )
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    for notice in result.notices:
        _progress(f"note: {notice}")
    predictions, shap_file = table_model.write_table_model_outputs(
        result, args.input, output_dir=args.output_dir
    )
    _progress(f"predictions written to {predictions}, SHAP values to {shap_file}")
    _progress(f"done in {time.perf_counter() - started:.1f} s")
    payload = {
        "target": result.target,
        "positive_label": result.positive_label,
        "negative_label": result.negative_label,
        "rows": result.rows,
        "positives": result.positives,
        "train_rows": result.train_rows,
        "holdout_rows": result.holdout_rows,
        "auc": result.auc,
        "id_column": result.id_column,
        "features": list(result.features),
        "categorical": list(result.categorical),
        "notices": list(result.notices),
        "top_features": result.importance.head(args.top),
        "predictions_file": str(predictions),
        "shap_file": str(shap_file),
    }
    _emit(payload, as_json=args.json, text=lambda: _model_text(payload))
    return 0


def _model_text(payload: dict) -> str:
    lines = [
        f"{payload['target']} = {payload['positive_label']!r}: holdout AUC {payload['auc']:.3f}"
        f" ({payload['holdout_rows']:,} of {payload['rows']:,} rows held out)",
        "top features by mean |SHAP| (log-odds):",
    ]
    for row in payload["top_features"].iter_rows(named=True):
        lines.append(f"  {row['feature']:<30} {row['mean_abs_shap']:.4f}  {row['direction']}")
    lines += [f"note: {n}" for n in payload["notices"]]
    lines += [f"predictions: {payload['predictions_file']}", f"shap: {payload['shap_file']}"]
    return "\n".join(lines)


# -- engagement -------------------------------------------------------------------------
def cmd_engagement(args: argparse.Namespace) -> int:
    """Print the engagement analysis and the RFM groups (the Engagement & RFM section)."""
    from analytics.kpis import engagement

    db = open_database(args.db, read_only=True)
    try:
        backend = db.backend()
        filters = _period_filters(backend, args)
        rfm = engagement.compute_rfm(backend, filters)
        analysis = engagement.compute_engagement_analysis(backend, filters, rfm=rfm)
        payload = {"analysis": analysis, "rfm_groups": engagement.summarize_rfm_groups(rfm)}
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    finally:
        db.close()
    _emit(payload, as_json=args.json, text=lambda: _engagement_text(payload))
    return 0


def _engagement_text(payload: dict) -> str:
    drivers = payload["analysis"].drivers
    lines = [f"Engagement score {format_value(drivers.score, 'score')}"]
    if drivers.change is not None:
        interval = (
            "no interval: too few customers"
            if drivers.ci_low is None
            else f"95% CI {drivers.ci_low:+.2f} to {drivers.ci_high:+.2f}"
        )
        lines[0] += f", change {drivers.change:+.2f} ({interval})"
    for row in drivers.components.iter_rows(named=True):
        lines.append(f"  {row['label']:<20} {row['points']:6.2f} points")
    lines.append("RFM groups:")
    for row in payload["rfm_groups"].iter_rows(named=True):
        lines.append(f"  {row['rfm_group']:<20} {row['customers']:>8,}")
    return "\n".join(lines)


def _nps_text(drill: Any) -> str:
    f, c = drill.filters, drill.change
    lines = [
        f"NPS {f.start_month:%Y-%m} to {f.end_month:%Y-%m}: {format_value(drill.current.nps, 'score')}"
        f" (95% CI {format_interval(drill.current.ci_low, drill.current.ci_high, 'score')},"
        f" {drill.current.answers:,} answers)"
    ]
    if c.difference is not None:
        verdict = "significant" if c.significant else "within noise"
        lines.append(f"  change vs {c.label_b}: {c.difference:+.1f} points, p = {c.p_value:.3g} ({verdict})")
    for dimension, table in drill.breakdowns.items():
        lines.append(f"  by {dimension}:")
        for row in table.iter_rows(named=True):
            flag = "  (too few answers)" if row["small"] else ""
            lines.append(
                f"    {row['group']:<24} {format_value(row['nps'], 'score'):>8}  n={row['answers']:,}{flag}"
            )
    return "\n".join(lines)


def _kpi_text(summary: Any) -> str:
    f = summary.filters
    lines = [f"KPIs {f.start_month:%Y-%m} to {f.end_month:%Y-%m}, {summary.customers_matched:,} customers"]
    for tile in summary.tiles:
        change = format_change(tile.change, tile.unit)
        interval = format_interval(tile.ci_low, tile.ci_high, tile.unit)
        extras = "  ".join(x for x in (f"95% CI {interval}" if interval else "", change or "") if x)
        lines.append(f"  {tile.label:<32} {format_value(tile.value, tile.unit):>10}  {extras}".rstrip())
    return "\n".join(lines)


# -- abtest, power --------------------------------------------------------------------------------
def _test_payload(f, *, scale: str) -> dict:
    # "p_value" is the p-value of the scale asked for, next to that scale's interval; both
    # scales' p-values are always there under their own names.
    sequential = None
    if f.sequential is not None:
        s = f.sequential
        sequential = {
            "tuning_n": s.tuning_n,
            "customers": s.customers,
            "absolute_ci": list(s.absolute_ci),
            "absolute_p_value": s.absolute_p_value,
            "relative_ci": None if s.relative_ci is None else list(s.relative_ci),
            "relative_p_value": s.relative_p_value,
            "p_value": s.relative_p_value if scale == "relative" else s.absolute_p_value,
        }
    return {
        "absolute_lift": f.absolute_lift,
        "absolute_ci": list(f.absolute_ci),
        "relative_lift": f.relative_lift,
        "relative_ci": None if f.relative_ci is None else list(f.relative_ci),
        "p_value": f.relative_p_value if scale == "relative" else f.p_value,
        "scale": scale,
        "absolute_p_value": f.p_value,
        "relative_p_value": f.relative_p_value,
        "standard_error": f.standard_error,
        "relative_standard_error": f.relative_standard_error,
        "interval_method": f.interval_method,
        "df": f.df,
        "sequential": sequential,
    }


def _comparison_payload(comparison, *, scale: str = "absolute") -> dict:
    f, b = comparison.frequentist, comparison.bayesian
    out = {
        "test": f.test,
        **_test_payload(f, scale=scale),
        "chance_to_beat_control": b.chance_to_beat_control,
        "expected_loss": b.expected_loss,
        "credible_interval": list(b.credible_interval),
        "cuped": None,
    }
    if comparison.cuped is not None:
        c = comparison.cuped
        out["cuped"] = {
            "theta": c.theta,
            "variance_reduction": c.variance_reduction,
            **_test_payload(c.frequentist, scale=scale),
            "relative_denominator": "control's unadjusted mean",
            "chance_to_beat_control": c.bayesian.chance_to_beat_control,
            "expected_loss": c.bayesian.expected_loss,
        }
    return out


def _ab_options(args: argparse.Namespace) -> dict:
    return {
        "interval_method": args.interval_method,
        "sequential": args.sequential,
        "tuning_n": args.tuning_n,
    }


def _arm_payload(arm) -> dict:
    # A ratio metric's arm value is total numerator over total denominator, not a mean per customer.
    mean = arm.sum / arm.d_sum if arm.d_sum else arm.mean
    return {"arm": arm.name, "n": arm.n, "mean": mean, "variance": arm.variance if arm.n > 1 else None}


def _srm_payload(srm) -> dict:
    return {"chi_square": srm.chi_square, "p_value": srm.p_value, "flagged": srm.flagged}


def _abtest_file(args: argparse.Namespace) -> dict:
    from analytics.experiments import readout as experiments

    if not (args.variant_col and args.control and args.metric):
        raise CliError("--input needs --variant-col, --control and --metric.")
    table = _read_table(args.input)
    arms, kind = experiments.external_arms(
        table,
        variant_col=args.variant_col,
        control=args.control,
        metric=args.metric,
        covariate=args.covariate,
        summary=args.summary,
    )
    design = experiments.parse_design(args.design_split, len(arms))
    # A summary's covariate sums turn CUPED on by themselves; per-customer rows need --covariate.
    cuped = (args.summary or bool(args.covariate)) and not args.no_cuped
    result = experiments.read_out_external(
        arms, kind=kind, metric=args.metric, design=design, alpha=args.alpha, cuped=cuped, **_ab_options(args)
    )
    return {
        "metric": result.metric,
        "kind": result.kind,
        "scale": args.scale,
        "arms": [_arm_payload(a) for a in result.arms],
        "treatments": {
            name: _comparison_payload(c, scale=args.scale) for name, c in result.comparisons.items()
        },
        "srm": _srm_payload(result.srm),
        "decision": result.decision,
    }


def _abtest_bank(args: argparse.Namespace) -> dict:
    from analytics.experiments import readout as experiments

    db = open_database(args.db, read_only=True)
    try:
        backend = db.backend()
        if not args.experiment:
            return {"experiments": experiments.list_experiments(backend)}
        result = experiments.read_out(
            backend,
            args.experiment,
            snapshot=db.snapshot_date(),
            alpha=args.alpha,
            cuped=not args.no_cuped,
            **_ab_options(args),
        )
    finally:
        db.close()
    return {
        "experiment_id": result.experiment.experiment_id,
        "window": [result.experiment.start_date, result.experiment.window_end],
        "arm_counts": result.counts,
        "scale": args.scale,
        "srm": _srm_payload(result.srm),
        "metrics": [
            {
                "metric": m.metric,
                "kind": m.kind,
                "role": m.role,
                "arms": [_arm_payload(a) for a in m.arms],
                "treatments": {
                    name: _comparison_payload(c, scale=args.scale) for name, c in m.comparisons.items()
                },
                "holm_p_value": m.adjusted_p,
                "guardrail_breached": m.guardrail_breached,
                "problem": m.problem,
            }
            for m in result.metrics
        ],
        "decision": result.decision,
    }


def cmd_abtest(args: argparse.Namespace) -> int:
    """Read out an experiment: an uploaded file (--input) or one of the bank's (--experiment)."""
    try:
        payload = _abtest_file(args) if args.input else _abtest_bank(args)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    _emit(payload, as_json=args.json, text=lambda: _abtest_text(payload))
    return 0


def _abtest_text(payload: dict) -> str:
    if "experiments" in payload:
        return "\n".join(
            f"{r['experiment_id']:<28} {r['status']:<10} {r['customers']:>8,} customers  {r['name']}"
            for r in payload["experiments"].iter_rows(named=True)
        )
    srm = payload["srm"]
    lines = [payload["decision"], f"SRM chi-square {srm['chi_square']:.3f}, p = {srm['p_value']:.3g}"]
    for block in payload.get("metrics") or [payload]:
        lines.append(f"{block['metric']} ({block['kind']}):")
        lines += [
            f"  {a['arm']:<14} n={a['n']:>9,}  mean={a['mean']:.6g}"
            + ("" if a["variance"] is None else f"  variance={a['variance']:.6g}")
            for a in block["arms"]
        ]
        for name, t in block["treatments"].items():
            low, high = t["absolute_ci"]
            lines.append(
                f"  {name}: lift {t['absolute_lift']:+.6g} [{low:.6g}, {high:.6g}],"
                f" relative {_relative_text(t['relative_lift'], t['relative_ci'])},"
                f" {_p_text(t['p_value'], t['scale'])} ({t['interval_method']}),"
                f" chance to beat control {t['chance_to_beat_control']:.1%}"
            )
            if t["sequential"]:
                lines.append(_sequential_text(t["sequential"], t["scale"]))
            if t["cuped"]:
                cuped = t["cuped"]
                lines.append(
                    f"    CUPED: variance -{cuped['variance_reduction']:.1%},"
                    f" relative {_relative_text(cuped['relative_lift'], cuped['relative_ci'])},"
                    f" {_p_text(cuped['p_value'], cuped['scale'])}"
                )
                if cuped["sequential"]:
                    lines.append("  " + _sequential_text(cuped["sequential"], cuped["scale"]))
    return "\n".join(lines)


def _relative_text(lift: float | None, interval: list[float] | None) -> str:
    if lift is None or interval is None:
        return "n/a"
    return f"{lift:+.2%} [{interval[0]:+.2%}, {interval[1]:+.2%}]"


def _p_text(p_value: float | None, scale: str) -> str:
    label = "p (relative)" if scale == "relative" else "p"
    return f"{label} = n/a" if p_value is None else f"{label} = {p_value:.3g}"


def _sequential_text(sequential: dict, scale: str) -> str:
    if scale == "relative" and sequential["relative_ci"] is not None:
        low, high = sequential["relative_ci"]
        interval = f"relative [{low:+.2%}, {high:+.2%}]"
    else:
        low, high = sequential["absolute_ci"]
        interval = f"[{low:.6g}, {high:.6g}]"
    return (
        f"    always-valid (tuning {sequential['tuning_n']:,}): {interval},"
        f" {_p_text(sequential['p_value'], scale)}"
    )


def cmd_power(args: argparse.Namespace) -> int:
    """Sample size per arm (and runtime) for a minimum detectable effect, or the effect a size detects."""
    from analytics.experiments import stats as experiment_stats

    common = {
        "baseline": args.baseline,
        "kind": args.kind,
        "sd": args.sd,
        "alpha": args.alpha,
        "power": args.power,
        "sides": args.sides,
        "relative": not args.absolute,
    }
    try:
        if args.per_arm:
            mde = experiment_stats.minimum_detectable_effect(per_arm=args.per_arm, **common)
            payload = {"per_arm": args.per_arm, "minimum_detectable_effect": mde} | common
            scale = "an absolute" if args.absolute else "a relative"
            text = f"{args.per_arm:,} per arm detect {scale} effect of {mde:.4g}"
        else:
            if args.mde is None:
                raise CliError("Give --mde (the effect to detect) or --per-arm (the effect a size detects).")
            size = experiment_stats.sample_size(mde=args.mde, daily_traffic=args.daily_traffic, **common)
            payload = dataclasses.asdict(size)
            text = f"{size.per_arm:,} per arm, {size.total:,} in total" + (
                f", {size.days} days at {args.daily_traffic:,.0f} a day" if size.days else ""
            )
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    _emit(payload, as_json=args.json, text=lambda: text)
    return 0


# -- fairness ---------------------------------------------------------------------------
MSG_FAIRNESS_SUBJECT = (
    "Say what to audit: --input FILE (with --y-true, --group and --y-pred or --score/--threshold), "
    "--model ID, --target NAME, --campaign ID, --credit-decision or --targeting FILE."
)
MSG_REPORT_SUFFIX = "--report must end in .html or .pdf, got {path}."
MSG_TARGETING_COLUMN = (
    "{path} needs a customer_id column (one row per customer on the list); it has: {columns}."
)


def _disparity_payload(d) -> dict:
    return {
        "name": d.name,
        "value": d.value,
        "low": d.low,
        "high": d.high,
        "interval_method": d.method,
        "groups": list(d.groups),
        "passed": d.passed,
    }


def _audit_payload(audit) -> dict:
    return {
        "kind": audit.kind,
        "subject_id": audit.subject_id,
        "title": audit.title,
        "decision": audit.decision,
        "threshold": audit.threshold,
        "as_of": audit.as_of,
        "customers": audit.n,
        "model_version": audit.model_version,
        "data_hash": audit.data_hash,
        "verdict": audit.verdict,
        **audit.rule.as_dict(),
        "notes": list(audit.notes),
        "attributes": [
            {
                "attribute": a.attribute,
                "verdict": a.verdict,
                **a.rule.as_dict(),
                "reason": a.reason,
                "groups": a.metrics.to_dicts(),
                "disparities": [_disparity_payload(d) for d in a.disparities],
            }
            for a in audit.attributes
        ],
        "strata": audit.strata.to_dicts() if audit.strata is not None else None,
    }


def _fairness_audit(args: argparse.Namespace):
    from analytics.fairness import audits as fairness_audit
    from analytics.models import registry as model_registry

    if args.input:
        if not args.y_true or not args.group:
            raise CliError("--input needs --y-true and --group.")
        table = _read_table(args.input)
        groups = [g.strip() for g in args.group.split(",") if g.strip()]
        return fairness_audit.audit_frame(
            table,
            y_true=args.y_true,
            y_pred=args.y_pred,
            score=args.score,
            threshold=args.threshold,
            groups=groups,
            source=Path(args.input).name,
        ), None
    if not (args.model or args.target or args.campaign is not None or args.credit_decision or args.targeting):
        raise CliError(MSG_FAIRNESS_SUBJECT)
    db = open_database(args.db, read_only=True)
    try:
        backend = db.backend()
        if args.model or args.target:
            model_id = args.model or model_registry.latest_model(backend, args.target).model_id
            audit = fairness_audit.audit_model(backend, model_id, threshold=args.threshold)
            from analytics.fairness import report as fairness_report

            return audit, fairness_report.model_card(backend, model_id, audit=audit)
        if args.campaign is not None:
            return fairness_audit.audit_exposure(backend, args.campaign), None
        if args.targeting:
            listing = _read_table(args.targeting)
            if "customer_id" not in listing.columns:
                raise CliError(
                    MSG_TARGETING_COLUMN.format(path=args.targeting, columns=", ".join(listing.columns))
                )
            as_of = _parse_day(args.as_of, "--as-of") or db.snapshot_date()
            title = f"Targeting list: {Path(args.targeting).name}"
            return fairness_audit.audit_targeting(
                backend, listing.get_column("customer_id"), as_of=as_of, title=title
            ), None
        return fairness_audit.audit_credit_decision(backend), None
    finally:
        db.close()


def cmd_fairness(args: argparse.Namespace) -> int:
    """Audit decisions by protected group: a file, a registered model, a campaign or the credit decision."""
    report = Path(args.report) if args.report else None
    if report is not None and report.suffix.lower() not in {".html", ".pdf"}:
        raise CliError(MSG_REPORT_SUFFIX.format(path=report))
    started = time.perf_counter()
    try:
        audit, card = _fairness_audit(args)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    _progress(f"audited {audit.n:,} decisions in {time.perf_counter() - started:.2f} s")
    payload = _audit_payload(audit)
    if report is not None:
        from analytics.fairness import report as fairness_report

        now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        if report.suffix.lower() == ".html":
            content = fairness_report.render_html(audit, card=card, generated_at=now).encode("utf-8")
        else:
            content = fairness_report.render_pdf(audit, card=card, generated_at=now)
        report.write_bytes(content)
        payload["report"] = {
            "path": str(report),
            "sha256": fairness_report.sha256_hex(content),
            "signed": False,
        }
        _progress(f"report written to {report} (unsigned: sign it on the Fairness page)")
    _emit(payload, as_json=args.json, text=lambda: _fairness_text(payload))
    return 0


def _fairness_text(payload: dict) -> str:
    lines = [f"{payload['title']}: {payload['decision']}; {payload['customers']:,} customers"]
    lines.append(f"verdict: {payload['verdict'].upper()}  (data hash {payload['data_hash'][:12]})")
    lines.append(
        f"rule: {payload['rule']} (threshold {payload['rule_threshold']:g}, "
        f"{payload['confidence_level']:.0%} {payload['interval_method']} intervals, "
        f"groups of at least {payload['min_group_size']})"
    )
    for a in payload["attributes"]:
        lines.append(f"\n{a['attribute']}: {a['verdict']} - {a['reason']}")
        for g in a["groups"]:
            rate = "n/a" if g["selection_rate"] is None else f"{g['selection_rate']:.3f}"
            small = "  (too small to judge)" if g["small"] else ""
            lines.append(f"  {g['group']:<28} n={g['n']:>8,}  selection rate {rate}{small}")
        for d in a["disparities"]:
            if d["value"] is None:
                continue
            interval = (
                "" if d["low"] is None else f" [{d['low']:.3f}, {d['high']:.3f}] ({d['interval_method']})"
            )
            lines.append(f"  {d['name']:<30} {d['value']:.3f}{interval}")
    if "report" in payload:
        lines.append(f"\nreport: {payload['report']['path']} (sha256 {payload['report']['sha256']})")
    return "\n".join(lines)


# -- parser -----------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m analytics``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", help="DuckDB file (default: $TAILOR_DB, else sample_data/bank.duckdb)")
    common.add_argument("--json", action="store_true", help="print machine-readable JSON")
    # The same options on nested actions must not reset what was given before the action
    # (``users --db X list``), so there they have no default of their own.
    nested = argparse.ArgumentParser(add_help=False)
    nested.add_argument("--db", default=argparse.SUPPRESS, help="DuckDB file")
    nested.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")

    parser = argparse.ArgumentParser(
        prog="python -m analytics",
        description="Tailor analytics from the command line: the numbers behind every page.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sample = sub.add_parser("sample-data", parents=[common], help="build the sample bank (all or nothing)")
    sample.add_argument("--customers", type=int, default=20_000, help="number of customers (default 20000)")
    sample.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    sample.add_argument("--truth", help="where to write the planted truths (default sample_data/truth.json)")
    sample.add_argument("--if-missing", action="store_true", help="do nothing if the database exists")
    sample.set_defaults(func=cmd_sample_data)

    users = sub.add_parser(
        "users", parents=[common], help="manage sign-in users: add, remove, list, unlock, demo"
    )
    users_sub = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = users_sub.add_parser("add", parents=[nested], help="add a user (password prompted or from stdin)")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.add_argument("--replace", action="store_true", help="overwrite an existing user (password reset)")
    remove = users_sub.add_parser("remove", parents=[nested], help="remove a user")
    remove.add_argument("username")
    unlock = users_sub.add_parser("unlock", parents=[nested], help="clear a user name's failed sign-ins")
    unlock.add_argument("username")
    users_sub.add_parser("list", parents=[nested], help="list users, roles, last sign-in, lock state")
    users_sub.add_parser(
        "demo",
        parents=[nested],
        help="create one demo user per role if there are no users; print passwords once",
    )
    users.set_defaults(func=cmd_users)

    # The sidebar filters of the pages, for every command that reads a period.
    period = argparse.ArgumentParser(add_help=False)
    period.add_argument("--start", help="first month YYYY-MM (default: three months before the last)")
    period.add_argument("--end", help="last month YYYY-MM (default: the last full month)")
    period.add_argument("--region", action="append", choices=REGIONS, help="keep a region (repeatable)")
    period.add_argument(
        "--age-band", action="append", choices=AGE_BANDS, help="keep an age band (repeatable)"
    )
    period.add_argument("--product", action="append", choices=PRODUCT_IDS, help="keep holders of a product")

    kpi = sub.add_parser("kpis", parents=[common, period], help="the executive KPIs, with the page's filters")
    kpi.set_defaults(func=cmd_kpis)

    nps_cmd = sub.add_parser(
        "nps", parents=[common, period], help="NPS drill-down: by month and group, with intervals and tests"
    )
    nps_cmd.set_defaults(func=cmd_nps)

    engagement_cmd = sub.add_parser(
        "engagement", parents=[common, period], help="engagement distribution, drivers, movement; RFM groups"
    )
    engagement_cmd.set_defaults(func=cmd_engagement)

    segments_cmd = sub.add_parser(
        "segments",
        parents=[common],
        help="cluster customers (the bank, or any customer-level file) and profile",
    )
    segments_cmd.add_argument("--input", help="CSV or Parquet, one row per customer (default: the database)")
    segments_cmd.add_argument("--id-col", help="id column of --input (default: customer_id or id)")
    segments_cmd.add_argument("--features", help="comma-separated feature columns (default: the feature set)")
    segments_cmd.add_argument(
        "--feature-set", default="life stage and income", help="named feature set of the database's features"
    )
    segments_cmd.add_argument(
        "--algorithm", default="kmeans", choices=["kmeans", "gmm", "hdbscan", "agglomerative"], help="method"
    )
    segments_cmd.add_argument("--k", type=int, help="number of segments (default: chosen from the evidence)")
    segments_cmd.add_argument(
        "--scaling",
        help="scaling per column, e.g. spend=log,age=standard (log, yeo_johnson, standard, share, flag;"
        " default: the bank's for its features, chosen from the distribution for other columns)",
    )
    segments_cmd.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    segments_cmd.add_argument("--output", help="assignment CSV (default INPUT_segments.csv, or segments.csv)")
    segments_cmd.set_defaults(func=cmd_segments)

    model_cmd = sub.add_parser(
        "model", parents=[common], help="train and explain a two-class model of a column of any file"
    )
    model_cmd.add_argument("--input", required=True, help="CSV or Parquet, one row per customer")
    model_cmd.add_argument("--target", required=True, help="the column to predict (two classes)")
    model_cmd.add_argument(
        "--positive-label", help="the target value to predict (needed unless the target is 0/1 or boolean)"
    )
    model_cmd.add_argument("--output-dir", help="folder of the two output files (default: the input's)")
    model_cmd.add_argument("--top", type=int, default=10, help="features listed (default 10)")
    model_cmd.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    model_cmd.set_defaults(func=cmd_model)

    retention_cmd = sub.add_parser(
        "retention", parents=[common, period], help="cohorts, monthly retention and churn, survival curves"
    )
    retention_cmd.add_argument(
        "--by",
        default="none",
        choices=["none", "region", "age_band", "gender", "preferred_channel", "first_product", "product"],
        help="survival curves by this group (product: holdings from opening to closing)",
    )
    retention_cmd.add_argument(
        "--curves", action="store_true", help="include every step of the survival curves"
    )
    retention_cmd.set_defaults(func=cmd_retention)

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

    train_cmd = sub.add_parser(
        "train", parents=[common], help="train churn or take-up models on the bank: register, score, explain"
    )
    train_cmd.add_argument(
        "--target",
        required=True,
        choices=(*MODEL_TARGETS, "all"),
        help="what the model predicts (all: every target)",
    )
    train_cmd.add_argument(
        "--if-missing", action="store_true", help="skip targets that have a registered model of this data"
    )
    train_cmd.add_argument(
        "--shap-rows", type=_positive_int, default=10_000, help="current customers in the stored SHAP sample"
    )
    train_cmd.set_defaults(func=cmd_train)

    score_cmd = sub.add_parser(
        "score", parents=[common], help="score and explain every current customer with a registered model"
    )
    which = score_cmd.add_mutually_exclusive_group(required=True)
    which.add_argument("--model-id", help="the registered model (python -m analytics train prints it)")
    which.add_argument("--target", choices=MODEL_TARGETS, help="the latest registered version of this target")
    score_cmd.add_argument(
        "--shap-rows", type=_positive_int, default=10_000, help="current customers in the stored SHAP sample"
    )
    score_cmd.set_defaults(func=cmd_score)

    ab_cmd = sub.add_parser(
        "abtest", parents=[common], help="read out an A/B test: a file (--input) or the bank's (--experiment)"
    )
    ab_cmd.add_argument("--input", help="CSV or Parquet: one row per customer, or per arm with --summary")
    ab_cmd.add_argument("--variant-col", help="the column naming each row's arm")
    ab_cmd.add_argument("--control", help="the control arm's name")
    ab_cmd.add_argument("--metric", help="the metric column (with --summary: its name only)")
    ab_cmd.add_argument("--covariate", help="pre-period value of the metric, for CUPED")
    ab_cmd.add_argument(
        "--summary",
        action="store_true",
        help="rows are per-arm sums: n, sum, sum_sq; optionally x_sum, x_sum_sq, xy_sum (CUPED) or d_sum,"
        " d_sum_sq, yd_sum (ratio); GrowthBook's names too (docs/experiments.md)",
    )
    ab_cmd.add_argument("--design-split", help="planned shares, control first, e.g. 50,50 (default: equal)")
    ab_cmd.add_argument("--experiment", help="bank: the experiment id (without it: list the experiments)")
    ab_cmd.add_argument(
        "--no-cuped",
        action="store_true",
        help="do not adjust for the pre-period (bank, or a summary's covariate)",
    )
    ab_cmd.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    ab_cmd.add_argument(
        "--scale",
        choices=["absolute", "relative"],
        default="absolute",
        help="the p-value reported as p_value: of the absolute lift (default) or the relative one",
    )
    ab_cmd.add_argument(
        "--interval-method",
        choices=["z", "welch-t"],  # analytics.experiments.stats.INTERVAL_METHODS, not imported at start-up
        default="z",
        help="proportions and ratios: normal (default) or Welch's t as GrowthBook; means always Welch's t",
    )
    ab_cmd.add_argument(
        "--sequential", action="store_true", help="also the always-valid intervals and p-values"
    )
    ab_cmd.add_argument(
        "--tuning-n",
        type=_positive_int,
        default=5000,
        help="customers (both arms) where the always-valid interval is tightest (default 5000)",
    )
    ab_cmd.set_defaults(func=cmd_abtest)

    power_cmd = sub.add_parser(
        "power", parents=[common], help="sample size and runtime, or the detectable effect"
    )
    power_cmd.add_argument(
        "--baseline", type=float, required=True, help="control's rate (proportion) or mean"
    )
    power_cmd.add_argument("--mde", type=float, help="minimum detectable effect (relative by default)")
    power_cmd.add_argument(
        "--per-arm", type=_positive_int, help="customers per arm: prints the detectable effect"
    )
    power_cmd.add_argument(
        "--absolute", action="store_true", help="--mde / the result is absolute, not relative"
    )
    power_cmd.add_argument("--kind", choices=["proportion", "mean"], default="proportion", help="metric kind")
    power_cmd.add_argument("--sd", type=float, help="standard deviation of a mean metric")
    power_cmd.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    power_cmd.add_argument("--power", type=float, default=0.8, help="power (default 0.8)")
    power_cmd.add_argument("--sides", type=int, choices=[1, 2], default=2, help="one- or two-sided test")
    power_cmd.add_argument(
        "--daily-traffic", type=float, help="customers entering per day, both arms: runtime"
    )
    power_cmd.set_defaults(func=cmd_power)

    fair_cmd = sub.add_parser(
        "fairness",
        parents=[common],
        help="audit decisions by protected group: a file, a model, a campaign or the credit decision",
    )
    fair_cmd.add_argument("--input", help="CSV or Parquet, one row per customer")
    fair_cmd.add_argument("--y-true", help="the 0/1 outcome column")
    fair_cmd.add_argument("--y-pred", help="the 0/1 decision column")
    fair_cmd.add_argument("--score", help="a score column in [0, 1] (with --threshold)")
    fair_cmd.add_argument(
        "--threshold", type=float, help="decision threshold for --score (bank models: default top 10%%)"
    )
    fair_cmd.add_argument(
        "--group", help="protected attribute columns, comma-separated (their intersection too)"
    )
    fair_cmd.add_argument("--model", help="bank: a registered model id")
    fair_cmd.add_argument("--target", help="bank: the latest model for a target (churn, credit_card, ...)")
    fair_cmd.add_argument("--campaign", type=int, help="bank: a campaign's exposure")
    fair_cmd.add_argument(
        "--credit-decision", action="store_true", help="bank: the historical credit decision"
    )
    fair_cmd.add_argument(
        "--targeting",
        help="bank: a targeting list (CSV or Parquet with customer_id) against the contactable customers",
    )
    fair_cmd.add_argument(
        "--as-of", help="bank: the day the targeting list would be sent (default: the snapshot)"
    )
    fair_cmd.add_argument("--report", help="write the (unsigned) audit report: a .html or .pdf path")
    fair_cmd.set_defaults(func=cmd_fairness)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (CliError, DatabaseError, DataValidationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
