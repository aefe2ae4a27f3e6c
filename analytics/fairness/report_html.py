"""The signed fairness audit report as one self-contained HTML file.

Inline CSS only (no script, no external reference of any kind, no web font), from a Jinja2
template with autoescaping on, since reviewer comments and uploaded group names are user text.
The content is :func:`analytics.fairness.report.report_layout`, the same as the PDF's.
"""

from __future__ import annotations

from datetime import datetime

import jinja2

from analytics.fairness.audits import FairnessAudit, SignOff
from analytics.fairness.model_card import ModelCard
from analytics.fairness.report import NOT_SIGNED, NOT_SIGNED_TEXT, VERDICT_WORDS, report_layout

HTML_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ r.title }}</title>
<style>
@page { size: A4; margin: 14mm; }
* { box-sizing: border-box; }
body { font-family: "Helvetica Neue", Arial, "Liberation Sans", sans-serif; font-size: 10.5pt; color: #1f2328;
       line-height: 1.4; max-width: 1100px; margin: 0 auto; padding: 16px;
       -webkit-print-color-adjust: exact; print-color-adjust: exact; }
h1 { font-size: 18pt; margin: 0 0 8px; }
h2 { font-size: 13.5pt; margin: 22px 0 6px; border-bottom: 1px solid #d0d7de; padding-bottom: 2px;
     break-after: avoid; page-break-after: avoid; }
h3 { font-size: 11.5pt; margin: 14px 0 4px; break-after: avoid; page-break-after: avoid; }
table { border-collapse: collapse; width: 100%; margin: 4px 0 10px; font-size: 9pt; }
thead { display: table-header-group; }
tr { break-inside: avoid; page-break-inside: avoid; }
th, td { border: 1px solid #d0d7de; padding: 3px 5px; text-align: left; vertical-align: top; }
th { background: #f3f4f6; }
caption { text-align: left; font-weight: bold; padding: 2px 0; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 6px 0; }
dl.facts dt { font-weight: bold; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.mono { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 9pt;
        overflow-wrap: anywhere; }
.note { display: block; color: #57606a; font-size: 8pt; }
.undefined { color: #57606a; font-style: italic; }
.small { color: #9a6700; }
.pass { color: #1a7f37; font-weight: bold; }
.fail { color: #b42318; font-weight: bold; }
.undecided { color: #9a6700; font-weight: bold; }
.verdict { border: 2px solid currentColor; padding: 8px 12px; margin: 10px 0; }
.verdict .word { font-size: 16pt; letter-spacing: 1px; }
.verdict p { color: #1f2328; font-weight: normal; margin: 4px 0; }
.comment { white-space: pre-wrap; border-left: 3px solid #d0d7de; padding-left: 8px; }
.unsigned { font-size: 14pt; font-weight: bold; color: #b42318; }
svg.bar { display: block; }
footer { margin-top: 24px; color: #57606a; font-size: 8pt; }
@media print { body { padding: 0; max-width: none; } }
</style>
</head>
<body>
<h1>{{ r.title }}</h1>
<dl class="facts">
{% for label, value in r.facts %}
<dt>{{ label }}</dt><dd{% if label in r.mono_facts %} class="mono"{% endif %}>{{ value }}</dd>
{% endfor %}
</dl>

<h2>Verdict</h2>
<div class="verdict {{ r.verdict }}">
<span class="word">{{ words[r.verdict] }}</span>
<p>{{ r.verdict_meaning }}</p>
<p class="rule">{{ r.rule }}</p>
{% for line in r.reasons %}
<p>{{ line }}</p>
{% endfor %}
</div>

{% macro bar(b, label) %}
<svg class="bar" width="122" height="12" viewBox="0 0 122 12" role="img" aria-label="{{ label }}">
<rect x="1" y="2" width="{{ "%.1f"|format(b[0] * 120) }}" height="8" fill="#8fb8de"></rect>
<line x1="{{ "%.1f"|format(1 + b[1] * 120) }}" y1="6" x2="{{ "%.1f"|format(1 + b[2] * 120) }}" y2="6"
 stroke="#1f2328" stroke-width="1.2"></line>
</svg>
{% endmacro %}
{% macro table(t) %}
<table>
<caption>{{ t.caption }}</caption>
<thead><tr>{% for h in t.headers %}<th>{{ h }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in t.rows %}
<tr>
{% for c in row %}
<td{% if c.style %} class="{{ c.style }}"{% endif %}>{{ c.text }}
{% if c.bar %}{{ bar(c.bar, "selection rate " ~ c.text ~ " " ~ c.note) }}{% endif %}
{% if c.note %}<span class="note">{{ c.note }}</span>{% endif %}
</td>
{% endfor %}
</tr>
{% endfor %}
</tbody>
</table>
{% endmacro %}

{% for a in r.attributes %}
<h2>{{ a.name }}: <span class="{{ a.verdict }}">{{ words[a.verdict] }}</span></h2>
<p>{{ a.reason }}</p>
<p class="rule">{{ a.rule }}</p>
{{ table(a.groups) }}
{{ table(a.disparities) }}
{% endfor %}

{% if r.strata %}
<h2>Credit decision within credit bands</h2>
{{ table(r.strata) }}
{% endif %}

{% if r.notes %}
<h2>Notes</h2>
<ul>
{% for note in r.notes %}<li>{{ note }}</li>
{% endfor %}
</ul>
{% endif %}

{% if r.card %}
{% set c = r.card %}
<h2>{{ c.heading }}</h2>
<dl class="facts">
{% for label, value in c.facts %}
<dt>{{ label }}</dt><dd{% if 'hash' in label or 'SHA' in label %} class="mono"{% endif %}>{{ value }}</dd>
{% endfor %}
</dl>
<h3>Intended use</h3>
<p>{{ c.intended_use }}</p>
<h3>Out of scope</h3>
<ul>
{% for use in c.out_of_scope %}<li>{{ use }}</li>
{% endfor %}
</ul>
<h3>Data</h3>
{% if c.splits %}{{ table(c.splits) }}{% else %}<p>Split sizes are not stored.</p>{% endif %}
<p>{{ c.features }}</p>
<h3>Metrics</h3>
{% if c.metrics %}{{ table(c.metrics) }}{% else %}<p>No test metrics are stored.</p>{% endif %}
<h3>Fairness</h3>
<p>{{ c.fairness_text }}</p>
{% if c.fairness %}{{ table(c.fairness) }}{% endif %}
<h3>Limitations</h3>
<ul>
{% for item in c.limitations %}<li>{{ item }}</li>
{% endfor %}
</ul>
{% endif %}

<h2>Method</h2>
{% for heading, text in r.method %}
<p><strong>{{ heading }}.</strong> {{ text }}</p>
{% endfor %}

<h2>Sign-off</h2>
{% if r.signoff %}
<dl class="facts">
{% for label, value in r.signoff %}
<dt>{{ label }}</dt><dd>{{ value }}</dd>
{% endfor %}
<dt>Comment</dt><dd class="comment">{{ r.comment or "(none)" }}</dd>
</dl>
{% else %}
<p class="unsigned">{{ not_signed }}</p>
<p>{{ not_signed_text }}</p>
{% endif %}

<footer>{{ r.footer }}</footer>
</body>
</html>
"""
"""The report's Jinja2 template: inline CSS only, no script, no external reference."""

_ENVIRONMENT = jinja2.Environment(
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
)
_TEMPLATE = _ENVIRONMENT.from_string(HTML_TEMPLATE)


def render_html(
    audit: FairnessAudit,
    *,
    card: ModelCard | None = None,
    signoff: SignOff | None = None,
    generated_at: datetime,
) -> str:
    """The audit report as one self-contained HTML file (inline CSS, no script, no external reference).

    Every text from outside (group names, the reviewer's comment) is HTML-escaped by the
    template's autoescaping.

    Parameters
    ----------
    audit : FairnessAudit
        The audit (:mod:`analytics.fairness.audits`).
    card : ModelCard, optional
        The model card, printed after the audit (for a model audit, of the same model).
    signoff : SignOff, optional
        The reviewer's decision; the report says "Not signed" without one.
    generated_at : datetime.datetime
        When the report is made (UTC; a naive value is read as UTC).

    Returns
    -------
    str
        The HTML document.

    Raises
    ------
    ValueError
        A card of another model than the audited one
        (:data:`analytics.fairness.report.MSG_CARD_OF_ANOTHER_MODEL`).
    """
    layout = report_layout(audit, card=card, signoff=signoff, generated_at=generated_at)
    return _TEMPLATE.render(
        r=layout, words=VERDICT_WORDS, not_signed=NOT_SIGNED, not_signed_text=NOT_SIGNED_TEXT
    )
