"""Small plan files for tests, written the way an operator would."""

from __future__ import annotations

SMALL_PLAN = """\
version: 1
plan:
  code: thu-nghiem
  title: Kế hoạch thử nghiệm
  issuer: Ủy ban nhân dân tỉnh An Giang
  coordinator: SNV
  event:
    name: Hội nghị thử nghiệm
    date: 2024-03-15
units:
  - code: SNV
    name: Sở Nội vụ
    contacts:
      - name: Lê Văn C
        email: c@example.gov.vn
        is_head: true
        is_coordinator: true
  - code: STC
    name: Sở Tài chính
assignments:
  - code: A
    title: Thống kê danh sách khen thưởng
    lead: SNV
    cooperating: [STC]
    deadline: {event: -12}
  - code: B
    title: Phát hành giấy mời
    lead: SNV
    deadline: {after: A, days: 2}
  - code: C
    title: Thẩm định kinh phí
    lead: STC
    requires: [A]
    deadline: {date: 10/03/2024}
  - code: HN
    title: Tổ chức Hội nghị
    lead: SNV
    requires: [B, C]
    deadline: {event: 0}
"""


def small_plan(**replacements: str) -> str:
    """SMALL_PLAN with exact substrings replaced (each must occur)."""
    text = SMALL_PLAN
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    return text
