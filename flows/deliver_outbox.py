"""Delivery every few minutes: messages held by quiet hours, and retries after failures."""

from __future__ import annotations

import dataclasses
import datetime as dt

from prefect import flow, get_run_logger

from tasks.reporting import delivery_text
from tasks.sending import deliver_outbox_task
from tracking import clock


@dataclasses.dataclass(frozen=True)
class DeliverySummary:
    counts: dict[str, int]
    message: str


@flow(
    name="deliver-outbox",
    description="Gửi các tin đã đến lượt trong hàng đợi (kể cả tin gửi lại sau lỗi).",
)
def deliver_outbox(today: dt.date | None = None) -> DeliverySummary:
    """Send what is due now (or, replaying ``today``, at that day's office opening)."""
    counts = dict(deliver_outbox_task(clock.now_for(clock.today(today))).counts)
    message = f"Kết quả gửi: {delivery_text(counts)}."
    if counts:
        get_run_logger().info(message)
    return DeliverySummary(counts, message)
