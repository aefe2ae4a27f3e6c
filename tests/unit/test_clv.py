"""Predictive CLV: BG/NBD and Gamma-Gamma against the published CDNOW estimates, planted
simulations, independent reference formulas, the edge cases of a transaction log, and the
sample bank.

References
----------
- Fader, Hardie and Lee (2005), "Counting Your Customers the Easy Way", Marketing Science
  24(2): CDNOW sample (2,357 customers, 39-week calibration ending 1997-09-30): r = 0.243,
  alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4; a customer with x = 2, t_x = 30.43,
  T = 38.86 is expected to make 1.226 purchases in the next 39 weeks.
- Fader and Hardie (2013), "The Gamma-Gamma Model of Monetary Value": the 946 CDNOW
  customers with a repeat purchase give p = 6.25, q = 3.74, gamma = 15.44.
- The CDNOW sample and the authors' own customer summary (``cdnow_customers_summary_with_
  transactions.csv``: x, t_x, T, mean repeat spend) ship inside the ``lifetimes`` wheel; the
  test downloads the wheel once into .cache/ (the app does not depend on lifetimes), and
  lifetimes' documentation gives the frequency-spend correlation 0.113884 on that summary.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import date, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import optimize, special

from analytics.clv.bgnbd import BgNbd, _bgnbd_ll_and_grad, bgnbd_log_likelihood
from analytics.clv.fitting import ClvFitError
from analytics.clv.gamma_gamma import GammaGamma, _gg_ll_and_grad
from analytics.clv.predictive import (
    HOLDOUT_TABLE_COLUMNS,
    NO_DROPOUT_LEVEL,
    calibration_holdout_table,
    customer_lifetime_value,
    fit_clv,
)
from analytics.clv.transactions import TransactionSummary, bank_transaction_log, summarize_transactions

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / ".cache"
LIFETIMES = "lifetimes==0.11.3"
CAL_END = date(1997, 9, 30)
HOLDOUT_END = date(1998, 6, 30)
PAPER = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


# -- the CDNOW data, from the lifetimes wheel -----------------------------------------------


def _lifetimes_wheel() -> Path:
    """The lifetimes wheel, downloaded once and shared by the test workers (lock + rename)."""
    target_dir = CACHE_DIR / "lifetimes-0.11.3"
    CACHE_DIR.mkdir(exist_ok=True)
    with open(CACHE_DIR / ".lifetimes.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = sorted(target_dir.glob("*.whl")) if target_dir.exists() else []
        if found:
            return found[0]
        tmp = Path(tempfile.mkdtemp(dir=CACHE_DIR, prefix=".lifetimes-"))
        try:
            cmd = [sys.executable, "-m", "pip", "download", LIFETIMES, "--no-deps", "--only-binary=:all:"]
            proc = subprocess.run([*cmd, "-d", str(tmp)], capture_output=True, text=True, timeout=300)
            wheels = sorted(tmp.glob("*.whl"))
            if proc.returncode != 0 or not wheels:
                pytest.fail(
                    f"Could not download the {LIFETIMES} wheel that carries the CDNOW data"
                    f" (pip exit {proc.returncode}); the published-value tests need the package"
                    f" index. pip said:\n{proc.stdout[-1500:]}\n{proc.stderr[-1500:]}"
                )
            os.replace(tmp, target_dir)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return sorted(target_dir.glob("*.whl"))[0]


@pytest.fixture(scope="module")
def cdnow_files() -> dict[str, bytes]:
    with zipfile.ZipFile(_lifetimes_wheel()) as wheel:
        return {
            "sample": wheel.read("lifetimes/datasets/CDNOW_sample.txt"),
            "summary": wheel.read("lifetimes/datasets/cdnow_customers_summary_with_transactions.csv"),
        }


@pytest.fixture(scope="module")
def cdnow_log(cdnow_files) -> pl.DataFrame:
    # Whitespace-separated: master customer id, sample customer id (1..2357), date YYYYMMDD,
    # number of CDs, dollar value.
    rows = [line.split() for line in cdnow_files["sample"].decode().splitlines() if line.strip()]
    assert len(rows) == 6919 and all(len(r) == 5 for r in rows)
    return pl.DataFrame(
        {
            "customer": [int(r[1]) for r in rows],
            "date": [r[2] for r in rows],
            "cds": [int(r[3]) for r in rows],
            "dollars": [float(r[4]) for r in rows],
        }
    )


@pytest.fixture(scope="module")
def cdnow_summary(cdnow_log) -> TransactionSummary:
    return summarize_transactions(
        cdnow_log,
        customer_col="customer",
        date_col="date",
        value_col="dollars",
        calibration_end=CAL_END,
        holdout_end=HOLDOUT_END,
        period="week",
        date_format="%Y%m%d",
    )


@pytest.fixture(scope="module")
def cdnow_bgnbd(cdnow_summary) -> BgNbd:
    f = cdnow_summary.frame
    return BgNbd().fit(f["frequency"], f["recency"], f["T"])


def _model(**params: float) -> BgNbd:
    model = BgNbd()
    model.r_, model.alpha_, model.a_, model.b_ = (params[k] for k in ("r", "alpha", "a", "b"))
    return model


def test_cdnow_summary_matches_the_authors_summary(cdnow_files, cdnow_summary):
    reference = pl.read_csv(cdnow_files["summary"]).rename({"ID": "customer_id"})
    joined = cdnow_summary.frame.join(reference, on="customer_id", how="full", coalesce=True)
    assert joined.height == reference.height == 2357
    assert (joined["frequency"] == joined["x"]).all()
    # The authors' file is rounded to 2 decimals (weeks and dollars).
    assert (joined["recency"].round(2) == joined["t_x"]).all()
    assert (joined["T"].round(2) == joined["T_right"]).all()
    assert (joined["monetary_value"] - joined["zbar"]).abs().max() <= 0.005 + 1e-9
    assert cdnow_summary.holdout_length == 39.0
    assert cdnow_summary.rows_read == 6919 and cdnow_summary.rows_negative == 0
    assert cdnow_summary.customers_after_calibration == 0


def test_cdnow_holdout_counts_purchase_days(cdnow_log, cdnow_summary):
    # Independent count: distinct (customer, day) pairs after calibration_end, in plain Python.
    days = {
        (c, d)
        for c, d in zip(cdnow_log["customer"], cdnow_log["date"], strict=True)
        if datetime.strptime(d, "%Y%m%d").date() > CAL_END
    }
    assert cdnow_summary.frame["holdout_transactions"].sum() == len(days) == 1882


def test_bgnbd_on_cdnow_matches_the_paper(cdnow_bgnbd):
    fitted = {"r": cdnow_bgnbd.r_, "alpha": cdnow_bgnbd.alpha_, "a": cdnow_bgnbd.a_, "b": cdnow_bgnbd.b_}
    assert {k: round(v, 3) for k, v in fitted.items()} == PAPER
    assert round(cdnow_bgnbd.log_likelihood_, 1) == -9582.4
    assert cdnow_bgnbd.n_customers_ == 2357 and cdnow_bgnbd.converged_


def test_bgnbd_log_likelihood_at_the_published_parameters(cdnow_summary):
    f = cdnow_summary.frame
    ll = bgnbd_log_likelihood(f["frequency"], f["recency"], f["T"], **PAPER)
    assert ll.sum() == pytest.approx(-9582.4, abs=0.1)


def test_conditional_expectation_of_the_papers_customer(cdnow_bgnbd):
    # FHL 2005: x = 2, t_x = 30.43, T = 38.86, next 39 weeks -> 1.226.
    for model in (cdnow_bgnbd, _model(**PAPER)):
        value = model.conditional_expected_purchases(39.0, [2], [30.43], [38.86])[0]
        assert round(float(value), 3) == 1.226


def test_gamma_gamma_on_cdnow_matches_fader_hardie_2013(cdnow_summary):
    f = cdnow_summary.frame
    gg = GammaGamma().fit(f["frequency"], f["monetary_value"])
    assert gg.n_customers_ == 946
    assert (round(gg.p_, 2), round(gg.q_, 2), round(gg.gamma_, 2)) == (6.25, 3.74, 15.44)
    assert round(gg.frequency_monetary_correlation_, 4) == 0.1139


def test_calibration_holdout_table_on_cdnow(cdnow_bgnbd, cdnow_summary):
    table = calibration_holdout_table(cdnow_bgnbd, cdnow_summary)
    assert table.columns == list(HOLDOUT_TABLE_COLUMNS)
    assert table["bucket"].to_list() == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    # Customers per calibration frequency, as in the authors' summary.
    assert table["customers"].to_list() == [1411, 439, 214, 100, 62, 38, 29, 64]
    assert table["actual_total"].sum() == 1882
    f = cdnow_summary.frame
    reference = _naive_conditional(
        PAPER, 39.0, *(f[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    )
    at_paper = calibration_holdout_table(_model(**PAPER), cdnow_summary)
    assert at_paper["predicted_total"].sum() == pytest.approx(reference.sum(), rel=1e-10)
    buckets = np.minimum(f["frequency"].to_numpy(), 7)
    expected_means = [reference[buckets == k].mean() for k in range(8)]
    assert at_paper["predicted_mean"].to_list() == pytest.approx(expected_means, rel=1e-10)


def test_fit_clv_on_cdnow(cdnow_summary):
    result = fit_clv(cdnow_summary, horizon_periods=52.0, discount_rate=0.1)
    assert (round(result.params.r, 3), round(result.params.b, 3)) == (0.243, 2.426)
    assert (round(result.params.p, 2), round(result.params.gamma, 2)) == (6.25, 15.44)
    assert result.n_customers == 2357 and result.n_repeat_customers == 946
    assert round(result.bgnbd_log_likelihood, 1) == -9582.4
    assert result.customers.columns == [
        "customer_id",
        "frequency",
        "recency",
        "T",
        "monetary_value",
        "probability_alive",
        "expected_transactions",
        "expected_average_value",
        "clv",
    ]
    assert result.customers.height == 2357
    assert result.calibration_holdout is not None and result.calibration_holdout.height == 8
    assert any("1,411 of 2,357 customers" in w for w in result.warnings)
    assert not any("correlated" in w for w in result.warnings)  # r = 0.11, below the 0.3 warning level
    assert (result.customers["clv"] > 0).all()
    one_timers = result.customers.filter(pl.col("frequency") == 0)
    # One-purchase customers: alive by the model's assumption, the population's mean spend.
    assert (one_timers["probability_alive"] == 1.0).all()
    mean_spend = result.params.p * result.params.gamma / (result.params.q - 1)
    assert one_timers["expected_average_value"].to_numpy() == pytest.approx(mean_spend)


# -- reference formulas (the paper's, written out directly) --------------------------------


def _naive_conditional(params, t, x, tx, T):
    """FHL 2005 eq. 10 as printed (no Euler transformation; breaks down for large x)."""
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    z = t / (alpha + T + t)
    num = (
        (a + b + x - 1)
        / (a - 1)
        * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * special.hyp2f1(r + x, b + x, a + b + x - 1, z))
    )
    den = 1 + (x > 0) * a / (b + np.maximum(x, 1) - 1) * ((alpha + T) / (alpha + tx)) ** (r + x)
    return num / den


def _series_conditional(params, t, x, tx, T, terms=200_000):
    """Eq. 10 with the hypergeometric series summed term by term in log space (large x)."""
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    A, B, C = r + x, b + x, a + b + x - 1
    z = t / (alpha + T + t)
    n = np.arange(terms, dtype=float)
    log_terms = (
        special.gammaln(A + n)
        - special.gammaln(A)
        + special.gammaln(B + n)
        - special.gammaln(B)
        - special.gammaln(C + n)
        + special.gammaln(C)
        - special.gammaln(n + 1)
        + n * np.log(z)
    )
    log_f = special.logsumexp(log_terms)
    log_prefactor = (r + x) * np.log((alpha + T) / (alpha + T + t))
    num = (a + b + x - 1) / (a - 1) * -np.expm1(log_prefactor + log_f)
    log_odds = np.log(a / (b + x - 1)) + (r + x) * np.log((alpha + T) / (alpha + tx))
    return num / (1 + np.exp(log_odds))


def test_conditional_expectation_equals_the_printed_formula(cdnow_summary):
    f = cdnow_summary.frame
    x, tx, T = (f[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    model = _model(**PAPER)
    for t in (1.0, 39.0, 520.0):
        assert model.conditional_expected_purchases(t, x, tx, T) == pytest.approx(
            _naive_conditional(PAPER, t, x, tx, T), rel=1e-9
        )


def test_unconditional_expectation_equals_the_printed_formula():
    # FHL 2005 eq. 7: E[X(t)] = (a+b-1)/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))].
    r, alpha, a, b = PAPER.values()
    t = np.array([1.0, 39.0, 78.0, 520.0])
    printed = (
        (a + b - 1)
        / (a - 1)
        * (1 - (alpha / (alpha + t)) ** r * special.hyp2f1(r, b, a + b - 1, t / (alpha + t)))
    )
    assert _model(**PAPER).expected_purchases(t) == pytest.approx(printed, rel=1e-10)


def test_probability_alive_equals_the_printed_formula(cdnow_summary):
    f = cdnow_summary.frame
    x, tx, T = (f[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    r, alpha, a, b = PAPER.values()
    printed = np.where(
        x > 0, 1 / (1 + a / (b + np.maximum(x, 1) - 1) * ((alpha + T) / (alpha + tx)) ** (r + x)), 1.0
    )
    assert _model(**PAPER).probability_alive(x, tx, T) == pytest.approx(printed, rel=1e-12)


def test_large_frequencies_stay_finite_and_exact():
    # Bank customers can have hundreds or thousands of repeat purchases; the printed formula's
    # 2F1(r+x, b+x; a+b+x-1; z) and ((alpha+T)/(alpha+t_x))^(r+x) overflow there.
    model = _model(**PAPER)
    x = np.array([400.0, 2000.0, 5000.0])
    tx = np.array([100.0, 499.0, 700.0])
    T = np.array([100.0, 500.0, 700.0])
    t = np.array([1000.0, 200.0, 365.0])
    with np.errstate(all="ignore"):
        naive = _naive_conditional(PAPER, t, x, tx, T)
    assert not np.isfinite(naive).all()  # the printed form does break down here
    ours = model.conditional_expected_purchases(t, x, tx, T)
    reference = np.array([_series_conditional(PAPER, *args) for args in zip(t, x, tx, T, strict=True)])
    assert ours == pytest.approx(reference, rel=1e-7)
    ll = bgnbd_log_likelihood(x, tx, T, **PAPER)
    assert np.isfinite(ll).all()
    assert model.probability_alive([5000.0], [100.0], [700.0])[0] == pytest.approx(0.0, abs=1e-300)


def test_nbd_limit_without_dropout():
    # With a -> 0 (no dropout) BG/NBD becomes the NBD: E[Y(t) | x, T] = (r + x) / (alpha + T) t.
    model = _model(r=0.5, alpha=5.0, a=np.exp(-15.0), b=np.exp(15.0))
    x, tx, T = np.array([3.0, 0.0, 40.0]), np.array([20.0, 0.0, 29.0]), np.array([30.0, 30.0, 30.0])
    expected = (0.5 + x) / (5.0 + T) * 10.0
    assert model.conditional_expected_purchases(10.0, x, tx, T) == pytest.approx(expected, rel=1e-5)


def test_analytic_gradients_match_finite_differences(cdnow_summary):
    f = cdnow_summary.frame
    x, tx, T = (f[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    theta = np.log([0.3, 5.0, 0.9, 2.0])
    _, grad = _bgnbd_ll_and_grad(theta, x, tx, T)
    numeric = optimize.approx_fprime(
        theta, lambda p: _bgnbd_ll_and_grad(p, x, tx, T, gradient=False)[0].sum(), 1e-7
    )
    assert grad.sum(axis=0) == pytest.approx(numeric, rel=1e-4, abs=1e-3)
    keep = x > 0
    m = f["monetary_value"].to_numpy()[keep]
    phi = np.log([5.0, 3.0, 12.0])
    _, grad = _gg_ll_and_grad(phi, x[keep], m)
    numeric = optimize.approx_fprime(
        phi, lambda p: _gg_ll_and_grad(p, x[keep], m, gradient=False)[0].sum(), 1e-7
    )
    assert grad.sum(axis=0) == pytest.approx(numeric, rel=1e-4, abs=1e-3)


# -- planted simulations ------------------------------------------------------------------------


def simulate_bgnbd(n, *, r, alpha, a, b, T, holdout, rng):
    """Draw a BG/NBD population: lambda ~ Gamma(r, alpha), p ~ Beta(a, b), exponential gaps,
    dropout with probability p right after each repeat purchase.

    Returns x and t_x in [0, T], holdout purchases in (T, T + holdout], and whether each
    customer is still alive at T.
    """
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    t = np.zeros(n)
    x = np.zeros(n, dtype=np.int64)
    tx = np.zeros(n)
    x_holdout = np.zeros(n, dtype=np.int64)
    death = np.full(n, np.inf)
    end = T + holdout
    idx = np.arange(n)
    while idx.size:
        nxt = t[idx] + rng.exponential(1.0, idx.size) / lam[idx]
        keep = nxt <= end[idx]
        idx, nxt = idx[keep], nxt[keep]
        in_cal = nxt <= T[idx]
        x[idx[in_cal]] += 1
        tx[idx[in_cal]] = nxt[in_cal]
        x_holdout[idx[~in_cal]] += 1
        t[idx] = nxt
        dies = rng.random(idx.size) < p[idx]
        death[idx[dies]] = nxt[dies]
        idx = idx[~dies]
    return x, tx, x_holdout, death > T


TRUE_BGNBD = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}


@pytest.fixture(scope="module")
def simulated():
    rng = np.random.default_rng(20240611)
    n = 50_000
    T = rng.uniform(39.0, 78.0, n)
    x, tx, x_holdout, alive = simulate_bgnbd(n, T=T, holdout=39.0, rng=rng, **TRUE_BGNBD)
    return {"x": x, "tx": tx, "T": T, "x_holdout": x_holdout, "alive": alive}


def test_bgnbd_recovers_planted_parameters(simulated):
    # Over 10 seeds at 20,000 customers the relative errors had SDs of 1%, 2%, 5% and 6%
    # (r, alpha, a, b); at 50,000 they shrink by 1/sqrt(2.5), so 10% / 15% are > 4 SDs.
    model = BgNbd().fit(simulated["x"], simulated["tx"], simulated["T"])
    assert model.r_ == pytest.approx(TRUE_BGNBD["r"], rel=0.10)
    assert model.alpha_ == pytest.approx(TRUE_BGNBD["alpha"], rel=0.10)
    assert model.a_ == pytest.approx(TRUE_BGNBD["a"], rel=0.15)
    assert model.b_ == pytest.approx(TRUE_BGNBD["b"], rel=0.15)


def test_predictions_match_the_planted_population(simulated):
    model = _model(**TRUE_BGNBD)
    x, tx, T = simulated["x"], simulated["tx"], simulated["T"]
    # P(alive) is calibrated: among repeat customers, the mean probability equals the share alive.
    p_alive = model.probability_alive(x, tx, T)
    repeat = x > 0
    share = simulated["alive"][repeat].mean()
    se = np.sqrt(share * (1 - share) / repeat.sum())
    assert abs(p_alive[repeat].mean() - share) < 4 * se
    for lo, hi in ((0.0, 0.3), (0.3, 0.7), (0.7, 1.0)):
        band = repeat & (p_alive > lo) & (p_alive <= hi)
        assert abs(p_alive[band].mean() - simulated["alive"][band].mean()) < 0.03
    # Holdout purchases: expected against simulated, in total and per frequency bucket.
    expected = model.conditional_expected_purchases(39.0, x, tx, T)
    actual = simulated["x_holdout"]
    assert expected.sum() == pytest.approx(actual.sum(), rel=0.03)
    frame = pl.DataFrame({"frequency": x, "recency": tx, "T": T, "holdout_transactions": actual})
    table = calibration_holdout_table(model, frame, holdout_length=39.0)
    big = table.filter(pl.col("customers") >= 500)
    assert big.height >= 6
    assert big["predicted_mean"].to_numpy() == pytest.approx(big["actual_mean"].to_numpy(), rel=0.1, abs=0.02)
    # Unconditional E[X(T)] summed over customers against the calibration purchases.
    assert model.expected_purchases(T).sum() == pytest.approx(x.sum(), rel=0.03)


TRUE_GG = {"p": 6.0, "q": 4.0, "gamma": 15.0}


def test_gamma_gamma_recovers_planted_parameters():
    # nu ~ Gamma(q, rate gamma) per customer, each purchase ~ Gamma(p, rate nu); the customer's
    # mean spend over x purchases. Over 10 seeds at 10,000 customers the relative errors had
    # SDs of 6%, 2% and 10% (p, q, gamma); at 50,000 the 15% / 10% / 20% bounds are > 4 SDs.
    rng = np.random.default_rng(7)
    n = 50_000
    x = rng.integers(1, 11, n)
    nu = rng.gamma(TRUE_GG["q"], 1.0 / TRUE_GG["gamma"], n)
    spend = rng.gamma(TRUE_GG["p"], 1.0 / np.repeat(nu, x))
    m = np.bincount(np.repeat(np.arange(n), x), weights=spend) / x
    gg = GammaGamma().fit(x, m)
    assert gg.p_ == pytest.approx(TRUE_GG["p"], rel=0.15)
    assert gg.q_ == pytest.approx(TRUE_GG["q"], rel=0.10)
    assert gg.gamma_ == pytest.approx(TRUE_GG["gamma"], rel=0.20)
    # The population mean spend p gamma / (q - 1) is identified much better than p and gamma.
    assert gg.p_ * gg.gamma_ / (gg.q_ - 1) == pytest.approx(30.0, rel=0.03)
    assert abs(gg.frequency_monetary_correlation_) < 0.05  # independent by construction


# -- CLV ---------------------------------------------------------------------------------------


def _gamma_gamma(p: float, q: float, gamma: float) -> GammaGamma:
    gg = GammaGamma()
    gg.p_, gg.q_, gg.gamma_ = p, q, gamma
    return gg


def test_clv_in_the_nbd_limit_is_a_geometric_sum():
    # Without dropout purchases arrive at the posterior rate (r + x) / (alpha + T) per week, so
    # over 12 monthly steps of 365.25/12/7 weeks discounted at (1 + d)^(k/12):
    # CLV = value * rate * step * sum_k (1 + d)^(-k/12).
    bgnbd = _model(r=0.5, alpha=5.0, a=np.exp(-15.0), b=np.exp(15.0))
    gg = _gamma_gamma(6.0, 4.0, 15.0)
    summary = pl.DataFrame(
        {
            "customer_id": ["a", "b"],
            "frequency": [3, 0],
            "recency": [20.0, 0.0],
            "T": [30.0, 30.0],
            "monetary_value": [40.0, 0.0],
        }
    )
    step = 365.25 / 12 / 7
    out = customer_lifetime_value(
        bgnbd, gg, summary, horizon_periods=12 * step, discount_rate=0.1, period="week"
    )
    rate = (0.5 + np.array([3.0, 0.0])) / 35.0
    value = np.array([6.0 * (15.0 + 40.0 * 3) / (6.0 * 3 + 3.0), 6.0 * 15.0 / 3.0])
    factor = sum(1.1 ** (-k / 12) for k in range(1, 13))
    assert out["clv"].to_numpy() == pytest.approx(value * rate * step * factor, rel=1e-5)
    assert out["expected_transactions"].to_numpy() == pytest.approx(rate * 12 * step, rel=1e-5)
    assert out["expected_average_value"].to_numpy() == pytest.approx(value)
    assert out["customer_id"].to_list() == ["a", "b"]


def test_clv_without_discount_is_value_times_expected_purchases(cdnow_summary):
    bgnbd, gg = _model(**PAPER), _gamma_gamma(6.25, 3.74, 15.44)
    out = customer_lifetime_value(bgnbd, gg, cdnow_summary, horizon_periods=78.0, discount_rate=0.0)
    f = cdnow_summary.frame
    x, tx, T, m = (f[c].to_numpy().astype(float) for c in ("frequency", "recency", "T", "monetary_value"))
    value = 6.25 * (15.44 + m * x) / (6.25 * x + 3.74 - 1)
    assert out["clv"].to_numpy() == pytest.approx(value * _naive_conditional(PAPER, 78.0, x, tx, T), rel=1e-9)
    discounted = customer_lifetime_value(bgnbd, gg, cdnow_summary, horizon_periods=78.0, discount_rate=0.1)
    # 78 weeks is 1.5 years: every step is discounted by between 1 and 1.1^-1.5.
    ratio = discounted["clv"].to_numpy() / out["clv"].to_numpy()
    assert ((ratio < 1) & (ratio > 1.1**-1.5)).all()


def test_clv_rejects_bad_horizon_and_rate(cdnow_summary):
    bgnbd, gg = _model(**PAPER), _gamma_gamma(6.25, 3.74, 15.44)
    with pytest.raises(ValueError, match="horizon must be a finite number of periods > 0"):
        customer_lifetime_value(bgnbd, gg, cdnow_summary, horizon_periods=0)
    with pytest.raises(ValueError, match="discount_rate must be a finite annual rate"):
        customer_lifetime_value(bgnbd, gg, cdnow_summary, horizon_periods=52, discount_rate=-1.5)


# -- edge cases of the log ------------------------------------------------------------------


def _log(**columns) -> pl.DataFrame:
    base = {
        "id": [1, 1, 1, 2],
        "day": [date(2024, 1, 1), date(2024, 1, 8), date(2024, 1, 15), date(2024, 1, 3)],
        "eur": [10.0, 20.0, 30.0, 5.0],
    }
    base.update(columns)
    return pl.DataFrame(base)


def _summarize(frame, **kwargs) -> TransactionSummary:
    options = {
        "customer_col": "id",
        "date_col": "day",
        "value_col": "eur",
        "calibration_end": date(2024, 1, 31),
        "as_of": date(2024, 3, 1),
    }
    options.update(kwargs)
    return summarize_transactions(frame, **options)


def test_same_day_purchases_are_one_and_periods_convert():
    log = _log(
        id=[1, 1, 1, 1],
        day=[date(2024, 1, 1), date(2024, 1, 1), date(2024, 1, 15), date(2024, 1, 29)],
        eur=[10.0, 5.0, 7.0, 9.0],
    )
    week = _summarize(log).frame.row(0, named=True)
    assert week == {"customer_id": 1, "frequency": 2, "recency": 28 / 7, "T": 30 / 7, "monetary_value": 8.0}
    day = _summarize(log, period="day").frame.row(0, named=True)
    assert (day["recency"], day["T"]) == (28.0, 30.0)
    month = _summarize(log.lazy(), period="month").frame.row(0, named=True)
    assert month["T"] == pytest.approx(30 / (365.25 / 12))


def test_customer_ids_keep_their_type_and_text_dates_parse():
    log = pl.DataFrame(
        {"id": ["b", "a", "a"], "day": ["2024-01-05", "2024-01-01", "2024-01-20"], "eur": [1, 2, 3]}
    )
    frame = _summarize(log).frame
    assert frame["customer_id"].dtype == pl.String and frame["customer_id"].to_list() == ["a", "b"]
    assert frame["frequency"].to_list() == [1, 0]
    stamps = _log(
        day=[
            datetime(2024, 1, 1, 23, 59),
            datetime(2024, 1, 1, 0, 1),
            datetime(2024, 1, 9),
            datetime(2024, 1, 3),
        ]
    )
    assert _summarize(stamps).frame["frequency"].to_list() == [1, 0]


def test_negative_values_are_left_out_and_zero_values_count():
    log = _log(
        id=[1, 1, 1, 1, 2, 2],
        day=[date(2024, 1, d) for d in (1, 5, 9, 12, 3, 7)],
        eur=[10.0, -10.0, 0.0, 6.0, 5.0, 0.0],
    )
    summary = _summarize(log)
    one, two = summary.frame.rows(named=True)
    # Customer 1: the refund on the 5th is not a purchase; the free purchase on the 9th is.
    assert (one["frequency"], one["monetary_value"]) == (2, 3.0)
    assert (two["frequency"], two["monetary_value"]) == (1, 0.0)
    assert summary.rows_negative == 1 and summary.rows_used == 5
    assert any("1 rows with a negative value" in note for note in summary.notes)


def test_rows_after_the_window_and_in_the_future_are_counted():
    log = _log(
        id=[1, 1, 1, 2, 3],
        day=[date(2024, 1, 1), date(2024, 2, 10), date(2024, 4, 1), date(2024, 1, 3), date(2024, 2, 2)],
        eur=[1.0, 2.0, 3.0, 4.0, 5.0],
    )
    summary = _summarize(log, holdout_end=date(2024, 2, 15), as_of=date(2024, 3, 1))
    assert summary.rows_in_future == 1 and summary.rows_after_window == 0
    assert summary.customers_after_calibration == 1  # customer 3 starts in the holdout
    assert summary.frame["holdout_transactions"].to_list() == [1, 0]
    assert summary.frame["holdout_value"].to_list() == [2.0, 0.0]
    assert summary.holdout_length == pytest.approx(15 / 7)
    assert any("after as_of (2024-03-01)" in note for note in summary.notes)
    no_holdout = _summarize(log, as_of=date(2024, 6, 1))
    assert no_holdout.rows_after_window == 3 and no_holdout.rows_in_future == 0
    assert "holdout_transactions" not in no_holdout.frame.columns


@pytest.mark.parametrize(
    ("frame", "kwargs", "message"),
    [
        (_log().rename({"eur": "amount"}), {}, "no column 'eur'; its columns are: id, day, amount"),
        (_log(eur=["1", "2", "3", "4"]), {}, "Column 'eur' (value) must be numeric, but it holds String"),
        (
            _log(day=["2024-01-01", "2024-01-02", "2024-13-45", "2024-01-03"]),
            {},
            "Column 'day' (date) is not a date in row 3: '2024-13-45'",
        ),
        (_log(day=[True, False, True, True]), {}, "Column 'day' (date) must hold dates"),
        (_log(id=[1, None, 1, 2]), {}, "Column 'id' (customer id) is empty in row 2"),
        (
            _log(day=[date(2024, 1, 1), None, date(2024, 1, 2), date(2024, 1, 3)]),
            {},
            "Column 'day' (date) is empty in row 2",
        ),
        (_log(eur=[1.0, 2.0, None, 4.0]), {}, "Column 'eur' (value) is empty in row 3"),
        (
            _log(eur=[1.0, float("inf"), 3.0, 4.0]),
            {},
            "Column 'eur' (value) is not a finite number in row 2: inf",
        ),
        (
            _log(),
            {"holdout_end": date(2024, 1, 31)},
            "calibration_end (2024-01-31) must be before holdout_end (2024-01-31)",
        ),
        (_log(), {"holdout_end": date(2024, 4, 1)}, "holdout_end (2024-04-01) is after as_of (2024-03-01)"),
        (_log(), {"calibration_end": date(2023, 12, 31)}, "No customer has a purchase"),
        (_log(), {"period": "year"}, "period must be one of day, week or month, got 'year'"),
        (_log(), {"value_col": "id"}, "three different columns"),
    ],
)
def test_bad_logs_are_refused_with_a_clear_message(frame, kwargs, message):
    with pytest.raises(ValueError) as error:
        _summarize(frame, **kwargs)
    assert message in str(error.value)


def test_future_window_defaults_to_today():
    today = datetime.now().date()
    with pytest.raises(ValueError, match="is after as_of"):
        summarize_transactions(
            _log(),
            customer_col="id",
            date_col="day",
            value_col="eur",
            calibration_end=date(today.year + 1, 1, 1),
        )


# -- fit failures --------------------------------------------------------------------------------


def test_fit_failures_name_what_failed(cdnow_summary):
    f = cdnow_summary.frame
    x, tx, T = f["frequency"], f["recency"], f["T"]
    with pytest.raises(ClvFitError, match=r"The BG/NBD fit did not converge \(largest gradient"):
        BgNbd(max_iter=1).fit(x, tx, T)
    with pytest.raises(ClvFitError, match="No customer made a repeat purchase"):
        BgNbd().fit([0, 0, 0], [0.0, 0.0, 0.0], [10.0, 5.0, 3.0])
    with pytest.raises(ClvFitError, match="at least 10 customers with a repeat purchase"):
        GammaGamma().fit([1, 2, 0, 3], [5.0, 7.0, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"T must be >= recency \(customer at position 1: 3.0\)"):
        BgNbd().fit([1, 2], [2.0, 5.0], [4.0, 3.0])
    with pytest.raises(ValueError, match="frequency must be a whole number >= 0"):
        BgNbd().fit([1.5], [2.0], [4.0])
    with pytest.raises(ValueError, match="penalizer must be a finite number >= 0"):
        BgNbd(penalizer=-1).fit(x, tx, T)
    with pytest.raises(ValueError, match="BgNbd is not fitted yet"):
        BgNbd().probability_alive([1], [1.0], [2.0])
    with pytest.raises(ValueError, match="no finite mean"):
        _gamma_gamma(2.0, 0.9, 10.0).conditional_expected_average_value([0, 3], [0.0, 10.0])


def test_a_parameter_running_off_is_refused_and_a_penalty_fixes_it():
    # Every purchase is worth about the same (20 to 21): the Gamma shape p runs off to infinity.
    rng = np.random.default_rng(0)
    n = 1000
    x = rng.integers(1, 20, n)
    m = 20.0 + rng.random(n)
    with pytest.raises(ClvFitError, match=r"Gamma-Gamma fit ran parameter p to the edge of its range"):
        GammaGamma().fit(x, m)
    gg = GammaGamma(penalizer=0.001).fit(x, m)
    assert gg.conditional_expected_average_value([0, 3], [0.0, 20.5]) == pytest.approx([20.5, 20.5], rel=0.1)


def test_no_dropout_is_the_nbd_limit_and_is_reported():
    rng = np.random.default_rng(5)
    n = 5000
    T = rng.uniform(39.0, 78.0, n)
    lam = rng.gamma(2.0, 0.1, n)
    x = rng.poisson(lam * T)
    tx = np.where(x > 0, T * rng.beta(np.maximum(x, 1), 1), 0.0)  # last of x uniform times
    summary = pl.DataFrame(
        {
            "customer_id": np.arange(n),
            "frequency": x,
            "recency": tx,
            "T": T,
            "monetary_value": np.where(x > 0, rng.gamma(5.0, 4.0, n), 0.0),
        }
    )
    result = fit_clv(summary, horizon_periods=10.0)
    assert result.params.a / (result.params.a + result.params.b) < NO_DROPOUT_LEVEL
    assert any("almost no dropout" in w for w in result.warnings)
    assert result.customers["probability_alive"].min() > 0.999
    assert result.params.r / result.params.alpha == pytest.approx(0.2, rel=0.05)


def test_strong_frequency_spend_correlation_is_warned():
    rng = np.random.default_rng(11)
    n = 3000
    x = rng.integers(1, 20, n)
    nu = rng.gamma(4.0, 1 / 15.0, n) / x  # spend per purchase grows with frequency
    m = rng.gamma(6.0 * x, 1 / nu) / x
    T = np.full(n, 52.0)
    tx = T * rng.uniform(0.5, 1.0, n)
    summary = pl.DataFrame(
        {"customer_id": np.arange(n), "frequency": x, "recency": tx, "T": T, "monetary_value": m}
    )
    zero = pl.DataFrame(
        {"customer_id": [n], "frequency": [0], "recency": [0.0], "T": [52.0], "monetary_value": [0.0]}
    )
    result = fit_clv(pl.concat([summary, zero]))
    assert result.frequency_monetary_correlation > 0.5
    assert any(f"Pearson r = {result.frequency_monetary_correlation:.2f}" in w for w in result.warnings)
    assert result.horizon_periods == pytest.approx(365.25 / 7)
    assert result.calibration_holdout is None


def test_fit_clv_needs_the_summary_columns():
    with pytest.raises(ValueError, match="no column monetary_value"):
        fit_clv(pl.DataFrame({"customer_id": [1], "frequency": [1], "recency": [1.0], "T": [2.0]}))
    summary = pl.DataFrame(
        {"customer_id": [1], "frequency": [1], "recency": [1.0], "T": [2.0], "monetary_value": [1.0]}
    )
    with pytest.raises(ValueError, match="pass holdout_end to summarize_transactions"):
        calibration_holdout_table(_model(**PAPER), summary)


# -- the sample bank ---------------------------------------------------------------------------


def test_bank_transaction_log_is_daily_debit_spend(sample_db):
    log = bank_transaction_log(sample_db.backend())
    assert log.columns == ["customer_id", "date", "value"]
    assert log.schema["date"] == pl.Date
    raw = sample_db.query(
        "select count(distinct (customer_id, ts::date)) as days, sum(amount) as spend"
        " from transactions where direction = 'debit'"
    ).row(0, named=True)
    assert log.height == raw["days"]
    assert log["value"].sum() == pytest.approx(raw["spend"], rel=1e-9)
    assert (log["value"] > 0).all()
    cohort = bank_transaction_log(sample_db.backend(), start=date(2025, 1, 1), joined_from=date(2025, 1, 1))
    joined = sample_db.query("select customer_id, joined_at from customers")
    starts = cohort.join(joined, on="customer_id")
    assert cohort.height > 0 and (starts["joined_at"] >= date(2025, 1, 1)).all()
    assert cohort["date"].min() >= date(2025, 1, 1)


def test_clv_on_the_sample_bank(sample_db):
    as_of = sample_db.snapshot_date()
    started = time.perf_counter()
    log = bank_transaction_log(sample_db.backend())
    summary = summarize_transactions(
        log,
        customer_col="customer_id",
        date_col="date",
        value_col="value",
        calibration_end=date(2026, 4, 30),
        holdout_end=as_of,
        as_of=as_of,
    )
    result = fit_clv(summary)
    elapsed = time.perf_counter() - started
    params = np.array(list(vars(result.params).values()))
    assert np.isfinite(params).all() and (params > 0).all()
    assert np.isfinite(result.customers.select(pl.exclude("customer_id")).to_numpy()).all()
    assert result.n_customers > 15_000
    # Planted: customers who closed their accounts in the calibration window fade out before,
    # so the model should find them less likely alive than customers still open.
    closed = sample_db.query(
        "select customer_id from customers where closed_at is not null and closed_at <= date '2026-04-30'"
    )["customer_id"]
    is_closed = result.customers["customer_id"].is_in(closed.implode())
    p_alive = result.customers["probability_alive"]
    assert p_alive.filter(is_closed).mean() < p_alive.filter(~is_closed).mean() - 0.2
    holdout = result.calibration_holdout
    assert holdout["predicted_total"].sum() == pytest.approx(holdout["actual_total"].sum(), rel=0.1)
    assert elapsed < 10.0


def test_homogeneous_dropout_limit():
    # a, b -> infinity with a / (a + b) = p0: everyone drops out with p0 after each purchase, so
    # P(alive) = 1 / (1 + p0 / (1 - p0) ((alpha+T)/(alpha+t_x))^(r+x)) and, alive,
    # E[Y(t)] = (1 - ((alpha+T)/(alpha+T+p0 t))^(r+x)) / p0 (lambda ~ Gamma(r+x, alpha+T)).
    p0, r, alpha = 0.05, 2.0, 10.0
    # The gap to the limit shrinks as 1/b (1e-3 at b = 2e4, 1e-6 at b = 2e7, checked by hand).
    model = _model(r=r, alpha=alpha, a=2e7 * p0 / (1 - p0), b=2e7)
    x, tx, T, t = np.array([0.0, 5.0, 19.0]), np.array([0.0, 40.0, 30.0]), np.full(3, 52.0), 26.0
    alive = 1 / (1 + (x > 0) * p0 / (1 - p0) * ((alpha + T) / (alpha + tx)) ** (r + x))
    expected = alive * (1 - ((alpha + T) / (alpha + T + p0 * t)) ** (r + x)) / p0
    assert model.probability_alive(x, tx, T) == pytest.approx(alive, rel=1e-5)
    assert model.conditional_expected_purchases(t, x, tx, T) == pytest.approx(expected, rel=1e-5)
