"""The Prefect flows, run for real against a temporary Prefect server (one per test session).

The flows run in this process against the test database (the ``clean_engine`` fixture);
the messages they send land as .eml files under GIAOVIEC_HOME (no SMTP host) or in a real
SMTP server on loopback.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

# Prefect reads its settings once, when imported: these must come before it.
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
if "PREFECT_HOME" not in os.environ:
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="giaoviec-prefect-test-")
    atexit.register(shutil.rmtree, os.environ["PREFECT_HOME"], ignore_errors=True)

import datetime as dt
import email
import email.policy
import io
import json
import threading
from collections import Counter
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import yaml
from openpyxl import load_workbook
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select
from typer.testing import CliRunner

from cli.flow_commands import app as flow_cli
from flows import deployments
from flows.daily_sweep import daily_sweep
from flows.kickoff import kickoff
from flows.weekly_report import WeeklyReportNotDelivered, weekly_report
from models.enums import DeliveryStatus, ReminderKind
from models.tables import Activity, OutboxMessage, Plan
from notifications.delivery import deliver
from tests.conftest import BUILTIN_PLAN, REPO
from tests.smtp_server import SmtpTestServer
from tracking import clock, store
from tracking.planio import read_plan_file
from tracking.settings import get_settings
from tracking.status import Action

ANG = "an-giang-2024-hoi-nghi-thi-dua"
D = dt.date
EVENT = D(2024, 3, 15)
ACTIVATED = D(2024, 2, 1)
MONDAY = D(2024, 3, 4)  # 9 working days before the conference: some work is overdue
SATURDAY = D(2024, 3, 9)
COORDINATORS = {"truongban.bantdkt@example.gov.vn", "chuyenvien.bantdkt@example.gov.vn"}
COLUMNS = [
    "Đơn vị",
    "Hoàn thành đúng hạn",
    "Hoàn thành quá hạn",
    "Trong hạn",
    "Sắp đến hạn",
    "Quá hạn",
    "Chưa có thời hạn",
]
TIMELINESS_COLUMNS = {
    "done_on_time": "Hoàn thành đúng hạn",
    "done_late": "Hoàn thành quá hạn",
    "open_in_time": "Trong hạn",
    "due_soon": "Sắp đến hạn",
    "overdue": "Quá hạn",
    "no_deadline": "Chưa có thời hạn",
}


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """One temporary Prefect server for the whole session (it takes ~15 s to start)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    os.register_at_fork(after_in_child=_drop_prefect_exit_hooks)
    with (
        prefect_test_harness(server_startup_timeout=120),
        # No heartbeat events from in-process flow runs: nothing listens to them here.
        temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield


def _drop_prefect_exit_hooks() -> None:
    """In a child forked from this test process (other tests fork), after Prefect's own reset.

    Prefect 3.8 registers a thread-exit hook per background service; after a fork its reset
    leaves the service without the event that hook waits on, so the hook fails and the child
    exits with code 1 whatever it did. The services do not exist in the child: drop the hooks.
    """
    hooks: list[Any] = threading._threading_atexits  # type: ignore[attr-defined]
    hooks[:] = [hook for hook in hooks if not _of_prefect(getattr(hook, "func", hook))]


def _of_prefect(hook: Any) -> bool:
    return type(getattr(hook, "__self__", None)).__module__.startswith("prefect.")


def load_an_giang(session: Session, *, activate: bool = True) -> None:
    store.load_plan(session, read_plan_file(BUILTIN_PLAN), "kiem-thu")
    store.set_event_date(session, ANG, EVENT, "x")
    if activate:
        store.activate_plan(session, ANG, "x", ACTIVATED)
    session.commit()


def use_smtp(smtp: SmtpTestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "HOST": smtp.host,
        "PORT": str(smtp.port),
        "SECURITY": "none",
        "FROM": "tdkt@example.gov.vn",
    }.items():
        monkeypatch.setenv(f"GIAOVIEC_SMTP_{name}", value)
    get_settings.cache_clear()


def outbox_count(session: Session, **where: Any) -> int:
    session.expire_all()
    query = select(func.count()).select_from(OutboxMessage)
    for name, value in where.items():
        query = query.where(col(getattr(OutboxMessage, name)) == value)
    return session.exec(query).one()


def eml_files(pattern: str = "*.eml") -> list[Path]:
    return sorted(get_settings().outbox_folder.rglob(pattern))


def read_mail(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def artifacts(flow_run_id: UUID, key: str) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterKey,
        FlowRunFilter,
        FlowRunFilterId,
    )

    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
        )


# --- daily sweep ------------------------------------------------------------------------


@pytest.mark.usefixtures("prefect_api")
def test_daily_sweep_twice_sends_nothing_new(session: Session, clean_engine: Engine) -> None:
    load_an_giang(session)
    first = daily_sweep(today=MONDAY)
    assert first.working_day
    daily_rows = outbox_count(session, day=MONDAY)
    assert first.enqueued == daily_rows > 0
    everything = outbox_count(session)  # today's reminders and the kickoff lists
    assert first.delivered == {"sent": everything}
    assert len(eml_files()) == everything
    assert outbox_count(session, status=DeliveryStatus.SENT) == everything

    second = daily_sweep(today=MONDAY)
    assert second.working_day
    assert (second.enqueued, second.already_queued) == (0, first.enqueued)
    assert second.delivered == {}
    assert outbox_count(session) == everything
    assert len(eml_files()) == everything


@pytest.mark.usefixtures("prefect_api")
def test_days_off_are_skipped_but_make_up_saturdays_are_not(
    session: Session, clean_engine: Engine
) -> None:
    load_an_giang(session)
    kickoff_rows = outbox_count(session)
    skipped = daily_sweep(today=SATURDAY)
    assert not skipped.working_day
    assert "ngày nghỉ" in skipped.message and "Thứ Bảy" in skipped.message
    assert (skipped.enqueued, skipped.delivered) == (0, {})
    assert outbox_count(session) == kickoff_rows  # nothing enqueued
    assert eml_files() == []  # nothing sent, not even the waiting kickoff lists

    store.set_calendar_override(session, SATURDAY, True, "Làm bù (thử nghiệm)", "x")
    session.commit()
    worked = daily_sweep(today=SATURDAY)
    assert worked.working_day
    assert worked.enqueued == outbox_count(session, day=SATURDAY) > 0


@pytest.mark.usefixtures("prefect_api")
def test_progress_artifact_counts_per_unit(session: Session, clean_engine: Engine) -> None:
    load_an_giang(session)
    for code, submitted in (("SNV-01", D(2024, 2, 20)), ("TC-01", D(2024, 2, 27))):
        store.act(session, code, store.ActionRequest(Action.SUBMIT, "don-vi"), submitted)
        store.act(session, code, store.ActionRequest(Action.CONFIRM, "snv"), D(2024, 2, 28))
    session.commit()
    state = daily_sweep(today=MONDAY, return_state=True)
    assert state.is_completed()
    flow_run_id = state.state_details.flow_run_id
    assert flow_run_id is not None

    [table] = artifacts(flow_run_id, f"tien-do-{ANG}")
    assert table.type == "table"
    rows = json.loads(table.data)
    assert [list(row) for row in rows] == [COLUMNS] * len(rows)

    expected: dict[str, Counter[str]] = {}
    for view in store.plan_status(session, MONDAY, ANG):
        counts = expected.setdefault(view.lead_name, Counter())
        if view.timeliness is not None:
            counts[TIMELINESS_COLUMNS[view.timeliness.value]] += 1
    *units, total = rows
    assert [row["Đơn vị"] for row in units] == list(expected)
    for row in units:
        assert {c: row[c] for c in COLUMNS[1:]} == {
            c: expected[row["Đơn vị"]][c] for c in COLUMNS[1:]
        }
    assert total["Đơn vị"] == "Tổng cộng"
    # SNV-01 was handed in before its deadline (28/02), TC-01 after its own (23/02).
    assert (total["Hoàn thành đúng hạn"], total["Hoàn thành quá hạn"]) == (1, 1)
    assert total["Quá hạn"] > 0
    assert sum(total[c] for c in COLUMNS[1:]) == sum(sum(c.values()) for c in expected.values())

    [summary] = artifacts(flow_run_id, "quet-hang-ngay")
    assert summary.type == "markdown"
    assert "Quét hằng ngày — Thứ Hai, 04/03/2024" in summary.data
    assert f"Quá hạn: **{total['Quá hạn']}**" in summary.data


# --- kickoff ----------------------------------------------------------------------------


@pytest.mark.usefixtures("prefect_api")
def test_kickoff_activates_and_delivers_once(session: Session, clean_engine: Engine) -> None:
    load_an_giang(session, activate=False)
    first = kickoff(ANG, today=ACTIVATED)
    assert first.newly_activated and first.plan_code == ANG
    assert first.enqueued == outbox_count(session, kind=ReminderKind.KICKOFF) > 0
    assert first.delivered == {"sent": first.enqueued}
    assert len(eml_files()) == first.enqueued
    plan = session.exec(select(Plan).where(Plan.code == ANG)).one()
    session.refresh(plan)
    assert plan.activated_at is not None

    again = kickoff(ANG, today=ACTIVATED)
    assert not again.newly_activated
    assert (again.enqueued, again.delivered) == (0, {})
    assert "không gửi lại" in again.message
    assert len(eml_files()) == first.enqueued


@pytest.mark.usefixtures("prefect_api")
def test_kickoff_of_an_unknown_plan_fails_with_a_message(
    session: Session, clean_engine: Engine
) -> None:
    with pytest.raises(store.NotFound, match="Không tìm thấy kế hoạch"):
        kickoff("khong-co", today=ACTIVATED)


# --- weekly report ----------------------------------------------------------------------


WEEKLY_FILES = "*-weekly_report-*.eml"


@pytest.mark.usefixtures("prefect_api")
def test_weekly_report_writes_one_email_per_coordinator(
    session: Session, clean_engine: Engine
) -> None:
    load_an_giang(session)
    state = weekly_report(today=MONDAY, return_state=True)
    summary = state.result()
    assert summary.sent == 2 and summary.failed == ()
    files = eml_files(WEEKLY_FILES)
    assert len(files) == 2
    mails = [read_mail(path) for path in files]
    assert {m["To"].addresses[0].addr_spec for m in mails} == COORDINATORS
    mail = mails[0]
    assert mail["Subject"].startswith(
        "Báo cáo tuần: tình hình thực hiện kế hoạch đến ngày 04/03/2024 (quá hạn: 5,"
    )
    text = mail.get_body(("plain",))
    assert text is not None
    body = text.get_content()
    overdue = [v.code for v in store.plan_status(session, MONDAY, ANG) if v.timeliness == "overdue"]
    assert len(overdue) == 5 and all(f"[{code}]" in body for code in overdue)
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_filename() == f"bao-cao-{ANG}-2024-03-04.xlsx"
    workbook = load_workbook(io.BytesIO(attachment.get_content()))
    assert "Tổng hợp" in workbook.sheetnames
    # The report is in the outbox and the history like every other message.
    weekly = {"kind": ReminderKind.WEEKLY_REPORT, "day": MONDAY}
    assert outbox_count(session, **weekly, status=DeliveryStatus.SENT) == 2
    notes = session.exec(select(Activity.note).where(Activity.action == "message_sent")).all()
    assert sum("Báo cáo tuần gửi Ông/Bà" in (note or "") for note in notes) == 2

    # The Prefect UI gets the table per unit and the overdue list.
    flow_run_id = state.state_details.flow_run_id
    assert flow_run_id is not None
    [artifact] = artifacts(flow_run_id, f"bao-cao-tuan-{ANG}")
    assert "| " + " | ".join(COLUMNS) + " |" in artifact.data
    assert "Nhiệm vụ quá hạn: **5**" in artifact.data
    assert all(f"**{code}**" in artifact.data for code in overdue)

    again = weekly_report(today=MONDAY)  # again: nothing new is enqueued, nothing re-sent
    assert again.sent == 2 and outbox_count(session, **weekly) == 2
    assert len(eml_files(WEEKLY_FILES)) == 2


@pytest.mark.usefixtures("prefect_api")
def test_weekly_report_by_smtp_reaches_every_coordinator_it_can(
    session: Session, clean_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_an_giang(session)

    def reports(smtp: SmtpTestServer) -> list[str]:
        return [
            m.rcpt_tos[0]
            for m in smtp.messages
            if str(m.message["Subject"]).startswith("Báo cáo tuần")
        ]

    with SmtpTestServer() as smtp:
        use_smtp(smtp, monkeypatch)
        assert weekly_report(today=MONDAY).sent == 2
        assert sorted(reports(smtp)) == sorted(COORDINATORS)
        for received in smtp.messages:
            if str(received.message["Subject"]).startswith("Báo cáo tuần"):
                [attachment] = list(received.message.iter_attachments())
                assert attachment.get_filename() == f"bao-cao-{ANG}-2024-03-04.xlsx"

        refused = "chuyenvien.bantdkt@example.gov.vn"
        smtp.reject(refused)  # 550: permanent, not retried
        with pytest.raises(WeeklyReportNotDelivered, match=refused):
            weekly_report(today=MONDAY + dt.timedelta(days=7))
        # The other coordinator still got that week's report.
        assert reports(smtp).count("truongban.bantdkt@example.gov.vn") == 2
    assert eml_files() == []


@pytest.mark.usefixtures("prefect_api")
def test_weekly_report_refused_for_now_is_sent_by_the_next_delivery(
    session: Session, clean_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_an_giang(session)
    deferred = "truongban.bantdkt@example.gov.vn"
    with SmtpTestServer() as smtp:
        use_smtp(smtp, monkeypatch)
        smtp.defer(deferred)  # 451: try again later
        summary = weekly_report(today=MONDAY)
        assert summary.sent == 1 and "1 thư sẽ được gửi lại sau" in summary.message
        smtp.accept_all()  # the server is fine again for the next delivery run
        later = clock.now_for(MONDAY) + dt.timedelta(hours=2)
        deliver(clean_engine, get_settings(), later)
        got = [m.rcpt_tos[0] for m in smtp.messages if "Báo cáo tuần" in str(m.message["Subject"])]
        assert sorted(got) == sorted(COORDINATORS)


# --- the command line -------------------------------------------------------------------


@pytest.mark.usefixtures("prefect_api")
def test_run_flow_sweep_command(session: Session, clean_engine: Engine) -> None:
    load_an_giang(session)
    result = CliRunner().invoke(flow_cli, ["run-flow", "sweep", "--today", "04/03/2024"])
    assert result.exit_code == 0, result.output
    assert "Quét ngày 04/03/2024" in result.output
    assert outbox_count(session, day=MONDAY) > 0
    assert len(eml_files()) == outbox_count(session, status=DeliveryStatus.SENT) > 0


# --- prefect.yaml (no Prefect server needed) --------------------------------------------


def test_prefect_yaml_matches_the_served_deployments() -> None:
    config = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    assert "secret" not in json.dumps(config).lower()
    listed = {d["entrypoint"]: d for d in config["deployments"]}
    assert set(listed) == {spec.entrypoint for spec in deployments.SPECS}
    for spec in deployments.SPECS:
        item = listed[spec.entrypoint]
        assert item["name"] == deployments.DEPLOYMENT_NAME
        assert item["description"] == spec.description
        assert item["work_pool"]["name"] == deployments.WORK_POOL
        # One run at a time is the flows' own lock; Prefect's slots do not survive restarts.
        assert "concurrency_limit" not in item
        schedules = item.get("schedules") or []
        if spec.cron is None:
            assert schedules == []
        else:
            assert schedules == [
                {"cron": spec.cron, "timezone": "Asia/Ho_Chi_Minh", "active": True}
            ]
        path, function = spec.entrypoint.split(":")
        assert (REPO / path).is_file()
        assert deployments.load_flow(spec).name == spec.flow_name
        assert deployments.load_flow(spec).fn.__name__ == function
