"""Generate the sample bank and load it into DuckDB, all or nothing.

:func:`generate_bank` returns the twelve canonical tables (the consent history included) as Polars frames
(exactly the contracts in ``analytics.store.contracts``), the planted truths and the
data set's meta facts. :func:`build_sample_database` loads them through
``analytics.store.database.Database.load_dataset`` into a temporary file next to the
target and moves it into place only when everything succeeded.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from analytics.store.contracts import CANONICAL_TABLES
from sample_data import activity, feedback, marketing, people, truth
from sample_data.core import Streams, Window

GENERATOR_VERSION = "1.0.0"
DEFAULT_AS_OF = date(2026, 10, 31)
DEFAULT_TRUTH_PATH = Path(__file__).resolve().parent / "truth.json"

MIN_CUSTOMERS = 100
MSG_TOO_FEW_CUSTOMERS = "The sample bank needs at least {minimum} customers (got {customers})."

Progress = Callable[[str], None]


def code_fingerprint() -> str:
    """Hash of the code that decides what a built bank contains.

    The generator, the table contracts, the loader and the rollups: two banks built
    with the same size, seed and fingerprint are identical, so caches (tests, bench)
    may reuse a file whose name carries it.
    """
    repo = Path(__file__).resolve().parent.parent
    analytics = repo / "analytics"
    sources = sorted((repo / "sample_data").glob("*.py")) + [
        *sorted((analytics / "store").rglob("*.py")),  # contracts/ included: the schema decides the file
        *sorted((analytics / "common").glob("*.py")),
        analytics / "kpis" / "rollups.py",
        analytics / "segments" / "features.py",
    ]
    digest = hashlib.sha256()
    for path in sources:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class GeneratedBank:
    """A generated bank.

    Parameters
    ----------
    tables : dict of str to polars.DataFrame
        One frame per canonical table, matching its contract exactly.
    truth : dict
        The planted truths with their parameters and realized values (JSON-ready).
    meta : dict of str to str
        Facts for ``dataset_meta``: source, seed, customers, as_of, generator_version, history_start.
    """

    tables: dict[str, pl.DataFrame]
    truth: dict
    meta: dict[str, str]


def generate_bank(customers: int = 20_000, *, seed: int = 42, as_of: date = DEFAULT_AS_OF) -> GeneratedBank:
    """Generate a synthetic bank deterministically from a seed.

    Parameters
    ----------
    customers : int
        Number of customers (20,000 builds in seconds; 200,000 gives about ten million transactions).
    seed : int
        Seed of every random stream; the same seed and size give identical tables.
    as_of : datetime.date
        Snapshot date; the history covers the 24 calendar months ending with it.

    Returns
    -------
    GeneratedBank
        Tables, planted truths and meta facts.

    Examples
    --------
    >>> bank = generate_bank(2_000, seed=7)
    >>> bank.tables["customers"].height
    2000
    """
    return _generate(customers, seed=seed, as_of=as_of, progress=None)


def _generate(customers: int, *, seed: int, as_of: date, progress: Progress | None) -> GeneratedBank:
    if customers < MIN_CUSTOMERS:
        raise ValueError(MSG_TOO_FEW_CUSTOMERS.format(minimum=MIN_CUSTOMERS, customers=customers))
    say = progress or (lambda _line: None)
    window = Window.ending(as_of)
    streams = Streams(seed)
    clock = _Clock(say)

    pools = people.build_name_pools(seed)
    pop = people.build_population(customers, window, streams)
    base = activity.build_base_holdings(pop, window, streams)
    churn_model = activity.assign_churn(pop, base, window, streams)
    personal = people.build_personal_data(pop, pools, streams)
    customers_df = people.customers_frame(pop, personal, window, streams)
    consent_events = people.consent_events_frame(pop, customers_df, streams)
    pii = {"phone": personal.phone, "email": personal.email, "full_name": personal.full_name}
    clock.step("customers", customers_df.height)

    plans = marketing.plan_experiments(pop, window, streams)
    revenue = plans["revenue"]
    treated = np.zeros(pop.n, dtype=bool)
    treated[revenue.enrolled[revenue.treated]] = True
    treatment = activity.RevenueTreatment(
        treated, revenue.start_day, revenue.end_day, marketing.REVENUE_EFFECT
    )
    transactions, bursts = activity.build_transactions(pop, window, streams, treatment)
    clock.step("transactions", transactions.height)
    events = activity.build_digital_events(pop, window, streams)
    clock.step("digital_events", events.height)
    support = activity.build_support(pop, window, streams, bursts, pii)
    clock.step("support_interactions", support.frame.height)
    result = marketing.run_campaigns(pop, base, window, streams, plans)
    clock.step("offers", result.offers.height)
    holdings = marketing.holdings_frame(pop, base, result.new_holdings, window, streams)
    clock.step("holdings", holdings.height)
    surveys, incident_facts = feedback.build_surveys(pop, window, streams, support, pii)
    clock.step("surveys", surveys.height)

    tables = {
        "customers": customers_df,
        "products": marketing.products_frame(),
        "holdings": holdings,
        "transactions": transactions,
        "digital_events": events,
        "campaigns": result.campaigns,
        "offers": result.offers,
        "experiments": result.experiments,
        "assignments": result.assignments,
        "surveys": surveys,
        "support_interactions": support.frame,
        "consent_events": consent_events,
    }
    tables = {spec.name: tables[spec.name].select(spec.schema.names()) for spec in CANONICAL_TABLES}
    meta = {
        "source": "sample_data",
        "seed": str(seed),
        "customers": str(customers),
        "as_of": as_of.isoformat(),
        "generator_version": GENERATOR_VERSION,
        "history_start": window.history_start.isoformat(),
    }
    planted = truth.build_truth(
        tables,
        pop=pop,
        window=window,
        plans=plans,
        churn_model=churn_model,
        bursts=bursts,
        biased=result.biased,
        incident=incident_facts,
        meta=meta,
    )
    clock.step("truth", len(planted), "sections")
    return GeneratedBank(tables=tables, truth=planted, meta=meta)


class _Clock:
    """Reports one line per step with its row count and seconds."""

    def __init__(self, say: Progress) -> None:
        self.say = say
        self.last = time.perf_counter()

    def step(self, name: str, count: int, unit: str = "rows") -> None:
        now = time.perf_counter()
        self.say(f"{name}: {count:,} {unit} in {now - self.last:.1f} s")
        self.last = now


def build_sample_database(
    path: str | os.PathLike[str],
    *,
    customers: int = 20_000,
    seed: int = 42,
    truth_path: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> dict:
    """Generate the sample bank and write it to a DuckDB file, all or nothing.

    The data is loaded into a temporary file in the target's folder and moved
    onto ``path`` with :func:`os.replace` only after the load (and the rollups)
    succeeded; on any failure the temporary file is removed and ``path`` is
    left as it was. A stale ``<path>.wal`` is removed before the move.

    Parameters
    ----------
    path : str or path-like
        The DuckDB file to create or replace.
    customers : int
        Number of customers.
    seed : int
        Random seed.
    truth_path : str or path-like, optional
        Where to write the planted truths as JSON; defaults to ``sample_data/truth.json``.
    progress : callable, optional
        Called with one short line per step.

    Returns
    -------
    dict
        The planted truths (as written to the truth file).
    """
    from analytics.store.database import Database

    say = progress or (lambda _line: None)
    target = Path(path).expanduser().resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    bank = _generate(customers, seed=seed, as_of=DEFAULT_AS_OF, progress=say)

    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    _remove(tmp, Path(f"{tmp}.wal"))
    started = time.perf_counter()
    try:
        # The generated frames stay in memory during the load; DuckDB's default (80% of RAM)
        # would let the two together exhaust a machine at a million customers, so DuckDB
        # spills to disk beyond a quarter of the RAM instead.
        db = Database(tmp, memory_limit_mb=_duckdb_memory_limit_mb())
        try:
            db.load_dataset(bank.tables, meta=bank.meta)
        finally:
            db.close()
        _remove(Path(f"{target}.wal"))
        os.replace(tmp, target)
    except BaseException:
        _remove(tmp, Path(f"{tmp}.wal"))
        raise
    say(
        f"load: {sum(f.height for f in bank.tables.values()):,} rows into {target.name} in "
        f"{time.perf_counter() - started:.1f} s"
    )

    out = Path(truth_path) if truth_path is not None else DEFAULT_TRUTH_PATH
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_truth = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp_truth.write_text(json.dumps(bank.truth, separators=(",", ":")))
    os.replace(tmp_truth, out)
    say(f"truth: {out}")
    return bank.truth


def _duckdb_memory_limit_mb() -> int:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX: keep DuckDB's own default size
        total = 16 * 2**30
    return max(1024, total // 4 // 2**20)


def _remove(*paths: Path) -> None:
    for p in paths:
        p.unlink(missing_ok=True)
