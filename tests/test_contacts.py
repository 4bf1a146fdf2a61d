"""Contacts: who owns what (plan file or operator), removal, renaming, one person once.

See docs/plan-file.md, "Contacts: who owns what".
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, col, select

from models.enums import AssignmentState, DeliveryStatus
from models.tables import Assignment, Contact, OutboxMessage
from models.text import clean, person_key
from tests.browser import SECRET, TODAY, csrf_of, http_client, web_world
from tests.conftest import BUILTIN_PLAN
from tests.plan_samples import small_plan
from tests.test_cli import ANG, giaoviec
from tracking import clock, db, links, reminders, store
from tracking.planio import PlanFileError, check_plan_text, read_plan_file
from tracking.settings import get_settings
from tracking.status import Action
from web.app import create_app

D = dt.date
PLAN = "thu-nghiem"

# The small plan with a second person in the coordinating unit.
TWO_PEOPLE = small_plan(
    **{
        "        is_coordinator: true\n  - code: STC": (
            "        is_coordinator: true\n"
            "      - name: Phạm Thị D\n"
            "        email: d@example.gov.vn\n"
            "        is_coordinator: true\n"
            "  - code: STC"
        )
    }
)


def load(session: Session, source: str, name: str = "x.yaml") -> store.LoadResult:
    result = store.load_plan(session, check_plan_text(source.encode(), name), "kiem-thu")
    session.commit()
    return result


def people(session: Session, active_only: bool = True) -> list[Contact]:
    query = select(Contact).order_by(col(Contact.id))
    if active_only:
        query = query.where(col(Contact.active))
    return list(session.exec(query))


def person(session: Session, name: str) -> Contact:
    [found] = [c for c in people(session, active_only=False) if c.name == name]
    return found


def contacts_json(*extra: str) -> list[dict[str, Any]]:
    code, out, err = giaoviec("contacts", "list", "--json", *extra)
    assert code == 0, err
    data: list[dict[str, Any]] = json.loads(out)
    return data


# --- normalised names -------------------------------------------------------------------


def test_names_are_cleaned_and_compared_as_people() -> None:
    nfd = unicodedata.normalize("NFD", "Nguyễn Thị Thuỷ")
    assert nfd != "Nguyễn Thị Thuỷ"
    assert clean(f"\u200b {nfd}\u00a0 \ufeff") == "Nguyễn Thị Thuỷ"
    assert person_key("NGUYỄN THỊ THUỶ") == person_key("Nguyễn Thị Thủy") == person_key(nfd)
    assert person_key("Lê Thị Hoà") == person_key("Lê Thị Hòa")
    assert person_key("Thủy") != person_key("Thúy")  # another tone is another name
    assert person_key("Đào") != person_key("Dao")


def test_a_file_in_nfd_or_with_invisible_characters_names_the_same_people(
    session: Session,
) -> None:
    load(session, TWO_PEOPLE)
    before = [(c.id, c.name) for c in people(session)]
    nfd = unicodedata.normalize("NFD", TWO_PEOPLE)
    variant = nfd.replace("Phạm Thị D", "Phạm\u200b Thị  D\u00a0").replace(
        "code: SNV", "code: SNV\u200b"
    )
    result = load(session, variant)
    assert (result.contacts.added, result.contacts.updated, result.contacts.removed) == (0, 0, 0)
    assert [(c.id, c.name) for c in people(session)] == before
    assert all(unicodedata.is_normalized("NFC", c.name) for c in people(session))


def test_tone_placement_and_case_do_not_make_a_second_person(session: Session) -> None:
    old_style = TWO_PEOPLE.replace("Phạm Thị D", "Phạm Thị Thuỷ")
    load(session, old_style)
    result = load(session, old_style.replace("Phạm Thị Thuỷ", "PHẠM THỊ THỦY"))
    assert result.contacts.added == 0
    assert [c.name for c in people(session)] == ["Lê Văn C", "PHẠM THỊ THỦY"]  # file spelling
    # The command line finds the person the same way.
    store.set_contact(session, "SNV", "phạm thị thuỷ", {"phone": "0912345678"}, "van-hanh")
    assert len(people(session)) == 2 and person(session, "PHẠM THỊ THỦY").phone == "0912345678"


def test_a_file_listing_one_person_twice_is_refused_with_the_line() -> None:
    twice = TWO_PEOPLE.replace("Phạm Thị D", "Lê Văn c")
    with pytest.raises(PlanFileError) as caught:
        check_plan_text(twice.encode(), "x.yaml")
    [problem] = caught.value.problems
    assert problem.field == "units[0].contacts[1].name" and problem.line == 18
    assert "trùng với “Lê Văn C”" in problem.message


# --- ownership: what the operator set wins ----------------------------------------------


def test_reload_and_init_never_undo_an_operators_edit(clean_engine: Engine) -> None:
    code, out, err = giaoviec("init")
    assert code == 0, err
    assert "Người nhận: thêm 12, sửa 0, gỡ 0." in out
    code, out, err = giaoviec(
        "contacts",
        "set",
        "SNV",
        "Phạm Thị D",
        "--email",
        "ptd@angiang.gov.vn",
        "--zalo",
        "8801",
        "--phone",
        "0912345678",
    )
    assert code == 0, err
    for again in (("init",), ("plan", "load", str(BUILTIN_PLAN))):
        code, out, err = giaoviec(*again)
        assert code == 0, err
        # True counts: nothing changed; what was kept against the file is named, field by field.
        assert "Người nhận: thêm 0, sửa 0, gỡ 0." in out
        assert "Giữ nguyên 1 điểm khác với tệp kế hoạch:" in out  # it has no Zalo nor phone
        assert (
            "Phạm Thị D (SNV): giữ email “ptd@angiang.gov.vn” do người vận hành đã đặt; "
            "tệp kế hoạch ghi “chuyenvien.bantdkt@example.gov.vn”." in out
        )
        [d] = [c for c in contacts_json("--department", "SNV") if c["name"] == "Phạm Thị D"]
        assert (d["email"], d["zalo_user_id"], d["phone"]) == (
            "ptd@angiang.gov.vn",
            "8801",
            "0912345678",
        )
        assert d["set_by_operator"] == ["email", "phone", "zalo_user_id"]


def test_the_file_still_owns_what_nobody_else_set_and_the_count_says_so(
    session: Session,
) -> None:
    first = load(session, TWO_PEOPLE)
    assert (first.contacts.added, first.contacts.updated, first.contacts.removed) == (2, 0, 0)
    assert load(session, TWO_PEOPLE).contacts == store.ContactChanges()
    store.set_contact(session, "SNV", "Lê Văn C", {"phone": "0987654321"}, "van-hanh")
    session.commit()
    edited = TWO_PEOPLE.replace("d@example.gov.vn", "d@angiang.gov.vn").replace(
        "c@example.gov.vn", "c@angiang.gov.vn"
    )
    result = load(session, edited)
    assert (result.contacts.added, result.contacts.updated, result.contacts.removed) == (0, 2, 0)
    assert result.contacts.kept == ()  # the file does not speak of C's phone
    assert person(session, "Phạm Thị D").email == "d@angiang.gov.vn"
    c = person(session, "Lê Văn C")
    assert (c.email, c.phone) == ("c@angiang.gov.vn", "0987654321")


def test_another_plans_file_never_flips_a_contact_back_and_forth(session: Session) -> None:
    load(session, TWO_PEOPLE)
    other = TWO_PEOPLE.replace("code: thu-nghiem", "code: ke-hoach-khac").replace(
        "d@example.gov.vn", "d@khac.gov.vn"
    )
    for _ in range(2):  # the second plan, then the first again (as `init` does at each start)
        result = load(session, other)
        assert (result.contacts.added, result.contacts.updated) == (0, 0)
        assert [str(n) for n in result.contacts.kept] == [
            "Phạm Thị D (SNV): giữ email “d@example.gov.vn” theo tệp của kế hoạch "
            "thu-nghiem; tệp này ghi “d@khac.gov.vn”."
        ]
        assert load(session, TWO_PEOPLE).contacts == store.ContactChanges()
        assert person(session, "Phạm Thị D").email == "d@example.gov.vn"
    # The seeding plan keeps its contacts up to date; once it drops one, the other plan does.
    result = load(session, TWO_PEOPLE.replace("d@example.gov.vn", "d@angiang.gov.vn"))
    assert result.contacts.updated == 1
    assert person(session, "Phạm Thị D").email == "d@angiang.gov.vn"
    load(session, TWO_PEOPLE.replace("Phạm Thị D", "Hồ Văn G"))
    assert load(session, other).contacts.updated == 1
    assert person(session, "Phạm Thị D").email == "d@khac.gov.vn"


# --- removal ----------------------------------------------------------------------------


def test_a_contact_dropped_by_the_file_hears_nothing_more_and_its_links_die(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIAOVIEC_SECRET_KEY", SECRET)
    load(session, TWO_PEOPLE)
    store.activate_plan(session, PLAN, "dieu-phoi", D(2024, 2, 1))
    session.commit()
    d = person(session, "Phạm Thị D")
    queued = list(session.exec(select(OutboxMessage).where(OutboxMessage.contact_id == d.id)))
    assert queued and {m.status for m in queued} == {DeliveryStatus.PENDING}
    a = session.exec(select(Assignment).where(Assignment.code == "A")).one()
    assert a.id is not None and d.id is not None
    now = clock.now_utc()
    [(_, url)] = links.action_links(
        a.id, d.id, [Action.SUBMIT], "http://x", now, generation=d.generation
    )
    token = url.rsplit("/", 1)[1]
    assert links.resolve(session, token, now).contact.id == d.id

    result = load(session, TWO_PEOPLE.replace("Phạm Thị D", "Hồ Văn G"))
    assert (result.contacts.added, result.contacts.removed) == (1, 1)
    for message in queued:
        session.refresh(message)
        assert message.status is DeliveryStatus.CANCELLED  # cancelled, never sent
    with pytest.raises(links.LinkError, match="hết hiệu lực") as refused:
        links.resolve(session, token, now)
    assert refused.value.reason == "not_allowed"
    day = D(2024, 2, 26)  # A is due: reminders for SNV's staff
    reminders.enqueue_daily(
        session, day, clock.now_for(day), store.load_calendar(session), get_settings()
    )
    fresh = session.exec(select(OutboxMessage).where(OutboxMessage.day == day)).all()
    assert fresh and d.id not in {m.contact_id for m in fresh}
    assert [c["name"] for c in store.contact_views(session, "SNV")] == ["Lê Văn C", "Hồ Văn G"]


def test_a_message_claimed_before_the_removal_is_cancelled_at_sending(session: Session) -> None:
    load(session, TWO_PEOPLE)
    store.activate_plan(session, PLAN, "dieu-phoi", D(2024, 2, 1))
    session.commit()
    d = person(session, "Phạm Thị D")
    message = session.exec(select(OutboxMessage).where(OutboxMessage.contact_id == d.id)).first()
    assert message is not None and reminders.still_relevant(session, message)
    store.remove_contact(session, "SNV", "Phạm Thị D", "van-hanh")
    assert not reminders.still_relevant(session, message)


def test_contacts_remove_rename_and_move_from_the_command_line(clean_engine: Engine) -> None:
    assert giaoviec("init")[0] == 0
    code, out, err = giaoviec("contacts", "remove", "SNV", "phạm thị d")
    assert code == 0, err
    assert "Đã gỡ người nhận Phạm Thị D (SNV): hủy 0 tin đang chờ gửi" in out
    code, out, _ = giaoviec("contacts", "rename", "VP-UBND", "Trần Thị B", "Trần Thị Bích")
    assert code == 0 and "Đã đổi tên người nhận thành Trần Thị Bích (VP-UBND)." in out
    code, out, _ = giaoviec("contacts", "move", "STC", "Bùi Thị K", "SNV")
    assert code == 0 and "Đã chuyển Bùi Thị K từ STC sang SNV" in out

    code, out, err = giaoviec("plan", "load", str(BUILTIN_PLAN))
    assert code == 0, err
    # Nobody is added back, renamed back or duplicated; each difference is reported.
    assert "Người nhận: thêm 0, sửa 0, gỡ 0." in out
    assert "Phạm Thị D (SNV): đã được gỡ bằng lệnh `giaoviec contacts remove`" in out
    assert "Trần Thị Bích (VP-UBND): giữ họ tên “Trần Thị Bích” do người vận hành đã đặt; " in out
    assert "Bùi Thị K (STC): đã được chuyển sang đơn vị khác bằng lệnh" in out
    names = {(c["department"], c["name"]) for c in contacts_json()}
    assert ("SNV", "Phạm Thị D") not in names
    assert ("VP-UBND", "Trần Thị Bích") in names and ("VP-UBND", "Trần Thị B") not in names
    assert ("SNV", "Bùi Thị K") in names and ("STC", "Bùi Thị K") not in names

    [gone] = [c for c in contacts_json("--removed") if c["name"] == "Phạm Thị D"]
    assert gone["active"] is False
    code, out, _ = giaoviec("contacts", "list", "--removed", "--department", "SNV")
    assert "đã gỡ" in out
    code, _, err = giaoviec("contacts", "remove", "SNV", "Không Có Ai")
    assert code == 2 and "Đơn vị SNV không có người nhận “Không Có Ai”." in err
    code, _, err = giaoviec("contacts", "rename", "SNV", "Lê Văn C", "bùi thị k")
    assert code == 2 and "Đơn vị SNV đã có người nhận “Bùi Thị K”." in err
    code, out, _ = giaoviec("contacts", "remove", "--help")
    assert "Gỡ một người nhận" in out


def test_moving_a_contact_revokes_its_links(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIAOVIEC_SECRET_KEY", SECRET)
    load(session, TWO_PEOPLE)
    d = person(session, "Phạm Thị D")
    a = session.exec(select(Assignment).where(Assignment.code == "A")).one()
    assert a.id is not None and d.id is not None
    now = clock.now_utc()
    [(_, url)] = links.action_links(a.id, d.id, [Action.SUBMIT], "http://x", now)
    token = url.rsplit("/", 1)[1]
    links.resolve(session, token, now)
    store.move_contact(session, "SNV", "Phạm Thị D", "STC", "van-hanh")
    with pytest.raises(links.LinkError, match="chuyển đơn vị"):
        links.resolve(session, token, now)


# --- coordinators -----------------------------------------------------------------------

# A second plan coordinated by another unit; it names SNV's coordinator without the flag.
PLAN_B = small_plan(
    **{
        "code: thu-nghiem": "code: ke-hoach-b",
        "coordinator: SNV": "coordinator: STC",
        "        is_head: true\n        is_coordinator: true\n": "        is_head: true\n",
    }
)


def test_loading_another_plan_keeps_the_first_plans_coordinators(
    clean_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with web_world(clean_engine, monkeypatch) as engine:
        with db.session_scope(engine) as session:
            result = load(session, PLAN_B.replace("Lê Văn C", "Phạm Thị D"))
            # SNV is not B's coordinating unit: B does not speak of coordinator rights.
            assert not any("điều phối" in str(note) for note in result.contacts.kept)
            ref = f"{ANG}/SNV-01"
            store.act(session, ref, store.ActionRequest(Action.SUBMIT, "ptd"), TODAY)
            row = store.get_assignment(session, ref)
            d = person(session, "Phạm Thị D")
            b = store.get_assignment(session, "ke-hoach-b/A")
            assert d.is_coordinator and row.id and d.id and b.id
            now = clock.now_utc()
            [(_, own)] = links.action_links(
                row.id, d.id, [Action.CONFIRM], "http://testserver", now
            )
            [(_, other)] = links.action_links(
                b.id, d.id, [Action.CONFIRM], "http://testserver", now
            )
        client = http_client(create_app(engine, today=lambda: TODAY))
        page = client.get(own.removeprefix("http://testserver"))
        assert page.status_code == 200, page.text
        done = client.post(
            own.removeprefix("http://testserver"), data={"csrf_token": csrf_of(page.text)}
        )
        assert done.status_code == 200, done.text
        with Session(engine) as session:
            assert store.get_assignment(session, ref).state is AssignmentState.DONE
        # Coordinator rights are for the plans their unit coordinates: B is STC's.
        assert client.get(other.removeprefix("http://testserver")).status_code == 403


def test_a_load_never_withdraws_coordinator_rights_and_says_so(session: Session) -> None:
    load(session, TWO_PEOPLE)
    demoted = TWO_PEOPLE.replace(
        "        email: d@example.gov.vn\n        is_coordinator: true\n",
        "        email: d@example.gov.vn\n",
    )
    result = load(session, demoted)
    assert person(session, "Phạm Thị D").is_coordinator
    assert [str(n) for n in result.contacts.kept] == [
        "Phạm Thị D (SNV): giữ quyền điều phối; tệp kế hoạch không ghi quyền này "
        "(bỏ bằng `giaoviec contacts set … --not-coordinator`)."
    ]
    store.set_contact(session, "SNV", "Phạm Thị D", {"is_coordinator": False}, "van-hanh")
    assert not person(session, "Phạm Thị D").is_coordinator


# --- the migration keeps what operators set ---------------------------------------------


@pytest.fixture
def scratch_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A database of this test's own, beside the suite's (same server on PostgreSQL)."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        yield f"sqlite:///{tmp_path / 'cu.db'}"
        return
    import psycopg

    name = f"{url.database}_contacts_mig"
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _migrate_to(engine: Engine, revision: str, down: bool = False) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(db.MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def test_the_migration_keeps_operators_edits_and_merges_byte_twins(scratch_url: str) -> None:
    engine = db.get_engine(scratch_url)
    try:
        db.migrate(engine)
        with Session(engine) as session:
            store.load_plan(session, read_plan_file(BUILTIN_PLAN), "kiem-thu")
            session.commit()
        _migrate_to(engine, "0004", down=True)
        # What the old code left: an edit by `contacts set` (value and history row), and the
        # same person loaded twice from a file saved in NFD.
        nfd = unicodedata.normalize("NFD", "Võ Thị G")
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE contact SET email = 'ptd@angiang.gov.vn' WHERE name = 'Phạm Thị D'")
            )
            connection.execute(
                text(
                    "INSERT INTO activity (at, actor, action, field, to_value, note) "
                    "VALUES (:at, 'van-hanh', 'contact_set', 'SNV', 'Phạm Thị D', 'email')"
                ),
                {"at": clock.now_utc().replace(tzinfo=None)},
            )
            connection.execute(
                text(
                    "INSERT INTO contact (department_id, name, email, apprise_urls, is_head, "
                    "is_coordinator) SELECT department_id, :nfd, email, apprise_urls, is_head, "
                    "is_coordinator FROM contact WHERE name = 'Võ Thị G'"
                ),
                {"nfd": nfd},
            )
        db.migrate(engine)
        with Session(engine) as session:
            result = store.load_plan(session, read_plan_file(BUILTIN_PLAN), "kiem-thu")
            session.commit()
            assert (result.contacts.added, result.contacts.updated) == (0, 0)
            d = person(session, "Phạm Thị D")
            assert d.email == "ptd@angiang.gov.vn" and d.operator_fields == ["email"]
            twins = [c for c in people(session, active_only=False) if c.name == "Võ Thị G"]
            assert [c.active for c in twins] == [True, False]
            assert len(people(session)) == 12
    finally:
        engine.dispose()
