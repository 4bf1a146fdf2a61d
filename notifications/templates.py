"""Vietnamese message templates: every reminder kind, rendered four ways.

Wording lives in Jinja2 files under ``notifications/templates/`` (shipped as package data):

- ``kinds/<kind>.j2``: one file per :class:`ReminderKind` with that kind's wording, as macros
  (``subject``, ``headline``, ``intro``, ``request``) and a few exported settings (``tone``,
  ``about_assignment``, ``show_timing``, ``actor_label``, ``reason_label``);
- ``_common.j2``: wording shared by every kind (greeting, fact rows, contact line, footer);
- four layouts, each importing the kind's macros: ``subject.txt.j2`` (one line),
  ``email.txt.j2``, ``email.html.j2`` and ``chat.txt.j2`` (Zalo, at most
  :data:`CHAT_LIMIT` characters).

Escaping: autoescape is on for ``*.html.j2`` only. Macros are plain text, and every layout
passes their output through the ``squash``/``rows`` filters, which return plain ``str`` (never
``Markup``), so the HTML layout escapes names, titles, notes and reasons like any other value.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re
import unicodedata
from pathlib import Path

import jinja2

from models.enums import ReminderKind

__all__ = [
    "CHAT_LIMIT",
    "KIND_EXPORTS",
    "LAYOUTS",
    "TEMPLATE_DIR",
    "Attachment",
    "ItemLine",
    "MessageContext",
    "Rendered",
    "addressed_title",
    "environment",
    "kind_template",
    "render",
    "shorten",
    "vn_date",
]

CHAT_LIMIT = 2000
"""Zalo's hard limit on a text message, in characters."""

TEMPLATE_DIR = Path(__file__).with_name("templates")
LAYOUTS = ("subject.txt.j2", "email.txt.j2", "email.html.j2", "chat.txt.j2")
KIND_EXPORTS = (
    "subject",
    "headline",
    "intro",
    "request",
    "tone",
    "about_assignment",
    "show_timing",
    "actor_label",
    "reason_label",
)
"""What every ``kinds/<kind>.j2`` must define; the layouts use all of it."""

# When the chat text is too long even without its list, long free text is shortened to these
# lengths in turn (whole words, ending in "…").
_CHAT_FIELD_LIMITS = (600, 300, 150, 80)
_ELLIPSIS = "…"


@dataclasses.dataclass(frozen=True)
class ItemLine:
    """One assignment in a list (kickoff)."""

    code: str
    title: str
    due: dt.date | None
    role: str  # "lead" | "cooperating"


@dataclasses.dataclass(frozen=True)
class MessageContext:
    """Everything a message says; built by ``notifications.compose`` from an outbox row."""

    kind: ReminderKind
    day: dt.date  # the day the reminder is for
    plan_title: str
    plan_number: str | None
    event_name: str | None
    event_date: dt.date | None
    recipient_name: str
    recipient_unit: str  # the recipient's unit name
    role: str  # lead | cooperating | head | coordinator
    is_copy: bool  # a cooperating unit's copy
    coordinator_unit: str | None  # e.g. "Sở Nội vụ (Ban Thi đua - Khen thưởng)"
    code: str | None = None  # the assignment, when the message is about one
    title: str | None = None
    detail: str | None = None
    lead_unit: str | None = None
    cooperating_units: tuple[str, ...] = ()
    due: dt.date | None = None
    original_due: dt.date | None = None  # differs after an extension
    due_corrected: bool = False  # the new due date corrects a mistake (earlier), no extension
    working_days_left: int | None = None  # upcoming: how many working days remain
    working_days_overdue: int | None = None
    actor: str | None = None  # who acted (blocked/submitted/confirmed/returned/extended)
    reason: str | None = None  # blocker / return / extension reason
    note: str | None = None  # submission note
    prerequisite_code: str | None = None  # prerequisite_done: which prerequisite was done
    prerequisite_title: str | None = None
    items: tuple[ItemLine, ...] = ()  # kickoff: the unit's assignments
    links: tuple[tuple[str, str], ...] = ()  # (label, url) action links
    # The person as the record names them: the role ("Giám đốc Đài") and the title it makes
    # with the unit ("Giám đốc Đài Phát thanh và Truyền hình An Giang"); see ``addressed_title``.
    recipient_role: str | None = None
    recipient_title: str | None = None
    # What happened to the work so far, so overdue and escalation texts tell the truth: the
    # last submission, and the return or blocker that followed it (day and reason).
    submitted_on: dt.date | None = None
    returned_on: dt.date | None = None
    return_reason: str | None = None
    blocked_on: dt.date | None = None
    blocked_reason: str | None = None


@dataclasses.dataclass(frozen=True)
class Attachment:
    """A file sent with an email (the weekly report's Excel workbook)."""

    name: str
    data: bytes


@dataclasses.dataclass(frozen=True)
class Rendered:
    subject: str  # one line
    text: str  # email, plain text
    html: str  # email, HTML
    chat: str  # Zalo, at most CHAT_LIMIT characters
    attachments: tuple[Attachment, ...] = ()  # email only


def render(ctx: MessageContext) -> Rendered:
    """The four renderings of one message."""
    env = environment()
    return Rendered(
        subject=_squash(env.get_template("subject.txt.j2").render(ctx=ctx)),
        text=_tidy(env.get_template("email.txt.j2").render(ctx=ctx)),
        html=_nfc(env.get_template("email.html.j2").render(ctx=ctx)),
        chat=_render_chat(ctx),
    )


def addressed_title(role: str | None, unit: str, *, is_head: bool = False) -> str:
    """How a person's title reads after their name: the role merged with the unit's name.

    "Giám đốc Đài" + "Đài Phát thanh và Truyền hình An Giang" → "Giám đốc Đài Phát thanh và
    Truyền hình An Giang" (the shared word once); "Tổng Biên tập" + "Báo An Giang" → "Tổng
    Biên tập Báo An Giang"; a longer role that names its own section is followed by a comma
    and the unit, without the unit's parenthesis when the role already says it ("Trưởng ban
    Ban Thi đua - Khen thưởng, Sở Nội vụ"). No role: the unit's head is "Thủ trưởng" of it.
    """
    if not role:
        return f"Thủ trưởng {unit}" if is_head else unit
    role = " ".join(role.split())
    base, _, inside = unit.partition(" (")
    inside = inside.rstrip(")")
    if inside and inside.lower() in role.lower():
        unit = base
    if unit.lower() in role.lower():
        return role
    role_words, unit_words = role.split(), unit.split()
    for size in range(min(len(role_words), len(unit_words)), 0, -1):
        if [w.lower() for w in role_words[-size:]] == [w.lower() for w in unit_words[:size]]:
            return " ".join(role_words[:-size] + unit_words)
    return f"{role}, {unit}" if len(role_words) > 3 else f"{role} {unit}"


def shorten(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, cut between words (for a chat message)."""
    return _shorten(_nfc(text), limit)


def kind_template(kind: ReminderKind) -> str:
    """The name of the template holding a kind's wording."""
    return f"kinds/{kind.value}.j2"


@functools.cache
def environment() -> jinja2.Environment:
    """The Jinja environment, created on first use."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html.j2", "html"),
            disabled_extensions=(),
            default_for_string=False,
            default=False,
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["vn_date"] = vn_date
    env.filters["squash"] = _squash
    env.filters["rows"] = _rows
    return env


def vn_date(value: dt.date | None) -> str:
    """``dd/mm/yyyy``, or "chưa xác định" (not set yet) for None."""
    if value is None:
        return "chưa xác định"
    return f"{value.day:02d}/{value.month:02d}/{value.year:04d}"


# --- filters ----------------------------------------------------------------------------


def _squash(value: object) -> str:
    """One line: whitespace runs become one space. Returns a plain ``str`` (not Markup)."""
    return _nfc(" ".join(str(value).split()))


_ROW_SEPARATOR = "\t"


def _rows(value: object) -> list[tuple[str, str]]:
    """``label<TAB>value`` lines (from ``_common.facts``) as (label, value) pairs of plain str."""
    found: list[tuple[str, str]] = []
    for line in str(value).splitlines():
        label, sep, text = line.partition(_ROW_SEPARATOR)
        if sep and label.strip():
            found.append((_squash(label), _squash(text)))
    return found


# --- text shaping -----------------------------------------------------------------------


def _nfc(text: str) -> str:
    # Text pasted from office documents is often decomposed; NFC is what mail and Zalo show
    # and what the chat limit counts.
    return unicodedata.normalize("NFC", text)


def _tidy(text: str) -> str:
    lines = (line.rstrip() for line in text.splitlines())
    return _nfc(re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip())


def _shorten(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut between words and ending in "…" when cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - len(_ELLIPSIS) + 1]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    cut = cut[:space] if space > 0 else cut[: limit - len(_ELLIPSIS)]
    return cut.rstrip(" \n,;:-–") + _ELLIPSIS


def _render_chat(ctx: MessageContext) -> str:
    """The chat text, within CHAT_LIMIT: drop list items first, then shorten free text."""
    template = environment().get_template("chat.txt.j2")

    def attempt(c: MessageContext, shown: int) -> str:
        return _tidy(template.render(ctx=c, max_items=shown))

    text = attempt(ctx, len(ctx.items))
    if len(text) <= CHAT_LIMIT:
        return text
    for limit in (None, *_CHAT_FIELD_LIMITS):
        c = ctx if limit is None else _clipped(ctx, limit)
        text = attempt(c, 0)
        if len(text) > CHAT_LIMIT:
            continue
        fits, too_many = 0, len(c.items)  # the largest count that fits is in [fits, too_many)
        while too_many - fits > 1:
            middle = (fits + too_many) // 2
            if len(attempt(c, middle)) <= CHAT_LIMIT:
                fits = middle
            else:
                too_many = middle
        return attempt(c, fits)
    return _shorten(text, CHAT_LIMIT)  # only links or unit names could be this long


def _clipped(ctx: MessageContext, limit: int) -> MessageContext:
    def clip(value: str | None) -> str | None:
        return None if value is None else _shorten(" ".join(value.split()), limit)

    return dataclasses.replace(
        ctx,
        plan_title=clip(ctx.plan_title) or "",
        event_name=clip(ctx.event_name),
        title=clip(ctx.title),
        detail=clip(ctx.detail),
        actor=clip(ctx.actor),
        reason=clip(ctx.reason),
        note=clip(ctx.note),
        prerequisite_title=clip(ctx.prerequisite_title),
        items=tuple(dataclasses.replace(item, title=clip(item.title) or "") for item in ctx.items),
    )
