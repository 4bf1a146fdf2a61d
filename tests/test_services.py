"""The services every interface calls, and the one error hierarchy they raise."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from models.errors import ConflictError, FileProblem, InvalidInput, NotFoundError, UserError
from services.actions import EvidenceFile, act_with_evidence
from services.progress import counted_units, unit_progress
from tests.test_cli import giaoviec
from tracking import store
from tracking.status import Action

DAY = dt.date(2024, 1, 2)
PDF = b"%PDF-1.4 minh chung"


@pytest.fixture
def loaded(clean_engine: Engine) -> Engine:
    code, _, err = giaoviec("init")
    assert code == 0, err
    return clean_engine


def test_every_kind_of_user_error_is_a_user_error() -> None:
    from importer.reading import DocumentError
    from tracking.calendar import OutOfRange
    from tracking.evidence import EvidenceError
    from tracking.links import LinkError
    from tracking.planio import PlanFileError
    from tracking.status import IllegalTransition

    kinds = {
        store.NotFound: NotFoundError,
        store.InvalidAction: InvalidInput,
        store.ConcurrentUpdate: ConflictError,
        IllegalTransition: InvalidInput,
        OutOfRange: InvalidInput,
        LinkError: InvalidInput,
        EvidenceError: FileProblem,
        PlanFileError: FileProblem,
        DocumentError: FileProblem,
    }
    for kind, base in kinds.items():
        assert issubclass(kind, base) and issubclass(kind, UserError), kind


def test_the_store_names_no_flag_and_the_cli_adds_its_own(loaded: Engine) -> None:
    request = store.ActionRequest(Action.BLOCK, "Ngô Thị Lan")
    with Session(loaded) as session, pytest.raises(store.InvalidAction) as caught:
        store.act(session, "HN", request, DAY)
    assert str(caught.value) == "Cần ghi lý do khi báo vướng mắc."
    assert caught.value.field == "reason"
    code, _, err = giaoviec("block", "HN")
    assert code == 2
    assert "Cần ghi lý do khi báo vướng mắc (--reason)." in " ".join(err.split())
    code, _, err = giaoviec("extend", "HN", "--reason", "chờ hồ sơ")
    assert code == 2 and "Cần ghi hạn mới khi gia hạn (--to NGÀY)." in " ".join(err.split())


def test_a_failed_action_keeps_none_of_its_files(loaded: Engine, home: Path) -> None:
    files = [EvidenceFile.from_stream("bao-cao.pdf", io.BytesIO(PDF))]
    request = store.ActionRequest(Action.SUBMIT, "Ngô Thị Lan")

    def then() -> None:  # what a one-time link does after the action: here it fails
        raise store.InvalidAction("Liên kết đã được dùng.")

    with Session(loaded) as session:
        row = store.get_assignment(session, "HN")
        with pytest.raises(store.InvalidAction):
            act_with_evidence(
                session, row, request, files, home=home, max_bytes=10**6, today=DAY, then=then
            )
        session.rollback()
        done = act_with_evidence(
            session, row, request, files, home=home, max_bytes=10**6, today=DAY
        )
        session.commit()
        assert done.state.value == "submitted"
    stored = [p.name for p in (home / "evidence").rglob("*") if p.is_file()]
    assert stored == ["bao-cao.pdf"]  # the failed attempt's copy was removed, no "(2)"


def test_a_refused_file_stores_nothing_even_when_others_are_fine(
    loaded: Engine, home: Path
) -> None:
    files = [
        EvidenceFile.from_stream("bao-cao.pdf", io.BytesIO(PDF)),
        EvidenceFile.from_stream("virus.pdf", io.BytesIO(b"MZ\x90\x00")),
    ]
    request = store.ActionRequest(Action.SUBMIT, "Ngô Thị Lan")
    with Session(loaded) as session, pytest.raises(FileProblem):
        row = store.get_assignment(session, "HN")
        act_with_evidence(session, row, request, files, home=home, max_bytes=10**6, today=DAY)
    assert not (home / "evidence").exists() or not any((home / "evidence").rglob("*.pdf"))


def test_progress_per_unit_is_one_model(loaded: Engine) -> None:
    with Session(loaded) as session:
        views = store.plan_status(session, DAY)
    units = unit_progress(views)
    assert sum(u.total for u in units) == sum(1 for v in views if v.timeliness is not None)
    shown = counted_units(views)
    assert [u.name for u in shown] == sorted(u.name for u in units if u.total)
    for unit in shown:
        assert unit.done + unit.overdue <= unit.total


def test_the_cli_history_names_evidence_as_the_web_does(loaded: Engine, tmp_path: Path) -> None:
    # One writer of history lines (tracking.labels.change_text): the CLI used to print the
    # file's path under the data folder ("— → evidence/…/bao-cao.pdf").
    report = tmp_path / "bao-cao.pdf"
    report.write_bytes(PDF)
    code, _, err = giaoviec("submit", "HN", "--evidence", str(report), "--today", "2024-01-02")
    assert code == 0, err
    code, out, err = giaoviec("show", "HN")
    assert code == 0, err
    text = " ".join(out.split())
    assert "Minh chứng: bao-cao.pdf" in text and "Minh chứng: — →" not in text
