"""Contracts of the app's own state: users, audit log, dataset metadata, saved segments, sign-offs."""

from __future__ import annotations

import polars as pl

from analytics.store.contracts.spec import TS, Rule, TableSpec

USERS = TableSpec(
    name="users",
    description="Local sign-in accounts (embedded user store).",
    schema=pl.Schema(
        {
            "username": pl.String,
            "password_hash": pl.String,
            "role": pl.String,
            "created_at": TS,
            "last_sign_in_at": TS,
            "must_change_password": pl.Boolean,
        }
    ),
    columns={
        "username": "Sign-in name, lower case.",
        "password_hash": "Argon2id hash with its salt and parameters (never the password).",
        "role": "executive, marketing_analyst, compliance_reviewer or admin.",
        "created_at": "Time the account was created, UTC.",
        "last_sign_in_at": "Time of the last successful sign-in, UTC.",
        "must_change_password": (
            "True when the password was printed or chosen by an administrator: the user must set"
            " their own at the next sign-in (null, from before the column, counts as false)."
        ),
    },
    primary_key=("username",),
    not_null=("username", "password_hash", "role", "created_at"),
)

AUDIT_LOG = TableSpec(
    name="audit_log",
    description=(
        "Append-only record of sign-ins, user management, exports and every view of raw personal"
        " data. Each row is sealed by an HMAC chained to the row before it (docs/security.md)."
    ),
    schema=pl.Schema(
        {
            "event_id": pl.Int64,
            "ts": TS,
            "username": pl.String,
            "role": pl.String,
            "action": pl.String,
            "target": pl.String,
            "details": pl.String,
            "chain_hmac": pl.String,
        }
    ),
    columns={
        "event_id": "Sequence number.",
        "ts": "Time of the event, UTC.",
        "username": (
            "Who acted: a user name, os:<login> for a command run at a shell, system for an upgrade;"
            " the name typed, for failed sign-ins."
        ),
        "role": "Role at the time; null for failed sign-ins and shell commands.",
        "action": (
            "sign_in, sign_in_failed, sign_in_locked, sign_out, unlock, user_added, user_removed,"
            " password_changed, password_change_failed, view_personal_data, export, export_segment,"
            " save_segment, fit_model, fairness_signoff, fairness_mitigation, audit_chain_started."
        ),
        "target": "What was acted on: a page, table, customer, command (cli:...) or user (user:<name>).",
        "details": "JSON with further facts (filters, row counts).",
        "chain_hmac": (
            "HMAC-SHA256 under the audit key of this row's fields and the previous row's chain_hmac"
            " (analytics.store.audit_chain); `python -m analytics audit verify` checks the chain."
        ),
    },
    primary_key=("event_id",),
    not_null=("event_id", "ts", "username", "action"),
)

DATASET_META = TableSpec(
    name="dataset_meta",
    description="Facts about the loaded data set: source, seed, snapshot date.",
    schema=pl.Schema({"key": pl.String, "value": pl.String}),
    columns={"key": "Name of the fact.", "value": "Its value as text."},
    primary_key=("key",),
    not_null=("key",),
)

SEGMENTS = TableSpec(
    name="segments",
    description=(
        "Saved customer segments, one row per version: what the analyst named and saved on the"
        " Segments page (or with the CLI). Kept across data loads; data_as_of says which data the"
        " members come from."
    ),
    schema=pl.Schema(
        {
            "segment_id": pl.String,
            "name": pl.String,
            "version": pl.Int64,
            "description": pl.String,
            "source": pl.String,
            "parameters": pl.String,
            "created_by": pl.String,
            "created_at": TS,
            "data_as_of": pl.Date,
            "customers": pl.Int64,
        }
    ),
    columns={
        "segment_id": "Identifier of this version of the segment.",
        "name": "The analyst's name for it (versions share the name).",
        "version": "1 for the first save of a name, then 2, 3, ...",
        "description": "Free text: how it was made, what it is for.",
        "source": "clustering, map_selection or upload.",
        "parameters": "JSON: feature set, algorithm, k, cluster number, map, ... (how to remake it).",
        "created_by": "User who saved it.",
        "created_at": "When it was saved (UTC).",
        "data_as_of": "Snapshot date of the data its members come from.",
        "customers": "Number of members.",
    },
    primary_key=("segment_id",),
    not_null=("segment_id", "name", "version", "source", "created_by", "created_at", "customers"),
)

SEGMENT_MEMBERS = TableSpec(
    name="segment_members",
    description="Members of each saved segment version.",
    schema=pl.Schema({"segment_id": pl.String, "customer_id": pl.Int64}),
    columns={"segment_id": "The segment version (segments.segment_id).", "customer_id": "A member."},
    primary_key=("segment_id", "customer_id"),
    not_null=("segment_id", "customer_id"),
)

FAIRNESS_SIGNOFFS = TableSpec(
    name="fairness_signoffs",
    description=(
        "Reviewers' sign-offs of fairness audits, one row per signature, with the signed report and its"
        " SHA-256 (Fairness page, docs/fairness.md). Kept across data loads: they are the record."
    ),
    schema=pl.Schema(
        {
            "signoff_id": pl.String,
            "kind": pl.String,
            "subject_id": pl.String,
            "title": pl.String,
            "model_version": pl.Int64,
            "threshold": pl.Float64,
            "data_as_of": pl.Date,
            "data_hash": pl.String,
            "audit_verdict": pl.String,
            "decision": pl.String,
            "comment": pl.String,
            "reviewer": pl.String,
            "reviewer_role": pl.String,
            "signed_at": TS,
            "report_sha256": pl.String,
            "pdf_sha256": pl.String,
            "report_html": pl.String,
        }
    ),
    columns={
        "signoff_id": "Identifier of the sign-off (printed in the report).",
        "kind": "What was audited: model, offers, credit_decision, targeting or upload.",
        "subject_id": "The model id, campaign id, list hash or file name.",
        "title": "Heading of the audit.",
        "model_version": "Version of the audited model; null for other decisions.",
        "threshold": "Operating threshold of a scored decision; null for exposure.",
        "data_as_of": "Date of the audited decisions.",
        "data_hash": "SHA-256 of the per-group counts the audit read (the data snapshot).",
        "audit_verdict": "pass, fail or undecided: what the four-fifths rule said.",
        "decision": "approved, approved_with_conditions or rejected: what the reviewer said.",
        "comment": "Conditions or justification (required to approve a failing audit).",
        "reviewer": "User name of the reviewer.",
        "reviewer_role": "Their role when signing.",
        "signed_at": "When, UTC.",
        "report_sha256": "SHA-256 of the signed HTML report (sha256sum of the downloaded file).",
        "pdf_sha256": "SHA-256 of the signed PDF report.",
        "report_html": "The signed HTML report itself.",
    },
    primary_key=("signoff_id",),
    not_null=(
        "signoff_id",
        "kind",
        "subject_id",
        "title",
        "data_hash",
        "audit_verdict",
        "decision",
        "reviewer",
        "reviewer_role",
        "signed_at",
        "report_sha256",
        "pdf_sha256",
        "report_html",
    ),
    rules=(
        Rule(
            "decision",
            pl.col("decision").is_in(["approved", "approved_with_conditions", "rejected"]),
            "is not approved, approved_with_conditions or rejected",
        ),
        Rule(
            "audit_verdict",
            pl.col("audit_verdict").is_in(["pass", "fail", "undecided"]),
            "is not pass, fail or undecided",
        ),
    ),
)

APP_TABLES: tuple[TableSpec, ...] = (
    USERS,
    AUDIT_LOG,
    DATASET_META,
    SEGMENTS,
    SEGMENT_MEMBERS,
    FAIRNESS_SIGNOFFS,
)

APP_META_KEYS: tuple[str, ...] = ("pseudonym_key",)
"""Keys of ``dataset_meta`` that belong to the app, not to the data: kept across loads."""
