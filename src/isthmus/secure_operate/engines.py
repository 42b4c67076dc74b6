"""The engine a task computes with: ``isthmus.mpc.engine.Semi2k`` and its triple source.

Triples come from the dealer-free ``HeTripleSource`` (our documented extension,
protocol.md §15) unless ``mpcProtocol.param`` says ``use_ttp`` with ``ttp_server_host``:
then from the PPCA Beaver service through ``TtpTripleSource`` (protocol.md §16), over
TLS when ``ttp_ca_pem`` names the service's CA. The
triple source is closed when the task ends, however it ends (``service._free``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from isthmus.link.context import LinkContext
from isthmus.mpc.beaver_client import TtpTripleSource, tls_credentials
from isthmus.mpc.engine import Semi2k
from isthmus.mpc.he_triples import HeTripleSource
from isthmus.mpc.ring import RING64, RING128
from isthmus.mpc.triples import TripleSource
from isthmus.secure_operate.binding import Params

#: The engine class the catalogue asks about optional operations (``less``).
ENGINE_CLASS: type = Semi2k


def _triples(link: LinkContext, params: Params) -> TripleSource:
    ring = RING64 if params.field == 64 else RING128
    if params.use_ttp:
        # every party names the same Beaver session (the task's); rank 0 adjusts
        credentials = tls_credentials(params.ttp_ca_pem) if params.ttp_ca_pem else None
        return TtpTripleSource(
            ring,
            link.rank,
            link.world_size,
            0,
            params.ttp_server_host,
            params.session,
            credentials=credentials,
        )
    return HeTripleSource(
        link,
        ring,
        key_bits=params.he_key_bits,
        allow_insecure_key_size=params.he_key_bits < 2048,
    )


async def semi2k(link: LinkContext, params: Params) -> tuple[Semi2k, Callable[[], Awaitable[None]]]:
    """A set-up engine on ``link`` and the coroutine that frees what it holds."""
    ring = RING64 if params.field == 64 else RING128
    triples = _triples(link, params)
    engine = Semi2k(
        link,
        ring,
        params.fxp_bits,
        triples,
        trunc_mode="precise" if params.trunc_mode == "precise" else "probabilistic",
    )
    try:
        await engine.setup()
    except BaseException:
        await triples.close()
        raise
    return engine, triples.close
