"""Plan files: the built-in plan is valid; every kind of bad file is named precisely."""

from __future__ import annotations

import pytest

from tests.conftest import BUILTIN_PLAN
from tests.plan_samples import SMALL_PLAN
from tracking.planio import PlanFileError, check_plan_text, read_plan_file


def problems(text: str | bytes) -> list[str]:
    raw = text.encode() if isinstance(text, str) else text
    with pytest.raises(PlanFileError) as caught:
        check_plan_text(raw, "ke-hoach.yaml")
    return [str(p) for p in caught.value.problems]


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    count = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            count += 1
            if count == occurrence:
                return number
    raise AssertionError(needle)


def test_builtin_plan_is_valid() -> None:
    checked = read_plan_file(BUILTIN_PLAN)
    spec = checked.spec
    assert spec.plan.code == "an-giang-2024-hoi-nghi-thi-dua"
    assert spec.plan.event.date is None and spec.plan.event.window_text == "Trong quý I năm 2024"
    leads = {a.lead for a in spec.assignments}
    # Every unit Section V names leads at least one assignment.
    assert {"VP-UBND", "SNV", "SVHTTDL", "STC", "BAG", "DPTTH"} <= leads
    assert checked.order.index("VP-01") < checked.order.index("HN")


def test_small_plan_is_valid_and_after_implies_a_prerequisite() -> None:
    checked = check_plan_text(SMALL_PLAN.encode(), "x.yaml")
    assert checked.prerequisites["B"] == {"A"}
    assert checked.order.index("A") < checked.order.index("B") < checked.order.index("HN")


def test_yaml_syntax_error_names_the_line() -> None:
    text = SMALL_PLAN.replace(
        "    lead: SNV\n    cooperating: [STC]", "    lead: SNV\n    cooperating: [STC"
    )
    found = problems(text)
    assert len(found) == 1
    assert found[0].startswith("ke-hoach.yaml:")
    assert "lỗi cú pháp YAML" in found[0]


def test_unknown_unit_names_line_and_field() -> None:
    text = SMALL_PLAN.replace("    lead: STC", "    lead: SKHDT")
    found = problems(text)
    assert found == [
        f"ke-hoach.yaml:{line_of(text, 'lead: SKHDT')}: assignments[2].lead: "
        "không có đơn vị mã “SKHDT” trong danh sách units"
    ]


def test_unknown_cooperating_unit() -> None:
    text = SMALL_PLAN.replace("cooperating: [STC]", "cooperating: [STC, BAG]")
    found = problems(text)
    assert found == [
        f"ke-hoach.yaml:{line_of(text, 'cooperating: [STC, BAG]')}: assignments[0].cooperating[1]: "
        "không có đơn vị mã “BAG” trong danh sách units"
    ]


def test_duplicate_assignment_code() -> None:
    text = SMALL_PLAN.replace("  - code: B\n", "  - code: A\n")
    found = problems(text)
    assert len(found) >= 1
    assert found[0] == (
        f"ke-hoach.yaml:{line_of(text, '- code: A', 2)}: assignments[1].code: "
        "mã nhiệm vụ “A” bị trùng"
    )


def test_dependency_cycle_names_the_loop() -> None:
    text = SMALL_PLAN.replace(
        "    cooperating: [STC]\n", "    cooperating: [STC]\n    requires: [HN]\n"
    )
    found = problems(text)
    assert len(found) == 1
    assert "phụ thuộc vòng tròn" in found[0]
    for code in ("A", "B", "HN"):
        assert code in found[0]


def test_unknown_prerequisite() -> None:
    text = SMALL_PLAN.replace("requires: [B, C]", "requires: [B, Z]")
    found = problems(text)
    assert found == [
        f"ke-hoach.yaml:{line_of(text, 'requires: [B, Z]')}: assignments[3].requires[1]: "
        "không có nhiệm vụ mã “Z” trong kế hoạch"
    ]


@pytest.mark.parametrize("bad", ["31/02/2024", "2024-13-01", "ngày mai"])
def test_bad_date(bad: str) -> None:
    text = SMALL_PLAN.replace("deadline: {date: 10/03/2024}", f"deadline: {{date: '{bad}'}}")
    found = problems(text)
    assert len(found) == 1
    assert found[0].startswith(f"ke-hoach.yaml:{line_of(text, bad)}: assignments[2].deadline.date:")
    assert "ngày không hợp lệ" in found[0]


def test_misspelled_field_is_refused() -> None:
    text = SMALL_PLAN.replace("    lead: STC", "    lead: STC\n    dealine: {event: -3}")
    found = problems(text)
    assert found == [
        f"ke-hoach.yaml:{line_of(text, 'dealine')}: assignments[2].dealine: "
        "trường không được phép (viết sai tên trường?)"
    ]


def test_missing_required_field() -> None:
    text = SMALL_PLAN.replace("    lead: STC\n", "")
    found = problems(text)
    assert found == [
        f"ke-hoach.yaml:{line_of(text, '- code: C')}: assignments[2].lead: thiếu trường bắt buộc"
    ]


def test_deadline_needs_exactly_one_anchor() -> None:
    text = SMALL_PLAN.replace("deadline: {event: -12}", "deadline: {event: -12, date: 2024-03-01}")
    found = problems(text)
    assert len(found) == 1
    assert "assignments[0].deadline" in found[0]
    assert "đúng một trong" in found[0]


def test_aliases_are_refused() -> None:
    text = SMALL_PLAN.replace("    cooperating: [STC]\n", "    cooperating: &c [STC]\n").replace(
        "    requires: [A]\n", "    requires: [A]\n    cooperating: *c\n"
    )
    found = problems(text)
    assert any("tham chiếu YAML" in p for p in found)


def test_duplicate_keys_are_refused() -> None:
    text = SMALL_PLAN.replace("    lead: STC\n", "    lead: STC\n    lead: SNV\n")
    found = problems(text)
    assert found == [
        f"ke-hoach.yaml:{line_of(text, 'lead: SNV', 3)}: assignments[2].lead: khóa bị lặp lại"
    ]


def test_empty_and_non_utf8_files() -> None:
    assert problems("") == ["ke-hoach.yaml: tệp kế hoạch trống"]
    assert problems("tiêu đề: x".encode("utf-16")) == ["ke-hoach.yaml: tệp không phải UTF-8"]


def test_lead_cannot_also_cooperate() -> None:
    text = SMALL_PLAN.replace("cooperating: [STC]", "cooperating: [SNV]")
    found = problems(text)
    assert found == [
        f"ke-hoach.yaml:{line_of(text, 'cooperating: [SNV]')}: assignments[0].cooperating[0]: "
        "đơn vị chủ trì không đồng thời là đơn vị phối hợp"
    ]


def test_several_problems_are_all_reported() -> None:
    text = SMALL_PLAN.replace("    lead: STC", "    lead: X1").replace(
        "requires: [B, C]", "requires: [B, Z]"
    )
    assert len(problems(text)) == 2
