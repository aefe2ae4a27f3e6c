"""Segmentation: planted blobs (k found, ARI ~1), every algorithm labels every row, bad input,
the SMD against a hand computation, heavy-tailed uploaded columns, and the sample bank's planted
personas."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from analytics.segments import clustering as S
from analytics.segments.features import FeatureFrame, load_features, override_scaling, prepare_feature_frame


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=3000, centers=4, n_features=5, cluster_std=0.6, random_state=3)
    return X, y


def _frame(X: np.ndarray) -> FeatureFrame:
    cols = tuple(f"x{i}" for i in range(X.shape[1]))
    frame = pl.DataFrame({"customer_id": np.arange(X.shape[0]), **{c: X[:, i] for i, c in enumerate(cols)}})
    return FeatureFrame(frame=frame, id_column="customer_id", features=cols)


def test_evaluate_and_suggest_k_find_the_blobs(blobs):
    X, y = blobs
    ev = S.evaluate_k(X, ks=range(2, 8), n_bootstrap=3)
    assert ev.filter(pl.col("k") == 4)["stability"].item() > 0.99
    assert ev.sort("silhouette", descending=True)["k"][0] == 4
    # Largest stable k: blobs split no further reproducibly.
    assert S.suggest_k(ev) == 4
    result = S.run_segmentation(_frame(X), algorithm="kmeans")
    assert result.k == 4
    assert adjusted_rand_score(y, result.assignment["segment"]) > 0.99


@pytest.mark.parametrize("algorithm", ["kmeans", "gmm", "agglomerative", "hdbscan"])
def test_every_algorithm_labels_every_row(blobs, algorithm):
    X, y = blobs
    labels = S.fit_segments(X, algorithm=algorithm, k=4, sample_size=1000)
    assert labels.shape == (X.shape[0],)
    clustered = labels != S.NOISE
    assert clustered.mean() > 0.9
    assert adjusted_rand_score(y[clustered], labels[clustered]) > 0.95


def test_k_larger_than_population():
    with pytest.raises(ValueError) as err:
        S.run_segmentation(_frame(np.random.default_rng(0).normal(size=(5, 2))), algorithm="kmeans", k=9)
    assert str(err.value) == S.MSG_K_TOO_LARGE.format(k=9, n=5)
    with pytest.raises(ValueError, match="at least 2, got 1"):
        S.fit_segments(np.zeros((5, 2)), algorithm="kmeans", k=1)
    with pytest.raises(ValueError, match="Unknown algorithm 'dbscan'"):
        S.run_segmentation(_frame(np.zeros((5, 2))), algorithm="dbscan", k=2)


def test_small_segment_is_a_warning():
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(0, 0.1, size=(500, 2)), rng.normal(10, 0.1, size=(20, 2))])
    result = S.run_segmentation(_frame(X), algorithm="kmeans", k=2)
    small = result.sizes.filter(pl.col("customers") == 20)["segment"].item()
    assert result.warnings == (S.MSG_SMALL_SEGMENT.format(segment=small, size=20, minimum=50),)


def test_smd_against_hand_computation():
    # inside 1, 2, 3 (mean 2, var 1); outside 4, 6 (mean 5, var 2); pooled var (2*1 + 1*2) / 3 = 4/3.
    smd = S.standardized_mean_difference(np.array([1.0, 2.0, 3.0]), np.array([4.0, 6.0]))
    assert smd == pytest.approx(-3 / np.sqrt(4 / 3))
    profile = S.profile_segments(
        pl.DataFrame({"annual_income": [1.0, 2.0, 3.0, 4.0, 6.0]}), np.array([0, 0, 0, 1, 1])
    )
    row = profile.filter(pl.col("segment") == 1).row(0, named=True)
    assert row["smd_annual_income"] == pytest.approx(3 / np.sqrt(4 / 3))
    assert row["customers"] == 2 and row["share"] == pytest.approx(0.4)
    assert row["suggested_name"] == "High income"


def test_planted_personas_are_recovered(sample_db, sample_truth):
    ff = load_features(sample_db.backend())
    result = S.run_segmentation(ff, algorithm="kmeans")
    truth = pl.DataFrame(
        {
            "customer_id": sample_truth["personas"]["customer_ids"],
            "persona": sample_truth["personas"]["personas"],
        }
    )
    joined = result.assignment.join(truth, on="customer_id")
    assert joined.height == ff.n_customers
    ari = adjusted_rand_score(joined["persona"], joined["segment"])
    assert ari >= 0.6, f"ARI {ari:.3f} with k={result.k}"
    assert abs(result.k - 6) <= 1
    assert result.excluded_no_consent > 0


def test_heavy_tailed_upload_is_recovered_with_the_automatic_scaling():
    # Four well-separated groups; two columns exponentiated like spend (long right tail).
    X, y = make_blobs(n_samples=2000, centers=4, n_features=4, cluster_std=1.0, random_state=0)
    table = pl.DataFrame(
        {"customer_id": np.arange(len(y)), "spend": np.exp(X[:, 0]), "balance": np.exp(X[:, 1])}
    ).with_columns(pl.Series("x2", X[:, 2]), pl.Series("x3", X[:, 3]))
    prepared = prepare_feature_frame(table)
    assert prepared.scaling.get_column("scaling").to_list() == ["log", "log", "standard", "standard"]
    automatic = S.run_segmentation(prepared, algorithm="kmeans", k=4)
    plain = S.run_segmentation(
        override_scaling(prepared, dict.fromkeys(prepared.features, "standard")), algorithm="kmeans", k=4
    )
    ari_automatic = adjusted_rand_score(y, automatic.assignment["segment"])
    ari_plain = adjusted_rand_score(y, plain.assignment["segment"])
    assert ari_automatic >= 0.95, f"automatic {ari_automatic:.3f}"
    # Plain standardization leaves the tails in: measured 0.713 on this table (automatic 1.000).
    assert ari_plain < min(ari_automatic, 0.8), f"plain {ari_plain:.3f}, automatic {ari_automatic:.3f}"
