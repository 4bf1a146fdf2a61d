"""The ``giaoviec`` command as a user types it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from cli.main import app
from tests.conftest import REPO
from tests.plan_samples import SMALL_PLAN

runner = CliRunner()
ANG = "an-giang-2024-hoi-nghi-thi-dua"


def giaoviec(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def loaded(clean_engine: Engine) -> Engine:
    code, out, err = giaoviec("init")
    assert code == 0, err
    assert f"Đã tạo kế hoạch {ANG}" in out
    return clean_engine


def status_json(*extra: str) -> list[dict[str, object]]:
    code, out, err = giaoviec("status", "--json", *extra)
    assert code == 0, err
    data: list[dict[str, object]] = json.loads(out)
    return data


def test_init_set_event_date_status_shows_the_whole_plan(loaded: Engine) -> None:
    code, out, _ = giaoviec("plan", "set-event-date", ANG, "2024-03-15")
    assert code == 0 and "15/03/2024" in out
    code, out, _ = giaoviec("status", "--today", "2024-03-01")
    assert code == 0
    assert "Hội nghị tổng kết công tác thi đua" in out and "còn 10 ngày làm việc" in out
    rows = status_json("--today", "01/03/2024")
    assert len(rows) == 20
    assert {r["code"] for r in rows} >= {
        "VP-01",
        "SNV-01",
        "VH-01",
        "TC-01",
        "PTTH-01",
        "BAG-01",
        "HN",
    }
    assert next(r for r in rows if r["code"] == "VP-01")["due"] == "2024-01-26"
    for row in rows:
        assert not ("2024-02-08" <= str(row["due"]) <= "2024-02-14"), row


def test_init_is_repeatable(loaded: Engine) -> None:
    code, out, _ = giaoviec("init")
    assert code == 0 and "thêm 0, sửa 0, hủy 0" in out


def test_plan_list_json(loaded: Engine) -> None:
    code, out, _ = giaoviec("plan", "list", "--json")
    assert code == 0
    [plan] = json.loads(out)
    assert plan["code"] == ANG and plan["assignments"] == 20 and plan["event_date"] is None


def test_lifecycle_through_the_cli(loaded: Engine, tmp_path: Path) -> None:
    giaoviec("plan", "set-event-date", ANG, "15/03/2024")
    evidence = tmp_path / "Danh sách khen thưởng.pdf"
    evidence.write_bytes(b"%PDF-1.4 danh sach")
    assert giaoviec("start", "SNV-01", "--by", "Phạm Thị D", "--today", "2024-02-20")[0] == 0
    code, out, err = giaoviec(
        "submit", "SNV-01", "--note", "Đã gửi", "--evidence", str(evidence), "--today", "2024-02-26"
    )
    assert code == 0, err
    assert "Chờ xác nhận" in out
    assert giaoviec("confirm", "SNV-01", "--by", "Lê Văn C", "--today", "2024-02-27")[0] == 0
    row = next(r for r in status_json("--today", "2024-02-27") if r["code"] == "SNV-01")
    assert (row["state"], row["timeliness"]) == ("done", "done_on_time")
    code, out, _ = giaoviec("show", "SNV-01")
    assert code == 0
    for text in (
        "Báo cáo hoàn thành",
        "Xác nhận hoàn thành",
        "Lê Văn C",
        "Danh sách khen thưởng.pdf",
        "Trạng thái: Chờ xác nhận → Hoàn thành",
    ):
        assert text in out
    home = Path(os.environ["GIAOVIEC_HOME"])
    stored = list((home / "evidence").rglob("*.pdf"))
    assert [p.read_bytes() for p in stored] == [b"%PDF-1.4 danh sach"]


def test_extend_block_return_cancel(loaded: Engine) -> None:
    giaoviec("plan", "set-event-date", ANG, "15/03/2024")
    code, out, _ = giaoviec(
        "extend", "TC-01", "--to", "01/03/2024", "--reason", "Chờ dự toán", "--today", "2024-02-20"
    )
    assert code == 0 and "hạn mới 01/03/2024" in out
    assert giaoviec("block", "VH-01", "--reason", "Chưa có kinh phí")[0] == 0
    assert giaoviec("unblock", "VH-01")[0] == 0
    assert giaoviec("submit", "VH-01")[0] == 0
    assert giaoviec("return", "VH-01", "--reason", "Thiếu tiết mục")[0] == 0
    assert giaoviec("pause", "BAG-01", "--reason", "Chờ ngày họp")[0] == 0
    assert giaoviec("resume", "BAG-01")[0] == 0
    assert giaoviec("cancel", "PTTH-03", "--reason", "Gộp vào PTTH-02")[0] == 0
    rows = {r["code"]: r for r in status_json("--today", "2024-02-20")}
    assert rows["TC-01"]["due"] == "2024-03-01"
    assert (rows["VH-01"]["state"], rows["BAG-01"]["state"], rows["PTTH-03"]["state"]) == (
        "in_progress",
        "in_progress",
        "cancelled",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("show", "KHONG-CO"), "Không tìm thấy nhiệm vụ “KHONG-CO”"),
        (
            ("confirm", "VP-01"),
            "Không thể xác nhận hoàn thành nhiệm vụ đang ở trạng thái “Chưa bắt đầu”",
        ),
        (("block", "VP-01"), "Cần ghi lý do"),
        (("extend", "VP-01", "--reason", "x"), "Cần ghi hạn mới"),
        (("status", "--today", "30/02/2024"), "ngày không hợp lệ"),
        (("plan", "set-event-date", "khong-co", "2024-03-15"), "Không tìm thấy kế hoạch"),
        (("status", "--department", "XYZ"), "Không tìm thấy đơn vị “XYZ”"),
    ],
)
def test_user_errors_exit_2_with_a_vietnamese_message(
    loaded: Engine, args: tuple[str, ...], message: str
) -> None:
    code, out, err = giaoviec(*args)
    assert code == 2
    assert message in " ".join((out + err).split())


def test_refused_evidence_keeps_nothing(loaded: Engine, tmp_path: Path) -> None:
    bad = tmp_path / "chuong-trinh.exe"
    bad.write_bytes(b"MZ")
    code, _, err = giaoviec("submit", "SNV-01", "--evidence", str(bad))
    assert code == 2 and "không được nhận" in err
    ok = tmp_path / "bao-cao.pdf"
    ok.write_bytes(b"%PDF")
    code, _, err = giaoviec("confirm", "SNV-01")  # illegal: nothing submitted yet
    assert code == 2
    code, _, err = giaoviec("submit", "HN", "--evidence", str(ok), "--today", "2024-01-02")
    assert code == 0, err
    code, _, err = giaoviec("submit", "HN", "--evidence", str(ok))  # already submitted: refused
    assert code == 2
    files = list((Path(os.environ["GIAOVIEC_HOME"]) / "evidence").rglob("*"))
    assert [p.name for p in files if p.is_file()] == ["bao-cao.pdf"]  # the refused copy was removed
    row = next(r for r in status_json() if r["code"] == "SNV-01")
    assert row["state"] == "not_started"


def test_bad_plan_file_exits_2_and_changes_nothing(loaded: Engine, tmp_path: Path) -> None:
    before = status_json()
    bad = tmp_path / "ke-hoach.yaml"
    bad.write_text(SMALL_PLAN.replace("    lead: STC", "    lead: SKHDT"), encoding="utf-8")
    for command in (("plan", "validate", str(bad)), ("plan", "load", str(bad))):
        code, _, err = giaoviec(*command)
        assert code == 2
        assert f"{bad}:" in err and "assignments[2].lead" in err and "SKHDT" in err
    assert status_json() == before
    code, out, _ = giaoviec("plan", "list", "--json")
    assert [p["code"] for p in json.loads(out)] == [ANG]


def test_plan_load_and_validate_a_good_file(loaded: Engine, tmp_path: Path) -> None:
    good = tmp_path / "ke-hoach.yaml"
    good.write_text(SMALL_PLAN, encoding="utf-8")
    code, out, _ = giaoviec("plan", "validate", str(good))
    assert code == 0 and "Hợp lệ" in out and "4 nhiệm vụ" in out
    assert giaoviec("plan", "load", str(good))[0] == 0
    assert len(status_json("--plan", "thu-nghiem")) == 4
    # With two plans, a bare code is still found when only one plan has it.
    code, _, err = giaoviec("show", "HN")
    assert code == 2 and "nhiều kế hoạch" in " ".join(err.split())
    assert giaoviec("show", "thu-nghiem/HN")[0] == 0


def test_status_before_init_says_what_to_do(
    home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tracking.settings import get_settings

    monkeypatch.setenv("GIAOVIEC_DATABASE_URL", f"sqlite:///{tmp_path / 'trong.db'}")
    get_settings.cache_clear()
    code, _, err = giaoviec("status")
    assert code == 2 and "giaoviec init" in err


def test_calendar_commands(home: Path) -> None:
    code, out, _ = giaoviec("calendar", "add-working-days", "2024-02-07", "1")
    assert (code, out.strip()) == (0, "2024-02-15")
    code, out, _ = giaoviec("calendar", "add-working-days", "15/03/2024", "-30")
    assert (code, out.strip()) == (0, "2024-01-26")
    code, out, _ = giaoviec("calendar", "is-working-day", "2024-05-04")
    assert code == 0 and "ngày làm việc" in out
    code, out, _ = giaoviec("calendar", "is-working-day", "2024-02-12")
    assert code == 1 and "ngày nghỉ" in out


def test_calendar_override_command(loaded: Engine) -> None:
    code, out, _ = giaoviec("calendar", "override", "2027-05-04", "--off", "--name", "Nghỉ bù 30/4")
    assert code == 0
    code, out, _ = giaoviec("calendar", "is-working-day", "2027-05-04")
    assert code == 1 and "Nghỉ bù 30/4" in out


def test_today_from_the_environment(loaded: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    giaoviec("plan", "set-event-date", ANG, "2024-03-15")
    monkeypatch.setenv("GIAOVIEC_TODAY", "2024-03-18")
    rows = {r["code"]: r for r in status_json()}
    assert rows["VP-01"]["timeliness"] == "overdue"
    monkeypatch.setenv("GIAOVIEC_TODAY", "2024-01-02")
    rows = {r["code"]: r for r in status_json()}
    assert rows["VP-01"]["timeliness"] == "open_in_time"


def test_read_commands_do_not_import_prefect(loaded: Engine) -> None:
    probe = (
        "import sys\n"
        "from cli.main import app\n"
        "for args in (['status'], ['status', '--json'], ['show', 'HN'], ['plan', 'list'],\n"
        "             ['dashboard', '--once'], ['outbox']):\n"
        "    try:\n"
        "        app(args)\n"
        "    except SystemExit as exc:\n"
        "        assert not exc.code, (args, exc.code)\n"
        "loaded = sorted(m for m in sys.modules if m == 'prefect' or m.startswith('prefect.'))\n"
        "print('PREFECT:', loaded)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "PREFECT: []" in result.stdout


def test_dashboard_once_shows_what_the_coordinator_watches(loaded: Engine) -> None:
    giaoviec("plan", "set-event-date", ANG, "15/03/2024")
    giaoviec("submit", "SNV-01", "--today", "2024-02-27")
    giaoviec("confirm", "SNV-01", "--today", "2024-02-27")
    code, out, _ = giaoviec("dashboard", "--once", "--today", "2024-03-01")
    assert code == 0
    text = " ".join(out.split())
    assert "còn 10 ngày làm việc" in text
    rows = status_json("--today", "2024-03-01")
    overdue = sum(1 for r in rows if r["timeliness"] == "overdue")
    assert f"Hoàn thành đúng hạn ({round(100 / len(rows))}%)" in text  # SNV-01 only
    assert "Hoàn thành quá hạn (0%)" in text
    assert f"Quá hạn ({round(100 * overdue / len(rows))}%)" in text
    for section in ("Tiến độ theo đơn vị chủ trì", "Cần chú ý", "Đường găng tới ngày diễn ra"):
        assert section in text
    assert "1/10" in text  # Ban TĐ-KT: one of its ten assignments done


def test_status_csv_has_one_row_per_assignment(loaded: Engine) -> None:
    import csv
    import io

    giaoviec("plan", "set-event-date", ANG, "2024-03-15")
    result = runner.invoke(app, ["status", "--csv", "--today", "2024-03-01"])
    assert result.exit_code == 0
    raw = result.stdout_bytes
    assert raw.startswith("\ufeff".encode())  # Excel reads the Vietnamese right with a BOM
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == 1 + len(status_json())
    codes = {cell for row in rows[1:] for cell in row}
    assert {"VP-01", "HN", "SNV-01"} <= codes
