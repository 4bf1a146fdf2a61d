"""The deployments: which flow runs when, for ``giaoviec serve`` and (same values) prefect.yaml.

``SPECS`` is the single description of the schedules; ``giaoviec serve`` builds runner
deployments from it, and a test checks that ``prefect.yaml`` (workers on other machines) says
the same. Importing this module does not import Prefect; ``runner_deployments`` does.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment
    from prefect.flows import Flow

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
    # One run at a time. "ENQUEUE" makes a second run wait its turn; "CANCEL_NEW" drops it,
    # which turns a burst of missed delivery runs after a restart into a single run.
    collision_strategy: str = "ENQUEUE"

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
        collision_strategy="CANCEL_NEW",
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


def runner_deployments() -> list[RunnerDeployment]:
    """The deployments ``giaoviec serve`` runs on this machine."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.deployments.runner import RunnerDeployment
    from prefect.schedules import Cron
    from prefect.types.entrypoint import EntrypointType

    deployments = []
    for item in SPECS:
        deployment = load_flow(item).to_deployment(
            name=DEPLOYMENT_NAME,
            schedules=[Cron(item.cron, timezone=TIMEZONE)] if item.cron else None,
            concurrency_limit=ConcurrencyLimitConfig(
                limit=1, collision_strategy=ConcurrencyLimitStrategy(item.collision_strategy)
            ),
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

    What ``prefect.serve`` does, with two differences. ``pause_on_shutdown=False``: stopping
    the runner must not pause the schedules on the server; runs missed meanwhile run when it
    comes back, and send nothing twice (the outbox). And SIGTERM takes the same way out as
    Ctrl-C (a KeyboardInterrupt): Prefect's own handler stops the runner from inside the
    signal handler, which leaves a coroutine never awaited.
    """
    import asyncio
    import contextlib

    from prefect.runner import Runner

    runner = Runner(name=DEPLOYMENT_NAME, pause_on_shutdown=False)
    for deployment in runner_deployments():
        runner.add_deployment(deployment)
    runner.handle_sigterm = _interrupt  # type: ignore[method-assign]
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(runner.start())


def _interrupt(*_args: object) -> None:
    raise KeyboardInterrupt
