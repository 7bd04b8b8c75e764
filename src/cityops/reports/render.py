"""DOCX and PDF renderers of `reports.document.Document`. INTERFACE STUB — the reports engineer
replaces the bodies; the signatures are used by the fault brief and the maintenance log."""

from __future__ import annotations

from cityops.reports.document import Document


def to_docx(doc: Document) -> bytes:
    raise NotImplementedError


def to_pdf(doc: Document) -> bytes:
    raise NotImplementedError
