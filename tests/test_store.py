"""The store on a real database: loading plans, deadlines, actions and their history."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from models.enums import AssignmentState as S
from models.enums import Timeliness as T
from models.tables import Activity, Assignment, Contact, Department, Dependency, Plan
from tests.conftest import BUILTIN_PLAN
from tests.plan_samples import SMALL_PLAN, small_plan
from tracking import store
from tracking.planio import check_plan_text, read_plan_file
from tracking.status import Action, IllegalTransition

D = dt.date
ANG = "an-giang-2024-hoi-nghi-thi-dua"


def load_text(session: Session, text: str) -> store.LoadResult:
    result = store.load_plan(session, check_plan_text(text.encode(), "x.yaml"), "kiem-thu")
    session.commit()
    return result


def counts(session: Session) -> dict[str, int]:
    tables = {
        "plan": Plan,
        "assignment": Assignment,
        "department": Department,
        "contact": Contact,
        "dependency": Dependency,
        "activity": Activity,
    }
    return {
        name: session.exec(select(func.count()).select_from(t)).one() for name, t in tables.items()
    }


MARCH_1 = D(2024, 3, 1)


def act(
    session: Session, ref: str, action: Action, today: dt.date = MARCH_1, **kw: Any
) -> Assignment:
    actor = kw.pop("actor", "can-bo")
    row = store.act(session, ref, store.ActionRequest(action, actor, **kw), today)
    session.commit()
    return row


def test_builtin_plan_loads_and_reloading_changes_nothing(session: Session) -> None:
    checked = read_plan_file(BUILTIN_PLAN)
    first = store.load_plan(session, checked, "kiem-thu")
    session.commit()
    assert first.created and first.assignments_added == len(checked.spec.assignments)
    before = counts(session)
    again = store.load_plan(session, checked, "kiem-thu")
    session.commit()
    assert (again.created, again.assignments_added, again.assignments_updated) == (False, 0, 0)
    assert counts(session) == before


def test_relative_deadlines_wait_for_the_event_date_then_skip_tet(session: Session) -> None:
    store.load_plan(session, read_plan_file(BUILTIN_PLAN), "kiem-thu")
    views = store.plan_status(session, D(2024, 1, 2), ANG)
    assert all(v.due is None and v.timeliness is T.NO_DEADLINE for v in views)

    store.set_event_date(session, ANG, D(2024, 3, 15), "kiem-thu")
    session.commit()
    due = {v.code: v.due for v in store.plan_status(session, D(2024, 3, 1), ANG)}
    assert due["HN"] == D(2024, 3, 15)
    assert due["VP-01"] == D(2024, 1, 26)  # 30 working days back, across Tết 2024
    cal = store.load_calendar(session)
    for code, day in due.items():
        assert day is not None and cal.is_working_day(day), (code, day)
    assert not any(D(2024, 2, 8) <= d <= D(2024, 2, 14) for d in due.values() if d)


def test_changing_the_event_date_moves_deadlines_and_is_recorded(session: Session) -> None:
    load_text(session, SMALL_PLAN)
    _, moved = store.set_event_date(session, "thu-nghiem", D(2024, 3, 22), "dieu-phoi")
    session.commit()
    assert moved == 3  # A, B and HN; C has an absolute date
    hn = store.get_assignment(session, "HN")
    assert hn.due == D(2024, 3, 22)
    events = session.exec(select(Activity).where(Activity.action == "event_date_set")).all()
    assert [(e.from_value, e.to_value, e.actor) for e in events] == [
        ("2024-03-15", "2024-03-22", "dieu-phoi")
    ]


def test_reloading_an_edited_file_updates_and_cancels(session: Session) -> None:
    load_text(session, SMALL_PLAN)
    act(session, "A", Action.START)
    edited = small_plan(
        **{
            "title: Phát hành giấy mời": "title: Phát hành giấy mời dự Hội nghị",
            "  - code: C\n    title: Thẩm định kinh phí\n    lead: STC\n    requires: [A]\n"
            "    deadline: {date: 10/03/2024}\n": "",
            "requires: [B, C]": "requires: [B]",
        }
    )
    result = load_text(session, edited)
    assert (result.assignments_added, result.assignments_updated, result.assignments_removed) == (
        0,
        2,
        1,
    )
    assert store.get_assignment(session, "B").title == "Phát hành giấy mời dự Hội nghị"
    c = store.get_assignment(session, "C")
    assert c.state is S.CANCELLED and c.state_reason == "không còn trong tệp kế hoạch"
    assert store.get_assignment(session, "A").state is S.IN_PROGRESS  # work state survives reloads


def test_full_lifecycle_with_history(session: Session) -> None:
    load_text(session, SMALL_PLAN)
    act(session, "A", Action.START, actor="snv")
    act(
        session,
        "A",
        Action.SUBMIT,
        D(2024, 2, 27),
        actor="snv",
        note="Đã gửi danh sách",
        evidence=["evidence/x/A/danh-sach.pdf"],
    )
    returned = act(session, "A", Action.RETURN, actor="ban-tdkt", reason="Thiếu 2 cá nhân")
    assert returned.state is S.IN_PROGRESS and returned.completed_on is None
    act(session, "A", Action.SUBMIT, D(2024, 2, 28), actor="snv")
    done = act(session, "A", Action.CONFIRM, actor="ban-tdkt")
    assert done.state is S.DONE and done.confirmed_by == "ban-tdkt"
    assert done.completed_on == D(2024, 2, 28) and done.evidence == ["evidence/x/A/danh-sach.pdf"]
    view = next(v for v in store.plan_status(session, D(2024, 3, 5), "thu-nghiem") if v.code == "A")
    assert view.timeliness is T.DONE_ON_TIME  # A was due 28/02/2024
    actions = [
        (e.action, e.from_value, e.to_value, e.actor)
        for e in store.history(session, done.id)  # type: ignore[arg-type]
        if e.field == "state"
    ]
    assert actions == [
        ("start", "not_started", "in_progress", "snv"),
        ("submit", "in_progress", "submitted", "snv"),
        ("return", "submitted", "in_progress", "ban-tdkt"),
        ("submit", "in_progress", "submitted", "snv"),
        ("confirm", "submitted", "done", "ban-tdkt"),
    ]


def test_late_submission_is_done_late(session: Session) -> None:
    load_text(session, SMALL_PLAN)
    act(session, "A", Action.SUBMIT, D(2024, 3, 4))
    act(session, "A", Action.CONFIRM)
    view = next(v for v in store.plan_status(session, D(2024, 3, 5), "thu-nghiem") if v.code == "A")
    assert view.timeliness is T.DONE_LATE


def test_illegal_transition_changes_nothing(session: Session) -> None:
    load_text(session, SMALL_PLAN)
    before = counts(session)
    with pytest.raises(IllegalTransition):
        store.act(session, "A", store.ActionRequest(Action.CONFIRM, "x"), D(2024, 3, 1))
    session.rollback()
    assert counts(session) == before
    assert store.get_assignment(session, "A").state is S.NOT_STARTED


@pytest.mark.parametrize("action", [Action.BLOCK, Action.CANCEL, Action.PAUSE, Action.EXTEND])
def test_reason_is_required(session: Session, action: Action) -> None:
    load_text(session, SMALL_PLAN)
    with pytest.raises(store.InvalidAction, match="lý do"):
        store.act(
            session, "A", store.ActionRequest(action, "x", new_due=D(2024, 3, 10)), D(2024, 3, 1)
        )


def test_block_then_unblock(session: Session) -> None:
    load_text(session, SMALL_PLAN)
    blocked = act(session, "A", Action.BLOCK, reason="Chưa nhận đủ hồ sơ")
    assert blocked.state is S.BLOCKED and blocked.state_reason == "Chưa nhận đủ hồ sơ"
    views = {v.code: v for v in store.plan_status(session, D(2024, 2, 1), "thu-nghiem")}
    assert views["B"].at_risk == "A đang vướng mắc"
    unblocked = act(session, "A", Action.UNBLOCK)
    assert unblocked.state is S.IN_PROGRESS and unblocked.state_reason is None


def test_extension_keeps_the_original_and_moves_dependents(session: Session) -> None:
    load_text(session, SMALL_PLAN)
    a = act(
        session, "A", Action.EXTEND, actor="ban-tdkt", reason="Chờ Bộ Nội vụ", new_due=D(2024, 3, 5)
    )
    assert (a.original_due, a.due, a.extended_by) == (D(2024, 2, 28), D(2024, 3, 5), "ban-tdkt")
    assert store.get_assignment(session, "B").due == D(2024, 3, 7)  # 2 working days after A
    # A later event-date change keeps the extension as granted.
    store.set_event_date(session, "thu-nghiem", D(2024, 3, 22), "x")
    session.commit()
    a = store.get_assignment(session, "A")
    assert a.due == D(2024, 3, 5) and a.original_due == D(2024, 3, 6)


def test_extension_must_change_the_deadline(session: Session) -> None:
    load_text(session, SMALL_PLAN)
    with pytest.raises(store.InvalidAction, match="trùng hạn hiện tại"):
        store.act(
            session,
            "A",
            store.ActionRequest(Action.EXTEND, "x", reason="r", new_due=D(2024, 2, 28)),
            D(2024, 2, 1),
        )


def test_stale_version_is_a_conflict(session: Session) -> None:
    load_text(session, SMALL_PLAN)
    seen = store.get_assignment(session, "A").version
    act(session, "A", Action.START)
    with pytest.raises(store.ConcurrentUpdate):
        store.act(
            session,
            "A",
            store.ActionRequest(Action.SUBMIT, "x", expected_version=seen),
            D(2024, 3, 1),
        )


def test_status_views_carry_the_derived_fields(session: Session) -> None:
    load_text(session, SMALL_PLAN)
    views = {v.code: v for v in store.plan_status(session, D(2024, 3, 1), "thu-nghiem")}
    assert views["HN"].critical and views["HN"].slack == 0
    assert views["A"].cooperating == ["STC"] and views["A"].lead == "SNV"
    assert views["A"].timeliness is T.OVERDUE  # due 28/02, not started on 01/03
    assert views["B"].at_risk == "A đã quá hạn"
    assert views["HN"].prerequisites == ["B", "C"]
    data = views["A"].as_json()
    for key in (
        "id",
        "code",
        "title",
        "lead",
        "cooperating",
        "due",
        "state",
        "timeliness",
        "critical",
        "slack",
    ):
        assert key in data
    assert data["due"] == "2024-02-28" and data["timeliness"] == "overdue"


def test_department_filter_covers_lead_and_cooperating(session: Session) -> None:
    load_text(session, SMALL_PLAN)
    codes = {v.code for v in store.plan_status(session, D(2024, 3, 1), "thu-nghiem", "STC")}
    assert codes == {"A", "C"}


def test_failed_load_leaves_nothing(
    session: Session, monkeypatch: pytest.MonkeyPatch, clean_engine: object
) -> None:
    from tracking import db

    def explode(*_: object, **__: object) -> int:
        raise RuntimeError("mất kết nối giữa chừng")

    monkeypatch.setattr(store, "recompute_deadlines", explode)
    checked = check_plan_text(SMALL_PLAN.encode(), "x.yaml")
    with pytest.raises(RuntimeError), db.session_scope(clean_engine) as s:  # type: ignore[arg-type]
        store.load_plan(s, checked, "x")
    assert counts(session) == dict.fromkeys(counts(session), 0)


def test_calendar_override_moves_deadlines(session: Session) -> None:
    load_text(session, SMALL_PLAN)
    assert store.get_assignment(session, "A").due == D(2024, 2, 28)
    store.set_calendar_override(session, D(2024, 2, 28), False, "Nghỉ đột xuất", "van-hanh")
    session.commit()
    assert store.get_assignment(session, "A").due == D(2024, 2, 27)
    assert store.load_calendar(session).day_off_name(D(2024, 2, 28)) == "Nghỉ đột xuất"


def test_unknown_references(session: Session) -> None:
    load_text(session, SMALL_PLAN)
    with pytest.raises(store.NotFound, match="Không tìm thấy nhiệm vụ “ZZ”"):
        store.get_assignment(session, "ZZ")
    with pytest.raises(store.NotFound, match="Không tìm thấy kế hoạch"):
        store.get_plan(session, "khong-co")
    assert store.get_assignment(session, "thu-nghiem/HN").code == "HN"


def test_evidence_path_is_stored_relative(tmp_path: Path) -> None:
    from services.actions import EvidenceFile, save_file
    from tracking.evidence import EvidenceError, check_evidence, evidence_folder, safe_name

    src = tmp_path / "Báo cáo.pdf"
    src.write_bytes(b"%PDF-1.4 test")
    home = tmp_path / "home"
    folder = evidence_folder(home, ANG, "SNV-01")
    given = EvidenceFile.from_path(src)
    name = check_evidence(given.name, given.size, 1000, given.head)
    stored = save_file(given, name, folder)
    assert stored.relative_to(home).as_posix() == f"evidence/{ANG}/SNV-01/Báo cáo.pdf"
    assert stored.read_bytes() == b"%PDF-1.4 test"
    assert save_file(given, name, folder).name == "Báo cáo (2).pdf"
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("<b>x</b>.pdf") == "b_.pdf"  # "/" splits folders; only the last part stays
    assert safe_name('a<b>"c".pdf') == "a_b_c_.pdf"
    with pytest.raises(EvidenceError, match="quá lớn"):
        check_evidence(given.name, given.size, 5, given.head)
    bad = tmp_path / "virus.exe"
    bad.write_bytes(b"MZ")
    virus = EvidenceFile.from_path(bad)
    with pytest.raises(EvidenceError, match="không được nhận"):
        check_evidence(virus.name, virus.size, 1000, virus.head)
    with pytest.raises(EvidenceError, match="Không tìm thấy tệp"):
        EvidenceFile.from_path(tmp_path / "khong-co.pdf")
