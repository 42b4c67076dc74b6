"""Schemathesis over both OpenAPI documents: no input may make a node answer 5xx; and
every body-taking route of both apps against deep, huge, wide and broken bodies.

The node's peer client gets a transport with no routes, so generated partner addresses
never leave the process.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from isthmus.node.admin_app import create_admin_app
from isthmus.node.config import load_config
from isthmus.node.context import NodeContext, build_context
from isthmus.node.home import init_home
from isthmus.node.interconn_app import create_interconn_app
from isthmus.testing.inprocess import RoutingTransport

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeContext]:
    home = init_home(
        Path(tmp_path_factory.mktemp("fuzz")) / "node", node_id="FUZZ", inst_id="FUZZ_INST"
    )
    config = load_config(home)
    # One connection attempt: generated partner addresses all fail, and backoff would
    # only slow the run down.
    config.peer.connect_attempts = 1
    ctx = build_context(config, transport=RoutingTransport())
    ctx.store.migrate()
    ctx.ready.set()
    yield ctx
    ctx.store.dispose()


def fuzz(schema: schemathesis.BaseSchema, headers: dict[str, str]) -> int:
    """Run every operation of ``schema`` with generated cases; returns how many ran.

    Drives the operations' Hypothesis strategies directly rather than through
    schemathesis' pytest plugin, which does not support pytest 9 yet.
    """
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, "the OpenAPI document lists no operations"
    for operation in operations:

        @given(case=operation.as_strategy())
        @FUZZ
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        run()
    return len(operations)


def test_interconn_api_never_answers_5xx(node: NodeContext) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_interconn_app(node))
    assert fuzz(schema, {}) >= 7


def test_admin_api_never_answers_5xx(node: NodeContext) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_admin_app(node))
    assert fuzz(schema, {"authorization": f"Bearer {node.admin_token}"}) >= 10


#: Bodies no generator makes: nested 100 000 deep (arrays, objects, inside an object),
#: over each app's body limit, and wide (a million-element array) under it.
HOSTILE_BODIES = {
    "deep arrays": b"[" * 100_000 + b"]" * 100_000,
    "deep objects": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "deep inside": b'{"job_id":"j","dag":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "huge": b'{"pad":"' + b"x" * (17 * 1024 * 1024) + b'"}',
    "wide": b"[" + b"0," * 400_000 + b"0]",
    "not json": b"\xff\xfe{[",
}


def hostile(app: Any, headers: dict[str, str]) -> int:
    """Every POST/PUT route of ``app`` gets every hostile body; returns how many calls."""
    calls = 0
    with TestClient(app, raise_server_exceptions=False) as client:
        for template, operations in app.openapi()["paths"].items():
            methods = [m.upper() for m in operations if m in ("post", "put")]
            if not methods:
                continue
            path = re.sub(r"\{[^}]+\}", "x1", template)
            method = methods[0]
            for name, body in HOSTILE_BODIES.items():
                response = client.request(
                    method,
                    path,
                    content=body,
                    headers={**headers, "content-type": "application/json"},
                )
                assert response.status_code < 500, (path, name, response.text[:300])
                calls += 1
    return calls


def test_interconn_api_never_answers_5xx_to_deep_or_huge_bodies(node: NodeContext) -> None:
    assert hostile(create_interconn_app(node), {}) >= 7 * len(HOSTILE_BODIES)


def test_admin_api_never_answers_5xx_to_deep_or_huge_bodies(node: NodeContext) -> None:
    headers = {"authorization": f"Bearer {node.admin_token}"}
    assert hostile(create_admin_app(node), headers) >= 10 * len(HOSTILE_BODIES)
