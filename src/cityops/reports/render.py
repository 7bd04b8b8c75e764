"""DOCX and PDF renderers of `reports.document.Document` (OPS-4, SVC-2): the two entry points
every producer calls; the formats live in `reports.docx` and `reports.pdf`."""

from __future__ import annotations

from cityops.reports.document import Document


def to_docx(doc: Document) -> bytes:
    from cityops.reports.docx import to_docx as render
    return render(doc)


def to_pdf(doc: Document) -> bytes:
    from cityops.reports.pdf import to_pdf as render
    return render(doc)
