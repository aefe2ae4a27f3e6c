"""``train``, ``score``, ``model``: churn and take-up models on the bank, and a model of any file.

The model modules are imported inside the commands: they pull in scikit-learn and shap, which
would slow ``--help`` and every other command (see ``main``).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import polars as pl

from analytics.cli.common import CliError, emit, positive_int, progress, read_table, run_by
from analytics.store.database import open_database, resolve_db_path

MODEL_TARGETS = ("churn", "credit_card", "savings", "investment_fund")
"""The targets of analytics.models.training_data.Target, listed so that --help needs no sklearn import."""


# -- train ------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    """Train, register, score and explain churn or take-up models; print their metrics.

    ``--target all`` trains every target (``--if-missing`` skips those already registered on
    this data), sharing one computation of the current customers' features.
    """
    from analytics.models import publishing  # scikit-learn and shap: see the docstring
    from analytics.models import registry as model_registry

    started = time.perf_counter()
    db = open_database(args.db)
    targets = MODEL_TARGETS if args.target == "all" else (args.target,)
    trained_by = run_by()
    published, skipped = [], []
    try:
        # A model registered before files were signed cannot be loaded: it counts as missing.
        models = model_registry.list_models(db.backend())
        registered = set(models.filter(pl.col("artifact_hmac").is_not_null()).get_column("target").to_list())
        todo = [t for t in targets if not (args.if_missing and t in registered)]
        skipped = [t for t in targets if t not in todo]
        for target in skipped:
            progress(f"{target}: a model of this data is registered already (--if-missing)")
        features = model_registry.current_features(db) if todo else None
        for target in todo:
            progress(f"training the {target} model on the bank at {db.path}")
            published.append(
                publishing.train_and_publish(
                    db,
                    target=target,
                    trained_by=trained_by,
                    shap_rows=args.shap_rows,
                    features=features,
                    progress=progress,
                )
            )
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    finally:
        db.close()
    progress(f"done in {time.perf_counter() - started:.1f} s")
    payloads = [_train_payload(p, top=model_registry.TOP_FEATURES) for p in published]
    if args.target != "all":
        if not payloads:
            emit({"skipped": skipped}, as_json=args.json, text=lambda: f"skipped: {', '.join(skipped)}")
            return 0
        emit(payloads[0], as_json=args.json, text=lambda: _train_text(payloads[0]))
        return 0
    payload = {"models": payloads, "skipped": skipped}
    emit(
        payload,
        as_json=args.json,
        text=lambda: "\n\n".join([*(_train_text(p) for p in payloads), *(f"skipped: {t}" for t in skipped)]),
    )
    return 0


def _train_payload(published, *, top: int) -> dict:
    model = published.model
    return {
        "model_id": model.model_id,
        "target": model.target,
        "version": model.version,
        "data_as_of": model.data_as_of,
        "metrics": {"model": model.metrics["model"], "baseline": model.metrics["baseline"]},
        "top_features": model.importance.head(top),
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


# -- score ------------------------------------------------------------------------------
def cmd_score(args: argparse.Namespace) -> int:
    """Score and explain every current customer with a registered model (--model-id, or --target's latest)."""
    from analytics.models import publishing  # scikit-learn and shap: see the docstring
    from analytics.models import registry as model_registry

    started = time.perf_counter()
    db = open_database(args.db)
    try:
        if args.model_id:
            model_id = args.model_id
        else:
            model_id = model_registry.latest_model(db.backend(), args.target).model_id
        progress(f"scoring and explaining the current customers with {model_id}")
        published = publishing.publish_model(db, model_id, shap_rows=args.shap_rows, progress=progress)
        summary = published.scores
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    finally:
        db.close()
    progress(f"done in {time.perf_counter() - started:.1f} s")
    payload = dataclasses.asdict(summary) | {
        "output": f"{args.db or resolve_db_path()}: model_predictions (model {summary.model_id})"
    }
    emit(payload, as_json=args.json, text=lambda: _score_text(payload))
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


# -- model on any table -----------------------------------------------------------------
def cmd_model(args: argparse.Namespace) -> int:
    """Train and explain a two-class model of a column of any customer-level file."""
    from analytics.models import table_model  # scikit-learn and shap: see the docstring

    started = time.perf_counter()
    progress(f"reading {args.input}")
    table = read_table(args.input)
    try:
        progress(f"training a model of {args.target!r} on {table.height:,} rows (25 % held out)")
        result = table_model.train_on_table(
            table, target=args.target, positive_label=args.positive_label, random_state=args.seed
        )
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    for notice in result.notices:
        progress(f"note: {notice}")
    predictions, shap_file = table_model.write_table_model_outputs(
        result, args.input, output_dir=args.output_dir
    )
    progress(f"predictions written to {predictions}, SHAP values to {shap_file}")
    progress(f"done in {time.perf_counter() - started:.1f} s")
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
    emit(payload, as_json=args.json, text=lambda: _model_text(payload))
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


# -- parsers ----------------------------------------------------------------------------
def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``train``, ``score`` and ``model`` to the command parser."""
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
        "--shap-rows", type=positive_int, default=10_000, help="current customers in the stored SHAP sample"
    )
    train_cmd.set_defaults(func=cmd_train)

    score_cmd = sub.add_parser(
        "score", parents=[common], help="score and explain every current customer with a registered model"
    )
    which = score_cmd.add_mutually_exclusive_group(required=True)
    which.add_argument("--model-id", help="the registered model (python -m analytics train prints it)")
    which.add_argument("--target", choices=MODEL_TARGETS, help="the latest registered version of this target")
    score_cmd.add_argument(
        "--shap-rows", type=positive_int, default=10_000, help="current customers in the stored SHAP sample"
    )
    score_cmd.set_defaults(func=cmd_score)

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
