"""Two (or more) secure operator services in one event loop, on the in-memory link.

Each task's session gets its own ``MemoryNetwork``; ``Sessions`` records what each node
opened and released, so tests can check that a task freed everything it held."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from isthmus.link.backends import LinkBackend, MemoryNetwork
from isthmus.link.context import LinkContext
from isthmus.secure_operate.binding import Params
from isthmus.secure_operate.service import SecureOperateService
from isthmus.wire.secure_operate import encode_direct


@dataclass
class Sessions:
    opened: set[str] = field(default_factory=set)
    released: set[str] = field(default_factory=set)

    async def open(self, session_id: str, token: str, parties: frozenset[str]) -> None:
        assert token and session_id not in self.opened
        self.opened.add(session_id)

    async def release(self, session_id: str) -> None:
        self.released.add(session_id)

    @property
    def held(self) -> set[str]:
        return self.opened - self.released


class Networks:
    def __init__(self) -> None:
        self.by_session: dict[str, MemoryNetwork] = {}

    def factory(self) -> Callable[[str, str, list[str], int], LinkBackend]:
        def make(session_id: str, token: str, parties: list[str], rank: int) -> LinkBackend:
            network = self.by_session.setdefault(session_id, MemoryNetwork())
            return network.backend(rank)

        return make


EngineFactory = Callable[
    [LinkContext, Params], Awaitable[tuple[Any, Callable[[], Awaitable[None]]]]
]


async def dealer_engine(
    link: LinkContext, params: Params
) -> tuple[Any, Callable[[], Awaitable[None]]]:
    """The real engine with the insecure seeded dealer (fast, no HE)."""
    from isthmus.mpc.engine import Semi2k
    from isthmus.mpc.ring import RING64, RING128
    from isthmus.testing.mpc_dealer import SeededDealer

    ring = RING64 if params.field == 64 else RING128
    dealer = SeededDealer(ring, link.rank, link.world_size)
    engine = Semi2k(link, ring, params.fxp_bits, dealer)
    await engine.setup()
    return engine, dealer.close


def make_services(
    tmp: Path, names: list[str], engines: EngineFactory = dealer_engine, **options: Any
) -> tuple[list[SecureOperateService], list[Sessions]]:
    networks = Networks()
    sessions = [Sessions() for _ in names]
    from isthmus.mpc.engine import Semi2k

    services = [
        SecureOperateService(
            node_id=name,
            storage_root=tmp / name,
            sessions=sessions[i],
            backends=networks.factory(),
            engines=engines,
            engine_class=Semi2k,
            **options,
        )
        for i, name in enumerate(names)
    ]
    return services, sessions


def direct(name: str, value: np.ndarray, dtype: str = "float64") -> dict[str, Any]:
    return {
        "dataValueTag": {
            "type": "Direct",
            "name": name,
            "dtype": dtype,
            "shape": list(value.shape),
        },
        "directValue": encode_direct(value, dtype),
    }


def body(
    task: str, expression: str, parties: list[str], me: str, inputs: list[dict], **extra: Any
) -> dict[str, Any]:
    return {
        "taskId": task,
        "expression": expression,
        "mpcProtocol": {"protocolCode": "semi2k", "param": {"field": 64, "fxp_bits": 18}},
        "parties": parties,
        "localPartyId": me,
        "resultParties": extra.pop("resultParties", parties),
        "inputs": inputs,
        **extra,
    }


async def both(*calls: Awaitable[Any]) -> list[Any]:
    return list(await asyncio.gather(*calls))
