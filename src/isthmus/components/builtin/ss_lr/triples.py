"""Where SS-LR's Beaver triples come from, as the agreement says.

``use_ttp`` (a ``TripleConfigResult`` with a server host): the PPCA Beaver TTP service
(``isthmus.mpc.beaver_client.TtpTripleSource``; the decided ``adjust_rank`` asks for the
adjustments). Otherwise the dealer-free Paillier triples of
``isthmus.mpc.he_triples.HeTripleSource`` (an Isthmus extension: no third party), with
keys of ``key_bits`` (at least 2048 unless ``allow_insecure_key_size``). Predictions need
no products, so :class:`NoTriples` refuses any request: a bug that asks for one fails
loudly instead of inventing triples.
"""

from __future__ import annotations

from isthmus.components.builtin.ss_lr.handshake import Agreement
from isthmus.components.builtin.ss_lr.params import Settings
from isthmus.link import LinkContext
from isthmus.mpc.beaver_client import TtpTripleSource, tls_credentials
from isthmus.mpc.he_triples import HeTripleSource
from isthmus.mpc.ring import Ring, Tensor
from isthmus.mpc.triples import TripleSource


async def make(link: LinkContext, ring: Ring, agreement: Agreement, s: Settings) -> TripleSource:
    """The opened triple source every party of this run uses (the same kind on all, by
    the agreement)."""
    if agreement.ttp_host:
        source = TtpTripleSource(
            ring,
            link.rank,
            link.world_size,
            agreement.adjust_rank,
            agreement.ttp_host,
            agreement.ttp_session,
            prg_crypto=agreement.prg_crypto,
            credentials=tls_credentials(s.ttp_ca_pem) if s.ttp_ca_pem else None,
            lookahead=True,  # training asks for the same shapes batch after batch
        )
        await source.open()
        return source
    return HeTripleSource(
        link, ring, key_bits=s.key_bits, allow_insecure_key_size=s.allow_insecure_key_size
    )


class NoTriples:
    """A TripleSource for computations that need none (sums and reveals)."""

    def __init__(self, ring: Ring) -> None:
        self.ring = ring

    def _refuse(self) -> RuntimeError:
        return RuntimeError("this SS-LR step needs no Beaver triples; one was asked for")

    async def mul(self, shape: tuple[int, ...]) -> tuple[Tensor, Tensor, Tensor]:
        raise self._refuse()

    async def matmul(self, m: int, k: int, n: int) -> tuple[Tensor, Tensor, Tensor]:
        raise self._refuse()

    async def trunc(self, shape: tuple[int, ...], bits: int) -> tuple[Tensor, Tensor]:
        raise self._refuse()

    async def close(self) -> None:
        return None
