"""Schemathesis over both OpenAPI documents: no input may make a node answer 5xx.

The node's peer client gets a transport with no routes, so generated partner addresses
never leave the process.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
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
