"""The customer map: PCA against a NumPy SVD, UMAP on planted Gaussian blobs (fitted on all
rows and on a sample with the rest transformed), progress, the stored maps, the lasso
against an analytic polygon, and the Plotly figure.

UMAP's first fit in a process compiles for 10-30 s, so the UMAP fits are module-scoped
fixtures that every UMAP test shares."""

from __future__ import annotations

from datetime import date

import numpy as np
import plotly.graph_objects as go
import polars as pl
import pytest
from sklearn.decomposition import PCA
from sklearn.manifold import trustworthiness
from sklearn.neighbors import KNeighborsClassifier

from analytics.segments import map_selection, maps, projections
from analytics.store.contracts import CANONICAL_TABLES, SEGMENT_MAP_POINTS, SEGMENT_MAPS
from analytics.store.database import Database
from app.charts import segments as charts


def _blobs(n: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three well-separated Gaussian blobs in 10 dimensions (centres 12 SDs apart)."""
    rng = np.random.default_rng(seed)
    centres = np.zeros((3, 10))
    centres[0, 0], centres[1, 1], centres[2, 2] = 12.0, 12.0, 12.0
    labels = rng.integers(0, 3, n)
    return centres[labels] + rng.normal(size=(n, 10)), labels


def _knn_agreement(coords: np.ndarray, labels: np.ndarray, *, k: int = 10) -> float:
    """Share of points whose k nearest map neighbours (not counting themselves) mostly share their blob."""
    knn = KNeighborsClassifier(n_neighbors=k + 1).fit(coords, labels)
    neighbours = knn.kneighbors(coords, return_distance=False)[:, 1:]
    majority = np.array([np.bincount(row, minlength=3).argmax() for row in labels[neighbours]])
    return float((majority == labels).mean())


# -- PCA ---------------------------------------------------------------------------------------
def test_pca_map_equals_the_svd_scores_up_to_sign():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6))
    coords = projections.pca_map(X)
    # Reference: scores on the first two right singular vectors of the centred matrix.
    centred = X - X.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    scores = u[:, :2] * s[:2]
    for j in range(2):
        sign = np.sign(scores[:, j] @ coords[:, j])
        np.testing.assert_allclose(coords[:, j], sign * scores[:, j], atol=1e-9)
    # ... and the very numbers scikit-learn's PCA gives.
    np.testing.assert_allclose(coords, PCA(n_components=2).fit_transform(X), atol=1e-12)


def test_pca_map_refuses_bad_matrices():
    with pytest.raises(ValueError, match="must be 2-D"):
        projections.pca_map(np.zeros(5))
    with pytest.raises(ValueError, match="at least 2 feature columns, got 1"):
        projections.pca_map(np.zeros((5, 1)))
    X = np.ones((5, 3))
    X[3, 2] = np.nan
    with pytest.raises(ValueError, match="row 4, column 3"):
        projections.pca_map(X)


# -- UMAP --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sampled_fit():
    """1,200 rows: UMAP fitted on a 400-row sample, the other 800 transformed in chunks of 300."""
    X, labels = _blobs(1_200, seed=7)
    calls: list[tuple[float, str]] = []
    old_chunk = projections.TRANSFORM_CHUNK
    projections.TRANSFORM_CHUNK = 300
    try:
        coords = projections.fit_umap_map(
            X, n_neighbors=10, sample_size=400, random_state=3, progress=lambda f, m: calls.append((f, m))
        )
    finally:
        projections.TRANSFORM_CHUNK = old_chunk
    return X, labels, coords, calls


@pytest.fixture(scope="module")
def full_fit(sampled_fit):
    """600 rows fitted whole (after the sampled fit has paid numba's compilation)."""
    X, labels = _blobs(600, seed=11)
    return X, labels, projections.fit_umap_map(X, n_neighbors=10, random_state=5)


def test_umap_keeps_the_planted_blobs_apart(full_fit):
    X, labels, coords = full_fit
    assert coords.shape == (600, 2) and np.isfinite(coords).all()
    assert _knn_agreement(coords, labels) >= 0.99
    assert trustworthiness(X, coords, n_neighbors=5) >= 0.9


def test_umap_is_reproducible_with_a_seed(full_fit):
    X, _, coords = full_fit
    np.testing.assert_allclose(projections.fit_umap_map(X, n_neighbors=10, random_state=5), coords)


def test_sample_and_transform_places_every_row_with_its_blob(sampled_fit):
    X, labels, coords, _ = sampled_fit
    assert coords.shape == (1_200, 2) and np.isfinite(coords).all()
    assert _knn_agreement(coords, labels) >= 0.97
    # Which rows were fitted: the same seeded sample the function draws.
    fitted = np.sort(np.random.default_rng(3).choice(1_200, size=400, replace=False))
    rest = np.setdiff1d(np.arange(1_200), fitted)
    knn = KNeighborsClassifier(n_neighbors=10).fit(coords[fitted], labels[fitted])
    assert (knn.predict(coords[rest]) == labels[rest]).mean() >= 0.97


def test_progress_only_increases_and_ends_at_one(sampled_fit):
    *_, calls = sampled_fit
    fractions = [f for f, _ in calls]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert all(b > a for a, b in zip(fractions, fractions[1:], strict=False))
    messages = " | ".join(m for _, m in calls)
    # One step per transform chunk of 300 over the 800 rows not in the sample.
    for first, last in ((401, 700), (701, 1_000), (1_001, 1_200)):
        assert f"Placing customers {first:,}-{last:,} of 1,200" in messages
    assert messages.endswith("Map of 1,200 customers ready")


def test_umap_parameters_are_checked_before_anything_runs():
    X = np.zeros((50, 3))
    with pytest.raises(ValueError, match="n_neighbors must be between 2 and 200, got 1"):
        projections.fit_umap_map(X, n_neighbors=1)
    with pytest.raises(ValueError, match="min_dist must be between 0 and 1, got 1.5"):
        projections.fit_umap_map(X, min_dist=1.5)
    with pytest.raises(ValueError, match="metric must be one of .*, got 'minkowski'"):
        projections.fit_umap_map(X, metric="minkowski")
    with pytest.raises(ValueError, match="sample_size must be at least 16"):
        projections.fit_umap_map(X, sample_size=10)
    with pytest.raises(ValueError, match="UMAP needs at least 16 customers, got 5"):
        projections.fit_umap_map(np.zeros((5, 3)))


# -- storage -----------------------------------------------------------------------------------
UMAP_PARAMS = {
    "n_neighbors": 15,
    "min_dist": 0.1,
    "metric": "euclidean",
    "random_state": 42,
    "sample_size": 50,
}


@pytest.fixture()
def db():
    database = Database(":memory:")
    database.ensure_schema()
    database.execute("insert into dataset_meta values ('as_of', '2025-01-31')")
    yield database
    database.close()


def test_store_and_load_round_trip(db):
    ids = np.array([30, 10, 20])
    coords = np.array([[3.0, -3.0], [1.0, -1.0], [2.0, -2.0]])
    map_id = maps.store_map(
        db,
        customer_ids=ids,
        coords=coords,
        method="umap",
        feature_columns=["spend", "tenure"],
        params=UMAP_PARAMS,
        fitted_by="alice",
        seconds=1.5,
    )
    backend = db.backend()
    # Feature order does not change a map's identity; parameters do.
    stored = maps.load_map(backend, method="umap", feature_columns=["tenure", "spend"], params=UMAP_PARAMS)
    assert stored is not None and stored.map_id == map_id
    assert stored.feature_columns == ("spend", "tenure")
    assert stored.params == UMAP_PARAMS
    assert (stored.fitted_by, stored.customers, stored.sample_size, stored.seconds) == ("alice", 3, 3, 1.5)
    assert stored.data_as_of == date(2025, 1, 31)
    other = UMAP_PARAMS | {"n_neighbors": 30}
    assert maps.load_map(backend, method="umap", feature_columns=["spend", "tenure"], params=other) is None
    assert (
        maps.load_map(backend, method="pca", feature_columns=["spend", "tenure"], params=UMAP_PARAMS) is None
    )
    points = maps.load_map_points(backend, map_id)
    expected = pl.DataFrame({"customer_id": [10, 20, 30], "x": [1.0, 2.0, 3.0], "y": [-1.0, -2.0, -3.0]})
    assert points.equals(expected)


def test_storing_the_same_map_again_replaces_its_points(db):
    key = {"method": "umap", "feature_columns": ["a", "b"], "params": UMAP_PARAMS}
    first = maps.store_map(db, customer_ids=[1, 2], coords=np.zeros((2, 2)), **key)
    kept = maps.store_map(
        db, customer_ids=[1, 2], coords=np.ones((2, 2)), method="pca", feature_columns=["a", "b"], params={}
    )
    second = maps.store_map(db, customer_ids=[1, 2, 3], coords=np.full((3, 2), 7.0), **key)
    assert second != first
    assert {m.map_id for m in maps.list_maps(db.backend())} == {second, kept}
    per_map = db.query(f"select map_id, count(*) as n from {SEGMENT_MAP_POINTS.name} group by map_id")
    assert dict(per_map.iter_rows()) == {second: 3, kept: 2}
    assert maps.load_map(db.backend(), **key).map_id == second
    assert maps.load_map_points(db.backend(), second).get_column("x").to_list() == [7.0, 7.0, 7.0]


def test_store_refuses_inconsistent_input(db):
    args = {"method": "umap", "feature_columns": ["a", "b"], "params": UMAP_PARAMS}
    with pytest.raises(ValueError, match="3 customer ids but 2 rows"):
        maps.store_map(db, customer_ids=[1, 2, 3], coords=np.zeros((2, 2)), **args)
    with pytest.raises(ValueError, match="Customer id 5 appears more than once \\(rows 1 and 3\\)"):
        maps.store_map(db, customer_ids=[5, 6, 5], coords=np.zeros((3, 2)), **args)
    with pytest.raises(ValueError, match="row 2 is not"):
        maps.store_map(db, customer_ids=[1, 2], coords=np.array([[0.0, 0.0], [np.inf, 0.0]]), **args)
    with pytest.raises(ValueError, match="method must be one of umap, pca, got 'tsne'"):
        maps.store_map(db, customer_ids=[1], coords=np.zeros((1, 2)), **(args | {"method": "tsne"}))
    assert maps.list_maps(db.backend()) == []


def test_a_new_data_load_empties_the_stored_maps(db):
    maps.store_map(
        db, customer_ids=[1], coords=np.zeros((1, 2)), method="pca", feature_columns=["a", "b"], params={}
    )
    db.load_dataset(
        {spec.name: pl.DataFrame(schema=spec.schema) for spec in CANONICAL_TABLES}, meta=db.meta()
    )
    assert maps.list_maps(db.backend()) == []
    assert db.query(f"select count(*) from {SEGMENT_MAP_POINTS.name}").item() == 0


def test_delete_model_rows_takes_only_model_tables_and_their_columns(db):
    with pytest.raises(KeyError, match="not a model-output table: customers"):
        db.delete_model_rows("customers", "customer_id", [1])
    with pytest.raises(KeyError, match="segment_maps has no column nope"):
        db.delete_model_rows(SEGMENT_MAPS.name, "nope", [1])


# -- lasso and figure --------------------------------------------------------------------------
def test_lasso_selects_the_points_inside_a_concave_polygon():
    # An L-shape: the square [0, 4] x [0, 4] without its top-right quarter (2, 4] x (2, 4].
    xs = [0, 4, 4, 2, 2, 0]
    ys = [0, 0, 2, 2, 4, 4]
    grid = np.arange(-0.75, 5.0, 0.5)  # never on an edge
    gx, gy = (a.ravel() for a in np.meshgrid(grid, grid))
    points = pl.DataFrame({"customer_id": np.arange(gx.size), "x": gx, "y": gy})
    truth = (gx > 0) & (gx < 4) & (gy > 0) & (gy < 4) & ~((gx > 2) & (gy > 2))
    got = map_selection.customers_in_lasso(points, xs, ys)
    assert sorted(got.to_list()) == np.flatnonzero(truth).tolist()
    assert got.len() == 48  # 8 x 8 grid points in the square, less the 4 x 4 in the missing quarter
    with pytest.raises(ValueError, match="at least 3 corners"):
        map_selection.customers_in_lasso(points, [0, 1], [0, 1])


def test_figure_colours_by_segment_and_maps_the_selection_back_to_rows():
    points = pl.DataFrame(
        {
            "customer_id": [101, 102, 103, 104],
            "x": [0.0, 1.0, 2.0, 3.0],
            "y": [0.0, 1.0, 0.0, 1.0],
            "customer": ["C-a", "C-b", "C-c", "C-d"],
            "segment": ["gold", "basic", "gold", None],
            "clv": [10.123, 20.0, 30.0, 40.0],
            "tier": ["t1", "t2", "t3", None],
        }
    )
    fig = charts.map_figure(points, color="segment", hover=["clv", "tier"])
    assert isinstance(fig.data[0], go.Scattergl) and fig.layout.dragmode == "lasso"
    assert [t.name for t in fig.data] == ["(none)", "basic", "gold"]
    assert sum(len(t.x) for t in fig.data) == 4
    gold = fig.data[2]
    assert list(gold.text) == ["<b>C-a</b><br>tier: t1", "<b>C-c</b><br>tier: t3"]
    # The hover names the masked id; the customer numbers reach the browser nowhere.
    assert not any(str(i) in "".join(t.text) for t in fig.data for i in (101, 102, 103, 104))
    assert gold.hovertemplate == "%{text}<br>clv: %{customdata[1]:,.2f}<extra></extra>"
    np.testing.assert_array_equal(gold.customdata, [[0.0, 10.123], [2.0, 30.0]])
    # A lasso around the two gold points, as Plotly reports it.
    selected = [{"customdata": list(row)} for row in gold.customdata]
    rows = map_selection.rows_from_selection(selected)
    assert points[rows.tolist(), "customer_id"].to_list() == [101, 103]


def test_figure_colours_by_a_number_with_a_scale():
    points = pl.DataFrame({"x": [0.0, 1.0], "y": [1.0, 0.0], "customer": ["C-a", "C-b"], "clv": [1.0, 2.0]})
    fig = charts.map_figure(points, color="clv")
    assert len(fig.data) == 1 and list(fig.data[0].marker.color) == [1.0, 2.0]
    assert fig.data[0].marker.showscale
    with pytest.raises(ValueError, match="no column 'spend'"):
        charts.map_figure(points, color="spend")


def test_fit_and_store_pca_stores_the_pca_coordinates(db):
    X, _ = _blobs(200, seed=2)
    ids = np.arange(1_000, 1_200)
    names = [f"f{i}" for i in range(10)]
    stored = maps.fit_and_store_map(db, ids, X, method="pca", feature_columns=names, random_state=0)
    assert (stored.method, stored.customers, stored.sample_size) == ("pca", 200, 200)
    assert stored.params == {"random_state": 0}
    # map_params("pca") has random_state 42, not 0: another map, not fitted yet.
    default = maps.map_params("pca")
    assert maps.load_map(db.backend(), method="pca", feature_columns=names, params=default) is None
    points = maps.load_map_points(db.backend(), stored.map_id)
    np.testing.assert_allclose(points.select("x", "y").to_numpy(), PCA(n_components=2).fit_transform(X))
    with pytest.raises(ValueError, match="10 feature column names but the matrix has 3 columns"):
        maps.fit_and_store_map(db, ids, X[:, :3], method="pca", feature_columns=names)


def test_fit_and_store_umap_records_the_sample(db, sampled_fit):
    X, _ = _blobs(300, seed=4)
    fractions: list[float] = []
    stored = maps.fit_and_store_map(
        db,
        np.arange(300),
        X,
        method="umap",
        feature_columns=[f"f{i}" for i in range(10)],
        fitted_by="bob",
        extra_params={"scaler": "standard"},
        progress=lambda f, _m: fractions.append(f),
        n_neighbors=10,
        sample_size=100,
        random_state=1,
    )
    expected = maps.map_params("umap", n_neighbors=10, sample_size=100, random_state=1)
    assert stored.params == expected | {"scaler": "standard"}
    assert (stored.customers, stored.sample_size, stored.fitted_by) == (300, 100, "bob")
    assert stored.seconds > 0 and fractions[-1] == 1.0
    assert maps.load_map_points(db.backend(), stored.map_id).height == 300


def test_importing_the_map_modules_does_not_load_umap():
    import subprocess
    import sys

    code = (
        "import sys, analytics.segments.projections, analytics.segments.maps, "
        "analytics.segments.map_selection; print('umap' in sys.modules, 'numba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
