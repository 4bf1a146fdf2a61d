"""Vietnamese words and colour classes the pages use.

The history wording mirrors ``cli.render`` (the web may not import ``cli``); the colours are
the Government Office's: green done on time, blue open in time, orange done late or due soon,
red overdue, grey not started or without a deadline.
"""

from __future__ import annotations

import datetime as dt

from models.dates import format_vn
from models.enums import AssignmentState, Timeliness
from tracking.clock import VN_TZ
from tracking.status import STATE_LABELS, TIMELINESS_LABELS, Action

# Severity order, worst first: the order of the counters and of "sort by timeliness".
TIMELINESS_ORDER: tuple[Timeliness, ...] = (
    Timeliness.OVERDUE,
    Timeliness.DUE_SOON,
    Timeliness.OPEN_IN_TIME,
    Timeliness.NO_DEADLINE,
    Timeliness.DONE_LATE,
    Timeliness.DONE_ON_TIME,
)

TIMELINESS_CLASS: dict[Timeliness, str] = {
    Timeliness.DONE_ON_TIME: "t-green",
    Timeliness.OPEN_IN_TIME: "t-blue",
    Timeliness.DONE_LATE: "t-orange",
    Timeliness.DUE_SOON: "t-orange",
    Timeliness.OVERDUE: "t-red",
    Timeliness.NO_DEADLINE: "t-grey",
}

STATE_CLASS: dict[AssignmentState, str] = {
    AssignmentState.NOT_STARTED: "s-grey",
    AssignmentState.IN_PROGRESS: "s-blue",
    AssignmentState.SUBMITTED: "s-cyan",
    AssignmentState.DONE: "s-green",
    AssignmentState.BLOCKED: "s-red",
    AssignmentState.PAUSED: "s-grey",
    AssignmentState.CANCELLED: "s-grey s-strike",
}

# Button wording, in the imperative a user clicks.
ACTION_BUTTONS: dict[Action, str] = {
    Action.START: "Bắt đầu thực hiện",
    Action.SUBMIT: "Báo cáo hoàn thành",
    Action.BLOCK: "Báo vướng mắc",
    Action.UNBLOCK: "Gỡ vướng mắc",
    Action.CONFIRM: "Xác nhận hoàn thành",
    Action.RETURN: "Trả lại",
    Action.EXTEND: "Gia hạn",
    Action.PAUSE: "Tạm dừng",
    Action.RESUME: "Tiếp tục",
    Action.CANCEL: "Hủy nhiệm vụ",
}

# What each action asks for: a reason (required), a new date, evidence files.
NEEDS_REASON = frozenset({Action.RETURN, Action.BLOCK, Action.CANCEL, Action.PAUSE, Action.EXTEND})
REASON_LABELS: dict[Action, str] = {
    Action.RETURN: "Lý do trả lại",
    Action.BLOCK: "Nội dung vướng mắc",
    Action.CANCEL: "Lý do hủy",
    Action.PAUSE: "Lý do tạm dừng",
    Action.EXTEND: "Lý do gia hạn",
}

ACTION_TEXT: dict[str, str] = {
    "created": "Tạo nhiệm vụ",
    "plan_updated": "Cập nhật từ tệp kế hoạch",
    "due_recomputed": "Tính lại thời hạn",
    "start": "Bắt đầu",
    "submit": "Báo cáo hoàn thành",
    "confirm": "Xác nhận hoàn thành",
    "return": "Trả lại",
    "block": "Báo vướng mắc",
    "unblock": "Gỡ vướng mắc",
    "pause": "Tạm dừng",
    "resume": "Tiếp tục",
    "cancel": "Hủy",
    "extend": "Gia hạn",
    "evidence_added": "Đính kèm minh chứng",
    "plan_activated": "Kích hoạt kế hoạch",
    "event_date_set": "Ấn định ngày diễn ra",
    "message_sent": "Đã gửi tin",
    "message_pending": "Gửi tin chưa được, sẽ gửi lại",
    "message_failed": "Gửi tin thất bại",
    "message_unknown": "Không rõ kết quả gửi tin",
    "message_cancelled": "Bỏ tin không còn cần gửi",
}

FIELD_TEXT: dict[str, str] = {
    "state": "Trạng thái",
    "due": "Thời hạn",
    "event_date": "Ngày diễn ra",
    "evidence": "Minh chứng",
    "title": "Tên nhiệm vụ",
    "detail": "Nội dung",
    "lead_department_id": "Đơn vị chủ trì",
    "working": "Ngày làm việc",
    "outbox": "Tin số",
}

WEEKDAYS = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật")


def timeliness_label(value: Timeliness | None) -> str:
    return "—" if value is None else TIMELINESS_LABELS[value]


def timeliness_class(value: Timeliness | None) -> str:
    return "t-grey" if value is None else TIMELINESS_CLASS[value]


def state_label(value: AssignmentState) -> str:
    return STATE_LABELS[value]


def value_text(value: str | None) -> str:
    """A stored history value as a user reads it: state labels, dates as dd/mm/yyyy."""
    if value is None:
        return "—"
    if value in AssignmentState._value2member_map_:
        return STATE_LABELS[AssignmentState(value)]
    try:
        return format_vn(dt.date.fromisoformat(value))
    except ValueError:
        return value


def change_text(field: str | None, old: str | None, new: str | None) -> str:
    if not field:
        return ""
    if field == "evidence":
        return f"Minh chứng: {(new or '').rsplit('/', 1)[-1]}"
    return f"{FIELD_TEXT.get(field, field)}: {value_text(old)} → {value_text(new)}"


def local_time(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M")


def long_date(day: dt.date | None) -> str:
    """ "Thứ Sáu, 15/03/2024": the weekday matters to people planning a working week."""
    if day is None:
        return "—"
    return f"{WEEKDAYS[day.weekday()]}, {format_vn(day)}"
