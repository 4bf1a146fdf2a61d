"""Zalo OA and ZNS delivery against a local server that speaks Zalo's API (no mocks)."""

from __future__ import annotations

import logging
import multiprocessing
import threading
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from notifications.results import DeliveryResult, Outcome
from notifications.zalo import (
    VN_TZ,
    FileTokenStore,
    TokenPair,
    ZaloAccount,
    ZaloConfig,
    in_zns_quiet_hours,
    normalize_phone,
    refresh_access_token,
    send_oa_message,
    send_zns,
)
from tests.zalo_fake import OA_PATH, OAUTH_PATH, ZNS_PATH, FakeZalo, blackhole_base_url

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

OA_ID = "4318476529876543210"
USER_ID = "8216570349122334455"
PHONE = "0912 345 678"
PHONE_84 = "84912345678"
TEMPLATE_ID = "312456"
TEMPLATE_DATA = {
    "ten_nhiem_vu": "Thống kê danh sách khen thưởng",
    "han": "15/03/2024",
    "don_vi": "Sở Văn hóa, Thể thao và Du lịch",
}
MORNING = datetime(2024, 3, 11, 9, 0, tzinfo=VN_TZ)


@pytest.fixture
def fake() -> Iterator[FakeZalo]:
    with FakeZalo() as server:
        yield server


def make_account(
    fake: FakeZalo,
    folder: Path,
    *,
    base: str | None = None,
    connect_timeout: float = 1.0,
    read_timeout: float = 2.0,
) -> ZaloAccount:
    url = base or fake.base_url
    config = ZaloConfig(
        app_id=fake.app_id,
        secret_key=fake.secret_key,
        oa_base=url,
        business_base=url,
        oauth_base=url,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )
    return ZaloAccount(
        oa_id=OA_ID, config=config, store=FileTokenStore(folder), clock=lambda: MORNING
    )


@pytest.fixture
def account(fake: FakeZalo, tmp_path: Path) -> Iterator[ZaloAccount]:
    acct = make_account(fake, tmp_path / "tokens")
    assert isinstance(acct.store, FileTokenStore)
    acct.store.seed(TokenPair(str(fake.access_token), fake.refresh_token))
    yield acct


# ---------------------------------------------------------------------- success


def test_oa_message(fake: FakeZalo, account: ZaloAccount) -> None:
    result = send_oa_message(
        account, USER_ID, "Nhắc việc\r\nThống kê danh sách khen thưởng — hạn 15/03/2024\n"
    )

    assert result.outcome is Outcome.SENT, result.detail
    [request] = fake.requests_to(OA_PATH)
    assert request.headers["access_token"] == fake.access_token
    assert request.json["recipient"] == {"user_id": USER_ID}
    # \r\n is normalized and the ends trimmed for the chat.
    assert request.json["message"]["text"] == (
        "Nhắc việc\nThống kê danh sách khen thưởng — hạn 15/03/2024"
    )
    assert result.provider_id is not None and result.provider_id.startswith("oa-msg-")


def test_zns_with_tracking_id(fake: FakeZalo, account: ZaloAccount) -> None:
    result = send_zns(account, PHONE, TEMPLATE_ID, TEMPLATE_DATA, tracking_id="delivery-42")

    assert result.outcome is Outcome.SENT, result.detail
    [request] = fake.requests_to(ZNS_PATH)
    assert request.headers["access_token"] == fake.access_token
    assert request.json == {
        "phone": PHONE_84,
        "template_id": TEMPLATE_ID,
        "template_data": TEMPLATE_DATA,
        "tracking_id": "delivery-42",
    }
    assert result.provider_id is not None and result.provider_id.startswith("zns-")


def test_zns_with_overlong_tracking_id_is_refused(fake: FakeZalo, account: ZaloAccount) -> None:
    with pytest.raises(ValueError, match="tracking_id"):
        send_zns(account, PHONE, TEMPLATE_ID, TEMPLATE_DATA, tracking_id="x" * 49)

    assert fake.requests == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0912345678", "84912345678"),
        ("+84 912 345 678", "84912345678"),
        ("84912345678", "84912345678"),
        ("091.234.5678", "84912345678"),
        ("12345", None),
        ("0012345678", None),
    ],
)
def test_normalize_phone(raw: str, expected: str | None) -> None:
    assert normalize_phone(raw) == expected


# ---------------------------------------------------------------------- token refresh


def test_expired_token_refreshed_once_for_concurrent_sends(
    fake: FakeZalo, account: ZaloAccount
) -> None:
    fake.expire_access_token()
    # A slow refresh keeps every sender's first attempt ahead of the new token.
    fake.set_delay(OAUTH_PATH, 0.2)
    start = threading.Barrier(8)
    results: list[DeliveryResult] = []
    lock = threading.Lock()

    def worker(number: int) -> None:
        start.wait()
        result = send_oa_message(account, f"{USER_ID}{number}", f"Nhắc việc số {number}")
        with lock:
            results.append(result)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert fake.refresh_calls == 1
    assert [r.outcome for r in results] == [Outcome.SENT] * 8, [r.detail for r in results]
    # Every message was finally accepted with the one new token.
    accepted = [
        r for r in fake.requests_to(OA_PATH) if r.headers["access_token"] == fake.access_token
    ]
    assert len(accepted) == 8
    [refresh] = fake.requests_to(OAUTH_PATH)
    assert refresh.headers["secret_key"] == fake.secret_key
    assert refresh.form == {
        "refresh_token": "fake-refresh-token-0",
        "app_id": fake.app_id,
        "grant_type": "refresh_token",
    }


def test_refreshed_pair_is_persisted(fake: FakeZalo, account: ZaloAccount, tmp_path: Path) -> None:
    fake.expire_access_token()

    result = send_oa_message(account, USER_ID, "Nhắc việc")

    assert result.outcome is Outcome.SENT
    stored = FileTokenStore(tmp_path / "tokens").get()  # a new instance reads the file
    assert stored.access_token == fake.access_token
    assert stored.refresh_token == fake.refresh_token
    assert stored.refresh_token != "fake-refresh-token-0"
    assert stored.expires_at is not None and stored.expires_at > datetime.now(tz=UTC)
    token_file = tmp_path / "tokens" / "zalo.tokens.json"
    assert token_file.stat().st_mode & 0o077 == 0  # credentials: owner only


def _refresh_in_child(config: ZaloConfig, folder: Path, rejected: str, go: Any, out: Any) -> None:
    # Runs in a child process: its own store instance on the shared folder.
    account = ZaloAccount(OA_ID, config, FileTokenStore(folder))
    go.wait(10)
    out.put(refresh_access_token(account, rejected).access_token)


def test_two_processes_refresh_only_once(fake: FakeZalo, account: ZaloAccount) -> None:
    assert isinstance(account.store, FileTokenStore)
    rejected = str(fake.access_token)
    fake.expire_access_token()
    fake.set_delay(OAUTH_PATH, 0.2)
    # fork, not spawn: a spawned child re-imports Apprise and takes over a second. The child
    # only makes HTTP calls and file locks, which are safe after fork.
    ctx = multiprocessing.get_context("fork")
    go, out = ctx.Event(), ctx.Queue()
    args = (account.config, account.store.folder, rejected, go, out)
    children = [ctx.Process(target=_refresh_in_child, args=args) for _ in range(2)]
    try:
        for child in children:
            child.start()
        go.set()
        tokens = [out.get(timeout=10) for _ in children]
    finally:
        for child in children:
            child.join(timeout=5)
            if child.is_alive():
                child.kill()

    assert fake.refresh_calls == 1
    assert tokens == [fake.access_token, fake.access_token]
    assert [child.exitcode for child in children] == [0, 0]


def test_refresh_token_refused_is_permanent(
    fake: FakeZalo, account: ZaloAccount, tmp_path: Path
) -> None:
    # The stored refresh token was already spent elsewhere (e.g. by another installation).
    FileTokenStore(tmp_path / "tokens").seed(TokenPair("old-access", "spent-refresh"))

    result = send_oa_message(account, USER_ID, "Nhắc việc")

    assert result.outcome is Outcome.PERMANENT
    assert "refused the refresh token" in result.detail
    assert fake.refresh_calls == 1


def test_token_rejected_again_after_refresh_is_transient(
    fake: FakeZalo, account: ZaloAccount
) -> None:
    fake.reject_every_token()

    result = send_oa_message(account, USER_ID, "Nhắc việc")

    assert result.outcome is Outcome.TRANSIENT
    assert fake.refresh_calls == 1
    assert len(fake.requests_to(OA_PATH)) == 2  # the first try and exactly one retry


# ---------------------------------------------------------------------- error mapping


@pytest.mark.parametrize(
    ("channel", "code"),
    [("oa", -213), ("oa", -230), ("zns", -108), ("zns", -114)],
)
def test_permanent_errors(fake: FakeZalo, account: ZaloAccount, channel: str, code: int) -> None:
    if channel == "oa":
        fake.set_error(USER_ID, code)
        result = send_oa_message(account, USER_ID, "Nhắc việc")
    else:
        fake.set_error(PHONE_84, code)
        result = send_zns(account, PHONE, TEMPLATE_ID, TEMPLATE_DATA, "delivery-1")

    assert result.outcome is Outcome.PERMANENT
    assert str(code) in result.detail
    assert fake.refresh_calls == 0


def test_rate_limit_is_transient(fake: FakeZalo, account: ZaloAccount) -> None:
    fake.set_error(USER_ID, -32)

    result = send_oa_message(account, USER_ID, "Nhắc việc")

    assert result.outcome is Outcome.TRANSIENT
    assert "-32" in result.detail


def test_server_error_is_transient(fake: FakeZalo, account: ZaloAccount) -> None:
    fake.set_status(OA_PATH, 503)

    assert send_oa_message(account, USER_ID, "Nhắc việc").outcome is Outcome.TRANSIENT


def test_read_timeout_is_unknown(fake: FakeZalo, account: ZaloAccount) -> None:
    quick = replace(account, config=replace(account.config, read_timeout=0.3))
    fake.set_delay(ZNS_PATH, 2.0)

    result = send_zns(quick, PHONE, TEMPLATE_ID, TEMPLATE_DATA, "delivery-7")

    assert result.outcome is Outcome.UNKNOWN
    # Zalo did get it: this is why an unknown outcome must not be resent blindly.
    assert len(fake.requests_to(ZNS_PATH)) == 1


def test_connect_timeout_is_transient(fake: FakeZalo, tmp_path: Path) -> None:
    with blackhole_base_url() as base:
        acct = make_account(fake, tmp_path / "t", base=base, connect_timeout=0.3)
        FileTokenStore(tmp_path / "t").seed(TokenPair("a", "r"))

        result = send_oa_message(acct, USER_ID, "Nhắc việc")

    assert result.outcome is Outcome.TRANSIENT
    assert "ConnectTimeout" in result.detail


def test_connection_refused_is_transient(fake: FakeZalo, tmp_path: Path) -> None:
    base = fake.base_url
    fake.stop()
    acct = make_account(fake, tmp_path / "t", base=base)
    FileTokenStore(tmp_path / "t").seed(TokenPair("a", "r"))

    result = send_oa_message(acct, USER_ID, "Nhắc việc")

    assert result.outcome is Outcome.TRANSIENT
    assert "ConnectError" in result.detail


# ---------------------------------------------------------------------- quiet hours


def test_zns_at_night_is_deferred_without_request(fake: FakeZalo, account: ZaloAccount) -> None:
    night = datetime(2024, 3, 14, 22, 30, tzinfo=VN_TZ)

    result = send_zns(account, PHONE, TEMPLATE_ID, TEMPLATE_DATA, "delivery-9", now=night)

    assert result.outcome is Outcome.DEFERRED
    assert result.not_before == datetime(2024, 3, 15, 6, 0, tzinfo=VN_TZ)
    assert fake.requests == []


def test_zns_uses_account_clock(fake: FakeZalo, tmp_path: Path) -> None:
    night = datetime(2024, 3, 14, 15, 30, tzinfo=UTC)  # 22:30 in Viet Nam
    acct = make_account(fake, tmp_path / "t")
    at_night = ZaloAccount(acct.oa_id, acct.config, acct.store, clock=lambda: night)

    result = send_zns(at_night, PHONE, TEMPLATE_ID, TEMPLATE_DATA, "d-1")

    assert result.outcome is Outcome.DEFERRED
    assert fake.requests == []


@pytest.mark.parametrize(
    ("hour", "minute", "quiet"),
    [(21, 59, False), (22, 0, True), (23, 59, True), (0, 0, True), (5, 59, True), (6, 0, False)],
)
def test_quiet_hours_bounds(hour: int, minute: int, quiet: bool) -> None:
    assert in_zns_quiet_hours(datetime(2024, 3, 14, hour, minute, tzinfo=VN_TZ)) is quiet


# ---------------------------------------------------------------------- secrets


def test_secrets_absent_from_logs_and_repr(
    fake: FakeZalo, account: ZaloAccount, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    first = (str(fake.access_token), fake.refresh_token)
    fake.expire_access_token()
    fake.set_error("84987654321", -108)

    results = [
        send_oa_message(account, USER_ID, "Nhắc việc\nHạn 15/03/2024"),
        send_zns(account, "0987654321", TEMPLATE_ID, TEMPLATE_DATA, "delivery-5"),
    ]

    assert fake.refresh_calls == 1
    assert any("refreshed" in record.getMessage() for record in caplog.records)
    secrets = [fake.secret_key, *first, str(fake.access_token), fake.refresh_token]
    pair = account.store.get()
    texts = [
        caplog.text,
        repr(account.config),
        str(account.config),
        repr(account),
        repr(pair),
        repr(account.store),
        *(repr(r) for r in results),
    ]
    for secret in secrets:
        for text in texts:
            assert secret not in text
