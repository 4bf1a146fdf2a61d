"""Restarts of ``giaoviec serve`` do not stop the schedules (issue 14, item 1).

``serve`` is stopped four times in the middle of a run — SIGTERM and SIGKILL, during a sweep
and during a delivery — and started again; then the next scheduled sweep and delivery
complete and every message owed is received exactly once by a real SMTP server.

A run is caught "in the middle" by the SMTP server holding its answer to RCPT: the run has
claimed its messages and is sending, and a sender killed there never reaches DATA, so nothing
is received twice. The schedules are short intervals (GIAOVIEC_SCHEDULE_SECONDS); the day is
chosen per start (GIAOVIEC_TODAY): a working day for the sweep phases, a Sunday for the
delivery phases (a sweep of a day off sends nothing, so delivery runs are the ones sending).
The delivery lease is short, so what a killed run had claimed is taken back quickly.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from models.enums import DeliveryStatus
from models.tables import Contact, OutboxMessage
from tests.conftest import BUILTIN_PLAN, REPO
from tests.smtp_server import SmtpTestServer, free_port
from tests.test_serve import api_is_up, serve_command, wait_for
from tracking import store
from tracking.planio import read_plan_file

ANG = "an-giang-2024-hoi-nghi-thi-dua"
MONDAY, TUESDAY, WEDNESDAY = dt.date(2024, 3, 4), dt.date(2024, 3, 5), dt.date(2024, 3, 6)
SUNDAY = dt.date(2024, 3, 10)
SWEEP, DELIVERY = "daily-sweep/giaoviec", "deliver-outbox/giaoviec"
# Each phase schedules often only the job it stops in the middle of (the other keeps its real
# schedule): a run process takes seconds to start on a busy machine, and the runner starts
# five at most.
SWEEPS: dict[str, float] = {"daily-sweep": 15}
DELIVERIES: dict[str, float] = {"deliver-outbox": 10}
BOTH: dict[str, float] = {"daily-sweep": 20, "deliver-outbox": 10}


@dataclasses.dataclass
class Started:
    proc: subprocess.Popen[bytes]
    log: Path
    api_url: str
    since: dt.datetime  # when this serve was started

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextmanager
def serving(
    home: Path, log: Path, smtp: SmtpTestServer, today: dt.date, every: dict[str, float]
) -> Iterator[Started]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PREFECT_") or k == "PREFECT_LOGGING_LEVEL"
    }
    env.update(
        smtp.env(),
        PYTHONPATH=str(REPO),
        GIAOVIEC_TODAY=today.isoformat(),
        GIAOVIEC_SCHEDULE_SECONDS=json.dumps(every),
        GIAOVIEC_DELIVERY_LEASE_SECONDS="6",
        GIAOVIEC_DELIVERY_BACKOFF_SECONDS="5",  # the least the settings accept
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_RUNNER_POLL_FREQUENCY="1",
        # The server's scheduler turns the intervals into runs every few seconds.
        PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="2",
    )
    port = free_port()
    with log.open("ab") as output:
        proc = subprocess.Popen(
            [*serve_command(), "--port", str(port)],
            env=env,
            cwd=home,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    started = Started(proc, log, f"http://127.0.0.1:{port}/api", dt.datetime.now(dt.UTC))
    try:
        wait_for("the Prefect API", lambda: api_is_up(started.api_url), 120, started)
        yield started
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid …": comm may hold spaces, so split after the last ")".
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def runs(client: Any, deployment: str, states: list[Any] | None = None) -> list[Any]:
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )

    deployment_id: UUID = client.read_deployment_by_name(deployment).id
    state_filter = None
    if states is not None:
        state_filter = FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=states))
        )
    found: list[Any] = client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
        flow_run_filter=state_filter,
    )
    return found


def deployments_registered(client: Any) -> bool:
    from prefect.exceptions import ObjectNotFound

    try:
        client.read_deployment_by_name("kickoff/giaoviec")
    except ObjectNotFound:
        return False
    return True


def stop_in_the_middle(
    started: Started, smtp: SmtpTestServer, deployment: str, sig: signal.Signals
) -> tuple[list[UUID], list[int]]:
    """Wait until a run of ``deployment`` is sending (its RCPT held), then stop serve with
    ``sig``; returns the ids of the runs then running (the one sending, and runs waiting for
    its lock) and the processes serve had started."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType
    from prefect.settings import PREFECT_API_URL, temporary_settings

    held_before = smtp.held
    with (
        temporary_settings(updates={PREFECT_API_URL: started.api_url}),
        get_client(sync_client=True) as client,
    ):
        wait_for("the deployments", lambda: deployments_registered(client), 90, started)

        def caught() -> Any:
            if smtp.held <= held_before:
                return None
            return runs(client, deployment, [StateType.RUNNING])

        running = wait_for(f"a {deployment} run in the middle of sending", caught, 120, started)
    family = children(started.proc.pid)
    assert family, "serve started no process"
    started.proc.send_signal(sig)
    started.proc.wait(60)
    return [run.id for run in running], family


def wait_gone(family: list[int], started: Started) -> None:
    """What the stopped serve had started is gone: its runs died with it (SIGTERM: stopped
    by the runner; SIGKILL: the parent-death signal, or, for a run killed while still
    starting up, the next serve's start) and its Prefect server followed it."""
    wait_for(
        "the stopped serve's processes to end",
        lambda: not any(Path(f"/proc/{pid}").exists() for pid in family),
        60,
        started,
    )


@pytest.mark.slow
def test_schedules_survive_every_kind_of_restart(
    session: Session, clean_engine: Engine, home: Path, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType
    from prefect.settings import PREFECT_API_URL, temporary_settings

    store.load_plan(session, read_plan_file(BUILTIN_PLAN), "kiem-thu")
    store.set_event_date(session, ANG, dt.date(2024, 3, 15), "x")
    store.activate_plan(session, ANG, "x", dt.date(2024, 2, 1))
    session.commit()
    log = tmp_path / "serve.log"
    stopped: dict[str, list[UUID]] = {}

    with SmtpTestServer() as smtp:
        smtp.hold_recipients()
        phases = [
            ("sweep, SIGTERM", MONDAY, SWEEPS, SWEEP, signal.SIGTERM),
            ("sweep, SIGKILL", TUESDAY, SWEEPS, SWEEP, signal.SIGKILL),
            ("delivery, SIGTERM", SUNDAY, DELIVERIES, DELIVERY, signal.SIGTERM),
            ("delivery, SIGKILL", SUNDAY, DELIVERIES, DELIVERY, signal.SIGKILL),
        ]
        family: list[int] = []
        for name, day, every, deployment, sig in phases:
            began = time.monotonic()
            with serving(home, log, smtp, day, every) as started:
                up = time.monotonic() - began
                wait_gone(family, started)
                stopped[name], family = stop_in_the_middle(started, smtp, deployment, sig)
            # The figures of docs/reliability.md (pytest -s).
            print(f"{name}: up in {up:.0f} s, stopped after {time.monotonic() - began:.0f} s")
        assert smtp.messages == [], "a held send went out"

        smtp.release_recipients()
        began = time.monotonic()
        with serving(home, log, smtp, WEDNESDAY, BOTH) as started:
            wait_gone(family, started)
            with (
                temporary_settings(updates={PREFECT_API_URL: started.api_url}),
                get_client(sync_client=True) as client,
            ):
                wait_for("the deployments", lambda: deployments_registered(client), 90, started)

                def completed_since_start(deployment: str) -> bool:
                    return any(
                        run.start_time is not None and run.start_time > started.since
                        for run in runs(client, deployment, [StateType.COMPLETED])
                    )

                def all_sent() -> bool:
                    session.expire_all()
                    rows = list(session.exec(select(OutboxMessage)))
                    return bool(rows) and all(r.status == DeliveryStatus.SENT for r in rows)

                wait_for("a sweep", lambda: completed_since_start(SWEEP), 120, started)
                wait_for("a delivery", lambda: completed_since_start(DELIVERY), 60, started)
                wait_for("every message sent", all_sent, 120, started)

                # Every run stopped with serve is marked crashed, none is left running, and
                # no run waited for a concurrency slot.
                for name, run_ids in stopped.items():
                    for run_id in run_ids:
                        state = client.read_flow_run(run_id).state
                        assert state is not None and state.is_crashed(), (name, state)
                for deployment in (SWEEP, DELIVERY):
                    every_run = runs(client, deployment)
                    assert not any(r.state_name == "AwaitingConcurrencySlot" for r in every_run)
                    stuck = runs(client, deployment, [StateType.PENDING, StateType.RUNNING])
                    assert all(r.state.timestamp > started.since for r in stuck), stuck
            started.proc.send_signal(signal.SIGINT)
            started.proc.wait(30)
            assert started.proc.returncode == 0, started.output()
            print(f"resumed: all sent {time.monotonic() - began:.0f} s after the last start")

    # Every message owed (the kickoff lists, three working days' reminders) arrived once:
    # as many emails per recipient as the outbox holds messages for them.
    rows = list(session.exec(select(OutboxMessage, Contact).join(Contact)))
    assert {row.day for row, _ in rows} >= {MONDAY, TUESDAY, WEDNESDAY}
    owed = Counter(str(contact.email).lower() for _, contact in rows)
    received = Counter(m.rcpt_tos[0].lower() for m in smtp.messages)
    assert received == owed
    crashed = sum(len(ids) for ids in stopped.values())
    print(f"{len(rows)} messages owed, {sum(received.values())} received; {crashed} runs crashed")
