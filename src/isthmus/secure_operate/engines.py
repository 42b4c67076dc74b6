"""The engine a task computes with: ``isthmus.mpc.engine.Semi2k`` and its triple source.

Triples come from the dealer-free ``HeTripleSource`` (our documented extension,
protocol.md §15) unless ``mpcProtocol.param`` says ``use_ttp`` with ``ttp_server_host``:
then from the PPCA Beaver service through ``TtpTripleSource`` (protocol.md §16). The
triple source is closed when the task ends, however it ends (``service._free``).
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import Any

from isthmus.link.context import LinkContext
from isthmus.mpc.engine import Semi2k
from isthmus.mpc.ring import RING64, RING128
from isthmus.secure_operate.binding import Params
from isthmus.wire.errors import SecopCode, SecopInvalid

#: The engine class the catalogue asks about optional operations (``less``).
ENGINE_CLASS: type = Semi2k


def _source(module: str, name: str) -> Any:
    """A triple source class by name: the HE and TTP sources are optional modules of the
    mpc layer (their helpers' branches), so their absence is a refusal, not a crash."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


def _triples(link: LinkContext, params: Params) -> Any:
    ring = RING64 if params.field == 64 else RING128
    if params.use_ttp:
        ttp = _source("isthmus.mpc.beaver_client", "TtpTripleSource")
        if ttp is None:
            raise SecopInvalid(
                "use_ttp: this node has no Beaver service client", SecopCode.UNKNOWN_PROTOCOL
            )
        # every party names the same Beaver session (the task's); rank 0 adjusts
        return ttp(ring, link.rank, link.world_size, 0, params.ttp_server_host, params.session)
    he = _source("isthmus.mpc.he_triples", "HeTripleSource")
    if he is None:
        raise SecopInvalid(
            "this node has no dealer-free triple source; set use_ttp and ttp_server_host",
            SecopCode.UNKNOWN_PROTOCOL,
        )
    return he(
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
