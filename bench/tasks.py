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
from datetime import date, timedelta
from pathlib import Path
from typing import Any

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
    from analytics.common.types import KpiFilters

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

    from analytics.kpis.summary import compute_executive_summary
    from analytics.store.database import Database

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
        from analytics.kpis.summary import compute_executive_summary
        from analytics.store.database import Database

        db = Database(args.db, read_only=True, threads=args.threads)
        summary = compute_executive_summary(db.backend(), _filters(args))
        db.close()
        checked, worst, problems = pandas_baseline.compare(summary, baseline, tol=1e-6)
        out |= {"checked_values": checked, "max_relative_difference": worst, "mismatches": problems[:20]}
    return out


def task_floor(args: argparse.Namespace) -> dict:
    t0 = time.perf_counter()
    from analytics.store.database import Database

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
    from analytics.store.database import Database

    db = Database(args.db, read_only=True, threads=args.threads)
    names = (
        "customers",
        "holdings",
        "transactions",
        "digital_events",
        "offers",
        "assignments",
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

    from analytics.common.types import User

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
    from analytics.clv.store import compute_bank_clv
    from analytics.store.database import Database

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

    from analytics.kpis.retention import compute_cohort_matrix
    from analytics.store.database import Database

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


def _time_query(args: argparse.Namespace, sql: str) -> tuple[Any, dict]:
    """A floor: one raw query in a fresh process, cold (connection included), then the warm median."""
    t0 = time.perf_counter()
    # Database.query runs on the thread's Ibis-backed cursor: count Ibis's lazy imports as imports.
    import ibis.backends.duckdb  # noqa: F401
    import ibis.backends.duckdb.converter  # noqa: F401

    from analytics.store.database import Database

    imported = time.perf_counter()
    start = time.perf_counter()
    db = Database(args.db, read_only=True, threads=args.threads)
    result = db.query(sql)
    cold = time.perf_counter() - start
    warm = []
    for _ in range(WARM_REPEATS):
        s = time.perf_counter()
        db.query(sql)
        warm.append(time.perf_counter() - s)
    db.close()
    timing = {
        "import_seconds": imported - t0,
        "seconds": cold,
        "warm_seconds": statistics.median(warm),
        "peak_rss_mb": _peak_rss_mb(),
    }
    return result, timing


def task_cohort_floor(args: argparse.Namespace) -> dict:
    """One raw DuckDB pass over customer_month, cold, then warm."""
    result, timing = _time_query(args, COHORT_FLOOR_SQL)
    return timing | {"customer_months": result.item(0, "n")}


def task_features(args: argparse.Namespace) -> dict:
    """The Segments page's customer features table, built cold from the canonical tables."""
    t0 = time.perf_counter()
    import ibis.backends.duckdb  # noqa: F401 - Ibis's lazy imports count as imports (see task_summary)
    import ibis.backends.duckdb.converter  # noqa: F401

    from analytics.kpis.rollups import build_customer_features
    from analytics.store.database import Database

    imported = time.perf_counter()
    start = time.perf_counter()
    db = Database(args.db, read_only=True, threads=args.threads)
    backend = db.backend()
    table = backend.to_polars(
        build_customer_features(backend, as_of=db.snapshot_date(), history_start=db.history_start())
    )
    cold = time.perf_counter() - start
    db.close()
    return {
        "import_seconds": imported - t0,
        "seconds": cold,
        "customers": table.height,
        "columns": table.width,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _segment_frame(db):
    """The default feature set's features (consented customers), as the page loads them."""
    from analytics.segments import features

    return features.load_features(
        db.backend(), columns=list(features.resolve_feature_set(features.DEFAULT_FEATURE_SET))
    )


def task_kmeans(args: argparse.Namespace) -> dict:
    """k-means on the default feature set: a fixed k = 6, then k chosen from the evidence."""
    t0 = time.perf_counter()
    import ibis.backends.duckdb  # noqa: F401
    import ibis.backends.duckdb.converter  # noqa: F401

    from analytics.segments.clustering import run_segmentation
    from analytics.store.database import Database

    imported = time.perf_counter()
    start = time.perf_counter()
    db = Database(args.db, read_only=True, threads=args.threads)
    frame = _segment_frame(db)
    loaded = time.perf_counter()
    fixed = run_segmentation(frame, algorithm="kmeans", k=6)
    clustered = time.perf_counter()
    chosen = run_segmentation(frame, algorithm="kmeans")
    evidence = time.perf_counter() - clustered
    db.close()
    return {
        "import_seconds": imported - t0,
        "load_seconds": loaded - start,
        "seconds": clustered - loaded,
        "evidence_seconds": evidence,
        "customers": frame.n_customers,
        "features": len(frame.features),
        "k": fixed.k,
        "k_from_evidence": chosen.k,
        "peak_rss_mb": _peak_rss_mb(),
    }


PAGE_RERUNS = 3
"""Reruns of the Segments page timed after the first run (which fills the caches)."""

UMAP_WARMUP_ROWS = 6_000
UMAP_WARMUP_SAMPLE = 5_000
"""The warm-up fit that pays numba's compilation: above umap-learn's 4,096-row exact-neighbours
cut-off, so the nearest-neighbour descent and the transform it compiles are those of the real fit."""


def _scaled_matrix(db):
    frame = _segment_frame(db)
    return frame.frame.get_column(frame.id_column), frame.scaled()


def _umap_warmup(X) -> dict:
    """Import umap-learn, then a small fit and transform (numba compilation), timed apart."""
    from analytics.segments import maps, projections

    s = time.perf_counter()
    import umap  # noqa: F401

    imported = time.perf_counter()
    params = {k: v for k, v in maps.map_params("umap").items() if k != "method"}
    params["sample_size"] = UMAP_WARMUP_SAMPLE
    projections.fit_umap_map(X[:UMAP_WARMUP_ROWS], **params)
    return {"umap_import_seconds": imported - s, "compile_seconds": time.perf_counter() - imported}


def task_umap(args: argparse.Namespace) -> dict:
    """UMAP map of the default feature set: fit on a 50,000 sample, transform the rest."""
    t0 = time.perf_counter()
    import ibis.backends.duckdb  # noqa: F401
    import ibis.backends.duckdb.converter  # noqa: F401

    from analytics.segments import maps, projections
    from analytics.store.database import Database

    imported = time.perf_counter()
    s = time.perf_counter()
    db = Database(args.db, read_only=True, threads=args.threads)
    ids, X = _scaled_matrix(db)
    db.close()
    matrix = time.perf_counter() - s
    warmup = _umap_warmup(X)
    params = {k: v for k, v in maps.map_params("umap").items() if k != "method"}
    s = time.perf_counter()
    coords = projections.fit_umap_map(X, **params)
    fitted = time.perf_counter() - s
    return {
        "import_seconds": imported - t0,
        "matrix_seconds": matrix,
        **warmup,
        "seconds": fitted,
        "customers": int(coords.shape[0]),
        "sample_size": min(int(coords.shape[0]), params["sample_size"]),
        "features": int(X.shape[1]),
        "peak_rss_mb": _peak_rss_mb(),
    }


def task_segments_page(args: argparse.Namespace) -> dict:
    """UMAP fitted and stored on a copy of the bank, then the Segments page rerun (AppTest).

    The UMAP figures are those of :func:`task_umap` (import and warm-up fit timed apart, then
    ``fit_and_store_map``: the fit and transform as it times them, and the store); the map it
    stores is the one the page draws. The first page run fills the caches (features, the
    segmentation with its evidence for k, profiles and KPIs, the map's points); the reruns that
    follow (median of ``PAGE_RERUNS``) are the figure.
    """
    import os
    import shutil
    import tempfile

    from streamlit.testing.v1 import AppTest

    from analytics.common.types import User
    from analytics.segments import features, maps
    from analytics.store.database import Database

    page = Path(__file__).resolve().parent.parent / "pages" / "segments.py"
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "bank.duckdb"
        shutil.copyfile(args.db, copy)
        s = time.perf_counter()
        db = Database(copy, threads=args.threads)
        ids, X = _scaled_matrix(db)
        matrix = time.perf_counter() - s
        warmup = _umap_warmup(X)
        s = time.perf_counter()
        stored = maps.fit_and_store_map(
            db,
            ids,
            X,
            method="umap",
            feature_columns=features.resolve_feature_set(features.DEFAULT_FEATURE_SET),
            fitted_by="bench",
            **maps.map_params("umap"),
        )
        fit_and_store = time.perf_counter() - s
        db.close()
        umap_result = {
            "matrix_seconds": matrix,
            **warmup,
            "seconds": stored.seconds,
            "store_seconds": fit_and_store - stored.seconds,
            "customers": stored.customers,
            "sample_size": stored.sample_size,
            "features": int(X.shape[1]),
            "peak_rss_mb": _peak_rss_mb(),
        }
        os.environ["TAILOR_DB"] = str(copy)
        at = AppTest.from_file(str(page), default_timeout=600)
        at.session_state["user"] = User("bench", "marketing_analyst")
        s = time.perf_counter()
        at.run()
        first = time.perf_counter() - s
        if at.exception:
            return {"umap": umap_result, "seconds": None, "note": f"page raised: {at.exception[0].message}"}
        reruns = []
        for _ in range(PAGE_RERUNS):
            s = time.perf_counter()
            at.run()
            reruns.append(time.perf_counter() - s)
            if at.exception:
                return {
                    "umap": umap_result,
                    "seconds": None,
                    "note": f"page raised: {at.exception[0].message}",
                }
        rerun = statistics.median(reruns)
        specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
        scattergl = any(trace.get("type") == "scattergl" for spec in specs for trace in spec.get("data", []))
        stored_drawn = any("by bench" in caption.value for caption in at.caption)
        segments = at.metric[0].value if len(at.metric) else "?"
    return {
        "umap": umap_result,
        "seconds": rerun,
        "first_run_seconds": first,
        "map_drawn": scattergl,
        "stored_map_drawn": stored_drawn,
        "charts": len(specs),
        "segments": segments,
        "note": (
            "AppTest rerun of pages/segments.py (default feature set, k-means, k from the evidence) "
            f"with the stored UMAP map, median of {PAGE_RERUNS} "
            f"(runs {min(reruns):.3f}-{max(reruns):.3f} s); "
            f"first run {first:.1f} s; {len(specs)} charts, "
            + ("the map drawn (scattergl)" if scattergl else "NO scattergl map drawn")
            + (", from the stored UMAP fit" if stored_drawn else ", NOT from the stored UMAP fit")
            + f"; {segments} segments"
        ),
        "peak_rss_mb": _peak_rss_mb(),
    }


# -- Models page (issue 5) ----------------------------------------------------------------------
MODEL_TARGET = "churn"
"""The target of the Models page's measurements (the page opens on it)."""

SHAP_ROWS = 10_000
"""Size of the stored SHAP sample measured (``analytics.models.explanations.SAMPLE_ROWS``)."""

CUSTOMER_CALLS = 20
"""Customers explained one after another (warm) after the first, cold, one."""

MODEL_PAGE_SECTIONS = ("quality", "explanations", "customer")
"""Sections of the Models page rerun, in this order (each fills its own caches first)."""

CURRENT_CUSTOMERS_SQL = "select customer_id from customer_features order by customer_id"
"""The current customers on the snapshot: those the page scores and explains."""

STORED_SHAP_SQL = "select count(*) as n from model_shap where model_id = ?"


class _Stopwatch:
    """Exclusive seconds spent inside chosen functions, by label: where a pipeline's time goes.

    Each chosen function is replaced by a timing wrapper for the life of the process (the bench
    process ends right after). A wrapped call's time excludes the wrapped calls made inside it,
    so the labels partition the time they cover and "other" is the rest.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._children: list[float] = []

    def wrap(self, owner: object, name: str, label: str) -> None:
        import functools

        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            self._children.append(0.0)
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                inner = self._children.pop()
                self.seconds[label] = self.seconds.get(label, 0.0) + elapsed - inner
                self.calls[label] = self.calls.get(label, 0) + 1
                if self._children:
                    self._children[-1] += elapsed

        setattr(owner, name, timed)


def _training_stopwatch() -> _Stopwatch:
    """Wrap the steps of ``train_and_register``: features, labels, fits, explanation, PSI, store."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from analytics.models import quality as model_quality
    from analytics.models import registry as model_registry
    from analytics.models import training, training_data

    watch = _Stopwatch()
    # Module attributes: the registry, training and training_data modules call these through their
    # module globals.
    watch.wrap(training_data, "load_point_in_time_features", "features")
    watch.wrap(training_data, "build_labels", "labels")
    watch.wrap(model_registry, "hash_training_frame", "training rows hash")
    watch.wrap(HistGradientBoostingClassifier, "fit", "tree fit")
    watch.wrap(LogisticRegression, "fit", "baseline fit")
    watch.wrap(SimpleImputer, "fit", "imputation")
    watch.wrap(Pipeline, "fit", "scaling and pipelines")
    watch.wrap(CalibratedClassifierCV, "fit", "calibration")
    watch.wrap(training, "explain", "importance SHAP")
    watch.wrap(model_quality, "psi_table", "PSI")
    watch.wrap(model_registry, "register_model", "register")
    return watch


def task_model_train(args: argparse.Namespace) -> dict:
    """Churn model training end to end on a copy of the bank, then the model scored and explained.

    The bank is copied into ``--work`` first (not timed): the copy, with its registry and the
    artifacts in ``<work>/models``, is what the Models tasks that follow read. The figure is
    ``train_and_register``: features at every cut-off, labels, the tree and baseline fits,
    calibration, the importance table, PSI and registration. Its steps are timed from the
    progress lines and, inside the training, by :class:`_Stopwatch`. Then ``publish_model``
    (every current customer scored, the SHAP sample stored) prepares the copy, timed apart.
    """
    import shutil

    t0 = time.perf_counter()
    import ibis.backends.duckdb  # noqa: F401 - Ibis's lazy imports count as imports (see task_summary)
    import ibis.backends.duckdb.converter  # noqa: F401

    from analytics.models import publishing
    from analytics.models import registry as model_registry
    from analytics.store.database import Database

    imported = time.perf_counter()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    copy = work / "bank.duckdb"
    shutil.copyfile(args.db, copy)
    watch = _training_stopwatch()
    marks: list[float] = []
    start = time.perf_counter()
    db = Database(copy, threads=args.threads)
    record = model_registry.train_and_register(
        db,
        target=MODEL_TARGET,
        trained_by="bench",
        progress=lambda _line: marks.append(time.perf_counter()),
    )
    done = time.perf_counter()
    peak = _peak_rss_mb()
    # marks: features start, training starts, PSI starts, registering starts.
    phases = {
        "features_and_snapshot_seconds": marks[1] - marks[0],
        "train_model_seconds": marks[2] - marks[1],
        "psi_seconds": marks[3] - marks[2],
        "register_seconds": done - marks[3],
    }
    steps = {label: round(seconds, 3) for label, seconds in watch.seconds.items()}
    steps["other"] = round((done - start) - sum(watch.seconds.values()), 3)
    step_calls = dict(watch.calls)
    s = time.perf_counter()
    publication = publishing.publish_model(db, record.model_id, shap_rows=SHAP_ROWS)
    published = time.perf_counter() - s
    db.close()
    return {
        "import_seconds": imported - t0,
        "seconds": done - start,
        **phases,
        "steps": steps,
        "step_calls": step_calls,
        "model_id": record.model_id,
        "bank": str(copy),
        "split_sizes": record.metrics["split_sizes"],
        "features": len(record.features),
        "auc": record.metrics["model"]["auc"],
        "baseline_auc": record.metrics["baseline"]["auc"],
        "publish_seconds": published,
        "scored_customers": publication.scores.customers,
        "peak_rss_mb": peak,
    }


def task_model_fit_floor(args: argparse.Namespace) -> dict:
    """The training floor: a bare HistGradientBoostingClassifier on the same stacked training matrix.

    Same hyperparameters as ``analytics.models.pipelines.make_tree_pipeline`` (its ``model`` step), no
    imputation (the booster takes missing values itself), fitted on the training cut-offs' rows
    of the default split, built first and not timed.
    """
    t0 = time.perf_counter()
    import ibis.backends.duckdb  # noqa: F401
    import ibis.backends.duckdb.converter  # noqa: F401
    import polars as pl
    from sklearn.base import clone

    from analytics.models import pipelines, training_data
    from analytics.store.database import Database

    imported = time.perf_counter()
    db = Database(args.db, read_only=True, threads=args.threads)
    backend = db.backend()
    cutoffs = training_data.default_cutoffs(db.history_start(), db.snapshot_date())
    s = time.perf_counter()
    train = pl.concat(
        [training_data.build_training_frame(backend, target=MODEL_TARGET, cutoff=d) for d in cutoffs.train],
        how="vertical",
    )
    features = training_data.model_features(train)
    X = training_data.feature_matrix(train, features)
    y = train.get_column(training_data.LABEL_COLUMN).to_numpy()
    matrix = time.perf_counter() - s
    db.close()
    booster = clone(pipelines.make_tree_pipeline(features).named_steps["model"])
    s = time.perf_counter()
    booster.fit(X, y)
    fitted = time.perf_counter() - s
    return {
        "import_seconds": imported - t0,
        "matrix_seconds": matrix,
        "seconds": fitted,
        "rows": int(X.shape[0]),
        "features": int(X.shape[1]),
        "iterations": int(booster.n_iter_),
        "peak_rss_mb": _peak_rss_mb(),
    }


def task_model_shap(args: argparse.Namespace) -> dict:
    """The stored global SHAP sample: ``store_explanations`` on 10,000 customers, then its floor.

    ``store_explanations`` end to end (the model loaded and verified, the current customers'
    features, the sample, exact tree SHAP of the calibrated score, linear SHAP of the baseline,
    about a million rows replaced in one transaction), its steps from the progress lines. The
    floor, after it in the same process: ``shap.TreeExplainer(booster).shap_values(X)`` on the
    same customers' imputed features (read back from the stored sample, not timed), whose
    values are checked against the stored ones.
    """
    t0 = time.perf_counter()
    import ibis.backends.duckdb  # noqa: F401
    import ibis.backends.duckdb.converter  # noqa: F401
    import numpy as np
    import shap

    from analytics.models import explanations, pipelines
    from analytics.models import registry as model_registry
    from analytics.store.database import Database

    imported = time.perf_counter()
    marks: list[float] = []
    db = Database(args.db, threads=args.threads)
    start = time.perf_counter()
    metas = explanations.store_explanations(
        db, args.model_id, rows=SHAP_ROWS, progress=lambda _line: marks.append(time.perf_counter())
    )
    done = time.perf_counter()
    peak = _peak_rss_mb()
    backend = db.backend()
    stored_rows = db.query(STORED_SHAP_SQL, [args.model_id]).item()
    matrix = explanations.load_shap_matrix(backend, args.model_id, kind="tree")
    loaded = model_registry.load_model(db, args.model_id)
    db.close()
    booster = loaded.pipeline.named_steps["model"]
    X = np.asarray(loaded.pipeline.named_steps["prepare"].transform(matrix.values), dtype=np.float64)
    s = time.perf_counter()
    raw = shap.TreeExplainer(booster).shap_values(X, check_additivity=False)
    floor = time.perf_counter() - s
    # The floor computes the same numbers: raw log-odds SHAP, scaled by Platt's slope, in input order.
    slope, _ = explanations.calibration_line(loaded.calibrated)
    names = pipelines.transformed_features(loaded.pipeline, loaded.features)
    order = [names.index(name) for name in loaded.features]
    difference = float(np.max(np.abs(np.asarray(raw)[:, order] * slope - matrix.shap)))
    # marks: tree SHAP starts, baseline SHAP starts, storing starts.
    return {
        "import_seconds": imported - t0,
        "seconds": done - start,
        "prepare_seconds": marks[0] - start,
        "tree_seconds": marks[1] - marks[0],
        "baseline_seconds": marks[2] - marks[1],
        "store_seconds": done - marks[2],
        "rows": metas[0].rows,
        "stored_values": int(stored_rows),
        "floor_seconds": floor,
        "floor_max_difference": difference,
        "peak_rss_mb": peak,
    }


def task_model_customer(args: argparse.Namespace) -> dict:
    """One customer's explanation as the page makes it, the model already loaded.

    ``load_customer_features`` (one row from ``customer_features``) then ``explain_customer``
    (score, exact tree SHAP of the calibrated score, reasons) for customers drawn at random
    (seeded) among the current ones: the first call of the process is the cold figure, the
    next ``CUSTOMER_CALLS`` (other customers) give the warm median. Loading the model and its
    typical values (cached by the page) are timed apart. Each explanation is checked to add up:
    base value plus contributions equals the logit of the score.
    """
    t0 = time.perf_counter()
    import math

    import ibis.backends.duckdb  # noqa: F401
    import ibis.backends.duckdb.converter  # noqa: F401
    import numpy as np

    from analytics.models import customer_explanations, explanations
    from analytics.models import registry as model_registry
    from analytics.store.database import Database

    imported = time.perf_counter()
    db = Database(args.db, read_only=True, threads=args.threads)
    backend = db.backend()
    s = time.perf_counter()
    model = model_registry.load_model(db, args.model_id)
    typical = explanations.load_explanation_meta(backend, args.model_id)["tree"].typical
    load = time.perf_counter() - s
    as_of = db.snapshot_date()
    current = db.query(CURRENT_CUSTOMERS_SQL).get_column("customer_id")
    picked = np.random.default_rng(0).choice(current.to_numpy(), CUSTOMER_CALLS + 1, replace=False)
    calls, worst_gap = [], 0.0
    for customer_id in picked:
        s = time.perf_counter()
        row = customer_explanations.load_customer_features(backend, int(customer_id), as_of=as_of)
        read = time.perf_counter()
        result = customer_explanations.explain_customer(model, row, typical=typical)
        end = time.perf_counter()
        calls.append((end - s, read - s, end - read))
        gap = abs(result.base_value + float(result.contributions["shap"].sum()) - result.log_odds)
        logit = math.log(result.score / (1.0 - result.score))
        worst_gap = max(worst_gap, gap, abs(result.log_odds - logit))
    db.close()
    warm = calls[1:]
    return {
        "import_seconds": imported - t0,
        "load_model_seconds": load,
        "cold_seconds": calls[0][0],
        "cold_read_seconds": calls[0][1],
        "cold_explain_seconds": calls[0][2],
        "seconds": statistics.median(c[0] for c in warm),
        "read_seconds": statistics.median(c[1] for c in warm),
        "explain_seconds": statistics.median(c[2] for c in warm),
        "max_seconds": max(c[0] for c in warm),
        "customers": len(warm),
        "max_additivity_gap": worst_gap,
        "peak_rss_mb": _peak_rss_mb(),
    }


def task_models_page(args: argparse.Namespace) -> dict:
    """Reruns of the Models page (AppTest) on its quality, explanations and customer sections.

    Run on the prepared copy (``task_model_train``) as a marketing analyst. For each section in
    turn the page is run once to fill that section's caches, then rerun ``PAGE_RERUNS`` times;
    the median rerun is the figure. The customer section is given the masked id of a current
    customer drawn at random (seeded), as a user would type it.
    """
    import os

    import numpy as np
    import polars as pl
    from streamlit.testing.v1 import AppTest

    from analytics.access.privacy import pseudonym_key, pseudonymize_ids
    from analytics.common.types import User
    from analytics.store.database import Database
    from app import state

    db = Database(args.db, threads=args.threads)
    current = db.query(CURRENT_CUSTOMERS_SQL).get_column("customer_id")
    customer_id = int(np.random.default_rng(1).choice(current.to_numpy()))
    masked = pseudonymize_ids(pl.Series([customer_id]), pseudonym_key(db))[0]
    db.close()
    page = Path(__file__).resolve().parent.parent / "pages" / "models.py"
    os.environ["TAILOR_DB"] = str(args.db)
    at = AppTest.from_file(str(page), default_timeout=600)
    at.session_state["user"] = User("bench", "marketing_analyst")
    sections = {}
    for section in MODEL_PAGE_SECTIONS:
        at.session_state[state.MODEL_SECTION] = section
        if section == "customer":
            at.session_state[state.CUSTOMER_REF] = masked
        s = time.perf_counter()
        at.run()
        first = time.perf_counter() - s
        reruns = []
        for _ in range(PAGE_RERUNS if not at.exception else 0):
            s = time.perf_counter()
            at.run()
            reruns.append(time.perf_counter() - s)
            if at.exception:
                break
        if at.exception:
            sections[section] = {"seconds": None, "note": f"page raised: {at.exception[0].message}"}
            continue
        charts = len(at.get("plotly_chart"))
        if section == "quality":
            drawn = len(at.metric) >= 5 and charts >= 5
            what = f"{len(at.metric)} metrics, {charts} charts"
        elif section == "explanations":
            drawn = charts >= 3
            what = f"{charts} charts (importance, beeswarm, dependence)"
        else:
            heading = any(masked in header.value for header in at.subheader)
            drawn = heading and charts >= 1
            what = f"customer {masked} " + ("drawn" if heading else "NOT drawn") + f", {charts} chart(s)"
        sections[section] = {
            "seconds": statistics.median(reruns),
            "min_seconds": min(reruns),
            "max_seconds": max(reruns),
            "first_run_seconds": first,
            "drawn": drawn,
            "what": what,
        }
    return {"sections": sections, "reruns": PAGE_RERUNS, "peak_rss_mb": _peak_rss_mb()}


# -- A/B tests page (issue 6) ---------------------------------------------------------------
ABTEST_CUSTOMERS = 1_000_000
"""Customers of the A/B test bank, every one assigned to its experiment."""

ABTEST_TRANSACTIONS = 8_000_000
ABTEST_SESSIONS = 1_000_000
"""Debit transactions and digital sessions, spread over the pre-period and the window."""

ABTEST_EXPERIMENT = "bench_ab_1m"
ABTEST_START = date(2026, 10, 1)
ABTEST_DAYS = 28
ABTEST_AS_OF = date(2026, 10, 31)
"""The experiment's window (28 days from the start, completed before the snapshot)."""

ABTEST_ENROLMENT_DAYS = 7
"""Customers are assigned (and sent the campaign's offer) over the window's first week."""

ABTEST_CONVERSION = {"control": 0.098, "treatment": 0.102}
ABTEST_REVENUE_LIFT = 0.02
"""Planted truths: conversion rate per arm (about 10%, +0.4 pp in treatment) and the relative lift
of treatment customers' debit amounts inside the window (none on sessions)."""

ABTEST_COLD_REPEATS = 3
ABTEST_FLOOR_SQL = "select count(*) as n, sum(amount) as amount from transactions"
"""The A/B read-out's floor: one DuckDB pass over every transaction, count and sum of amount."""


def _abtest_tables(seed: int) -> tuple[dict, dict, dict]:
    """The A/B test bank's canonical tables, ``dataset_meta`` facts and planted truths (numpy, seeded).

    Every customer holds a spending and a session rate (Gamma, so a few customers do most of
    it) kept across the pre-period and the window, which is what CUPED exploits; transactions
    and sessions are split over the customers by a multinomial draw (exact totals) and placed
    uniformly in time. Amounts are log-normal per transaction times a log-normal customer scale
    (heavy-tailed). Every customer is assigned (Bernoulli 1/2) during the first week and sent
    one offer of the experiment's campaign at once; conversions follow the planted rates.
    """
    import numpy as np
    import polars as pl

    from analytics.common.types import REGIONS
    from analytics.store.contracts import CANONICAL_TABLES
    from sample_data.core import DAY_US, MINUTE_US, SECOND_US, str_series, to_day, ts_series
    from sample_data.marketing import products_frame

    rng = np.random.default_rng(seed)
    n = ABTEST_CUSTOMERS
    ids = np.arange(1, n + 1, dtype=np.int64)
    start_us = to_day(ABTEST_START) * DAY_US
    end_us = start_us + ABTEST_DAYS * DAY_US  # exclusive: the day after the window's last
    pre_us = start_us - ABTEST_DAYS * DAY_US

    def days(low: date, high: date, size: int) -> pl.Series:
        return pl.Series(rng.integers(to_day(low), to_day(high), size).astype(np.int32)).cast(pl.Date)

    joined = days(date(2010, 1, 1), date(2026, 8, 1), n)
    customers = pl.DataFrame(
        {
            "customer_id": ids,
            "first_name": pl.Series([None] * n, dtype=pl.String),
            "last_name": pl.Series([None] * n, dtype=pl.String),
            "email": pl.Series([None] * n, dtype=pl.String),
            "phone": pl.Series([None] * n, dtype=pl.String),
            "birth_date": days(date(1941, 1, 1), date(2007, 1, 1), n),
            "gender": str_series(
                "gender", ("female", "male", "other"), rng.choice(3, n, p=[0.49, 0.49, 0.02])
            ),
            "region": str_series(
                "region", REGIONS, rng.choice(len(REGIONS), n, p=[0.25, 0.15, 0.15, 0.15, 0.15, 0.15])
            ),
            "city": pl.Series([None] * n, dtype=pl.String),
            "occupation": pl.Series([None] * n, dtype=pl.String),
            "annual_income": np.round(rng.lognormal(np.log(38_000), 0.55, n), 2),
            "credit_score": np.clip(rng.normal(680, 70, n), 300, 850).astype(np.int32),
            "preferred_channel": str_series(
                "preferred_channel",
                ("mobile_app", "web", "branch", "phone"),
                rng.choice(4, n, p=[0.55, 0.25, 0.12, 0.08]),
            ),
            "joined_at": joined,
            "closed_at": pl.Series([None] * n, dtype=pl.Date),
            "closure_reason": pl.Series([None] * n, dtype=pl.String),
            "consent_marketing": np.ones(n, dtype=bool),
            "consent_profiling": rng.random(n) < 0.85,
            "consent_updated_at": joined,
        }
    )

    treated = rng.random(n) < 0.5
    assigned_us = start_us + (rng.random(n) * ABTEST_ENROLMENT_DAYS * DAY_US).astype(np.int64)
    assignments = pl.DataFrame(
        [
            pl.Series("experiment_id", [ABTEST_EXPERIMENT] * n, dtype=pl.String),
            pl.Series("customer_id", ids),
            str_series("variant", ("control", "treatment"), treated.astype(np.int8)),
            ts_series("assigned_at", assigned_us),
        ]
    )

    # Transactions: a Gamma spending rate per customer, the same before and during the window.
    spend_rate = rng.gamma(0.7, 1.0, n)
    per_customer = rng.multinomial(ABTEST_TRANSACTIONS, spend_rate / spend_rate.sum())
    owner = np.repeat(np.arange(n), per_customer)
    m = owner.size
    tx_us = pre_us + (rng.random(m) * (end_us - pre_us)).astype(np.int64)
    amount = rng.lognormal(np.log(25.0), 1.1, m) * rng.lognormal(0.0, 0.5, n)[owner]
    lifted = treated[owner] & (tx_us >= start_us)
    amount = np.maximum(np.round(np.where(lifted, amount * (1 + ABTEST_REVENUE_LIFT), amount), 2), 0.01)
    order = np.argsort(tx_us, kind="stable")
    owner, tx_us, amount = owner[order], tx_us[order], amount[order]
    categories = ("groceries", "restaurants", "travel", "shopping", "utilities", "transport")
    channels = ("card_present", "card_online", "atm", "transfer", "direct_debit")
    transactions = pl.DataFrame(
        [
            pl.Series("transaction_id", np.arange(1, m + 1, dtype=np.int64)),
            pl.Series("customer_id", ids[owner]),
            ts_series("ts", tx_us),
            pl.Series("amount", amount),
            pl.Series("direction", ["debit"], dtype=pl.String).gather(np.zeros(m, np.uint32)),
            str_series("merchant_category", categories, rng.integers(0, len(categories), m)),
            str_series("channel", channels, rng.choice(len(channels), m, p=[0.45, 0.3, 0.1, 0.1, 0.05])),
            pl.Series("country", ["NL"], dtype=pl.String).gather(np.zeros(m, np.uint32)),
            pl.Series("fee", np.round(amount * 0.002, 2)),
        ]
    )

    session_rate = rng.gamma(0.5, 1.0, n)
    per_customer_s = rng.multinomial(ABTEST_SESSIONS, session_rate / session_rate.sum())
    s_owner = np.repeat(np.arange(n), per_customer_s)
    k = s_owner.size
    s_us = pre_us + (rng.random(k) * (end_us - pre_us)).astype(np.int64)
    s_order = np.argsort(s_us, kind="stable")
    s_owner, s_us = s_owner[s_order], s_us[s_order]
    digital_events = pl.DataFrame(
        [
            pl.Series("event_id", np.arange(1, k + 1, dtype=np.int64)),
            pl.Series("customer_id", ids[s_owner]),
            ts_series("ts", s_us),
            str_series("channel", ("mobile_app", "web"), (rng.random(k) < 0.3).astype(np.int8)),
            pl.Series("event_type", ["session"], dtype=pl.String).gather(np.zeros(k, np.uint32)),
            pl.Series("duration_seconds", rng.gamma(2.0, 120.0, k).astype(np.int32)),
            pl.Series("page_views", (1 + rng.poisson(4.0, k)).astype(np.int32)),
        ]
    )

    # One offer per assigned customer, sent a minute after assignment; funnel steps in order.
    sent = assigned_us + MINUTE_US
    rate = np.where(treated, ABTEST_CONVERSION["treatment"], ABTEST_CONVERSION["control"])
    converted = rng.random(n) < rate
    opened = converted | (rng.random(n) < 0.40)
    clicked = converted | (opened & (rng.random(n) < 0.30))
    opened_us = sent + (rng.exponential(2.0, n) * 3600 * SECOND_US).astype(np.int64)
    clicked_us = opened_us + (rng.exponential(10.0, n) * MINUTE_US).astype(np.int64)
    converted_us = clicked_us + (rng.exponential(3.0, n) * DAY_US).astype(np.int64)
    # A conversion after the window is not one: it is moved to the window's last hour, kept in order.
    converted_us = np.maximum(np.minimum(converted_us, end_us - 3600 * SECOND_US), clicked_us)
    offers = pl.DataFrame(
        [
            pl.Series("offer_id", ids),
            pl.Series("campaign_id", np.ones(n, dtype=np.int64)),
            pl.Series("customer_id", ids),
            pl.Series("product_id", ["savings"], dtype=pl.String).gather(np.zeros(n, np.uint32)),
            ts_series("sent_at", sent),
            ts_series("opened_at", opened_us, null=~opened),
            ts_series("clicked_at", clicked_us, null=~clicked),
            ts_series("converted_at", converted_us, null=~converted),
        ]
    )
    end_date = ABTEST_START + timedelta(days=ABTEST_DAYS - 1)
    campaigns = pl.DataFrame(
        {
            "campaign_id": [1],
            "name": ["Savings goals nudge (bench)"],
            "product_id": ["savings"],
            "channel": ["app_push"],
            "start_date": [ABTEST_START],
            "end_date": [end_date],
            "objective": ["cross_sell"],
        }
    )
    experiments = pl.DataFrame(
        {
            "experiment_id": [ABTEST_EXPERIMENT],
            "name": ["Savings nudge, a million customers (bench)"],
            "hypothesis": ["A personalised savings-goal nudge raises savings take-up."],
            "start_date": [ABTEST_START],
            "end_date": [end_date],
            "variants": ["control,treatment"],
            "design_split": ["50,50"],
            "primary_metric": ["conversion"],
            "campaign_id": [1],
            "status": ["completed"],
        }
    )
    tables = {spec.name: pl.DataFrame(schema=spec.schema) for spec in CANONICAL_TABLES}
    tables |= {
        "customers": customers,
        "products": products_frame(),
        "transactions": transactions,
        "digital_events": digital_events,
        "campaigns": campaigns,
        "offers": offers,
        "experiments": experiments,
        "assignments": assignments,
    }
    # Realized per-arm figures, from the arrays (an independent check of the database's sums).
    inside = tx_us >= start_us
    window_spend = np.bincount(owner[inside], weights=amount[inside], minlength=n)
    in_window_s = s_us >= start_us
    window_sessions = np.bincount(s_owner[in_window_s], minlength=n)
    truth = {
        "experiment_id": ABTEST_EXPERIMENT,
        "planted_conversion": ABTEST_CONVERSION,
        "planted_revenue_lift": ABTEST_REVENUE_LIFT,
        "arms": {
            arm: {
                "n": int(mask.sum()),
                "conversions": int(converted[mask].sum()),
                "revenue_sum": float(window_spend[mask].sum()),
                "sessions_sum": int(window_sessions[mask].sum()),
            }
            for arm, mask in (("control", ~treated), ("treatment", treated))
        },
        "rows": {name: frame.height for name, frame in tables.items() if frame.height},
    }
    meta = {
        "source": "bench A/B test bank",
        "seed": str(seed),
        "customers": str(n),
        "as_of": ABTEST_AS_OF.isoformat(),
        # History from the first month of the pre-period (the rollups start there).
        "history_start": (ABTEST_START - timedelta(days=ABTEST_DAYS)).replace(day=1).isoformat(),
    }
    return tables, meta, truth


def abtest_fingerprint() -> str:
    """Hash of the code that decides the A/B test bank: the sample bank's fingerprint and this generator."""
    import hashlib
    import inspect

    from sample_data import code_fingerprint

    digest = hashlib.sha256(code_fingerprint().encode())
    digest.update(inspect.getsource(_abtest_tables).encode())
    constants = (
        ABTEST_CUSTOMERS,
        ABTEST_TRANSACTIONS,
        ABTEST_SESSIONS,
        ABTEST_EXPERIMENT,
        ABTEST_START,
        ABTEST_DAYS,
        ABTEST_AS_OF,
        ABTEST_ENROLMENT_DAYS,
        ABTEST_CONVERSION,
        ABTEST_REVENUE_LIFT,
    )
    digest.update(repr(constants).encode())
    return digest.hexdigest()[:16]


def task_abtest_generate(args: argparse.Namespace) -> dict:
    """Build the A/B test bank: the tables in numpy and polars, then ``Database.load_dataset``.

    Loaded into a temporary file beside the target and moved onto it only once the load (and the
    rollups it rebuilds) succeeded, as ``build_sample_database`` does; the planted truths and the
    realized per-arm figures go to ``--truth``.
    """
    import os

    from analytics.store.database import Database

    target = Path(args.db)
    target.parent.mkdir(parents=True, exist_ok=True)
    s = time.perf_counter()
    tables, meta, truth = _abtest_tables(args.seed)
    generated = time.perf_counter() - s
    rss_generated = _peak_rss_mb()
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    s = time.perf_counter()
    try:
        # The frames stay in memory during the load: DuckDB spills beyond a quarter of the RAM.
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        db = Database(tmp, threads=args.threads, memory_limit_mb=max(1024, total // 4 // 2**20))
        try:
            db.load_dataset(tables, meta=meta)
        finally:
            db.close()
        os.replace(tmp, target)
    except BaseException:
        for leftover in (tmp, Path(f"{tmp}.wal")):
            leftover.unlink(missing_ok=True)
        raise
    loaded = time.perf_counter() - s
    Path(args.truth).write_text(json.dumps(truth, indent=2))
    return {
        "seconds": generated + loaded,
        "generate_seconds": generated,
        "load_seconds": loaded,
        "rows": truth["rows"],
        "file_mb": target.stat().st_size / 2**20,
        "rss_after_generation_mb": rss_generated,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _abtest_readout(db, experiment_id: str, marks: dict[str, float]):
    """``app.resources``' read-out work, call for call, each step's seconds added to ``marks``.

    The read-out (``experiment_aggregates`` + ``experiment_readout``: the sums without looks, then
    the statistics) is the target; the sequential chart's looks of the primary metric
    (``experiment_sequence``, aggregated when the chart asks for it) are timed apart.
    """
    from analytics.experiments import bank
    from analytics.experiments import readout as experiments

    def step(label: str, started: float) -> float:
        now = time.perf_counter()
        marks[label] = marks.get(label, 0.0) + now - started
        return now

    alpha, cuped = 0.05, True  # the page's defaults
    s = time.perf_counter()
    backend = db.backend()
    experiment = bank.load_experiment(backend, experiment_id, snapshot=db.snapshot_date())
    s = step("load_experiment", s)
    aggregates = bank.aggregate_arms(backend, experiment)
    s = step("aggregate_arms", s)
    result = experiments.read_out(
        backend, experiment_id, snapshot=db.snapshot_date(), alpha=alpha, cuped=cuped, aggregates=aggregates
    )
    s = step("read_out", s)
    looks = bank.look_days(experiment)
    metric = result.primary.metric
    look_sums = bank.aggregate_arms(backend, experiment, looks=looks, look_metrics=(metric,))
    series = {
        metric: experiments.sequential_series(look_sums, experiment, metric=metric, looks=looks, alpha=alpha)
    }
    step("sequence_of_the_primary_metric", s)
    return result, series, aggregates, looks


def task_abtest_cold(args: argparse.Namespace) -> dict:
    """The A/B read-out of the million-customer experiment, cold, as the page's cached calls make it.

    New interpreter, new read-only connection, nothing cached: ``load_experiment``,
    ``aggregate_arms`` (one DuckDB aggregation of every metric) and ``read_out`` on those sums:
    the figure. The sequential chart's looks of the primary metric are timed apart
    (``sequence_seconds``). Then, for information, the same once more warm.
    The arms' counts and sums are checked against the generator's realized figures (``--truth``).
    """
    t0 = time.perf_counter()
    import ibis.backends.duckdb  # noqa: F401 - Ibis's lazy imports count as imports (see task_summary)
    import ibis.backends.duckdb.converter  # noqa: F401

    from analytics.experiments import (
        bank,
        readout,  # noqa: F401 - imported here so the read-out's timing excludes it
    )
    from analytics.store.database import Database

    imported = time.perf_counter()
    rss_imports = _peak_rss_mb()
    marks: dict[str, float] = {}
    start = time.perf_counter()
    db = Database(args.db, read_only=True, threads=args.threads)
    marks["open"] = time.perf_counter() - start
    result, series, aggregates, looks = _abtest_readout(db, ABTEST_EXPERIMENT, marks)
    cold = time.perf_counter() - start - marks["sequence_of_the_primary_metric"]
    peak = _peak_rss_mb()
    # One warm repeat: the read-out takes seconds, and the figure is for information only.
    again: dict[str, float] = {}
    s = time.perf_counter()
    _abtest_readout(db, ABTEST_EXPERIMENT, again)
    warm = time.perf_counter() - s - again["sequence_of_the_primary_metric"]
    experiment = bank.load_experiment(db.backend(), ABTEST_EXPERIMENT, snapshot=db.snapshot_date())
    s = time.perf_counter()
    bank.aggregate_arms(db.backend(), experiment)
    no_looks = time.perf_counter() - s
    db.close()
    truth = json.loads(Path(args.truth).read_text())
    rows = {row["variant"]: row for row in aggregates.iter_rows(named=True)}
    problems = []
    for arm, expected in truth["arms"].items():
        got = rows.get(arm, {})
        pairs = (
            ("n", got.get("n"), expected["n"]),
            ("conversions", got.get("conversion__sum"), expected["conversions"]),
            ("revenue", got.get("revenue__sum"), expected["revenue_sum"]),
            ("sessions", got.get("sessions__sum"), expected["sessions_sum"]),
        )
        for label, value, want in pairs:
            if value is None or abs(value - want) > 1e-6 * max(1.0, abs(want)):
                problems.append(f"{arm} {label}: {value} vs {want}")
    primary = result.primary
    control, treatment = primary.arms[0], primary.arms[1]
    return {
        "import_seconds": imported - t0,
        "seconds": cold,
        "steps": {label: round(v, 4) for label, v in marks.items()},
        "aggregation_seconds": marks["aggregate_arms"],
        "warm_seconds": warm,
        "warm_aggregation_seconds": again["aggregate_arms"],
        "aggregation_no_looks_seconds": no_looks,
        "sequence_seconds": marks["sequence_of_the_primary_metric"],
        "looks": len(looks),
        "aggregate_columns": aggregates.width,
        "series_rows": sum(frame.height for frame in series.values()),
        "counts": result.counts,
        "conversion": {"control": control.mean, "treatment": treatment.mean},
        "decision": result.decision,
        "srm_p": result.srm.p_value,
        "mismatches": problems,
        "rss_after_imports_mb": rss_imports,
        "peak_rss_mb": peak,
    }


def task_abtest_floor(args: argparse.Namespace) -> dict:
    """The floor of the A/B read-out: one DuckDB pass over the transactions (count, sum), cold then warm."""
    result, timing = _time_query(args, ABTEST_FLOOR_SQL)
    return timing | {"transactions": int(result.item(0, "n"))}


ABTEST_PAGE_RERUNS = 3
"""Reruns of the A/B tests page timed after its first run (which fills the caches)."""


def task_abtest_page(args: argparse.Namespace) -> dict:
    """The A/B tests page (AppTest) on the million-customer experiment: first run, then cached reruns.

    On a copy of the bank (the app opens its database for writing; the copy is not timed), as a
    marketing analyst with the experiment selected. The first run fills the caches (the
    experiment list, ``experiment_readout`` and ``experiment_segments`` for the default
    dimension); the analytics calls inside it are timed by :class:`_Stopwatch`. The figure is
    the median of ``ABTEST_PAGE_RERUNS`` reruns. The run checks that the page raised nothing and
    drew the decision line and the sequential chart.
    """
    import os
    import shutil
    import tempfile

    from streamlit.testing.v1 import AppTest

    from analytics.common.types import User
    from analytics.experiments import bank, breakdown, readout

    watch = _Stopwatch()
    for owner, name in (
        (bank, "list_experiments"),
        (bank, "load_experiment"),
        (bank, "aggregate_arms"),
        (readout, "read_out"),
        (readout, "sequential_series"),
        (breakdown, "segment_breakdown"),
    ):
        original = getattr(owner, name)
        watch.wrap(owner, name, name)
        if getattr(readout, name, None) is original:
            # read_out loads the experiment (and its sums) itself: timed under their labels too.
            setattr(readout, name, getattr(owner, name))
    page = Path(__file__).resolve().parent.parent / "pages" / "ab_tests.py"
    with tempfile.TemporaryDirectory(prefix="tailor-bench-abtest-") as tmp:
        copy = Path(tmp) / "bank.duckdb"
        s = time.perf_counter()
        shutil.copyfile(args.db, copy)
        copied = time.perf_counter() - s
        os.environ["TAILOR_DB"] = str(copy)
        at = AppTest.from_file(str(page), default_timeout=600)
        at.session_state["user"] = User("bench", "marketing_analyst")
        at.session_state["ab_experiment"] = ABTEST_EXPERIMENT
        s = time.perf_counter()
        at.run()
        first = time.perf_counter() - s
        first_steps = {label: round(v, 4) for label, v in watch.seconds.items()}
        if at.exception:
            return {"seconds": None, "note": f"page raised: {at.exception[0].message}"}
        calls_after_first = sum(watch.calls.values())
        reruns = []
        for _ in range(ABTEST_PAGE_RERUNS):
            s = time.perf_counter()
            at.run()
            reruns.append(time.perf_counter() - s)
            if at.exception:
                return {"seconds": None, "note": f"page raised: {at.exception[0].message}"}
        titles = [
            json.loads(chart.proto.spec).get("layout", {}).get("title", {}).get("text", "")
            for chart in at.get("plotly_chart")
        ]
        decision = at.info[0].value if len(at.info) else ""
        sequential = any(t.startswith("Sequential monitoring") for t in titles)
    drawn = bool(decision) and "conversion" in decision and sequential
    return {
        "seconds": statistics.median(reruns),
        "min_seconds": min(reruns),
        "max_seconds": max(reruns),
        "first_run_seconds": first,
        "first_run_steps": first_steps,
        "first_run_other_seconds": first - sum(first_steps.values()),
        "reruns": ABTEST_PAGE_RERUNS,
        "analytics_calls_in_reruns": sum(watch.calls.values()) - calls_after_first,
        "copy_seconds": copied,
        "drawn": drawn,
        "decision": decision,
        "charts": len(titles),
        "peak_rss_mb": _peak_rss_mb(),
    }


# -- the fairness audit (issue 7) ---------------------------------------------------------------
FAIRNESS_ROWS = 1_000_000
"""Predictions audited: one model's scores and decisions for a million customers."""

FAIRNESS_THRESHOLD = 0.5
"""The operating threshold; the synthetic scores put about 10% of the rows at or above it."""

FAIRNESS_GENDERS = ("female", "male", "other")
FAIRNESS_GENDER_SHARES = (0.49, 0.49, 0.02)
FAIRNESS_AGE_SHARES = (0.10, 0.18, 0.19, 0.18, 0.17, 0.18)
"""Shares of the genders and of the six age bands of ``analytics.common.types.AGE_BANDS`` (18-24 ... 65+)."""

FAIRNESS_OUTCOME_LOGIT = -2.25
FAIRNESS_GENDER_LOGIT = (-0.1, 0.1, 0.0)
FAIRNESS_AGE_LOGIT = (0.25, 0.1, 0.0, -0.05, -0.1, -0.2)
"""The outcome's log-odds: about 10% positive, a little more among men and the young."""

FAIRNESS_SCORE_SIGNAL = 1.6
FAIRNESS_SCORE_MALE = 0.15
FAIRNESS_SCORE_OFFSET = -1.6
"""score = logistic(N(0, 1) + 1.6 y + 0.15 [male] - 1.6): informative (AUC about 0.87, the normal
shift's Phi(1.6 / sqrt 2)) and a little kinder to men at the same outcome."""

FAIRNESS_GROUP_SETS: tuple[tuple[str, ...], ...] = (("gender",), ("age_band",), ("gender", "age_band"))
"""The attribute sets audit_frame reports for groups=["gender", "age_band"]: each, then the intersection."""

FAIRNESS_REPEATS = 3
"""Runs of the audit, of MetricFrame and of the floor, interleaved in one process."""

FAIRNESS_FAIRLEARN_REPEATS = 1
"""MetricFrame runs in the first round only: about 65 s a run at 1,000,000 rows, against the audit's 1 s."""

FAIRNESS_BOOT_REPLICATES = 0
"""MetricFrame's own bootstrap (``n_boot``), timed once with this many replicates and extrapolated;
0 skips it. Each replicate recomputes every metric on a resample of the million rows (96 s when it
was measured with 2), and Tailor's intervals are closed-form, so the default run leaves it out."""

FAIRNESS_BOOT_TARGET = 2000
"""Replicates of a percentile bootstrap's 95% intervals (Efron & Tibshirani's usual 1,000-2,000): what
MetricFrame's bootstrap would need, extrapolated from ``FAIRNESS_BOOT_REPLICATES``."""

FAIRNESS_TOLERANCE = 1e-9

FAIRNESS_METRICS = {
    "selection_rate": "selection_rate",
    "true_positive_rate": "true_positive_rate",
    "false_positive_rate": "false_positive_rate",
    "precision": "precision",
    "accuracy": "accuracy",
    "auc": "roc_auc",
}
"""Tailor's per-group column -> the name of the same metric in the MetricFrame."""


def _fairness_predictions(rows: int, seed: int):
    """Synthetic predictions of one model (numpy, seeded, into polars): outcome, score, gender, age band."""
    import numpy as np
    import polars as pl

    from analytics.common.types import AGE_BANDS

    rng = np.random.default_rng(seed)
    gender = rng.choice(len(FAIRNESS_GENDERS), rows, p=FAIRNESS_GENDER_SHARES)
    age = rng.choice(len(AGE_BANDS), rows, p=FAIRNESS_AGE_SHARES)
    gender_logit, age_logit = np.asarray(FAIRNESS_GENDER_LOGIT), np.asarray(FAIRNESS_AGE_LOGIT)
    logit = FAIRNESS_OUTCOME_LOGIT + gender_logit[gender] + age_logit[age]
    y = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int8)
    latent = (
        rng.normal(0.0, 1.0, rows)
        + FAIRNESS_SCORE_SIGNAL * y
        + FAIRNESS_SCORE_MALE * (gender == FAIRNESS_GENDERS.index("male"))
        + FAIRNESS_SCORE_OFFSET
    )
    return pl.DataFrame(
        [
            pl.Series("y_true", y),
            pl.Series("score", 1.0 / (1.0 + np.exp(-latent))),
            pl.Series("gender", FAIRNESS_GENDERS, dtype=pl.String).gather(gender),
            pl.Series("age_band", AGE_BANDS, dtype=pl.String).gather(age),
        ]
    )


def _fairness_audit(frame):
    """Tailor's audit as the CLI and the upload page call it: gender, age band and their intersection."""
    from analytics.fairness import audits as fairness_audit

    return fairness_audit.audit_frame(
        frame,
        y_true="y_true",
        score="score",
        threshold=FAIRNESS_THRESHOLD,
        groups=["gender", "age_band"],
        source="bench predictions",
    )


def _fairlearn_metrics() -> dict:
    """The audit's per-group metrics as MetricFrame metrics (AUC reads the score through sample_params)."""
    from fairlearn.metrics import false_positive_rate, selection_rate, true_positive_rate
    from sklearn.metrics import accuracy_score, precision_score, roc_auc_score

    def precision(y_true, y_pred):
        return precision_score(y_true, y_pred, zero_division=0)

    def roc_auc(y_true, y_pred, score):
        return roc_auc_score(y_true, score)

    return {
        "selection_rate": selection_rate,
        "true_positive_rate": true_positive_rate,
        "false_positive_rate": false_positive_rate,
        "precision": precision,
        "accuracy": accuracy_score,
        "roc_auc": roc_auc,
    }


def _fairlearn_audit(y, score, sensitive, **bootstrap) -> dict:
    """The same metrics and disparities through fairlearn's MetricFrame, for each attribute set.

    The disparities come from each MetricFrame's ``difference()`` and ``ratio()`` (between groups),
    which is how ``demographic_parity_difference`` and the other three functions define them;
    calling those functions would build two more MetricFrames per set over the same rows.
    With ``n_boot`` and ``ci_quantiles`` in ``bootstrap``, MetricFrame's own bootstrap intervals
    of every metric, difference and ratio are computed too.
    """
    import numpy as np
    from fairlearn.metrics import MetricFrame

    y_pred = (score >= FAIRNESS_THRESHOLD).astype(np.int64)
    out = {}
    for attrs in FAIRNESS_GROUP_SETS:
        frame = MetricFrame(
            metrics=_fairlearn_metrics(),
            y_true=y,
            y_pred=y_pred,
            sensitive_features=sensitive[list(attrs)],
            sample_params={"roc_auc": {"score": score}},
            **bootstrap,
        )
        difference, ratio = frame.difference(), frame.ratio()
        if bootstrap:
            frame.difference_ci(), frame.ratio_ci()
        out[attrs] = (frame.by_group, difference, ratio)
    return out


def _fairness_floor(frame):
    """The floor: one polars group_by of the four confusion counts over the intersection."""
    import polars as pl

    y, p = pl.col("y_true") == 1, pl.col("score") >= FAIRNESS_THRESHOLD
    return frame.group_by("gender", "age_band").agg(
        (y & p).sum().alias("tp"),
        (~y & p).sum().alias("fp"),
        (~y & ~p).sum().alias("tn"),
        (y & ~p).sum().alias("fn"),
        pl.len().alias("n"),
    )


def _fairness_agreement(audit, reference: dict, floor) -> dict:
    """Every per-group metric and disparity of the audit against MetricFrame's, and the intersection's
    rates against the floor's counts: values compared, the largest difference and every mismatch."""
    import math

    found = {"fairlearn": 0, "floor": 0}
    worst = 0.0
    problems: list[str] = []

    def check(source: str, what: str, ours, theirs) -> None:
        nonlocal worst
        found[source] += 1
        theirs = None if theirs is None else float(theirs)
        usable = ours is not None and theirs is not None and math.isfinite(theirs)
        if not usable or abs(ours - theirs) > FAIRNESS_TOLERANCE:
            problems.append(f"{what}: Tailor {ours!r}, {source} {theirs!r}")
        else:
            worst = max(worst, abs(ours - theirs))

    for attrs, attribute in zip(FAIRNESS_GROUP_SETS, audit.attributes, strict=True):
        by_group, difference, ratio = reference[attrs]
        labels = [" · ".join(map(str, k)) if isinstance(k, tuple) else str(k) for k in by_group.index]
        theirs = dict(zip(labels, by_group.to_dict("records"), strict=True))
        ours = {row["group"]: row for row in attribute.metrics.iter_rows(named=True)}
        if sorted(ours) != sorted(theirs):
            problems.append(f"{attribute.attribute}: groups {sorted(ours)} vs MetricFrame's {sorted(theirs)}")
            continue
        name = attribute.attribute
        for group, row in ours.items():
            for column, metric in FAIRNESS_METRICS.items():
                check("fairlearn", f"{name} {group} {column}", row[column], theirs[group][metric])
        pairs = (
            ("demographic_parity_difference", difference["selection_rate"]),
            ("demographic_parity_ratio", ratio["selection_rate"]),
            (
                "equalized_odds_difference",
                max(difference["true_positive_rate"], difference["false_positive_rate"]),
            ),
            ("equalized_odds_ratio", min(ratio["true_positive_rate"], ratio["false_positive_rate"])),
        )
        for disparity, value in pairs:
            check("fairlearn", f"{name} {disparity}", attribute.disparity(disparity).value, value)
    intersection = {row["group"]: row for row in audit.attributes[-1].metrics.iter_rows(named=True)}
    for r in floor.iter_rows(named=True):
        group = f"{r['gender']} · {r['age_band']}"
        row = intersection.get(group)
        if row is None:
            problems.append(f"intersection {group}: in the floor's counts, not in the audit")
            continue
        tp, fp, tn, fn, n = r["tp"], r["fp"], r["tn"], r["fn"], r["n"]
        expected = {
            "n": n,
            "selection_rate": (tp + fp) / n,
            "true_positive_rate": tp / (tp + fn),
            "false_positive_rate": fp / (fp + tn),
            "precision": tp / (tp + fp),
            "accuracy": (tp + tn) / n,
        }
        for column, value in expected.items():
            check("floor", f"intersection {group} {column}", row[column], value)
    return {
        "fairlearn_values": found["fairlearn"],
        "floor_values": found["floor"],
        "max_difference": worst,
        "mismatches": problems,
    }


def _fairlearn_bootstrap(y, score, sensitive) -> dict[str, Any]:
    """MetricFrame with its own bootstrap intervals, timed once (or why it failed)."""
    try:
        s = time.perf_counter()
        _fairlearn_audit(
            y, score, sensitive, n_boot=FAIRNESS_BOOT_REPLICATES, ci_quantiles=[0.025, 0.975], random_state=0
        )
        return {"seconds": time.perf_counter() - s}
    except Exception as exc:  # an extra line of the report: its failure becomes a note, not a failed task
        return {"note": f"MetricFrame's bootstrap failed: {type(exc).__name__}: {exc}"}


def task_fairness(args: argparse.Namespace) -> dict:
    """The fairness audit of a million predictions against fairlearn's MetricFrame and a polars floor.

    Builds ``--rows`` synthetic predictions (seeded), then, ``FAIRNESS_REPEATS`` times in turn:
    ``audit_frame`` (every metric with Wilson intervals, the disparities with their intervals, AUC
    and calibration per group, for gender, age band and their intersection; its steps timed by
    :class:`_Stopwatch`), MetricFrame with the same metrics and disparities but no interval, and
    the floor. The first audit is the process's first call. Then the audit's every per-group
    metric and disparity must equal MetricFrame's within ``FAIRNESS_TOLERANCE``, and the
    intersection's rates the floor's counts: the task fails (exit 1) on any difference. Last,
    MetricFrame with its own bootstrap (``n_boot=FAIRNESS_BOOT_REPLICATES``), timed once.
    """
    t0 = time.perf_counter()
    import fairlearn
    import polars as pl  # noqa: F401 - imported before the clock starts
    import sklearn.metrics  # noqa: F401
    from fairlearn.metrics import MetricFrame  # noqa: F401

    from analytics.fairness import metrics as fairness

    imported = time.perf_counter()
    rss_imports = _peak_rss_mb()
    s = time.perf_counter()
    frame = _fairness_predictions(args.rows, args.seed)
    generated = time.perf_counter() - s
    # MetricFrame's inputs: numpy arrays and a pandas frame of the attributes (converted once, apart).
    s = time.perf_counter()
    y, score = frame.get_column("y_true").to_numpy(), frame.get_column("score").to_numpy()
    sensitive = frame.select("gender", "age_band").to_pandas()
    converted = time.perf_counter() - s
    watch = _Stopwatch()
    for name, label in (
        ("group_counts", "confusion counts (polars group_by)"),
        ("score_quality", "AUC and calibration (scikit-learn per group)"),
        ("group_metrics", "rates with Wilson intervals"),
        ("disparities", "disparities with intervals"),
    ):
        watch.wrap(fairness, name, label)
    runs: dict[str, list[float]] = {"audit": [], "fairlearn": [], "floor": []}
    steps: list[dict[str, float]] = []
    rss_after_audit = 0.0
    for i in range(FAIRNESS_REPEATS):
        before = dict(watch.seconds)
        s = time.perf_counter()
        audit = _fairness_audit(frame)
        runs["audit"].append(time.perf_counter() - s)
        run_steps = {label: seconds - before.get(label, 0.0) for label, seconds in watch.seconds.items()}
        run_steps["other (validation, decisions, hash)"] = runs["audit"][-1] - sum(run_steps.values())
        steps.append(run_steps)
        if i == 0:
            rss_after_audit = _peak_rss_mb()
        if i < FAIRNESS_FAIRLEARN_REPEATS:
            s = time.perf_counter()
            reference = _fairlearn_audit(y, score, sensitive)
            runs["fairlearn"].append(time.perf_counter() - s)
        s = time.perf_counter()
        floor = _fairness_floor(frame)
        runs["floor"].append(time.perf_counter() - s)
    peak = _peak_rss_mb()
    agreement = _fairness_agreement(audit, reference, floor)
    if agreement["mismatches"]:
        # One line, so that bench.run's note (the last line of the error) says it all.
        shown = "; ".join(agreement["mismatches"][:5])
        raise RuntimeError(
            f"audit_frame and MetricFrame (or the floor) disagree on {len(agreement['mismatches'])} "
            f"values beyond {FAIRNESS_TOLERANCE:g}, e.g. {shown}"
        )
    boot: dict[str, Any] = {"replicates": FAIRNESS_BOOT_REPLICATES}
    if not FAIRNESS_BOOT_REPLICATES:
        boot["note"] = (
            "not measured (FAIRNESS_BOOT_REPLICATES = 0 in bench/tasks.py): one replicate recomputes every "
            "metric on a resample of all the rows, about 96 s at 1,000,000 rows when it was measured"
        )
    else:
        boot |= _fairlearn_bootstrap(y, score, sensitive)
    disparities = [d for a in audit.attributes for d in a.disparities]
    return {
        "import_seconds": imported - t0,
        "rows": frame.height,
        "seed": args.seed,
        "generate_seconds": generated,
        "pandas_conversion_seconds": converted,
        "threshold": FAIRNESS_THRESHOLD,
        "positive_share": float(y.mean()),
        "selected_share": float((score >= FAIRNESS_THRESHOLD).mean()),
        "groups": {a.attribute: a.metrics.height for a in audit.attributes},
        "smallest_group": int(audit.attributes[-1].metrics.get_column("n").min()),
        "interval_methods": sorted({d.method for d in disparities if d.method}),
        "disparities": len(disparities),
        "disparities_with_interval": sum(d.low is not None and d.high is not None for d in disparities),
        "verdict": audit.verdict,
        "seconds": statistics.median(runs["audit"]),
        "first_seconds": runs["audit"][0],
        "runs": runs["audit"],
        "steps": {label: statistics.median(s[label] for s in steps) for label in steps[0]},
        "fairlearn_seconds": statistics.median(runs["fairlearn"]),
        "fairlearn_runs": runs["fairlearn"],
        "floor_seconds": statistics.median(runs["floor"]),
        "floor_runs": runs["floor"],
        "agree": True,
        **agreement,
        "bootstrap": boot,
        "fairlearn_version": fairlearn.__version__,
        "rss_after_imports_mb": rss_imports,
        "rss_after_first_audit_mb": rss_after_audit,
        "peak_rss_mb": peak,
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
    "features": task_features,
    "kmeans": task_kmeans,
    "umap": task_umap,
    "segments_page": task_segments_page,
    "model_train": task_model_train,
    "model_fit_floor": task_model_fit_floor,
    "model_shap": task_model_shap,
    "model_customer": task_model_customer,
    "models_page": task_models_page,
    "abtest_generate": task_abtest_generate,
    "abtest_cold": task_abtest_cold,
    "abtest_floor": task_abtest_floor,
    "abtest_page": task_abtest_page,
    "fairness": task_fairness,
}

NO_DB_TASKS = frozenset({"fairness"})
"""Tasks that build their own data and read no bank."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tasks")
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("--db", help="the bank (every task but those of NO_DB_TASKS)")
    parser.add_argument("--truth")
    parser.add_argument("--customers", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--start")
    parser.add_argument("--end")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--work", help="folder of the Models tasks' copy of the bank")
    parser.add_argument("--model-id", help="the model the Models tasks read")
    parser.add_argument("--rows", type=int, default=FAIRNESS_ROWS, help="predictions of the fairness task")
    args = parser.parse_args(argv)
    if args.db is None and args.task not in NO_DB_TASKS:
        parser.error(f"the task {args.task} needs --db")
    result = TASKS[args.task](args)
    sys.stdout.write(json.dumps(result, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
