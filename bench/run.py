"""Benchmark of the executive KPIs, KPIs page and Segments page: ``python -m bench.run [--tiers S,M]``.

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
  rerun of the page with that map stored (AppTest).

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
    from analytics.db import Database
    from analytics.kpis import default_filters

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
    return result


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
    for package in ("duckdb", "ibis-framework", "polars", "pandas", "numpy", "pyarrow"):
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


def render(results: list[TierResult], *, repeats: int, elapsed: float) -> str:
    """BENCHMARKS.md."""
    m = machine()
    lines = [
        "# Benchmarks: executive KPIs, the KPIs page and the Segments page",
        "",
        "Written by `python -m bench.run` (bench/run.py); do not edit by hand. See docs/kpis.md for what",
        "is computed and bench/pandas_baseline.py for the baseline.",
        "",
        "## Machine",
        "",
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
        f"| threads | `OMP_NUM_THREADS={OMP_THREADS}`, DuckDB `threads={DUCKDB_THREADS}` "
        "(`TAILOR_DUCKDB_THREADS`); polars and pandas at their defaults |",
        "",
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
        "- KPIs page: the cohort matrix (`analytics.retention.compute_cohort_matrix`, every cohort, "
        "from the maintained `cohort_cube`) cold against its own floor, one DuckDB pass over the rollup "
        "it summarises: `"
        + _cohort_floor_sql()
        + "`; predictive CLV (`analytics.clv_store.compute_bank_clv`): the daily debit-spend query, "
        "the check fit (summary to 26 weeks before the snapshot, BG/NBD and Gamma-Gamma, the holdout "
        "table) and the "
        f"final fit (summary to the snapshot, both models, every customer's predictions); median of "
        f"{CLV_REPEATS} processes; the write to the database is not included.",
        "- Segments page, on the default feature set (`analytics.features.DEFAULT_FEATURE_SET`): the "
        "customer features table (`analytics.rollups.build_customer_features` to the snapshot, "
        "materialized into polars) cold on a read-only connection; k-means "
        "(`analytics.segments.run_segmentation`, scaling included) with a fixed k = 6 after "
        "`load_features` (read time shown apart), and with k chosen from the evidence (k = 2-10, "
        f"silhouette, Davies-Bouldin, bootstrap stability) for information; median of {SEGMENT_REPEATS} "
        "processes each. UMAP (`analytics.embedding.fit_umap_map` with the stored parameters of "
        '`map_params("umap")`, seeded, so on one thread): one process per tier; `import umap` and a '
        "warm-up fit (6,000 rows, 5,000 fitted, numba's compilation) are timed apart, then the fit on a "
        "50,000 sample and the transform of the rest, as `fit_and_store_map` times it (the store shown "
        "apart). That map is stored in a copy of the bank; the Segments page (`pages/segments.py`, as a "
        "marketing analyst, defaults: k-means, k from the evidence) is run once through AppTest to fill "
        "its caches, then rerun three times: the figure is the median rerun's server time; the run "
        "checks that the page raised nothing and drew the stored map as a WebGL scatter (`scattergl`).",
        "- These machines sometimes deliver about one core's work while reporting two; whole runs then "
        "take up to twice as long. Compare figures as ratios within one run; the spread of the runs is "
        "shown.",
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
        lines.append("")

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
        for label, measured, ok in rows:
            if ok is not None:
                verdicts.append(ok)
            result = (
                "info (target set for tier M)"
                if ok is None and "not measured" not in measured
                else ("n/a" if ok is None else _verdict(ok))
            )
            lines.append(f"| {label} | {measured} | {result} |")
    lines += ["", f"Whole run: {elapsed / 60:.1f} min. Overall: {_verdict(all(verdicts))}.", ""]
    return "\n".join(lines)


def _cohort_floor_sql() -> str:
    from bench.tasks import COHORT_FLOOR_SQL

    return COHORT_FLOOR_SQL


def _floor_sql() -> str:
    from bench.tasks import FLOOR_SQL

    return FLOOR_SQL


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bench.run``."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--tiers", default="S,M", help="comma-separated tiers among " + ", ".join(TIERS))
    parser.add_argument("--out", default="BENCHMARKS.md", help="Markdown report to write")
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes per measurement")
    parser.add_argument("--no-page", action="store_true", help="skip the AppTest page measurement")
    parser.add_argument("--json", help="also write the raw measurements to this JSON file")
    args = parser.parse_args(argv)
    tiers = [t.strip().upper() for t in args.tiers.split(",") if t.strip()]
    unknown = [t for t in tiers if t not in TIERS]
    if unknown:
        parser.error(f"unknown tier(s) {', '.join(unknown)}; choose among {', '.join(TIERS)}")
    os.environ["OMP_NUM_THREADS"] = str(OMP_THREADS)
    os.environ["TAILOR_DUCKDB_THREADS"] = str(DUCKDB_THREADS)
    started = time.perf_counter()
    results = [
        measure_tier(t, TIERS[t], repeats=max(1, args.repeats), with_page=not args.no_page) for t in tiers
    ]
    report = render(results, repeats=max(1, args.repeats), elapsed=time.perf_counter() - started)
    out = Path(args.out)
    out.write_text(report)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                [{k: str(v) if isinstance(v, Path) else v for k, v in vars(r).items()} for r in results],
                indent=2,
                default=str,
            )
        )
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
