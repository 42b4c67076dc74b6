"""``org.interconnection.v2.service.BeaverService`` over gRPC (docs/protocol.md §16).

Every call first passes the node's ``gate`` (who may call at all: the east-west
listener's TLS and an allow-list, decided by the node; a refused caller gets gRPC
PERMISSION_DENIED). After that, a request the service cannot serve is answered with
gRPC OK and a non-zero ``code`` (an ``org.interconnection.ErrorCode``) and a message that
starts with a stable reason token (``sessions.Refusal``), as the PDF's responses carry
``code``/``message``. Sizes are checked before any work; the maths runs in a worker
thread, at most ``CONCURRENCY`` adjustments at a time, so the node's loop stays free and
memory stays bounded by ``CONCURRENCY`` requests of ``max_elements``. Seeds are never
logged: failures log the session id and reason only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc

from isthmus.beaver import adjust
from isthmus.beaver.adjust import Buffer
from isthmus.beaver.sessions import Material, Refusal, SessionTable
from isthmus.mpc.beaver_wire import CRYPTO_OF_CODE, seed_of
from isthmus.mpc.ring import Ring
from isthmus.wire.proto import beaver_pb2 as pb
from isthmus.wire.proto import interconnection_common_pb2 as common

log = logging.getLogger("isthmus.beaver")

SERVICE = "org.interconnection.v2.service.BeaverService"
CONCURRENCY = 2

#: Decides whether the caller of a gRPC call (its ``context``) may use the service:
#: None = yes, else the reason it may not.
Gate = Callable[[Any], Awaitable[str | None]]
Compute = Callable[[Ring, Material, Sequence[Buffer]], list[bytes]]


async def _open(_: Any) -> str | None:
    return None


class BeaverServicer:
    def __init__(self, table: SessionTable, *, gate: Gate = _open) -> None:
        self.table = table
        self.gate = gate
        self._slots = asyncio.Semaphore(CONCURRENCY)

    async def _admit(self, context: Any, method: str) -> None:
        reason = await self.gate(context)
        if reason is not None:
            log.info("Beaver %s refused: %s", method, reason)
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, reason)

    async def CreateSession(  # noqa: N802 - the rpc's name
        self, request: pb.CreateSessionRequest, context: Any
    ) -> pb.CreateSessionResponse:
        await self._admit(context, "CreateSession")
        try:
            crypto = CRYPTO_OF_CODE.get(request.prg_crypto)
            if not request.HasField("prg_seed"):
                raise Refusal(common.INVALID_REQUEST, "bad_request", "prg_seed missing")
            if crypto is None:
                raise Refusal(common.UNSUPPORTED_PARAMS, "bad_prg_crypto", "unknown prg_crypto")
            self.table.create(
                request.session_id,
                world_size=request.world_size,
                rank=request.rank,
                adjust_rank=request.adjust_rank,
                seed=seed_of(request.prg_seed.hi, request.prg_seed.lo),
                crypto=crypto,
                version=request.required_version,
            )
        except Refusal as exc:
            log.info("Beaver CreateSession %s refused: %s", request.session_id[:64], exc.reason)
            return pb.CreateSessionResponse(code=exc.code, message=exc.message)
        return pb.CreateSessionResponse(code=0)

    async def DeleteSession(  # noqa: N802
        self, request: pb.DeleteSessionRequest, context: Any
    ) -> pb.DeleteSessionResponse:
        await self._admit(context, "DeleteSession")
        self.table.delete(request.session_id)
        return pb.DeleteSessionResponse(code=0)

    async def _adjust(
        self,
        context: Any,
        method: str,
        request: Any,
        counts: Callable[[Ring, Sequence[Buffer]], Sequence[int]],
        compute: Compute,
        transposable: Sequence[int] = (),
    ) -> pb.AdjustResponse:
        await self._admit(context, method)
        try:
            ring = adjust.ring_of(request.field)
            bufs = [
                Buffer(int(b.prg_count), int(b.size), bool(b.transpose)) for b in request.prg_inputs
            ]
            limit = self.table.limits.max_elements
            adjust.check_buffers(ring, bufs, counts(ring, bufs), limit, transposable)
            material = await self.table.material(request.session_id)
            async with self._slots:
                outputs = await asyncio.to_thread(compute, ring, material, bufs)
        except Refusal as exc:
            log.info("Beaver %s %s refused: %s", method, request.session_id[:64], exc.reason)
            return pb.AdjustResponse(code=exc.code, message=exc.message)
        except Exception:  # our fault: logged without the request's seeds or data
            log.exception("Beaver %s for session %s failed", method, request.session_id[:64])
            return pb.AdjustResponse(code=common.UNEXPECTED_ERROR, message="internal error")
        return pb.AdjustResponse(code=0, adjust_outputs=outputs)

    @staticmethod
    def _same(n: int) -> Callable[[Ring, Sequence[Buffer]], Sequence[int]]:
        return lambda ring, bufs: [adjust.elements(ring, bufs)] * n

    async def AdjustMul(  # noqa: N802
        self, request: pb.AdjustMulRequest, context: Any
    ) -> pb.AdjustResponse:
        return await self._adjust(context, "AdjustMul", request, self._same(3), adjust.adjust_mul)

    async def AdjustDot(  # noqa: N802
        self, request: pb.AdjustDotRequest, context: Any
    ) -> pb.AdjustResponse:
        m, n, k = int(request.m), int(request.n), int(request.k)

        def counts(ring: Ring, bufs: Sequence[Buffer]) -> Sequence[int]:
            if min(m, n, k) < 1:
                raise Refusal(common.INVALID_REQUEST, "bad_request", f"M, N, K = {m}, {n}, {k}")
            return [m * k, k * n, m * n]

        def compute(ring: Ring, material: Material, bufs: Sequence[Buffer]) -> list[bytes]:
            return adjust.adjust_dot(ring, material, bufs, m, k, n)

        return await self._adjust(context, "AdjustDot", request, counts, compute, (0, 1))

    async def AdjustAnd(  # noqa: N802
        self, request: pb.AdjustAndRequest, context: Any
    ) -> pb.AdjustResponse:
        return await self._adjust(
            context, "AdjustAnd", request, self._same(3), lambda _r, m, b: adjust.adjust_and(m, b)
        )

    def _with_bits(self, n: int, bits: int) -> Callable[[Ring, Sequence[Buffer]], Sequence[int]]:
        def counts(ring: Ring, bufs: Sequence[Buffer]) -> Sequence[int]:
            adjust.check_bits(ring, bits)
            return [adjust.elements(ring, bufs)] * n

        return counts

    async def AdjustTrunc(  # noqa: N802
        self, request: pb.AdjustTruncRequest, context: Any
    ) -> pb.AdjustResponse:
        bits = int(request.bits)
        return await self._adjust(
            context,
            "AdjustTrunc",
            request,
            self._with_bits(2, bits),
            lambda r, m, b: adjust.adjust_trunc(r, m, b, bits),
        )

    async def AdjustTruncPr(  # noqa: N802
        self, request: pb.AdjustTruncPrRequest, context: Any
    ) -> pb.AdjustResponse:
        bits = int(request.bits)
        return await self._adjust(
            context,
            "AdjustTruncPr",
            request,
            self._with_bits(3, bits),
            lambda r, m, b: adjust.adjust_trunc_pr(r, m, b, bits),
        )

    async def AdjustRandBit(  # noqa: N802
        self, request: pb.AdjustRandBitRequest, context: Any
    ) -> pb.AdjustResponse:
        return await self._adjust(
            context, "AdjustRandBit", request, self._same(1), adjust.adjust_rand_bit
        )

    def handlers(self) -> tuple[grpc.GenericRpcHandler, ...]:
        rpcs: dict[str, tuple[Any, Any]] = {
            "CreateSession": (self.CreateSession, pb.CreateSessionRequest),
            "DeleteSession": (self.DeleteSession, pb.DeleteSessionRequest),
            "AdjustMul": (self.AdjustMul, pb.AdjustMulRequest),
            "AdjustDot": (self.AdjustDot, pb.AdjustDotRequest),
            "AdjustAnd": (self.AdjustAnd, pb.AdjustAndRequest),
            "AdjustTrunc": (self.AdjustTrunc, pb.AdjustTruncRequest),
            "AdjustTruncPr": (self.AdjustTruncPr, pb.AdjustTruncPrRequest),
            "AdjustRandBit": (self.AdjustRandBit, pb.AdjustRandBitRequest),
        }
        methods = {
            name: grpc.unary_unary_rpc_method_handler(
                method,
                request_deserializer=message.FromString,
                response_serializer=lambda reply: reply.SerializeToString(),
            )
            for name, (method, message) in rpcs.items()
        }
        return (grpc.method_handlers_generic_handler(SERVICE, methods),)
