"""Vietnamese words for actions and the history, shared by the terminal, the web and the links.

State and timeliness labels live with the rules in ``tracking.status``.
"""

from __future__ import annotations

from tracking.status import Action

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
