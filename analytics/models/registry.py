"""Model registry: trained models stored with checksummed artifacts, and their stored scores.

A registered model is two things (docs/models.md, "Registry"):

- a row of the ``models`` table (:data:`analytics.store.contracts.MODELS`): id, target, version per
  target, who trained it and when, the features, the parameters, the test metrics, a hash
  of the rows it was trained on, and the path and SHA-256 of its artifact;
- the artifact: a joblib file holding the fitted estimators (tree pipeline, calibrated
  model, baseline) in ``<database stem>.models/<model_id>.joblib`` next to the database
  (``TAILOR_MODEL_DIR`` overrides the folder). Unpickling runs code, so :func:`load_model`
  opens only ``<models folder>/<model_id>.joblib`` (never a path read from the database)
  and checks the file's HMAC-SHA256 under the model key (:mod:`analytics.store.keys`,
  kept outside the database) over the model id and the bytes before it unpickles: a
  changed file, one copied from another model, or one made without the key is refused.

:func:`score_customers` writes a model's calibrated score of every current customer who consented
to profiling (features as of the snapshot) to ``model_predictions``, replacing that model's
earlier rows; customers without that consent are neither trained on nor scored (docs/privacy.md).
Both tables are model outputs: loading a new data set empties them (their artifacts stay on
disk, unreferenced).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import ibis
import joblib
import numpy as np
import polars as pl
from ibis.common.exceptions import TableNotFound
from sklearn.calibration import CalibratedClassifierCV
from sklearn.pipeline import Pipeline

from analytics.access.consent import keep_profiling_consented, profiling_consented
from analytics.common.docs import shared_docs
from analytics.models import quality as model_quality
from analytics.models import training, training_data
from analytics.store.contracts import MODEL_PREDICTIONS, MODEL_TEST_SCORES, MODELS
from analytics.store.database import Database
from analytics.store.tables import optional_table

MODEL_DIR_ENV = "TAILOR_MODEL_DIR"
"""Environment variable naming the folder of model artifacts (default: next to the database)."""

ARTIFACT_FORMAT = 1
"""Version of the artifact's layout (a dict of estimators and identifying fields)."""

MSG_NO_MODEL_DIR = "An in-memory database has no folder for model artifacts: set {env}."
MSG_UNKNOWN_MODEL = "No registered model has the id {model_id!r}. Registered: {known}."
MSG_NO_MODEL_FOR_TARGET = (
    "No {target} model is registered yet: train one with `python -m analytics train --target {target}`."
)
MSG_ARTIFACT_MISSING = (
    "The artifact of model {model_id} is missing: {path} does not exist. Train the model again"
    " (python -m analytics train --target {target}) or restore the file."
)
MSG_ARTIFACT_MISMATCH = (
    "The artifact at {path} holds model {found!r}, not {model_id!r}: the file belongs to another model."
)
MSG_ARTIFACT_UNSIGNED = (
    "Model {model_id} was registered before model files were signed, so its file is not loaded."
    " Train it again: python -m analytics train --target {target} (make models does it for you)."
)
MSG_ARTIFACT_FORGED = (
    "The artifact of model {model_id} at {path} does not carry this installation's signature: the file"
    " was changed, copied from another model or made elsewhere, so it is not loaded. Train the model"
    " again (python -m analytics train --target {target}) or restore the file from a backup."
)
MSG_ARTIFACT_BAD_NAME = (
    "Model {model_id}'s registry row names the file {name!r}; models load only as <model id>.joblib"
    " from the models folder {folder}, so it is not loaded."
)
MSG_NO_CUSTOMERS = "There are no current customers with profiling consent on the snapshot {as_of} to score."

TOP_FEATURES = 10
"""Rows of the importance table kept in the summaries the CLI prints."""


@dataclass(frozen=True)
class RegisteredModel:
    """A row of the ``models`` table, decoded.

    Parameters
    ----------
    model_id : str
        Identifier, ``<target>-v<version>-<8 hex digits>``.
    target : str
        The :data:`analytics.models.training_data.Target`.
    version : int
        1, 2, ... per target.
    trained_at : datetime.datetime
        When it was registered (naive UTC).
    trained_by : str
        User or job that trained it.
    data_as_of : datetime.date
        Snapshot date of the data it was trained on.
    horizon_days : int
        Days after a cut-off in which the outcome is looked for.
    features : tuple of str
        Input columns, in the order the estimators take them.
    parameters : dict
        ``cutoffs`` (train list, validation, test as ISO dates), ``horizon_days``,
        ``calibration`` (method), ``tree`` and ``baseline`` (hyperparameters of the final steps).
    metrics : dict
        ``model`` and ``baseline`` (test metrics as in :class:`analytics.models.training.TrainedModel`),
        ``calibration`` and ``importance`` (rows of those tables), ``split_sizes``.
    training_snapshot_hash : str
        :func:`hash_training_frame` of the stacked training, validation and test rows.
    artifact_path : str
        Absolute path of the joblib file.
    artifact_sha256 : str
        SHA-256 (hex) of that file when it was registered.
    artifact_hmac : str or None
        HMAC-SHA256 (hex) under the model key of the id and the file's bytes; ``None`` for a
        model registered before artifacts were signed (such a model is not loaded).
    """

    model_id: str
    target: str
    version: int
    trained_at: datetime
    trained_by: str
    data_as_of: date
    horizon_days: int
    features: tuple[str, ...]
    parameters: dict
    metrics: dict
    training_snapshot_hash: str
    artifact_path: str
    artifact_sha256: str
    artifact_hmac: str | None = None

    @property
    def importance(self) -> pl.DataFrame:
        """``feature, mean_abs_shap, direction`` as stored at training, largest first."""
        return pl.DataFrame(
            self.metrics.get("importance", []),
            schema={"feature": pl.String, "mean_abs_shap": pl.Float64, "direction": pl.String},
        )

    @property
    def psi(self) -> pl.DataFrame:
        """Population stability per feature, training rows against the month of registration.

        Columns of :func:`analytics.models.quality.psi_table` (``feature``, ``psi``, ``band``,
        ``missing_expected``, ``missing_actual``); empty for a model registered without it.
        """
        return pl.DataFrame(
            self.metrics.get("psi", []),
            schema={
                "feature": pl.String,
                "psi": pl.Float64,
                "band": pl.String,
                "missing_expected": pl.Float64,
                "missing_actual": pl.Float64,
            },
        )


@dataclass(frozen=True)
class LoadedModel:
    """A registered model with its verified, unpickled estimators.

    Parameters
    ----------
    record : RegisteredModel
        Its registry row.
    pipeline : sklearn.pipeline.Pipeline
        The uncalibrated tree pipeline (the one SHAP explains).
    calibrated : sklearn.calibration.CalibratedClassifierCV
        The calibrated model: the scores.
    baseline : sklearn.pipeline.Pipeline
        The logistic-regression baseline.
    """

    record: RegisteredModel
    pipeline: Pipeline
    calibrated: CalibratedClassifierCV
    baseline: Pipeline

    @property
    def features(self) -> tuple[str, ...]:
        """Input columns, in the order the estimators take them."""
        return self.record.features

    def predict_proba(self, frame: pl.DataFrame) -> np.ndarray:
        """Calibrated probability of the outcome for each row of a feature frame.

        Parameters
        ----------
        frame : polars.DataFrame
            Holds every column of ``record.features``.

        Returns
        -------
        numpy.ndarray
            One probability per row.
        """
        matrix = training_data.feature_matrix(frame, self.record.features)
        return self.calibrated.predict_proba(matrix)[:, 1]


@dataclass(frozen=True)
class ScoreSummary:
    """What one scoring run wrote to ``model_predictions``.

    Parameters
    ----------
    model_id : str
        The model.
    target : str
        Its target.
    version : int
        Its version.
    customers : int
        Rows written: every current customer on the snapshot who consented to profiling.
    mean_score : float
        Mean calibrated score.
    top_decile_mean : float
        Mean score of the highest-scored tenth (``ceil(customers / 10)`` customers).
    scored_at : datetime.datetime
        When the rows were written (naive UTC).
    features_as_of : datetime.date
        The snapshot date the features were computed as of.
    """

    model_id: str
    target: str
    version: int
    customers: int
    mean_score: float
    top_decile_mean: float
    scored_at: datetime
    features_as_of: date


def resolve_model_dir(db_path: str | os.PathLike[str]) -> Path:
    """The models folder: ``TAILOR_MODEL_DIR``, else ``<database stem>.models`` next to the database.

    The one folder artifacts are written to and loaded from (:func:`load_model`).

    Parameters
    ----------
    db_path : str or path-like
        The database file (``Database.path``).

    Returns
    -------
    pathlib.Path
        Absolute folder path (not created here).

    Raises
    ------
    ValueError
        For an in-memory database without ``TAILOR_MODEL_DIR`` (:data:`MSG_NO_MODEL_DIR`).

    Examples
    --------
    >>> resolve_model_dir("/data/bank.duckdb").name
    'bank.models'
    """
    chosen = os.environ.get(MODEL_DIR_ENV)
    if chosen:
        return Path(chosen).expanduser().resolve()
    if str(db_path) == ":memory:":
        raise ValueError(MSG_NO_MODEL_DIR.format(env=MODEL_DIR_ENV))
    path = Path(db_path).expanduser().resolve()
    return path.with_name(f"{path.stem}.models")


def hash_training_frame(frame: pl.DataFrame) -> str:
    """SHA-256 of a training frame, independent of its row and column order.

    The frame's columns are put in name order and its rows sorted by every column, then
    written as CSV (polars' ``write_csv``, UTF-8) and hashed. Polars' ``hash_rows`` is not
    used: its values may change between polars versions, so a stored hash could not be
    recomputed later.

    Parameters
    ----------
    frame : polars.DataFrame
        The rows a model was trained on.

    Returns
    -------
    str
        64 hex digits.

    Examples
    --------
    >>> a = pl.DataFrame({"x": [2, 1], "y": ["b", "a"]})
    >>> hash_training_frame(a) == hash_training_frame(a.reverse().select("y", "x"))
    True
    """
    columns = sorted(frame.columns)
    ordered = frame.select(columns).sort(columns, nulls_last=True)
    return hashlib.sha256(ordered.write_csv().encode("utf-8")).hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB blocks.

    Parameters
    ----------
    path : str or path-like
        The file.

    Returns
    -------
    str
        64 hex digits.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sign_artifact(key: bytes, model_id: str, path: str | os.PathLike[str]) -> str:
    """HMAC-SHA256 (hex) of a model file under the model key, bound to its model id.

    Binding the id means a valid file copied over another model's file is still refused.

    Parameters
    ----------
    key : bytes
        The model key (``Database.keys.model``).
    model_id : str
        The model the file belongs to.
    path : str or path-like
        The artifact file.

    Returns
    -------
    str
        64 hex digits.
    """
    mac = hmac.new(key, f"tailor-model:{model_id}\n".encode(), hashlib.sha256)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            mac.update(block)
    return mac.hexdigest()


def _jsonable_params(estimator: Any) -> dict:
    """An estimator's own hyperparameters that JSON can hold (nested estimators left out)."""
    out = {}
    for key, value in estimator.get_params(deep=False).items():
        if value is None or isinstance(value, (bool, int, float, str)):
            out[key] = value
    return out


def _models_table(backend: ibis.BaseBackend) -> ibis.Table | None:
    # A database from before the registry existed, opened read-only: nothing registered.
    return optional_table(backend, MODELS.name)


@shared_docs
def list_models(backend: ibis.BaseBackend, *, target: str | None = None) -> pl.DataFrame:
    """The registry's rows, newest first (empty when nothing is registered).

    Parameters
    ----------
    {backend}
    target : str, optional
        Keep the models of this target only.

    Returns
    -------
    polars.DataFrame
        The ``models`` columns (JSON columns as text), ordered by ``trained_at`` then
        ``version``, descending.
    """
    table = _models_table(backend)
    if table is None:
        return pl.DataFrame(schema=MODELS.schema)
    if target is not None:
        table = table.filter(table.target == target)
    return table.order_by([ibis.desc("trained_at"), ibis.desc("version")]).to_polars()


def _record(row: dict) -> RegisteredModel:
    return RegisteredModel(
        model_id=row["model_id"],
        target=row["target"],
        version=row["version"],
        trained_at=row["trained_at"],
        trained_by=row["trained_by"],
        data_as_of=row["data_as_of"],
        horizon_days=row["horizon_days"],
        features=tuple(json.loads(row["features"])),
        parameters=json.loads(row["parameters"]),
        metrics=json.loads(row["metrics"]),
        training_snapshot_hash=row["training_snapshot_hash"],
        artifact_path=row["artifact_path"],
        artifact_sha256=row["artifact_sha256"],
        artifact_hmac=row.get("artifact_hmac"),
    )


@shared_docs
def get_model(backend: ibis.BaseBackend, model_id: str) -> RegisteredModel:
    """The registry row of one model.

    Parameters
    ----------
    {backend}
    model_id : str
        The model's id.

    Returns
    -------
    RegisteredModel
        Its row, decoded.

    Raises
    ------
    ValueError
        When no model has that id (:data:`MSG_UNKNOWN_MODEL`, listing the known ids).
    """
    table = _models_table(backend)
    rows = pl.DataFrame() if table is None else table.filter(table.model_id == model_id).to_polars()
    if rows.height == 0:
        known = list_models(backend).get_column("model_id").to_list()
        raise ValueError(MSG_UNKNOWN_MODEL.format(model_id=model_id, known=", ".join(known) or "none"))
    return _record(rows.row(0, named=True))


@shared_docs
def latest_model(backend: ibis.BaseBackend, target: str) -> RegisteredModel:
    """The highest version registered for a target.

    Parameters
    ----------
    {backend}
    target : str
        The :data:`analytics.models.training_data.Target`.

    Returns
    -------
    RegisteredModel
        Its row, decoded.

    Raises
    ------
    ValueError
        For an unknown target, or when none is registered (:data:`MSG_NO_MODEL_FOR_TARGET`).
    """
    if target not in training_data.TARGETS:
        raise ValueError(
            training_data.MSG_UNKNOWN_TARGET.format(target=target, choices=", ".join(training_data.TARGETS))
        )
    table = _models_table(backend)
    rows = (
        pl.DataFrame()
        if table is None
        else table.filter(table.target == target).order_by(ibis.desc("version")).limit(1).to_polars()
    )
    if rows.height == 0:
        raise ValueError(MSG_NO_MODEL_FOR_TARGET.format(target=target))
    return _record(rows.row(0, named=True))


def _next_version(backend: ibis.BaseBackend, target: str) -> int:
    table = _models_table(backend)
    if table is None:
        return 1
    top = table.filter(table.target == target).version.max().to_polars()
    return 1 if top is None else int(top) + 1


def register_model(
    db: Database,
    trained: training.TrainedModel,
    *,
    trained_by: str,
    training_frame_hash: str,
    psi: pl.DataFrame | None = None,
) -> RegisteredModel:
    """Write a trained model's artifact and add it to the registry as the target's next version.

    The registry row, the model's test scores (``model_test_scores``) and, when given, the
    population stability table are written in one transaction.

    Parameters
    ----------
    db : Database
        The bank, opened read-write.
    trained : analytics.models.training.TrainedModel
        From :func:`analytics.models.training.train_model`.
    trained_by : str
        Recorded with the model (the user name, or "batch").
    training_frame_hash : str
        :func:`hash_training_frame` of the rows it was trained on.
    psi : polars.DataFrame, optional
        :func:`analytics.models.quality.psi_table` of the training rows against the latest
        month, stored with the metrics.

    Returns
    -------
    RegisteredModel
        The stored row, as read back from the database.

    Raises
    ------
    ValueError
        For an in-memory database without a model folder (:data:`MSG_NO_MODEL_DIR`).
    """
    backend = db.backend()
    folder = resolve_model_dir(db.path)
    folder.mkdir(parents=True, exist_ok=True)
    version = _next_version(backend, trained.target)
    model_id = f"{trained.target}-v{version}-{uuid.uuid4().hex[:8]}"
    path = folder / f"{model_id}.joblib"
    artifact = {
        "format": ARTIFACT_FORMAT,
        "model_id": model_id,
        "target": trained.target,
        "features": list(trained.features),
        "pipeline": trained.pipeline,
        "calibrated": trained.calibrated,
        "baseline": trained.baseline,
    }
    # Written under a temporary name and renamed, so a crash never leaves a half file under the id.
    partial = path.with_suffix(".joblib.partial")
    joblib.dump(artifact, partial)
    partial.replace(path)
    cutoffs = trained.cutoffs
    parameters = {
        "cutoffs": {
            "train": [d.isoformat() for d in cutoffs.train],
            "validation": cutoffs.validation.isoformat(),
            "test": cutoffs.test.isoformat(),
        },
        "horizon_days": trained.horizon_days,
        "calibration": trained.calibrated.method,
        "tree": _jsonable_params(trained.pipeline.named_steps["model"]),
        "baseline": _jsonable_params(trained.baseline.named_steps["model"]),
    }
    metrics = {
        "model": trained.metrics,
        "baseline": trained.baseline_metrics,
        "calibration": trained.calibration.to_dicts(),
        "importance": trained.importance.to_dicts(),
        "split_sizes": trained.split_sizes,
        "psi": [] if psi is None else psi.to_dicts(),
    }
    record = pl.DataFrame(
        {
            "model_id": [model_id],
            "target": [trained.target],
            "version": [version],
            "trained_at": [datetime.now(UTC).replace(tzinfo=None, microsecond=0)],
            "trained_by": [trained_by],
            "data_as_of": [db.snapshot_date()],
            "horizon_days": [trained.horizon_days],
            "features": [json.dumps(list(trained.features))],
            "parameters": [json.dumps(parameters)],
            "metrics": [json.dumps(metrics)],
            "training_snapshot_hash": [training_frame_hash],
            "artifact_path": [str(path)],
            "artifact_sha256": [file_sha256(path)],
            "artifact_hmac": [sign_artifact(db.keys.model, model_id, path)],
        },
        schema=MODELS.schema,
    )
    try:
        test_scores = trained.test_scores.select(
            pl.lit(model_id).alias("model_id"), *trained.test_scores.columns
        ).cast(dict(MODEL_TEST_SCORES.schema))
        db.store_model_output(append={MODELS.name: record, MODEL_TEST_SCORES.name: test_scores}, replace={})
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return get_model(backend, model_id)


@shared_docs
def build_training_snapshot(
    backend: ibis.BaseBackend,
    *,
    target: training_data.Target,
    cutoffs: training_data.SplitCutoffs,
    horizon_days: int = training_data.DEFAULT_HORIZON_DAYS,
    feature_frames: dict[date, pl.DataFrame] | None = None,
) -> pl.DataFrame:
    """The training, validation and test rows of a split, stacked: what a model is trained on.

    Parameters
    ----------
    {backend}
    target : Target
        What is predicted.
    cutoffs : analytics.models.training_data.SplitCutoffs
        The time split.
    horizon_days : int
        Days of the outcome horizon.
    feature_frames : dict of date to polars.DataFrame, optional
        Point-in-time feature frames by cut-off to reuse; missing ones are computed.

    Returns
    -------
    polars.DataFrame
        :func:`analytics.models.training_data.build_training_frame` of every cut-off, in cut-off order.
    """
    frames = feature_frames or {}
    days = (*cutoffs.train, cutoffs.validation, cutoffs.test)
    return pl.concat(
        [
            training_data.build_training_frame(
                backend, target=target, cutoff=d, horizon_days=horizon_days, features=frames.get(d)
            )
            for d in days
        ],
        how="vertical",
    )


def train_and_register(
    db: Database,
    *,
    target: training_data.Target,
    trained_by: str,
    horizon_days: int = training_data.DEFAULT_HORIZON_DAYS,
    random_state: int = 0,
    progress: Callable[[str], None] | None = None,
    latest_features: pl.DataFrame | None = None,
) -> RegisteredModel:
    """Train a model of ``target`` on the bank (:func:`~analytics.models.training.train_model`), register it.

    The feature frames of every cut-off are computed once and shared by the training
    snapshot's hash and the training itself, so the hash describes exactly the rows fitted on.
    The population stability index of every feature, training rows against the current
    customers, is stored with the metrics.

    Parameters
    ----------
    db : Database
        The bank, opened read-write.
    target : Target
        What is predicted.
    trained_by : str
        Recorded with the model.
    horizon_days : int
        Days of the outcome horizon.
    random_state : int
        Seed of the booster and of the importance sample.
    progress : callable, optional
        Called with one line per step.
    latest_features : polars.DataFrame, optional
        :func:`current_features`, when the caller already has them.

    Returns
    -------
    RegisteredModel
        The registered model.

    Raises
    ------
    ValueError
        For an unknown target, too short a history, or a split with one outcome only (the
        messages of :mod:`analytics.models.training`).
    """
    say = progress or (lambda _line: None)
    if target not in training_data.TARGETS:
        raise ValueError(
            training_data.MSG_UNKNOWN_TARGET.format(target=target, choices=", ".join(training_data.TARGETS))
        )
    backend = db.backend()
    cutoffs = training_data.default_cutoffs(db.history_start(), db.snapshot_date(), horizon_days=horizon_days)
    days = (*cutoffs.train, cutoffs.validation, cutoffs.test)
    say(f"features as of {len(days)} cut-offs: {', '.join(d.isoformat() for d in days)}")
    frames = {d: training_data.load_point_in_time_features(backend, cutoff=d) for d in days}
    snapshot = build_training_snapshot(
        backend, target=target, cutoffs=cutoffs, horizon_days=horizon_days, feature_frames=frames
    )
    snapshot_hash = hash_training_frame(snapshot)
    say(f"training the {target} model on {snapshot.height:,} rows (snapshot {snapshot_hash[:12]})")
    trained = training.train_model(
        backend,
        target=target,
        cutoffs=cutoffs,
        horizon_days=horizon_days,
        feature_frames=frames,
        random_state=random_state,
    )
    auc, baseline_auc = trained.metrics["auc"], trained.baseline_metrics["auc"]
    say(f"test AUC {auc:.3f} (baseline {baseline_auc:.3f}); population stability on {db.snapshot_date()}")
    latest = latest_features if latest_features is not None else current_features(db)
    psi = model_quality.psi_table(trained.train_features, latest, trained.features)
    say("registering")
    return register_model(db, trained, trained_by=trained_by, training_frame_hash=snapshot_hash, psi=psi)


def current_features(db: Database) -> pl.DataFrame:
    """Features of every current customer with profiling consent as of the snapshot.

    What scoring, the stored SHAP sample, its typical values and the population stability
    read: customers without profiling consent are not scored or explained (docs/privacy.md).

    Parameters
    ----------
    db : Database
        The bank.

    Returns
    -------
    polars.DataFrame
        :func:`analytics.models.training_data.load_point_in_time_features` on the snapshot date,
        consenting customers only.
    """
    backend = db.backend()
    frame = training_data.load_point_in_time_features(backend, cutoff=db.snapshot_date())
    return keep_profiling_consented(frame, backend)


def load_model(db: Database, model_id: str) -> LoadedModel:
    """Load a registered model's estimators after checking the artifact's signature.

    Only ``<models folder>/<model_id>.joblib`` is opened (:func:`resolve_model_dir`), and its
    HMAC under the model key is checked before the file is unpickled, so a changed, moved,
    copied or foreign file is never executed.

    Parameters
    ----------
    db : Database
        The bank holding the registry (its path locates the models folder, its key ring
        holds the model key).
    model_id : str
        The model's id.

    Returns
    -------
    LoadedModel
        The registry row with the pipeline, calibrated model and baseline.

    Raises
    ------
    ValueError
        For an unknown id (:data:`MSG_UNKNOWN_MODEL`), a row naming another file
        (:data:`MSG_ARTIFACT_BAD_NAME`), a model registered before files were signed
        (:data:`MSG_ARTIFACT_UNSIGNED`), a missing file (:data:`MSG_ARTIFACT_MISSING`), a file
        whose signature fails (:data:`MSG_ARTIFACT_FORGED`) or one holding another model
        (:data:`MSG_ARTIFACT_MISMATCH`).
    """
    record = get_model(db.backend(), model_id)
    folder = resolve_model_dir(db.path)
    name = f"{model_id}.joblib"
    # The row's path is only a record of where the file was written: the database is not
    # trusted to say what to unpickle. A database moved with its models folder still loads.
    if Path(record.artifact_path).name != name or Path(name).name != name:
        raise ValueError(
            MSG_ARTIFACT_BAD_NAME.format(model_id=model_id, name=record.artifact_path, folder=folder)
        )
    if not record.artifact_hmac:
        raise ValueError(MSG_ARTIFACT_UNSIGNED.format(model_id=model_id, target=record.target))
    path = folder / name
    if not path.is_file():
        raise ValueError(MSG_ARTIFACT_MISSING.format(model_id=model_id, path=path, target=record.target))
    if not hmac.compare_digest(sign_artifact(db.keys.model, model_id, path), record.artifact_hmac):
        raise ValueError(MSG_ARTIFACT_FORGED.format(model_id=model_id, path=path, target=record.target))
    artifact = joblib.load(path)  # noqa: S301 - signed by this installation's model key, checked above
    if artifact.get("model_id") != model_id:
        found = artifact.get("model_id")
        raise ValueError(MSG_ARTIFACT_MISMATCH.format(path=path, found=found, model_id=model_id))
    return LoadedModel(
        record=record,
        pipeline=artifact["pipeline"],
        calibrated=artifact["calibrated"],
        baseline=artifact["baseline"],
    )


def score_customers(
    db: Database,
    model_id: str,
    *,
    progress: Callable[[str], None] | None = None,
    features: pl.DataFrame | None = None,
) -> ScoreSummary:
    """Score every current customer with profiling consent with a registered model; store the scores.

    Features are :func:`current_features` (one row per consenting customer open on the
    snapshot); rows of a ``features`` frame whose customer has not consented are dropped
    here too. The model's earlier rows in ``model_predictions`` are deleted, then the new
    ones appended.

    Parameters
    ----------
    db : Database
        The bank, opened read-write.
    model_id : str
        The model's id.
    progress : callable, optional
        Called with one line per step.
    features : polars.DataFrame, optional
        :func:`current_features`, when the caller already has them.

    Returns
    -------
    ScoreSummary
        Rows written, mean score and mean score of the top decile.

    Raises
    ------
    ValueError
        Any error of :func:`load_model`, or no consenting current customer (:data:`MSG_NO_CUSTOMERS`).
    """
    say = progress or (lambda _line: None)
    loaded = load_model(db, model_id)
    as_of = db.snapshot_date()
    say(f"features of the current customers with profiling consent as of {as_of}")
    frame = current_features(db) if features is None else keep_profiling_consented(features, db.backend())
    if frame.height == 0:
        raise ValueError(MSG_NO_CUSTOMERS.format(as_of=as_of))
    scores = loaded.predict_proba(frame)
    scored_at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    rows = pl.DataFrame(
        {
            "model_id": model_id,
            "customer_id": frame.get_column("customer_id").cast(pl.Int64),
            "score": scores.astype(np.float64),
            "scored_at": scored_at,
            "features_as_of": as_of,
        },
        schema=MODEL_PREDICTIONS.schema,
    )
    say(f"storing {rows.height:,} scores of {model_id}")
    db.store_model_output(
        append={MODEL_PREDICTIONS.name: rows},
        replace={},
        delete={MODEL_PREDICTIONS.name: ("model_id", [model_id])},
    )
    top = np.sort(scores)[::-1][: math.ceil(scores.size / 10)]
    return ScoreSummary(
        model_id=model_id,
        target=loaded.record.target,
        version=loaded.record.version,
        customers=int(scores.size),
        mean_score=float(scores.mean()),
        top_decile_mean=float(top.mean()),
        scored_at=scored_at,
        features_as_of=as_of,
    )


@shared_docs
def load_predictions(backend: ibis.BaseBackend, model_id: str) -> pl.DataFrame:
    """A model's stored scores (``model_predictions`` columns) of customers consenting now, by customer.

    A customer who withdrew profiling consent after scoring is left out here as well.

    Parameters
    ----------
    {backend}
    model_id : str
        The model's id.

    Returns
    -------
    polars.DataFrame
        One row per scored customer (empty when the model was not scored).
    """
    try:
        table = backend.table(MODEL_PREDICTIONS.name)
    except TableNotFound:
        return pl.DataFrame(schema=MODEL_PREDICTIONS.schema)
    mine = table.filter(table.model_id == model_id).semi_join(profiling_consented(backend), "customer_id")
    return mine.order_by("customer_id").to_polars()
