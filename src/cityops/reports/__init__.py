"""Documents the operations team hands on (OPS-2, OPS-4, SVC-2): a small document model and its
DOCX and PDF renderers with an embedded CJK font."""
