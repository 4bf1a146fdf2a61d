"""Schemathesis against the web app's own OpenAPI description: no request makes it fail (5xx).

The app hides its schema in production (``openapi_url=None``), so the test builds it from
``app.openapi()`` and sends every case through the ASGI app in-process. Each operation is
fuzzed anonymously and as the coordinator, with data that fits the schema and data that does
not; half the form posts carry the session's real CSRF token so fuzzing gets past the CSRF
check into the action code, and operations on an assignment also draw real assignment ids.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from models.tables import Assignment
from tests.browser import TODAY, csrf_of, http_client, login, web_world
from web.app import create_app

CASES_PER_OPERATION = 50  # per operation, user and generation mode; 10x under --soak


@pytest.fixture
def world(clean_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    with web_world(clean_engine, monkeypatch) as engine:
        yield engine


def _identity(app: Any, username: str | None) -> tuple[dict[str, str], str]:
    """The session cookie and CSRF token of a visitor (``None``) or a signed-in user."""
    client = http_client(app)
    if username is not None:
        login(client, username)
        token = csrf_of(client.get("/").text)
    else:
        token = csrf_of(client.get("/login").text)
    return dict(client.cookies.items()), token


def _assignment_ids(engine: Engine) -> list[int]:
    with Session(engine) as session:
        return [a.id for a in session.exec(select(Assignment)) if a.id is not None]


def _for_assignment(
    operation: Any, mode: GenerationMode
) -> Callable[[int], st.SearchStrategy[Case[Any]]]:
    def strategy(assignment_id: int) -> st.SearchStrategy[Case[Any]]:
        found: st.SearchStrategy[Case[Any]] = operation.as_strategy(
            generation_mode=mode, path_parameters={"assignment_id": assignment_id}
        )
        return found

    return strategy


def _strategies(operation: Any, ids: list[int]) -> list[st.SearchStrategy[Case[Any]]]:
    path_names = {p.name for p in operation.path_parameters}
    found: list[st.SearchStrategy[Case[Any]]] = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        found.append(operation.as_strategy(generation_mode=mode))
        if "assignment_id" in path_names:
            # Random integers almost never name a stored assignment: also aim at real ones.
            found.append(st.sampled_from(ids).flatmap(_for_assignment(operation, mode)))
    return found


def fuzz_operation(
    operation: Any,
    cookies: dict[str, str],
    token: str,
    ids: list[int],
    examples: int,
    statuses: dict[int, int],
) -> int:
    """Send ``examples`` generated cases to one operation; returns how many were sent."""
    tried = 0

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(_strategies(operation, ids)), real_token=st.booleans())
    def run(case: Case[Any], real_token: bool) -> None:
        nonlocal tried
        tried += 1
        if real_token and isinstance(case.body, dict) and "csrf_token" in case.body:
            case.body["csrf_token"] = token
        response = case.call(cookies=cookies)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        # Raises with the failing request (and a curl line to replay it) on a 5xx.
        case.validate_response(response, checks=[not_a_server_error])

    run()
    return tried


def test_no_request_makes_the_app_fail(world: Engine, soak: bool) -> None:
    app = create_app(world, today=lambda: TODAY)
    schema = schemathesis.openapi.from_dict(app.openapi())
    schema.app = app  # calls go to the ASGI app in-process, not over the network
    ids = _assignment_ids(world)
    examples = CASES_PER_OPERATION * (10 if soak else 1)
    identities = {"anonymous": _identity(app, None), "coordinator": _identity(app, "tdkt")}
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results), "schemathesis could not read every operation"
    assert len(operations) >= 10, "the app's schema lost operations"
    statuses: dict[int, int] = {}
    total = 0
    started = time.monotonic()
    for who, (cookies, token) in identities.items():
        for operation in operations:
            tried = fuzz_operation(operation, cookies, token, ids, examples, statuses)
            assert tried > 0, f"{operation.label} generated no case"
            print(f"schemathesis {who:11} {operation.label:45} cases={tried}")
            total += tried
    elapsed = time.monotonic() - started
    print(
        f"schemathesis: {len(operations)} operations x {len(identities)} users, "
        f"{total} cases in {elapsed:.0f} s, statuses {dict(sorted(statuses.items()))}, "
        "failures 0"
    )
    assert not any(status >= 500 for status in statuses)
    # Fuzzing that only ever met the login redirect would prove little.
    assert statuses.get(200, 0) > 0 and any(400 <= s < 500 for s in statuses)
