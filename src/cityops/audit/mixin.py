"""Marks a model whose writes are recorded in the audit chain (SVC-3)."""


class Audited:
    """Every insert, update and delete of a subclass is written to the audit log in the
    same transaction. Columns with ``info={"audit": False}`` are left out; columns whose
    name contains ``phone`` are masked."""

    __audit_entity__: str | None = None  # defaults to the table name
