"""The daily sweep: deadlines, today's reminders, delivery, then the progress per unit.

Scheduled at 07:30 Monday to Saturday (Asia/Ho_Chi_Minh): Saturdays are usually days off, but
the public-sector calendar has make-up Saturdays, so the flow asks the calendar rather than
the schedule knowing. The same steps run without Prefect in ``services.day.sweep_day``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.guard import wait_for_turn
from models.dates import format_vn
from services.progress import PlanProgress
from services.reporting import (
    artifact_key,
    day_off_markdown,
    delivery_text,
    progress_table,
    sweep_markdown,
)
from tasks.database import (
    day_off_task,
    enqueue_reminders_task,
    progress_rows_task,
    recompute_deadlines_task,
)
from tasks.sending import deliver_outbox_task
from tracking import clock

SUMMARY_KEY = "quet-hang-ngay"
# A second sweep (a late run after a restart, one by hand) waits for the first: it then finds
# the day's reminders already queued and adds nothing. An hour bounds the wait behind a hung one.
WAIT_SECONDS = 3600.0
PROGRESS_KEY_PREFIX = "tien-do"


@dataclasses.dataclass(frozen=True)
class SweepSummary:
    day: dt.date
    working_day: bool
    message: str  # one Vietnamese sentence for logs and the CLI
    deadlines_moved: int = 0
    enqueued: int = 0
    already_queued: int = 0
    delivered: dict[str, int] = dataclasses.field(default_factory=dict)
    plans: tuple[PlanProgress, ...] = ()


@flow(
    name="daily-sweep",
    description="Quét hằng ngày: tính lại thời hạn, đưa nhắc việc vào hàng đợi, gửi tin, "
    "báo cáo tiến độ theo đơn vị.",
)
def daily_sweep(today: dt.date | None = None) -> SweepSummary:
    """One day's sweep; ``today`` defaults to GIAOVIEC_TODAY, else today in Vietnam."""
    with wait_for_turn("daily-sweep", wait_seconds=WAIT_SECONDS):
        return sweep(clock.today(today))


def sweep(day: dt.date) -> SweepSummary:
    logger = get_run_logger()
    reason = day_off_task(day)
    if reason is not None:
        message = f"{format_vn(day)} là ngày nghỉ ({reason}): không nhắc việc."
        logger.info(message)
        create_markdown_artifact(
            day_off_markdown(day, reason), key=SUMMARY_KEY, description=message
        )
        return SweepSummary(day, False, message)
    moved = recompute_deadlines_task()
    enqueued = enqueue_reminders_task(day)
    report = deliver_outbox_task(clock.now_for(day))
    plans = progress_rows_task(day)
    delivered = dict(report.counts)
    publish_progress(plans)
    create_markdown_artifact(
        sweep_markdown(day, moved, enqueued.added, enqueued.considered, delivered, plans),
        key=SUMMARY_KEY,
        description=f"Quét hằng ngày {format_vn(day)}",
    )
    message = (
        f"Quét ngày {format_vn(day)}: {moved} thời hạn được tính lại, {enqueued.added} nhắc "
        f"việc mới; kết quả gửi: {delivery_text(delivered)}."
    )
    logger.info(message)
    return SweepSummary(
        day,
        True,
        message,
        deadlines_moved=moved,
        enqueued=enqueued.added,
        already_queued=enqueued.considered - enqueued.added,
        delivered=delivered,
        plans=tuple(plans),
    )


def publish_progress(plans: Sequence[PlanProgress]) -> None:
    """One table artifact per plan, keyed by the plan, so the UI keeps each plan's history."""
    for plan in plans:
        create_table_artifact(
            progress_table(plan.units),
            key=artifact_key(PROGRESS_KEY_PREFIX, plan.plan_code),
            description=(
                f"Tiến độ theo đơn vị chủ trì ngày {format_vn(plan.day)} — {plan.plan_title}"
            ),
        )
