"""How the kit waits for the target's operator: once per run. After one request went
unanswered, later ones are not waited for again (a run without an operator costs one
``approval_timeout_s``, not one per request)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from isthmus.conformance.checks import operator
from isthmus.conformance.listener import ListenerTimeout, Received
from isthmus.wire import paths


class SilentListener:
    """No confirm ever arrives; counts how often the kit waited for one."""

    def __init__(self) -> None:
        self.waits = 0

    async def expect(self, path_prefix: str, timeout_s: float) -> Any:
        self.waits += 1
        raise ListenerTimeout(path_prefix)


@dataclass
class Target:
    approval_timeout_s: float = 0.05


@dataclass
class Context:
    """The three things ``_confirmed`` reads of a ``CheckContext``."""

    listener: SilentListener = field(default_factory=SilentListener)
    target: Target = field(default_factory=Target)
    state: dict[str, Any] = field(default_factory=dict)


def test_the_kit_waits_for_an_absent_operator_once_per_run() -> None:
    ctx = Context()

    async def three_requests() -> list[object]:
        return [
            await operator._confirmed(ctx, paths.NODE_CONTRACT_CONFIRM, "audit_id", f"a{i}")  # type: ignore[arg-type]
            for i in range(3)
        ]

    assert asyncio.run(three_requests()) == [None, None, None]
    assert ctx.listener.waits == 1
    assert ctx.state[operator.OPERATOR_SILENT] is True


class ApprovingListener(SilentListener):
    """The operator is there: every wait gets the confirm asked for."""

    async def expect(self, path_prefix: str, timeout_s: float) -> Any:
        self.waits += 1
        body = {"contract_id": f"c{self.waits}"}
        return Received("POST", path_prefix, "", {}, b"", body, True)


def test_an_operator_who_answers_is_waited_for_every_time() -> None:
    ctx = Context(listener=ApprovingListener())

    async def three_requests() -> list[Any]:
        return [
            await operator._confirmed(ctx, paths.NODE_CONTRACT_CONFIRM, "contract_id", f"c{i}")  # type: ignore[arg-type]
            for i in (1, 2, 3)
        ]

    got = asyncio.run(three_requests())
    assert [r.json["contract_id"] for r in got] == ["c1", "c2", "c3"]
    assert ctx.listener.waits == 3
    assert operator.OPERATOR_SILENT not in ctx.state
