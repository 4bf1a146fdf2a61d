"""Data shapes of giaoviec: SQLModel tables and pydantic schemas (incl. the plan file).

No rules and no I/O live here; see ``tracking`` for those.
"""
