"""How link messages physically move: one small interface, two implementations.

A backend sends serialized ``PushRequest`` messages to a rank and hands every received
one to the context's callback. Everything above (keys, counters, chunking, ACK/FIN) is
the same for both, so an algorithm runs unchanged in PPCA (direct) and BFIA (blackbox)
deployments.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

import grpc

from isthmus.wire import ptp
from isthmus.wire.errors import LinkError, LinkTimeout
from isthmus.wire.proto import interconnection_common_pb2, link_pb2

if TYPE_CHECKING:  # imported where a blackbox link is made: a direct link never needs it
    import httpx

log = logging.getLogger(__name__)

OnPush = Callable[[link_pb2.PushRequest], Awaitable[None]]
PUSH_METHOD = "/org.interconnection.link.ReceiverService/Push"
_OK = link_pb2.PushResponse(header=interconnection_common_pb2.ResponseHeader(error_code=0))


class LinkBackend(ABC):
    """Moves serialized PushRequests between ranks."""

    @abstractmethod
    async def start(self, on_push: OnPush) -> None:
        """Begin receiving; every incoming PushRequest goes to ``on_push``."""

    @abstractmethod
    async def send(self, dst: int, request: link_pb2.PushRequest, timeout_s: float) -> None:
        """Deliver one request to rank ``dst``; raise LinkError/LinkTimeout on failure."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop receiving and release sockets."""


#: A direct link's reconnect backoff: first and least wait, and the most it grows to.
RECONNECT_MS = 50
MAX_RECONNECT_MS = 2000


class DirectBackend(LinkBackend):
    """PPCA direct link: each rank serves ``ReceiverService/Push`` over plain HTTP/2
    (h2c) on its own address and calls the others' (peers.md §1: SecretFlow's
    ``--link grpc``)."""

    def __init__(
        self, self_rank: int, addresses: list[str], *, max_message_bytes: int = 256 * 1024 * 1024
    ) -> None:
        self.self_rank = self_rank
        self.addresses = addresses
        self._options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ]
        #: The parties start together, so a first call often finds the peer not yet
        #: listening; gRPC's default wait before reconnecting (1 s, growing) would then
        #: idle both parties for a second. Retry every RECONNECT_MS instead.
        self._channel_options = [
            *self._options,
            ("grpc.initial_reconnect_backoff_ms", RECONNECT_MS),
            ("grpc.min_reconnect_backoff_ms", RECONNECT_MS),
            ("grpc.max_reconnect_backoff_ms", MAX_RECONNECT_MS),
        ]
        self._server: grpc.aio.Server | None = None
        self._channels: dict[int, grpc.aio.Channel] = {}

    async def start(self, on_push: OnPush) -> None:
        async def push(
            request: link_pb2.PushRequest, context: grpc.aio.ServicerContext
        ) -> link_pb2.PushResponse:
            await on_push(request)
            return _OK

        handler = grpc.method_handlers_generic_handler(
            "org.interconnection.link.ReceiverService",
            {
                "Push": grpc.unary_unary_rpc_method_handler(
                    push,
                    request_deserializer=link_pb2.PushRequest.FromString,
                    response_serializer=link_pb2.PushResponse.SerializeToString,
                )
            },
        )
        self._server = grpc.aio.server(options=self._options)
        self._server.add_generic_rpc_handlers((handler,))
        if self._server.add_insecure_port(self.addresses[self.self_rank]) == 0:
            raise LinkError(f"cannot listen on {self.addresses[self.self_rank]}")
        await self._server.start()

    def _channel(self, dst: int) -> grpc.aio.Channel:
        if dst not in self._channels:
            self._channels[dst] = grpc.aio.insecure_channel(
                self.addresses[dst], options=self._channel_options
            )
        return self._channels[dst]

    async def send(self, dst: int, request: link_pb2.PushRequest, timeout_s: float) -> None:
        call = self._channel(dst).unary_unary(
            PUSH_METHOD,
            request_serializer=link_pb2.PushRequest.SerializeToString,
            response_deserializer=link_pb2.PushResponse.FromString,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            remaining = deadline - loop.time()
            try:
                response = await call(request, timeout=max(remaining, 0.05), wait_for_ready=True)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED or remaining <= 0:
                    raise LinkTimeout(
                        f"rank {dst} at {self.addresses[dst]} did not take "
                        f"{request.key!r} within {timeout_s:.0f} s"
                    ) from exc
                if exc.code() == grpc.StatusCode.UNAVAILABLE:
                    await asyncio.sleep(0.1)
                    continue
                raise LinkError(
                    f"rank {dst} refused {request.key!r}: {exc.code().name} {exc.details()}"
                ) from exc
            if response.header.error_code != 0:
                raise LinkError(
                    f"rank {dst} answered error {response.header.error_code} "
                    f"{response.header.error_msg!r} for {request.key!r}"
                )
            return

    async def stop(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        if self._server is not None:
            await self._server.stop(grace=1.0)


class BlackboxBackend(LinkBackend):
    """BFIA deployment: everything goes through our own node's south-north transport
    API, exactly as SecretFlow's yacl blackbox link does (digest §4.4): raw PushRequest
    bodies, topics ``<self party>-<peer party>`` to push and ``<peer>-<self>`` to pop,
    ``pop?timeout=1`` polling, E0000000700 back-pressure answered by waiting."""

    def __init__(
        self,
        *,
        transport: str,
        session_id: str,
        token: str,
        parties: list[str],
        self_rank: int,
        node_ids: list[str],
        inst_ids: list[str] | None = None,
        trace_id: str = "",
        provider: str = "isthmus",
        http: httpx.AsyncClient | None = None,
        topic_suffix: str = "",
    ) -> None:
        self.base = transport if "://" in transport else f"http://{transport}"
        self.session_id = session_id
        self.token = token
        self.parties = parties
        self.self_rank = self_rank
        self.node_ids = node_ids
        self.inst_ids = inst_ids or node_ids
        #: ``x-ptp-trace-id`` is required on every call (digest §4.1); a container given
        #: no ``config.trace_id`` gets one of FATE's form, ``<unix seconds>_<random>``.
        self.trace_id = trace_id or f"{int(time.time())}_{secrets.token_hex(8)}"
        self.provider = provider
        #: Appended to both topics: a link of its own in the same session (a shard of a
        #: sharded PSI), which pops only its own messages.
        self.topic_suffix = topic_suffix
        import httpx  # here, not at the top: see the TYPE_CHECKING import

        self._http = http or httpx.AsyncClient(timeout=30)
        #: What a failed call to our node raises: answered by a retry, not by the task.
        self._failures: tuple[type[Exception], ...] = (httpx.HTTPError, ValueError)
        self._pollers: list[asyncio.Task[None]] = []

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, topic_suffix: str = ""
    ) -> tuple[BlackboxBackend, int]:
        """Build from the BFIA container contract (dotted environment variables); ranks
        are the lexicographic order of the party ids, as in yacl."""
        env = os.environ if env is None else env
        parties = sorted(
            key.removeprefix("config.node_id.") for key in env if key.startswith("config.node_id.")
        )
        if not parties:
            raise LinkError("no config.node_id.<role>.<index> in the environment")
        self_party = env.get("config.self_role", "")
        if self_party not in parties:
            raise LinkError(f"config.self_role {self_party!r} is not one of {parties}")
        rank = parties.index(self_party)
        backend = cls(
            transport=env["system.transport"],
            session_id=env["config.session_id"],
            token=env.get("config.token", ""),
            parties=parties,
            self_rank=rank,
            node_ids=[env[f"config.node_id.{p}"] for p in parties],
            inst_ids=[env.get(f"config.inst_id.{p}", env[f"config.node_id.{p}"]) for p in parties],
            trace_id=env.get("config.trace_id", ""),
            topic_suffix=topic_suffix,
        )
        return backend, rank

    def _headers(self, peer: int, topic: str) -> dict[str, str]:
        return {
            ptp.SESSION_ID: self.session_id,
            ptp.TOKEN: self.token,
            ptp.TOPIC: topic,
            ptp.TARGET_NODE_ID: self.node_ids[peer],
            ptp.SOURCE_NODE_ID: self.node_ids[self.self_rank],
            ptp.TARGET_INST_ID: self.inst_ids[peer],
            ptp.SOURCE_INST_ID: self.inst_ids[self.self_rank],
            ptp.TRACE_ID: self.trace_id,
            ptp.TECH_PROVIDER_CODE: self.provider,
        }

    def _topic(self, src: int, dst: int) -> str:
        return f"{self.parties[src]}-{self.parties[dst]}{self.topic_suffix}"

    async def start(self, on_push: OnPush) -> None:
        for peer in range(len(self.parties)):
            if peer != self.self_rank:
                self._pollers.append(asyncio.create_task(self._poll(peer, on_push)))

    async def _poll(self, peer: int, on_push: OnPush) -> None:
        headers = self._headers(peer, self._topic(peer, self.self_rank))
        while True:
            try:
                response = await self._http.post(
                    f"{self.base}/v1/interconn/chan/pop", params={"timeout": "1"}, headers=headers
                )
                code, message, payload = ptp.parse_outbound(response.content)
            except self._failures as exc:
                log.warning("pop from the transport failed (%s); retrying", exc)
                await asyncio.sleep(0.5)
                continue
            if code == ptp.PtpCode.OK and payload:
                await on_push(link_pb2.PushRequest.FromString(payload))
            elif code == ptp.PtpCode.SESSION_RELEASED:
                log.info("transport session released: %s", message)
                return

    async def send(self, dst: int, request: link_pb2.PushRequest, timeout_s: float) -> None:
        headers = self._headers(dst, self._topic(self.self_rank, dst))
        body = request.SerializeToString()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            try:
                response = await self._http.post(
                    f"{self.base}/v1/interconn/chan/push", content=body, headers=headers
                )
                code, message, _ = ptp.parse_outbound(response.content)
            except self._failures as exc:
                code, message = ptp.PtpCode.NETWORK_UNREACHABLE, str(exc)
            if code == ptp.PtpCode.OK:
                return
            retryable = code in (ptp.PtpCode.BUFFER_FULL, ptp.PtpCode.NETWORK_UNREACHABLE)
            if not retryable:
                raise LinkError(f"transport refused {request.key!r}: {code} {message}")
            if loop.time() > deadline:
                raise LinkTimeout(f"transport kept refusing {request.key!r}: {code} {message}")
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        for task in self._pollers:
            task.cancel()
        await asyncio.gather(*self._pollers, return_exceptions=True)
        await self._http.aclose()


class MemoryNetwork:
    """Ranks in one event loop, wired directly: the in-memory backend for tests and for
    running several parties of an algorithm in one process."""

    def __init__(self) -> None:
        self.handlers: dict[int, OnPush] = {}
        self.sent: list[tuple[int, link_pb2.PushRequest]] = []

    def backend(self, rank: int) -> MemoryBackend:
        return MemoryBackend(self, rank)


class MemoryBackend(LinkBackend):
    def __init__(self, network: MemoryNetwork, rank: int) -> None:
        self.network = network
        self.rank = rank

    async def start(self, on_push: OnPush) -> None:
        self.network.handlers[self.rank] = on_push

    async def send(self, dst: int, request: link_pb2.PushRequest, timeout_s: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while dst not in self.network.handlers:  # the peer has not started yet
            if loop.time() > deadline:
                raise LinkTimeout(f"rank {dst} never started")
            await asyncio.sleep(0.01)
        copy = link_pb2.PushRequest.FromString(request.SerializeToString())
        self.network.sent.append((dst, copy))
        await self.network.handlers[dst](copy)

    async def stop(self) -> None:
        self.network.handlers.pop(self.rank, None)
