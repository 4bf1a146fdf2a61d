"""The errors a user can fix, shared by every room.

Each is raised with a Vietnamese message for the person who caused it, naming the place (file,
line, field) but no interface's controls: the message reads the same in the CLI, on a web page
and in a Prefect log. Each interface maps ``UserError`` to its own form — the CLI prints the
message (adding its own flag hint from ``field``) and exits with code 2; the web shows it as a
banner with HTTP 400 (409 for ``ConcurrentUpdate``).

The kinds stay where their rule lives (``tracking.store.NotFound``, ``tracking.status.
IllegalTransition``…) and subclass these bases, so ``except UserError`` catches every one and a
room never imports another room to name an error. ``importer/`` may import ``models`` only, so
the hierarchy lives here.
"""

from __future__ import annotations


class UserError(Exception):
    """An error the user can fix; ``str(exc)`` is the Vietnamese message for them.

    ``field`` names the input at fault ("reason", "new_due", "department"…) when there is one,
    so an interface can point at its own control for it (the CLI's ``--reason``).
    """

    field: str | None = None

    def __init__(self, message: str = "", *, field: str | None = None) -> None:
        super().__init__(message)
        if field is not None:
            self.field = field


class NotFoundError(UserError, LookupError):
    """No such plan, assignment, unit, account…"""


class InvalidInput(UserError, ValueError):
    """An action or a value the rules refuse (a missing reason, a date out of range…)."""


class ConflictError(UserError, RuntimeError):
    """Someone else changed the record between reading and writing it (HTTP 409)."""


class FileProblem(UserError, ValueError):
    """A file given by the user that cannot be used (plan file, evidence, document, script)."""
