"""The weekly report: on Monday morning each live plan's coordinator contacts get the weekly
summary with the Excel status report attached (``tracking.reports``). The report is an outbox
row like every other message: the delivery sends it (or writes it as an .eml file when no
SMTP server is configured), retries it, and records each outcome in the history. The Prefect
UI gets the table per unit and the overdue list (artifact ``bao-cao-tuan-<plan>``).

Running the flow again the same day adds nothing to the outbox (one row per plan, recipient
and day) and sends nothing twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from flows.guard import wait_for_turn
from models.dates import format_vn
from models.enums import DeliveryStatus
from services.reporting import artifact_key, weekly_markdown
from tasks.database import weekly_outcomes_task, weekly_reports_task
from tasks.sending import deliver_outbox_task
from tracking import clock

REPORT_KEY_PREFIX = "bao-cao-tuan"
WAIT_SECONDS = 3600.0


class WeeklyReportNotDelivered(RuntimeError):
    """Some coordinator could not be reached; the flow run ends Failed, after trying all."""


@dataclasses.dataclass(frozen=True)
class WeeklySummary:
    day: dt.date
    sent: int
    failed: tuple[str, ...]  # "email: reason" of the recipients not reached
    message: str


@flow(
    name="weekly-report",
    description="Báo cáo tuần gửi đơn vị điều phối: tiến độ theo đơn vị và các nhiệm vụ quá hạn.",
)
def weekly_report(today: dt.date | None = None) -> WeeklySummary:
    # One at a time: a second run waits, then sends its own report (as a second run always did).
    with wait_for_turn("weekly-report", wait_seconds=WAIT_SECONDS):
        return send_reports(clock.today(today))


def send_reports(day: dt.date) -> WeeklySummary:
    logger = get_run_logger()
    failed: list[str] = []
    for report in weekly_reports_task(day):
        code = report.progress.plan_code
        if not report.recipients:
            logger.warning("Kế hoạch %s chưa có người nhận của đơn vị điều phối có email.", code)
            failed.append(f"{code}: không có người nhận")
        create_markdown_artifact(
            weekly_markdown(report),
            key=artifact_key(REPORT_KEY_PREFIX, code),
            description=f"Báo cáo tuần {format_vn(day)} — {report.progress.plan_title}",
        )
    deliver_outbox_task(clock.now_for(day))
    sent = later = 0
    for address, _code, status, error in weekly_outcomes_task(day):
        if status == DeliveryStatus.SENT.value:
            sent += 1
        elif status in (DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value):
            later += 1  # the outbox retries it: the next delivery run sends it
        else:
            failed.append(f"{address}: {error or status}")
    message = f"Báo cáo tuần {format_vn(day)}: đã gửi {sent} thư."
    if later:
        message += f" {later} thư sẽ được gửi lại sau."
    if failed:
        message += f" Không gửi được: {'; '.join(failed)}."
        raise WeeklyReportNotDelivered(message)
    logger.info(message)
    return WeeklySummary(day, sent, tuple(failed), message)
