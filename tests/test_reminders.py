"""The reminder policy and the outbox: who is told what, when, exactly once."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from typing import Any

import pytest
from sqlmodel import Session, select

from models.enums import AssignmentState as S
from models.enums import Channel, DeliveryStatus, ReminderKind
from models.tables import Assignment, OutboxMessage, Plan
from tests.conftest import BUILTIN_PLAN
from tests.plan_samples import small_plan
from tracking import clock, reminders, store
from tracking.calendar import WorkCalendar
from tracking.planio import check_plan_text, read_plan_file
from tracking.settings import Settings, get_settings
from tracking.status import Action

D = dt.date
CAL = WorkCalendar()
K = ReminderKind

PLAN = small_plan(
    **{
        "  - code: STC\n    name: Sở Tài chính\n": (
            "  - code: STC\n    name: Sở Tài chính\n    contacts:\n"
            "      - name: Ngô Thị F\n        email: f@example.gov.vn\n        is_head: true\n"
            "      - name: Trần Văn E\n        email: e@example.gov.vn\n"
        ),
        "        is_coordinator: true\n": (
            "        is_coordinator: true\n"
            "      - name: Phạm Thị D\n        email: d@example.gov.vn\n"
        ),
    }
)


def policy(**changes: Any) -> reminders.Policy:
    base = reminders.Policy(frozenset({5, 2}), True, True, 2, 5, True, dt.time(21), dt.time(7))
    return dataclasses.replace(base, **changes)


def assignment(due: dt.date, state: S = S.IN_PROGRESS, ident: int = 1) -> Assignment:
    return Assignment(
        id=ident,
        plan_id=1,
        code=f"A{ident}",
        title="t",
        lead_department_id=10,
        due=due,
        state=state,
    )


def kinds_on(today: dt.date, row: Assignment, **changes: Any) -> list[tuple[ReminderKind, str]]:
    notices = reminders.daily_notices(
        [row], {row.id or 0: [20]}, 99, today, CAL, policy(**changes), event_date=None
    )
    return [(n.kind, n.role) for n in notices]


# --- the policy, day by day -------------------------------------------------------------

DUE = D(2024, 2, 29)  # Thursday


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (D(2024, 2, 21), []),  # 6 working days left
        (D(2024, 2, 22), [(K.UPCOMING, "lead"), (K.UPCOMING, "cooperating")]),  # 5 left
        (D(2024, 2, 23), []),
        (D(2024, 2, 27), [(K.UPCOMING, "lead"), (K.UPCOMING, "cooperating")]),  # 2 left
        (D(2024, 2, 29), [(K.DUE_TODAY, "lead")]),
        (D(2024, 3, 1), [(K.OVERDUE, "lead"), (K.OVERDUE, "cooperating")]),
        (D(2024, 3, 2), []),  # Saturday: no reminders on days off
        (
            D(2024, 3, 4),
            [
                (K.OVERDUE, "lead"),
                (K.OVERDUE, "cooperating"),
                (K.ESCALATION, "head"),
                (K.ESCALATION, "coordinator"),
            ],
        ),  # 2 late
        (D(2024, 3, 5), [(K.OVERDUE, "lead"), (K.OVERDUE, "cooperating")]),
        (
            D(2024, 3, 11),
            [
                (K.OVERDUE, "lead"),
                (K.OVERDUE, "cooperating"),
                (K.ESCALATION, "head"),
                (K.ESCALATION, "coordinator"),
            ],
        ),  # weekly
    ],
)
def test_daily_policy(today: dt.date, expected: list[tuple[ReminderKind, str]]) -> None:
    assert kinds_on(today, assignment(DUE)) == expected


def test_upcoming_counts_working_days_across_tet() -> None:
    # Due Monday 19/02/2024: 5 working days before is Monday 05/02 (Tết 08–14/02 skipped).
    due = D(2024, 2, 19)
    assert kinds_on(D(2024, 2, 5), assignment(due)) == [
        (K.UPCOMING, "lead"),
        (K.UPCOMING, "cooperating"),
    ]
    assert kinds_on(D(2024, 2, 2), assignment(due)) == []  # 6 working days left
    assert kinds_on(D(2024, 2, 9), assignment(due)) == []  # a Tết day: nothing


@pytest.mark.parametrize("state", [S.SUBMITTED, S.DONE, S.CANCELLED, S.PAUSED])
def test_no_reminders_once_work_is_handed_in_or_closed(state: S) -> None:
    assert kinds_on(D(2024, 3, 4), assignment(DUE, state)) == []


def test_policy_overrides() -> None:
    row = assignment(DUE)
    assert kinds_on(D(2024, 2, 22), row, copy_cooperating=False) == [(K.UPCOMING, "lead")]
    assert kinds_on(D(2024, 2, 28), row, upcoming_days=frozenset({1})) == [
        (K.UPCOMING, "lead"),
        (K.UPCOMING, "cooperating"),
    ]
    assert kinds_on(D(2024, 3, 1), row, escalate_after=1) == [
        (K.OVERDUE, "lead"),
        (K.OVERDUE, "cooperating"),
        (K.ESCALATION, "head"),
        (K.ESCALATION, "coordinator"),
    ]


def test_send_time_respects_quiet_hours_and_days_off() -> None:
    def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
        return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=clock.VN_TZ)

    p = policy()
    friday = D(2024, 3, 1)
    assert reminders.send_time(at(friday, 10), CAL, p) == at(friday, 10)
    assert reminders.send_time(at(friday, 6, 30), CAL, p) == at(friday, 7)
    assert reminders.send_time(at(friday, 21, 30), CAL, p) == at(D(2024, 3, 4), 7)  # Monday
    assert reminders.send_time(at(D(2024, 2, 10), 9), CAL, p) == at(D(2024, 2, 15), 7)  # Tết


# --- the outbox on a real database ------------------------------------------------------


def load(session: Session, text: str = PLAN) -> Plan:
    store.load_plan(session, check_plan_text(text.encode(), "x.yaml"), "kiem-thu")
    session.commit()
    return store.get_plan(session, "thu-nghiem")


def outbox(session: Session) -> list[OutboxMessage]:
    return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))  # type: ignore[arg-type]


def summary(rows: list[OutboxMessage], session: Session) -> Counter[tuple[str, str | None, str]]:
    return Counter(
        (
            r.kind.value,
            store.outbox_view(session, r)["assignment"],
            store.outbox_view(session, r)["recipient"],
        )
        for r in rows
    )


def test_activation_sends_each_unit_its_list_once(session: Session) -> None:
    load(session)
    _, kickoff = store.activate_plan(session, "thu-nghiem", "dieu-phoi", D(2024, 2, 1))
    session.commit()
    assert kickoff is not None and kickoff.added == 2
    recipients = {(r.kind, store.outbox_view(session, r)["recipient"]) for r in outbox(session)}
    # Working staff, not heads: Phạm Thị D for SNV; Trần Văn E for STC (cooperates on A,
    # leads C).
    assert recipients == {(K.KICKOFF, "Phạm Thị D"), (K.KICKOFF, "Trần Văn E")}
    again = store.activate_plan(session, "thu-nghiem", "dieu-phoi", D(2024, 2, 2))
    session.commit()
    assert again[1] is None and len(outbox(session)) == 2


def test_inactive_plans_get_no_reminders(session: Session) -> None:
    load(session)
    result = reminders.enqueue_daily(
        session, D(2024, 3, 1), clock.now_for(D(2024, 3, 1)), CAL, get_settings()
    )
    assert result.considered == 0 and outbox(session) == []


def test_enqueuing_the_same_day_twice_adds_nothing(session: Session) -> None:
    load(session)
    store.activate_plan(session, "thu-nghiem", "x", D(2024, 2, 1))
    day = D(2024, 3, 4)  # A (due 28/02) is 3 working days late; B due 01/03 is 1 day late
    first = reminders.enqueue_daily(session, day, clock.now_for(day), CAL, get_settings())
    session.commit()
    second = reminders.enqueue_daily(session, day, clock.now_for(day), CAL, get_settings())
    session.commit()
    assert first.added > 0 and second.considered == first.considered and second.added == 0
    rows = [r for r in outbox(session) if r.day == day]
    assert len(rows) == first.added
    got = summary(rows, session)
    assert got[("overdue", "A", "Phạm Thị D")] == 1
    assert got[("overdue", "A", "Trần Văn E")] == 1  # STC cooperates on A: a copy
    assert all(r.is_copy for r in rows if r.role == "cooperating")


def test_actions_notify_at_once_in_the_same_transaction(session: Session) -> None:
    load(session)
    store.activate_plan(session, "thu-nghiem", "x", D(2024, 2, 1))
    session.commit()
    before = len(outbox(session))
    today = D(2024, 2, 20)
    store.act(session, "A", store.ActionRequest(Action.BLOCK, "snv", reason="Thiếu hồ sơ"), today)
    store.act(session, "A", store.ActionRequest(Action.UNBLOCK, "snv"), today)
    store.act(session, "A", store.ActionRequest(Action.SUBMIT, "snv", note="Xong"), today)
    store.act(session, "A", store.ActionRequest(Action.CONFIRM, "ban-tdkt"), today)
    session.commit()
    new = outbox(session)[before:]
    got = {
        (
            r.kind,
            store.outbox_view(session, r)["assignment"],
            store.outbox_view(session, r)["recipient"],
        )
        for r in new
    }
    assert got == {
        (K.BLOCKED, "A", "Lê Văn C"),  # the coordinator
        (K.UNBLOCKED, "A", "Lê Văn C"),  # …and hears that the blocker was lifted
        (K.SUBMITTED, "A", "Lê Văn C"),
        (K.CONFIRMED, "A", "Phạm Thị D"),  # the lead unit's staff
        (K.PREREQUISITE_DONE, "B", "Phạm Thị D"),  # B and C wait on A
        (K.PREREQUISITE_DONE, "C", "Trần Văn E"),
    }


def prerequisite_notices(session: Session) -> Counter[tuple[str | None, str | None]]:
    rows = [r for r in outbox(session) if r.kind is K.PREREQUISITE_DONE]
    return Counter(
        (store.outbox_view(session, r)["assignment"], store.outbox_view(session, r)["recipient"])
        for r in rows
    )


def test_one_confirmation_tells_a_unit_about_each_of_its_dependents(session: Session) -> None:
    # Both B and C (led by SNV here) wait only on A: one confirmation, two notices to the same
    # person. They used to share one outbox subject, so the unique key kept only one.
    c_led_by_snv = "    title: Thẩm định kinh phí\n    lead: SNV"
    load(session, PLAN.replace("    title: Thẩm định kinh phí\n    lead: STC", c_led_by_snv))
    store.activate_plan(session, "thu-nghiem", "x", D(2024, 2, 1))
    today = D(2024, 2, 20)
    store.act(session, "A", store.ActionRequest(Action.SUBMIT, "snv"), today)
    store.act(session, "A", store.ActionRequest(Action.CONFIRM, "ban-tdkt"), today)
    session.commit()
    assert prerequisite_notices(session) == Counter(
        {("B", "Phạm Thị D"): 1, ("C", "Phạm Thị D"): 1}
    )


def test_can_start_goes_out_only_when_the_last_prerequisite_is_confirmed(
    session: Session,
) -> None:
    load(session)
    store.activate_plan(session, "thu-nghiem", "x", D(2024, 2, 1))
    today = D(2024, 2, 20)
    for code in ("A", "C", "B"):
        store.act(session, code, store.ActionRequest(Action.SUBMIT, "u"), today)
    store.act(session, "A", store.ActionRequest(Action.CONFIRM, "ban-tdkt"), today)
    store.act(session, "C", store.ActionRequest(Action.CONFIRM, "ban-tdkt"), today)
    session.commit()
    # HN waits on B and C: C is done, B is not, so HN hears nothing yet.
    assert ("HN", "Phạm Thị D") not in prerequisite_notices(session)
    store.act(session, "B", store.ActionRequest(Action.CONFIRM, "ban-tdkt"), today)
    session.commit()
    assert prerequisite_notices(session)[("HN", "Phạm Thị D")] == 1


def test_please_confirm_is_dropped_once_the_coordinator_has_confirmed(session: Session) -> None:
    load(session)
    store.activate_plan(session, "thu-nghiem", "x", D(2024, 2, 1))
    today = D(2024, 2, 20)
    store.act(session, "A", store.ActionRequest(Action.SUBMIT, "snv"), today)
    session.commit()
    asking = [r for r in outbox(session) if r.kind is K.SUBMITTED]
    assert asking and all(reminders.still_relevant(session, r) for r in asking)
    store.act(session, "A", store.ActionRequest(Action.CONFIRM, "ban-tdkt"), today)
    session.commit()
    assert not any(reminders.still_relevant(session, r) for r in asking)


def test_no_reminders_after_the_event_for_work_that_was_due_for_it(session: Session) -> None:
    load(session)  # event 15/03/2024 (Friday); A due 28/02, HN due 15/03
    store.activate_plan(session, "thu-nghiem", "x", D(2024, 2, 1))
    session.commit()

    def day(d: dt.date) -> Counter[tuple[str, str | None]]:
        result = reminders.enqueue_daily(session, d, clock.now_for(d), CAL, get_settings())
        session.commit()
        rows = store.outbox_rows(session, ids=list(result.new_ids))
        return Counter((r.kind.value, store.outbox_view(session, r)["assignment"]) for r in rows)

    assert day(D(2024, 3, 14))[("overdue", "A")] == 2  # the lead unit and STC's copy
    after = day(D(2024, 3, 18))  # the first working day after the event
    assert {kind for kind, _ in after} == {"event_passed"}
    assert after[("event_passed", "A")] == 1  # SNV leads and coordinates: one notice
    assert after[("event_passed", "HN")] == 1
    assert day(D(2024, 3, 19)) == Counter()  # the notice keeps its day: nothing again
    assert day(D(2024, 3, 27)) == Counter()
    rows = [r for r in outbox(session) if r.kind is K.EVENT_PASSED]
    assert {r.day for r in rows} == {D(2024, 3, 18)}


def test_a_failed_action_enqueues_nothing(session: Session) -> None:
    load(session)
    store.activate_plan(session, "thu-nghiem", "x", D(2024, 2, 1))
    session.commit()
    before = len(outbox(session))
    with pytest.raises(store.InvalidAction):
        store.act(session, "A", store.ActionRequest(Action.BLOCK, "snv"), D(2024, 2, 20))
    session.rollback()
    assert len(outbox(session)) == before


def test_replaying_the_an_giang_plan_day_by_day(session: Session) -> None:
    """The reminders the policy promises on a few chosen days of the real plan."""
    store.load_plan(session, read_plan_file(BUILTIN_PLAN), "kiem-thu")
    store.set_event_date(session, "an-giang-2024-hoi-nghi-thi-dua", D(2024, 3, 15), "x")
    store.activate_plan(session, "an-giang-2024-hoi-nghi-thi-dua", "x", D(2024, 1, 2))
    session.commit()
    settings = get_settings()

    def day(d: dt.date) -> Counter[tuple[str, str | None]]:
        result = reminders.enqueue_daily(session, d, clock.now_for(d), CAL, settings)
        session.commit()
        rows = store.outbox_rows(session, ids=list(result.new_ids))
        return Counter((r.kind.value, store.outbox_view(session, r)["assignment"]) for r in rows)

    by_day = {
        d: day(d)
        for d in (
            D(2024, 1, 19),
            D(2024, 1, 26),
            D(2024, 1, 29),
            D(2024, 1, 31),
            D(2024, 2, 7),
            D(2024, 2, 9),
        )
    }
    # VP-01 (issue the plan) is due 26/01/2024: 5 working days before is 19/01.
    assert by_day[D(2024, 1, 19)][("upcoming", "VP-01")] == 1
    assert by_day[D(2024, 1, 26)][("due_today", "VP-01")] == 1
    assert by_day[D(2024, 1, 29)][("overdue", "VP-01")] == 1
    assert ("escalation", "VP-01") not in by_day[D(2024, 1, 29)]
    # Two working days late on 30/01 → escalation to the head and the coordinator; on 31/01
    # only the daily overdue reminder; a Tết holiday (09/02) sends nothing at all.
    spec = read_plan_file(BUILTIN_PLAN).spec
    units = {u.code: u for u in spec.units}
    heads = sum(c.is_head for c in units["VP-UBND"].contacts)
    coordinators = sum(c.is_coordinator for c in units[spec.plan.coordinator].contacts)
    assert (heads, coordinators) == (1, 2)
    escalation = day(D(2024, 1, 30))
    assert escalation[("escalation", "VP-01")] == heads + coordinators
    assert by_day[D(2024, 1, 31)][("escalation", "VP-01")] == 0
    assert by_day[D(2024, 1, 31)][("overdue", "VP-01")] == 1
    assert by_day[D(2024, 2, 9)] == Counter()
    # A week of working days after the first escalation (30/01 + 5) is 06/02.
    assert day(D(2024, 2, 6))[("escalation", "VP-01")] == heads + coordinators
    assert by_day[D(2024, 2, 7)][("escalation", "VP-01")] == 0


def test_channels_follow_what_the_contact_has(session: Session) -> None:
    from models.tables import Contact

    off = Settings(home=get_settings().home)
    on = Settings(
        home=off.home,
        zalo_oa_id="1",
        zalo_app_id="2",
        zalo_secret_key="s",
        zalo_zns_template_id="t",
    )
    both = Contact(
        department_id=1,
        name="x",
        email="x@example.gov.vn",
        zalo_user_id="123",
        phone="0912345678",
        apprise_urls=["tgram://a/b"],
    )
    assert reminders.channels_of(both, off) == [(Channel.EMAIL, 0), (Channel.APPRISE, 0)]
    assert reminders.channels_of(both, on) == [(Channel.ZALO, 0), (Channel.APPRISE, 0)]
    phone_only = Contact(department_id=1, name="y", phone="0912345678", email="y@example.gov.vn")
    assert reminders.channels_of(phone_only, on) == [(Channel.ZNS, 0)]
    assert reminders.channels_of(phone_only, off) == [(Channel.EMAIL, 0)]


def test_claims_never_overlap(session: Session, clean_engine: object) -> None:
    load(session)
    store.activate_plan(session, "thu-nghiem", "x", D(2024, 2, 1))
    reminders.enqueue_daily(
        session, D(2024, 3, 4), clock.now_for(D(2024, 3, 4)), CAL, get_settings()
    )
    session.commit()
    total = len(outbox(session))
    now = clock.now_for(D(2024, 3, 4)) + dt.timedelta(hours=1)
    lease = dt.timedelta(minutes=5)
    with Session(clean_engine) as other:  # type: ignore[arg-type]
        _, first = reminders.claim(session, now, 3, lease, wall=now)
        _, second = reminders.claim(other, now, 100, lease, wall=now)
    assert len(first) == 3 and len(second) == total - 3
    assert not {m.id for m in first} & {m.id for m in second}
    # Not while the lease holds, whatever day is being replayed…
    assert reminders.claim(session, now + dt.timedelta(days=3), 100, lease, wall=now)[1] == []
    # …but once it has run out on the real clock (a crashed run), they can be claimed again.
    later = now + lease + dt.timedelta(seconds=1)
    _, again = reminders.claim(session, now, 100, lease, wall=later)
    assert len(again) == total
    assert {m.status for m in again} == {DeliveryStatus.SENDING}


def test_history_names_the_recipient_in_vietnamese(session: Session) -> None:
    from models.tables import Activity

    load(session)
    store.activate_plan(session, "thu-nghiem", "x", D(2024, 2, 1))
    session.commit()
    now = clock.now_for(D(2024, 2, 1))
    token, claimed = reminders.claim(session, now, 10, dt.timedelta(minutes=5))
    message = next(m for m in claimed if store.outbox_view(session, m)["recipient"] == "Trần Văn E")
    outcome = reminders.Outcome(DeliveryStatus.SENT, None, "accepted by E-Mail")
    assert reminders.finish(session, message, token, outcome, now)
    note = session.exec(select(Activity.note).where(Activity.action == "message_sent")).one()
    assert (
        note == "Triển khai kế hoạch gửi Ông/Bà Trần Văn E (Sở Tài chính) qua thư điện tử: đã gửi"
    )
