"""The web pages under load: the real server, 20 concurrent clients, small and large data.

For each database size the real server runs in its own process (``giaoviec web``, one
uvicorn process as installed; with ``--workers N`` also ``uvicorn --workers N`` on the app
factory), and a load generator in another process (httpx, one async client per simulated
person, each signed in with its own session) measures:

* the overview a coordinator opens first (``/``: the newest plan, counts, units, timeline,
  critical path) and the list it links to (``/assignments``: the plan's list, first page,
  and the overdue filter behind the red counter);
* submissions: department officers, each signed in as a different lead unit, submitting
  different assignments through the page's real form (multipart POST with the session's
  CSRF token and the version the page showed), answered by the redirect (303).

The baseline is the An Giang plan alone (20 assignments, replayed on 04/03/2024); the large
size is ``bench.generate``'s data (default 1,000 plans × 100 = 100,000 assignments, as of
10/06/2026). Accounts are hashed with cheap argon2 parameters: signing in is not measured,
and the real cost (0.25 s a hash) would only slow the set-up.

    python -m bench.web                                   # 100k on SQLite
    python -m bench.web --postgres                        # …and on PostgreSQL (test_web)
    python -m bench.web --workers 2                       # also uvicorn with 2 workers
    python -m bench.web --plans 2 --per-plan 10 --requests 20 --clients 2   # smoke size
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import (
    REPO,
    database_label,
    emit,
    fresh_database,
    machine,
    percentile,
    run_child,
    table,
)
from bench.generate import DEFAULT_TODAY, Sizes

PG_WEB = "postgresql+psycopg://postgres@127.0.0.1:5432/test_web"
PASSWORD = "mat-khau-do-tai"
AN_GIANG = "an-giang-2024-hoi-nghi-thi-dua"
AN_GIANG_TODAY = dt.date(2024, 3, 4)
AN_GIANG_EVENT = dt.date(2024, 3, 15)
COORDINATOR = "bench-tdkt"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_SUBMITTABLE = ("not_started", "in_progress")


# --- set-up: data and accounts ----------------------------------------------------------


@contextmanager
def _cheap_hashes() -> Iterator[None]:
    """Accounts hashed with argon2's cheapest parameters; the server verifies by the hash's own."""
    from argon2 import PasswordHasher

    from tracking import accounts

    original = accounts._hasher
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    accounts._hasher = lambda: cheap  # type: ignore[assignment]
    try:
        yield
    finally:
        accounts._hasher = original


def _load_an_giang(engine: Any) -> None:
    from tracking import db, store
    from tracking.planio import read_plan_file

    db.migrate(engine)
    with db.session_scope(engine) as session:
        plan = read_plan_file(REPO / "plans" / f"{AN_GIANG}.yaml")
        store.load_plan(session, plan, "bench")
        store.set_event_date(session, AN_GIANG, AN_GIANG_EVENT, "bench")


def _submitters(engine: Any, clients: int, requests: int) -> list[dict[str, Any]]:
    """Up to ``clients`` officers of different lead units, each with assignments to submit.

    Creates one department account per unit; the ``requests`` submissions are dealt out to
    them in turn, so no two officers ever submit the same assignment.
    """
    from sqlalchemy import text

    from models.web_tables import UserRole
    from tracking import accounts, db

    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT d.code, a.id, a.version FROM assignment a "
                "JOIN department d ON d.id = a.lead_department_id "
                f"WHERE a.state IN {_SUBMITTABLE!r} ORDER BY a.plan_id DESC, a.position"
            )
        ).all()
    by_unit: dict[str, list[tuple[int, int]]] = {}
    for code, key, version in rows:
        by_unit.setdefault(code, []).append((key, version))
    units = sorted(by_unit, key=lambda c: -len(by_unit[c]))[:clients]
    work: dict[str, list[tuple[int, int]]] = {u: [] for u in units}
    dealt, turn = 0, 0
    while dealt < requests and any(by_unit[u] for u in units):
        unit = units[turn % len(units)]
        turn += 1
        if by_unit[unit]:
            work[unit].append(by_unit[unit].pop(0))
            dealt += 1
    result = []
    with _cheap_hashes(), db.session_scope(engine) as session:
        for unit in units:
            if not work[unit]:
                continue
            username = f"bench-{unit.lower()}"
            accounts.create_user(session, username, PASSWORD, UserRole.DEPARTMENT, unit)
            result.append({"username": username, "items": work[unit]})
    return result


def _prepare(url: str, kind: str, sizes: Sizes) -> tuple[float, dt.date, int]:
    """Fill an empty database; returns seconds taken, the data's "today" and assignments."""
    from bench.generate import generate
    from models.web_tables import UserRole
    from tracking import accounts, db

    fresh_database(url)
    engine = db.get_engine(url)
    started = time.perf_counter()
    if kind == "baseline":
        _load_an_giang(engine)
        today, total = AN_GIANG_TODAY, 20
    else:
        generate(engine, sizes)
        today, total = DEFAULT_TODAY, sizes.assignments
    with _cheap_hashes(), db.session_scope(engine) as session:
        accounts.create_user(session, COORDINATOR, PASSWORD, UserRole.COORDINATOR, None, "Ban TĐKT")
    return time.perf_counter() - started, today, total


# --- the server -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(url: str, today: dt.date, home: Path, workers: int) -> Iterator[str]:
    """The real server in its own process(es); yields its base URL once it answers."""
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "GIAOVIEC_DATABASE_URL": url,
        "GIAOVIEC_HOME": str(home),
        "GIAOVIEC_TODAY": today.isoformat(),
        "GIAOVIEC_SECRET_KEY": secrets.token_urlsafe(48),
    }
    env.pop("GIAOVIEC_PUBLIC_URL", None)
    if workers == 1:
        # What `giaoviec web` runs, access log included.
        command = [sys.executable, "-m", "cli", "web", "--host", "127.0.0.1", "--port", str(port)]
    else:
        command = [
            *(sys.executable, "-m", "uvicorn", "web.app:create_app", "--factory"),
            *("--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
        ]
    log = (home / f"server-{port}.log").open("wb")
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process, home / f"server-{port}.log")
        yield base
    finally:
        os.killpg(process.pid, signal.SIGINT)  # uvicorn's workers are in the group too
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def _wait_until_up(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server stopped:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(base + "/login", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server did not answer within 60 s:\n{log.read_text()[-3000:]}")


# --- the child side: the load generator -------------------------------------------------


async def _signed_in(base: str, username: str, form_page: str | None = None) -> tuple[Any, str]:
    """A client with its own session; with ``form_page``, also the session's CSRF token."""
    import httpx

    client = httpx.AsyncClient(base_url=base, timeout=60)
    page = await client.get("/login")
    token = _csrf(page.text)
    answer = await client.post(
        "/login", data={"csrf_token": token, "username": username, "password": PASSWORD}
    )
    if answer.status_code != 303:
        raise RuntimeError(f"signing in as {username} failed: {answer.status_code}")
    if form_page is None:
        return client, ""
    # The session's CSRF token, as the page's forms carry it.
    return client, _csrf((await client.get(form_page)).text)


def _csrf(html: str) -> str:
    found = _CSRF.search(html)
    if not found:
        raise RuntimeError("no CSRF field in the page")
    return found.group(1)


async def _load_pages(
    base: str, path: str, requests: int, clients: int, think: float = 0.0
) -> dict[str, Any]:
    """``requests`` GETs of ``path`` by ``clients`` signed-in coordinators at once.

    With ``think`` = 0 each client asks again as soon as it has its answer: the server is
    saturated and latency is mostly queueing (≈ clients ÷ throughput). With ``think`` > 0 each
    waits about that long between pages, as people reading a page do: latency is then what a
    person feels under that many colleagues.
    """
    pause = random.Random(7)
    people = [await _signed_in(base, COORDINATOR) for _ in range(clients)]
    for client, _ in people:  # warm: the first request of a process pays for imports
        await client.get(path)
    left = [requests]
    latencies: list[float] = []
    sizes: list[int] = []
    failures: list[int] = []

    async def person(client: Any) -> None:
        while left[0] > 0:
            left[0] -= 1
            started = time.perf_counter()
            answer = await client.get(path)
            latencies.append(time.perf_counter() - started)
            sizes.append(len(answer.content))
            if answer.status_code != 200:
                failures.append(answer.status_code)
            if think:
                await asyncio.sleep(think * pause.uniform(0.5, 1.5))

    started = time.perf_counter()
    await asyncio.gather(*(person(client) for client, _ in people))
    wall = time.perf_counter() - started
    for client, _ in people:
        await client.aclose()
    if failures:
        raise RuntimeError(f"{path}: {len(failures)} answers were not 200: {failures[:5]}")
    return _figures(latencies, wall, sum(sizes) / len(sizes))


async def _load_submits(base: str, work: list[dict[str, Any]]) -> dict[str, Any]:
    """Each officer submits its own assignments, one after another, all officers at once."""
    # Each officer first opens the page of an assignment, as from a reminder.
    people = [
        (await _signed_in(base, w["username"], f"/assignments/{w['items'][0][0]}"), w["items"])
        for w in work
    ]
    latencies: list[float] = []
    failures: list[str] = []

    async def person(client: Any, token: str, items: list[tuple[int, int]]) -> None:
        for key, version in items:
            form = {
                "csrf_token": token,
                "action": "submit",
                "note": "Đã hoàn thành, báo cáo kèm theo.",
                "version": str(version),
            }
            body, content_type = _browser_form(form)
            started = time.perf_counter()
            answer = await client.post(
                f"/assignments/{key}/act", content=body, headers={"content-type": content_type}
            )
            latencies.append(time.perf_counter() - started)
            if answer.status_code != 303:
                error = re.search(r"<title>([^<]*)", answer.text)
                failures.append(f"{key}: {answer.status_code} {error.group(1) if error else ''}")

    started = time.perf_counter()
    await asyncio.gather(*(person(c, token, items) for (c, token), items in people))
    wall = time.perf_counter() - started
    for (client, _), _items in people:
        await client.aclose()
    if failures:
        raise RuntimeError(f"{len(failures)} submissions failed: {failures[:5]}")
    return {**_figures(latencies, wall, 0), "clients": len(people)}


def _browser_form(fields: dict[str, str]) -> tuple[bytes, str]:
    """The form as a browser sends it: multipart, the empty file input as a part with
    ``filename=""`` (httpx would leave the empty file name out, which no browser does)."""
    boundary = "----giaoviecbench" + secrets.token_hex(8)
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename=""\r\n'
        "Content-Type: application/octet-stream\r\n\r\n\r\n"
    )
    body = ("".join(parts) + f"--{boundary}--\r\n").encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _figures(latencies: Sequence[float], wall: float, mean_bytes: float) -> dict[str, Any]:
    return {
        "n": len(latencies),
        "p50_ms": 1000 * percentile(latencies, 0.5),
        "p95_ms": 1000 * percentile(latencies, 0.95),
        "max_ms": 1000 * max(latencies),
        "per_s": len(latencies) / wall,
        "kb": mean_bytes / 1024,
    }


def child(args: argparse.Namespace) -> None:
    if args.mode == "page":
        figures = asyncio.run(
            _load_pages(args.base, args.path, args.requests, args.clients, args.think)
        )
    else:
        work = json.loads(Path(args.work).read_text())
        figures = asyncio.run(_load_submits(args.base, work))
    emit(figures)


# --- the parent: one database size ------------------------------------------------------


def _pages(kind: str) -> list[tuple[str, str]]:
    plan = f"?plan={AN_GIANG}" if kind == "baseline" else ""
    joiner = "&" if plan else "?"
    return [
        ("overview", f"/{plan}"),
        ("list, first page", f"/assignments{plan}"),
        ("list, overdue", f"/assignments{plan}{joiner}timeliness=overdue"),
    ]


def bench_size(
    url: str, kind: str, sizes: Sizes, args: argparse.Namespace, scratch: Path
) -> list[list[Any]]:
    generated, today, total = _prepare(url, kind, sizes)
    from tracking import db

    engine = db.get_engine(url)
    work = _submitters(engine, args.clients, args.requests)
    engine.dispose()
    db.get_engine.cache_clear()
    work_file = scratch / "submit-work.json"
    work_file.write_text(json.dumps(work))
    label = "An Giang plan" if kind == "baseline" else f"{sizes.plans:,} plans × {sizes.per_plan}"
    rows: list[list[Any]] = []
    variants = [1] + ([args.workers] if args.workers > 1 else [])
    for workers in variants:
        server = "giaoviec web" if workers == 1 else f"uvicorn, {workers} workers"
        home = scratch / f"home-{kind}-{workers}"
        home.mkdir(exist_ok=True)
        with serve(url, today, home, workers) as base:
            for page, path in _pages(kind):
                for think in sorted({0.0, args.think}):
                    loaded = [
                        *("--mode", "page", "--base", base, "--path", path),
                        *("--requests", str(args.requests), "--clients", str(args.clients)),
                        *("--think", str(think)),
                    ]
                    f = run_child("web", loaded)
                    shown = f"{page}, {think:g} s between pages" if think else page
                    rows.append(_row(label, total, server, shown, args.clients, f))
            if workers == variants[-1]:  # submissions change the data: last, once
                f = run_child("web", ["--mode", "submit", "--base", base, "--work", str(work_file)])
                rows.append(_row(label, total, server, "submit (POST)", f["clients"], f))
    print(f"  {label}: data ready in {generated:.1f} s", file=sys.stderr, flush=True)
    return rows


def _row(
    label: str, total: int, server: str, page: str, clients: int, f: dict[str, Any]
) -> list[Any]:
    return [
        label,
        total,
        server,
        page,
        clients,
        f["n"],
        f["p50_ms"],
        f["p95_ms"],
        f["max_ms"],
        f["per_s"],
        f["kb"] or "—",
    ]


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=("page", "submit"), help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--plans", type=int, default=1_000)
    parser.add_argument("--per-plan", type=int, default=100)
    parser.add_argument("--requests", type=int, default=400, help="requests per page")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients")
    parser.add_argument(
        "--think",
        type=float,
        default=1.0,
        help="also measure with clients pausing about this long between pages (0: only saturated)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="also measure uvicorn with this many workers"
    )
    parser.add_argument(
        "--postgres", nargs="?", const=PG_WEB, help=f"also run on PostgreSQL (default {PG_WEB})"
    )
    parser.add_argument("--sqlite-dir", help="where the SQLite file goes (default: temporary)")
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    sizes = Sizes(plans=args.plans, per_plan=args.per_plan)
    print(f"Machine: {machine()}")
    print(f"Load average (1/5/15 min) before: {load_average()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="giaoviec-bench-web-") as scratch_name:
        scratch = Path(scratch_name)
        folder = Path(args.sqlite_dir or scratch)
        urls = [f"sqlite:///{folder / 'bench-web.db'}"]
        if args.postgres:
            urls.append(args.postgres)
        for url in urls:
            rows: list[list[Any]] = []
            for kind in ("baseline", "scale"):
                rows.extend(bench_size(url, kind, sizes, args, scratch))
            title = (
                f"Web pages on {database_label(url)}: {args.clients} concurrent clients, "
                f"{args.requests} requests per page; load average after: {load_average()}"
            )
            header = [
                "data",
                "assignments",
                "server",
                "page",
                "clients",
                "requests",
                "p50 ms",
                "p95 ms",
                "max ms",
                "req/s",
                "KiB/page",
            ]
            print(table(title, header, rows), flush=True)


if __name__ == "__main__":
    main()
