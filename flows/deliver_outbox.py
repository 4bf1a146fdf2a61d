"""Delivery every few minutes: messages held by quiet hours, and retries after failures."""

from __future__ import annotations

import dataclasses
import datetime as dt

from prefect import flow, get_run_logger

from flows.guard import one_at_a_time
from services.reporting import delivery_text
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
    """Send what is due now (or, replaying ``today``, at that day's office opening).

    One delivery run at a time; a run that finds another one sending does nothing (the other
    sends all that is due), so a burst of runs missed during a restart costs nothing. Two
    at once would be safe anyway: the outbox's leases give each message to one run.
    """
    with one_at_a_time("deliver-outbox", wait_seconds=0) as held:
        if not held:
            message = "Một lượt gửi khác đang chạy: lượt này không gửi gì."
            get_run_logger().info(message)
            return DeliverySummary({}, message)
        counts = dict(deliver_outbox_task(clock.now_for(clock.today(today))).counts)
    message = f"Kết quả gửi: {delivery_text(counts)}."
    if counts:
        get_run_logger().info(message)
    return DeliverySummary(counts, message)
