"""Hostile input: plan files, documents to import, injection, path traversal and bombs.

The promise under test is the README's: input a user can get wrong gives a Vietnamese message
naming the place (file, line and field for plan files) and changes nothing; never a traceback,
never a partial write. Text is stored as written and shown escaped. Hypothesis generates and
mutates the inputs; ``--soak`` runs ten times as many examples.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import hashlib
import io
import re
import resource
import subprocess
import sys
import time
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import docx
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import MetaData
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from cli.main import app as cli_app
from importer import DocumentError, Imported
from importer import import_document as _import_document
from models.enums import AssignmentState
from models.tables import Activity, Assignment, Contact, Department, OutboxMessage, Plan
from models.web_tables import UserRole
from notifications.compose import compose
from tests.browser import (
    CHEAP_HASHER,
    PASSWORD,
    SECRET,
    TODAY,
    clean_web_tables,
    csrf_of,
    http_client,
    login,
    web_world,
)
from tests.conftest import BUILTIN_PLAN, REPO
from tracking import accounts, db, evidence, reminders, store
from tracking.planio import CheckedPlan, PlanFileError, check_plan_text
from tracking.settings import get_settings
from tracking.status import Action
from web.app import create_app

ImportedPlan = Imported[CheckedPlan]


def import_document(path: Path, **options: Any) -> ImportedPlan:
    """The importer with the plan check `giaoviec plan import` gives it."""
    return _import_document(path, check=check_plan_text, **options)


NAME = "ke-hoach-fuzz.yaml"
SAMPLES = sorted((REPO / "tests" / "import_samples").glob("*.txt"))
BUILTIN_TEXT = BUILTIN_PLAN.read_text(encoding="utf-8")
BUILTIN_DATA: dict[str, Any] = yaml.safe_load(BUILTIN_TEXT)

SQL = ["'; DROP TABLE assignment; --", '" OR 1=1 --', "x'); DELETE FROM plan; --"]
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
JS_URL = "javascript:alert(document.cookie)"
HTML = [SCRIPT, IMG, JS_URL]
# Escaped forms Jinja writes, proving the payload was shown (escaped), not dropped.
ESCAPED = {
    SCRIPT: "&lt;script&gt;alert(1)&lt;/script&gt;",
    IMG: "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;",
}
VIETNAMESE = [
    "Sở",
    "Nội",
    "vụ",
    "chủ",
    "trì,",
    "phối",
    "hợp",
    "Sở",
    "Tài",
    "chính;",
    "Văn",
    "phòng",
    "Ủy",
    "ban",
    "nhân",
    "dân",
    "tỉnh;",
    "Báo",
    "An",
    "Giang;",
    "Đài",
    "Phát",
    "thanh",
    "và",
    "Truyền",
    "hình;",
    "hoàn",
    "thành",
    "trước",
    "ngày",
    "31/02/2024;",
    "PHÂN",
    "CÔNG",
    "NHIỆM",
    "VỤ;",
    "TỔ",
    "CHỨC",
    "THỰC",
    "HIỆN;",
    "chậm",
    "nhất",
    "10",
    "ngày",
    "trước",
    "Hội",
    "nghị;",
    "Kế",
    "hoạch;",
    "quý",
    "I",
    "năm",
    "2024;",
    "",
]
HOSTILE = [*SQL, *HTML, "../../etc/passwd", "\x00", "\x1b[31m", "\u202e", "A" * 1200, "{{ 7*7 }}"]

TEXT_FIELDS = {
    "title",
    "issuer",
    "number",
    "issued_place",
    "name",
    "window_text",
    "place",
    "short_name",
    "role",
    "detail",
    "source",
}
PAYLOADS = [*SQL, *HTML]

runner = CliRunner()


def examples(soak: bool, default: int) -> int:
    return default * (10 if soak else 1)


def fuzz(soak: bool, default: int) -> Callable[[Any], Any]:
    """Hypothesis settings for one property: ``default`` examples (10x under --soak)."""
    return settings(
        max_examples=examples(soak, default),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


def giaoviec(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli_app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback is exactly what must never happen
    return result.exit_code, result.stdout, result.stderr


# --- what the database holds ----------------------------------------------------------------


def snapshot(engine: Engine) -> dict[str, tuple[int, str]]:
    """Row count and a checksum of every row, table by table: equal snapshots, equal data."""
    meta = MetaData()
    meta.reflect(engine)
    out: dict[str, tuple[int, str]] = {}
    with engine.connect() as connection:
        for table in meta.sorted_tables:
            rows = sorted(repr(tuple(r)) for r in connection.execute(table.select()))
            out[table.name] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
    return out


# --- generated plan files -------------------------------------------------------------------

texts = st.one_of(
    st.text(max_size=30),  # any code point Hypothesis likes: controls, NUL, RTL marks…
    st.sampled_from(HOSTILE),
    # Long text around the limits (100…1000 characters), cheap to draw.
    st.integers(90, 1300).map(lambda n: ("Sở Nội vụ chủ trì " * 80)[:n]),
)
codes = st.one_of(
    st.from_regex(r"[A-Z]{1,4}(-[0-9]{1,2})?", fullmatch=True),
    st.sampled_from(["SNV", "STC", "HN", "A", "B"]),
    texts,
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
    st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31)),
    st.sampled_from(["31/02/2024", "2024-13-01", "00/00/0000", "15/03/99999", "ngày mai"]),
)
values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
DEADLINE_KEYS = ["date", "event", "after", "days", "calendar_days"]


@st.composite
def generated_plans(draw: st.DrawFn) -> dict[str, Any]:
    """A plan shaped like the schema, with hostile values, missing or unknown references."""
    units = draw(st.lists(codes, min_size=1, max_size=4))
    jobs = draw(st.lists(codes, max_size=5))
    unit_ref = st.one_of(st.sampled_from(units), codes)
    job_ref = st.one_of(st.sampled_from(jobs), codes) if jobs else codes
    deadline = st.one_of(
        st.none(),
        st.fixed_dictionaries({"event": st.integers(-400, 400)}),
        st.fixed_dictionaries({"date": scalars}),
        st.fixed_dictionaries({"after": job_ref, "days": st.integers(-5, 400)}),
        st.dictionaries(st.sampled_from(DEADLINE_KEYS), scalars, max_size=3),
    )
    plan = {
        "code": draw(codes),
        "title": draw(texts),
        "issuer": draw(texts),
        "coordinator": draw(unit_ref),
        "event": draw(
            st.fixed_dictionaries(
                {"name": texts},
                optional={
                    "date": scalars,
                    "window_start": scalars,
                    "window_end": scalars,
                    "window_text": texts,
                    "place": texts,
                    "delegates": st.integers(-5, 10**12),
                },
            )
        ),
    }
    plan.update(
        draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "number": texts,
                    "issued_date": scalars,
                    "issued_place": texts,
                    "legal_bases": st.lists(texts, max_size=3),
                },
            )
        )
    )
    contact = st.fixed_dictionaries(
        {"name": texts},
        optional={"role": texts, "email": texts, "phone": texts, "is_coordinator": st.booleans()},
    )
    data: dict[str, Any] = {
        "version": draw(st.one_of(st.just(1), scalars)),
        "plan": plan,
        "units": [
            draw(
                st.fixed_dictionaries(
                    {"code": st.just(code), "name": texts},
                    optional={"short_name": texts, "contacts": st.lists(contact, max_size=2)},
                )
            )
            for code in units
        ],
        "assignments": [
            draw(
                st.fixed_dictionaries(
                    {"code": st.just(code), "title": texts, "lead": unit_ref},
                    optional={
                        "detail": texts,
                        "source": texts,
                        "cooperating": st.lists(unit_ref, max_size=2),
                        "requires": st.lists(job_ref, max_size=2),
                        "deadline": deadline,
                    },
                )
            )
            for code in jobs
        ],
    }
    return data


def _paths(node: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield at
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*at, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*at, index))


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


@st.composite
def mutated_builtin(draw: st.DrawFn) -> dict[str, Any]:
    """The built-in plan with 1-4 hostile edits: deleted keys, wrong types, random text,
    duplicated codes, cycles, unknown units, huge numbers, bad dates."""
    data = copy.deepcopy(BUILTIN_DATA)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(
            st.sampled_from(
                ["delete", "replace", "text", "duplicate", "cycle", "unit", "huge", "date"]
            )
        )
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        jobs = data.get("assignments") if isinstance(data, dict) else None
        if not (isinstance(jobs, list) and jobs and all(isinstance(j, dict) for j in jobs)):
            jobs, kind = [{}], kind if kind in ("delete", "replace", "text") else "text"
        i, j = draw(st.integers(0, len(jobs) - 1)), draw(st.integers(0, len(jobs) - 1))
        # An earlier edit may have removed what this one would change: then it does nothing.
        with contextlib.suppress(TypeError, KeyError, IndexError, AttributeError):
            _mutate(data, kind, path, jobs, i, j, draw)
    return data


def _mutate(
    data: Any, kind: str, path: tuple[Any, ...], jobs: list[Any], i: int, j: int, draw: st.DrawFn
) -> None:
    if kind == "delete":
        del _parent(data, path)[path[-1]]
    elif kind == "replace":
        _parent(data, path)[path[-1]] = draw(values)
    elif kind == "text":
        _parent(data, path)[path[-1]] = draw(texts)
    elif kind == "duplicate":
        jobs[i]["code"] = jobs[j]["code"]
    elif kind == "cycle":
        jobs[i].setdefault("requires", []).append(jobs[j]["code"])
        jobs[j].setdefault("requires", []).append(jobs[i]["code"])
    elif kind == "unit":
        jobs[i]["lead"] = draw(st.sampled_from(["KHONG-CO", "snv", "SNV ", ""]))
    elif kind == "huge":
        jobs[i]["deadline"] = {"event": draw(st.integers(367, 10**40))}
        data["plan"]["event"]["delegates"] = draw(st.integers(10**6, 10**40))
    else:
        jobs[i]["deadline"] = {"date": draw(scalars)}


# libyaml's emitter when there is one: the pure-Python one would take most of the time.
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


PLAIN_TEXT = st.text(
    st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=120
).filter(str.strip)
OPTIONAL_KEYS = {"detail", "source", "deadline", "cooperating", "requires", "contacts"}


@st.composite
def plan_edits(draw: st.DrawFn) -> dict[str, Any]:
    """The built-in plan with edits an operator might make, mostly still valid: any text
    (SQL, HTML, any script), optional keys dropped, deadlines moved."""
    data = copy.deepcopy(BUILTIN_DATA)
    for _ in range(draw(st.integers(1, 5))):
        paths = [p for p in _paths(data) if p and isinstance(p[-1], str)]
        kind = draw(st.sampled_from(["text", "drop", "offset"]))
        if kind == "text":
            path = draw(st.sampled_from([p for p in paths if p[-1] in TEXT_FIELDS]))
            _parent(data, path)[path[-1]] = draw(st.one_of(PLAIN_TEXT, st.sampled_from(PAYLOADS)))
        elif kind == "drop":
            droppable = [p for p in paths if p[-1] in OPTIONAL_KEYS]
            if droppable:
                path = draw(st.sampled_from(droppable))
                del _parent(data, path)[path[-1]]
        else:
            job = draw(st.sampled_from(data["assignments"]))
            job["deadline"] = {"event": draw(st.integers(-366, 366))}
    return data


def dump(data: Any) -> bytes:
    text = yaml.dump(data, Dumper=DUMPER, allow_unicode=True, sort_keys=False)
    return text.encode("utf-8", errors="surrogatepass")


@st.composite
def raw_mutations(draw: st.DrawFn) -> bytes:
    """YAML text broken by hand: cut, inserted or repeated bytes (syntax errors, tabs, bad
    UTF-8, anchors and aliases)."""
    raw = BUILTIN_TEXT.encode()
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(raw)))
        kind = draw(st.sampled_from(["cut", "insert", "repeat"]))
        if kind == "cut":
            raw = raw[:at] + raw[at + draw(st.integers(1, 200)) :]
        elif kind == "insert":
            piece = draw(
                st.one_of(
                    st.sampled_from(
                        [b":", b"- ", b"\t", b"{", b"]", b"&a ", b"*a", b"\xff", b"\n"]
                    ),
                    st.binary(max_size=10),
                    st.text(max_size=10).map(str.encode),
                )
            )
            raw = raw[:at] + piece + raw[at:]
        else:
            end = raw.find(b"\n", at)
            line = raw[raw.rfind(b"\n", 0, at) + 1 : end + 1 if end >= 0 else len(raw)]
            raw = raw[:at] + line + raw[at:]
    return raw


plan_files = st.one_of(generated_plans().map(dump), mutated_builtin().map(dump), raw_mutations())


def check(raw: bytes) -> CheckedPlan | None:
    """The checked plan, or None when it was refused with the project's own error, each
    problem naming the file and a line inside it (or no line)."""
    try:
        return check_plan_text(raw, NAME)
    except PlanFileError as exc:
        assert exc.problems
        lines = raw.count(b"\n") + 1
        for problem in exc.problems:
            assert problem.file == NAME
            assert problem.message.strip()
            assert problem.line is None or 1 <= problem.line <= lines, problem
        assert str(exc).startswith(NAME)
        return None


# --- the plan loader ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "default"),
    [("generated", 250), ("mutated-builtin", 150), ("raw-mutations", 300)],
)
def test_plan_checks_give_the_plan_or_a_clear_error(soak: bool, source: str, default: int) -> None:
    strategy = {
        "generated": generated_plans().map(dump),
        "mutated-builtin": mutated_builtin().map(dump),
        "raw-mutations": raw_mutations(),
    }[source]
    seen = {"ok": 0, "refused": 0}

    @fuzz(soak, default)
    @given(raw=strategy)
    def run(raw: bytes) -> None:
        seen["ok" if check(raw) is not None else "refused"] += 1

    run()
    print(f"plan check [{source}]: {sum(seen.values())} examples, {seen}, failures 0")
    assert seen["refused"] > 0  # the generators do reach the error paths…
    if source == "mutated-builtin":
        assert seen["ok"] > 0  # …and the mutations do not all break the file


def test_loading_a_fuzzed_plan_is_all_or_nothing(clean_engine: Engine, soak: bool) -> None:
    """A refused file leaves every row as it was; an accepted one loads (never a database
    error after the checks passed) and loading it again changes nothing."""
    # Most generated files are refused; the built-in plan's mutations are often accepted.
    seen = {"loaded": 0, "refused": 0}

    @fuzz(soak, 40)
    @given(
        raw=st.one_of(
            plan_edits().map(dump), mutated_builtin().map(dump), generated_plans().map(dump)
        )
    )
    def run(raw: bytes) -> None:
        before = snapshot(clean_engine)
        checked = check(raw)
        if checked is None:
            seen["refused"] += 1
            assert snapshot(clean_engine) == before
            return
        with db.session_scope(clean_engine) as session:
            store.load_plan(session, checked, "kiem-thu")
        loaded = snapshot(clean_engine)
        with db.session_scope(clean_engine) as session:
            store.load_plan(session, checked, "kiem-thu")
        assert snapshot(clean_engine) == loaded
        seen["loaded"] += 1

    run()
    print(f"plan load: {sum(seen.values())} examples, {seen}, failures 0")
    assert seen["loaded"] > 0 and seen["refused"] > 0


FAULT_POINTS = ["_upsert_plan", "_new_assignment", "_link_assignments", "recompute_deadlines"]


def test_a_load_that_fails_half_way_writes_nothing(clean_engine: Engine, soak: bool) -> None:
    """Checks pass, then the database work breaks at some step: the transaction leaves no
    trace (the plan is loaded in one transaction)."""
    seen: dict[str, int] = {}
    giaoviec("plan", "load", str(BUILTIN_PLAN))  # something there already, to be kept

    @fuzz(soak, 12)
    @given(data=plan_edits(), point=st.sampled_from(FAULT_POINTS))
    def run(data: dict[str, Any], point: str) -> None:
        if not isinstance(data.get("plan"), dict):
            return
        data["plan"]["code"] = "khac"  # a new plan beside the built-in one
        checked = check(dump(data))
        if checked is None or (point == "_new_assignment" and not checked.spec.assignments):
            return
        before = snapshot(clean_engine)
        with (
            mock.patch.object(store, point, side_effect=RuntimeError("hỏng giữa chừng")),
            pytest.raises(RuntimeError),
            db.session_scope(clean_engine) as session,
        ):
            store.load_plan(session, checked, "kiem-thu")
        assert snapshot(clean_engine) == before
        seen[point] = seen.get(point, 0) + 1

    run()
    print(f"load with an injected fault: {seen}, failures 0")
    assert sum(seen.values()) >= examples(soak, 12) // 2


def test_cli_refuses_bad_plan_files_with_exit_2_and_changes_nothing(
    clean_engine: Engine, tmp_path: Path, soak: bool
) -> None:
    giaoviec("plan", "load", str(BUILTIN_PLAN))
    before = snapshot(clean_engine)
    path = tmp_path / NAME
    seen = {"validate": 0, "load": 0}

    @fuzz(soak, 25)
    @given(raw=plan_files, command=st.sampled_from(["validate", "load"]))
    def run(raw: bytes, command: str) -> None:
        if check(raw) is not None:
            return  # only the refused files: an accepted one would change the database
        path.write_bytes(raw)
        code, out, err = giaoviec("plan", command, str(path))
        assert code == 2, (out, err)
        assert "Tệp kế hoạch không hợp lệ" in err and str(path) in err
        assert "Traceback" not in out + err
        assert snapshot(clean_engine) == before
        seen[command] += 1

    run()
    print(f"CLI plan validate/load on bad files: {seen}, failures 0")
    assert seen["validate"] + seen["load"] > 0


# --- the document importer ------------------------------------------------------------------

CONTROL = "".join(chr(c) for c in [*range(0, 32), 127, 0x85, 0x200B, 0x202E, 0xFEFF])


@st.composite
def mutated_documents(draw: st.DrawFn) -> str:
    """A sample document with lines deleted, repeated, swapped, added (Vietnamese plan
    phrases), sprinkled with control characters, or with one very long line."""
    lines = draw(st.sampled_from(SAMPLES)).read_text(encoding="utf-8").splitlines()
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, max(len(lines) - 1, 0)))
        kind = draw(st.sampled_from(["delete", "repeat", "swap", "add", "control", "long"]))
        if not lines:
            lines.append("")
        if kind == "delete":
            del lines[at]
        elif kind == "repeat":
            lines.insert(at, lines[at])
        elif kind == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[at], lines[other] = lines[other], lines[at]
        elif kind == "add":
            words = draw(st.lists(st.sampled_from(VIETNAMESE + HOSTILE[:5]), max_size=30))
            lines.insert(
                at, draw(st.sampled_from(["", "- ", "1. ", "a) ", "V. "])) + " ".join(words)
            )
        elif kind == "control":
            char = draw(st.sampled_from(CONTROL))
            pos = draw(st.integers(0, len(lines[at])))
            lines[at] = lines[at][:pos] + char + lines[at][pos:]
        else:
            lines[at] = (
                lines[at] + " " + " ".join(draw(st.sampled_from(VIETNAMESE)) for _ in range(3000))
            )
    return "\n".join(lines)


def imported_or_refused(path: Path) -> bool:
    """True when the document gave a draft plan; False when refused with the importer's own
    error naming the file. A draft that fails the plan checks is the importer's bug."""
    try:
        imported = import_document(path)
    except DocumentError as exc:
        assert str(path) in str(exc)
        assert "lỗi của chương trình" not in str(exc), str(exc)
        return False
    assert imported.checked.spec.assignments
    return True


def test_importer_gives_a_draft_or_a_clear_error(tmp_path: Path, soak: bool) -> None:
    seen = {"draft": 0, "refused": 0}
    path = tmp_path / "ke-hoach.txt"

    @fuzz(soak, 50)
    @given(text=st.one_of(mutated_documents(), st.text(max_size=300)))
    def run(text: str) -> None:
        path.write_text(text, encoding="utf-8")
        seen["draft" if imported_or_refused(path) else "refused"] += 1

    run()
    print(f"importer on mutated/random text: {sum(seen.values())} documents, {seen}, failures 0")
    assert seen["draft"] > 0 and seen["refused"] > 0


def _seed_docx(folder: Path) -> bytes:
    document = docx.Document()
    for line in SAMPLES[-1].read_text(encoding="utf-8").splitlines()[:80]:
        document.add_paragraph(line)
    path = folder / "seed.docx"
    document.save(str(path))
    return path.read_bytes()


def _replace_part(docx_bytes: bytes, name: str, content: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(docx_bytes))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            if item.filename != name:
                target.writestr(item, source.read(item))
        target.writestr(name, content)
    return out.getvalue()


def test_malformed_docx_gives_a_clear_error(tmp_path: Path, soak: bool) -> None:
    good = _seed_docx(tmp_path)
    numbering = (
        b'<w:numbering xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        b'<w:abstractNum w:abstractNumId="1"><w:lvl w:ilvl="x"><w:start w:val="y"/></w:lvl>'
        b"</w:abstractNum></w:numbering>"
    )
    # A list counted from 0 in Roman numerals: there is no Roman numeral for 0.
    roman_zero = numbering.replace(b'w:ilvl="x"', b'w:ilvl="0"').replace(
        b'<w:start w:val="y"/>', b'<w:start w:val="0"/><w:numFmt w:val="upperRoman"/>'
    )
    fixed = {
        "empty": b"",
        "not-a-zip": b"PK\x03\x04 this is not a zip",
        "zip-without-word": _empty_zip(),
        "bad-xml": _replace_part(good, "word/document.xml", b"<w:document><w:body>"),
        "bad-numbering": _replace_part(good, "word/numbering.xml", numbering),
        "roman-zero": _numbered(good, roman_zero),
    }
    seen = {"refused": 0, "draft": 0}
    for label, content in fixed.items():
        path = tmp_path / f"{label}.docx"
        path.write_bytes(content)
        seen["draft" if imported_or_refused(path) else "refused"] += 1

    path = tmp_path / "fuzz.docx"

    @fuzz(soak, 40)
    @given(
        cut=st.integers(0, len(good)),
        flips=st.lists(st.tuples(st.integers(0, len(good) - 1), st.integers(0, 255)), max_size=8),
        noise=st.binary(max_size=200),
    )
    def run(cut: int, flips: list[tuple[int, int]], noise: bytes) -> None:
        content = bytearray(good[:cut] if cut < len(good) - 1 else good)
        for at, value in flips:
            if at < len(content):
                content[at] = value
        path.write_bytes(bytes(content) + noise)
        seen["draft" if imported_or_refused(path) else "refused"] += 1

    run()
    print(f"importer on malformed .docx: {sum(seen.values())} files, {seen}, failures 0")
    assert seen["refused"] >= len(fixed) - 1


def _numbered(docx_bytes: bytes, numbering: bytes) -> bytes:
    """The document with ``numbering`` and every paragraph in its list 1 (level 0)."""
    numbering = numbering.replace(
        b"</w:numbering>", b'<w:num w:numId="1"><w:abstractNumId w:val="1"/></w:num></w:numbering>'
    )
    body = zipfile.ZipFile(io.BytesIO(docx_bytes)).read("word/document.xml")
    body = body.replace(
        b"<w:p>", b'<w:p><w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr></w:pPr>'
    )
    return _replace_part(
        _replace_part(docx_bytes, "word/numbering.xml", numbering), "word/document.xml", body
    )


def _empty_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "không phải Word")
    return out.getvalue()


def test_cli_import_of_a_bad_document_exits_2_and_writes_nothing(
    clean_engine: Engine, tmp_path: Path
) -> None:
    before = snapshot(clean_engine)
    documents = {
        "rac.docx": b"\x00\x01rac",
        "khong-co-phan-cong.txt": (
            REPO / "tests/import_samples/khong-co-phan-cong.txt"
        ).read_bytes(),
        "utf16-hong.txt": b"\xff\xfe\x00\xd8",
        "latin1.txt": "Kế hoạch".encode("cp1258", errors="replace") + b"\xff\xfe\x81",
        "ke-hoach.doc": b"\xd0\xcf\x11\xe0",
    }
    for name, content in documents.items():
        path = tmp_path / name
        path.write_bytes(content)
        code, out, err = giaoviec("plan", "import", str(path), "--load", "--yes")
        assert code == 2, (name, out, err)
        assert "Lỗi:" in err and name in err and "Traceback" not in out + err
        assert not path.with_suffix(".yaml").exists()
    assert snapshot(clean_engine) == before
    print(f"CLI plan import on bad documents: {len(documents)} files refused with exit 2")


# --- bombs: in a subprocess, bounded in time and memory --------------------------------------

MEMORY_LIMIT = 1536 * 1024 * 1024


def _bounded() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_cli(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,  # a hang fails the test with TimeoutExpired
        cwd=REPO,
        preexec_fn=_bounded,
        env={
            "PATH": "/usr/bin:/bin",
            "GIAOVIEC_HOME": str(home),
            "GIAOVIEC_DATABASE_URL": get_settings().resolved_database_url,
            "PYTHONPATH": str(REPO),
        },
    )


def _billion_laughs() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in "bcdefghi":
        previous = chr(ord(level) - 1)
        lines.append(f"{level}: &{level} [{', '.join(f'*{previous}' for _ in range(9))}]")
    return "\n".join(lines) + "\nplan: *i\n"


def _zip_bomb() -> bytes:
    # ~400 MB of text in document.xml that compresses to well under a megabyte.
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Override PartName="/word/document.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
        )
        archive.writestr(
            "_rels/.rels",
            '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
            '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>'
            "</Relationships>",
        )
        with archive.open("word/document.xml", "w") as part:
            part.write(
                b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/'
                b'main"><w:body><w:p><w:r><w:t>'
            )
            chunk = b"a" * (1024 * 1024)
            for _ in range(400):
                part.write(chunk)
            part.write(b"</w:t></w:r></w:p></w:body></w:document>")
    return out.getvalue()


def test_yaml_bombs_are_refused_quickly_with_a_message(home: Path, tmp_path: Path) -> None:
    bombs = {
        "billion-laughs.yaml": (_billion_laughs().encode(), "tham chiếu YAML"),
        "qua-lon.yaml": (b"# " + b"x" * (6 * 1024 * 1024), "tệp quá lớn"),
        "long-nhau.yaml": (b"plan: " + b"[" * 4_000_000, "lồng nhau quá sâu"),
        "long-nhau-bang.yaml": (b"plan: " + b"{a: " * 1_000_000, "lồng nhau quá sâu"),
        "nhieu-khoa.yaml": (
            b"".join(b"k%d: %d\n" % (i, i) for i in range(250_000)),
            "trường không được phép",
        ),
    }
    for name, (content, words) in bombs.items():
        path = tmp_path / name
        path.write_bytes(content)
        started = time.monotonic()
        done = run_cli(home, "plan", "validate", str(path))
        took = time.monotonic() - started
        assert done.returncode == 2, (name, done.stdout, done.stderr[-2000:])
        assert words in done.stderr and "Traceback" not in done.stderr, (name, done.stderr[-2000:])
        print(f"YAML bomb {name}: {len(content) / 1e6:.1f} MB refused in {took:.1f} s")


def test_a_zip_bomb_docx_is_refused_quickly_with_a_message(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "bom.docx"
    path.write_bytes(_zip_bomb())
    started = time.monotonic()
    done = run_cli(home, "plan", "import", str(path))
    took = time.monotonic() - started
    assert done.returncode == 2, (done.stdout, done.stderr[-2000:])
    assert "bom.docx" in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert not path.with_suffix(".yaml").exists()
    print(f"zip bomb .docx ({path.stat().st_size / 1e6:.1f} MB): refused in {took:.1f} s")


def test_a_document_of_one_huge_line_ends_quickly(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "mot-dong.txt"
    path.write_text(" ".join(VIETNAMESE[i % len(VIETNAMESE)] for i in range(300_000)))
    started = time.monotonic()
    done = run_cli(home, "plan", "import", str(path), "-o", "-")
    took = time.monotonic() - started
    assert done.returncode in (0, 2) and "Traceback" not in done.stderr, done.stderr[-2000:]
    size = path.stat().st_size / 1e6
    print(f"one-line document of {size:.1f} MB: exit {done.returncode} in {took:.1f} s")


# --- injection ------------------------------------------------------------------------------


def poisoned_plan() -> tuple[dict[str, Any], list[str]]:
    """The built-in plan with an SQL or HTML payload in every text field (each made unique
    so it can be found back), and the list of every value written."""
    data = copy.deepcopy(BUILTIN_DATA)
    written: list[str] = []

    def poison(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in TEXT_FIELDS and isinstance(value, str):
                    node[key] = f"{PAYLOADS[len(written) % len(PAYLOADS)]} #{len(written)}"
                    written.append(node[key])
                elif key == "legal_bases":
                    node[key] = [f"{p} #lb{i}" for i, p in enumerate(PAYLOADS)]
                    written.extend(node[key])
                else:
                    poison(value)
        elif isinstance(node, list):
            for item in node:
                poison(item)

    poison(data)
    return data, written


@contextlib.contextmanager
def coordinator_account(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The coordinator's web account, as tests.browser.web_world makes it, without loading
    the built-in plan over the plan under test."""
    monkeypatch.setenv("GIAOVIEC_SECRET_KEY", SECRET)
    monkeypatch.setattr(accounts, "_hasher", lambda: CHEAP_HASHER)
    clean_web_tables(engine)
    with db.session_scope(engine) as session:
        accounts.create_user(session, "tdkt", PASSWORD, UserRole.COORDINATOR, None, "Lê Văn C")
    try:
        yield
    finally:
        clean_web_tables(engine)


def _no_unescaped_html(page: str, where: str) -> None:
    for payload in (SCRIPT, IMG):
        assert payload not in page, f"{where}: {payload!r} not escaped"
    assert not re.search(r"""(href|src|action)\s*=\s*["']?\s*javascript:""", page, re.I), where
    assert "<img src=x" not in page and "<script>alert" not in page, where


def test_payloads_in_every_text_field_are_stored_verbatim_and_shown_escaped(
    clean_engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data, written = poisoned_plan()
    path = tmp_path / "doc-hai.yaml"
    path.write_bytes(dump(data))
    tables_before = set(snapshot(clean_engine))
    code, _, err = giaoviec("plan", "load", str(path))
    assert code == 0, err
    code, _, err = giaoviec("plan", "set-event-date", BUILTIN_DATA["plan"]["code"], "15/03/2024")
    assert code == 0, err

    with Session(clean_engine) as session:
        stored: list[str] = []
        for plan in session.exec(select(Plan)):
            stored += [plan.title, plan.issuer, plan.number or "", plan.issued_place or ""]
            stored += [plan.event_name or "", plan.window_text or "", plan.place or ""]
            stored += plan.legal_bases
        for unit in session.exec(select(Department)):
            stored += [unit.name, unit.short_name or ""]
        for contact in session.exec(select(Contact)):
            stored += [contact.name, contact.role or ""]
        for row in session.exec(select(Assignment)):
            stored += [row.title, row.detail or "", row.source or ""]
        jobs = list(session.exec(select(Assignment)))
    # Verbatim: every value written is stored exactly, none went missing, no table was lost.
    assert sorted(v for v in stored if v) == sorted(written)
    assert set(snapshot(clean_engine)) == tables_before
    assert len(jobs) == len(BUILTIN_DATA["assignments"])

    # The same payloads as an actor's name, a note and a reason.
    actor = f"{SQL[0]} {SCRIPT}"
    with db.session_scope(clean_engine) as session:
        first, second = jobs[0], jobs[1]
        store.act(session, str(first.id), store.ActionRequest(Action.START, actor, note=IMG), TODAY)
        store.act(
            session,
            str(second.id),
            store.ActionRequest(Action.BLOCK, actor, reason=f"{SQL[1]} {JS_URL}"),
            TODAY,
        )
    with Session(clean_engine) as session:
        notes = {(a.actor, a.note) for a in session.exec(select(Activity))}
    assert (actor, IMG) in notes and (actor, f"{SQL[1]} {JS_URL}") in notes

    # Every web page, as the coordinator.
    with coordinator_account(clean_engine, monkeypatch):
        client = http_client(create_app(clean_engine, today=lambda: TODAY))
        login(client, "tdkt")
        pages = ["/", "/assignments", "/login"] + [f"/assignments/{j.id}" for j in jobs]
        shown = 0
        for url in pages:
            page = client.get(url).text
            _no_unescaped_html(page, url)
            shown += sum(escaped in page for escaped in ESCAPED.values())
        assert shown > len(jobs)  # the payloads were shown (escaped), not silently dropped

        # The messages: each unit's kickoff list and today's reminders, in HTML and text.
        with db.session_scope(clean_engine) as session:
            store.activate_plan(session, BUILTIN_DATA["plan"]["code"], "kiem-thu", TODAY)
            calendar = store.load_calendar(session)
            reminders.enqueue_daily(
                session,
                dt.date(2024, 3, 14),
                dt.datetime(2024, 3, 14, 1, tzinfo=dt.UTC),
                calendar,
                get_settings(),
            )
        with Session(clean_engine) as session:
            messages = list(session.exec(select(OutboxMessage)))
            assert messages
            for message in messages:
                rendered = compose(session, message, calendar)
                _no_unescaped_html(rendered.html, f"e-mail {message.kind}")
                assert "\n" not in rendered.subject
            texts = " ".join(compose(session, m, calendar).text for m in messages)
        # Plain text keeps the words as written: nothing there is HTML.
        assert SCRIPT in texts or IMG in texts
    print(
        f"injection: {len(written)} text fields, {len(pages)} pages, {len(messages)} messages "
        "checked, failures 0"
    )


TRAVERSAL = [
    "../../etc/passwd",
    "/etc/passwd",
    "..\\..\\windows\\win.ini.pdf",
    "bao-cao\x00.pdf",
    "a" * 5000 + ".pdf",
    "..",
    ".",
    "",
    "....//....//x.pdf",
    "\u202egpj.pdf",
    "ｂáo‥／cáo.pdf",
    "C:\\Users\\x\\bao-cao.pdf",
    "bao cao\n.pdf",
    "~/.ssh/id_rsa.txt",
    "%2e%2e%2fbao-cao.pdf",
]


@given(name=st.one_of(st.sampled_from(TRAVERSAL), st.text(max_size=300)))
@settings(max_examples=500, deadline=None, database=None)
def test_evidence_names_never_leave_their_folder(name: str) -> None:
    folder = Path("/srv/giaoviec/evidence/ke-hoach/SNV-01")
    safe = evidence.safe_name(name)
    assert safe and safe not in {".", ".."} and len(safe) <= 120
    assert not set(safe) & {"/", "\\", "\x00"}
    assert not any(unicodedata.category(c) in {"Cc", "Cf"} for c in safe)
    assert (folder / safe).resolve().parent == folder


def test_uploaded_files_with_hostile_names_stay_in_the_evidence_folder(
    clean_engine: Engine, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    with web_world(clean_engine, monkeypatch) as engine:
        client = http_client(create_app(engine, today=lambda: TODAY))
        login(client, "tdkt")
        outside = sorted(p for p in home.parent.rglob("*") if "evidence" not in p.parts)
        with Session(engine) as session:
            jobs = [j for j in session.exec(select(Assignment)) if j.id is not None]
        accepted = refused = 0
        for job, name in zip(jobs, TRAVERSAL, strict=False):
            page = client.get(f"/assignments/{job.id}")
            data = {"csrf_token": csrf_of(page.text), "action": "submit", "note": name[:100]}
            files = {"files": (name, b"%PDF-1.4 minh chung", "application/pdf")}
            response = client.post(f"/assignments/{job.id}/act", data=data, files=files)
            assert response.status_code in (200, 400), (name, response.status_code)
            _no_unescaped_html(response.text, name)
            if response.status_code == 200:
                accepted += 1 if name else 0  # a nameless part is "no file attached"
            else:
                refused += 1
                assert "Lỗi" in response.text or "không" in response.text
        root = (home / "evidence").resolve()
        stored = [p for p in root.rglob("*") if p.is_file()]
        assert len(stored) == accepted > 0
        assert all(p.resolve().is_relative_to(root) for p in stored)
        with Session(engine) as session:
            for job in session.exec(select(Assignment)):
                for relative in job.evidence:
                    assert (home / relative).resolve().is_relative_to(root), relative
        # Nothing appeared anywhere else under the test's folder.
        assert sorted(p for p in home.parent.rglob("*") if "evidence" not in p.parts) == outside
    print(f"hostile upload names: {accepted} stored inside the folder, {refused} refused")


def test_oversized_evidence_is_refused_with_a_message(
    clean_engine: Engine, monkeypatch: pytest.MonkeyPatch, home: Path, tmp_path: Path
) -> None:
    monkeypatch.setenv("GIAOVIEC_MAX_EVIDENCE_BYTES", "1000")
    get_settings.cache_clear()
    giaoviec("plan", "load", str(BUILTIN_PLAN))
    big = tmp_path / "bao-cao.pdf"
    big.write_bytes(b"x" * 5000)
    before = snapshot(clean_engine)
    code, out, err = giaoviec("submit", "SNV-01", "--by", "Phạm Thị D", "--evidence", str(big))
    assert code == 2 and "quá lớn" in err and "Traceback" not in out + err, (out, err)
    assert snapshot(clean_engine) == before
    assert not (home / "evidence").exists() or not any((home / "evidence").rglob("*.pdf"))
    with Session(clean_engine) as session:
        row = session.exec(select(Assignment).where(Assignment.code == "SNV-01")).one()
        assert row.state is AssignmentState.NOT_STARTED
