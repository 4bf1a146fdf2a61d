"""Kickoff: a plan goes live, and each unit gets the list of its assignments at once."""

from __future__ import annotations

import dataclasses
import datetime as dt

from prefect import flow, get_run_logger

from services.reporting import delivery_text
from tasks.database import SYSTEM_ACTOR, activate_plan_task
from tasks.sending import deliver_outbox_task
from tracking import clock
from tracking.settings import get_settings


@dataclasses.dataclass(frozen=True)
class KickoffSummary:
    plan_code: str
    newly_activated: bool
    enqueued: int
    delivered: dict[str, int]
    message: str


@flow(
    name="kickoff",
    description="Kích hoạt kế hoạch: mỗi đơn vị nhận danh sách nhiệm vụ của mình (một lần).",
)
def kickoff(plan: str, today: dt.date | None = None, by: str | None = None) -> KickoffSummary:
    """Activate ``plan`` (a second time changes nothing) and deliver the kickoff messages."""
    day = clock.today(today)
    actor = by or get_settings().user or SYSTEM_ACTOR
    activation = activate_plan_task(plan, day, actor)
    delivered = dict(deliver_outbox_task(clock.now_for(day)).counts)
    if activation.newly_activated:
        message = (
            f"Đã kích hoạt kế hoạch {activation.plan_code}: {activation.enqueued} thông báo "
            f"triển khai; kết quả gửi: {delivery_text(delivered)}."
        )
    else:
        message = (
            f"Kế hoạch {activation.plan_code} đã được kích hoạt từ trước; "
            "không gửi lại thông báo triển khai."
        )
    get_run_logger().info(message)
    return KickoffSummary(
        activation.plan_code, activation.newly_activated, activation.enqueued, delivered, message
    )
