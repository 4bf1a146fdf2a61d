"""Crash loops: SIGKILL the commands that write, at random moments, many times over.

Each test starts a real ``giaoviec`` process, kills it after a random delay, starts the next
one, and so on; in the end it checks that nothing was lost, nothing was half-written, and
that each kill caused at most the messages in flight to be sent twice (one per sender). The kill
points come from a seeded generator whose seed is printed: ``GIAOVIEC_CRASH_SEED=N`` replays
the same sequence of delays and choices. ``pytest -s`` shows the figures of each loop;
``--soak`` runs many more kills.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from models.enums import AssignmentState, DeliveryStatus, ReminderKind
from models.tables import (
    Activity,
    Assignment,
    Contact,
    Department,
    Dependency,
    OutboxMessage,
    Plan,
)
from notifications.compose import compose
from services.day import sweep_day
from tests.conftest import BUILTIN_PLAN, cli_env, empty_tables
from tests.crash_helpers import (
    Aim,
    Figures,
    Runner,
    RunResult,
    crash_seed,
    footprint,
    generated_plan_yaml,
)
from tests.smtp_server import SmtpTestServer
from tracking import db, reminders, store
from tracking.planio import check_plan_text, read_plan_file
from tracking.settings import get_settings
from tracking.status import Action, next_state

ANG = "an-giang-2024-hoi-nghi-thi-dua"
EVENT = dt.date(2024, 3, 15)
ACTIVATED = dt.date(2024, 2, 1)  # kickoff messages are enqueued that day
FIRST_DAY = dt.date(2024, 2, 26)  # the first swept day: reminders start soon after
ACTION_DAY = dt.date(2024, 3, 4)
SUNDAY = dt.date(2024, 3, 3)  # a sweep on a day off does nothing: it measures start-up
LEASE_SECONDS = 1.0  # short, so the run after a kill can take back the rows it leased
SMTP_DELAY = 0.05  # the server's pause before accepting DATA: kills land mid-send
REFILL_BELOW = 20  # the delivery loop enqueues another day when fewer messages wait
# Emails in flight at once (GIAOVIEC_DELIVERY_CONCURRENCY): also how many a kill may leave
# sent but unrecorded. The sweep loop holds delivery to the strict one-at-a-time guarantee;
# the delivery loop runs with the default four senders.
SWEEP_SENDERS = 1
DELIVER_SENDERS = 4

# (plan, kind, day, assignment, unit, contact, channel, target, role, copy): an outbox row
# without database ids, so two databases can be compared.
OutboxKey = tuple[str, str, str, str | None, str, str, str, int, str, bool]


def kills(soak: bool, default: int, long: int) -> int:
    """How many kills a loop attempts: a few in CI, many under ``--soak``."""
    return long if soak else default


@pytest.fixture(scope="module")
def seed() -> int:
    value = crash_seed()
    print(f"\n[crash] seed {value} (replay with GIAOVIEC_CRASH_SEED={value})", flush=True)
    return value


@pytest.fixture
def smtp() -> Iterator[SmtpTestServer]:
    with SmtpTestServer() as server:
        server.delay_data(SMTP_DELAY)
        yield server


def delivery_runner(
    home: Path, database_url: str, smtp: SmtpTestServer, log: Path, senders: int
) -> Runner:
    env = cli_env(
        home,
        database_url,
        **smtp.env(),
        GIAOVIEC_USER="kiem-thu",
        GIAOVIEC_DELIVERY_LEASE_SECONDS=str(LEASE_SECONDS),
        GIAOVIEC_DELIVERY_CONCURRENCY=str(senders),
    )
    return Runner(env, log)


# --- the An Giang plan, and what an uninterrupted run owes --------------------------------


def set_up_an_giang(engine: Engine) -> None:
    """The built-in plan with its conference date, activated (its kickoff is enqueued)."""
    with Session(engine, expire_on_commit=False) as session:
        store.load_plan(session, read_plan_file(BUILTIN_PLAN), "kiem-thu")
        store.set_event_date(session, ANG, EVENT, "kiem-thu")
        store.activate_plan(session, ANG, "kiem-thu", ACTIVATED)
        session.commit()


def working_days(engine: Engine, start: dt.date, count: int) -> list[dt.date]:
    with Session(engine) as session:
        calendar = store.load_calendar(session)
    days: list[dt.date] = []
    day = start
    while len(days) < count:
        if calendar.is_working_day(day):
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def outbox_keys(engine: Engine) -> Counter[OutboxKey]:
    """Every outbox row, named by codes instead of ids (a Counter: duplicates would show)."""
    with Session(engine) as session:
        plans = {p.id: p.code for p in session.exec(select(Plan))}
        codes = {a.id: a.code for a in session.exec(select(Assignment))}
        units = {d.id: d.code for d in session.exec(select(Department))}
        people = {c.id: c.email or c.name for c in session.exec(select(Contact))}
        return Counter(
            (
                plans[row.plan_id],
                row.kind.value,
                row.day.isoformat(),
                codes[row.assignment_id] if row.assignment_id else None,
                units[row.department_id],
                people[row.contact_id],
                row.channel.value,
                row.target,
                row.role,
                row.is_copy,
            )
            for row in session.exec(select(OutboxMessage))
        )


def reference_outbox(folder: Path, days: Iterable[dt.date]) -> Counter[OutboxKey]:
    """The outbox that the same steps produce uninterrupted, in a SQLite file of its own.

    Enqueuing does not depend on what was delivered (nobody acts in these tests), so the
    never-killed database owes exactly the kickoff plus each swept day's reminders.
    """
    engine = db.get_engine(f"sqlite:///{folder / 'reference.db'}")
    db.migrate(engine)
    set_up_an_giang(engine)
    settings = get_settings()
    for day in days:
        sweep_day(engine, day, settings, send=False)
    keys = outbox_keys(engine)
    engine.dispose()
    return keys


# --- delivery bookkeeping -----------------------------------------------------------------


def rows_with_status(engine: Engine, *statuses: DeliveryStatus) -> int:
    with Session(engine) as session:
        query = select(func.count()).select_from(OutboxMessage)
        query = query.where(col(OutboxMessage.status).in_(list(statuses)))
        return int(session.exec(query).one())


class Ledger:
    """Messages that reached the SMTP server against rows recorded as sent, run by run.

    After a run, ``arrived - recorded`` is how many messages it sent without recording them:
    only those in flight when it was killed, so at most one per sender per kill (one with a
    single sender), and none for a run that ended by itself. Each of those is sent again
    later, once: a duplicate.
    """

    def __init__(
        self, engine: Engine, smtp: SmtpTestServer, figures: Figures, senders: int
    ) -> None:
        self.engine = engine
        self.smtp = smtp
        self.figures = figures
        self.senders = senders
        self.orphans = 0
        self._arrived, self._recorded = self._now()

    def _now(self) -> tuple[int, int]:
        return len(self.smtp.messages), rows_with_status(self.engine, DeliveryStatus.SENT)

    def after(self, result: RunResult) -> None:
        arrived, recorded = self._now()
        orphans = (arrived - self._arrived) - (recorded - self._recorded)
        self._arrived, self._recorded = arrived, recorded
        assert orphans >= 0, "rows were recorded as sent but their message never arrived"
        allowed = self.senders if result.killed else 0
        assert orphans <= allowed, (
            f"{orphans} messages went out unrecorded in one run (killed: {result.killed}); "
            f"at most {allowed} may:\n{result.output}"
        )
        self.orphans += orphans
        self.figures.bump("messages in flight at kills", orphans)
        if orphans:
            self.figures.bump("kills with messages in flight")


def check_outbox_invariant(
    engine: Engine, smtp: SmtpTestServer, expected: Counter[OutboxKey], ledger: Ledger
) -> None:
    """The outbox holds exactly what is owed, all sent; each owed message arrived; the
    duplicates are the messages in flight at kills; one ``message_sent`` activity per row."""
    assert outbox_keys(engine) == expected, (
        f"missing: {sorted((expected - outbox_keys(engine)).elements())[:5]}; "
        f"extra: {sorted((outbox_keys(engine) - expected).elements())[:5]}"
    )
    with Session(engine) as session:
        rows = list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))))
        unsent = [
            store.outbox_view(session, r) for r in rows if r.status is not DeliveryStatus.SENT
        ]
        assert not unsent, f"{len(unsent)} rows not sent, e.g. {unsent[:3]}"
        calendar = store.load_calendar(session)
        owed = Counter(
            (str(store.outbox_view(session, r)["address"]), compose(session, r, calendar).subject)
            for r in rows
        )
        outcomes = list(
            session.exec(select(Activity).where(col(Activity.action).startswith("message_")))
        )
    received = Counter((m.rcpt_tos[0], str(m.message["Subject"])) for m in smtp.messages)
    never = owed - received
    assert not never, f"{never.total()} owed messages never arrived, e.g. {list(never)[:3]}"
    stray = set(received) - set(owed)
    assert not stray, f"messages nobody owed arrived: {sorted(stray)[:3]}"
    duplicates = received.total() - owed.total()
    assert duplicates == ledger.orphans, (duplicates, ledger.orphans)
    assert duplicates <= ledger.figures.mid_run * ledger.senders
    # Every row's outcome is in the history exactly once, and nothing but a success is:
    # the SMTP server never refuses here, so a retry or failure would be a bug.
    assert {a.action for a in outcomes} <= {"message_sent"}, Counter(a.action for a in outcomes)
    assert Counter(a.to_value for a in outcomes) == Counter(str(r.id) for r in rows)
    ledger.figures.bump("messages owed", owed.total())
    ledger.figures.bump("duplicates received", duplicates)


# --- the sweep and delivery loops -----------------------------------------------------------

AIMED_SHARE = 0.6  # of the kills, how many wait for the run's first message (the rest: any time)
AIMED_WINDOW = 0.8  # seconds after that first message within which such a kill lands


def new_message(smtp: SmtpTestServer) -> Callable[[], bool]:
    """True once a message arrives that was not there when this was called."""
    seen = len(smtp.messages)
    return lambda: len(smtp.messages) > seen


def kill_delivering(
    runner: Runner,
    args: list[str],
    smtp: SmtpTestServer,
    aim: Aim,
    rng: random.Random,
    figures: Figures,
) -> RunResult:
    """Run a command that delivers, and kill it either at any moment of its life or, more
    often, at a random moment after its first message reached the server (mid-delivery)."""
    if rng.random() < AIMED_SHARE:
        delay = rng.uniform(0, AIMED_WINDOW)
        result = runner.run_and_kill(args, delay, after=new_message(smtp))
        figures.bump("aimed at mid-delivery")
    else:
        result = runner.run_and_kill(args, aim.delay(rng))
    figures.record(result)
    aim.learn(result)
    return result


@pytest.mark.slow
def test_killed_sweeps_lose_nothing_and_double_at_most_one_per_kill(
    clean_engine: Engine,
    home: Path,
    database_url: str,
    smtp: SmtpTestServer,
    soak: bool,
    seed: int,
    tmp_path: Path,
) -> None:
    """Kill ``giaoviec sweep --today D`` over and over while it recomputes, enqueues and
    sends; a day whose sweep was killed is swept again (as a retried schedule would)."""
    set_up_an_giang(clean_engine)
    rng = random.Random(f"{seed}:sweep")
    figures = Figures(f"sweep --today D, {SWEEP_SENDERS} sender", seed, clean_engine.dialect.name)
    runner = delivery_runner(home, database_url, smtp, tmp_path / "sweep.log", SWEEP_SENDERS)
    startup = runner.run(["sweep", "--today", SUNDAY.isoformat()]).elapsed
    ledger = Ledger(clean_engine, smtp, figures, SWEEP_SENDERS)
    days = working_days(clean_engine, FIRST_DAY, 400)
    # The first day uninterrupted: it tells how long a whole sweep takes here.
    whole = runner.run(["sweep", "--today", days[0].isoformat()])
    ledger.after(whole)
    aim = Aim(startup, whole.elapsed)
    current = 1
    for _ in range(kills(soak, 25, 200)):
        args = ["sweep", "--today", days[current].isoformat()]
        result = kill_delivering(runner, args, smtp, aim, rng, figures)
        ledger.after(result)
        if not result.killed:
            current += 1  # that day's sweep finished: the schedule moves on
    # The day in progress is swept once more to the end; its delivery runs as of 08:00 that
    # day, so rows leased by a run killed that same day are taken back by a delivery run
    # after their lease, as the next scheduled one would.
    ledger.after(runner.run(["sweep", "--today", days[current].isoformat()]))
    time.sleep(LEASE_SECONDS + 0.2)
    ledger.after(runner.run(["deliver"]))
    check_outbox_invariant(
        clean_engine, smtp, reference_outbox(tmp_path, days[: current + 1]), ledger
    )
    figures.bump("days swept", current + 1)
    figures.report()
    assert figures.mid_run > 0, "no kill landed while the sweep ran: the loop tested nothing"


@pytest.mark.slow
def test_killed_deliveries_lose_nothing_and_double_at_most_one_per_kill(
    clean_engine: Engine,
    home: Path,
    database_url: str,
    smtp: SmtpTestServer,
    soak: bool,
    seed: int,
    tmp_path: Path,
) -> None:
    """Kill ``giaoviec deliver`` over and over mid-send; the outbox is refilled one day of
    reminders at a time (as the daily sweep would) so every run has work."""
    set_up_an_giang(clean_engine)
    rng = random.Random(f"{seed}:deliver")
    figures = Figures(f"deliver, {DELIVER_SENDERS} senders", seed, clean_engine.dialect.name)
    runner = delivery_runner(home, database_url, smtp, tmp_path / "deliver.log", DELIVER_SENDERS)
    startup = runner.run(["deliver", "--limit", "0"]).elapsed
    aim = Aim(startup, startup + 1.0)  # a first guess, refined by the runs that finish
    ledger = Ledger(clean_engine, smtp, figures, DELIVER_SENDERS)
    days = working_days(clean_engine, FIRST_DAY, 400)
    enqueued: list[dt.date] = []
    settings = get_settings()
    for _ in range(kills(soak, 25, 200)):
        waiting = DeliveryStatus.PENDING, DeliveryStatus.SENDING
        while rows_with_status(clean_engine, *waiting) < REFILL_BELOW:
            day = days[len(enqueued)]
            sweep_day(clean_engine, day, settings, send=False)
            enqueued.append(day)
        result = kill_delivering(runner, ["deliver"], smtp, aim, rng, figures)
        ledger.after(result)
    time.sleep(LEASE_SECONDS + 0.2)  # the last killed run's lease runs out
    ledger.after(runner.run(["deliver"]))
    check_outbox_invariant(clean_engine, smtp, reference_outbox(tmp_path, enqueued), ledger)
    figures.bump("days enqueued", len(enqueued))
    figures.report()
    assert figures.mid_run > 0, "no kill landed while delivery ran: the loop tested nothing"


# --- plan load ----------------------------------------------------------------------------

PLAN_UNITS = 20
PLAN_ASSIGNMENTS = 200


def plan_versions(seed: int) -> tuple[str, str]:
    """Version 1 of a big generated plan, and version 2: every title edited, 20 more."""
    first = generated_plan_yaml(random.Random(seed), PLAN_UNITS, PLAN_ASSIGNMENTS)
    second = generated_plan_yaml(random.Random(seed), PLAN_UNITS, PLAN_ASSIGNMENTS + 20)
    second = second.replace("title: Nhiệm vụ thử nghiệm số", "title: Nhiệm vụ (sửa) số")
    # The first 300 assignments of both come from the same random draws, hence the same
    # leads, cooperators, deadlines and prerequisites: only the titles and the new 20 differ.
    assert second.count("(sửa)") == PLAN_ASSIGNMENTS + 20
    return first, second


def plan_state(engine: Engine) -> dict[str, int]:
    """The footprint of the tables, plus how many titles carry version 2's edit."""
    found = footprint(engine)
    with Session(engine) as session:
        query = select(func.count()).select_from(Assignment)
        edited = session.exec(query.where(col(Assignment.title).contains("(sửa)"))).one()
    return {**found, "edited titles": int(edited)}


def still_loading(engine: Engine) -> bool:
    with Session(engine) as session:
        loading = session.exec(select(Plan).where(col(Plan.loading).is_(True))).first()
        if loading is not None:
            assert store.list_plans(session) == [], "a plan still loading was visible"
        return loading is not None


def assignment_versions(engine: Engine) -> dict[str, tuple[int, str | None]]:
    with Session(engine) as session:
        return {
            a.code: (a.version, a.due.isoformat() if a.due else None)
            for a in session.exec(select(Assignment))
        }


@pytest.mark.slow
def test_killed_plan_load_leaves_the_plan_absent_or_whole(
    clean_engine: Engine, home: Path, database_url: str, soak: bool, seed: int, tmp_path: Path
) -> None:
    """Kill ``giaoviec plan load`` of a new plan (absent or whole afterwards) and of an
    update (old or new version afterwards, never a mix); then loading works and is idempotent.
    """
    first, second = plan_versions(seed)
    files = {"v1": tmp_path / "ke-hoach-v1.yaml", "v2": tmp_path / "ke-hoach-v2.yaml"}
    files["v1"].write_text(first, encoding="utf-8")
    files["v2"].write_text(second, encoding="utf-8")
    for text, name in ((first, "v1"), (second, "v2")):
        check_plan_text(text.encode(), name)  # both are valid plans
    runner = Runner(cli_env(home, database_url, GIAOVIEC_USER="kiem-thu"), tmp_path / "load.log")
    rng = random.Random(f"{seed}:plan-load")
    figures = Figures("plan load", seed, clean_engine.dialect.name)

    # What an uninterrupted load leaves: nothing, v1 loaded, v1 then v2 loaded.
    states = {"absent": plan_state(clean_engine)}
    assert set(states["absent"].values()) == {0}
    # Validating reads and checks the file without the database: the start-up of a load.
    startup = runner.run(["plan", "validate", str(files["v1"])]).elapsed
    aims = {"v1": Aim(startup, runner.run(["plan", "load", str(files["v1"])]).elapsed)}
    states["v1"] = plan_state(clean_engine)
    aims["v2"] = Aim(startup, runner.run(["plan", "load", str(files["v2"])]).elapsed)
    states["v2"] = plan_state(clean_engine)
    assert states["v1"]["assignment"] == PLAN_ASSIGNMENTS
    assert states["v1"]["assignment_cooperator"] == 2 * PLAN_ASSIGNMENTS
    assert states["v1"]["dependency"] > PLAN_ASSIGNMENTS // 2
    assert states["v2"]["edited titles"] == PLAN_ASSIGNMENTS + 20
    assert len({tuple(s.items()) for s in states.values()}) == 3  # all three tell apart

    # absent → load v1 → v1 → load v2 → v2 → wipe → absent …: each kill hits a first load
    # or an update, and afterwards only the state before or the state after may be seen.
    step = {"absent": "v1", "v1": "v2"}
    current = "absent"
    empty_tables(clean_engine)
    for _ in range(kills(soak, 15, 100)):
        if current == "v2":
            empty_tables(clean_engine)
            current = "absent"
        target = step[current]
        delay = aims[target].delay(rng)
        result = runner.run_and_kill(["plan", "load", str(files[target])], delay)
        figures.record(result)
        aims[target].learn(result)
        if still_loading(clean_engine):
            # A new plan killed between its batches: reads ignore it (as absent), and the
            # next load completes it (checked at the end: exactly the state of one load).
            assert result.killed and current == "absent", "a finished load left it loading"
            figures.bump("killed between batches (plan loading, invisible)")
            continue
        seen = plan_state(clean_engine)
        found = [name for name in (current, target) if states[name] == seen]
        assert found, f"load of {target} over {current} left a mix: {seen}"
        if not result.killed:
            assert found == [target], f"a load that finished left {found}"
        elif found == [current]:
            figures.bump(f"killed before commit ({current} kept)")
        else:
            figures.bump(f"killed after commit ({target} whole)")
        current = found[0]

    # Whatever the loop left, the next load succeeds, and loading the same file again
    # changes nothing at all: no version, due date or history row moves.
    target = step.get(current, "v1")
    if current == "v2":
        empty_tables(clean_engine)
    runner.run(["plan", "load", str(files[target])])
    assert plan_state(clean_engine) == states[target]
    versions = assignment_versions(clean_engine)
    again = runner.run(["plan", "load", str(files[target])])
    assert "thêm 0, sửa 0, hủy 0" in " ".join(again.output.split()), again.output
    assert plan_state(clean_engine) == states[target]
    assert assignment_versions(clean_engine) == versions
    figures.report()
    assert figures.mid_run > 0, "no kill landed while the plan loaded: the loop tested nothing"


# --- lifecycle actions ----------------------------------------------------------------------

LIFECYCLE = frozenset(a.value for a in Action)
# The outbox kind an action's own notice has, and the role that receives it.
NOTICE_OF = {
    Action.SUBMIT: (ReminderKind.SUBMITTED, "coordinator"),
    Action.CONFIRM: (ReminderKind.CONFIRMED, "lead"),
    Action.RETURN: (ReminderKind.RETURNED, "lead"),
}
EVENT_KINDS = frozenset(
    {
        ReminderKind.SUBMITTED,
        ReminderKind.CONFIRMED,
        ReminderKind.RETURNED,
        ReminderKind.PREREQUISITE_DONE,
        ReminderKind.BLOCKED,
        ReminderKind.EXTENDED,
    }
)


def set_up_generated_plan(engine: Engine, text: str) -> dict[int, int]:
    """A generated plan, activated; returns each assignment's version before any action."""
    with Session(engine, expire_on_commit=False) as session:
        result = store.load_plan(session, check_plan_text(text.encode(), "sinh.yaml"), "x")
        store.activate_plan(session, result.plan_code, "kiem-thu", ACTIVATED)
        session.commit()
        return {a.id or 0: a.version for a in session.exec(select(Assignment))}


def action_count(engine: Engine) -> int:
    with Session(engine) as session:
        query = select(func.count()).select_from(Activity)
        return int(session.exec(query.where(col(Activity.action).in_(LIFECYCLE))).one())


def choose_action(engine: Engine, rng: random.Random) -> list[str]:
    """A random assignment and an action its current state allows, as CLI arguments."""
    with Session(engine) as session:
        rows = list(session.exec(select(Assignment).order_by(col(Assignment.code))))
    open_rows = [r for r in rows if r.state is not AssignmentState.DONE]
    assert open_rows, "every assignment is done: the loop needs a bigger plan"
    row = rng.choice(open_rows)
    day = ["--today", ACTION_DAY.isoformat()]
    if row.state is AssignmentState.SUBMITTED:
        if rng.random() < 0.3:
            return ["confirm", row.code, "--by", "Thủ trưởng 00", "--note", "Đạt", *day]
        return ["return", row.code, "--reason", "Chưa đạt yêu cầu", "--by", "Thủ trưởng 00", *day]
    if row.state is AssignmentState.NOT_STARTED and rng.random() < 0.2:
        return ["start", row.code, "--by", "Chuyên viên", *day]
    return ["submit", row.code, "--by", "Chuyên viên", "--note", "Đã hoàn thành", *day]


def check_histories(engine: Engine, baseline: dict[int, int]) -> int:
    """Each assignment's state and version agree with its history, which follows the state
    machine; each action has exactly its own outbox rows. Returns the number of actions."""
    with Session(engine) as session:
        assignments = list(session.exec(select(Assignment)))
        history: dict[int, list[Activity]] = defaultdict(list)
        query = select(Activity).where(col(Activity.action).in_(LIFECYCLE))
        for activity in session.exec(query.order_by(col(Activity.id))):
            history[activity.assignment_id or 0].append(activity)
        outbox: dict[int | None, list[OutboxMessage]] = defaultdict(list)
        for message in session.exec(select(OutboxMessage)):
            outbox[message.activity_id].append(message)
        contacts: dict[int, list[Contact]] = defaultdict(list)
        for contact in session.exec(select(Contact).order_by(col(Contact.id))):
            contacts[contact.department_id].append(contact)
        plan = session.exec(select(Plan)).one()
        dependents: dict[int, set[int]] = defaultdict(set)
        for link in session.exec(select(Dependency)):
            dependents[link.prerequisite_id].add(link.assignment_id)
    # Kickoff and daily rows have no activity; every event message has one.
    assert all(m.kind not in EVENT_KINDS for m in outbox[None])
    actions = 0
    for row in assignments:
        assert row.id is not None
        state = AssignmentState.NOT_STARTED
        for activity in history[row.id]:
            action = Action(activity.action)
            assert activity.field == "state" and activity.from_value == state.value, activity
            state = next_state(state, action)
            assert activity.to_value == state.value, activity
            messages = outbox.pop(activity.id, [])
            if action in NOTICE_OF:
                kind, role = NOTICE_OF[action]
                unit = plan.coordinator_department_id if role == "coordinator" else None
                people = reminders.recipients(contacts[unit or row.lead_department_id], role)
                own = [m for m in messages if m.kind is kind]
                assert len(own) == len(people) > 0, (activity, messages)
                others = [m for m in messages if m.kind is not kind]
                # A confirmation also tells its dependents' leads that they can start.
                assert all(
                    action is Action.CONFIRM
                    and m.kind is ReminderKind.PREREQUISITE_DONE
                    and m.assignment_id in dependents[row.id]
                    for m in others
                ), (activity, others)
            else:
                assert not messages, (activity, messages)
        assert row.state is state, (row.code, row.state, history[row.id])
        assert row.version == baseline[row.id] + len(history[row.id]), row.code
        actions += len(history[row.id])
    leftover = {k: v for k, v in outbox.items() if k is not None}
    assert not leftover, f"outbox rows of an action that is not in the history: {leftover}"
    return actions


@pytest.mark.slow
def test_killed_actions_keep_state_history_and_outbox_together(
    clean_engine: Engine, home: Path, database_url: str, soak: bool, seed: int, tmp_path: Path
) -> None:
    """Kill ``giaoviec submit|confirm|return|start``: after each kill, every action is whole
    (state, version, activity, outbox rows) or absent, and the history obeys the state
    machine."""
    text = generated_plan_yaml(random.Random(seed), 8, 60)
    baseline = set_up_generated_plan(clean_engine, text)
    runner = Runner(cli_env(home, database_url, GIAOVIEC_USER="kiem-thu"), tmp_path / "act.log")
    rng = random.Random(f"{seed}:actions")
    figures = Figures("lifecycle actions", seed, clean_engine.dialect.name)
    # Showing an assignment reads what an action reads, without writing: its start-up. One
    # action uninterrupted must be applied, and tells how long a whole action takes.
    startup = runner.run(["show", "A0000"]).elapsed
    aim = Aim(startup, runner.run(choose_action(clean_engine, rng)).elapsed)
    assert check_histories(clean_engine, baseline) == 1
    for _ in range(kills(soak, 15, 100)):
        before = action_count(clean_engine)
        result = runner.run_and_kill(choose_action(clean_engine, rng), aim.delay(rng))
        figures.record(result)
        aim.learn(result)
        applied = check_histories(clean_engine, baseline) - before
        assert applied in ((0, 1) if result.killed else (1,)), (applied, result.output)
        if result.killed:
            figures.bump("killed, action applied" if applied else "killed, action absent")
    actions = check_histories(clean_engine, baseline)
    figures.bump("actions in the history", actions)
    figures.report()
    assert figures.mid_run > 0, "no kill landed while an action ran: the loop tested nothing"
