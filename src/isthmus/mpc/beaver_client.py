"""``TtpTripleSource``: Beaver triples from the PPCA Beaver service (docs/protocol.md §16).

Each party draws a fresh 16-byte seed, registers it with ``CreateSession`` (``open``),
and from then on draws its shares of every tuple locally from ``Prg(seed)``: A, B and C
(or R and Rb) in that order, each buffer starting at the PRG's current block counter.
Because every party calls the same methods with the same sizes (lockstep), the counters
agree, so the adjust rank alone sends the ``PrgBufferMeta``s and adds the service's
adjustment to its last share(s); every other party never talks to the service between
``open`` and ``close`` (a tuple asked for before ``open`` opens the session first).
Summed over the parties the shares form a valid tuple; the
service (a trusted third party) knows them all, the parties know only their own.

Failures are ``MpcError``s: ``BeaverRefused`` for a non-zero ``code`` or a refused call,
``BeaverUnreachable`` when the service cannot be reached in ``timeout_s``. The seed is
never logged or shown in ``repr``.

With ``lookahead`` (for loops that ask for the same shapes again and again, as SS-LR's
training does) each call also draws the next tuple of its kind and shape and starts its
adjustment, so the service's round trip leaves the critical path; the draws still depend
only on the sequence of calls, so every rank's counters stay in step.

It implements the fixed-mask extension (``FixedMaskTriples``, SecureML §4.2): ``fixed``
draws A (m, k) with no service call and names it by its PRG counter (the same on every
rank); each ``matmul_for`` draws a fresh B and C and sends ``AdjustDot`` with A's
*original* ``PrgBufferMeta`` (flagged ``transpose`` for Aᵀ@B), which the service
regenerates like any buffer. With ``lookahead`` the (B, C) drawn and adjusted ahead is
the one for the *next handle* (in the order ``fixed`` made them, cyclically) with the
same n and direction: a loop over fixed masks (SS-LR's batches, every epoch, all masks
made first) then always finds its tuple ready, and the end leaves one unused tuple per n
and direction (cancelled at ``close``). The draws depend only on the sequence of calls,
so every rank's counters stay in step; a caller with another pattern only wastes the
tuple drawn ahead.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
import numpy as np

from isthmus.mpc.beaver_wire import CRYPTO_CODES, FIELD_OF, SEED_BYTES, int128_of
from isthmus.mpc.prg import Prg, PrgCrypto
from isthmus.mpc.ring import Ring, Tensor
from isthmus.mpc.triples import FixedMaskTriples, TripleSource
from isthmus.wire.errors import BeaverRefused, BeaverUnreachable, MpcError, MpcInputError
from isthmus.wire.proto import beaver_pb2 as pb
from isthmus.wire.proto import beaver_pb2_grpc

PROTOCOL_VERSION = 1
#: gRPC's default 4 MiB receive limit is below one adjustment of a service's default
#: ``max_elements`` in ring 128 (16 MiB); ``channel_options`` may set another.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
_UNREACHABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED,
}


def tls_credentials(ca_pem: str) -> grpc.ChannelCredentials:
    """Server-authenticated TLS to the service: ``ca_pem`` is the CA certificate (PEM
    text) its certificate must chain to. The seeds travel in ``CreateSession``, so any
    service beyond this host should be reached this way."""
    if "BEGIN CERTIFICATE" not in ca_pem:
        raise MpcInputError("the Beaver service's CA must be a PEM certificate")
    return grpc.ssl_channel_credentials(root_certificates=ca_pem.encode("ascii"))


class TtpTripleSource:
    """A ``TripleSource`` backed by the Beaver service at ``server_host`` (host:port)."""

    def __init__(
        self,
        ring: Ring,
        rank: int,
        world_size: int,
        adjust_rank: int,
        server_host: str,
        session_id: str,
        *,
        prg_crypto: PrgCrypto = "AES128_CTR",
        credentials: grpc.ChannelCredentials | None = None,
        channel_options: Sequence[tuple[str, Any]] = (),
        timeout_s: float = 60.0,
        lookahead: bool = False,
    ) -> None:
        if not (0 <= rank < world_size and 0 <= adjust_rank < world_size):
            raise MpcInputError(f"rank {rank} / adjust rank {adjust_rank} outside {world_size}")
        self.ring = ring
        self.rank = rank
        self.world_size = world_size
        self.adjust_rank = adjust_rank
        self.server_host = server_host
        self.session_id = session_id
        self.timeout_s = timeout_s
        self._crypto = prg_crypto
        self._seed = secrets.token_bytes(SEED_BYTES)
        self._prg = Prg(self._seed, prg_crypto)
        self._credentials = credentials
        options: dict[str, Any] = {
            "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
            "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
        }
        options.update(dict(channel_options))
        self._options = list(options.items())
        self._channel: grpc.aio.Channel | None = None
        self._stub: Any = None
        self._closed = False
        self.lookahead = lookahead
        self._ahead: dict[tuple[Any, ...], Awaitable[tuple[Tensor, ...]]] = {}
        self._fixed: dict[int, tuple[pb.PrgBufferMeta, int, int, int]] = {}
        self._order: list[int] = []  # handles in the order ``fixed`` made them

    def __repr__(self) -> str:  # never the seed
        return (
            f"TtpTripleSource(rank={self.rank}, world_size={self.world_size}, "
            f"server={self.server_host!r}, session={self.session_id!r})"
        )

    @property
    def adjusts(self) -> bool:
        return self.rank == self.adjust_rank

    async def open(self) -> None:
        """``CreateSession`` with this party's seed; if it fails, nothing stays open."""
        if self._credentials is None:
            self._channel = grpc.aio.insecure_channel(self.server_host, options=self._options)
        else:
            self._channel = grpc.aio.secure_channel(
                self.server_host, self._credentials, options=self._options
            )
        self._stub = beaver_pb2_grpc.BeaverServiceStub(self._channel)  # type: ignore[no-untyped-call]
        hi, lo = int128_of(self._seed)
        crypto_code: Any = CRYPTO_CODES[self._crypto]
        request = pb.CreateSessionRequest(
            required_version=PROTOCOL_VERSION,
            adjust_rank=self.adjust_rank,
            session_id=self.session_id,
            world_size=self.world_size,
            rank=self.rank,
            prg_seed=pb.Int128Proto(hi=hi, lo=lo),
            prg_crypto=crypto_code,
        )
        try:
            await self._call("CreateSession", self._stub.CreateSession, request)
        except BaseException:
            await self._drop_channel()
            raise

    async def close(self) -> None:
        """``DeleteSession`` (every party sends one; the service drops the session after
        the last), then close the channel. Safe to call twice."""
        if self._channel is None:
            self._closed = True
            return
        self._closed = True
        await self._cancel_ahead()
        try:
            await self._call(
                "DeleteSession",
                self._stub.DeleteSession,
                pb.DeleteSessionRequest(session_id=self.session_id),
            )
        finally:
            await self._drop_channel()

    async def _cancel_ahead(self) -> None:
        ahead, self._ahead = list(self._ahead.values()), {}
        for item in ahead:
            if isinstance(item, asyncio.Future):
                item.cancel()
        await asyncio.gather(*ahead, return_exceptions=True)

    async def _drop_channel(self) -> None:
        channel, self._channel, self._stub = self._channel, None, None
        if channel is not None:
            await channel.close()

    async def _call(self, name: str, method: Callable[..., Awaitable[Any]], request: Any) -> Any:
        if self._stub is None:
            raise MpcError(f"Beaver session {self.session_id} is not open")
        try:
            reply = await method(request, timeout=self.timeout_s)
        except grpc.aio.AioRpcError as exc:
            status = exc.code()
            text = f"Beaver {name} at {self.server_host}: {status.name} {exc.details() or ''}"
            if status in _UNREACHABLE:
                raise BeaverUnreachable(text.strip()) from None
            raise BeaverRefused(text.strip(), details={"grpc_status": status.name}) from None
        if reply.code != 0:
            reason = reply.message.split(":", 1)[0]
            raise BeaverRefused(
                f"Beaver {name} refused: {reply.code} {reply.message}",
                details={"service_code": int(reply.code), "reason": reason},
            )
        return reply

    # --- drawing shares -----------------------------------------------------------

    async def _ensure_open(self) -> None:
        """A tuple asked for before ``open()`` opens the session first (every rank, so
        that the session completes even if the caller never calls ``open``)."""
        if self._channel is None:
            if self._closed:
                raise MpcError(f"Beaver session {self.session_id} was closed")
            await self.open()

    def _draw(self, shape: tuple[int, ...]) -> tuple[Tensor, pb.PrgBufferMeta]:
        meta = pb.PrgBufferMeta(prg_count=self._prg.counter, size=self.ring.nbytes(shape))
        return self._prg.ring(self.ring, shape), meta

    def _adjusted(self, share: Tensor, adjust: bytes) -> Tensor:
        shape = self.ring.shape(share)
        if len(adjust) != self.ring.nbytes(shape):
            raise MpcError(
                f"Beaver service answered {len(adjust)} bytes; {self.ring.nbytes(shape)} expected"
            )
        return self.ring.add(share, self.ring.from_bytes(adjust, shape))

    async def _outputs(self, name: str, request: Any, count: int) -> list[bytes]:
        reply = await self._call(name, getattr(self._stub, name), request)
        outputs = list(reply.adjust_outputs)
        if len(outputs) != count:
            raise MpcError(f"Beaver {name} answered {len(outputs)} adjustments, not {count}")
        return outputs

    @property
    def _field(self) -> Any:  # a FieldType number
        return FIELD_OF[self.ring.bits]

    async def mul(self, shape: tuple[int, ...]) -> tuple[Tensor, Tensor, Tensor]:
        await self._ensure_open()
        a, b, c = await self._take(("mul", *shape), lambda: self._start_mul(shape))
        return a, b, c

    def _start_mul(self, shape: tuple[int, ...]) -> Awaitable[tuple[Tensor, ...]]:
        (a, ma), (b, mb), (c, mc) = (self._draw(shape) for _ in range(3))
        request = pb.AdjustMulRequest(
            session_id=self.session_id, prg_inputs=[ma, mb, mc], field=self._field
        )
        return self._adjust_last("AdjustMul", request, (a, b, c))

    async def matmul(self, m: int, k: int, n: int) -> tuple[Tensor, Tensor, Tensor]:
        await self._ensure_open()
        a, b, c = await self._take(("matmul", m, k, n), lambda: self._start_matmul(m, k, n))
        return a, b, c

    def _start_matmul(self, m: int, k: int, n: int) -> Awaitable[tuple[Tensor, ...]]:
        a, ma = self._draw((m, k))
        b, mb = self._draw((k, n))
        c, mc = self._draw((m, n))
        request = pb.AdjustDotRequest(
            session_id=self.session_id, prg_inputs=[ma, mb, mc], field=self._field, m=m, n=n, k=k
        )
        return self._adjust_last("AdjustDot", request, (a, b, c))

    async def fixed(self, m: int, k: int) -> tuple[int, Tensor]:
        """(handle, this party's share of a fresh A (m, k)); no adjustment is needed."""
        await self._ensure_open()
        a, meta = self._draw((m, k))
        self._fixed[meta.prg_count] = (meta, m, k, len(self._order))
        self._order.append(meta.prg_count)
        return meta.prg_count, a

    async def matmul_for(
        self, handle: int, n: int, *, transpose: bool = False
    ) -> tuple[Tensor, Tensor]:
        await self._ensure_open()
        if handle not in self._fixed:
            raise MpcInputError(f"no fixed mask with handle {handle} in this session")
        current = self._ahead.pop(("fixed", handle, n, transpose), None)
        if current is None:
            current = self._start_fixed(handle, n, transpose)
        if self.lookahead:
            nxt = self._order[(self._fixed[handle][3] + 1) % len(self._order)]
            key = ("fixed", nxt, n, transpose)
            if key not in self._ahead:
                self._ahead[key] = self._start_fixed(nxt, n, transpose)
        b, c = await current
        return b, c

    def _start_fixed(self, handle: int, n: int, transpose: bool) -> Awaitable[tuple[Tensor, ...]]:
        meta, m, k, _ = self._fixed[handle]
        if transpose:
            m, k = k, m
            meta = pb.PrgBufferMeta(prg_count=meta.prg_count, size=meta.size, transpose=True)
        b, mb = self._draw((k, n))
        c, mc = self._draw((m, n))
        request = pb.AdjustDotRequest(
            session_id=self.session_id, prg_inputs=[meta, mb, mc], field=self._field, m=m, n=n, k=k
        )
        return self._adjust_last("AdjustDot", request, (b, c))

    async def trunc(self, shape: tuple[int, ...], bits: int) -> tuple[Tensor, Tensor]:
        await self._ensure_open()
        r, rb = await self._take(("trunc", bits, *shape), lambda: self._start_trunc(shape, bits))
        return r, rb

    def _start_trunc(self, shape: tuple[int, ...], bits: int) -> Awaitable[tuple[Tensor, ...]]:
        (r, mr), (rb, mrb) = (self._draw(shape) for _ in range(2))
        request = pb.AdjustTruncRequest(
            session_id=self.session_id, prg_inputs=[mr, mrb], field=self._field, bits=bits
        )
        return self._adjust_last("AdjustTrunc", request, (r, rb))

    # --- look-ahead ------------------------------------------------------------------

    async def _take(
        self, key: tuple[Any, ...], start: Callable[[], Awaitable[tuple[Tensor, ...]]]
    ) -> tuple[Tensor, ...]:
        """The tuple for this call: the one drawn ahead for the same kind and shape, if
        any, else a fresh one; with ``lookahead`` the next one of this kind and shape is
        drawn now and its adjustment fetched while the caller computes. Draws happen in
        the same order on every rank (they depend only on the sequence of calls), so the
        PRG counters stay in lockstep; a look-ahead never used costs the service one
        adjustment and is cancelled at ``close``."""
        current = self._ahead.pop(key, None) or start()
        if self.lookahead:
            self._ahead[key] = start()
        return await current

    def _adjust_last(
        self, name: str, request: Any, shares: tuple[Tensor, ...]
    ) -> Awaitable[tuple[Tensor, ...]]:
        """``shares`` with the service's adjustment added to the last one (adjust rank
        only); a task, so that the round trip runs while the caller does other work."""

        async def adjusted() -> tuple[Tensor, ...]:
            if not self.adjusts:
                return shares
            (adj,) = await self._outputs(name, request, 1)
            return (*shares[:-1], self._adjusted(shares[-1], adj))

        return asyncio.ensure_future(adjusted())

    async def trunc_pr(self, shape: tuple[int, ...], bits: int) -> tuple[Tensor, Tensor, Tensor]:
        """Shares of r, of (r mod 2^(L-1)) >> bits and of msb(r) ∈ {0, 1}."""
        await self._ensure_open()
        (r, mr), (rc, mrc), (rb, mrb) = (self._draw(shape) for _ in range(3))
        if self.adjusts:
            request = pb.AdjustTruncPrRequest(
                session_id=self.session_id,
                prg_inputs=[mr, mrc, mrb],
                field=self._field,
                bits=bits,
            )
            adj_c, adj_b = await self._outputs("AdjustTruncPr", request, 2)
            rc, rb = self._adjusted(rc, adj_c), self._adjusted(rb, adj_b)
        return r, rc, rb

    async def and_triple(self, shape: tuple[int, ...]) -> tuple[Tensor, Tensor, Tensor]:
        """XOR shares of bit strings a, b and c = a & b (every bit of every element)."""
        await self._ensure_open()
        (a, ma), (b, mb), (c, mc) = (self._draw(shape) for _ in range(3))
        if self.adjusts:
            request = pb.AdjustAndRequest(
                session_id=self.session_id, prg_inputs=[ma, mb, mc], field=self._field
            )
            (adj,) = await self._outputs("AdjustAnd", request, 1)
            if len(adj) != self.ring.nbytes(shape):
                raise MpcError(f"Beaver AdjustAnd answered {len(adj)} bytes")
            c = c ^ self.ring.from_bytes(adj, shape)
        return a, b, c

    async def rand_bit(self, shape: tuple[int, ...]) -> Tensor:
        """Additive shares of a uniform bit b ∈ {0, 1} per element."""
        await self._ensure_open()
        r, mr = self._draw(shape)
        if self.adjusts:
            request = pb.AdjustRandBitRequest(
                session_id=self.session_id, prg_inputs=[mr], field=self._field
            )
            (adj,) = await self._outputs("AdjustRandBit", request, 1)
            r = self._adjusted(r, adj)
        return np.asarray(r, dtype=np.uint64)


def _is_a_triple_source(source: TtpTripleSource) -> TripleSource:
    return source  # mypy checks the structural match here


def _has_fixed_masks(source: TtpTripleSource) -> FixedMaskTriples:
    return source
