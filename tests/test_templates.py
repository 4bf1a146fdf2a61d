"""The Vietnamese message templates: every reminder kind, rendered four ways (no database)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html as html_lib
import re
import unicodedata

import jinja2
import pytest

from models.enums import ReminderKind
from notifications.templates import (
    CHAT_LIMIT,
    KIND_EXPORTS,
    LAYOUTS,
    TEMPLATE_DIR,
    ItemLine,
    MessageContext,
    Rendered,
    addressed_title,
    environment,
    kind_template,
    render,
    vn_date,
)

# --- real data from plans/an-giang-2024-hoi-nghi-thi-dua.yaml ------------------------------

PLAN_TITLE = (
    "Kế hoạch Tổ chức Hội nghị tổng kết công tác thi đua, khen thưởng năm 2023 "
    "và trao thưởng cấp Nhà nước"
)
PLAN_NUMBER = "25/KH-UBND"
EVENT_NAME = "Hội nghị tổng kết công tác thi đua, khen thưởng năm 2023 và trao thưởng cấp Nhà nước"
EVENT_DATE = dt.date(2024, 3, 15)
SNV = "Sở Nội vụ (Ban Thi đua - Khen thưởng)"
VP = "Văn phòng Ủy ban nhân dân tỉnh"
STC = "Sở Tài chính"
DPTTH = "Đài Phát thanh và Truyền hình An Giang"

VP01 = "Tham mưu Thường trực UBND tỉnh ban hành Kế hoạch tổ chức Hội nghị"
VP01_DETAIL = (
    "Tham mưu Thường trực Ủy ban nhân dân tỉnh ban hành Kế hoạch tổ chức Hội nghị và kiểm "
    "duyệt phóng sự trước khi trình chiếu tại Hội nghị."
)
VP02 = "Kiểm duyệt phóng sự trước khi trình chiếu tại Hội nghị"
VP03 = "Phân công cán bộ phụ trách chiếu phóng sự tại Hội nghị"
TC01 = "Thẩm định kinh phí tổ chức Hội nghị"
PTTH01 = "Xây dựng phóng sự trình chiếu tại Hội nghị"
SNV07 = "Chuẩn bị diễn văn của Lãnh đạo tỉnh trình bày tại Hội nghị"
SNV08 = "Chuẩn bị trình chiếu danh sách tập thể, cá nhân được khen thưởng lên màn hình LED"
HN = "Tổ chức Hội nghị"

KICKOFF_ITEMS = (
    ItemLine("VP-01", VP01, dt.date(2024, 1, 31), "lead"),
    ItemLine("VP-02", VP02, dt.date(2024, 3, 6), "lead"),
    ItemLine("VP-03", VP03, dt.date(2024, 3, 13), "lead"),
    ItemLine("SNV-07", SNV07, dt.date(2024, 3, 12), "cooperating"),
    ItemLine("SNV-08", SNV08, dt.date(2024, 3, 13), "cooperating"),
    ItemLine("HN", HN, None, "cooperating"),
)

SCRIPT = "<script>alert(1)</script>"


def base(kind: ReminderKind, day: dt.date, **fields: object) -> MessageContext:
    ctx = MessageContext(
        kind=kind,
        day=day,
        plan_title=PLAN_TITLE,
        plan_number=PLAN_NUMBER,
        event_name=EVENT_NAME,
        event_date=EVENT_DATE,
        recipient_name="Trần Thị B",
        recipient_unit=VP,
        role="lead",
        is_copy=False,
        coordinator_unit=SNV,
    )
    return dataclasses.replace(ctx, **fields)  # type: ignore[arg-type]


# The weekly report is worded by tracking.reports (the Excel report's own summary), not by a
# kind template: see notifications.compose.weekly_report and tests/test_flows.py.
TEMPLATED = [kind for kind in ReminderKind if kind is not ReminderKind.WEEKLY_REPORT]


def minimal(kind: ReminderKind) -> MessageContext:
    """Only the required fields; every optional one is None or empty."""
    return MessageContext(
        kind=kind,
        day=dt.date(2024, 3, 1),
        plan_title=PLAN_TITLE,
        plan_number=None,
        event_name=None,
        event_date=None,
        recipient_name="",
        recipient_unit=STC,
        role="lead",
        is_copy=False,
        coordinator_unit=None,
    )


# One realistic context per kind, with phrases the subject and every body must contain.
SAMPLES: dict[ReminderKind, tuple[MessageContext, list[str], list[str]]] = {
    ReminderKind.KICKOFF: (
        base(ReminderKind.KICKOFF, dt.date(2024, 1, 15), items=KICKOFF_ITEMS),
        ["Triển khai Kế hoạch Tổ chức Hội nghị", "đơn vị được giao chủ trì 3 nhiệm vụ"],
        [
            "đơn vị được giao chủ trì 3 nhiệm vụ, phối hợp 3 nhiệm vụ",
            "VP-01",
            "31/01/2024",
            "SNV-08",
            "Phối hợp",
            "Chủ trì",
            "15/03/2024",
        ],
    ),
    ReminderKind.UPCOMING: (
        base(
            ReminderKind.UPCOMING,
            dt.date(2024, 3, 1),
            code="VP-02",
            title=VP02,
            lead_unit=VP,
            cooperating_units=(SNV,),
            due=dt.date(2024, 3, 6),
            working_days_left=3,
        ),
        ["Nhắc việc: nhiệm vụ VP-02", "còn 3 ngày làm việc đến hạn (06/03/2024)"],
        [
            f"Nhiệm vụ VP-02 “{VP02}” do đơn vị chủ trì thực hiện còn 3 ngày làm việc đến hạn"
            " (06/03/2024).",
            SNV,
        ],
    ),
    ReminderKind.DUE_TODAY: (
        base(
            ReminderKind.DUE_TODAY,
            dt.date(2024, 3, 13),
            code="VP-03",
            title=VP03,
            lead_unit=VP,
            due=dt.date(2024, 3, 13),
            working_days_left=0,
        ),
        ["Hôm nay (13/03/2024) là hạn hoàn thành nhiệm vụ VP-03"],
        [
            f"Hôm nay (13/03/2024) là hạn hoàn thành nhiệm vụ VP-03 “{VP03}” do đơn vị chủ trì"
            " thực hiện.",
            "Thời gian còn lại: đến hạn hôm nay",
        ],
    ),
    ReminderKind.OVERDUE: (
        base(
            ReminderKind.OVERDUE,
            dt.date(2024, 2, 2),
            code="VP-01",
            title=VP01,
            detail=VP01_DETAIL,
            lead_unit=VP,
            due=dt.date(2024, 1, 31),
            working_days_overdue=2,
        ),
        ["VP-01", "đã quá hạn 2 ngày làm việc (hạn 31/01/2024)"],
        [
            f"Nhiệm vụ VP-01 “{VP01}” do đơn vị chủ trì thực hiện đã quá hạn 2 ngày làm việc"
            " (hạn 31/01/2024).",
            "Đến nay đơn vị chủ trì chưa báo cáo hoàn thành.",
            "khẩn trương hoàn thành nhiệm vụ và báo cáo kết quả",
            "báo cáo vướng mắc để Sở Nội vụ (Ban Thi đua - Khen thưởng)",
            "Số ngày quá hạn: 2 ngày làm việc",
        ],
    ),
    ReminderKind.ESCALATION: (
        base(
            ReminderKind.ESCALATION,
            dt.date(2024, 2, 7),
            recipient_name="Nguyễn Văn A",
            recipient_role="Chánh Văn phòng",
            recipient_title="Chánh Văn phòng Ủy ban nhân dân tỉnh",
            role="head",
            code="VP-01",
            title=VP01,
            lead_unit=VP,
            due=dt.date(2024, 1, 31),
            working_days_overdue=5,
        ),
        ["Đề nghị chỉ đạo thực hiện nhiệm vụ VP-01", "đã quá hạn 5 ngày làm việc"],
        [
            "Kính gửi: Ông/Bà Nguyễn Văn A, Chánh Văn phòng Ủy ban nhân dân tỉnh",
            f"{SNV} thông báo: nhiệm vụ VP-01",
            "Đề nghị Chánh Văn phòng quan tâm, chỉ đạo",
            "đã quá hạn 5 ngày làm việc",
            "31/01/2024",
        ],
    ),
    ReminderKind.BLOCKED: (
        base(
            ReminderKind.BLOCKED,
            dt.date(2024, 2, 20),
            recipient_name="Phạm Thị D",
            recipient_unit=SNV,
            role="coordinator",
            code="PTTH-01",
            title=PTTH01,
            lead_unit=DPTTH,
            due=dt.date(2024, 2, 28),
            working_days_left=6,
            actor="Phan Thị P",
            reason="Chưa nhận được danh sách tập thể, cá nhân được khen thưởng",
        ),
        [f"{DPTTH} báo vướng mắc", "PTTH-01"],
        [
            f"{DPTTH} báo vướng mắc khi thực hiện nhiệm vụ PTTH-01",
            "Nội dung vướng mắc: Chưa nhận được danh sách tập thể, cá nhân được khen thưởng",
            "Phan Thị P",
            "28/02/2024",
        ],
    ),
    ReminderKind.SUBMITTED: (
        base(
            ReminderKind.SUBMITTED,
            dt.date(2024, 2, 23),
            recipient_name="Phạm Thị D",
            recipient_unit=SNV,
            role="coordinator",
            code="TC-01",
            title=TC01,
            lead_unit=STC,
            due=dt.date(2024, 2, 23),
            working_days_left=0,
            actor="Bùi Thị K",
            note="Đã có Công văn số 123/STC-HCSN thẩm định kinh phí tổ chức Hội nghị",
        ),
        ["Sở Tài chính đã báo cáo hoàn thành nhiệm vụ TC-01"],
        [
            "Sở Tài chính đã báo cáo hoàn thành nhiệm vụ TC-01",
            "đề nghị xem xét, xác nhận",
            "Đã có Công văn số 123/STC-HCSN",
            "Bùi Thị K",
        ],
    ),
    ReminderKind.CONFIRMED: (
        base(
            ReminderKind.CONFIRMED,
            dt.date(2024, 2, 5),
            code="VP-01",
            title=VP01,
            lead_unit=VP,
            due=dt.date(2024, 1, 31),
            working_days_overdue=3,
            actor="Phạm Thị D",
        ),
        ["Xác nhận hoàn thành nhiệm vụ VP-01"],
        [f"{SNV} đã xác nhận hoàn thành nhiệm vụ VP-01 “{VP01}”.", "Người xác nhận: Phạm Thị D"],
    ),
    ReminderKind.RETURNED: (
        base(
            ReminderKind.RETURNED,
            dt.date(2024, 3, 4),
            code="VP-02",
            title=VP02,
            lead_unit=VP,
            cooperating_units=(SNV,),
            due=dt.date(2024, 3, 6),
            working_days_left=2,
            actor="Phạm Thị D",
            reason="Phóng sự còn thiếu phần tổng kết phong trào thi đua năm 2023",
        ),
        ["Trả lại kết quả nhiệm vụ VP-02", "bổ sung, hoàn thiện"],
        [
            "đã được trả lại với lý do: Phóng sự còn thiếu phần tổng kết phong trào thi đua năm"
            " 2023.",
            "báo cáo lại chậm nhất ngày 06/03/2024",
            "Lý do trả lại",
        ],
    ),
    ReminderKind.EXTENDED: (
        base(
            ReminderKind.EXTENDED,
            dt.date(2024, 2, 26),
            recipient_unit=DPTTH,
            code="PTTH-01",
            title=PTTH01,
            lead_unit=DPTTH,
            due=dt.date(2024, 3, 5),
            original_due=dt.date(2024, 2, 28),
            working_days_left=6,
            actor="Lê Văn C",
            reason="Chờ danh sách khen thưởng chính thức",
        ),
        ["Gia hạn nhiệm vụ PTTH-01", "đến ngày 05/03/2024"],
        [
            "hạn hoàn thành mới là 05/03/2024, hạn ban đầu là 28/02/2024",
            f"đã được {SNV} gia hạn",
            "Người quyết định: Lê Văn C",
            "Hạn ban đầu: 28/02/2024",
            "Lý do: Chờ danh sách khen thưởng chính thức",
        ],
    ),
    ReminderKind.PREREQUISITE_DONE: (
        base(
            ReminderKind.PREREQUISITE_DONE,
            dt.date(2024, 2, 27),
            code="VP-02",
            title=VP02,
            lead_unit=VP,
            cooperating_units=(SNV,),
            due=dt.date(2024, 3, 6),
            working_days_left=6,
            prerequisite_code="PTTH-01",
            prerequisite_title=PTTH01,
        ),
        ["Nhiệm vụ PTTH-01", "có thể bắt đầu nhiệm vụ VP-02"],
        [
            f"Nhiệm vụ PTTH-01 “{PTTH01}” đã được xác nhận hoàn thành; đến nay mọi nhiệm vụ"
            " cần hoàn thành trước nhiệm vụ VP-02",
            "đơn vị có thể bắt đầu thực hiện",
            "Thời gian còn lại: 6 ngày làm việc",
        ],
    ),
    ReminderKind.UNBLOCKED: (
        base(
            ReminderKind.UNBLOCKED,
            dt.date(2024, 2, 22),
            recipient_name="Phạm Thị D",
            recipient_unit=SNV,
            role="coordinator",
            code="PTTH-01",
            title=PTTH01,
            lead_unit=DPTTH,
            due=dt.date(2024, 2, 28),
            working_days_left=4,
            actor="Phan Thị P",
        ),
        ["Đã gỡ vướng mắc: nhiệm vụ PTTH-01"],
        [f"Vướng mắc của nhiệm vụ PTTH-01 “{PTTH01}” do {DPTTH} chủ trì đã được gỡ"],
    ),
    ReminderKind.EVENT_PASSED: (
        base(
            ReminderKind.EVENT_PASSED,
            dt.date(2024, 3, 18),
            recipient_name="Phan Thị P",
            recipient_unit=DPTTH,
            code="PTTH-01",
            title=PTTH01,
            lead_unit=DPTTH,
            due=dt.date(2024, 2, 28),
            working_days_overdue=12,
            submitted_on=dt.date(2024, 2, 27),
            returned_on=dt.date(2024, 2, 28),
            return_reason="Phóng sự chưa có phần tổng kết",
        ),
        ["Nhiệm vụ PTTH-01", "không hoàn thành trước thời gian tổ chức (15/03/2024)"],
        [
            f"{EVENT_NAME} đã được tổ chức ngày 15/03/2024.",
            "không còn được nhắc việc",
            "đã báo cáo hoàn thành ngày 27/02/2024; ngày 28/02/2024, kết quả được trả lại để"
            " bổ sung, hoàn thiện với lý do: Phóng sự chưa có phần tổng kết.",
        ],
    ),
}

# Every message shows these, whatever its kind.
COMMON_PHRASES = [PLAN_TITLE, f"(số {PLAN_NUMBER})", SNV, "gửi tự động từ hệ thống giaoviec"]


def text_of_html(html: str) -> str:
    """The visible text of the HTML part, entities decoded, whitespace squashed."""
    body = html.split("<body", 1)[1].split(">", 1)[1]
    body = re.sub(r"</th>\s*<td", ":</th><td", body)  # a fact row reads "label: value"
    body = re.sub(r"<[^>]+>", " ", body)
    return re.sub(r" :", ":", " ".join(html_lib.unescape(body).split()))


def bodies(rendered: Rendered) -> dict[str, str]:
    return {"text": rendered.text, "html": text_of_html(rendered.html), "chat": rendered.chat}


def every_context() -> list[MessageContext]:
    return [ctx for ctx, _, _ in SAMPLES.values()] + [minimal(kind) for kind in TEMPLATED]


# --- templates exist --------------------------------------------------------------------


def test_every_kind_has_a_template_defining_its_wording() -> None:
    assert set(SAMPLES) == set(TEMPLATED)
    for kind in TEMPLATED:
        assert (TEMPLATE_DIR / kind_template(kind)).is_file(), kind
        module = environment().get_template(kind_template(kind)).module
        missing = [name for name in KIND_EXPORTS if not hasattr(module, name)]
        assert not missing, (kind, missing)
        assert vars(module)["tone"] in {"danger", "warning", "success", "info"}
    for layout in LAYOUTS:
        assert (TEMPLATE_DIR / layout).is_file()


def test_no_template_file_for_an_unknown_kind() -> None:
    names = {path.stem for path in (TEMPLATE_DIR / "kinds").glob("*.j2")}
    assert names == {kind.value for kind in TEMPLATED}


# --- wording ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", TEMPLATED, ids=lambda kind: kind.value)
def test_each_kind_renders_its_key_phrases(kind: ReminderKind) -> None:
    ctx, in_subject, in_body = SAMPLES[kind]
    rendered = render(ctx)
    for phrase in in_subject:
        assert phrase in rendered.subject, (phrase, rendered.subject)
    for name, body in bodies(rendered).items():
        for phrase in [*in_body, *COMMON_PHRASES]:
            assert phrase in body, (name, phrase, body)
        assert f"Ngày {vn_date(ctx.day)}" in body or name == "chat"
    if ctx.code is not None:
        for name, body in bodies(rendered).items():
            assert f"{ctx.code} – {ctx.title}" in body, name
            assert f"Đơn vị chủ trì: {ctx.lead_unit}" in body, name
            assert f"Hạn hoàn thành: {vn_date(ctx.due)}" in body, name
            coop = "; ".join(ctx.cooperating_units) or "không có"
            assert f"Đơn vị phối hợp: {coop}" in body, name


def test_greeting_addresses_the_person_by_the_title_on_record() -> None:
    rendered = render(SAMPLES[ReminderKind.UPCOMING][0])
    for body in bodies(rendered).values():
        assert "Kính gửi: Ông/Bà Trần Thị B, Văn phòng Ủy ban nhân dân tỉnh" in body


@pytest.mark.parametrize(
    ("role", "unit", "is_head", "title"),
    [
        ("Giám đốc Đài", DPTTH, True, "Giám đốc Đài Phát thanh và Truyền hình An Giang"),
        ("Giám đốc Sở", STC, True, "Giám đốc Sở Tài chính"),
        ("Chánh Văn phòng", VP, True, "Chánh Văn phòng Ủy ban nhân dân tỉnh"),
        ("Tổng Biên tập", "Báo An Giang", True, "Tổng Biên tập Báo An Giang"),
        (
            "Trưởng ban Ban Thi đua - Khen thưởng",
            SNV,
            True,
            "Trưởng ban Ban Thi đua - Khen thưởng, Sở Nội vụ",
        ),
        (
            "Chuyên viên Ban Thi đua - Khen thưởng",
            SNV,
            False,
            "Chuyên viên Ban Thi đua - Khen thưởng, Sở Nội vụ",
        ),
        (None, STC, True, "Thủ trưởng Sở Tài chính"),
        (None, SNV, False, SNV),
    ],
)
def test_titles_merge_role_and_unit(role: str | None, unit: str, is_head: bool, title: str) -> None:
    assert addressed_title(role, unit, is_head=is_head) == title


def test_no_doubled_parentheses_in_any_greeting() -> None:
    ctx = dataclasses.replace(
        SAMPLES[ReminderKind.SUBMITTED][0],
        recipient_title=addressed_title("Chuyên viên Ban Thi đua - Khen thưởng", SNV),
    )
    for body in bodies(render(ctx)).values():
        assert ") (" not in body and "(Ông/Bà" not in body


def test_dates_are_day_month_year() -> None:
    assert vn_date(dt.date(2024, 3, 5)) == "05/03/2024"
    assert vn_date(None) == "chưa xác định"
    for ctx, _, _ in SAMPLES.values():
        rendered = render(ctx)
        for part in (rendered.subject, rendered.text, rendered.html, rendered.chat):
            assert not re.search(r"\d{4}-\d{2}-\d{2}", part)


def test_kickoff_lists_every_assignment_and_flags_dates_not_set() -> None:
    rendered = render(SAMPLES[ReminderKind.KICKOFF][0])
    assert "1. VP-01 – Tham mưu Thường trực UBND tỉnh" in rendered.text
    assert "6. HN – Tổ chức Hội nghị – hạn chưa xác định – Phối hợp" in rendered.text
    assert "SNV-07 – Chuẩn bị diễn văn của Lãnh đạo tỉnh trình bày tại Hội nghị" in rendered.chat
    assert "sẽ được thông báo khi có thời gian tổ chức chính thức" in rendered.text
    assert rendered.html.count("<tr><td") == len(KICKOFF_ITEMS)
    assert "… và" not in rendered.chat  # a short list is not truncated


def test_escalation_speaks_differently_to_the_head_and_the_coordinator() -> None:
    head = SAMPLES[ReminderKind.ESCALATION][0]
    coordinator = dataclasses.replace(
        head,
        role="coordinator",
        recipient_name="Lê Văn C",
        recipient_unit=SNV,
        recipient_role="Trưởng ban Ban Thi đua - Khen thưởng",
        recipient_title="Trưởng ban Ban Thi đua - Khen thưởng, Sở Nội vụ",
    )
    to_head, to_coordinator = render(head), render(coordinator)
    for rendered in (to_head, to_coordinator):
        for body in bodies(rendered).values():
            # The coordinating unit informs and asks; it does not report to a peer's head.
            assert "Kính báo cáo" not in body and "Lãnh đạo" not in body
    assert "Đề nghị Chánh Văn phòng quan tâm, chỉ đạo" in to_head.chat
    assert f"do {VP} chủ trì đã quá hạn 5 ngày làm việc" in to_coordinator.text
    assert "theo dõi, đôn đốc Văn phòng Ủy ban nhân dân tỉnh thực hiện" in to_coordinator.chat
    assert "Kính gửi: Ông/Bà Lê Văn C, Trưởng ban Ban Thi đua - Khen thưởng, Sở Nội vụ" in (
        to_coordinator.text
    )
    assert to_head.subject.startswith("Đề nghị chỉ đạo")
    assert to_coordinator.subject.startswith("Thông báo nhiệm vụ chậm tiến độ")


def test_escalation_and_overdue_tell_of_a_return_and_its_reason() -> None:
    story = {
        "submitted_on": dt.date(2024, 2, 1),
        "returned_on": dt.date(2024, 2, 2),
        "return_reason": "Thiếu dự thảo Kế hoạch kèm theo",
    }
    for kind in (ReminderKind.ESCALATION, ReminderKind.OVERDUE):
        ctx = dataclasses.replace(SAMPLES[kind][0], **story)  # type: ignore[arg-type]
        for body in bodies(render(ctx)).values():
            assert "đã báo cáo hoàn thành ngày 01/02/2024" in body
            assert "ngày 02/02/2024, kết quả được trả lại" in body
            assert "với lý do: Thiếu dự thảo Kế hoạch kèm theo." in body
            assert "chưa báo cáo hoàn thành" not in body
            assert "chưa báo cáo lại kết quả" in body


def test_escalation_tells_of_a_blocker_in_force() -> None:
    ctx = dataclasses.replace(
        SAMPLES[ReminderKind.ESCALATION][0],
        blocked_on=dt.date(2024, 2, 5),
        blocked_reason="Chờ ý kiến của Thường trực UBND tỉnh",
    )
    text = render(ctx).text
    assert f"Ngày 05/02/2024, {VP} đã báo vướng mắc: Chờ ý kiến" in " ".join(text.split())
    assert "vướng mắc chưa được tháo gỡ" in text


def test_a_returned_mail_on_the_due_date_asks_for_today() -> None:
    ctx = dataclasses.replace(
        SAMPLES[ReminderKind.RETURNED][0], day=dt.date(2024, 3, 6), working_days_left=0
    )
    text = " ".join(render(ctx).text.split())
    assert "trước hạn" not in text
    assert "báo cáo lại trong ngày hôm nay (06/03/2024, hạn hoàn thành)" in text


def test_the_blocker_reason_is_printed_once() -> None:
    rendered = render(SAMPLES[ReminderKind.BLOCKED][0])
    reason = "Chưa nhận được danh sách tập thể, cá nhân được khen thưởng"
    for body in bodies(rendered).values():
        assert body.count(reason) == 1


def test_kickoff_names_the_plan_and_leaves_out_zero_counts() -> None:
    lead_only = tuple(i for i in KICKOFF_ITEMS if i.role == "lead")
    ctx = base(ReminderKind.KICKOFF, dt.date(2024, 1, 15), items=lead_only)
    rendered = render(ctx)
    for body in (rendered.subject, *bodies(rendered).values()):
        assert "phối hợp 0" not in body and "đã được ban hành" not in body
    assert "chủ trì 3 nhiệm vụ" in rendered.subject
    assert f"{PLAN_TITLE} (số {PLAN_NUMBER}) được đưa vào theo dõi" in " ".join(
        rendered.text.split()
    )


def test_a_cooperating_units_copy_says_so() -> None:
    lead = SAMPLES[ReminderKind.OVERDUE][0]
    copy = dataclasses.replace(
        lead, recipient_unit=SNV, role="cooperating", is_copy=True, cooperating_units=(SNV,)
    )
    marked, unmarked = render(copy), render(lead)
    note = "Bản gửi đơn vị phối hợp để biết và phối hợp"
    for body in (marked.text, marked.html, marked.chat):
        assert note in body
    assert marked.subject.startswith("[Phối hợp] ")
    assert f"do {VP} chủ trì, đơn vị phối hợp thực hiện, đã quá hạn 2 ngày làm việc" in marked.text
    assert "phối hợp chặt chẽ với Văn phòng Ủy ban nhân dân tỉnh" in marked.chat
    for body in (unmarked.text, unmarked.html, unmarked.chat, unmarked.subject):
        assert note not in body
        assert "[Phối hợp]" not in body


def test_colour_cue_follows_the_kind() -> None:
    red, orange, green = "#b91c1c", "#c2410c", "#15803d"
    assert red in render(SAMPLES[ReminderKind.OVERDUE][0]).html
    assert red in render(SAMPLES[ReminderKind.ESCALATION][0]).html
    assert orange in render(SAMPLES[ReminderKind.UPCOMING][0]).html
    assert orange in render(SAMPLES[ReminderKind.DUE_TODAY][0]).html
    confirmed = render(SAMPLES[ReminderKind.CONFIRMED][0]).html
    assert green in confirmed and red not in confirmed


def test_html_is_self_contained() -> None:
    for ctx in every_context():
        html = render(ctx).html
        assert html.startswith("<!DOCTYPE html>")
        assert "max-width:600px" in html
        assert "<script" not in html.lower()
        assert not re.search(r"(src|href)=\"(?!https?://)", html)
        assert "<link" not in html and "<img" not in html


# --- chat length --------------------------------------------------------------------------


def test_chat_of_a_kickoff_with_300_items_stays_within_the_limit() -> None:
    items = tuple(
        ItemLine(f"NV-{n:03d}", f"{VP02} lần thứ {n}", dt.date(2024, 3, 6), "lead")
        for n in range(1, 301)
    )
    ctx = base(ReminderKind.KICKOFF, dt.date(2024, 1, 15), items=items)
    rendered = render(ctx)
    assert len(rendered.chat) <= CHAT_LIMIT
    shown = re.findall(r"^(\d+)\. NV-", rendered.chat, flags=re.MULTILINE)
    assert 0 < len(shown) < 300
    assert [int(n) for n in shown] == list(range(1, len(shown) + 1))
    assert f"… và {300 - len(shown)} nhiệm vụ khác" in rendered.chat
    # whole lines only, and the rest of the message is still there
    assert re.search(
        rf"^{len(shown)}\. NV-{len(shown):03d} – .* – hạn 06/03/2024 – Chủ trì$",
        rendered.chat,
        flags=re.MULTILINE,
    )
    # as many as fit: one more line would break the limit
    next_line = f"{len(shown) + 1}. NV-{len(shown) + 1:03d} – {items[len(shown)].title} – hạn "
    assert len(rendered.chat) + len(next_line) + len("06/03/2024 – Chủ trì\n") > CHAT_LIMIT
    assert "chủ trì 300 nhiệm vụ." in rendered.chat and "phối hợp 0" not in rendered.chat
    assert rendered.chat.endswith("Tin nhắn được gửi tự động từ hệ thống giaoviec.")
    # the email keeps the whole list
    assert "300. NV-300" in rendered.text
    assert "nhiệm vụ khác" not in rendered.text


def test_chat_shortens_long_free_text_between_words() -> None:
    words = [f"từ{n}" for n in range(1500)]
    ctx = dataclasses.replace(SAMPLES[ReminderKind.SUBMITTED][0], note=" ".join(words))
    rendered = render(ctx)
    assert len(rendered.chat) <= CHAT_LIMIT
    assert rendered.chat.endswith("Tin nhắn được gửi tự động từ hệ thống giaoviec.")
    note_line = next(line for line in rendered.chat.splitlines() if "Nội dung báo cáo" in line)
    shown = note_line.split(": ", 1)[1]
    assert shown.endswith("…")
    assert shown[:-1].split() == words[: len(shown[:-1].split())]  # no word cut in half
    assert " ".join(words) in rendered.text  # the email is not shortened


def test_chat_of_every_sample_is_within_the_limit() -> None:
    for ctx in every_context():
        assert 0 < len(render(ctx).chat) <= CHAT_LIMIT


# --- escaping, links, leaks -----------------------------------------------------------------


def test_html_escapes_user_text() -> None:
    ctx = dataclasses.replace(SAMPLES[ReminderKind.SUBMITTED][0], note=SCRIPT, title=SCRIPT)
    rendered = render(ctx)
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert f"Nội dung báo cáo: {SCRIPT}" in rendered.text  # text is not HTML-escaped
    assert SCRIPT in rendered.chat
    assert "&lt;" not in rendered.text + rendered.chat + rendered.subject


@pytest.mark.parametrize("kind", TEMPLATED, ids=lambda kind: kind.value)
def test_html_escapes_every_user_field(kind: ReminderKind) -> None:
    ctx = dataclasses.replace(
        SAMPLES[kind][0],
        plan_title=SCRIPT,
        plan_number=SCRIPT,
        event_name=SCRIPT,
        recipient_name=SCRIPT,
        recipient_unit=SCRIPT,
        coordinator_unit=SCRIPT,
        code=SCRIPT,
        title=SCRIPT,
        detail=SCRIPT + " chi tiết",
        lead_unit=SCRIPT,
        cooperating_units=(SCRIPT,),
        actor=SCRIPT,
        reason=SCRIPT,
        note=SCRIPT,
        prerequisite_code=SCRIPT,
        prerequisite_title=SCRIPT,
        items=(ItemLine(SCRIPT, SCRIPT, None, "lead"),),
        links=((SCRIPT, SCRIPT),),
    )
    html = render(ctx).html
    assert "<script" not in html
    assert "&lt;script&gt;" in html


def test_links_appear_in_all_three_bodies() -> None:
    url = "https://giaoviec.example.gov.vn/a/VP-02/submit?t=abc&u=7"
    links = (("Báo cáo hoàn thành", url), ("Báo vướng mắc", url.replace("submit", "block")))
    ctx = dataclasses.replace(SAMPLES[ReminderKind.UPCOMING][0], links=links)
    rendered = render(ctx)
    for label, target in links:
        assert f"{label}: {target}" in rendered.text
        assert f"{label}: {target}" in rendered.chat
        assert f'<a href="{target.replace("&", "&amp;")}"' in rendered.html
        assert f">{label}</a>" in rendered.html
    without = render(SAMPLES[ReminderKind.UPCOMING][0])
    assert "<a href" not in without.html and "https://" not in without.text


def test_a_link_that_is_not_http_is_never_a_href() -> None:
    ctx = dataclasses.replace(
        SAMPLES[ReminderKind.UPCOMING][0], links=(("Mở", "javascript:alert(1)"),)
    )
    html = render(ctx).html
    assert 'href="javascript' not in html
    assert "Mở: javascript:alert(1)" in html


@pytest.mark.parametrize("kind", TEMPLATED, ids=lambda kind: kind.value)
def test_nothing_leaks_with_full_or_minimal_contexts(kind: ReminderKind) -> None:
    for ctx in (SAMPLES[kind][0], minimal(kind)):
        rendered = render(ctx)
        for part in (rendered.subject, rendered.text, rendered.html, rendered.chat):
            for leak in ("None", "{{", "}}", "{%", "%}", "Undefined", "\t"):
                assert leak not in part, (kind, leak, part)
            assert "  " not in part.replace("\n", "|") or part is rendered.html
        assert rendered.subject and rendered.text and rendered.chat


def test_minimal_contexts_fall_back_to_wording_for_missing_values() -> None:
    rendered = render(minimal(ReminderKind.OVERDUE))
    assert "Kính gửi: Sở Tài chính\n" in rendered.text
    assert "Hạn hoàn thành: chưa xác định" in rendered.text
    assert "liên hệ đơn vị đầu mối theo dõi Kế hoạch" in rendered.text
    assert "Sự kiện" not in rendered.text  # no event: no event row


def test_subject_is_a_single_line() -> None:
    tricky = dataclasses.replace(
        SAMPLES[ReminderKind.OVERDUE][0], title="Xây dựng\nphóng sự\r\n  trình chiếu"
    )
    for ctx in [*every_context(), tricky]:
        subject = render(ctx).subject
        assert subject == subject.strip()
        assert "\n" not in subject and "\r" not in subject
    assert "Xây dựng phóng sự trình chiếu" in render(tricky).subject


def test_output_is_nfc_normalised() -> None:
    decomposed = unicodedata.normalize("NFD", VP02)
    ctx = dataclasses.replace(SAMPLES[ReminderKind.UPCOMING][0], title=decomposed)
    rendered = render(ctx)
    assert VP02 in rendered.chat and VP02 in rendered.subject and VP02 in rendered.text


# --- environment --------------------------------------------------------------------------


def test_environment_is_strict_cached_and_escapes_html_only() -> None:
    env = environment()
    assert env is environment()
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ missing }}").render()
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ ctx.no_such_field }}").render(ctx=minimal(ReminderKind.OVERDUE))
    assert callable(env.autoescape)
    assert env.autoescape("email.html.j2") is True
    for name in ("email.txt.j2", "chat.txt.j2", "subject.txt.j2", "kinds/overdue.j2"):
        assert env.autoescape(name) is False
    assert env.trim_blocks and env.lstrip_blocks


def test_a_layout_missing_a_variable_fails_loudly() -> None:
    for layout in LAYOUTS:
        with pytest.raises(jinja2.UndefinedError):
            environment().get_template(layout).render(max_items=1)  # no ctx


def test_a_draft_blank_number_is_never_cited() -> None:
    """The built-in plan is numbered "/KH-UBND" (blank in the draft): no message, report or
    header may say "Kế hoạch số /KH-UBND"; a real number is cited."""
    from models.numbering import citable_number

    assert citable_number("/KH-UBND") is None
    assert citable_number("   /KH-UBND") is None
    assert citable_number(None) is None
    assert citable_number(" 125/KH-UBND ") == "125/KH-UBND"


def test_a_correction_to_an_earlier_date_is_not_called_an_extension() -> None:
    """Undoing an extension to a wrong year (14.2) is "điều chỉnh thời hạn", never "gia hạn"."""
    ctx = base(
        ReminderKind.EXTENDED,
        dt.date(2024, 2, 26),
        recipient_unit=DPTTH,
        code="PTTH-01",
        title=PTTH01,
        lead_unit=DPTTH,
        due=dt.date(2024, 3, 5),
        original_due=dt.date(2024, 2, 28),
        working_days_left=6,
        actor="Lê Văn C",
        reason="Nhập nhầm năm 2204",
        due_corrected=True,
    )
    out = render(ctx)
    assert out.subject.startswith("Điều chỉnh thời hạn nhiệm vụ PTTH-01")
    assert "hạn hoàn thành là ngày 05/03/2024" in out.subject
    for text in (out.subject, out.text, out.chat):
        assert "gia hạn" not in text.lower(), text
    assert "điều chỉnh lại là ngày 05/03/2024" in out.text
