"""The consoles the CLI writes through: Rich's, except that output to a pipe or a file is
laid out at its own width instead of being cut at 80 columns.

Rich wraps everything at the terminal's width; when the output is not a terminal it takes
``COLUMNS`` or, failing that, 80 — so a message sent to a file or read by a script was broken
in the middle of a phrase (or of a path), and what a test saw depended on how long its
temporary path was. Here, when the output is not a terminal, each printed thing (a message, a
table, a panel) gets exactly the width its content needs: prose is never wrapped and tables are
sized to their content. On a terminal nothing changes.
"""

from __future__ import annotations

from typing import Any

from rich.console import (
    Console,
    ConsoleDimensions,
    ConsoleOptions,
    ConsoleRenderable,
    Group,
    RenderHook,
    RenderResult,
)
from rich.measure import Measurement

# The width offered to content when nothing limits it: only a bound, so that a renderable that
# cannot say how wide it is (a rule, a live display) does not fill a million columns.
UNBOUNDED = 10_000
# The width of what cannot measure itself, in a pipe: fixed, so the output does not depend on
# COLUMNS or on the terminal the command happened to be started from.
FALLBACK_WIDTH = 80


class CliConsole(Console):
    """A Rich console that never wraps at an imagined terminal width (see the module doc)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Rich takes COLUMNS as a chosen width; only a width given here (or set) counts as one.
        self._chosen_width: int | None = kwargs.get("width")
        self._natural = _NaturalWidth(self)
        self.push_render_hook(self._natural)

    def to_terminal(self) -> bool:
        """Whether the output really is a terminal (colours forced or not)."""
        isatty = getattr(self.file, "isatty", None)
        try:
            return bool(isatty and isatty())
        except ValueError:  # a closed file
            return False

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        if not self.unbounded():
            return size
        return ConsoleDimensions(UNBOUNDED, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._chosen_width = self._width = new_size[0]
        self._height = new_size[1]

    @property
    def width(self) -> int:
        return self.size.width

    @width.setter
    def width(self, width: int) -> None:
        self._chosen_width = self._width = width

    def unbounded(self) -> bool:
        """Whether output is laid out at its content's width: not a terminal, no width chosen."""
        return self._chosen_width is None and not self.to_terminal()

    # Other hooks (a live display's) run before ours, so what they add is laid out too.
    def push_render_hook(self, hook: RenderHook) -> None:
        super().push_render_hook(hook)
        hooks = self._render_hooks
        if hook is not self._natural and self._natural in hooks:
            hooks.remove(self._natural)
            hooks.append(self._natural)

    def pop_render_hook(self) -> None:
        with self._lock:
            others = [h for h in self._render_hooks if h is not self._natural]
            if others:
                self._render_hooks.remove(others[-1])


class _NaturalWidth(RenderHook):
    def __init__(self, console: CliConsole) -> None:
        self.console = console

    def process_renderables(self, renderables: list[ConsoleRenderable]) -> list[ConsoleRenderable]:
        if not self.console.unbounded():
            return renderables
        return [_AtNaturalWidth(part) for part in _parts(renderables)]


def _parts(renderables: list[ConsoleRenderable]) -> list[ConsoleRenderable]:
    """A group is a stack of independent parts: each gets its own width."""
    parts: list[ConsoleRenderable] = []
    for renderable in renderables:
        if isinstance(renderable, Group):
            parts.extend(_parts(list(renderable.renderables)))  # type: ignore[arg-type]
        else:
            parts.append(renderable)
    return parts


class _AtNaturalWidth:
    """One renderable laid out at the widest its content asks for."""

    def __init__(self, renderable: ConsoleRenderable) -> None:
        self.renderable = renderable

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        wide = options.update_width(UNBOUNDED)
        width = Measurement.get(console, wide, self.renderable).maximum
        if width >= UNBOUNDED:  # it cannot tell (a progress bar): a classic terminal's width
            width = FALLBACK_WIDTH
        yield from console.render(self.renderable, wide.update_width(max(width, 1)))

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.renderable)
