"""Duties: who leads, who cooperates, what, by when, and where each stands in the document.

Rules (docs/import.md explains them with examples):

- A unit heading ("1. Văn phòng Ủy ban nhân dân tỉnh", "a) Sở Tài chính:", a paragraph that
  is only a unit's name) gives the units of the duties below it. A heading may name several
  units ("Báo An Giang, Đài Phát thanh và Truyền hình An Giang").
- A duty that starts with a unit ("Báo An Giang đưa tin …", "Giao Sở Nội vụ …", "Đề nghị
  Báo An Giang …") is that unit's; a following sentence of the same paragraph is too.
- A duty of several units (a shared heading, no unit named) becomes one assignment per unit.
- "Chủ trì, phối hợp với X, Y …": the unit leads, X and Y cooperate.
- "Phối hợp (với) X …" with no "chủ trì": X leads and the unit cooperates (the unit is asked to
  help X). With only a generic partner ("các đơn vị liên quan") the unit leads.
- "… và phối hợp X <việc khác>" in the middle of a sentence splits it: the first part is the
  unit's own duty, the second is X's with the unit cooperating.
- "phối hợp với X" elsewhere in a sentence: X cooperates.
- Each sentence of a paragraph is one assignment; a sentence that only gives a deadline
  ("Thời gian hoàn thành: …") belongs to the one before.
- An item followed by deeper items ("a) Chuẩn bị tài liệu:" then "- …") introduces them: its
  text goes into their detail and its deadline is theirs unless they state one.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Callable, Sequence

from importer.structure import Item
from importer.text import Line, capitalize_first, fold, split_sentences, strip_end
from importer.timephrases import Deadline, scan_deadline
from importer.units import (
    UNIT_HEAD_WORDS,
    Context,
    Unit,
    group_unit,
    leading_units,
    unknown_unit,
)

_I = re.IGNORECASE
MAX_TITLE = 200
_APPENDIX = re.compile(r"\b(?:theo|tai|o)\s+(?:cac\s+)?phu luc\b", _I)
GROUP_NOTE = (
    "giao cho một nhóm đơn vị (mã NHOM-…): tách thành nhiệm vụ của từng đơn vị, hoặc giữ "
    "nhóm và thêm đầu mối"
)


@dataclasses.dataclass(frozen=True)
class Unparsed:
    line: int
    text: str
    reason: str


@dataclasses.dataclass(frozen=True)
class Sentence:
    """One sentence of the assignment section and where it ended up."""

    first: int  # its first and last line
    last: int
    text: str
    outcome: str  # "used" (in a duty, or the text that introduces duties) or "listed"


@dataclasses.dataclass
class Duty:
    lead: Unit
    cooperating: list[Unit]
    title: str
    detail: str
    source: str
    line: int
    group: str
    deadline: Deadline | None
    notes: list[str]


@dataclasses.dataclass
class Heading:
    units: list[Unit]
    generic: str | None  # a heading that names no unit: "Các cơ quan, đơn vị liên quan"
    text: str
    inline_at: int | None = None  # "2. Sở Tài chính: thẩm định …": where the duty starts


class Env:
    """What duty extraction needs and collects."""

    def __init__(
        self, ctx: Context, year: int | None, check: Callable[[], None] = lambda: None
    ) -> None:
        self.ctx = ctx
        self.year = year
        self.check = check  # raises once the document's time budget is spent
        self.duties: list[Duty] = []
        self.unparsed: list[Unparsed] = []
        # The invariant: every sentence of the assignment section is accounted for once, in a
        # duty or in ``unparsed``; ``ledger`` records each outcome, keyed by (item's first
        # line, offset in the item), and ``headings`` the lines that only name units.
        self.ledger: dict[tuple[int, int], Sentence] = {}
        self.headings: set[int] = set()
        self.counting = False  # True inside an assignment section
        self.table_lines: set[int] = set()  # lines of assignment tables, read as records
        self._unknown: dict[str, Unit] = {}
        self._heading_cache: dict[tuple[str, str], Heading | None] = {}

    def unknown(self, name: str) -> Unit:
        key = fold(name).lower()
        if key not in self._unknown:
            taken = {u.code for u in self._unknown.values()}
            self._unknown[key] = unknown_unit(name, taken)
        return self._unknown[key]

    def account(self, item: Item, start: int, end: int, outcome: str) -> None:
        """Record where the sentence at ``item.text[start:end]`` ended up (once: a second
        outcome for the same sentence is a bug the property test catches)."""
        if not self.counting:
            return
        key = (item.first, start)
        sentence = Sentence(
            item.line_at(start), item.line_at(max(start, end - 1)), item.text[start:end], outcome
        )
        if key in self.ledger and self.ledger[key].outcome != outcome:
            raise AssertionError(f"sentence accounted twice: {self.ledger[key]} / {sentence}")
        self.ledger[key] = sentence

    def unparsed_sentence(self, item: Item, start: int, end: int, reason: str) -> None:
        self.unparsed.append(Unparsed(item.line_at(start), item.text[start:end], reason))
        self.account(item, start, end, "listed")

    def heading(self, item: Item) -> Heading | None:
        key = (item.kind, item.text)
        if key not in self._heading_cache:
            self._heading_cache[key] = heading_of(item, self)
        return self._heading_cache[key]


# --- headings and subjects ---------------------------------------------------------------

_HEADING_PREFIX = re.compile(
    r"\s*(?:(?:Doi voi|Trach nhiem cua|Nhiem vu cua|Giao cho|Giao|De nghi)\s+)?", _I
)
_HEADING_REST = re.compile(
    # a role in apposition: "Đồng chí Phó Chủ tịch UBND tỉnh, Trưởng Tiểu ban"
    r"^(?:\s*,\s*(?:Pho\s+)?(?:Truong|Thanh vien|Uy vien|Thuong truc)\b[^:.;]*)?"
    r"[\s:.,;-]*(?:(?:la\s+)?(?:co quan|don vi)\s+(?:thuong truc|chu tri|dau moi)[^:]*?)?"
    r"(?:\s*chu tri)?(?:\s*(?:thuc hien|co trach nhiem|chiu trach nhiem))?[\s:.,;-]*$",
    _I,
)
_UNKNOWN_HEAD = re.compile(UNIT_HEAD_WORDS.pattern + r"\s+[A-Z0-9]")


def heading_of(item: Item, env: Env) -> Heading | None:
    """The units an item is the heading of, or None when it is not a unit heading."""
    text = item.text
    folded = fold(text)
    prefix = _HEADING_PREFIX.match(folded)
    at = prefix.end() if prefix else 0
    found, end = leading_units(text, env.ctx, at)
    if found:
        rest = re.sub(r"\([^)]*\)", "", folded[end:])
        specific = [m.unit for m in found if m.unit is not None]
        generic = ", ".join(m.text for m in found if m.unit is None) or None
        if _HEADING_REST.match(rest):
            return Heading(specific, None if specific else generic, text)
        colon = re.match(r"\s*(?:\([^)]*\)\s*)?:\s*(?=\S)", folded[end:])
        if colon and item.kind in {"num", "sub", "letter", "plain"}:
            return Heading(specific, None if specific else generic, text, end + colon.end())
        return None
    if (
        item.kind in {"num", "sub", "letter", "plain"}
        and _UNKNOWN_HEAD.match(folded, at)
        and len(text.split()) <= 14
        and not text.rstrip().endswith((".", ";"))
        and ":" not in text.rstrip(": ")
        and not _DUTY_VERBS.search(folded)
    ):
        name = strip_end(text[at:])
        return Heading([env.unknown(name)], None, text)
    return None


def inline_subject(text: str, env: Env) -> tuple[list[Unit], int]:
    """Units a sentence starts with ("Báo An Giang đưa tin …", "Giao Sở Nội vụ …"), and
    where the rest begins; ``([], 0)`` when it does not start with a unit."""
    folded = fold(text)
    prefix = re.match(r"\s*(?:(?:Giao cho|Giao|De nghi|Yeu cau|Doi voi)\s+)?", folded, _I)
    at = prefix.end() if prefix else 0
    found, end = leading_units(text, env.ctx, at)
    specific = [m.unit for m in found if m.unit is not None]
    if not specific:
        return [], 0
    after = re.match(r"(?:\s*\([^)]*\))?\s*(?:[:\-]\s*)?", folded[end:])
    pos = end + (after.end() if after else 0)
    if pos < len(folded) and not (folded[pos].islower() or folded[pos - 1] in ":-"):
        return [], 0
    return specific, pos


def generic_subject(text: str, env: Env) -> tuple[list[Unit], int]:
    """The group a sentence starting with a collective subject is given to, and where the
    rest begins."""
    found, end = leading_units(text, env.ctx, 0)
    names = ", ".join(m.text for m in found)
    after = re.match(r"\s*(?:[:\-]\s*)?", text[end:])
    return [group_unit(names)], end + (after.end() if after else 0)


def starts_generic(text: str, env: Env) -> bool:
    """True when a sentence's subject is a generic mention ("Các cơ quan, đơn vị liên quan …")."""
    found, _end = leading_units(text, env.ctx, 0)
    return bool(found) and all(m.unit is None for m in found)


# --- walking a section ---------------------------------------------------------------------


@dataclasses.dataclass
class Frame:
    """A heading (or an introducing item) and what it gives the duties below it."""

    depth: float
    path: str
    units: list[Unit] | None = None
    generic: str | None = None
    intro: Item | None = None
    group: str | None = None
    pseudo: bool = False  # from a plain paragraph: its followers are siblings, not children
    counters: dict[str, int] = dataclasses.field(default_factory=dict)

    def count(self, kind: str) -> int:
        self.counters[kind] = self.counters.get(kind, 0) + 1
        return self.counters[kind]


def unit_names(units: Sequence[Unit]) -> str:
    return ", ".join(u.name for u in units)


# --- one item: sentences, clauses, roles ----------------------------------------------------

_DEADLINE_ONLY = re.compile(
    r"^\s*(?:Thoi gian(?:\s+(?:hoan thanh|thuc hien|gui))?|Thoi han(?:\s+hoan thanh)?|"
    r"Han chot|Hoan thanh|Xong|Cham nhat|Truoc ngay|Tien do)\b",
    _I,
)
_DUTY_VERBS = re.compile(
    r"\b(?:tham muu|xay dung|chuan bi|to chuc|phat hanh|in an|bo tri|tham dinh|huong dan|"
    r"dua tin|theo doi|don doc|bao cao|tong hop|kiem duyet|kiem tra|trinh chieu|phan cong|"
    r"thong ke|cap phat|thanh toan|quyet toan|tuyen truyen|trien khai|gui|ra soat|"
    r"lap (?:ke hoach|du toan|danh sach|ho so|bao cao)|dam bao|cung cap|don tiep|trang tri|"
    r"thiet ke|ban hanh|phoi hop|chu tri|thuc hien|tiep nhan|tham gia|ho tro|bao dam|"
    r"cu (?:dai bieu|can bo|cong chuc|vien chuc|doan|nguoi|luc luong|\d)|"
    r"chiu trach nhiem|su dung)\b",
    _I,
)
_CLAUSE_SPLIT = re.compile(
    r"(?:,|;|\s+va|\s+dong thoi)\s+(?:dong thoi\s+)?(?=phoi hop\s+(?:voi\s+|cung\s+)?)", _I
)
_COOPERATE = re.compile(
    r"\s*[:,-]?\s*(?:(?P<lead>chu tri)\s*,?\s*)?phoi hop\s+(?:voi\s+|cung\s+)?", _I
)
_COOPERATE_ANY = re.compile(r"\bphoi hop\s+(?:voi\s+|cung\s+)?", _I)
_RESPONSIBLE = re.compile(
    r"\s*(?:chiu trach nhiem(?:\s+chinh)?(?:\s+ve\s+viec)?|co trach nhiem|duoc giao|"
    r"chu tri\s*,?\s*(?=\S))\s*",
    _I,
)


@dataclasses.dataclass
class _Sentence:
    start: int
    end: int
    extra: list[tuple[int, int]]  # sentences that only give its deadline


def duties_of(
    item: Item,
    frame: Frame,
    intros: Sequence[Item],
    path: str,
    env: Env,
    start: int = 0,
    whole_detail: str | None = None,
) -> None:
    """Append the duties of one item (from offset ``start`` of its text) to ``env``."""
    text = item.text
    spans = [(a + start, b + start) for a, b in split_sentences(text[start:])]
    sentences: list[_Sentence] = []
    leading_extra: list[tuple[int, int]] = []
    for a, b in spans:
        if _DEADLINE_ONLY.match(fold(text[a:b])) and scan_deadline(text[a:b], env.year).deadline:
            if sentences:
                sentences[-1].extra.append((a, b))
            else:
                leading_extra.append((a, b))
            continue
        sentences.append(_Sentence(a, b, []))
    if not sentences:
        for a, b in leading_extra:
            env.unparsed_sentence(
                item, a, b, "câu chỉ nêu thời hạn, chưa gắn được vào nhiệm vụ nào"
            )
        return
    for sentence in sentences:
        sentence.extra[:0] = leading_extra
    # a heading or a subject naming a collective ("Các sở, ban, ngành có liên quan") gives a
    # group assignment (a unit marked as a group), never a dropped sentence
    base = frame.units or ([group_unit(frame.generic)] if frame.generic else [])
    subject: list[Unit] = []
    for number, sentence in enumerate(sentences, start=1):
        sent = text[sentence.start : sentence.end]
        inline, after = inline_subject(sent, env)
        if not inline and starts_generic(sent, env):
            inline, after = generic_subject(sent, env)
        if env.table_lines and _APPENDIX.search(fold(sent)) and all(u.group for u in inline):
            # "Các cơ quan thực hiện nhiệm vụ theo Phụ lục": a pointer to the table, whose
            # rows are the assignments; listed, so that the reviewer sees it was read
            reason = "câu dẫn tới Phụ lục: các nhiệm vụ được đọc từ bảng phân công"
            env.unparsed_sentence(item, sentence.start, sentence.end, reason)
            continue
        if inline:
            subject = inline
        doers = subject or base
        if not doers:
            reason = (
                f"đơn vị chủ trì không cụ thể (“{frame.generic}”)"
                if frame.generic
                else "không xác định được đơn vị chủ trì"
            )
            env.unparsed_sentence(item, sentence.start, sentence.end, reason)
            for a, b in sentence.extra:
                if (a, b) not in leading_extra:  # those count once, below
                    env.unparsed_sentence(item, a, b, "thời hạn của câu trên")
            continue
        env.account(item, sentence.start, sentence.end, "used")
        for a, b in sentence.extra:
            env.account(item, a, b, "used")
        clauses = _split_clauses(sent, after if inline else 0, env)
        clause_doers = doers
        for part, (cs, ce) in enumerate(clauses, start=1):
            clause = sent[cs:ce]
            at = max(0, (after if inline else 0) - cs) if part == 1 else 0
            if part > 1:
                # "…; Sở Nội vụ tổng hợp …": the clause names its own unit
                own, own_at = inline_subject(clause, env)
                if own:
                    clause_doers, at = own, own_at
                    subject = own
                else:
                    clause_doers = doers
            _emit(
                item,
                frame,
                intros,
                path,
                env,
                sentence,
                sent,
                clause,
                cs,
                at,
                clause_doers,
                number if len(sentences) > 1 else None,
                part if len(clauses) > 1 else None,
                whole_detail
                or (
                    text.strip()
                    if len(sentences) == 1 and not leading_extra
                    else _sentence_text(text, sentence)
                ),
            )
    for a, b in leading_extra:
        if env.counting and (item.first, a) not in env.ledger:
            env.unparsed_sentence(
                item, a, b, "câu chỉ nêu thời hạn, chưa gắn được vào nhiệm vụ nào"
            )


def _sentence_text(text: str, sentence: _Sentence) -> str:
    # a deadline-only sentence may come before the sentence it belongs to
    start = min([sentence.start, *(a for a, _b in sentence.extra)])
    end = max([sentence.end, *(b for _a, b in sentence.extra)])
    return text[start:end].strip()


def _split_clauses(sent: str, after: int, env: Env) -> list[tuple[int, int]]:
    """ "A và phối hợp X làm B" -> [A, phối hợp X làm B] when X is a named unit."""
    folded = fold(sent)
    cuts: list[int] = []
    for match in _CLAUSE_SPLIT.finditer(folded):
        if match.start() <= after + 3:
            continue
        if re.search(r"chu tri\s*$", folded[max(0, match.start() - 12) : match.start()], _I):
            continue
        cooperate = _COOPERATE_ANY.match(folded, match.end())
        if cooperate is None:
            continue
        found, end = leading_units(sent, env.ctx, cooperate.end())
        if any(m.unit is not None for m in found) and re.search(r"\w", folded[end:]):
            cuts.append(match.start())
    # ";" ends a unit's task when the next part names its own unit ("Sở Tài chính thẩm định
    # …; Sở Nội vụ tổng hợp …"), or after a "Phối hợp với X …" part, whose task is X's:
    # what follows is the heading unit's own ("Phối hợp với Sở Y tế …; chuẩn bị cờ …")
    helping = bool(_COOPERATE.match(folded, after)) and not re.match(
        r"\s*[:,-]?\s*chu tri", folded[after:], _I
    )
    for semi in re.finditer(r";\s*", sent):
        if semi.start() < after:  # inside the subject: "Thủ trưởng các sở …; Chủ tịch UBND …"
            continue
        rest = sent[semi.end() :]
        if not rest.strip():
            continue
        names_unit = bool(inline_subject(rest, env)[0])
        if names_unit or (helping and not cuts):
            cuts.append(semi.start())
    cuts.sort()
    if not cuts:
        return [(0, len(sent))]
    bounds = [0, *cuts, len(sent)]
    out = []
    for a, b in itertools.pairwise(bounds):
        piece = sent[a:b]
        lead = len(piece) - len(re.sub(r"^[\s,;]*(?:và\s+|đồng thời\s+)*", "", piece))
        out.append((a + lead, b))
    return out


@dataclasses.dataclass
class _Roles:
    leads: list[Unit]
    cooperating: list[Unit]
    action: int  # where the duty's own words begin in the clause
    notes: list[str]


def _roles(clause: str, at: int, doers: list[Unit], env: Env, line: int) -> _Roles:
    folded = fold(clause)
    notes: list[str] = []
    match = _COOPERATE.match(folded, at)
    if match:
        found, end = leading_units(clause, env.ctx, match.end())
        named = [m.unit for m in found if m.unit is not None]
        generic = [m.text for m in found if m.unit is None]
        _unknown_partner(clause, folded, end, found == [], line, env, notes)
        if match.group("lead"):
            return _Roles(doers, named, end, notes)
        if named:
            notes.append(
                f"“{strip_end(clause[match.start() : end]).strip(' ,:-')}”: đơn vị được nêu "
                "sau “phối hợp” chủ trì, đơn vị được giao phối hợp (kiểm tra lại)"
            )
            return _Roles(named[:1], [*named[1:], *doers], end, notes)
        if generic:
            notes.append(f"phối hợp với “{generic[0]}”: không nêu đơn vị cụ thể")
        return _Roles(doers, [], at, notes)
    cooperating: list[Unit] = []
    for coop in _COOPERATE_ANY.finditer(folded, at):
        found, end = leading_units(clause, env.ctx, coop.end())
        cooperating += [m.unit for m in found if m.unit is not None]
        for m in found:
            if m.unit is None:
                notes.append(f"phối hợp với “{m.text}”: không nêu đơn vị cụ thể")
        _unknown_partner(clause, folded, end, found == [], line, env, notes)
    responsible = _RESPONSIBLE.match(folded, at)
    action = responsible.end() if responsible else at
    return _Roles(doers, cooperating, action, notes)


def _unknown_partner(
    clause: str, folded: str, end: int, nothing: bool, line: int, env: Env, notes: list[str]
) -> None:
    if nothing and _UNKNOWN_HEAD.match(folded, end):
        phrase = strip_end(" ".join(clause[end:].split(",")[0].split()[:6]))
        reason = f"không nhận ra đơn vị phối hợp: “{phrase}…”"
        notes.append(reason)
        env.unparsed.append(Unparsed(line, clause, reason))


def _emit(
    item: Item,
    frame: Frame,
    intros: Sequence[Item],
    path: str,
    env: Env,
    sentence: _Sentence,
    sent: str,
    clause: str,
    clause_start: int,
    at: int,
    doers: list[Unit],
    sentence_number: int | None,
    part: int | None,
    detail: str,
) -> None:
    line = item.line_at(sentence.start + clause_start)
    roles = _roles(clause, at, doers, env, line)
    extra_text = " ".join(item.text[a:b] for a, b in sentence.extra)
    scan = scan_deadline(clause + (" " + extra_text if extra_text else ""), env.year)
    deadline = scan.deadline
    notes = list(roles.notes)
    if deadline is None:
        for intro in reversed(intros):
            inherited = scan_deadline(intro.text, env.year).deadline
            if inherited:
                deadline = inherited
                notes.append(f"thời hạn lấy từ dòng {intro.first}: “{inherited.phrase}”")
                break
    notes += scan.hints
    for unclear in scan.unclear:
        notes.append(unclear)
        env.unparsed.append(Unparsed(line, clause, unclear))
    hint = _several_duties(clause[roles.action :])
    if hint:
        notes.append(hint)
    if deadline and deadline.note:
        notes.append(deadline.note)
    title = make_title(clause, roles.action, [s for s in scan.spans if s[1] <= len(clause)])
    source = item.lines(sentence.start + clause_start, sentence.start + clause_start + len(clause))
    source += f": {path}"
    if sentence_number:
        source += f", câu {sentence_number}"
    if part:
        source += f", ý {part}"
    if intros:
        detail = "\n".join([*(i.text for i in intros), detail])
    leads = roles.leads
    if len(leads) > 1:
        notes.append(
            f"giao chung cho {len(leads)} đơn vị ({unit_names(leads)}): "
            "tách thành một nhiệm vụ cho mỗi đơn vị"
        )
    if any(lead.group for lead in leads):
        notes.append(GROUP_NOTE)
    group = frame.group or path
    for lead in leads:
        cooperating = [u for u in _unique(roles.cooperating) if u.code != lead.code]
        env.duties.append(
            Duty(lead, cooperating, title, detail, source, line, group, deadline, list(notes))
        )


def _unique(units: Sequence[Unit]) -> list[Unit]:
    seen: set[str] = set()
    out = []
    for unit in units:
        if unit.code not in seen:
            seen.add(unit.code)
            out.append(unit)
    return out


_TRAILING = re.compile(
    r"[\s,;(]*(?:va\s+)?(?:(?:thoi gian(?:\s+hoan thanh)?|hoan thanh|thoi han|xong|cham nhat"
    r"(?:\s+la)?|trong vong|bao dam|dam bao)\s*:?\s*)*$",
    _I,
)


def make_title(clause: str, action: int, deadline_spans: Sequence[tuple[int, int]]) -> str:
    """The duty sentence trimmed: no unit in front, no "phối hợp X" in front, no deadline
    phrase at the end, no final full stop; at most 200 characters."""
    text = clause
    for a, b in sorted(deadline_spans, reverse=True):
        if a >= action and not re.search(r"\w", fold(text[b:]).strip(" .;,)")):
            head = text[:a]
            cut = _TRAILING.search(fold(head))
            text = head[: cut.start()] if cut else head
    title = strip_end(text[action:]).strip(" ,:-")
    if title.count("(") > title.count(")"):
        title = title[: title.rfind("(")].strip(" ,")
    if not title:
        title = strip_end(clause)
    title = capitalize_first(title)
    if len(title) > MAX_TITLE:
        title = title[: MAX_TITLE - 1].rsplit(" ", 1)[0].rstrip(" ,;") + "…"
    return title


def _several_duties(action: str) -> str | None:
    """A hint when a duty sentence seems to hold several tasks ("ban hành Kế hoạch … và kiểm
    duyệt phóng sự …"): two verbs with an object between them."""
    folded = fold(action)
    verbs = list(_DUTY_VERBS.finditer(folded))
    for first, second in itertools.pairwise(verbs):
        between = folded[first.end() : second.start()]
        words = [w for w in re.findall(r"\w+", between) if w.lower() != "va"]
        if re.search(r"(?:,|;|\bva)\s*$", between) and len(words) >= 2:
            phrase = strip_end(" ".join(action[second.start() :].split(",")[0].split()[:6]))
            return f"câu có thể gồm nhiều việc (“… {phrase}…”): tách thành nhiều nhiệm vụ nếu cần"
    return None


# --- duties named outside the assignment section ---------------------------------------------

_ELSEWHERE_VERB = re.compile(
    r"\s*(?:\([^)]*\)\s*)?(?:chiu trach nhiem|co trach nhiem|chu tri|duoc giao|la co quan)\b",
    _I,
)
_GIAO = re.compile(r"\b(?:giao(?:\s+cho)?|de nghi)\s+", _I)


def scan_elsewhere(lines: Sequence[Line], where: str, env: Env, start: int, end: int) -> None:
    """Duties given outside the assignment section: "Sở Nội vụ chịu trách nhiệm …" in a budget
    section, "Giao Sở Nội vụ chủ trì …" in the closing paragraph."""
    for line in lines[start:end]:
        env.check()
        text = line.text
        if not text:
            continue
        item = Item("plain", "", text, [(0, line.number)])
        spans = split_sentences(text)
        for number, (a, b) in enumerate(spans, start=1):
            sent = text[a:b]
            folded = fold(sent)
            found: int | None = None
            units, after = inline_subject(sent, env)
            if units and _ELSEWHERE_VERB.match(folded, after):
                found = 0
            else:
                for giao in _GIAO.finditer(folded):
                    sub, _after = leading_units(sent, env.ctx, giao.end())
                    if any(m.unit is not None for m in sub):
                        found = giao.start()
                        break
            if found is None:
                continue
            piece = Item("plain", "", sent[found:], [(0, line.number)])
            frame = Frame(0.0, where, group=f"Nhiệm vụ nêu ngoài phần phân công — {where}")
            sentence_where = f"{where}, câu {number}" if len(spans) > 1 else where
            duties_of(piece, frame, [], sentence_where, env, whole_detail=item.text)
