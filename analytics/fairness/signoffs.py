"""Sign-off of fairness audits: the signed report, its hash, and the record in DuckDB.

A compliance reviewer (or an admin) reads an audit and signs it: approved, approved with
conditions, or rejected. Signing renders the report with the sign-off printed in it (HTML and
PDF, :mod:`analytics.fairness.report`), hashes both files, and stores one row in
``fairness_signoffs`` with the HTML itself, so the signed evidence can be downloaded again and a
file anybody holds can be checked against the record (:func:`find_report`). The signature is
also written to the audit log, as is a reviewer's decision on a mitigation
(:func:`record_mitigation_decision`): nothing is applied silently.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import ibis
import polars as pl

from analytics.common.docs import shared_docs
from analytics.fairness import report as fairness_report
from analytics.fairness import report_html, report_pdf
from analytics.fairness.audits import SIGN_OFF_DECISIONS, FairnessAudit, SignOff
from analytics.store.contracts import FAIRNESS_SIGNOFFS
from analytics.store.database import Database
from analytics.store.tables import optional_table

SIGN_ROLES = frozenset({"compliance_reviewer", "admin"})
"""Roles that may sign an audit or decide on a mitigation."""

MSG_NOT_ALLOWED = "Only a compliance reviewer or an admin can sign a fairness audit; {user} is {role}."
MSG_UNKNOWN_DECISION = "Unknown decision {decision!r}: choose approved, approved_with_conditions or rejected."
MSG_NEEDS_COMMENT = (
    "The audit {verdict}: write the justification or conditions in the comment before approving it."
)
MSG_CONDITIONS = "Write the conditions in the comment when approving with conditions."
MSG_UNKNOWN_SIGNOFF = "No sign-off {signoff_id!r} is stored."
MSG_BAD_MITIGATION_DECISION = "Unknown mitigation decision {decision!r}: choose accepted or rejected."

LISTED_COLUMNS = tuple(c for c in FAIRNESS_SIGNOFFS.schema if c != "report_html")


@dataclass(frozen=True)
class SignedReport:
    """What signing produced.

    Parameters
    ----------
    signoff : SignOff
        The stored sign-off.
    html : str
        The signed report (self-contained HTML).
    pdf : bytes
        The same report as PDF.
    html_sha256, pdf_sha256 : str
        Their SHA-256, as stored.
    """

    signoff: SignOff
    html: str
    pdf: bytes
    html_sha256: str
    pdf_sha256: str


def check_signer(user: str, role: str) -> None:
    """Refuse anyone but a compliance reviewer or an admin (:data:`MSG_NOT_ALLOWED`)."""
    if role not in SIGN_ROLES:
        raise PermissionError(MSG_NOT_ALLOWED.format(user=user, role=role))


def sign_audit(
    db: Database,
    audit: FairnessAudit,
    *,
    reviewer: str,
    role: str,
    decision: str,
    comment: str = "",
    card=None,
    now: datetime | None = None,
) -> SignedReport:
    """Sign an audit: render the report with the sign-off, hash it, store it, log it.

    Parameters
    ----------
    db : Database
        The writable Tailor database.
    audit : FairnessAudit
        The audit read by the reviewer.
    reviewer, role : str
        Who signs (a compliance reviewer or an admin).
    decision : {"approved", "approved_with_conditions", "rejected"}
        The decision.
    comment : str
        Required when approving an audit that did not pass, and when approving with conditions.
    card : ModelCard, optional
        The model card printed in the report (model audits).
    now : datetime.datetime, optional
        Signing time (UTC); the current time when omitted.

    Returns
    -------
    SignedReport
        The sign-off and both files.

    Raises
    ------
    PermissionError
        For a role that may not sign.
    ValueError
        An unknown decision, or a missing justification.
    """
    check_signer(reviewer, role)
    if decision not in SIGN_OFF_DECISIONS:
        raise ValueError(MSG_UNKNOWN_DECISION.format(decision=decision))
    comment = (comment or "").strip()
    if decision != "rejected" and audit.verdict != "pass" and not comment:
        verdict = "failed" if audit.verdict == "fail" else "is undecided"
        raise ValueError(MSG_NEEDS_COMMENT.format(verdict=verdict))
    if decision == "approved_with_conditions" and not comment:
        raise ValueError(MSG_CONDITIONS)
    # Microseconds are kept: two signatures of one audit in the same second must still order.
    signed_at = (now or datetime.now(UTC)).replace(tzinfo=None)
    signoff = SignOff(
        signoff_id=uuid.uuid4().hex[:16],
        reviewer=reviewer,
        role=role,
        decision=decision,  # type: ignore[arg-type]
        comment=comment,
        signed_at=signed_at,
    )
    html = report_html.render_html(audit, card=card, signoff=signoff, generated_at=signed_at)
    pdf = report_pdf.render_pdf(audit, card=card, signoff=signoff, generated_at=signed_at)
    html_sha, pdf_sha = fairness_report.sha256_hex(html.encode("utf-8")), fairness_report.sha256_hex(pdf)
    row = pl.DataFrame(
        [
            {
                "signoff_id": signoff.signoff_id,
                "kind": audit.kind,
                "subject_id": audit.subject_id,
                "title": audit.title,
                "model_version": audit.model_version,
                "threshold": audit.threshold,
                "data_as_of": audit.as_of,
                "data_hash": audit.data_hash,
                "audit_verdict": audit.verdict,
                "decision": decision,
                "comment": comment,
                "reviewer": reviewer,
                "reviewer_role": role,
                "signed_at": signed_at,
                "report_sha256": html_sha,
                "pdf_sha256": pdf_sha,
                "report_html": html,
            }
        ],
        schema=FAIRNESS_SIGNOFFS.schema,
    )
    db.append_rows({FAIRNESS_SIGNOFFS.name: row})
    db.write_audit(
        username=reviewer,
        role=role,
        action="fairness_signoff",
        target=f"{audit.kind}:{audit.subject_id}",
        details={
            "signoff_id": signoff.signoff_id,
            "decision": decision,
            "audit_verdict": audit.verdict,
            "data_hash": audit.data_hash,
            "report_sha256": html_sha,
            "pdf_sha256": pdf_sha,
        },
    )
    return SignedReport(signoff, html, pdf, html_sha, pdf_sha)


def _table(backend: ibis.BaseBackend) -> ibis.Table | None:
    return optional_table(backend, FAIRNESS_SIGNOFFS.name)  # None: a file from before sign-offs


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema={c: FAIRNESS_SIGNOFFS.schema[c] for c in LISTED_COLUMNS})


@shared_docs
def list_signoffs(backend: ibis.BaseBackend) -> pl.DataFrame:
    """Every sign-off, newest first, without the report text.

    Parameters
    ----------
    {backend}

    Returns
    -------
    polars.DataFrame
        The ``fairness_signoffs`` columns except ``report_html``.
    """
    table = _table(backend)
    if table is None:
        return _empty()
    return table.select(*LISTED_COLUMNS).order_by(ibis.desc("signed_at"), "signoff_id").to_polars()


@shared_docs
def latest_signoffs(backend: ibis.BaseBackend) -> pl.DataFrame:
    """The latest sign-off of every audited subject (kind and subject id), newest first.

    Parameters
    ----------
    {backend}

    Returns
    -------
    polars.DataFrame
        As :func:`list_signoffs`, one row per subject.
    """
    rows = list_signoffs(backend)
    if rows.height == 0:
        return rows
    return rows.unique(subset=["kind", "subject_id"], keep="first", maintain_order=True)


def decision_counts(signoffs: pl.DataFrame) -> dict[str, int]:
    """How many sign-offs took each decision.

    Parameters
    ----------
    signoffs : polars.DataFrame
        :func:`list_signoffs` or :func:`latest_signoffs`.

    Returns
    -------
    dict of str to int
        Decision -> sign-offs, for every decision of
        :data:`analytics.fairness.audits.SIGN_OFF_DECISIONS` (0 when none).
    """
    decisions = signoffs.get_column("decision").to_list()
    return {name: sum(d == name for d in decisions) for name in SIGN_OFF_DECISIONS}


@shared_docs
def load_report(backend: ibis.BaseBackend, signoff_id: str) -> str:
    """The signed HTML report of a sign-off.

    Parameters
    ----------
    {backend}
    signoff_id : str
        The sign-off (a bound value).

    Returns
    -------
    str
        The report exactly as signed (its SHA-256 is ``report_sha256``).
    """
    table = _table(backend)
    rows = (
        pl.DataFrame()
        if table is None
        else table.filter(table.signoff_id == ibis.literal(signoff_id, type="string"))
        .select("report_html")
        .to_polars()
    )
    if rows.height == 0:
        raise ValueError(MSG_UNKNOWN_SIGNOFF.format(signoff_id=signoff_id))
    return rows.item(0, 0)


@shared_docs
def find_report(backend: ibis.BaseBackend, sha256: str) -> dict | None:
    """The sign-off whose HTML or PDF report has this SHA-256, or None: is a file the signed one?

    Parameters
    ----------
    {backend}
    sha256 : str
        Hex digest of a report file.

    Returns
    -------
    dict or None
        The sign-off row (without the report text).
    """
    table = _table(backend)
    if table is None:
        return None
    digest = ibis.literal(sha256.strip().lower(), type="string")
    rows = (
        table.filter((table.report_sha256 == digest) | (table.pdf_sha256 == digest))
        .select(*LISTED_COLUMNS)
        .to_polars()
    )
    return rows.row(0, named=True) if rows.height else None


MITIGATION_DECISIONS = ("accepted", "rejected")


def mitigation_summary(result, *, model_id: str, attribute: str, threshold: float) -> dict:
    """The trade-off a reviewer saw, as recorded with their decision on it.

    Parameters
    ----------
    result : analytics.fairness.mitigation.MitigationResult
        :func:`analytics.fairness.mitigation.compare_thresholds` of the model.
    model_id : str
        The model.
    attribute : str
        The protected attribute the per-group thresholds are for.
    threshold : float
        The audited operating threshold.

    Returns
    -------
    dict
        ``model_id``, ``attribute``, ``threshold``, ``objective``, ``fit_share``, ``random_state``,
        ``before`` and ``after`` (the decision quality's fields), ``group_thresholds`` (rows).
    """
    return {
        "model_id": model_id,
        "attribute": attribute,
        "threshold": threshold,
        "objective": result.objective,
        "fit_share": result.fit_share,
        "random_state": result.random_state,
        "before": result.before.__dict__,
        "after": result.after.__dict__,
        "group_thresholds": result.group_thresholds.to_dicts(),
    }


def record_mitigation_decision(
    db: Database,
    *,
    reviewer: str,
    role: str,
    model_id: str,
    constraint: str,
    decision: str,
    summary: dict,
    comment: str = "",
) -> None:
    """Write a reviewer's decision on a proposed mitigation to the audit log.

    Parameters
    ----------
    db : Database
        The writable Tailor database.
    reviewer, role : str
        Who decides (a compliance reviewer or an admin).
    model_id : str
        The model whose thresholds the mitigation would change.
    constraint : str
        demographic_parity or equalized_odds.
    decision : {"accepted", "rejected"}
        The decision.
    summary : dict
        The trade-off the reviewer saw (before/after figures, per-group thresholds).
    comment : str
        Why.
    """
    check_signer(reviewer, role)
    if decision not in MITIGATION_DECISIONS:
        raise ValueError(MSG_BAD_MITIGATION_DECISION.format(decision=decision))
    db.write_audit(
        username=reviewer,
        role=role,
        action="fairness_mitigation",
        target=f"model:{model_id}",
        details={"constraint": constraint, "decision": decision, "comment": comment.strip()} | summary,
    )


@shared_docs
def mitigation_decisions(backend: ibis.BaseBackend, model_id: str) -> pl.DataFrame:
    """Recorded mitigation decisions for a model, newest first.

    Parameters
    ----------
    {backend}
    model_id : str
        The model.

    Returns
    -------
    polars.DataFrame
        ``ts``, ``username``, ``role``, ``details`` (JSON) from the audit log.
    """
    log = backend.table("audit_log")
    return (
        log.filter(
            (log.action == ibis.literal("fairness_mitigation", type="string"))
            & (log.target == ibis.literal(f"model:{model_id}", type="string"))
        )
        .select("ts", "username", "role", "details")
        .order_by(ibis.desc("ts"))
        .to_polars()
    )
