"""Reading and checking plan files: every problem is reported with its file, line and field.

Nothing here touches the database, so a bad file can never leave a half-loaded plan.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from models.enums import DayUnit, DeadlineKind
from models.errors import FileProblem
from models.planfile import AssignmentSpec, PlanFile
from models.text import person_key
from tracking.calendar import OutOfRange, WorkCalendar
from tracking.schedule import CycleError, Rule, resolve_rule, topological_order

MAX_PLAN_BYTES = 5 * 1024 * 1024

Loc = tuple[str | int, ...]


@dataclasses.dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class PlanFileError(FileProblem):
    """A plan file that cannot be loaded; ``problems`` says where and why."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclasses.dataclass(frozen=True)
class CheckedPlan:
    """A plan file that passed every check, with what the store needs to load it."""

    spec: PlanFile
    path: str
    sha256: str
    prerequisites: dict[str, set[str]]  # assignment code -> codes it requires
    order: list[str]  # assignment codes, prerequisites first


def read_plan_file(path: Path) -> CheckedPlan:
    """Read, parse and check ``path``; raises ``PlanFileError`` naming every problem found."""
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PlanFileError(
            [Problem(name, None, "", f"không đọc được tệp: {exc.strerror}")]
        ) from exc
    return check_plan_text(raw, name)


def check_plan_text(raw: bytes, name: str) -> CheckedPlan:
    if len(raw) > MAX_PLAN_BYTES:
        raise PlanFileError([Problem(name, None, "", "tệp quá lớn (tối đa 5 MB)")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PlanFileError([Problem(name, None, "", "tệp không phải UTF-8")]) from exc
    try:
        data, lines = _parse_yaml(text, name)
    except RecursionError as exc:
        # PyYAML composes (and we walk) nested collections recursively: "[[[[…" would
        # otherwise end in a traceback instead of a message.
        raise PlanFileError([Problem(name, None, "", "cấu trúc YAML lồng nhau quá sâu")]) from exc
    try:
        spec = PlanFile.model_validate(data)
    except ValidationError as exc:
        raise PlanFileError(_schema_problems(exc, lines, name)) from exc
    problems = list(_reference_problems(spec, lines, name))
    if problems:
        raise PlanFileError(problems)
    prerequisites = _prerequisites(spec)
    codes = [a.code for a in spec.assignments]
    try:
        order = topological_order(codes, prerequisites)
    except CycleError as exc:
        first = codes.index(str(exc.cycle[0]))
        line = lines.get(("assignments", first, "requires")) or lines.get(("assignments", first))
        raise PlanFileError([Problem(name, line, "assignments", str(exc))]) from exc
    problems = list(_deadline_problems(spec, order, lines, name))
    if problems:
        raise PlanFileError(problems)
    digest = hashlib.sha256(raw).hexdigest()
    return CheckedPlan(spec, name, digest, prerequisites, order)


def _prerequisites(spec: PlanFile) -> dict[str, set[str]]:
    # "N days after X" makes X a prerequisite even when ``requires`` does not say so.
    result: dict[str, set[str]] = {}
    for item in spec.assignments:
        needs = set(item.requires)
        if item.deadline and item.deadline.after:
            needs.add(item.deadline.after)
        result[item.code] = needs
    return result


def _deadline_problems(
    spec: PlanFile, order: Sequence[str], lines: Mapping[Loc, int], name: str
) -> Iterator[Problem]:
    """Deadlines that would be counted beyond the calendar's years (e.g. 300 working days
    after an event late in 2100): found here, so that `plan validate` never calls valid a
    file that `plan load` could not count. The official calendar is enough: the operator's
    overrides move a deadline by days, not across years."""
    calendar = WorkCalendar()
    index = {item.code: i for i, item in enumerate(spec.assignments)}
    due: dict[str, dt.date | None] = {}
    for code in order:
        item = spec.assignments[index[code]]
        rule = _rule_of_spec(item)
        base = due.get(rule.after) if rule.after is not None else None
        try:
            due[code] = resolve_rule(rule, spec.plan.event.date, base, calendar)
        except OutOfRange as exc:
            due[code] = None  # its dependents are not counted either: one problem is enough
            at = ("assignments", index[code], "deadline")
            yield Problem(
                name, _line_for(at, lines), _dotted(at), f"thời hạn rơi vào {exc.landing}"
            )


def _rule_of_spec(item: AssignmentSpec) -> Rule[str]:
    deadline = item.deadline
    if deadline is None:
        return Rule()
    unit = DayUnit.CALENDAR if deadline.calendar_days else DayUnit.WORKING
    if deadline.date is not None:
        return Rule(DeadlineKind.DATE, date=deadline.date, unit=unit)
    if deadline.event is not None:
        return Rule(DeadlineKind.EVENT, offset=deadline.event, unit=unit)
    return Rule(DeadlineKind.AFTER, offset=deadline.days or 0, unit=unit, after=deadline.after)


# --- YAML with line numbers -------------------------------------------------------------


# libyaml's parser when PyYAML has it: the pure-Python one takes ~10 s a megabyte, so a file
# near the size limit would keep the command busy for a minute before its message.
_COMPOSER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# A plan file nests five levels deep; composing "[[[[…" recursively would overflow the stack
# (libyaml's composer has no recursion guard: the process would crash).
MAX_DEPTH = 50


def _nesting_depth(text: str, name: str) -> None:
    depth = 0
    for event in yaml.parse(text, Loader=_COMPOSER):  # a flat stream of events: no recursion
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else None
                raise PlanFileError([Problem(name, line, "", "cấu trúc YAML lồng nhau quá sâu")])
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _parse_yaml(text: str, name: str) -> tuple[Any, dict[Loc, int]]:
    try:
        _nesting_depth(text, name)
        root = yaml.compose(text, Loader=_COMPOSER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        reason = exc.problem or exc.context or "cú pháp YAML không hợp lệ"
        raise PlanFileError([Problem(name, line, "", f"lỗi cú pháp YAML: {reason}")]) from exc
    except yaml.YAMLError as exc:
        raise PlanFileError([Problem(name, None, "", f"lỗi cú pháp YAML: {exc}")]) from exc
    if root is None:
        raise PlanFileError([Problem(name, None, "", "tệp kế hoạch trống")])
    lines: dict[Loc, int] = {}
    problems = list(_walk(root, (), lines, set(), name))
    if problems:
        raise PlanFileError(problems)
    loader = yaml.SafeLoader(text)
    try:
        data = loader.construct_document(root)
    except yaml.YAMLError as exc:
        raise PlanFileError([Problem(name, None, "", f"giá trị YAML không hợp lệ: {exc}")]) from exc
    finally:
        loader.dispose()
    return data, lines


def _walk(
    node: yaml.Node, loc: Loc, lines: dict[Loc, int], seen: set[int], name: str
) -> Iterator[Problem]:
    line = node.start_mark.line + 1
    lines.setdefault(loc, line)
    if id(node) in seen:
        # Aliases let a small file expand into a huge document ("billion laughs").
        yield Problem(
            name, line, _dotted(loc), "không dùng tham chiếu YAML (&/*) trong tệp kế hoạch"
        )
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        keys: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = (*loc, key)
            if key in keys:
                yield Problem(name, key_node.start_mark.line + 1, _dotted(child), "khóa bị lặp lại")
            keys.add(key)
            lines[child] = key_node.start_mark.line + 1
            yield from _walk(value_node, child, lines, seen, name)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _walk(item, (*loc, index), lines, seen, name)


def _line_for(loc: Sequence[str | int], lines: Mapping[Loc, int]) -> int | None:
    for end in range(len(loc), -1, -1):
        line = lines.get(tuple(loc[:end]))
        if line is not None:
            return line
    return None


def _dotted(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# --- schema errors in Vietnamese --------------------------------------------------------

_MESSAGES: dict[str, str] = {
    "missing": "thiếu trường bắt buộc",
    "extra_forbidden": "trường không được phép (viết sai tên trường?)",
    "string_pattern_mismatch": "giá trị không đúng định dạng",
    "string_type": "cần một chuỗi ký tự",
    "string_too_short": "không được để trống",
    "string_too_long": "quá dài",
    "int_type": "cần một số nguyên",
    "int_parsing": "cần một số nguyên",
    "int_from_float": "cần một số nguyên",
    "bool_type": "cần true hoặc false",
    "bool_parsing": "cần true hoặc false",
    "list_type": "cần một danh sách",
    "dict_type": "cần một bảng khóa: giá trị",
    "model_type": "cần một bảng khóa: giá trị",
    "model_attributes_type": "cần một bảng khóa: giá trị",
    "date_type": "ngày không hợp lệ (dùng dạng 15/03/2024 hoặc 2024-03-15)",
    "date_parsing": "ngày không hợp lệ (dùng dạng 15/03/2024 hoặc 2024-03-15)",
    "date_from_datetime_parsing": "ngày không hợp lệ (dùng dạng 15/03/2024 hoặc 2024-03-15)",
    "date_from_datetime_inexact": "cần một ngày, không kèm giờ",
    "too_short": "cần ít nhất {min_length} phần tử",
    "greater_than_equal": "phải lớn hơn hoặc bằng {ge}",
    "less_than_equal": "phải nhỏ hơn hoặc bằng {le}",
}


def _schema_problems(exc: ValidationError, lines: Mapping[Loc, int], name: str) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        problems.append(Problem(name, _line_for(loc, lines), _dotted(loc), _vietnamese(error)))
    return problems


def _vietnamese(error: Any) -> str:
    ctx = error.get("ctx") or {}
    if error["type"] == "value_error" and "error" in ctx:
        return str(ctx["error"])
    template = _MESSAGES.get(error["type"])
    if template is None:
        return str(error["msg"])
    try:
        return template.format(**ctx)
    except (KeyError, IndexError):
        return template


# --- cross references -------------------------------------------------------------------


def _reference_problems(spec: PlanFile, lines: Mapping[Loc, int], name: str) -> Iterator[Problem]:
    def problem(loc: Loc, message: str) -> Problem:
        return Problem(name, _line_for(loc, lines), _dotted(loc), message)

    units: set[str] = set()
    for i, unit in enumerate(spec.units):
        if unit.code in units:
            yield problem(("units", i, "code"), f"mã đơn vị “{unit.code}” bị trùng")
        units.add(unit.code)
        people: dict[str, str] = {}
        for j, contact in enumerate(unit.contacts):
            # People are matched as models.text.person_key says: "Thuỷ" and "thủy" are one.
            key = person_key(contact.name)
            if key in people:
                yield problem(
                    ("units", i, "contacts", j, "name"),
                    f"người nhận “{contact.name}” trùng với “{people[key]}” của cùng đơn vị",
                )
            people.setdefault(key, contact.name)
    if spec.plan.coordinator not in units:
        yield problem(("plan", "coordinator"), _unknown_unit(spec.plan.coordinator))

    codes: set[str] = set()
    for i, item in enumerate(spec.assignments):
        if item.code in codes:
            yield problem(("assignments", i, "code"), f"mã nhiệm vụ “{item.code}” bị trùng")
        codes.add(item.code)

    for i, item in enumerate(spec.assignments):
        at = ("assignments", i)
        if item.lead not in units:
            yield problem((*at, "lead"), _unknown_unit(item.lead))
        for j, coop in enumerate(item.cooperating):
            if coop not in units:
                yield problem((*at, "cooperating", j), _unknown_unit(coop))
            elif coop == item.lead:
                yield problem(
                    (*at, "cooperating", j), "đơn vị chủ trì không đồng thời là đơn vị phối hợp"
                )
        for j, need in enumerate(item.requires):
            if need == item.code:
                yield problem((*at, "requires", j), "nhiệm vụ không thể phụ thuộc chính nó")
            elif need not in codes:
                yield problem((*at, "requires", j), _unknown_assignment(need))
        after = item.deadline.after if item.deadline else None
        if after is not None and (after == item.code or after not in codes):
            yield problem((*at, "deadline", "after"), _unknown_assignment(after))


def _unknown_unit(code: str) -> str:
    return f"không có đơn vị mã “{code}” trong danh sách units"


def _unknown_assignment(code: str) -> str:
    return f"không có nhiệm vụ mã “{code}” trong kế hoạch"
