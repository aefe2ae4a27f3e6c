"""The fairness report and model cards: self-contained, escaped HTML; deterministic PDF; cards equal to
figures recomputed from the stored rows (scikit-learn on ``model_test_scores``, the raw registry JSON)."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from html.parser import HTMLParser

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from analytics.fairness import metrics as fairness
from analytics.fairness import model_card, report_html, report_pdf
from analytics.fairness import report as fairness_report
from analytics.fairness.audits import FairnessAudit, SignOff, audit_frame, audit_from_counts
from analytics.fairness.model_audits import audit_model
from analytics.models import registry as model_registry
from analytics.store.database import open_database

GENERATED = datetime(2026, 11, 29, 12, 0, 0)
ISLAND = "island & <b>co</b>"  # the small group: 20 customers, none with the outcome
SCRIPT = "<script>alert(1)</script>"


def _frame(n: int = 400, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    gender = rng.choice(["female", "male"], n)
    region = np.array(rng.choice(["north", "south"], n), dtype=object)
    region[:20] = ISLAND
    y = rng.binomial(1, 0.3, n)
    y[:20] = 0  # planted: no actual positives in the small group, so its true positive rate is undefined
    score = np.clip(0.25 * y + rng.uniform(0, 0.75, n), 0, 1)
    return pl.DataFrame({"gender": gender, "region": list(region), "y": y, "score": score})


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return _frame()


@pytest.fixture(scope="module")
def audit(frame) -> FairnessAudit:
    return audit_frame(frame, y_true="y", groups=["gender", "region"], score="score", threshold=0.5,
                       source="decisions.csv")  # fmt: skip


@pytest.fixture(scope="module")
def signoff() -> SignOff:
    return SignOff(
        signoff_id="SO-7f3a",
        reviewer="anna.lindqvist",
        role="compliance_reviewer",
        decision="approved_with_conditions",
        comment=f"Recheck the small region next quarter. {SCRIPT}",
        signed_at=datetime(2026, 11, 29, 10, 15, 30),
    )


class _Page(HTMLParser):
    """Tags, attributes, visible text, and every table as rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str, str | None]] = []
        self.text: list[str] = []
        self.styles: list[str] = []
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += [(tag, name, value) for name, value in attrs]
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "style":
            self._in_style = True

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append(" ".join(" ".join(self._cell).split()))
            self._cell = None
        elif tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)
            return
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    @property
    def plain(self) -> str:
        return " ".join(" ".join(self.text).split())


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def _table(page: _Page, first_header: str, holding: str) -> list[dict[str, str]]:
    """Rows (header -> cell text) of the first table headed ``first_header`` with a row for ``holding``.

    ``holding`` is matched against the first cell's text before any " · "; "*" takes any table.
    """
    for rows in page.tables:
        if rows and rows[0] and rows[0][0] == first_header:
            named = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
            if holding == "*" or any(holding == r[first_header].split(" · ")[0] for r in named):
                return named
    raise AssertionError(f"no table headed {first_header!r} holds {holding!r}")


def _wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    # Wilson (1927) score interval, written from the formula as an independent reference.
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


# -- HTML --------------------------------------------------------------------------------------------
def test_html_is_self_contained(audit, signoff):
    html = report_html.render_html(audit, signoff=signoff, generated_at=GENERATED)
    page = _parse(html)
    assert page.tags[0] == "html" and "table" in page.tags
    assert not {"script", "link", "iframe", "object", "embed", "img", "base", "form"} & set(page.tags)
    pointing = {"src", "href", "xlink:href", "srcset", "action", "formaction", "poster", "data", "background"}
    assert [a for a in page.attributes if a[1].lower() in pointing] == []
    assert not any(a[1].lower().startswith("on") for a in page.attributes)  # no inline handlers
    css = " ".join(page.styles)
    assert "@media print" in css
    for outside in ("url(", "@import", "@font-face", "http:", "https:", "//"):
        assert outside not in css
    assert "http" not in html.lower()


def test_html_shows_the_audit_every_group_and_the_verdict(audit):
    page = _parse(report_html.render_html(audit, generated_at=GENERATED))
    text = page.plain
    assert audit.data_hash in text
    assert "Customers audited (n) 400" in text
    assert f"Report generated {GENERATED:%Y-%m-%d %H:%M:%S} UTC" in text
    assert audit.verdict == "undecided"  # the small group defines the region comparison
    assert "Verdict UNDECIDED" in text
    # The verdict names its rule, threshold and interval method (issue 12.4).
    assert (
        "Rule: four-fifths rule: each group's selection rate over the most favoured group's, passing at "
        "or above 0.8; 95% katz-log intervals; groups of at least 30 judged."
    ) in text
    for attribute in audit.attributes:
        for group in attribute.metrics["group"].to_list():
            assert group in text
    sections = ("Fairness audit:", "Subject", "Report generated", "Data date", "Model version",
                "Data snapshot hash", "Customers audited", "Verdict UNDECIDED", "Groups of gender",
                "Method", "Sign-off")  # fmt: skip
    order = [text.index(s) for s in sections]
    assert order == sorted(order)


def test_group_rates_equal_counts_from_the_rows_with_wilson_intervals(frame, audit):
    page = _parse(report_html.render_html(audit, generated_at=GENERATED))
    rows = {r["Group"]: r for r in _table(page, "Group", "female")}
    for gender in ("female", "male"):
        part = frame.filter(pl.col("gender") == gender)
        chosen = int((part["score"] >= 0.5).sum())
        low, high = _wilson(chosen, part.height)
        cell = rows[gender]["Selection rate [95% CI]"]
        assert cell.startswith(f"{100 * chosen / part.height:.1f}%")
        assert f"[{100 * low:.1f}%, {100 * high:.1f}%]" in cell
        assert rows[gender]["n"] == str(part.height)
        positives = part.filter(pl.col("y") == 1)
        tpr = (positives["score"] >= 0.5).mean()
        assert rows[gender]["TPR [95% CI]"].startswith(f"{100 * tpr:.1f}%")
        assert rows[gender]["AUC"] == f"{roc_auc_score(part['y'], part['score']):.3f}"


def test_an_undefined_rate_reads_undefined_with_its_reason_never_zero(frame, audit):
    island = frame.filter(pl.col("region") == ISLAND)
    assert island.height == 20 and island["y"].sum() == 0  # the planted truth
    page = _parse(report_html.render_html(audit, generated_at=GENERATED))
    row = next(r for r in _table(page, "Group", "north") if r["Group"] == ISLAND)
    assert row["TPR [95% CI]"] == "undefined no actual positives in the group"
    assert not row["TPR [95% CI]"].startswith("0")
    assert row["AUC"].startswith("undefined")
    assert row["Judged"].startswith("too small")
    assert row["n"] == "20"


def test_user_text_is_escaped(audit, signoff):
    html = report_html.render_html(audit, signoff=signoff, generated_at=GENERATED)
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>co</b>" not in html and "&lt;b&gt;co&lt;/b&gt;" in html
    page = _parse(html)
    assert SCRIPT in page.plain and ISLAND in page.plain  # shown as the text it is
    assert "script" not in page.tags and "b" not in page.tags


def test_not_signed_without_a_signoff(audit):
    text = _parse(report_html.render_html(audit, generated_at=GENERATED)).plain
    assert "Sign-off Not signed" in text
    assert "Reviewer" not in text


def test_the_signoff_block_names_reviewer_role_decision_and_time(audit, signoff):
    text = _parse(report_html.render_html(audit, signoff=signoff, generated_at=GENERATED)).plain
    assert "Not signed" not in text
    block = text[text.index("Sign-off Reviewer") :]
    for expected in ("Reviewer anna.lindqvist", "Role compliance_reviewer",
                     "Decision Approved with conditions", "Signed at 2026-11-29 10:15:30 UTC",
                     "Sign-off id SO-7f3a"):  # fmt: skip
        assert expected in block


def test_times_are_printed_in_utc(audit):
    local = datetime(2026, 11, 29, 13, 0, 0, tzinfo=timezone(timedelta(hours=1)))
    text = _parse(report_html.render_html(audit, generated_at=local)).plain
    assert "Report generated 2026-11-29 12:00:00 UTC" in text


def test_disparities_table_names_interval_method_and_groups(frame, audit):
    page = _parse(report_html.render_html(audit, generated_at=GENERATED))
    gender = _table(page, "Disparity", "*")  # the first attribute's: gender
    female = frame.filter(pl.col("gender") == "female")
    male = frame.filter(pl.col("gender") == "male")
    rates = {"female": (female["score"] >= 0.5).mean(), "male": (male["score"] >= 0.5).mean()}
    top, bottom = max(rates, key=rates.get), min(rates, key=rates.get)
    ratio = next(r for r in gender if r["Disparity"].startswith("Demographic parity ratio"))
    assert ratio["Value"] == f"{rates[bottom] / rates[top]:.3f}"
    assert ratio["Interval method"] == "Katz log"
    assert ratio["Groups (highest vs lowest rate)"] == f"{top} vs {bottom}"
    difference = next(r for r in gender if r["Disparity"].startswith("Demographic parity difference"))
    assert difference["Interval method"] == "Newcombe hybrid score"
    assert difference["Value"] == f"{100 * (rates[top] - rates[bottom]):.1f} pp"
    rule = next(r for r in gender if r["Disparity"].startswith("Four-fifths"))
    assert rule["Four-fifths verdict"] in ("PASS", "FAIL", "UNDECIDED")


def test_an_exposure_audit_has_no_outcome_columns_and_says_equalized_odds_does_not_apply():
    counts = pl.DataFrame(
        {"group": ["female", "male"], "tp": [0, 0], "fp": [40, 60], "tn": [160, 140], "fn": [0, 0]}
    ).with_columns(n=pl.sum_horizontal("tp", "fp", "tn", "fn"))
    attributes = audit_from_counts({("gender",): counts}, has_outcome=False)
    audit = FairnessAudit(
        kind="targeting", subject_id="list-1", title="Targeting list", decision="on the list",
        has_outcome=False, threshold=None, as_of=date(2026, 10, 1), n=400, attributes=attributes,
        verdict=attributes[0].verdict, data_hash="0" * 64, notes=("Exposure has no outcome.",),
    )  # fmt: skip
    page = _parse(report_html.render_html(audit, generated_at=GENERATED))
    groups = _table(page, "Group", "female")
    assert "TPR [95% CI]" not in groups[0]
    assert groups[0]["Selection rate [95% CI]"].startswith("20.0%")  # 40 of 200
    odds = [r for r in _table(page, "Disparity", "*") if r["Disparity"].startswith("Equalized odds")]
    assert odds and all(r["Value"] == "does not apply the decision has no outcome" for r in odds)
    disparities = _table(page, "Disparity", "*")
    ratio = next(r for r in disparities if r["Disparity"].startswith("Demographic parity ratio"))
    assert ratio["Value"] == f"{(40 / 200) / (60 / 200):.3f}"
    assert "Exposure has no outcome." in page.plain
    assert "Data date (as of) 2026-10-01" in page.plain


def test_a_failing_credit_band_is_shown_and_named_in_the_verdict(audit):
    strata = pl.DataFrame(
        {
            "attribute": ["gender", "gender"], "stratum": ["600-649", "600-649"], "group": ["female", "male"],
            "n": [200, 210], "selected": [20, 60], "selection_rate": [0.1, 60 / 210],
            "reference": ["male", "male"], "ratio": [0.1 / (60 / 210), 1.0],
            "low": [0.22, None], "high": [0.55, None],
            "verdict": ["fail", ""],
        }
    )  # fmt: skip
    banded = replace(audit, kind="credit_decision", strata=strata, verdict="fail")
    page = _parse(report_html.render_html(banded, generated_at=GENERATED))
    rows = _table(page, "Attribute", "*")
    female = next(r for r in rows if r["Group"] == "female")
    assert female["Verdict"] == "FAIL" and female["Ratio to reference"] == "0.350"
    assert any(r["Group"] == "male (reference)" for r in rows)
    assert female["95% interval"] == "[0.220, 0.550]"
    assert "Within credit band 600-649, gender: FAIL" in page.plain
    assert "female is 0.350 times that of male" in page.plain


# -- PDF -----------------------------------------------------------------------------------------------
def test_pdf_is_deterministic_and_searchable(audit, signoff):
    first = report_pdf.render_pdf(audit, signoff=signoff, generated_at=GENERATED)
    second = report_pdf.render_pdf(audit, signoff=signoff, generated_at=GENERATED)
    assert first.startswith(b"%PDF-")
    assert first == second
    assert b"anna.lindqvist" in first
    assert audit.data_hash.encode() in first
    assert b"/CreationDate (D:20261129120000Z)" in first
    assert b"Approved with conditions" in first
    later = report_pdf.render_pdf(audit, signoff=signoff, generated_at=GENERATED + timedelta(seconds=1))
    assert later != first and b"D:20261129120001Z" in later
    unsigned = report_pdf.render_pdf(audit, generated_at=GENERATED)
    assert b"Not signed" in unsigned and b"anna.lindqvist" not in unsigned


def test_pdf_prints_groups_outside_latin1():
    frame = _frame().with_columns(
        pl.when(pl.col("gender") == "female").then(pl.lit("age ≥ 65 · f")).otherwise(pl.lit("age – 40 … 女"))
        .alias("gender")
    )  # fmt: skip
    audit = audit_frame(frame, y_true="y", groups=["gender"], score="score", threshold=0.5, source="u.csv")
    pdf = report_pdf.render_pdf(audit, generated_at=GENERATED)
    assert "age >= 65 \xb7 f".encode("latin-1") in pdf  # "·" is latin-1 and kept
    assert b"age - 40 ... [U+5973]" in pdf
    html = report_html.render_html(audit, generated_at=GENERATED)
    assert "age ≥ 65 · f" in html and "age – 40 … 女" in html  # the HTML keeps every character


def test_pdf_tables_break_across_pages_inside_the_margins():
    rng = np.random.default_rng(1)
    k = 120
    frame = pl.DataFrame(
        {
            "branch": [f"branch {i:03d}" for i in range(k) for _ in range(40)],
            "y": rng.binomial(1, 0.3, k * 40),
            "p": rng.binomial(1, 0.4, k * 40),
        }
    )
    audit = audit_frame(frame, y_true="y", y_pred="p", groups=["branch"])
    pdf = report_pdf.render_pdf(audit, generated_at=GENERATED)
    pages = int(re.search(rb"/Count (\d+)", pdf).group(1))
    assert pages >= 3
    # fpdf2 writes the total page count as its own text fragment after the page number.
    assert f"page 1 of ) Tj ({pages}) Tj".encode() in pdf
    assert f"page {pages} of ) Tj ({pages}) Tj".encode() in pdf
    height, bottom, top = 841.89, 16 * 72 / 25.4, 14 * 72 / 25.4
    boxes = [tuple(map(float, m)) for m in re.findall(rb"([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+) re S", pdf)]
    assert len(boxes) > 120 * 7
    for x, y, w, h in boxes:
        assert y >= bottom - 0.01 and y + h <= height - top + 0.01
        assert x >= 14 * 72 / 25.4 - 0.01 and x + w <= 595.28 - 14 * 72 / 25.4 + 0.01
    for i in (0, 60, 119):
        assert f"branch {i:03d}".encode() in pdf


def test_sha256_hex_of_text_and_bytes():
    # FIPS 180-2 / NIST test vectors: the empty message and "abc" as bytes.
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert fairness_report.sha256_hex("") == empty
    assert fairness_report.sha256_hex(b"abc").startswith("ba7816bf8f01cfea")
    assert fairness_report.sha256_hex("é") == fairness_report.sha256_hex("é".encode())


# -- model cards ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_db(model_bank_path):
    db = open_database(model_bank_path, read_only=True)
    yield db
    db.close()


def test_model_card_equals_figures_recomputed_from_the_stored_rows(model_db):
    backend = model_db.backend()
    record = model_registry.latest_model(backend, "churn")
    audit = audit_model(backend, record.model_id)
    card = model_card.model_card(backend, record.model_id, audit=audit)

    scores = backend.table("model_test_scores")
    rows = scores.filter(scores.model_id == record.model_id).to_polars()
    y = rows["label"].to_numpy()
    assert card.test_auc == pytest.approx(roc_auc_score(y, rows["score"].to_numpy()), abs=1e-9)
    assert card.metric("auc").baseline == pytest.approx(roc_auc_score(y, rows["baseline_score"]), abs=1e-9)
    assert card.metric("average_precision").model == pytest.approx(
        average_precision_score(y, rows["score"]), abs=1e-9
    )
    assert card.metric("brier").model == pytest.approx(brier_score_loss(y, rows["score"]), abs=1e-9)

    models = backend.table("models")
    raw = models.filter(models.model_id == record.model_id).to_polars().row(0, named=True)
    parameters, metrics = json.loads(raw["parameters"]), json.loads(raw["metrics"])
    assert card.train_cutoffs == tuple(date.fromisoformat(d) for d in parameters["cutoffs"]["train"])
    assert card.validation_cutoff == date.fromisoformat(parameters["cutoffs"]["validation"])
    assert card.test_cutoff == date.fromisoformat(parameters["cutoffs"]["test"])
    assert card.horizon_days == parameters["horizon_days"] == 90
    test_split = next(s for s in card.split_sizes if s.split == "test")
    assert (test_split.rows, test_split.positives) == (rows.height, int(y.sum()))
    stored = metrics["split_sizes"]
    assert [(s.split, s.rows) for s in card.split_sizes] == [
        (name, stored[f"{name}_rows"]) for name in ("train", "validation", "test")
    ]
    assert card.training_snapshot_hash == raw["training_snapshot_hash"]
    assert card.owner == card.trained_by == raw["trained_by"]

    assert "not for credit decisions" in card.intended_use and "90 days" in card.intended_use
    assert any("Credit decisions" in use for use in card.out_of_scope)

    # Fairness: the gender selection-rate ratio from the test rows at the audit's threshold.
    people = fairness.model_rows(backend, record.model_id, threshold=audit.threshold, as_of=card.test_cutoff)
    rates = people.group_by("gender").agg(pl.col("y_pred").mean())["y_pred"]
    gender = next(a for a in card.fairness.attributes if a.attribute == "gender")
    assert gender.demographic_parity_ratio == pytest.approx(rates.min() / rates.max(), abs=1e-12)
    assert card.fairness.data_hash == audit.data_hash

    # Limitations computed from the registry JSON and the test rows.
    text = " ".join(card.limitations)
    for item in metrics.get("psi", []):
        if item["psi"] >= 0.25:
            assert f"{item['feature']} (PSI {item['psi']:.2f})" in text
    if "age" in json.loads(raw["features"]):
        assert "'age' as an input" in text
    small = (
        people.group_by("gender", "age_band").len().filter(pl.col("len") < fairness.MIN_GROUP_SIZE)
        .select(pl.format("{} · {} (n={})", "gender", "age_band", "len")).to_series().to_list()
    )  # fmt: skip
    for group in small:
        assert group in text

    other = model_registry.latest_model(backend, "credit_card")
    with pytest.raises(ValueError, match="not of model"):
        model_card.model_card(backend, other.model_id, audit=audit)
    other_card = model_card.model_card(backend, other.model_id, owner="Cards team")
    assert other_card.owner == "Cards team" and other_card.fairness is None
    assert any("No fairness audit" in item for item in other_card.limitations)
    with pytest.raises(ValueError, match="card of the audited model"):
        report_html.render_html(audit, card=other_card, generated_at=GENERATED)

    html = report_html.render_html(audit, card=card, generated_at=GENERATED)
    page = _parse(html).plain
    assert f"Model card: {record.model_id}" in page and card.training_snapshot_hash in page
    assert card.intended_use in page
    pdf = report_pdf.render_pdf(audit, card=card, generated_at=GENERATED)
    assert record.model_id.encode() in pdf and card.training_snapshot_hash.encode() in pdf


def test_generated_at_is_read_as_utc_when_naive(audit):
    aware = report_pdf.render_pdf(audit, generated_at=GENERATED.replace(tzinfo=UTC))
    assert aware == report_pdf.render_pdf(audit, generated_at=GENERATED)
