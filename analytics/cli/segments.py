"""``segments``: cluster the bank's customers (or any customer-level file) and profile the segments.

The segmentation modules are imported inside the command: they pull in scikit-learn, which would
slow ``--help`` and every other command (see ``main``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import polars as pl

from analytics.cli.common import CliError, emit, progress, read_table, split_names
from analytics.common.exports import write_safe_csv
from analytics.store.database import open_database

MSG_BAD_SCALING = (
    "--scaling takes column=scaling pairs separated by commas, e.g. spend=log,age=standard (got {item!r})."
)
MSG_SCALING_TWICE = "--scaling names the column {column!r} twice."


def parse_scaling(text: str | None) -> dict[str, str]:
    """``col=log,col2=standard`` as a dict (the values are checked by features.override_scaling)."""
    chosen: dict[str, str] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        column, sep, scaling = item.rpartition("=")
        if not sep or not column.strip() or not scaling.strip():
            raise CliError(MSG_BAD_SCALING.format(item=item.strip()))
        if column.strip() in chosen:
            raise CliError(MSG_SCALING_TWICE.format(column=column.strip()))
        chosen[column.strip()] = scaling.strip()
    return chosen


def cmd_segments(args: argparse.Namespace) -> int:
    """Segment the bank's customers (or any customer-level file) and profile the segments."""
    from analytics.segments import clustering  # scikit-learn: see the docstring
    from analytics.segments import features as feats

    started = time.perf_counter()
    overrides = parse_scaling(args.scaling)
    db = None
    try:
        columns = split_names(args.features) if args.features else None
        if args.input:
            progress(f"reading {args.input}")
            table = read_table(args.input)
            frame = feats.prepare_feature_frame(table, id_column=args.id_col, features=columns)
            source = Path(args.input)
            output = Path(args.output) if args.output else source.with_name(f"{source.stem}_segments.csv")
        else:
            # Read-write: the export of the bank's customer rows is written to the audit log.
            db = open_database(args.db)
            try:
                chosen = columns or list(feats.resolve_feature_set(args.feature_set))
                frame = feats.load_features(db.backend(), columns=chosen)
            except BaseException:
                db.close()
                raise
            output = Path(args.output or "segments.csv")
        for notice in frame.notices:
            progress(f"note: {notice}")
        frame = feats.override_scaling(frame, overrides)
        result, profiles = clustering.segment_and_profile(
            frame, algorithm=args.algorithm, k=args.k, random_state=args.seed, progress=progress
        )
    except ValueError as exc:
        if db is not None:
            db.close()
        raise CliError(str(exc)) from exc
    if db is not None:
        # Recorded before the file exists: an export that cannot be audited does not happen.
        try:
            from analytics.access.auth import os_actor  # argon2 comes with it: only for this export

            db.write_audit(
                username=os_actor(),
                role=None,
                action="export",
                target="cli:segments",
                details={
                    "rows": result.assignment.height,
                    "columns": result.assignment.columns,
                    "file": str(output),
                },
            )
        finally:
            db.close()
    write_safe_csv(result.assignment.rename({"customer_id": frame.id_column}), output)
    progress(f"assignment of {result.assignment.height:,} customers written to {output}")
    progress(f"done in {time.perf_counter() - started:.1f} s")
    payload = {
        "algorithm": result.algorithm,
        "k": result.k,
        "features": list(result.features),
        "customers": result.assignment.height,
        "excluded_no_consent": result.excluded_no_consent,
        "sizes": result.sizes,
        "silhouette": result.silhouette,
        "davies_bouldin": result.davies_bouldin,
        "bic": result.bic,
        "noise": result.noise,
        "warnings": list(result.warnings),
        "notices": list(frame.notices),
        "scaling": frame.scaling,
        "evidence": result.evidence,
        "profiles": profiles.select("segment", "customers", "share", "top_features", "suggested_name"),
        "assignment_file": str(output),
    }
    emit(payload, as_json=args.json, text=lambda: _segments_text(payload))
    return 0


def _segments_text(payload: dict) -> str:
    silhouette = "n/a" if payload["silhouette"] is None else f"{payload['silhouette']:.3f}"
    lines = [
        f"{payload['algorithm']}, k = {payload['k']}, {payload['customers']:,} customers"
        f" ({payload['excluded_no_consent']:,} without profiling consent left out), silhouette {silhouette}"
    ]
    for row in payload["profiles"].iter_rows(named=True):
        size = f"{row['customers']:>8,} ({row['share']:.1%})"
        lines.append(f"  segment {row['segment']:>2}: {size}  {row['suggested_name']}")
    chosen = payload["scaling"].select(pl.format("{}={}", "column", "scaling")).to_series()
    lines.append(f"scaling: {', '.join(chosen)}")
    lines += [f"warning: {w}" for w in payload["warnings"]]
    lines.append(f"assignment: {payload['assignment_file']}")
    return "\n".join(lines)


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``segments`` to the command parser."""
    segments_cmd = sub.add_parser(
        "segments",
        parents=[common],
        help="cluster customers (the bank, or any customer-level file) and profile",
    )
    segments_cmd.add_argument("--input", help="CSV or Parquet, one row per customer (default: the database)")
    segments_cmd.add_argument("--id-col", help="id column of --input (default: customer_id or id)")
    segments_cmd.add_argument("--features", help="comma-separated feature columns (default: the feature set)")
    segments_cmd.add_argument(
        "--feature-set", default="life stage and income", help="named feature set of the database's features"
    )
    segments_cmd.add_argument(
        "--algorithm", default="kmeans", choices=["kmeans", "gmm", "hdbscan", "agglomerative"], help="method"
    )
    segments_cmd.add_argument("--k", type=int, help="number of segments (default: chosen from the evidence)")
    segments_cmd.add_argument(
        "--scaling",
        help="scaling per column, e.g. spend=log,age=standard (log, yeo_johnson, standard, share, flag;"
        " default: the bank's for its features, chosen from the distribution for other columns)",
    )
    segments_cmd.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    segments_cmd.add_argument("--output", help="assignment CSV (default INPUT_segments.csv, or segments.csv)")
    segments_cmd.set_defaults(func=cmd_segments)
