"""The use cases: the one library API that the CLI, the web pages and the Prefect tasks call.

Between the interfaces (``cli``, ``web``, ``tasks``, ``flows``) and the engine
(``notifications``, ``tracking``, ``models``); see docs/architecture.md. A service takes plain
values and a session or engine, raises ``models.errors.UserError`` for what the user can fix,
and knows nothing of flags, forms or Prefect.
"""
