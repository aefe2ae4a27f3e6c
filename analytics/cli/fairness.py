"""``fairness``: audit decisions by protected group (a file, a model, a campaign, the credit decision).

The fairness modules are imported inside the command: they pull in fairlearn and scikit-learn,
which would slow ``--help`` and every other command (see ``main``); the report's renderers (half a
second more) only when ``--report`` needs them.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

from analytics.cli.common import CliError, emit, parse_day, progress, read_table, split_names
from analytics.store.database import open_database

MSG_FAIRNESS_SUBJECT = (
    "Say what to audit: --input FILE (with --y-true, --group and --y-pred or --score/--threshold), "
    "--model ID, --target NAME, --campaign ID, --credit-decision or --targeting FILE."
)
MSG_REPORT_SUFFIX = "--report must end in .html or .pdf, got {path}."
MSG_TARGETING_COLUMN = (
    "{path} needs a customer_id column (one row per customer on the list); it has: {columns}."
)


def _disparity_payload(d) -> dict:
    return {
        "name": d.name,
        "value": d.value,
        "low": d.low,
        "high": d.high,
        "interval_method": d.method,
        "groups": list(d.groups),
        "passed": d.passed,
    }


def _audit_payload(audit) -> dict:
    return {
        "kind": audit.kind,
        "subject_id": audit.subject_id,
        "title": audit.title,
        "decision": audit.decision,
        "threshold": audit.threshold,
        "as_of": audit.as_of,
        "customers": audit.n,
        "model_version": audit.model_version,
        "data_hash": audit.data_hash,
        "verdict": audit.verdict,
        **audit.rule.as_dict(),
        "notes": list(audit.notes),
        "attributes": [
            {
                "attribute": a.attribute,
                "verdict": a.verdict,
                **a.rule.as_dict(),
                "reason": a.reason,
                "groups": a.metrics.to_dicts(),
                "disparities": [_disparity_payload(d) for d in a.disparities],
            }
            for a in audit.attributes
        ],
        "strata": audit.strata.to_dicts() if audit.strata is not None else None,
    }


def _fairness_audit(args: argparse.Namespace):
    # fairlearn, scikit-learn: see the docstring
    from analytics.fairness import audits, exposure_audits, model_audits
    from analytics.fairness.model_card import model_card
    from analytics.models import registry as model_registry

    if args.input:
        if not args.y_true or not args.group:
            raise CliError("--input needs --y-true and --group.")
        table = read_table(args.input)
        groups = split_names(args.group)
        return audits.audit_frame(
            table,
            y_true=args.y_true,
            y_pred=args.y_pred,
            score=args.score,
            threshold=args.threshold,
            groups=groups,
            source=Path(args.input).name,
        ), None
    if not (args.model or args.target or args.campaign is not None or args.credit_decision or args.targeting):
        raise CliError(MSG_FAIRNESS_SUBJECT)
    db = open_database(args.db, read_only=True)
    try:
        backend = db.backend()
        if args.model or args.target:
            model_id = args.model or model_registry.latest_model(backend, args.target).model_id
            audit = model_audits.audit_model(backend, model_id, threshold=args.threshold)
            return audit, model_card(backend, model_id, audit=audit)
        if args.campaign is not None:
            return exposure_audits.audit_exposure(backend, args.campaign), None
        if args.targeting:
            listing = read_table(args.targeting)
            if "customer_id" not in listing.columns:
                raise CliError(
                    MSG_TARGETING_COLUMN.format(path=args.targeting, columns=", ".join(listing.columns))
                )
            as_of = parse_day(args.as_of, "--as-of") or db.snapshot_date()
            title = f"Targeting list: {Path(args.targeting).name}"
            return exposure_audits.audit_targeting(
                backend, listing.get_column("customer_id"), as_of=as_of, title=title
            ), None
        return exposure_audits.audit_credit_decision(backend), None
    finally:
        db.close()


def cmd_fairness(args: argparse.Namespace) -> int:
    """Audit decisions by protected group: a file, a registered model, a campaign or the credit decision."""
    report = Path(args.report) if args.report else None
    if report is not None and report.suffix.lower() not in {".html", ".pdf"}:
        raise CliError(MSG_REPORT_SUFFIX.format(path=report))
    started = time.perf_counter()
    try:
        audit, card = _fairness_audit(args)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    progress(f"audited {audit.n:,} decisions in {time.perf_counter() - started:.2f} s")
    payload = _audit_payload(audit)
    if report is not None:
        # The renderers: see the docstring.
        from analytics.fairness.report import sha256_hex
        from analytics.fairness.report_html import render_html
        from analytics.fairness.report_pdf import render_pdf

        now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        if report.suffix.lower() == ".html":
            content = render_html(audit, card=card, generated_at=now).encode("utf-8")
        else:
            content = render_pdf(audit, card=card, generated_at=now)
        report.write_bytes(content)
        payload["report"] = {
            "path": str(report),
            "sha256": sha256_hex(content),
            "signed": False,
        }
        progress(f"report written to {report} (unsigned: sign it on the Fairness page)")
    emit(payload, as_json=args.json, text=lambda: _fairness_text(payload))
    return 0


def _fairness_text(payload: dict) -> str:
    lines = [f"{payload['title']}: {payload['decision']}; {payload['customers']:,} customers"]
    lines.append(f"verdict: {payload['verdict'].upper()}  (data hash {payload['data_hash'][:12]})")
    lines.append(
        f"rule: {payload['rule']} (threshold {payload['rule_threshold']:g}, "
        f"{payload['confidence_level']:.0%} {payload['interval_method']} intervals, "
        f"groups of at least {payload['min_group_size']})"
    )
    for a in payload["attributes"]:
        lines.append(f"\n{a['attribute']}: {a['verdict']} - {a['reason']}")
        for g in a["groups"]:
            rate = "n/a" if g["selection_rate"] is None else f"{g['selection_rate']:.3f}"
            small = "  (too small to judge)" if g["small"] else ""
            lines.append(f"  {g['group']:<28} n={g['n']:>8,}  selection rate {rate}{small}")
        for d in a["disparities"]:
            if d["value"] is None:
                continue
            interval = (
                "" if d["low"] is None else f" [{d['low']:.3f}, {d['high']:.3f}] ({d['interval_method']})"
            )
            lines.append(f"  {d['name']:<30} {d['value']:.3f}{interval}")
    if "report" in payload:
        lines.append(f"\nreport: {payload['report']['path']} (sha256 {payload['report']['sha256']})")
    return "\n".join(lines)


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``fairness`` to the command parser."""
    fair_cmd = sub.add_parser(
        "fairness",
        parents=[common],
        help="audit decisions by protected group: a file, a model, a campaign or the credit decision",
    )
    fair_cmd.add_argument("--input", help="CSV or Parquet, one row per customer")
    fair_cmd.add_argument("--y-true", help="the 0/1 outcome column")
    fair_cmd.add_argument("--y-pred", help="the 0/1 decision column")
    fair_cmd.add_argument("--score", help="a score column in [0, 1] (with --threshold)")
    fair_cmd.add_argument(
        "--threshold", type=float, help="decision threshold for --score (bank models: default top 10%%)"
    )
    fair_cmd.add_argument(
        "--group", help="protected attribute columns, comma-separated (their intersection too)"
    )
    fair_cmd.add_argument("--model", help="bank: a registered model id")
    fair_cmd.add_argument("--target", help="bank: the latest model for a target (churn, credit_card, ...)")
    fair_cmd.add_argument("--campaign", type=int, help="bank: a campaign's exposure")
    fair_cmd.add_argument(
        "--credit-decision", action="store_true", help="bank: the historical credit decision"
    )
    fair_cmd.add_argument(
        "--targeting",
        help="bank: a targeting list (CSV or Parquet with customer_id) against the contactable customers",
    )
    fair_cmd.add_argument(
        "--as-of", help="bank: the day the targeting list would be sent (default: the snapshot)"
    )
    fair_cmd.add_argument("--report", help="write the (unsigned) audit report: a .html or .pdf path")
    fair_cmd.set_defaults(func=cmd_fairness)
