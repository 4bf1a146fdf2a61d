"""``giaoviec serve`` for real: its own Prefect server, the deployments and their schedules,
a burst of late sweep runs, and a clean stop on Ctrl-C (no server left behind).

The command runs in a subprocess with GIAOVIEC_HOME in a temporary folder and the test
database; every wait is bounded so CI cannot hang.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
import typer.main
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from models.enums import DeliveryStatus
from models.tables import OutboxMessage
from tests.conftest import BUILTIN_PLAN, REPO
from tests.smtp_server import free_port
from tracking import store
from tracking.planio import read_plan_file

ANG = "an-giang-2024-hoi-nghi-thi-dua"
MONDAY = dt.date(2024, 3, 4)
SCHEDULES = {
    "daily-sweep/giaoviec": "30 7 * * 1-6",
    "deliver-outbox/giaoviec": "*/5 * * * *",
    "weekly-report/giaoviec": "0 8 * * 1",
}
T = TypeVar("T")


def serve_command() -> list[str]:
    """``python -m cli serve`` once the command is registered in cli/main.py."""
    from cli.main import app

    group = typer.main.get_command(app)
    commands = getattr(group, "commands", {})
    module = "cli" if "serve" in commands else "cli.flow_commands"
    return [sys.executable, "-m", module, "serve"]


@dataclasses.dataclass(frozen=True)
class Served:
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


class Running(Protocol):
    """A ``giaoviec serve`` under test: its process and what it printed."""

    @property
    def proc(self) -> subprocess.Popen[bytes]: ...

    def output(self) -> str: ...


def wait_for(what: str, check: Callable[[], T | None], timeout: float, served: Running) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = served.proc.poll()
        assert code is None, f"serve exited ({code}) waiting for {what}:\n{served.output()}"
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@contextmanager
def serving(home: Path, port: int, log: Path) -> Iterator[Served]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PREFECT_") or k == "PREFECT_LOGGING_LEVEL"
    }
    env.update(
        PYTHONPATH=str(REPO),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        # Faster than the defaults (10 s, 30 s), so the test stays short.
        PREFECT_RUNNER_POLL_FREQUENCY="1",
        PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS="1",
    )
    with log.open("wb") as output:
        proc = subprocess.Popen(
            [*serve_command(), "--port", str(port)],
            env=env,
            cwd=home,  # not the repository: served flows must not depend on the folder
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield Served(proc, log)
    finally:
        if proc.poll() is None:  # the test failed before it could stop it
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def api_is_up(api_url: str) -> bool:
    from cli.flow_commands import api_is_healthy

    return api_is_healthy(api_url, timeout=1)


@pytest.mark.slow
def test_serve_schedules_runs_and_stops_cleanly(
    session: Session, clean_engine: Engine, home: Path, tmp_path: Path
) -> None:
    store.load_plan(session, read_plan_file(BUILTIN_PLAN), "kiem-thu")
    store.set_event_date(session, ANG, dt.date(2024, 3, 15), "x")
    store.activate_plan(session, ANG, "x", dt.date(2024, 2, 1))
    session.commit()
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    log = tmp_path / "serve.log"
    state_file = home / "prefect" / "embedded-server.json"

    with serving(home, port, log) as served:
        proc = served.proc
        wait_for("the Prefect API", lambda: api_is_up(api_url), 90, served)
        wait_for("serve's state file", state_file.is_file, 10, served)
        server_pid = json.loads(state_file.read_text(encoding="utf-8"))["server_pid"]
        # The server runs under GIAOVIEC_HOME, with its own SQLite database.
        assert (home / "prefect" / "prefect.db").is_file()
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            check_deployments(served)
            runs = late_sweep_burst(served)
        assert all(run.state.is_completed() for run in runs), [run.state for run in runs]

        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    output = log.read_text(encoding="utf-8")
    assert proc.returncode == 0, output
    assert f"Giao diện Prefect: http://127.0.0.1:{port}" in output
    assert "Đã dừng máy chủ Prefect." in output
    assert not Path(f"/proc/{server_pid}").exists(), "the Prefect server outlived serve"
    with pytest.raises(ProcessLookupError):
        os.killpg(server_pid, 0)  # nothing of its process group either
    assert not state_file.exists()
    assert not api_is_up(api_url)

    # Two sweeps of one day sent every message exactly once.
    session.expire_all()
    rows = list(session.exec(select(OutboxMessage)))
    assert any(row.day == MONDAY for row in rows)
    assert {(row.status, row.attempts) for row in rows} == {(DeliveryStatus.SENT, 1)}
    assert len(list((home / "outbox").rglob("*.eml"))) == len(rows)


def check_deployments(served: Served) -> None:
    """The deployments exist with their schedules in Vietnam's time zone, one run at a time."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:

        def kickoff_deployment() -> Any:
            try:  # serve registers the deployments one after another
                return client.read_deployment_by_name("kickoff/giaoviec")
            except ObjectNotFound:
                return None

        wait_for("the deployments", kickoff_deployment, 60, served)
        for name, cron in SCHEDULES.items():
            deployment = client.read_deployment_by_name(name)
            [schedule] = deployment.schedules
            assert schedule.active
            assert (schedule.schedule.cron, schedule.schedule.timezone) == (  # type: ignore[union-attr]
                cron,
                "Asia/Ho_Chi_Minh",
            )
            # No Prefect slot to leak across restarts: one run at a time is giaoviec's lock.
            assert deployment.global_concurrency_limit is None
            assert not deployment.paused
        assert client.read_deployment_by_name("kickoff/giaoviec").schedules == []

        # The server's scheduler turns the schedule into runs: 07:30, Vietnam's time.
        sweep = client.read_deployment_by_name("daily-sweep/giaoviec")
        upcoming = wait_for(
            "scheduled sweeps", lambda: scheduled_runs(client, sweep.id), 45, served
        )
        for run in upcoming:
            assert run.expected_start_time is not None
            local = run.expected_start_time.astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
            assert (local.hour, local.minute, local.weekday() < 6) == (7, 30, True)


def scheduled_runs(client: Any, deployment_id: UUID) -> list[Any]:
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    runs: list[Any] = client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
        ),
    )
    return runs


def late_sweep_burst(served: Served) -> list[Any]:
    """Two sweeps of the same day, both late, as a restart after an outage finds them."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment

    now = dt.datetime.now(dt.UTC)
    ids = []
    for minutes in (90, 30):
        run = run_deployment(
            "daily-sweep/giaoviec",
            parameters={"today": MONDAY.isoformat()},
            scheduled_time=now - dt.timedelta(minutes=minutes),
            timeout=0,  # returns at once: both wait together
        )
        assert isinstance(run, FlowRun)
        ids.append(run.id)
    with get_client(sync_client=True) as client:

        def finished() -> list[Any] | None:
            runs = [client.read_flow_run(run_id) for run_id in ids]
            done = all(run.state is not None and run.state.is_final() for run in runs)
            return runs if done else None

        return wait_for("the sweep runs", finished, 75, served)
