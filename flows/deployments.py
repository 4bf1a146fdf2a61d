"""The deployments: which flow runs when, for ``giaoviec serve`` and (same values) prefect.yaml.

``SPECS`` is the single description of the schedules; ``giaoviec serve`` builds runner
deployments from it, and a test checks that ``prefect.yaml`` (workers on other machines) says
the same. Importing this module does not import Prefect; ``runner_deployments`` does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments.runner import RunnerDeployment
    from prefect.flows import Flow
    from prefect.runner import Runner

TIMEZONE = "Asia/Ho_Chi_Minh"
DEPLOYMENT_NAME = "giaoviec"
WORK_POOL = "giaoviec-pool"
TAGS = ("giaoviec",)


@dataclasses.dataclass(frozen=True)
class DeploymentSpec:
    flow_name: str  # the Prefect flow's name; the deployment is "<flow_name>/giaoviec"
    entrypoint: str  # file path form, as prefect.yaml needs it
    cron: str | None  # in TIMEZONE; None: run on demand only
    description: str  # shown in the Prefect UI (Vietnamese)
    # No Prefect concurrency limit: its slots do not survive a restart of the server (a run
    # killed with it kept its slot for good). One run at a time is the flows' own rule, by
    # a lock that dies with its holder (flows/guard.py).

    @property
    def full_name(self) -> str:
        return f"{self.flow_name}/{DEPLOYMENT_NAME}"

    @property
    def module(self) -> str:
        path, _, _ = self.entrypoint.partition(":")
        return path.removesuffix(".py").replace("/", ".")

    @property
    def function(self) -> str:
        return self.entrypoint.partition(":")[2]


SPECS: tuple[DeploymentSpec, ...] = (
    DeploymentSpec(
        "daily-sweep",
        "flows/daily_sweep.py:daily_sweep",
        # Monday to Saturday: make-up Saturdays are working days; the flow skips days off.
        "30 7 * * 1-6",
        "Quét hằng ngày lúc 07:30 (thứ Hai đến thứ Bảy; tự bỏ qua ngày nghỉ).",
    ),
    DeploymentSpec(
        "deliver-outbox",
        "flows/deliver_outbox.py:deliver_outbox",
        "*/5 * * * *",
        "Gửi tin đến lượt trong hàng đợi, 5 phút một lần.",
    ),
    DeploymentSpec(
        "weekly-report",
        "flows/weekly_report.py:weekly_report",
        "0 8 * * 1",
        "Báo cáo tuần cho đơn vị điều phối, 08:00 thứ Hai.",
    ),
    DeploymentSpec(
        "kickoff",
        "flows/kickoff.py:kickoff",
        None,
        "Kích hoạt một kế hoạch (chạy khi cần, với tham số plan).",
    ),
)

SCHEDULE_TEXT = (
    "quét hằng ngày 07:30 thứ Hai–thứ Bảy; gửi tin 5 phút một lần; báo cáo tuần 08:00 thứ Hai"
)


def spec(flow_name: str) -> DeploymentSpec:
    return next(s for s in SPECS if s.flow_name == flow_name)


def load_flow(item: DeploymentSpec) -> Flow[Any, Any]:
    flow: Flow[Any, Any] = getattr(importlib.import_module(item.module), item.function)
    return flow


def runner_deployments(every: Mapping[str, float] | None = None) -> list[RunnerDeployment]:
    """The deployments ``giaoviec serve`` runs on this machine.

    ``every`` (flow name → seconds, from GIAOVIEC_SCHEDULE_SECONDS) replaces those flows'
    schedules by a short interval, for tests and demos that cannot wait for 07:30.
    """
    from prefect.deployments.runner import RunnerDeployment
    from prefect.schedules import Cron, Interval, Schedule
    from prefect.types.entrypoint import EntrypointType

    every = dict(every or {})
    unknown = set(every) - {item.flow_name for item in SPECS}
    if unknown:
        raise ValueError(f"GIAOVIEC_SCHEDULE_SECONDS: không có luồng {', '.join(sorted(unknown))}")
    deployments = []
    for item in SPECS:
        schedules: list[Schedule] | None = None
        if item.flow_name in every:
            schedules = [Interval(every[item.flow_name], timezone=TIMEZONE)]
        elif item.cron:
            schedules = [Cron(item.cron, timezone=TIMEZONE)]
        deployment = load_flow(item).to_deployment(
            name=DEPLOYMENT_NAME,
            schedules=schedules,
            # Said explicitly, so the update carries it: it removes the limit an older
            # giaoviec set on the deployment.
            concurrency_limit=None,
            description=item.description,
            tags=list(TAGS),
            # By module, not file path: the served flows do not depend on the current folder.
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
        # Called from synchronous code, to_deployment returns the deployment, not a coroutine.
        assert isinstance(deployment, RunnerDeployment)
        deployments.append(deployment)
    return deployments


def serve_all() -> None:
    """Serve every deployment on this machine until Ctrl-C or SIGTERM.

    What ``prefect.serve`` does, with these differences. ``pause_on_shutdown=False``: stopping
    the runner must not pause the schedules on the server; runs missed meanwhile run when it
    comes back, and send nothing twice (the outbox). SIGTERM takes the same way out as
    Ctrl-C (``_run_until_stopped``): Prefect's own handler stops the runner from inside the
    signal handler, which leaves a coroutine never awaited. Before the runner starts, the
    runs a stopped ``serve`` left behind are marked crashed (``crash_abandoned_runs``) and
    the runs missed while it was down collapse into one per job (``skip_missed_runs``). And
    every flow-run process it starts dies with it (``GIAOVIEC_RUNNER_PID``, flows/guard.py).
    """
    import asyncio
    import contextlib

    from prefect.client.orchestration import get_client
    from prefect.runner import Runner

    from flows.guard import RUNNER_PID_ENV
    from tracking.settings import get_settings

    os.environ[RUNNER_PID_ENV] = str(os.getpid())
    deployments = runner_deployments(get_settings().schedule_seconds)
    with get_client(sync_client=True) as client:
        crash_abandoned_runs(client)
        skip_missed_runs(client)
    runner = Runner(name=DEPLOYMENT_NAME, pause_on_shutdown=False)
    for deployment in deployments:
        runner.add_deployment(deployment)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run_until_stopped(runner))


async def _run_until_stopped(runner: Runner) -> None:
    """``runner.start()`` until SIGTERM, which cancels it like Ctrl-C does.

    The signal must not raise where it lands: a KeyboardInterrupt raised inside the runner
    (starting a flow run, say) was taken for that run's failure, and ``serve`` went on
    running. Asking the event loop to cancel the runner's task stops it at an await, and
    its exit stops the flow-run processes. (Ctrl-C: ``asyncio.run`` does the same.)
    """
    import asyncio
    import contextlib

    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None

    def stop(*_args: object) -> None:
        with contextlib.suppress(RuntimeError):  # a late signal, the loop already closed
            loop.call_soon_threadsafe(main.cancel)

    # Runner.start installs handle_sigterm as the SIGTERM handler.
    runner.handle_sigterm = stop  # type: ignore[method-assign]
    with contextlib.suppress(asyncio.CancelledError):
        await runner.start()


def crash_abandoned_runs(client: SyncPrefectClient) -> list[FlowRun]:
    """Mark Crashed the runs of giaoviec's deployments still pending, running or cancelling.

    Called as ``serve`` starts, before its runner: nothing else runs these deployments (they
    are served by one ``giaoviec serve``, and a second one for the same home refuses to
    start), and every run process of the ``serve`` that stopped died with it. So such a run
    was abandoned: its process was killed with ``serve`` (SIGKILL), or stopped with it
    (SIGTERM) before it could report. Left "Running", it would mislead whoever reads the UI.
    """
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.exceptions import ObjectNotFound
    from prefect.states import Crashed

    ids = []
    for item in SPECS:
        try:
            ids.append(client.read_deployment_by_name(item.full_name).id)
        except ObjectNotFound:  # the first start: not registered yet
            continue
    if not ids:
        return []
    unfinished = [StateType.PENDING, StateType.RUNNING, StateType.CANCELLING]
    runs: list[FlowRun] = client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=ids)),
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=unfinished))
        ),
    )
    stopped = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    for run in runs:
        client.set_flow_run_state(
            run.id,
            Crashed(message=f"Dừng cùng `giaoviec serve` (ghi nhận khi khởi động lại, {stopped})."),
            force=True,
        )
    return runs


def skip_missed_runs(client: SyncPrefectClient) -> list[FlowRun]:
    """Cancel the scheduled runs that fell due while ``serve`` was down, but the latest one
    of each deployment.

    Each run works on the day it actually runs (the sweep sweeps today, delivery sends all
    that is due), so one late run does all that the missed ones would have; started
    together they would only queue for their job's lock, each taking a process of the
    runner (5 at most) while the other jobs wait. Runs started by hand are left alone.
    """
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.exceptions import ObjectNotFound
    from prefect.states import Cancelled

    skipped: list[FlowRun] = []
    now = dt.datetime.now(dt.UTC)
    for item in SPECS:
        try:
            deployment_id = client.read_deployment_by_name(item.full_name).id
        except ObjectNotFound:
            continue
        late: list[FlowRun] = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
                expected_start_time=FlowRunFilterExpectedStartTime(before_=now),
            ),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
        )
        for run in [r for r in late if r.auto_scheduled][1:]:
            client.set_flow_run_state(
                run.id,
                Cancelled(
                    message="Bỏ qua: lượt trễ khi `giaoviec serve` dừng; lượt mới hơn làm thay."
                ),
                force=True,
            )
            skipped.append(run)
    return skipped
