"""Daily maintenance (OPS-2, SVC-2): maintenance plans and tasks, the maintenance log and its
half-year compilation."""
