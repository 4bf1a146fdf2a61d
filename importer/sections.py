"""Walking an assignment section: the headings' stack, from which each item gets its place
("Mục II.1, điểm a"), its group and the units its duties belong to.

Its own module above :mod:`importer.duties` (sentences, clauses, roles) and
:mod:`importer.records` (labelled records, which build on duties' types), so neither of those
imports the other back.
"""

from __future__ import annotations

from collections.abc import Sequence

from importer.duties import (
    Env,
    Frame,
    duties_of,
    inline_subject,
    starts_generic,
    unit_names,
)
from importer.records import labelled_record, record_duties
from importer.structure import Item, Section, build_items
from importer.text import Line, strip_end


def _path(parent: Frame, item: Item, ordinal: int, root: bool) -> str:
    if item.kind == "num":
        return f"{parent.path}.{item.label}" if root else f"{parent.path}, khoản {item.label}"
    if item.kind == "sub":
        section = parent.path.split(".")[0].split(",")[0]
        return f"{section}.{item.label}"
    if item.kind == "letter":
        return f"{parent.path}, điểm {item.label}"
    if item.kind == "plain":
        return f"{parent.path}, đoạn {ordinal}"
    return f"{parent.path}, gạch đầu dòng {ordinal}"


def walk_section(section: Section, lines: Sequence[Line], env: Env, hard_wrapped: bool) -> int:
    """Extract the duties of an assignment section; returns how many were found."""
    before = len(env.duties)
    body = [
        line for line in lines[section.start : section.end] if line.number not in env.table_lines
    ]
    # a .txt saved from Word has one paragraph per line, some of them long: not hard-wrapped
    hard_wrapped = hard_wrapped and max((len(line.text) for line in body), default=0) <= 150
    items = build_items(body, lambda item: env.heading(item) is not None, hard_wrapped)
    # "1." is always the top level; the other markers nest in the order they first appear
    # ("1." > "a)" > "-" in one plan, "1." > "1.1." > "-" > "+" in another)
    order: dict[str, float] = {"num": 1.0}

    def depth_of(item: Item) -> float:
        if item.kind == "plain":
            return 99.0
        if item.kind not in order:
            order[item.kind] = 1.0 + len(order)
        return order[item.kind]

    root = Frame(0.0, f"Mục {section.label}", group=f"Mục {section.label}. {section.title}")
    stack = [root]
    env.counting = True
    intros: list[Item] = []

    def counting_parent() -> Frame:
        return next(f for f in reversed(stack) if not f.pseudo)

    skip = 0
    for index, item in enumerate(items):
        env.check()
        if skip:
            skip -= 1
            continue
        depth = depth_of(item)
        heading = env.heading(item)
        if heading is not None:
            if item.kind == "plain":
                depth = 1.0
            while len(stack) > 1 and stack[-1].depth >= depth:
                stack.pop()
            parent = counting_parent()
            path = _path(parent, item, parent.count(item.kind), parent is root)
            name = strip_end(item.text[: heading.inline_at] if heading.inline_at else item.text)
            frame = Frame(
                depth,
                path,
                heading.units,
                heading.generic,
                group=f"{path} — {name}",
                pseudo=item.kind == "plain",
            )
            stack.append(frame)
            if heading.inline_at is not None:
                env.headings.add(item.first)
                duties_of(item, frame, [], path, env, start=heading.inline_at)
            else:
                env.headings.update(number for _offset, number in item.starts)
            continue
        if item.kind == "plain":
            while len(stack) > 1 and stack[-1].intro is not None and stack[-1].depth > 90:
                stack.pop()
        else:
            while len(stack) > 1 and stack[-1].depth >= depth:
                stack.pop()
        parent = counting_parent()
        path = _path(parent, item, parent.count(item.kind), parent is root)
        record = labelled_record(item, items[index + 1 :], path, stack[-1].group or path)
        if record is not None:
            # "Đơn vị chủ trì: …", "Thời gian hoàn thành: …" lines under the item
            holder = next((f for f in reversed(stack) if f.units or f.generic), root)
            record_duties(record, holder.units or [], env)
            skip = len(record.items) - 1
            continue
        nxt = items[index + 1] if index + 1 < len(items) else None
        if nxt is not None and _introduces(item, depth, nxt, depth_of(nxt)):
            subject, _at = inline_subject(item.text, env)
            frame = Frame(
                depth if item.kind != "plain" else stack[-1].depth + 0.5,
                path,
                subject or None,
                intro=item,
                group=stack[-1].group,
            )
            stack.append(frame)
            intros.append(item)
            continue
        subject, _at = inline_subject(item.text, env)
        if item.kind == "plain" and (subject or starts_generic(item.text, env)):
            # units written as plain paragraphs: a paragraph naming a unit starts that unit's
            # run (the next paragraphs continue it); one naming no specific unit ends it
            while len(stack) > 1 and stack[-1].pseudo:
                stack.pop()
            if subject and not any(f.units for f in stack):
                stack.append(
                    Frame(1.0, path, subject, group=f"{path} — {unit_names(subject)}", pseudo=True)
                )
        unit_frame = next((f for f in reversed(stack) if f.units or f.generic), root)
        duties_of(item, unit_frame, [f.intro for f in stack if f.intro is not None], path, env)
    for intro in intros:
        # an item that introduces others is used when a duty below it carries its text
        used = any(d.detail.startswith(intro.text) for d in env.duties[before:])
        if used:
            env.account(intro, 0, len(intro.text), "used")
        else:
            env.unparsed_sentence(
                intro, 0, len(intro.text), "câu dẫn không có nhiệm vụ nào bên dưới được hiểu"
            )
    env.counting = False
    return len(env.duties) - before


def _introduces(item: Item, depth: float, nxt: Item, next_depth: float) -> bool:
    if item.kind == "plain":
        return item.text.rstrip().endswith(":") and nxt.kind != "plain"
    return nxt.kind != "plain" and next_depth > depth
