"""Benchmark of the executive KPIs, the KPIs, Segments, Models and A/B tests pages, and the fairness audit.

Run with ``python -m bench.run`` (``make bench``).

Builds the sample bank at each tier with ``sample_data.build_sample_database`` into
bench/data/ (reused when already built by the same generator, schema and rollup code,
as tests/conftest.py does), then measures, each in a fresh process (bench.tasks):

- generation of the tier;
- ``compute_executive_summary`` cold (new interpreter, new connection, nothing cached),
  then warm and after a filter change in the same process;
- the plain pandas implementation (bench.pandas_baseline): loading the raw tables,
  reported apart, then computing the same numbers, checked against ours to 1e-6;
- the floor: one DuckDB pass over all transactions (monthly actives and spend);
- a filter change on the executive page through Streamlit's AppTest, when the app exists;
- the KPIs page's cohort matrix against one pass over ``customer_month``, and the
  predictive CLV fit on the bank's transactions (BG/NBD + Gamma-Gamma, both fits);
- the Segments page: the customer features table built cold, k-means on the default
  feature set, the UMAP map (fitted on a 50,000 sample, the rest transformed) and a
  rerun of the page with that map stored (AppTest);
- the Models page, on tier M only, on a copy of the bank: churn model training end to end
  (``train_and_register``) against a bare HistGradientBoostingClassifier fit on the same
  matrix, the stored SHAP sample (``store_explanations``) against ``TreeExplainer`` on the
  same rows, one customer's explanation, and reruns of three of the page's sections (AppTest);
- the A/B tests page, on a bank of its own (built once into bench/data, reused while its code
  fingerprint holds): one experiment with 1,000,000 assigned customers and 10,000,000 metric
  events (8M debit transactions, 1M sessions, 1M campaign offers); the read-out cold as the
  page's cached call computes it (``app.resources.experiment_readout``: load, aggregation with
  the sequential looks, read-out, sequential series), the aggregation alone, its floor (one
  DuckDB pass over the transactions), and the page's first run and cached reruns (AppTest);
- the fairness audit, on 1,000,000 synthetic predictions built in its process (no bank):
  ``analytics.fairness.audits.audit_frame`` by gender, age band and their intersection, with every
  interval, against fairlearn's ``MetricFrame`` with the same metrics (no interval; its own
  bootstrap timed once and extrapolated) and a polars floor, in turns; the audit's per-group
  metrics and disparities must equal MetricFrame's to 1e-9.

A complete run (both tiers, the pages, the A/B bank and the fairness audit included) writes
BENCHMARKS.md. A partial run, for development, writes only to the ``--out`` it is given, e.g. the
Models page's targets alone: ``python -m bench.run --only models --out /tmp/models-bench.md``, the
A/B tests page's: ``python -m bench.run --only abtest --out /tmp/abtest-bench.md``, or the fairness
audit's: ``python -m bench.run --only fairness --out /tmp/fair-bench.md``.

Thread counts are set on purpose: ``OMP_NUM_THREADS=1`` and DuckDB ``threads=2``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from sample_data import code_fingerprint

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "bench" / "data"
TIERS: dict[str, int] = {"S": 20_000, "M": 200_000}
SEED = 42
DUCKDB_THREADS = 2
OMP_THREADS = 1

TARGET_GENERATION_M_SECONDS = 180.0
TARGET_COLD_SECONDS = 1.0
TARGET_SPEEDUP_VS_PANDAS = 3.0
TARGET_MAX_FLOOR_RATIO = 2.0
TARGET_FILTER_CHANGE_SECONDS = 0.300
TARGET_CLV_M_SECONDS = 60.0
TARGET_COHORT_FLOOR_RATIO = 3.0
TARGET_FEATURES_M_SECONDS = 15.0
TARGET_KMEANS_M_SECONDS = 15.0
TARGET_UMAP_M_SECONDS = 240.0
TARGET_SEGMENTS_PAGE_SECONDS = 1.0
TARGET_MODEL_TRAIN_M_SECONDS = 90.0
TARGET_MODEL_SHAP_M_SECONDS = 60.0
TARGET_CUSTOMER_EXPLANATION_SECONDS = 0.300
TARGET_MODELS_PAGE_SECONDS = 1.0
TARGET_ABTEST_COLD_SECONDS = 3.0
TARGET_ABTEST_CACHED_SECONDS = 0.200
TARGET_FAIRNESS_SECONDS = 2.0
MODEL_TIERS = ("M",)
"""Tiers the Models page is measured on (its targets are set for M; training takes about a minute)."""
CLV_REPEATS = 3
SEGMENT_REPEATS = 3
CHECK_TOLERANCE = 1e-6


@dataclass
class TierResult:
    """Everything measured on one tier."""

    name: str
    customers: int
    path: Path
    generation: dict
    generation_reused: bool
    rows: dict = field(default_factory=dict)
    filters: tuple[str, str] = ("", "")
    summary: list[dict] = field(default_factory=list)
    pandas: list[dict] = field(default_factory=list)
    floor: list[dict] = field(default_factory=list)
    page: dict | None = None
    clv: list[dict] = field(default_factory=list)
    cohort: list[dict] = field(default_factory=list)
    cohort_floor: list[dict] = field(default_factory=list)
    features: list[dict] = field(default_factory=list)
    kmeans: list[dict] = field(default_factory=list)
    umap: dict | None = None
    segments_page: dict | None = None
    models: dict | None = None


def child_env() -> dict[str, str]:
    """Environment of every measured process: fixed thread counts, repo on the path."""
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(OMP_THREADS)
    env["TAILOR_DUCKDB_THREADS"] = str(DUCKDB_THREADS)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_task(task: str, *args: str, timeout: float = 1800) -> dict:
    """Run one bench.tasks measurement in a fresh interpreter and return its JSON."""
    command = [sys.executable, "-m", "bench.tasks", task, *args]
    done = subprocess.run(
        command, cwd=REPO_ROOT, env=child_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def ensure_tier(name: str, customers: int) -> tuple[Path, dict, bool]:
    """Build the tier's bank unless a bank of the same code exists; return path, stats, reused."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    stem = f"tier-{name}-{customers}-{SEED}-{code_fingerprint()}"
    db_path = DATA_DIR / f"{stem}.duckdb"
    truth_path = DATA_DIR / f"{stem}.truth.json"
    stats_path = DATA_DIR / f"{stem}.generation.json"
    if db_path.exists() and stats_path.exists():
        return db_path, json.loads(stats_path.read_text()), True
    for stale in DATA_DIR.glob(f"tier-{name}-{customers}-{SEED}-*"):
        stale.unlink()
    print(f"[bench] generating tier {name} ({customers:,} customers)...", file=sys.stderr, flush=True)
    stats = run_task(
        "generate",
        "--db",
        str(db_path),
        "--truth",
        str(truth_path),
        "--customers",
        str(customers),
        "--seed",
        str(SEED),
    )
    stats["built_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    stats_path.write_text(json.dumps(stats, indent=2))
    return db_path, stats, False


def default_period(path: Path) -> tuple[str, str]:
    """The executive page's default period on this bank (the last three full months)."""
    from analytics.kpis.cubes import default_filters
    from analytics.store.database import Database

    db = Database(path, read_only=True, threads=DUCKDB_THREADS)
    try:
        filters = default_filters(db.backend())
    finally:
        db.close()
    return filters.start_month.isoformat(), filters.end_month.isoformat()


def measure_page(path: Path) -> dict:
    """Server time of a filter change on the executive page (AppTest), once its data is cached."""
    if not (REPO_ROOT / "app" / "main.py").exists():
        return {"seconds": None, "note": "app/main.py does not exist yet"}
    try:
        return run_task("page", "--db", str(path))
    except RuntimeError as exc:
        return {"seconds": None, "note": "AppTest failed: " + str(exc).strip().splitlines()[-1]}


def measure_segments_page(path: Path) -> dict:
    """UMAP fitted and stored on a copy of the bank, then a rerun of the Segments page (AppTest)."""
    if not (REPO_ROOT / "pages" / "segments.py").exists():
        return {"seconds": None, "note": "pages/segments.py does not exist yet"}
    try:
        return run_task("segments_page", "--db", str(path))
    except RuntimeError as exc:
        return {"seconds": None, "note": "AppTest failed: " + str(exc).strip().splitlines()[-1]}


def _try_task(task: str, *args: str) -> dict:
    """:func:`run_task`, a failure turned into a note (the report says what did not run)."""
    try:
        return run_task(task, *args)
    except RuntimeError as exc:
        return {"note": f"{task} failed: " + (str(exc).strip().splitlines() or ["?"])[-1]}


def measure_models(path: Path, *, with_page: bool) -> dict:
    """The Models page's measurements, each in a fresh process, on one copy of the bank.

    ``model_train`` copies the bank into a temporary folder, trains and registers the churn
    model (the figure), then scores and explains it; the SHAP, customer and page tasks read
    that copy and its model. The folder is removed at the end.
    """
    started = time.perf_counter()
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="tailor-bench-models-") as work:
        print("[bench] Models page: churn model training on a copy", file=sys.stderr, flush=True)
        out["train"] = _try_task("model_train", "--db", str(path), "--work", work)
        out["fit_floor"] = _try_task("model_fit_floor", "--db", str(path))
        model_id = out["train"].get("model_id")
        if model_id is None:
            skipped = {"note": "no trained model: " + out["train"].get("note", "?")}
            out |= {"shap": skipped, "customer": skipped, "page": skipped if with_page else None}
        else:
            model = ("--db", out["train"]["bank"], "--model-id", model_id)
            print("[bench] Models page: SHAP sample, one customer, page", file=sys.stderr, flush=True)
            out["shap"] = _try_task("model_shap", *model)
            out["customer"] = _try_task("model_customer", *model)
            out["page"] = None
            if with_page:
                out["page"] = (
                    _try_task("models_page", *model)
                    if (REPO_ROOT / "pages" / "models.py").exists()
                    else {"note": "pages/models.py does not exist yet"}
                )
    out["wall_seconds"] = time.perf_counter() - started
    return out


def measure_models_only(name: str, customers: int, *, with_page: bool) -> TierResult:
    """A partial run's tier: the bank (built or reused), its sizes and the Models page's measurements."""
    path, generation, reused = ensure_tier(name, customers)
    result = TierResult(name, customers, path, generation, reused)
    result.rows = run_task("sizes", "--db", str(path))["rows"]
    result.models = measure_models(path, with_page=with_page)
    return result


def measure_tier(name: str, customers: int, *, repeats: int, with_page: bool) -> TierResult:
    """All measurements of one tier."""
    path, generation, reused = ensure_tier(name, customers)
    result = TierResult(name, customers, path, generation, reused)
    result.rows = run_task("sizes", "--db", str(path))["rows"]
    result.filters = default_period(path)
    period = ["--db", str(path), "--start", result.filters[0], "--end", result.filters[1]]
    for i in range(repeats):
        print(f"[bench] tier {name}: run {i + 1}/{repeats}", file=sys.stderr, flush=True)
        result.summary.append(run_task("summary", *period))
        result.floor.append(run_task("floor", *period))
        result.pandas.append(run_task("pandas", *period, *(["--check"] if i == 0 else [])))
        result.cohort.append(run_task("cohort", "--db", str(path)))
        result.cohort_floor.append(run_task("cohort_floor", "--db", str(path)))
        if i < CLV_REPEATS:
            result.clv.append(run_task("clv", "--db", str(path)))
        if i < SEGMENT_REPEATS:
            result.features.append(run_task("features", "--db", str(path)))
            result.kmeans.append(run_task("kmeans", "--db", str(path)))
    if with_page:
        result.page = measure_page(path)
    # UMAP is slow: one process per tier. With the page, that process fits and stores the map
    # the page then draws (the same UMAP figures, plus the page's rerun).
    print(
        f"[bench] tier {name}: UMAP map" + (" and Segments page" if with_page else ""),
        file=sys.stderr,
        flush=True,
    )
    if with_page:
        result.segments_page = measure_segments_page(path)
        result.umap = result.segments_page.pop("umap", None)
    if result.umap is None:
        result.umap = run_task("umap", "--db", str(path))
    if name in MODEL_TIERS:
        result.models = measure_models(path, with_page=with_page)
    return result


# -- the A/B tests page (issue 6) -------------------------------------------------------
def ensure_abtest_bank() -> tuple[Path, Path, dict, bool]:
    """Build the A/B test bank unless one of the same code exists; return path, truth, stats, reused."""
    from bench.tasks import ABTEST_CUSTOMERS, abtest_fingerprint

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    stem = f"abtest-{ABTEST_CUSTOMERS}-{SEED}-{abtest_fingerprint()}"
    db_path = DATA_DIR / f"{stem}.duckdb"
    truth_path = DATA_DIR / f"{stem}.truth.json"
    stats_path = DATA_DIR / f"{stem}.generation.json"
    if db_path.exists() and truth_path.exists() and stats_path.exists():
        return db_path, truth_path, json.loads(stats_path.read_text()), True
    for stale in DATA_DIR.glob(f"abtest-{ABTEST_CUSTOMERS}-{SEED}-*"):
        stale.unlink()
    print(
        f"[bench] building the A/B test bank ({ABTEST_CUSTOMERS:,} customers, one-off)...",
        file=sys.stderr,
        flush=True,
    )
    stats = run_task("abtest_generate", "--db", str(db_path), "--truth", str(truth_path), "--seed", str(SEED))
    stats["built_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    stats_path.write_text(json.dumps(stats, indent=2))
    return db_path, truth_path, stats, False


def measure_abtest(*, with_page: bool) -> dict:
    """The A/B tests page's measurements on its own bank, each in a fresh process.

    The read-out cold and its floor alternate, ``ABTEST_COLD_REPEATS`` processes each; then one
    process runs the page (first run, then the cached reruns). Failures become notes.
    """
    from bench.tasks import ABTEST_COLD_REPEATS

    started = time.perf_counter()
    try:
        path, truth, generation, reused = ensure_abtest_bank()
    except RuntimeError as exc:
        # The tiers measured before stay reported; the A/B targets then fail with this note.
        note = "building the A/B test bank failed: " + (str(exc).strip().splitlines() or ["?"])[-1]
        return {
            "note": note,
            "generation": None,
            "reused": False,
            "rows": {},
            "cold": [],
            "floor": [],
            "page": None,
            "build_wall_seconds": time.perf_counter() - started,
            "wall_seconds": 0.0,
        }
    built = time.perf_counter()
    out: dict = {"path": str(path), "generation": generation, "reused": reused}
    out["rows"] = run_task("sizes", "--db", str(path))["rows"]
    out["cold"], out["floor"] = [], []
    for i in range(ABTEST_COLD_REPEATS):
        print(f"[bench] A/B read-out: run {i + 1}/{ABTEST_COLD_REPEATS}", file=sys.stderr, flush=True)
        cold = _try_task("abtest_cold", "--db", str(path), "--truth", str(truth))
        if "seconds" not in cold:
            out["note"] = cold.get("note", "?")
            break
        out["cold"].append(cold)
        out["floor"].append(run_task("abtest_floor", "--db", str(path)))
    out["page"] = None
    if with_page:
        print("[bench] A/B tests page: first run and cached reruns", file=sys.stderr, flush=True)
        out["page"] = (
            _try_task("abtest_page", "--db", str(path))
            if (REPO_ROOT / "pages" / "ab_tests.py").exists()
            else {"note": "pages/ab_tests.py does not exist yet"}
        )
    out["build_wall_seconds"] = built - started
    out["wall_seconds"] = time.perf_counter() - built
    return out


# -- report -----------------------------------------------------------------------------
def machine() -> dict[str, str]:
    """CPU, cores, memory and library versions of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    versions = {}
    for package in (
        "duckdb",
        "ibis-framework",
        "polars",
        "pandas",
        "numpy",
        "pyarrow",
        "scipy",
        "statsmodels",
        "scikit-learn",
        "shap",
        "streamlit",
    ):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        **versions,
    }


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _spread(runs: list[dict], key: str) -> str:
    values = [r[key] for r in runs]
    return f"runs {min(values):.3f}-{max(values):.3f} s"


def _peak(runs: list[dict]) -> float:
    return max(r["peak_rss_mb"] for r in runs)


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def render(
    results: list[TierResult],
    *,
    repeats: int,
    elapsed: float,
    abtest: dict | None = None,
    fairness: dict | None = None,
) -> str:
    """BENCHMARKS.md."""
    m = machine()
    lines = [
        "# Benchmarks: executive KPIs, the KPIs, Segments, Models and A/B tests pages, the fairness audit",
        "",
        "Written by `python -m bench.run` (bench/run.py); do not edit by hand. See docs/kpis.md for what",
        "is computed and bench/pandas_baseline.py for the baseline.",
        "",
        "## Machine",
        "",
        *_machine_lines(m),
        "## Method",
        "",
        "- Every figure comes from a fresh Python process (bench/tasks.py); seconds are the median of "
        f"{repeats} such processes. *Cold* means new interpreter, new DuckDB connection to the file, "
        "nothing cached; "
        "module imports are timed apart and not included (among them the modules Ibis loads lazily on first "
        "use: its DuckDB backend, and its result converter, which imports pandas).",
        "- Peak memory is the peak resident set size of that process (`resource.getrusage(RUSAGE_SELF)."
        "ru_maxrss`, the largest of the runs): interpreter, imports and DuckDB's buffers included. The RSS "
        "right after the imports is shown beside it.",
        "- Period: the page's default, the last three full months (and the three before for the changes); "
        "the summary also computes the 12-month trend, the region / age-band / product breakdowns and "
        "movers.",
        "- *Warm* repeats the same call in the same process; *filter change* is a new region + product "
        "slice in a warm process (what the page pays when its cache misses), read from the KPI cubes; "
        "a filter on two products is built on the fly from `customer_month` (the span of the pair) and "
        "shown apart.",
        "- The pandas baseline reads the raw tables it needs into pandas first (load time reported apart, "
        "excluded from its compute time), then computes the same numbers with groupbys on the raw tables, "
        "never the rollup; its numbers are compared with ours value by value.",
        "- The floor is one DuckDB pass over every transaction: `" + _floor_sql() + "`.",
        "- KPIs page: the cohort matrix (`analytics.kpis.retention.compute_cohort_matrix`, every cohort, "
        "from the maintained `cohort_cube`) cold against its own floor, one DuckDB pass over the rollup "
        "it summarises: `"
        + _cohort_floor_sql()
        + "`; predictive CLV (`analytics.clv.store.compute_bank_clv`): the daily debit-spend query, "
        "the check fit (summary to 26 weeks before the snapshot, BG/NBD and Gamma-Gamma, the holdout "
        "table) and the "
        f"final fit (summary to the snapshot, both models, every customer's predictions); median of "
        f"{CLV_REPEATS} processes; the write to the database is not included.",
        "- Segments page, on the default feature set (`analytics.segments.features.DEFAULT_FEATURE_SET`): "
        "the "
        "customer features table (`analytics.kpis.rollups.build_customer_features` to the snapshot, "
        "materialized into polars) cold on a read-only connection; k-means "
        "(`analytics.segments.clustering.run_segmentation`, scaling included) with a fixed k = 6 after "
        "`load_features` (read time shown apart), and with k chosen from the evidence (k = 2-10, "
        f"silhouette, Davies-Bouldin, bootstrap stability) for information; median of {SEGMENT_REPEATS} "
        "processes each. UMAP (`analytics.segments.projections.fit_umap_map` with the stored parameters of "
        '`map_params("umap")`, seeded, so on one thread): one process per tier; `import umap` and a '
        "warm-up fit (6,000 rows, 5,000 fitted, numba's compilation) are timed apart, then the fit on a "
        "50,000 sample and the transform of the rest, as `fit_and_store_map` times it (the store shown "
        "apart). That map is stored in a copy of the bank; the Segments page (`pages/segments.py`, as a "
        "marketing analyst, defaults: k-means, k from the evidence) is run once through AppTest to fill "
        "its caches, then rerun three times: the figure is the median rerun's server time; the run "
        "checks that the page raised nothing and drew the stored map as a WebGL scatter (`scattergl`).",
        _models_method(),
        *([_abtest_method()] if abtest is not None else []),
        *([_fairness_method()] if fairness is not None else []),
        _SHARED_MACHINE_NOTE,
        "",
    ]
    for r in results:
        rows = r.rows
        lines += [
            f"## Tier {r.name}: {r.customers:,} customers",
            "",
            f"{rows.get('transactions', 0):,} transactions, "
            f"{rows.get('digital_events', 0):,} digital events, "
            f"{rows.get('offers', 0):,} offers, {rows.get('surveys', 0):,} survey answers, "
            f"{rows.get('holdings', 0):,} holdings; `customer_month` {rows.get('customer_month', 0):,} rows, "
            f"`kpi_cube` {rows.get('kpi_cube', 0):,}, "
            f"`kpi_cube_product` {rows.get('kpi_cube_product', 0):,}. "
            f"Period {r.filters[0][:7]} to {r.filters[1][:7]}.",
            "",
            "| measurement | seconds | peak RSS (MiB) | notes |",
            "|---|---:|---:|---|",
        ]
        gen = r.generation
        note = (
            f"reused: bank built {gen.get('built_at', '?')} by the same code"
            if r.generation_reused
            else "built in this run"
        )
        lines.append(
            f"| generation (`build_sample_database`, rollup included) | {gen['seconds']:.1f} | "
            f"{gen['peak_rss_mb']:,.0f} | {note}; one run |"
        )
        s = r.summary
        lines += [
            "| executive KPIs, cold (`compute_executive_summary`) | "
            f"{_median(s, 'seconds'):.3f} | {_peak(s):,.0f} "
            f"| {_spread(s, 'seconds')}; imports {_median(s, 'import_seconds'):.2f} s not included; "
            "RSS after imports "
            f"{_median(s, 'rss_after_imports_mb'):,.0f} MiB |",
            f"| executive KPIs, warm | {_median(s, 'warm_seconds'):.3f} | | same process, median of 5 |",
            "| executive KPIs, filter change (region + product) | "
            f"{_median(s, 'filter_change_seconds'):.3f} | | "
            "warm process, median of 5 slices |",
            "| executive KPIs, filter change (two products, on the fly) | "
            f"{_median(s, 'two_products_seconds'):.3f} | | "
            "warm process, median of 3 pairs; customer-months in the span of either product, "
            "from customer_month |",
        ]
        p = r.pandas
        check = next((run for run in p if "checked_values" in run), None)
        check_note = (
            "numbers not checked"
            if check is None
            else (
                f"{check['checked_values']:,} values equal to ours within {CHECK_TOLERANCE:g} "
                f"(largest relative difference {check['max_relative_difference']:.1e})"
                if not check["mismatches"]
                else f"MISMATCH: {len(check['mismatches'])} values differ, e.g. {check['mismatches'][0]}"
            )
        )
        lines += [
            f"| pandas baseline: load raw tables | {_median(p, 'load_seconds'):.3f} | "
            f"{statistics.median(x['rss_after_load_mb'] for x in p):,.0f} | "
            "RSS after loading; not in the compute time |",
            f"| pandas baseline: compute | {_median(p, 'seconds'):.3f} | {_peak(p):,.0f} | "
            f"{_spread(p, 'seconds')}; {check_note} |",
            f"| floor: one DuckDB pass over all transactions, cold | {_median(r.floor, 'seconds'):.3f} | "
            f"{_peak(r.floor):,.0f} | {_spread(r.floor, 'seconds')}; "
            f"warm {_median(r.floor, 'warm_seconds'):.3f} s |",
        ]
        if r.cohort:
            lines += [
                f"| KPIs page: cohort matrix, cold | {_median(r.cohort, 'seconds'):.3f} | "
                f"{_peak(r.cohort):,.0f} | "
                f"{_spread(r.cohort, 'seconds')}; warm {_median(r.cohort, 'warm_seconds'):.3f} s; "
                f"{r.cohort[0]['cells']} cells |",
                f"| cohort floor: one DuckDB pass over `customer_month`, cold | "
                f"{_median(r.cohort_floor, 'seconds'):.3f} | {_peak(r.cohort_floor):,.0f} | "
                f"{_spread(r.cohort_floor, 'seconds')}; "
                f"warm {_median(r.cohort_floor, 'warm_seconds'):.3f} s |",
            ]
        if r.clv:
            c = r.clv
            lines.append(
                f"| KPIs page: predictive CLV fit (both fits, {c[0]['customers']:,} customers) | "
                f"{_median(c, 'seconds'):.1f} | {_peak(c):,.0f} | {_spread(c, 'seconds')}; spend query "
                f"{_median(c, 'log_seconds'):.1f} s, check fit {_median(c, 'check_fit_seconds'):.1f} s, "
                f"final fit {_median(c, 'final_fit_seconds'):.1f} s |"
            )
        if r.features:
            f = r.features
            lines.append(
                f"| Segments page: customer features table, cold ({f[0]['customers']:,} customers, "
                f"{f[0]['columns']} columns) | {_median(f, 'seconds'):.3f} | {_peak(f):,.0f} | "
                f"{_spread(f, 'seconds')}; imports {_median(f, 'import_seconds'):.2f} s not included |"
            )
        if r.kmeans:
            km = r.kmeans
            lines += [
                f"| Segments page: k-means, k = {km[0]['k']} ({km[0]['customers']:,} consented customers, "
                f"{km[0]['features']} features) | {_median(km, 'seconds'):.3f} | {_peak(km):,.0f} | "
                f"{_spread(km, 'seconds')}; `load_features` {_median(km, 'load_seconds'):.3f} s before it; "
                f"imports {_median(km, 'import_seconds'):.2f} s not included |",
                f"| Segments page: k-means, k from the evidence (k = {km[0]['k_from_evidence']}) | "
                f"{_median(km, 'evidence_seconds'):.3f} | | same process; evidence for k = 2-10 and the "
                "final fit |",
            ]
        if r.umap is not None:
            u = r.umap
            store = f"; stored in {u['store_seconds']:.1f} s" if "store_seconds" in u else ""
            what = (
                f"fit on a {u['sample_size']:,} sample + transform of {u['customers'] - u['sample_size']:,}"
                if u["customers"] > u["sample_size"]
                else f"fit on all {u['customers']:,} (fewer than the sample size, nothing transformed)"
            )
            lines.append(
                f"| Segments page: UMAP map, {what} | {u['seconds']:.1f} | {u['peak_rss_mb']:,.0f} | "
                f"one run; before it: `import umap` {u['umap_import_seconds']:.1f} s, warm-up fit "
                f"(numba compilation) {u['compile_seconds']:.1f} s, scaled matrix "
                f"{u['matrix_seconds']:.2f} s{store} |"
            )
        if r.segments_page is not None:
            sp = r.segments_page
            if sp.get("seconds") is not None:
                lines.append(
                    f"| Segments page, rerun with the stored map (AppTest server time) | {sp['seconds']:.3f} "
                    f"| {sp['peak_rss_mb']:,.0f} | {sp.get('note', '')} |"
                )
            else:
                lines.append(f"| Segments page, rerun with the stored map | n/a | | {sp.get('note', '')} |")
        if r.page is not None:
            if r.page.get("seconds") is not None:
                lines.append(
                    "| executive page, filter change once cached (AppTest server time) | "
                    f"{r.page['seconds']:.3f} "
                    f"| | {r.page.get('note', '')} |"
                )
            else:
                lines.append(
                    f"| executive page, filter change once cached | n/a | | {r.page.get('note', '')} |"
                )
        lines += _models_table_rows(r)
        lines.append("")
    if abtest is not None:
        lines += [*_abtest_table_lines(abtest), ""]
    if fairness is not None:
        lines += [*_fairness_table_lines(fairness), ""]

    lines += ["## Targets", "", "| target | measured | result |", "|---|---|---|"]
    verdicts = []
    for r in results:
        cold = _median(r.summary, "seconds")
        pandas_s = _median(r.pandas, "seconds")
        floor = _median(r.floor, "seconds")
        check = next((run for run in r.pandas if "checked_values" in run), None)
        rows = []
        if r.name == "M":
            rows.append(
                (
                    f"tier M generated in < {TARGET_GENERATION_M_SECONDS / 60:.0f} min",
                    f"{r.generation['seconds']:.1f} s",
                    r.generation["seconds"] < TARGET_GENERATION_M_SECONDS,
                )
            )
            rows.append(
                (
                    f"executive KPIs on M < {TARGET_COLD_SECONDS:g} s cold",
                    f"{cold:.3f} s",
                    cold < TARGET_COLD_SECONDS,
                )
            )
        speedup = pandas_s / cold
        ratio = cold / floor
        # The speed targets are set for tier M; on S the same ratios are shown for information.
        judged = r.name == "M"
        rows += [
            (
                f"tier {r.name}: >= {TARGET_SPEEDUP_VS_PANDAS:g}x faster than pandas (compute only)",
                f"{speedup:.1f}x ({pandas_s:.3f} s vs {cold:.3f} s)",
                speedup >= TARGET_SPEEDUP_VS_PANDAS if judged else None,
            ),
            (
                f"tier {r.name}: <= {TARGET_MAX_FLOOR_RATIO:g}x the floor (cold vs cold)",
                f"{ratio:.2f}x ({cold:.3f} s vs {floor:.3f} s)",
                ratio <= TARGET_MAX_FLOOR_RATIO if judged else None,
            ),
        ]
        if r.cohort:
            cohort_ratio = _median(r.cohort, "seconds") / _median(r.cohort_floor, "seconds")
            rows.append(
                (
                    f"tier {r.name}: cohort matrix <= {TARGET_COHORT_FLOOR_RATIO:g}x its floor "
                    "(cold vs cold)",
                    f"{cohort_ratio:.2f}x ({_median(r.cohort, 'seconds'):.3f} s vs "
                    f"{_median(r.cohort_floor, 'seconds'):.3f} s); warm "
                    f"{_median(r.cohort, 'warm_seconds') / _median(r.cohort_floor, 'warm_seconds'):.2f}x",
                    cohort_ratio <= TARGET_COHORT_FLOOR_RATIO if judged else None,
                )
            )
        if r.clv and r.name == "M":
            clv_seconds = _median(r.clv, "seconds")
            rows.append(
                (
                    f"predictive CLV fit on M < {TARGET_CLV_M_SECONDS:g} s, summary query included",
                    f"{clv_seconds:.1f} s",
                    clv_seconds < TARGET_CLV_M_SECONDS,
                )
            )
        if r.features and r.name == "M":
            features_seconds = _median(r.features, "seconds")
            rows.append(
                (
                    f"customer features table on M < {TARGET_FEATURES_M_SECONDS:g} s cold",
                    f"{features_seconds:.2f} s",
                    features_seconds < TARGET_FEATURES_M_SECONDS,
                )
            )
        if r.kmeans and r.name == "M":
            kmeans_seconds = _median(r.kmeans, "seconds")
            rows.append(
                (
                    f"k-means (k = {r.kmeans[0]['k']}) on M < {TARGET_KMEANS_M_SECONDS:g} s",
                    f"{kmeans_seconds:.2f} s (k from the evidence: "
                    f"{_median(r.kmeans, 'evidence_seconds'):.2f} s)",
                    kmeans_seconds < TARGET_KMEANS_M_SECONDS,
                )
            )
        if r.umap is not None and r.name == "M":
            u = r.umap
            with_compile = u["seconds"] + u["umap_import_seconds"] + u["compile_seconds"]
            rows.append(
                (
                    f"UMAP on M: fit on a {u['sample_size']:,} sample + transform of the rest < "
                    f"{TARGET_UMAP_M_SECONDS / 60:.0f} min",
                    f"{u['seconds']:.1f} s ({with_compile:.1f} s with the import and numba compilation)",
                    u["seconds"] < TARGET_UMAP_M_SECONDS,
                )
            )
        if r.segments_page is not None:
            sp = r.segments_page
            label = (
                f"tier {r.name}: Segments page rerun with a stored map < "
                f"{TARGET_SEGMENTS_PAGE_SECONDS:g} s server time"
            )
            if sp.get("seconds") is not None:
                drawn = sp.get("map_drawn") and sp.get("stored_map_drawn")
                rows.append(
                    (
                        label,
                        f"{sp['seconds']:.3f} s; "
                        + ("no exception, stored UMAP map drawn (scattergl)" if drawn else "map NOT drawn"),
                        (sp["seconds"] < TARGET_SEGMENTS_PAGE_SECONDS and bool(drawn)) if judged else None,
                    )
                )
            else:
                rows.append((label, f"not measured: {sp.get('note', '')}", False if judged else None))
        if check is not None:
            rows.append(
                (
                    f"tier {r.name}: pandas numbers equal ours to {CHECK_TOLERANCE:g}",
                    f"{check['checked_values']:,} values, {len(check['mismatches'])} differ",
                    not check["mismatches"],
                )
            )
        if r.page is not None and r.page.get("seconds") is not None:
            rows.append(
                (
                    f"tier {r.name}: filter change on the page < "
                    f"{TARGET_FILTER_CHANGE_SECONDS * 1000:.0f} ms server time once cached",
                    f"{r.page['seconds'] * 1000:.0f} ms for a selection not seen before (summary computed); "
                    f"{r.page['cached_seconds'] * 1000:.0f} ms back to a cached one",
                    r.page["seconds"] < TARGET_FILTER_CHANGE_SECONDS,
                )
            )
        elif r.page is not None:
            rows.append(
                (
                    f"tier {r.name}: filter change on the page < "
                    f"{TARGET_FILTER_CHANGE_SECONDS * 1000:.0f} ms",
                    f"not measured: {r.page.get('note', '')}",
                    None,
                )
            )
        rows += _models_target_rows(r)
        lines += _target_lines(rows, verdicts)
    if abtest is not None:
        lines += _target_lines(_abtest_target_rows(abtest), verdicts)
    if fairness is not None:
        lines += _target_lines(_fairness_target_rows(fairness), verdicts)
    lines += ["", f"Whole run: {elapsed / 60:.1f} min. Overall: {_verdict(all(verdicts))}.", ""]
    return "\n".join(lines)


_SHARED_MACHINE_NOTE = (
    "- These machines sometimes deliver about one core's work while reporting two; whole runs then "
    "take up to twice as long. Compare figures as ratios within one run; the spread of the runs is "
    "shown."
)


def _machine_lines(m: dict[str, str]) -> list[str]:
    """The report's machine table."""
    return [
        "| | |",
        "|---|---|",
        f"| date | {m['date']} |",
        f"| CPU | {m['cpu']} |",
        f"| cores | {m['cores']} |",
        f"| memory | {m['memory']} |",
        f"| OS | {m['os']} |",
        f"| Python | {m['python']} |",
        f"| duckdb / ibis / polars / pandas / numpy / pyarrow | {m['duckdb']} / {m['ibis-framework']} / "
        f"{m['polars']} / {m['pandas']} / {m['numpy']} / {m['pyarrow']} |",
        f"| scipy / statsmodels / scikit-learn / shap / streamlit | {m['scipy']} / {m['statsmodels']} / "
        f"{m['scikit-learn']} / {m['shap']} / {m['streamlit']} |",
        f"| threads | `OMP_NUM_THREADS={OMP_THREADS}`, DuckDB `threads={DUCKDB_THREADS}` "
        "(`TAILOR_DUCKDB_THREADS`); polars and pandas at their defaults |",
        "",
    ]


def _target_lines(rows: list[tuple[str, str, bool | None]], verdicts: list[bool]) -> list[str]:
    """Rows of the targets table; the judged verdicts are appended to ``verdicts``."""
    lines = []
    for label, measured, ok in rows:
        if ok is not None:
            verdicts.append(ok)
        result = (
            "info (target set for tier M)"
            if ok is None and "not measured" not in measured
            else ("n/a" if ok is None else _verdict(ok))
        )
        lines.append(f"| {label} | {measured} | {result} |")
    return lines


# -- the Models page ------------------------------------------------------------------------
def _models_method() -> str:
    from bench.tasks import CUSTOMER_CALLS, MODEL_PAGE_SECTIONS, MODEL_TARGET, PAGE_RERUNS, SHAP_ROWS

    return (
        f"- Models page, on tier {' and '.join(MODEL_TIERS)} only, on one copy of the bank per run (the "
        "registry writes tables and artifacts; the copy and its artifacts are removed afterwards). "
        f'Training: `analytics.models.registry.train_and_register(target="{MODEL_TARGET}")` end to end '
        "in a fresh process, one run: point-in-time features at the four cut-offs (three to train, "
        "validation, test), labels, the hash of the training rows, the HistGradientBoosting pipeline and "
        "the logistic baseline, Platt calibration, the importance table (SHAP on 1,000 test rows), PSI "
        "against the current customers, the artifact and the registry rows. Its phases are timed from "
        "its progress lines; inside, the time of each step is measured by wrapping the functions that "
        "do it (features, labels, hash, `SimpleImputer.fit`, the tree and logistic fits, the pipelines' "
        "remaining preprocessing, calibration, SHAP, PSI, registration), each call's time excluding the "
        "wrapped calls inside it, the rest shown as *other*. Its floor, in its own process: a bare "
        "`HistGradientBoostingClassifier` with the hyperparameters of `make_tree_pipeline` fitted on the "
        "same stacked training matrix (built first, not timed). The same process then scores every "
        "current customer and stores the SHAP sample (`publish_model`, shown apart): the model the "
        "next measurements read. Stored SHAP: `analytics.models.explanations.store_explanations` on "
        f"{SHAP_ROWS:,} customers (model loaded and checksummed, current features, exact tree SHAP of "
        "the calibrated score, linear SHAP of the baseline, the rows replaced in one transaction), cold, "
        "one run; its floor, after it in the same process: `shap.TreeExplainer(booster).shap_values(X)` "
        "on the same customers' imputed features, whose values are checked against the stored ones. "
        "One customer: `load_customer_features` + `explain_customer` with the model already loaded "
        f"(as the page caches it), for {CUSTOMER_CALLS + 1} random current customers in one process: "
        "the first call is the cold figure, the median of the others the warm one; each explanation "
        "is checked to add up to the logit of its score. Page: `pages/models.py` through AppTest as a "
        f"marketing analyst on the sections {', '.join(MODEL_PAGE_SECTIONS)} in turn (the customer "
        "section given a random current customer's masked id): each is run once to fill its caches, "
        f"then rerun {PAGE_RERUNS} times; the figure is the median rerun's server time, and the run "
        "checks that the page raised nothing and drew the section."
    )


def _note_row(label: str, part: dict | None) -> list[str]:
    return [] if part is None else [f"| {label} | n/a | | {part.get('note', 'not measured')} |"]


def _models_table_rows(r: TierResult) -> list[str]:
    """The Models page's rows of a tier's measurement table."""
    m = r.models
    if m is None:
        return []
    lines = []
    t = m["train"]
    if "seconds" in t:
        sizes = t["split_sizes"]
        calls = t["step_calls"]
        steps = ", ".join(
            f"{label} {seconds:.1f} s" + (f" ({calls[label]} calls)" if calls.get(label, 1) > 1 else "")
            for label, seconds in t["steps"].items()
        )
        lines += [
            f"| Models page: churn model training end to end (`train_and_register`: "
            f"{sizes['train_rows']:,} training rows, {t['features']} features; "
            f"{sizes['validation_rows']:,} validation, {sizes['test_rows']:,} test) | {t['seconds']:.1f} | "
            f"{t['peak_rss_mb']:,.0f} | one run; phases: features and training rows "
            f"{t['features_and_snapshot_seconds']:.1f} s, `train_model` {t['train_model_seconds']:.1f} s, "
            f"current features and PSI {t['psi_seconds']:.1f} s, registration {t['register_seconds']:.1f} s; "
            f"steps: {steps}; test AUC {t['auc']:.3f} (baseline {t['baseline_auc']:.3f}); imports "
            f"{t['import_seconds']:.1f} s not included |",
            f"| Models page: scoring {t['scored_customers']:,} current customers and storing the SHAP "
            f"sample (`publish_model`), after training | {t['publish_seconds']:.1f} | | same process; "
            "prepares the model the rows below read |",
        ]
    else:
        lines += _note_row("Models page: churn model training", t)
    f = m["fit_floor"]
    if "seconds" in f:
        lines.append(
            f"| training floor: bare `HistGradientBoostingClassifier` on the same stacked training matrix "
            f"({f['rows']:,} x {f['features']}, {f['iterations']} iterations) | {f['seconds']:.1f} | "
            f"{f['peak_rss_mb']:,.0f} | one run; the matrix built in {f['matrix_seconds']:.1f} s before "
            "it, not timed |"
        )
    else:
        lines += _note_row("training floor: bare HistGradientBoostingClassifier", f)
    sh = m["shap"]
    if "seconds" in sh:
        lines += [
            f"| Models page: stored global SHAP (`store_explanations`, {sh['rows']:,} customers, tree and "
            f"baseline, {sh['stored_values']:,} rows stored) | {sh['seconds']:.1f} | "
            f"{sh['peak_rss_mb']:,.0f} | one run; model, current features and sample "
            f"{sh['prepare_seconds']:.1f} s, tree SHAP "
            f"{sh['tree_seconds']:.1f} s, baseline SHAP {sh['baseline_seconds']:.1f} s, store "
            f"{sh['store_seconds']:.1f} s |",
            f"| SHAP floor: `shap.TreeExplainer(booster).shap_values(X)` on the same {sh['rows']:,} "
            f"customers | {sh['floor_seconds']:.1f} | | same process, after it; times Platt's slope, equal "
            f"to the stored values (largest difference {sh['floor_max_difference']:.1e}) |",
        ]
    else:
        lines += _note_row("Models page: stored global SHAP", sh)
    c = m["customer"]
    if "seconds" in c:
        lines.append(
            f"| Models page: one customer's explanation, model loaded (`load_customer_features` + "
            f"`explain_customer`), warm | {c['seconds']:.3f} | {c['peak_rss_mb']:,.0f} | median of "
            f"{c['customers']} customers (slowest {c['max_seconds']:.3f} s): row "
            f"{c['read_seconds'] * 1000:.0f} ms, explanation {c['explain_seconds'] * 1000:.0f} ms; cold "
            f"first call {c['cold_seconds']:.3f} s (row {c['cold_read_seconds'] * 1000:.0f} ms, explanation "
            f"{c['cold_explain_seconds'] * 1000:.0f} ms); loading the model before it "
            f"{c['load_model_seconds']:.2f} s, not included; base value + contributions = logit(score) "
            f"to {c['max_additivity_gap']:.0e} |"
        )
    else:
        lines += _note_row("Models page: one customer's explanation", c)
    page = m.get("page")
    if page is not None and "sections" in page:
        for section, v in page["sections"].items():
            if v.get("seconds") is None:
                lines += _note_row(f"Models page rerun, {section} section", v)
                continue
            lines.append(
                f"| Models page rerun, {section} section (AppTest server time) | {v['seconds']:.3f} | "
                f"{page['peak_rss_mb']:,.0f} | median of {page['reruns']} (runs {v['min_seconds']:.3f}-"
                f"{v['max_seconds']:.3f} s); first run {v['first_run_seconds']:.1f} s; {v['what']} |"
            )
    else:
        lines += _note_row("Models page rerun", page)
    lines.append(
        f"| Models page measurements above, wall time | {m['wall_seconds']:.0f} | | the copy of the bank, "
        "the processes' imports and checks included |"
    )
    return lines


def _models_target_rows(r: TierResult) -> list[tuple[str, str, bool | None]]:
    """The Models page's targets of a tier (set for tier M)."""
    m = r.models
    if m is None:
        return []
    judged = r.name == "M"
    rows: list[tuple[str, str, bool | None]] = []

    def missing(label: str, part: dict | None) -> None:
        note = "not run" if part is None else part.get("note", "?")
        rows.append((label, f"not measured: {note}", False if judged else None))

    t, f = m["train"], m["fit_floor"]
    label = f"tier {r.name}: churn model training end to end < {TARGET_MODEL_TRAIN_M_SECONDS:g} s"
    if "seconds" in t:
        floor = (
            f"; {t['seconds'] / f['seconds']:.1f}x a bare HistGradientBoosting fit on the same matrix "
            f"({f['seconds']:.1f} s)"
            if "seconds" in f
            else ""
        )
        ok = t["seconds"] < TARGET_MODEL_TRAIN_M_SECONDS
        rows.append((label, f"{t['seconds']:.1f} s{floor}", ok if judged else None))
    else:
        missing(label, t)
    sh = m["shap"]
    label = f"tier {r.name}: stored global SHAP on a 10,000 sample < {TARGET_MODEL_SHAP_M_SECONDS:g} s"
    if "seconds" in sh:
        measured = (
            f"{sh['seconds']:.1f} s; {sh['seconds'] / sh['floor_seconds']:.1f}x the TreeExplainer floor "
            f"({sh['floor_seconds']:.1f} s)"
        )
        rows.append((label, measured, sh["seconds"] < TARGET_MODEL_SHAP_M_SECONDS if judged else None))
    else:
        missing(label, sh)
    c = m["customer"]
    label = (
        f"tier {r.name}: one customer's explanation < {TARGET_CUSTOMER_EXPLANATION_SECONDS * 1000:.0f} ms "
        "(model loaded)"
    )
    if "seconds" in c:
        measured = (
            f"{c['seconds'] * 1000:.0f} ms warm, median of {c['customers']} (slowest "
            f"{c['max_seconds'] * 1000:.0f} ms); cold first call {c['cold_seconds'] * 1000:.0f} ms"
        )
        ok = c["seconds"] < TARGET_CUSTOMER_EXPLANATION_SECONDS
        rows.append((label, measured, ok if judged else None))
    else:
        missing(label, c)
    page = m.get("page")
    if page is not None:
        from bench.tasks import MODEL_PAGE_SECTIONS

        sections = page.get("sections", {})
        for section in MODEL_PAGE_SECTIONS:
            label = (
                f"tier {r.name}: Models page rerun, {section} section < {TARGET_MODELS_PAGE_SECONDS:g} s "
                "server time"
            )
            v = sections.get(section, page)
            if v.get("seconds") is None:
                missing(label, v)
                continue
            measured = f"{v['seconds']:.3f} s; " + (
                f"no exception, {v['what']}" if v["drawn"] else f"section NOT drawn: {v['what']}"
            )
            ok = v["seconds"] < TARGET_MODELS_PAGE_SECONDS and bool(v["drawn"])
            rows.append((label, measured, ok if judged else None))
    return rows


def render_partial(
    what: str,
    flag: str,
    method: str,
    sections: list[str],
    targets: list[tuple[str, str, bool | None]],
    *,
    elapsed: float,
) -> str:
    """The report of a partial run (``--only FLAG``) measuring one page's targets (never BENCHMARKS.md)."""
    verdicts: list[bool] = []
    lines = [
        f"# Benchmarks, partial run: {what} only",
        "",
        f"Written by `python -m bench.run --only {flag}` (bench/run.py). A partial run for development: "
        "`make bench` writes the complete BENCHMARKS.md.",
        "",
        "## Machine",
        "",
        *_machine_lines(machine()),
        "## Method",
        "",
        method,
        _SHARED_MACHINE_NOTE,
        "",
        *sections,
        "",
        "## Targets",
        "",
        "| target | measured | result |",
        "|---|---|---|",
        *_target_lines(targets, verdicts),
        "",
        f"Whole run: {elapsed / 60:.1f} min. Overall: {_verdict(all(verdicts))}.",
        "",
    ]
    return "\n".join(lines)


def _models_sections(results: list[TierResult]) -> list[str]:
    lines: list[str] = []
    for r in results:
        lines += [
            f"## Tier {r.name}: {r.customers:,} customers",
            "",
            "| measurement | seconds | peak RSS (MiB) | notes |",
            "|---|---:|---:|---|",
            *_models_table_rows(r),
            "",
        ]
    return lines


# -- the A/B tests page -----------------------------------------------------------------------
def _abtest_method() -> str:
    from bench.tasks import (
        ABTEST_COLD_REPEATS,
        ABTEST_CONVERSION,
        ABTEST_DAYS,
        ABTEST_ENROLMENT_DAYS,
        ABTEST_FLOOR_SQL,
        ABTEST_PAGE_RERUNS,
        ABTEST_REVENUE_LIFT,
    )

    return (
        "- A/B tests page, on a bank of its own (bench/tasks.py `_abtest_tables`, numpy with a fixed "
        "seed, loaded by `Database.load_dataset` with its checks and rollups; built once into bench/data "
        "under a fingerprint of its code and reused): 1,000,000 customers, one completed experiment "
        f"(control and treatment, 50/50 design, a campaign, {ABTEST_DAYS}-day window) with every customer "
        f"assigned during the first {ABTEST_ENROLMENT_DAYS} days, and 10,000,000 metric events: 8,000,000 "
        "debit transactions over the window and the pre-period of the same length (log-normal amounts "
        "times a log-normal customer scale; a Gamma spending rate per customer, shared by both periods), "
        "1,000,000 digital sessions (Gamma rates) and one campaign offer per customer, converted at "
        f"{ABTEST_CONVERSION['control']:.1%} in control and {ABTEST_CONVERSION['treatment']:.1%} in "
        f"treatment, whose window spend is also raised by {ABTEST_REVENUE_LIFT:.0%}. *Cold*: "
        "the work of `app.resources.experiment_readout` call for call, without Streamlit, in a new "
        "process on a new read-only connection (opening included): `load_experiment`, "
        "`aggregate_arms` (every metric per arm in one DuckDB aggregation), `read_out` on those sums "
        "(significance 0.05, CUPED on); the sequential chart's looks of the primary metric "
        "(`experiment_sequence`, aggregated when the chart asks for it) are timed apart; each step "
        f"timed; median of {ABTEST_COLD_REPEATS} processes; each process then repeats it once warm, "
        "and checks each arm's customers, conversions, window spend and sessions against the figures "
        "the generator computed from its arrays. Floor, in its own processes: one DuckDB pass over "
        f"the transactions through `Database.query`: `{ABTEST_FLOOR_SQL}`. Page: `pages/ab_tests.py` "
        "through AppTest on a copy of the bank, as a marketing analyst with the experiment selected; "
        "the first run fills the caches (the experiment list, the read-out and the segment breakdown "
        "by region; the analytics calls inside it timed by wrapping them); the figure is the median "
        f"of {ABTEST_PAGE_RERUNS} reruns' server time; the run checks that the page raised nothing, "
        "drew the decision line and the sequential chart, and that the reruns called no analytics."
    )


def _abtest_median_steps(runs: list[dict]) -> dict[str, float]:
    return {label: statistics.median(r["steps"][label] for r in runs) for label in runs[0]["steps"]}


def _abtest_table_lines(a: dict) -> list[str]:
    """The A/B tests page's section of the report: its bank and its measurement table."""
    from bench.tasks import ABTEST_CUSTOMERS

    rows, gen = a["rows"], a["generation"]
    events = rows.get("transactions", 0) + rows.get("digital_events", 0) + rows.get("offers", 0)
    lines = [
        f"## A/B tests page: one experiment, {ABTEST_CUSTOMERS:,} customers assigned",
        "",
        *(
            [
                f"{events:,} metric events: {rows.get('transactions', 0):,} debit transactions, "
                f"{rows.get('digital_events', 0):,} digital sessions, {rows.get('offers', 0):,} campaign "
                f"offers; {rows.get('assignments', 0):,} assignments; `customer_month` "
                f"{rows.get('customer_month', 0):,} rows.",
                "",
            ]
            if rows
            else []
        ),
        "| measurement | seconds | peak RSS (MiB) | notes |",
        "|---|---:|---:|---|",
    ]
    if gen is None:
        lines += _note_row("A/B test bank", a)
    else:
        note = (
            f"reused: bank built {gen.get('built_at', '?')} by the same code"
            if a["reused"]
            else "built in this run"
        )
        lines.append(
            f"| A/B test bank built, one-off (tables in numpy and polars {gen['generate_seconds']:.1f} s, "
            f"`Database.load_dataset` with its checks and rollups {gen['load_seconds']:.1f} s) | "
            f"{gen['seconds']:.1f} | {gen['peak_rss_mb']:,.0f} | {note}; {gen['file_mb']:,.0f} MiB file |"
        )
    c, f = a["cold"], a["floor"]
    if not c:
        lines.append(f"| A/B read-out, cold | n/a | | {a.get('note', 'not measured')} |")
    else:
        steps = ", ".join(f"{label} {seconds:.3f} s" for label, seconds in _abtest_median_steps(c).items())
        first = c[0]
        lines += [
            f"| A/B read-out, cold (`experiment_aggregates` + `experiment_readout`: "
            f"{first['aggregate_columns']} aggregate columns) | "
            f"{_median(c, 'seconds'):.3f} | {_peak(c):,.0f} | {_spread(c, 'seconds')}; steps (medians): "
            f"{steps}; imports {_median(c, 'import_seconds'):.2f} s not included; decision: "
            f"{first['decision']} |",
            f"| A/B aggregation alone, cold (`aggregate_arms`, in DuckDB) | "
            f"{_median(c, 'aggregation_seconds'):.3f} | | {_spread(c, 'aggregation_seconds')}; warm "
            f"{_median(c, 'warm_aggregation_seconds'):.3f} s |",
            f"| A/B sequential chart of the primary metric ({first['looks']} looks, "
            f"{first['series_rows']} points), on demand | {_median(c, 'sequence_seconds'):.3f} | | "
            "its own cached call, after the read-out |",
            f"| A/B read-out, warm | {_median(c, 'warm_seconds'):.3f} | | once more in each cold run's "
            f"process ({_spread(c, 'warm_seconds')}) |",
            f"| A/B floor: one DuckDB pass over the transactions, cold | {_median(f, 'seconds'):.3f} | "
            f"{_peak(f):,.0f} | {_spread(f, 'seconds')}; warm {_median(f, 'warm_seconds'):.3f} s; "
            f"{f[0]['transactions']:,} rows |",
        ]
    page = a.get("page")
    if page is not None and page.get("seconds") is not None:
        steps = ", ".join(f"{label} {seconds:.2f} s" for label, seconds in page["first_run_steps"].items())
        lines += [
            f"| A/B tests page, first run (fills the caches; AppTest server time) | "
            f"{page['first_run_seconds']:.2f} | {page['peak_rss_mb']:,.0f} | analytics calls: {steps}; "
            f"the rest (imports, the page, drawing) {page['first_run_other_seconds']:.2f} s |",
            "| A/B tests page, rerun with the read-out cached (AppTest server time) | "
            f"{page['seconds']:.3f} | | median of {page['reruns']} (runs {page['min_seconds']:.3f}-"
            f"{page['max_seconds']:.3f} s); {page['charts']} charts; analytics calls in the reruns: "
            f"{page['analytics_calls_in_reruns']} |",
        ]
    else:
        lines += _note_row("A/B tests page", page)
    lines.append(
        f"| A/B measurements above, wall time | {a['wall_seconds']:.0f} | | the processes' imports and "
        f"checks included; the bank's build or reuse check before them {a['build_wall_seconds']:.0f} s |"
    )
    return lines


def _abtest_target_rows(a: dict) -> list[tuple[str, str, bool | None]]:
    """The A/B tests page's targets."""
    from bench.tasks import ABTEST_CUSTOMERS, ABTEST_SESSIONS, ABTEST_TRANSACTIONS

    rows: list[tuple[str, str, bool | None]] = []
    # The sizes: every customer assigned, one offer each, transactions and sessions.
    events = ABTEST_TRANSACTIONS + ABTEST_SESSIONS + ABTEST_CUSTOMERS
    label = (
        f"A/B read-out of {ABTEST_CUSTOMERS:,} assigned customers and {events:,} metric events "
        f"< {TARGET_ABTEST_COLD_SECONDS:g} s cold (aggregation in the database)"
    )
    c, f = a["cold"], a["floor"]
    if c:
        cold, floor = _median(c, "seconds"), _median(f, "seconds")
        measured = (
            f"{cold:.2f} s (aggregation {_median(c, 'aggregation_seconds'):.2f} s); "
            f"{cold / floor:,.0f}x the floor ({floor:.3f} s)"
        )
        rows.append((label, measured, cold < TARGET_ABTEST_COLD_SECONDS))
        checked = sum(4 * len(r["counts"]) for r in c)
        differ = sum(len(r["mismatches"]) for r in c)
        example = next((r["mismatches"][0] for r in c if r["mismatches"]), "")
        rows.append(
            (
                "A/B read-out's arms equal the generator's (customers, conversions, window spend, sessions)",
                f"{checked} values over {len(c)} runs, {differ} differ"
                + (f", e.g. {example}" if example else ""),
                differ == 0,
            )
        )
    else:
        rows.append((label, f"not measured: {a.get('note', '?')}", False))
    page = a.get("page")
    if page is not None:
        label = (
            f"A/B tests page rerun with the read-out cached < {TARGET_ABTEST_CACHED_SECONDS * 1000:.0f} ms "
            "server time"
        )
        if page.get("seconds") is None:
            rows.append((label, f"not measured: {page.get('note', '?')}", False))
        else:
            drawn = page["drawn"] and page["analytics_calls_in_reruns"] == 0
            measured = f"{page['seconds'] * 1000:.0f} ms; " + (
                "no exception, decision line and sequential chart drawn, no analytics call in the reruns"
                if drawn
                else f"NOT as expected: drawn {page['drawn']}, {page['analytics_calls_in_reruns']} "
                "analytics calls in the reruns"
            )
            rows.append((label, measured, page["seconds"] < TARGET_ABTEST_CACHED_SECONDS and drawn))
    return rows


# -- the fairness audit ------------------------------------------------------------------------
def measure_fairness() -> dict:
    """The fairness audit of a million synthetic predictions against fairlearn, in one fresh process.

    A failure (among them the audit disagreeing with MetricFrame beyond 1e-9) becomes a note; the
    fairness targets then fail with it.
    """
    from bench.tasks import FAIRNESS_REPEATS, FAIRNESS_ROWS

    print(
        f"[bench] fairness audit of {FAIRNESS_ROWS:,} predictions against fairlearn's MetricFrame "
        f"({FAIRNESS_REPEATS} rounds of the audit, MetricFrame once: about 2 min)...",
        file=sys.stderr,
        flush=True,
    )
    started = time.perf_counter()
    out = _try_task("fairness", "--seed", str(SEED))
    out["wall_seconds"] = time.perf_counter() - started
    return out


def _fairness_method() -> str:
    from bench.tasks import (
        FAIRNESS_BOOT_REPLICATES,
        FAIRNESS_BOOT_TARGET,
        FAIRNESS_FAIRLEARN_REPEATS,
        FAIRNESS_GENDER_SHARES,
        FAIRNESS_GENDERS,
        FAIRNESS_REPEATS,
        FAIRNESS_ROWS,
        FAIRNESS_SCORE_MALE,
        FAIRNESS_SCORE_OFFSET,
        FAIRNESS_SCORE_SIGNAL,
        FAIRNESS_THRESHOLD,
        FAIRNESS_TOLERANCE,
    )

    genders = " / ".join(FAIRNESS_GENDERS)
    shares = " / ".join(f"{share:.0%}" for share in FAIRNESS_GENDER_SHARES)
    return (
        f"- Fairness audit, on {FAIRNESS_ROWS:,} synthetic predictions of one model (bench/tasks.py "
        f"`_fairness_predictions`, numpy with seed {SEED}, into polars; no bank): an outcome `y_true` "
        "(about 10% positive, its log-odds a little higher for men and the young), a score "
        f"`logistic(N(0, 1) + {FAIRNESS_SCORE_SIGNAL:g} y + {FAIRNESS_SCORE_MALE:g} [male] "
        f"{'-' if FAIRNESS_SCORE_OFFSET < 0 else '+'} {abs(FAIRNESS_SCORE_OFFSET):g})` "
        f"(AUC about 0.87, a little kinder to men), gender ({genders} at "
        f"{shares}) and the six age bands; decisions are score >= {FAIRNESS_THRESHOLD:g}. In one fresh "
        f"process, after the imports (not timed) and the data, {FAIRNESS_REPEATS} rounds, each running in "
        "turn: *Tailor*: `analytics.fairness.audits.audit_frame(frame, y_true=..., score=..., "
        f'threshold={FAIRNESS_THRESHOLD:g}, groups=["gender", "age_band"])`, the audit of gender, age band '
        "and their intersection: the columns checked, the confusion counts (polars group_by), selection "
        "rate, true and false positive rates, precision and accuracy per group with Wilson intervals, "
        "demographic parity and equalized odds (differences and ratios) with their 95% intervals "
        "(as `analytics.fairness.metrics.disparities` makes them: the methods are named in the table), the "
        "four-fifths verdicts, "
        "AUC (scikit-learn) and calibration per group, and the hash of the counts; the first round is the "
        "process's first call, also shown apart, and the audit's steps are timed by wrapping "
        "`analytics.fairness.metrics`' functions. *fairlearn*: `MetricFrame` on the same rows and decisions "
        "(numpy arrays and a pandas frame of the two attributes, converted once before the rounds, not "
        "timed), one per attribute set, with selection rate, true and false positive rates, precision, "
        "accuracy and `roc_auc_score` of the score (passed through `sample_params`), and the four "
        "disparities from its `difference()` and `ratio()` between groups (equalized odds the worse of "
        "the two rates): how fairlearn's `demographic_parity_*` and `equalized_odds_*` functions define "
        "them, without the two more MetricFrames per set that calling those functions would build. No "
        "interval and no calibration: MetricFrame's only intervals are its bootstrap (`n_boot`), which "
        "recomputes every metric on a resample of all the rows for each replicate (96 s a replicate at "
        "1,000,000 rows when measured; "
        + (
            f"timed here once with n_boot = {FAIRNESS_BOOT_REPLICATES} and extrapolated to "
            f"{FAIRNESS_BOOT_TARGET:,} replicates, not measured at that count). "
            if FAIRNESS_BOOT_REPLICATES
            else "not timed by default: `FAIRNESS_BOOT_REPLICATES` in bench/tasks.py turns it on). "
        )
        + f"MetricFrame runs in the first {FAIRNESS_FAIRLEARN_REPEATS} round(s) only (a minute a run). "
        "*Floor*: one polars "
        "group_by of the four confusion counts over the intersection (the decisions computed inline). "
        f"Figures are the medians of the rounds. After them the task checks that every "
        f"per-group metric and every disparity of the audit equals MetricFrame's within "
        f"{FAIRNESS_TOLERANCE:g}, and the intersection's sizes and rates the floor's counts; any "
        "difference fails the task."
    )


def _runs(values: list[float]) -> str:
    return ", ".join(f"{v:.3f}" for v in values) + " s"


def _fairness_extrapolated(f: dict) -> tuple[float, float] | None:
    """MetricFrame's bootstrap: seconds per replicate, and the time extrapolated to FAIRNESS_BOOT_TARGET."""
    from bench.tasks import FAIRNESS_BOOT_TARGET

    boot = f.get("bootstrap", {})
    if "seconds" not in boot:
        return None
    per_replicate = max(0.0, boot["seconds"] - f["fairlearn_seconds"]) / boot["replicates"]
    return per_replicate, f["fairlearn_seconds"] + FAIRNESS_BOOT_TARGET * per_replicate


def _fairness_table_lines(f: dict) -> list[str]:
    """The fairness audit's section of the report: its data and its measurement table."""
    from bench.tasks import FAIRNESS_BOOT_TARGET, FAIRNESS_ROWS, FAIRNESS_TOLERANCE

    rows = f.get("rows", FAIRNESS_ROWS)
    lines = [f"## Fairness audit: {rows:,} predictions, by gender, age band and both", ""]
    if "seconds" not in f:
        return [
            *lines,
            "| measurement | seconds | peak RSS (MiB) | notes |",
            "|---|---:|---:|---|",
            *_note_row("fairness audit", f),
        ]
    groups = ", ".join(f"{name} {count}" for name, count in f["groups"].items())
    steps = ", ".join(f"{label} {seconds:.3f} s" for label, seconds in f["steps"].items())
    audit, mf, floor = f["seconds"], f["fairlearn_seconds"], f["floor_seconds"]
    lines += [
        f"{f['rows']:,} predictions: {f['positive_share']:.1%} positive, {f['selected_share']:.1%} selected "
        f"at the threshold {f['threshold']:g}; groups: {groups} (the smallest intersection "
        f"{f['smallest_group']:,} rows); the audit's verdict on this synthetic model: {f['verdict']}.",
        "",
        "| measurement | seconds | peak RSS (MiB) | notes |",
        "|---|---:|---:|---|",
        f"| synthetic predictions built (numpy, polars) | {f['generate_seconds']:.3f} | | seed {f['seed']}; "
        f"MetricFrame's inputs (numpy arrays, pandas frame of the attributes) converted in "
        f"{f['pandas_conversion_seconds']:.3f} s, not timed below |",
        f"| Tailor: `audit_frame`, every metric, group and intersection, with intervals | {audit:.3f} | "
        f"{f['rss_after_first_audit_mb']:,.0f} | runs {_runs(f['runs'])} (the first is the process's first "
        f"call: {f['first_seconds']:.3f} s); steps (medians): {steps}; disparity intervals: "
        f"{', '.join(f['interval_methods']) or 'none'} ({f['disparities_with_interval']} of "
        f"{f['disparities']} disparities have one); imports {f['import_seconds']:.2f} s not included; "
        "RSS after the first audit |",
        f"| fairlearn {f['fairlearn_version']}: `MetricFrame`, the same metrics and disparities, no "
        f"interval | {mf:.2f} | {f['peak_rss_mb']:,.0f} | runs {_runs(f['fairlearn_runs'])}; "
        f"{mf / audit:,.0f}x Tailor's audit; the process's peak RSS |",
    ]
    boot = f["bootstrap"]
    extrapolated = _fairness_extrapolated(f)
    if extrapolated is None:
        lines.append(f"| fairlearn `MetricFrame` with its bootstrap | n/a | | {boot.get('note', '?')} |")
    else:
        per_replicate, total = extrapolated
        lines += [
            f"| fairlearn `MetricFrame` with its bootstrap intervals, n_boot = {boot['replicates']}, "
            f"measured once | {boot['seconds']:.1f} | | {per_replicate:.1f} s per replicate (this run "
            "minus the MetricFrame median, over the replicates) |",
            f"| fairlearn `MetricFrame` with its bootstrap at {FAIRNESS_BOOT_TARGET:,} replicates: "
            f"**extrapolated, not measured** | {total:,.0f} | | about {total / 3600:.1f} h; "
            f"{total / audit:,.0f}x Tailor's audit, whose figure above includes its intervals |",
        ]
    lines += [
        f"| floor: one polars group_by, the four confusion counts over the intersection | {floor:.3f} | | "
        f"runs {_runs(f['floor_runs'])}; Tailor's audit is {audit / floor:,.0f}x the floor |",
        f"| the audit against MetricFrame and the floor | | | agree: {str(f['agree']).lower()}: "
        f"{f['fairlearn_values']} values equal to MetricFrame's within {FAIRNESS_TOLERANCE:g} (every "
        f"group's metrics, every disparity) and {f['floor_values']} to the floor's counts (largest "
        f"difference {f['max_difference']:.1e}) |",
        f"| fairness measurements above, wall time | {f['wall_seconds']:.0f} | | one process: its imports, "
        "the data and the checks included |",
    ]
    return lines


def _fairness_target_rows(f: dict) -> list[tuple[str, str, bool | None]]:
    """The fairness audit's targets: its speed, and its agreement with fairlearn."""
    from bench.tasks import FAIRNESS_ROWS, FAIRNESS_TOLERANCE

    # The rows measured: a development run of bench.tasks with fewer --rows says so.
    label = (
        f"fairness audit of {f.get('rows', FAIRNESS_ROWS):,} predictions (every metric, every group and "
        "intersection, "
        f"with intervals) < {TARGET_FAIRNESS_SECONDS:g} s"
    )
    agree_label = (
        f"fairness audit's per-group metrics and disparities equal fairlearn MetricFrame's to "
        f"{FAIRNESS_TOLERANCE:g}"
    )
    if "seconds" not in f:
        note = f"not measured: {f.get('note', '?')}"
        return [(label, note, False), (agree_label, note, False)]
    audit, mf, floor = f["seconds"], f["fairlearn_seconds"], f["floor_seconds"]
    extrapolated = _fairness_extrapolated(f)
    boot = (
        f"; with its bootstrap intervals about {extrapolated[1] / 3600:.1f} h (extrapolated)"
        if extrapolated
        else ""
    )
    measured = (
        f"{audit:.2f} s (median of {len(f['runs'])}; first call {f['first_seconds']:.2f} s); fairlearn "
        f"MetricFrame {mf:.1f} s without intervals: {mf / audit:,.0f}x{boot}; {audit / floor:,.0f}x the "
        f"floor ({floor:.3f} s)"
    )
    agreed = (
        f"{f['fairlearn_values']} values, {len(f['mismatches'])} differ (agree: {str(f['agree']).lower()}); "
        f"{f['floor_values']} intersection values equal the floor's counts"
    )
    return [(label, measured, audit < TARGET_FAIRNESS_SECONDS), (agree_label, agreed, not f["mismatches"])]


def _cohort_floor_sql() -> str:
    from bench.tasks import COHORT_FLOOR_SQL

    return COHORT_FLOOR_SQL


def _floor_sql() -> str:
    from bench.tasks import FLOOR_SQL

    return FLOOR_SQL


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bench.run``."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tiers", help="comma-separated tiers among " + ", ".join(TIERS) + " (default: all of them)"
    )
    parser.add_argument(
        "--out",
        help="Markdown report to write (default BENCHMARKS.md, which only a complete run may write: "
        "every tier, every measurement, the pages included)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes per measurement")
    parser.add_argument("--no-page", action="store_true", help="skip the AppTest page measurement")
    parser.add_argument(
        "--only",
        choices=["models", "abtest", "fairness"],
        help="measure only the Models page's targets (on tier "
        + ", ".join(MODEL_TIERS)
        + "), the A/B tests page's (on its own bank) or the fairness audit's (on synthetic "
        "predictions): a partial run",
    )
    parser.add_argument("--json", help="also write the raw measurements to this JSON file")
    args = parser.parse_args(argv)
    default_tiers = {"models": MODEL_TIERS, "abtest": (), "fairness": ()}.get(args.only, tuple(TIERS))
    tiers = [t.strip().upper() for t in (args.tiers or ",".join(default_tiers)).split(",") if t.strip()]
    unknown = [t for t in tiers if t not in TIERS]
    if unknown:
        parser.error(f"unknown tier(s) {', '.join(unknown)}; choose among {', '.join(TIERS)}")
    if args.only == "models" and not set(tiers) <= set(MODEL_TIERS):
        parser.error(f"the Models page is measured on tier {', '.join(MODEL_TIERS)} only")
    if args.only == "abtest" and tiers:
        parser.error("the A/B tests page is measured on its own bank: --only abtest takes no --tiers")
    if args.only == "fairness" and tiers:
        parser.error(
            "the fairness audit is measured on synthetic predictions: --only fairness takes no --tiers"
        )
    complete = set(tiers) == set(TIERS) and not args.only and not args.no_page
    official = (REPO_ROOT / "BENCHMARKS.md").resolve()
    out = Path(args.out) if args.out else official
    if not complete and out.resolve() == official:
        parser.error(
            "a partial run (some tiers, --only or --no-page) does not write BENCHMARKS.md: "
            "pass --out with another file, e.g. --out /tmp/bench.md"
        )
    os.environ["OMP_NUM_THREADS"] = str(OMP_THREADS)
    os.environ["TAILOR_DUCKDB_THREADS"] = str(DUCKDB_THREADS)
    started = time.perf_counter()
    abtest = fairness = None
    if args.only == "models":
        results = [measure_models_only(t, TIERS[t], with_page=not args.no_page) for t in tiers]
    else:
        results = [
            measure_tier(t, TIERS[t], repeats=max(1, args.repeats), with_page=not args.no_page) for t in tiers
        ]
        # The A/B tests page's bank is not a tier: measured in a complete run and with --only abtest.
        if complete or args.only == "abtest":
            abtest = measure_abtest(with_page=not args.no_page)
        # Nor is the fairness audit's data: a million synthetic predictions, built in its process.
        if complete or args.only == "fairness":
            fairness = measure_fairness()
    elapsed = time.perf_counter() - started
    # The raw measurements first, so that they survive a report that fails to render.
    if args.json:
        tier_dicts = [{k: str(v) if isinstance(v, Path) else v for k, v in vars(r).items()} for r in results]
        extras = {
            name: part for name, part in (("abtest", abtest), ("fairness", fairness)) if part is not None
        }
        raw = {"tiers": tier_dicts, **extras} if extras else tier_dicts
        Path(args.json).write_text(json.dumps(raw, indent=2, default=str))
    if args.only == "models":
        targets = [row for r in results for row in _models_target_rows(r)]
        report = render_partial(
            "the Models page", "models", _models_method(), _models_sections(results), targets, elapsed=elapsed
        )
    elif args.only == "abtest":
        report = render_partial(
            "the A/B tests page",
            "abtest",
            _abtest_method(),
            _abtest_table_lines(abtest),
            _abtest_target_rows(abtest),
            elapsed=elapsed,
        )
    elif args.only == "fairness":
        report = render_partial(
            "the fairness audit",
            "fairness",
            _fairness_method(),
            _fairness_table_lines(fairness),
            _fairness_target_rows(fairness),
            elapsed=elapsed,
        )
    else:
        report = render(
            results, repeats=max(1, args.repeats), elapsed=elapsed, abtest=abtest, fairness=fairness
        )
    out.write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
