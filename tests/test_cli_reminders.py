"""The reminder commands as an operator types them: activate, remind, deliver, outbox, contacts."""

from __future__ import annotations

import json
import os
from pathlib import Path

from sqlalchemy.engine import Engine

from tests.test_cli import ANG, giaoviec


def setup_plan() -> None:
    assert giaoviec("init")[0] == 0
    assert giaoviec("plan", "set-event-date", ANG, "15/03/2024")[0] == 0


def outbox_json(*extra: str) -> list[dict[str, object]]:
    code, out, err = giaoviec("outbox", "--json", *extra)
    assert code == 0, err
    data: list[dict[str, object]] = json.loads(out)
    return data


def test_activate_remind_deliver_round_trip(clean_engine: Engine) -> None:
    setup_plan()
    code, out, _ = giaoviec("plan", "activate", ANG, "--today", "2024-02-01")
    assert code == 0 and "Đã kích hoạt" in out
    code, out, _ = giaoviec("plan", "activate", ANG, "--today", "2024-02-02")
    assert code == 0 and "đã được kích hoạt từ trước" in out
    kickoff = outbox_json()
    assert kickoff and {m["kind"] for m in kickoff} == {"kickoff"}

    code, out, _ = giaoviec("remind", "--dry-run", "--today", "2024-03-04")
    assert code == 0 and "Sẽ đưa" in out and "Nhắc việc quá hạn" in out
    assert len(outbox_json()) == len(kickoff)  # the dry run changed nothing

    code, out, _ = giaoviec("remind", "--today", "2024-03-04")
    assert code == 0 and "Đã đưa" in out
    enqueued = outbox_json("--day", "2024-03-04")
    assert enqueued and all(m["status"] == "pending" for m in enqueued)
    code, out, _ = giaoviec("remind", "--today", "2024-03-04")
    assert "Đã đưa 0 tin mới" in out  # a second run adds nothing

    code, out, _ = giaoviec("remind", "--today", "2024-02-10")
    assert code == 0 and "ngày nghỉ" in out  # Tết

    code, out, _ = giaoviec("deliver", "--today", "2024-03-04")
    assert code == 0 and "Đã gửi" in out
    assert {m["status"] for m in outbox_json()} == {"sent"}
    home = Path(os.environ["GIAOVIEC_HOME"])
    assert len(list((home / "outbox").rglob("*.eml"))) == len(outbox_json())
    assert outbox_json("--status", "pending") == []


def test_outbox_rejects_an_unknown_status(clean_engine: Engine) -> None:
    setup_plan()
    code, _, err = giaoviec("outbox", "--status", "lost")
    assert code == 2 and "không hợp lệ" in err


def test_contacts_set_and_list(clean_engine: Engine) -> None:
    setup_plan()
    code, out, _ = giaoviec(
        "contacts",
        "set",
        "STC",
        "Hồ Văn G",
        "--email",
        "g@example.gov.vn",
        "--zalo",
        "5566",
        "--role",
        "Chuyên viên",
    )
    assert code == 0 and "Đã thêm" in out
    code, out, _ = giaoviec("contacts", "set", "STC", "Hồ Văn G", "--phone", "0912345678")
    assert code == 0 and "Đã cập nhật" in out
    code, out, _ = giaoviec("contacts", "list", "--department", "STC", "--json")
    person = next(c for c in json.loads(out) if c["name"] == "Hồ Văn G")
    assert (person["email"], person["zalo_user_id"], person["phone"]) == (
        "g@example.gov.vn",
        "5566",
        "0912345678",
    )
    code, _, err = giaoviec("contacts", "set", "STC", "Hồ Văn G", "--email", "khong-phai-email")
    assert code == 2 and "email" in err
    code, _, err = giaoviec("contacts", "set", "XYZ", "A", "--email", "a@example.gov.vn")
    assert code == 2 and "Không tìm thấy đơn vị" in err


def test_deliver_limit_is_honoured(clean_engine: Engine) -> None:
    setup_plan()
    giaoviec("plan", "activate", ANG, "--today", "2024-02-01")
    code, _, _ = giaoviec("deliver", "--limit", "1", "--today", "2024-02-01")
    assert code == 0
    statuses = [m["status"] for m in outbox_json()]
    assert statuses.count("sent") == 1 and statuses.count("pending") == len(statuses) - 1


def test_simulation_replays_the_plan_with_a_script(clean_engine: Engine, tmp_path: Path) -> None:
    """Six weeks before the conference to one week after, with a few scripted actions."""
    setup_plan()
    giaoviec("plan", "activate", ANG, "--today", "2024-02-01")
    script = tmp_path / "kich-ban.yaml"
    script.write_text(
        "- {day: 2024-02-05, action: submit, assignment: VP-01, by: Trần Thị B}\n"
        "- {day: 2024-02-06, action: confirm, assignment: VP-01, by: Lê Văn C}\n"
        "- {day: 2024-02-26, action: submit, assignment: SNV-01, by: Phạm Thị D}\n"
        "- {day: 2024-02-27, action: confirm, assignment: SNV-01, by: Lê Văn C}\n",
        encoding="utf-8",
    )
    code, out, err = giaoviec(
        "simulate", "--from", "2024-02-01", "--to", "2024-03-22", "--script", str(script)
    )
    assert code == 0, err
    assert "10/02/2024 (Thứ Bảy) ngày nghỉ" in out and "12/02/2024 (Thứ Hai) ngày nghỉ" in out
    sent = outbox_json("--status", "sent", "--limit", "100000")
    by_kind: dict[str, set[str]] = {}
    for message in sent:
        by_kind.setdefault(str(message["kind"]), set()).add(str(message["day"]))
    for kind in (
        "kickoff",
        "upcoming",
        "due_today",
        "overdue",
        "escalation",
        "submitted",
        "confirmed",
        "prerequisite_done",
    ):
        assert kind in by_kind, kind
    tet = {f"2024-02-{d:02d}" for d in range(8, 15)}
    assert not any(days & tet for days in by_kind.values())  # nothing sent during Tết
    # VP-01 (due 26/01) was overdue from the start: reminded on 01/02 and 02/02, then
    # submitted on 05/02, after which it is never reminded again.
    vp01 = {str(m["day"]) for m in sent if m["assignment"] == "VP-01" and m["kind"] == "overdue"}
    assert vp01 == {"2024-02-01", "2024-02-02"}
    assert "Tổng số: 20 nhiệm vụ" in out


def test_simulation_script_errors_name_the_step(clean_engine: Engine, tmp_path: Path) -> None:
    setup_plan()
    script = tmp_path / "kich-ban.yaml"
    script.write_text("- {day: 2024-02-05, action: finish, assignment: VP-01}\n", encoding="utf-8")
    code, _, err = giaoviec(
        "simulate", "--from", "2024-02-01", "--to", "2024-02-02", "--script", str(script)
    )
    assert code == 2 and "steps.0.action" in err


def test_zalo_tokens_are_read_from_standard_input(home: Path) -> None:
    from cli.main import app
    from notifications.zalo import FileTokenStore
    from tests.test_cli import runner

    result = runner.invoke(app, ["zalo", "set-token"], input="tok-access\ntok-refresh\n")
    assert result.exit_code == 0, result.stderr
    pair = FileTokenStore(home / "zalo").get()
    assert (pair.access_token, pair.refresh_token) == ("tok-access", "tok-refresh")
    assert "tok-" not in result.stdout  # tokens are never echoed
    bad = runner.invoke(app, ["zalo", "set-token"], input="only-one-line\n")
    assert bad.exit_code == 2
