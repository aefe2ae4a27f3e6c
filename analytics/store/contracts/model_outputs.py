"""Contracts of stored model outputs: CLV fits, segment maps, registered models, scores and explanations."""

from __future__ import annotations

import polars as pl

from analytics.store.contracts.spec import TS, Rule, TableSpec

CLV_FITS = TableSpec(
    name="clv_fits",
    description=(
        "Model output: the stored BG/NBD + Gamma-Gamma fit on the bank's transactions"
        " (python -m analytics clv); the newest row is the one the KPIs page shows."
    ),
    schema=pl.Schema(
        {
            "fit_id": pl.String,
            "fitted_at": TS,
            "fitted_by": pl.String,
            "data_as_of": pl.Date,
            "period": pl.String,
            "calibration_end": pl.Date,
            "holdout_end": pl.Date,
            "horizon_periods": pl.Float64,
            "discount_rate": pl.Float64,
            "parameters": pl.String,
            "check_parameters": pl.String,
            "customers": pl.Int64,
            "repeat_customers": pl.Int64,
            "calibration": pl.String,
            "warnings": pl.String,
        }
    ),
    columns={
        "fit_id": "Identifier of the fit.",
        "fitted_at": "When the fit was stored (UTC).",
        "fitted_by": "User or job that ran it.",
        "data_as_of": "Snapshot date of the data it was fitted on.",
        "period": "Time unit of the models: day, week or month.",
        "calibration_end": "Last day of the data behind the per-customer predictions.",
        "holdout_end": "Last day of the holdout of the calibration/holdout check.",
        "horizon_periods": "CLV horizon in periods.",
        "discount_rate": "Annual discount rate of the CLV.",
        "parameters": "JSON: r, alpha, a, b, p, q, gamma and both log-likelihoods of the final fit.",
        "check_parameters": "JSON: the same for the fit that ends before the holdout (the check's fit).",
        "customers": "Customers in the final fit.",
        "repeat_customers": "Customers with at least one repeat transaction (the Gamma-Gamma fit).",
        "calibration": "JSON rows: predicted against actual holdout transactions by frequency bucket.",
        "warnings": "JSON list of the fit's warnings (excluded rows, one-transaction customers, ...).",
    },
    primary_key=("fit_id",),
    not_null=("fit_id", "fitted_at", "period", "calibration_end", "parameters"),
)

CLV_PREDICTIONS = TableSpec(
    name="clv_predictions",
    description="Model output: per-customer predictions of the newest stored CLV fit.",
    schema=pl.Schema(
        {
            "fit_id": pl.String,
            "customer_id": pl.Int64,
            "frequency": pl.Float64,
            "recency": pl.Float64,
            "T": pl.Float64,
            "monetary_value": pl.Float64,
            "probability_alive": pl.Float64,
            "expected_transactions": pl.Float64,
            "expected_average_value": pl.Float64,
            "clv": pl.Float64,
        }
    ),
    columns={
        "fit_id": "The fit (clv_fits.fit_id).",
        "customer_id": "The customer.",
        "frequency": "Repeat transactions (distinct days after the first) up to the calibration end.",
        "recency": "Periods from the first to the last transaction.",
        "T": "Periods from the first transaction to the calibration end.",
        "monetary_value": "Mean value of the repeat transactions (0 without any).",
        "probability_alive": "BG/NBD probability that the customer is still active.",
        "expected_transactions": "Expected transactions over the horizon.",
        "expected_average_value": "Gamma-Gamma expected value per transaction.",
        "clv": "Discounted expected value over the horizon.",
    },
    primary_key=("fit_id", "customer_id"),
    not_null=("fit_id", "customer_id"),
)

SEGMENT_MAPS = TableSpec(
    name="segment_maps",
    description=(
        "Model output: one row per stored 2-D customer map (analytics.segments.maps.store_map); a map"
        " is identified by method, feature columns and parameters (map_key), and storing the same"
        " key again replaces the old map."
    ),
    schema=pl.Schema(
        {
            "map_id": pl.String,
            "map_key": pl.String,
            "method": pl.String,
            "feature_columns": pl.String,
            "params": pl.String,
            "fitted_at": TS,
            "fitted_by": pl.String,
            "data_as_of": pl.Date,
            "customers": pl.Int64,
            "sample_size": pl.Int64,
            "seconds": pl.Float64,
        }
    ),
    columns={
        "map_id": "Identifier of the map (segment_map_points.map_id).",
        "map_key": "Hash of method, sorted feature columns and parameters: what makes two maps the same.",
        "method": "umap or pca.",
        "feature_columns": "JSON list of the feature columns, in the order of the matrix's columns.",
        "params": "JSON object of the parameters (n_neighbors, min_dist, metric, random_state, sample_size).",
        "fitted_at": "When the map was stored (UTC).",
        "fitted_by": "User or job that fitted it.",
        "data_as_of": "Snapshot date of the data it was fitted on.",
        "customers": "Customers placed on the map (rows of segment_map_points).",
        "sample_size": "Customers the map was fitted on; the rest were transformed onto it.",
        "seconds": "Wall time of the fit and transform.",
    },
    primary_key=("map_id",),
    not_null=("map_id", "map_key", "method", "feature_columns", "params", "fitted_at", "customers"),
    rules=(Rule("method", pl.col("method").is_in(["umap", "pca"]), "is not umap or pca"),),
)

SEGMENT_MAP_POINTS = TableSpec(
    name="segment_map_points",
    description="Model output: each customer's position on a stored 2-D map.",
    schema=pl.Schema({"map_id": pl.String, "customer_id": pl.Int64, "x": pl.Float64, "y": pl.Float64}),
    columns={
        "map_id": "The map (segment_maps.map_id).",
        "customer_id": "The customer.",
        "x": "First map coordinate (no unit: only distances between points mean anything).",
        "y": "Second map coordinate.",
    },
    primary_key=("map_id", "customer_id"),
    not_null=("map_id", "customer_id", "x", "y"),
)

MODELS = TableSpec(
    name="models",
    description=(
        "Model output: the registry of trained churn and take-up models (python -m analytics train),"
        " one row per model; the estimators are a joblib file next to the database whose SHA-256 is"
        " checked before it is loaded (docs/models.md, Registry)."
    ),
    schema=pl.Schema(
        {
            "model_id": pl.String,
            "target": pl.String,
            "version": pl.Int64,
            "trained_at": TS,
            "trained_by": pl.String,
            "data_as_of": pl.Date,
            "horizon_days": pl.Int64,
            "features": pl.String,
            "parameters": pl.String,
            "metrics": pl.String,
            "training_snapshot_hash": pl.String,
            "artifact_path": pl.String,
            "artifact_sha256": pl.String,
            "artifact_hmac": pl.String,
        }
    ),
    columns={
        "model_id": "Identifier of the model (<target>-v<version>-<8 hex>).",
        "target": "What it predicts: churn, credit_card, savings or investment_fund.",
        "version": "1, 2, ... per target, in the order the models were registered.",
        "trained_at": "When the model was registered (UTC).",
        "trained_by": "User or job that trained it.",
        "data_as_of": "Snapshot date of the data it was trained on.",
        "horizon_days": "Days after a cut-off in which the outcome is looked for.",
        "features": "JSON list of the input columns, in the order the estimators take them.",
        "parameters": "JSON: cut-offs, horizon, calibration method, hyperparameters of both pipelines.",
        "metrics": (
            "JSON: test metrics of the model and the baseline, calibration table, importance, split sizes."
        ),
        "training_snapshot_hash": "SHA-256 of the training, validation and test rows (see docs/models.md).",
        "artifact_path": "Absolute path of the joblib file holding the fitted estimators.",
        "artifact_sha256": "SHA-256 of that file, shown on the model card.",
        "artifact_hmac": (
            "HMAC-SHA256 under the model key of the model id and the file's bytes, checked before"
            " the file is unpickled; null for a model registered before artifacts were signed."
        ),
    },
    primary_key=("model_id",),
    not_null=(
        "model_id",
        "target",
        "version",
        "trained_at",
        "features",
        "training_snapshot_hash",
        "artifact_path",
        "artifact_sha256",
    ),
    rules=(
        # The targets of analytics.models.training_data.Target (the store imports no capability).
        Rule(
            "target",
            pl.col("target").is_in(["churn", "credit_card", "savings", "investment_fund"]),
            "is not churn, credit_card, savings or investment_fund",
        ),
        Rule("version", pl.col("version") >= 1, "is below 1"),
    ),
)

MODEL_PREDICTIONS = TableSpec(
    name="model_predictions",
    description="Model output: a registered model's calibrated score for every current customer.",
    schema=pl.Schema(
        {
            "model_id": pl.String,
            "customer_id": pl.Int64,
            "score": pl.Float64,
            "scored_at": TS,
            "features_as_of": pl.Date,
        }
    ),
    columns={
        "model_id": "The model (models.model_id).",
        "customer_id": "The customer.",
        "score": "Calibrated probability of the model's outcome in its horizon.",
        "scored_at": "When the scores were written (UTC).",
        "features_as_of": "The date the customer's features were computed as of (the snapshot).",
    },
    primary_key=("model_id", "customer_id"),
    not_null=("model_id", "customer_id", "score", "scored_at", "features_as_of"),
    rules=(Rule("score", pl.col("score").is_between(0.0, 1.0), "is not a probability between 0 and 1"),),
)

MODEL_TEST_SCORES = TableSpec(
    name="model_test_scores",
    description=(
        "Model output: a registered model's scores on its test cut-off, with the outcome that followed;"
        " what the quality view draws (ROC, PR, calibration, lift, confusion at a threshold)."
    ),
    schema=pl.Schema(
        {
            "model_id": pl.String,
            "customer_id": pl.Int64,
            "label": pl.Int64,
            "score": pl.Float64,
            "score_uncalibrated": pl.Float64,
            "baseline_score": pl.Float64,
        }
    ),
    columns={
        "model_id": "The model (models.model_id).",
        "customer_id": "A customer on the test cut-off.",
        "label": "1 when the outcome happened within the horizon after the test cut-off, else 0.",
        "score": "Calibrated probability from the gradient-boosted model.",
        "score_uncalibrated": "The same model's probability before calibration.",
        "baseline_score": "Probability from the logistic-regression baseline.",
    },
    primary_key=("model_id", "customer_id"),
    not_null=("model_id", "customer_id", "label", "score", "score_uncalibrated", "baseline_score"),
    rules=(
        Rule("label", pl.col("label").is_in([0, 1]), "is not 0 or 1"),
        Rule("score", pl.col("score").is_between(0.0, 1.0), "is not a probability between 0 and 1"),
    ),
)

MODEL_EXPLANATIONS = TableSpec(
    name="model_explanations",
    description=(
        "Model output: one row per model and explained pipeline (tree or baseline) for the stored SHAP"
        " sample of current customers (python -m analytics train / score, docs/models.md)."
    ),
    schema=pl.Schema(
        {
            "model_id": pl.String,
            "kind": pl.String,
            "rows": pl.Int64,
            "base_value": pl.Float64,
            "space": pl.String,
            "features_as_of": pl.Date,
            "explained_at": TS,
            "seconds": pl.Float64,
            "typical": pl.String,
        }
    ),
    columns={
        "model_id": "The model (models.model_id).",
        "kind": "tree (the gradient-boosted model, exact tree SHAP) or baseline (logistic, linear SHAP).",
        "rows": "Customers in the explained sample.",
        "base_value": "Expected value of the explained output (in the unit of space).",
        "space": "What the SHAP values add up to: log-odds of the calibrated score, or of the baseline's.",
        "features_as_of": "The date the customers' features were computed as of (the snapshot).",
        "explained_at": "When the SHAP values were computed (UTC).",
        "seconds": "Time taken to compute them.",
        "typical": "JSON: the median of each feature over all current customers (the 'typical' of reasons).",
    },
    primary_key=("model_id", "kind"),
    not_null=("model_id", "kind", "rows", "base_value", "space", "features_as_of", "explained_at"),
    rules=(Rule("kind", pl.col("kind").is_in(["tree", "baseline"]), "is not tree or baseline"),),
)

MODEL_SHAP = TableSpec(
    name="model_shap",
    description=(
        "Model output: SHAP values of the stored sample, one row per model, pipeline, customer and feature."
    ),
    schema=pl.Schema(
        {
            "model_id": pl.String,
            "kind": pl.String,
            "customer_id": pl.Int64,
            "feature": pl.String,
            "value": pl.Float64,
            "shap": pl.Float64,
        }
    ),
    columns={
        "model_id": "The model (models.model_id).",
        "kind": "tree or baseline (model_explanations.kind).",
        "customer_id": "A current customer in the sample.",
        "feature": "A model input column.",
        "value": "The customer's value of it (booleans as 0/1; null when missing, imputed by the model).",
        "shap": "Its SHAP value, in the model_explanations.space of the row's model and kind.",
    },
    primary_key=("model_id", "kind", "customer_id", "feature"),
    not_null=("model_id", "kind", "customer_id", "feature", "shap"),
)

MODEL_TABLES: tuple[TableSpec, ...] = (
    CLV_FITS,
    CLV_PREDICTIONS,
    SEGMENT_MAPS,
    SEGMENT_MAP_POINTS,
    MODELS,
    MODEL_PREDICTIONS,
    MODEL_TEST_SCORES,
    MODEL_EXPLANATIONS,
    MODEL_SHAP,
)
"""Stored model outputs: written by batch jobs, emptied when a new data set is loaded."""
