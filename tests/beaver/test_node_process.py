"""A real node process serves the Beaver service on its east-west gRPC listener when
``[beaver] enabled``: two parties get a valid triple through it (one node, shared by the
module; the maths and refusals are covered against the bare servicer)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import numpy as np
import pytest

from isthmus.mpc.beaver_client import TtpTripleSource
from isthmus.mpc.ring import RING64
from isthmus.testing import ProcessCluster, free_port
from isthmus.testing.cluster import ProcessNode

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def node() -> Iterator[ProcessNode]:
    with ProcessCluster(env={"ISTHMUS_BEAVER__ENABLED": "true"}) as cluster:
        yield cluster.add_node("NODE_A", interconn_grpc_port=free_port())


async def test_two_parties_get_a_triple_from_a_node(node: ProcessNode) -> None:
    config = node.config
    host = f"{config.interconn.host}:{config.interconn.grpc_port}"
    sid = uuid.uuid4().hex
    sources = [TtpTripleSource(RING64, r, 2, 0, host, sid) for r in range(2)]
    await asyncio.gather(*(s.open() for s in sources))
    (a0, b0, c0), (a1, b1, c1) = await asyncio.gather(*(s.matmul(2, 3, 2) for s in sources))
    await asyncio.gather(*(s.close() for s in sources))
    # uint64 arithmetic wraps: exactly the ring's
    assert np.array_equal(c0 + c1, (a0 + a1) @ (b0 + b1))
