"""The gRPC listeners (``node.grpc_server``): bound all or none, addresses as gRPC
spells them."""

from __future__ import annotations

import socket

import pytest

from isthmus.node.grpc_server import _address, start_grpc_servers, stop_grpc_servers
from isthmus.testing import InProcessCluster, free_port

pytestmark = pytest.mark.anyio


def test_addresses_bracket_ipv6_hosts_once() -> None:
    assert _address("127.0.0.1", 50051) == "127.0.0.1:50051"
    assert _address("::1", 50051) == "[::1]:50051"
    assert _address("[::1]", 50051) == "[::1]:50051"


async def test_a_port_in_use_is_an_os_error_and_leaves_nothing_listening() -> None:
    south_north = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        async with InProcessCluster() as cluster:
            node = await cluster.add_node(
                "NODE_A", transport_grpc_port=south_north, interconn_grpc_port=busy
            )
            with pytest.raises(OSError, match="east-west"):
                await start_grpc_servers(node.ctx)
    # The south-north listener, bound first, was stopped again: its port is free.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", south_north))


async def test_no_port_configured_starts_nothing() -> None:
    async with InProcessCluster() as cluster:
        node = await cluster.add_node("NODE_A")
        servers = await start_grpc_servers(node.ctx)
        assert servers == []
        await stop_grpc_servers(servers)
