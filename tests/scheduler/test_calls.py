"""The participant's calls are defined once (``scheduler.calls``): the east-west router
serves exactly those paths and methods, and the local channel answers through the same
table, refusing what the router refuses with the same words."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from isthmus.node.config import load_config
from isthmus.node.context import NodeContext, build_context
from isthmus.node.home import init_home
from isthmus.node.interconn_app import create_interconn_app
from isthmus.scheduler.calls import PARTY_CALLS, answer
from isthmus.testing.inprocess import RoutingTransport
from isthmus.wire import paths
from isthmus.wire.errors import NotFound, ValidationFailed


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeContext]:
    home = init_home(
        Path(tmp_path_factory.mktemp("calls")) / "node", node_id="CALLS", inst_id="CALLS_INST"
    )
    ctx = build_context(load_config(home), transport=RoutingTransport())
    ctx.store.migrate()
    yield ctx
    ctx.store.dispose()


def test_the_table_holds_the_spec_calls_and_kusciass_task_stop() -> None:
    assert set(PARTY_CALLS) == {
        paths.JOB_CREATE,
        paths.JOB_START,
        paths.TASK_START,
        paths.JOB_STOP,
        paths.TASK_POLL,
        paths.TASK_STOP,
    }
    assert all(call.method == "POST" for call in PARTY_CALLS.values())


def test_the_router_serves_each_call_once_as_defined(node: NodeContext) -> None:
    served = create_interconn_app(node).openapi()["paths"]
    routed = [
        (path, method.upper())
        for path, operations in served.items()
        if path in PARTY_CALLS
        for method in operations
    ]
    assert sorted(routed) == sorted((c.path, c.method) for c in PARTY_CALLS.values())


@pytest.mark.parametrize("path", [p for p, c in PARTY_CALLS.items() if c.required])
def test_the_local_channel_refuses_a_missing_id_like_the_router(
    node: NodeContext, path: str
) -> None:
    call = PARTY_CALLS[path]
    me = node.jobs.me
    with pytest.raises(ValidationFailed) as direct:
        asyncio.run(answer(node.jobs.participant, me, path, {}, {}))
    with pytest.raises(ValidationFailed) as local:
        asyncio.run(node.jobs.channel.call(me, path, {}))
    assert direct.value.message == local.value.message == f"{', '.join(call.required)}: required"


@pytest.mark.parametrize("path", [p for p, c in PARTY_CALLS.items() if c.required])
def test_a_bad_id_is_named_by_its_field_on_the_local_channel(node: NodeContext, path: str) -> None:
    call = PARTY_CALLS[path]
    body = {name: "../escape" for name in call.required}
    with pytest.raises(ValidationFailed, match=call.required[0]):
        asyncio.run(node.jobs.channel.call(node.jobs.me, path, body))


def test_a_path_outside_the_table_is_not_a_participant_call(node: NodeContext) -> None:
    with pytest.raises(NotFound):
        asyncio.run(node.jobs.channel.call(node.jobs.me, paths.JOB_CREATE_ALL, {}))


def test_the_participant_reports_to_the_job_service_it_was_built_with(
    node: NodeContext,
) -> None:
    assert node.jobs.participant.runs.report == node.jobs.dispatch_report
    assert node.jobs.channel is node.jobs.coordinator.channel
    assert node.jobs.channel.local is node.jobs.participant
