"""The signed fairness audit report as a PDF: the HTML's content with fpdf2's core fonts.

Deterministic (the creation date is the report's ``generated_at``; compression is off, so the
text can be searched in the bytes). Core fonts are latin-1 only: the few other characters are
mapped by :func:`pdf_text`. The content is :func:`analytics.fairness.report.report_layout`, the
same as the HTML's.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from fpdf import FPDF
from fpdf.fonts import FontFace

from analytics.fairness.audits import FairnessAudit, SignOff
from analytics.fairness.model_card import ModelCard
from analytics.fairness.report import (
    NOT_SIGNED,
    NOT_SIGNED_TEXT,
    VERDICT_COLOURS,
    VERDICT_WORDS,
    ReportTable,
    as_utc,
    report_layout,
)

PDF_CHARACTERS: dict[str, str] = {
    "≥": ">=",
    "≤": "<=",
    "≠": "!=",
    "–": "-",
    "—": "-",
    "−": "-",
    "…": "...",
    "‘": "'",
    "’": "'",
    "“": '"',
    "”": '"',
    "•": "-",
    "€": "EUR",
    "→": "->",
}
"""Characters outside latin-1 that the PDF's core fonts cannot show, and what is printed instead."""


def pdf_text(text: str) -> str:
    """Text the PDF's core fonts (latin-1) can print: known characters mapped, others as [U+XXXX].

    An unknown character is written as its code point rather than dropped or turned into "?",
    so a group name is never silently changed into another one.

    Parameters
    ----------
    text : str
        Any text.

    Returns
    -------
    str
        Latin-1 text.

    Examples
    --------
    >>> pdf_text("score ≥ 0.5 · age 65+ – 女")
    'score >= 0.5 · age 65+ - [U+5973]'
    """
    out = []
    for ch in text:
        if ch in PDF_CHARACTERS:
            out.append(PDF_CHARACTERS[ch])
        elif ord(ch) < 256:
            out.append(ch)
        else:
            out.append(f"[U+{ord(ch):04X}]")
    return "".join(out)


_PAGES_ALIAS = "{tailor_total_pages}"  # fpdf2 swaps it for the page count; fpdf2's "{nb}" could be user text


class _ReportPDF(FPDF):
    """A4 pages with a footer naming the audit and the page, so a loose page still says what it is from."""

    footer_text = ""

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", size=7)
        self.set_text_color(90, 90, 90)
        text = f"{pdf_text(self.footer_text)} - page {self.page_no()} of {_PAGES_ALIAS}"
        self.cell(0, 5, text, align="C")
        self.set_text_color(0, 0, 0)


_PDF_LINE = 4.2  # mm per line of body text
_PDF_TABLE_FONT = 7.5


def _pdf_heading(pdf: FPDF, text: str, *, size: float = 12.0) -> None:
    # A heading never sits alone at the foot of a page.
    if pdf.get_y() > pdf.h - pdf.b_margin - 25:
        pdf.add_page()
    pdf.ln(2)
    pdf.set_font("Helvetica", "B", size)
    pdf.multi_cell(0, size * 0.5, pdf_text(text), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)


def _pdf_paragraph(pdf: FPDF, text: str, *, style: str = "", size: float = 9.5, keep: float = 0.0) -> None:
    # ``keep``: room (mm) the paragraph needs below it, so a lead-in is not left alone at a page foot.
    if keep and pdf.get_y() > pdf.h - pdf.b_margin - keep:
        pdf.add_page()
    pdf.set_font("Helvetica", style, size)
    pdf.multi_cell(0, _PDF_LINE, pdf_text(text), align="L", new_x="LMARGIN", new_y="NEXT")


def _pdf_facts(pdf: FPDF, facts: Sequence[tuple[str, str]], *, mono: frozenset[str] = frozenset()) -> None:
    width = 55
    for label, value in facts:
        pdf.set_font("Helvetica", "B", 9)
        pdf.cell(width, _PDF_LINE, pdf_text(label))
        is_mono = label in mono or "hash" in label.lower() or "SHA" in label
        pdf.set_font("Courier" if is_mono else "Helvetica", "", 8.5 if is_mono else 9)
        pdf.multi_cell(0, _PDF_LINE, pdf_text(value), align="L", new_x="LMARGIN", new_y="NEXT")


def _pdf_style(style: str) -> FontFace | None:
    if style in VERDICT_COLOURS:
        return FontFace(emphasis="BOLD", color=VERDICT_COLOURS[style])
    if style == "undefined":
        return FontFace(emphasis="ITALICS", color=(90, 90, 90))
    if style == "small":
        return FontFace(color=VERDICT_COLOURS["undecided"])
    return None


def _pdf_table(pdf: FPDF, table: ReportTable) -> None:
    pdf.set_font("Helvetica", "B", 9)
    if pdf.get_y() > pdf.h - pdf.b_margin - 20:
        pdf.add_page()
    pdf.multi_cell(0, _PDF_LINE, pdf_text(table.caption), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", _PDF_TABLE_FONT)
    # fpdf2's table breaks pages between rows and repeats the heading row on each new page.
    with pdf.table(
        col_widths=table.widths,
        text_align="LEFT",
        line_height=3.4,
        padding=0.8,
        repeat_headings=1,
        headings_style=FontFace(emphasis="BOLD", fill_color=(240, 241, 243)),
        width=pdf.epw,
    ) as out:
        heading = out.row()
        for h in table.headers:
            heading.cell(pdf_text(h))
        for row in table.rows:
            line = out.row()
            for c in row:
                text = c.text if not c.note else f"{c.text}\n{c.note}"
                line.cell(pdf_text(text), style=_pdf_style(c.style))
    pdf.ln(2)


def render_pdf(
    audit: FairnessAudit,
    *,
    card: ModelCard | None = None,
    signoff: SignOff | None = None,
    generated_at: datetime,
) -> bytes:
    """The audit report as a PDF with the same content as :func:`render_html` (tables, no charts).

    Deterministic: the same inputs give the same bytes. The document's creation date is
    ``generated_at`` (``FPDF.set_creation_date``), the file identifier is derived by fpdf2
    from the content and that date, and compression is off (``FPDF.set_compression(False)``)
    so the text can be searched in the file.

    Parameters
    ----------
    audit : FairnessAudit
        The audit.
    card : ModelCard, optional
        The model card.
    signoff : SignOff, optional
        The reviewer's decision; "Not signed" without one.
    generated_at : datetime.datetime
        When the report is made (UTC; a naive value is read as UTC).

    Returns
    -------
    bytes
        The PDF file.

    Raises
    ------
    ValueError
        A card of another model than the audited one
        (:data:`analytics.fairness.report.MSG_CARD_OF_ANOTHER_MODEL`).
    """
    layout = report_layout(audit, card=card, signoff=signoff, generated_at=generated_at)
    pdf = _ReportPDF(format="A4")
    pdf.alias_nb_pages(_PAGES_ALIAS)
    pdf.footer_text = layout.footer
    pdf.set_compression(False)
    pdf.set_creation_date(as_utc(generated_at))
    pdf.set_title(pdf_text(layout.title))
    pdf.set_creator("Tailor")
    pdf.set_margins(14, 14, 14)
    pdf.set_auto_page_break(True, margin=16)
    pdf.add_page()

    _pdf_heading(pdf, layout.title, size=15)
    _pdf_facts(pdf, layout.facts, mono=layout.mono_facts)

    _pdf_heading(pdf, "Verdict")
    pdf.set_text_color(*VERDICT_COLOURS[layout.verdict])
    _pdf_paragraph(pdf, VERDICT_WORDS[layout.verdict], style="B", size=14)
    pdf.set_text_color(0, 0, 0)
    _pdf_paragraph(pdf, layout.verdict_meaning)
    _pdf_paragraph(pdf, layout.rule)
    for line in layout.reasons:
        _pdf_paragraph(pdf, line)

    for a in layout.attributes:
        _pdf_heading(pdf, f"{a.name}: {VERDICT_WORDS[a.verdict]}")
        _pdf_paragraph(pdf, a.reason)
        _pdf_paragraph(pdf, a.rule)
        pdf.ln(1)
        _pdf_table(pdf, a.groups)
        _pdf_table(pdf, a.disparities)

    if layout.strata is not None:
        _pdf_heading(pdf, "Credit decision within credit bands")
        _pdf_table(pdf, layout.strata)

    if layout.notes:
        _pdf_heading(pdf, "Notes")
        for note in layout.notes:
            _pdf_paragraph(pdf, f"- {note}")

    if layout.card is not None:
        c = layout.card
        _pdf_heading(pdf, c.heading)
        _pdf_facts(pdf, c.facts)
        _pdf_heading(pdf, "Intended use", size=10.5)
        _pdf_paragraph(pdf, c.intended_use)
        _pdf_heading(pdf, "Out of scope", size=10.5)
        for use in c.out_of_scope:
            _pdf_paragraph(pdf, f"- {use}")
        _pdf_heading(pdf, "Data", size=10.5)
        if c.splits is not None:
            _pdf_table(pdf, c.splits)
        else:
            _pdf_paragraph(pdf, "Split sizes are not stored.")
        _pdf_paragraph(pdf, c.features, size=8.5)
        _pdf_heading(pdf, "Metrics", size=10.5)
        if c.metrics is not None:
            _pdf_table(pdf, c.metrics)
        else:
            _pdf_paragraph(pdf, "No test metrics are stored.")
        _pdf_heading(pdf, "Fairness", size=10.5)
        _pdf_paragraph(pdf, c.fairness_text)
        if c.fairness is not None:
            _pdf_table(pdf, c.fairness)
        _pdf_heading(pdf, "Limitations", size=10.5)
        for item in c.limitations:
            _pdf_paragraph(pdf, f"- {item}")

    _pdf_heading(pdf, "Method")
    for heading, text in layout.method:
        _pdf_paragraph(pdf, heading, style="B", keep=14)
        _pdf_paragraph(pdf, text)

    _pdf_heading(pdf, "Sign-off")
    if layout.signoff is not None:
        _pdf_facts(pdf, (*layout.signoff, ("Comment", layout.comment or "(none)")))
    else:
        pdf.set_text_color(*VERDICT_COLOURS["fail"])
        _pdf_paragraph(pdf, NOT_SIGNED, style="B", size=13)
        pdf.set_text_color(0, 0, 0)
        _pdf_paragraph(pdf, NOT_SIGNED_TEXT)
    return bytes(pdf.output())
