"""Vietnamese words for actions and the history, shared by the terminal, the web and the links.

State and timeliness labels live with the rules in ``tracking.status``. The history's lines
(:func:`change_text`, :func:`local_time`) are written here once: the CLI's table and the web
page show the same words.
"""

from __future__ import annotations

import datetime as dt

from models.dates import format_vn
from models.enums import AssignmentState
from tracking.clock import VN_TZ
from tracking.status import STATE_LABELS, Action

# Button and link wording, in the imperative a user clicks.
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

# The history (activity log) as users read it: actions…
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
    "due_corrected": "Điều chỉnh thời hạn (sửa sai)",
    "evidence_added": "Đính kèm minh chứng",
    "plan_activated": "Kích hoạt kế hoạch",
    "event_date_set": "Ấn định ngày diễn ra",
    "message_sent": "Đã gửi tin",
    "message_pending": "Gửi tin chưa được, sẽ gửi lại",
    "message_failed": "Gửi tin thất bại",
    "message_unknown": "Không rõ kết quả gửi tin",
    "message_cancelled": "Bỏ tin không còn cần gửi",
    "message_postponed": "Hoãn gửi tin",
}

# …and the fields they changed.
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

# What a message is about (outbox kinds), as listings and the history name it. The words
# follow docs/glossary.md.
KIND_TEXT: dict[str, str] = {
    "kickoff": "Triển khai kế hoạch",
    "upcoming": "Nhắc việc sắp đến hạn",
    "due_today": "Nhắc việc đến hạn hôm nay",
    "overdue": "Nhắc việc quá hạn",
    "escalation": "Thông báo chậm tiến độ",
    "blocked": "Báo vướng mắc",
    "unblocked": "Đã gỡ vướng mắc",
    "submitted": "Đề nghị xác nhận hoàn thành",
    "confirmed": "Xác nhận hoàn thành",
    "returned": "Trả lại kết quả",
    "extended": "Gia hạn",
    "prerequisite_done": "Có thể bắt đầu",
    "event_passed": "Không hoàn thành trước thời gian tổ chức",
    "weekly_report": "Báo cáo tuần",
}

CHANNEL_TEXT: dict[str, str] = {
    "email": "thư điện tử",
    "zalo": "Zalo",
    "zns": "tin ZNS",
    "apprise": "kênh bổ sung",
}

# What became of a message, as the history's note says it.
OUTCOME_TEXT: dict[str, str] = {
    "message_sent": "đã gửi",
    "message_pending": "chưa gửi được, sẽ gửi lại",
    "message_postponed": "hoãn gửi, sẽ gửi lại",
    "message_failed": "gửi thất bại",
    "message_unknown": "không rõ kết quả gửi",
    "message_cancelled": "không gửi vì không còn cần thiết",
}


def outcome_note(
    kind: str, recipient: str | None, unit: str | None, channel: str, action: str, detail: str
) -> str:
    """A message's outcome for the history, in Vietnamese and naming the recipient:
    "Nhắc việc quá hạn gửi Ông/Bà Phan Thị P (Đài PT-TH An Giang) qua thư điện tử: đã gửi".
    The sender's technical detail is kept only when something went wrong."""
    who = f"Ông/Bà {recipient}" if recipient else "người nhận"
    if unit:
        who += f" ({unit})"
    text = (
        f"{KIND_TEXT.get(kind, kind)} gửi {who} qua {CHANNEL_TEXT.get(channel, channel)}: "
        f"{OUTCOME_TEXT.get(action, action)}"
    )
    if action != "message_sent" and detail:
        text += f" ({detail})"
    return text


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
    """What one history row changed ("Trạng thái: Chưa bắt đầu → Đang thực hiện"); an evidence
    file by its name, not its path under the data folder."""
    if not field:
        return ""
    if field == "evidence":
        return f"Minh chứng: {(new or '').rsplit('/', 1)[-1]}"
    return f"{FIELD_TEXT.get(field, field)}: {value_text(old)} → {value_text(new)}"


def local_time(moment: dt.datetime) -> str:
    """A stored moment (UTC) as Vietnam's wall clock: 15/03/2024 08:30."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M")
