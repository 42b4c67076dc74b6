"""The ``ecdh_psi`` component: BFIA parameters in, matched rows and a report out.

BFIA mode (digest §5.1-5.2): the suite and the result holder arrive as parameters with
interconnection-impl's names, and there is no handshake, which is how SecretFlow runs in
interconnection mode. Items are the key columns (``field_names``) of each row joined with
``,``; duplicate keys are intersected once and every row carrying a matched key is
output, in input order.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from isthmus.components.builtin.ecdh_psi.handshake import Offer, negotiate
from isthmus.components.builtin.ecdh_psi.hashed import HashedSpool
from isthmus.components.builtin.ecdh_psi.multiparty import EcdhPsiMulti
from isthmus.components.builtin.ecdh_psi.profile import PROFILE
from isthmus.components.builtin.ecdh_psi.protocol import (
    SECRETFLOW_COMPARE_BYTES,
    EcdhPsi2,
    PsiSettings,
)
from isthmus.components.builtin.ecdh_psi.rows import copy_matched, read_key_chunks, read_keys
from isthmus.components.builtin.ecdh_psi.sharding import MAX_SHARDS, run_in_component
from isthmus.components.builtin.ecdh_psi.spool import ItemSpool, set_bit
from isthmus.components.errors import ParameterError
from isthmus.components.runtime import LINK_PARAMS, Component, RunContext, component
from isthmus.components.spec import ComponentSpec, DataSlot, Param
from isthmus.components.storage import TableMeta
from isthmus.crypto.ecdh import CURVE25519, SM2_SHA256_REHASH, SM2_SM3_INCREMENT, EcdhSuite

#: (curve, hash, hash-to-curve, point format) this image implements.
SUITES: dict[tuple[str, str, str, str], EcdhSuite] = {
    ("curve25519", "sha_256", "direct_hash_as_point_x", "uncompressed"): CURVE25519,
    ("sm2", "sha_256", "try_and_rehash", "x962_compressed"): SM2_SHA256_REHASH,
    ("sm2", "sm3", "try_and_increment", "x962_compressed"): SM2_SM3_INCREMENT,
}

#: The hash-to-curve strategy and point format a curve implies when they are not given.
CURVE_DEFAULTS = {
    "curve25519": ("direct_hash_as_point_x", "uncompressed"),
    "sm2": ("try_and_rehash", "x962_compressed"),
}

SPEC = ComponentSpec(
    name="ecdh_psi",
    provider="isthmus",
    version="0.1.0",
    title="ECDH-PSI",
    description="ECDH private set intersection: two parties as PPCA ECDH-PSI (SecretFlow-"
    "compatible), more than two with Isthmus's ring protocol (docs/psi.md).",
    roles=("guest", "host"),
    params=(
        Param("algo", default="ecdh_psi", choices=("ecdh_psi",)),
        Param("protocol_families", default="ecc", choices=("ecc",)),
        Param("curve_type", default="curve25519", choices=("curve25519", "sm2")),
        Param("hash_type", default="sha_256", choices=("sha_256", "sm3")),
        Param(
            "hash2curve_strategy",
            choices=("direct_hash_as_point_x", "try_and_rehash", "try_and_increment"),
            description="default: the curve's SecretFlow suite (direct hash for curve25519, "
            "try-and-rehash for sm2)",
        ),
        Param(
            "point_octet_format",
            choices=("uncompressed", "x962_compressed"),
            description="default: uncompressed for curve25519, x962_compressed for sm2",
        ),
        Param(
            "bit_length_after_truncated",
            type="int",
            default=-1,
            validator="[-1,256]",
            description="-1: compare the last 96 bits as SecretFlow does; else that many "
            "low-order bits (a multiple of 8), as the PPCA text says",
        ),
        Param(
            "result_to_rank",
            type="int",
            default=-1,
            validator="[-1,inf)",
            description="-1: every party gets the intersection",
        ),
        Param(
            "field_names",
            default="id",
            validator=r"regular:'[^,]+(,[^,]+)*'",
            description="key columns, comma-separated",
        ),
        Param(
            "handshake",
            type="boolean",
            default=False,
            description="PPCA mode: negotiate suite, truncation and result holder with the "
            "v2 handshake (rank 0 decides) instead of taking them from the parameters",
        ),
        Param(
            "shards",
            type="int",
            default=1,
            validator=f"[1,{MAX_SHARDS}]",
            description="Isthmus extension, both parties alike: K > 1 splits the keys into K "
            "buckets by a keyed hash agreed per run and runs K sub-PSIs (on the Ray cluster of "
            "system.compute, else as local processes); bucket sizes leak (docs/psi.md)",
        ),
        Param(
            "shard_cpus",
            type="float",
            default=1.0,
            validator="(0,64]",
            description="Isthmus extension: the Ray CPUs each shard task asks for",
        ),
        *LINK_PARAMS,
    ),
    inputs=(DataSlot("train_data", "dataset", ("csv",), "the party's table"),),
    outputs=(
        DataSlot("train_data", "dataset", ("csv",), "the rows whose keys are in the intersection"),
        DataSlot("report", "report", ("json",), "counts and timings"),
    ),
    results=(("0", "success"),),
)


@component
class EcdhPsiComponent(Component):
    spec = SPEC

    async def run(self, ctx: RunContext) -> None:
        p = ctx.params
        curve = p["curve_type"]
        suite_key = (
            curve,
            p["hash_type"],
            p["hash2curve_strategy"] or CURVE_DEFAULTS[curve][0],
            p["point_octet_format"] or CURVE_DEFAULTS[curve][1],
        )
        suite = SUITES.get(suite_key)
        if suite is None:
            raise ParameterError(
                "curve_type", f"suite {'/'.join(suite_key)} is not implemented by this image"
            )
        bits = int(p["bit_length_after_truncated"])
        if bits > 0 and bits % 8:
            raise ParameterError("bit_length_after_truncated", f"{bits} is not a multiple of 8")
        settings = PsiSettings(
            suite=suite,
            result_to_rank=int(p["result_to_rank"]),
            compare_bytes=bits // 8 if bits > 0 else SECRETFLOW_COMPARE_BYTES,
            compare_from_end=bits <= 0 or suite.low_order_at_end,
            workers=os.cpu_count() or 1,
        )
        fields = [f.strip() for f in str(p["field_names"]).split(",")]
        source = ctx.input("train_data")
        if int(p["shards"]) > 1:  # docs/psi.md, "Past one machine"
            items = read_keys(ctx.storage, source, fields)
            target = ctx.output("train_data")
            write = functools.partial(copy_matched, ctx.storage, source, target)
            offered = [suite, *(s for s in SUITES.values() if s is not suite)]
            shards = int(p["shards"])
            _finish(ctx, await run_in_component(ctx, settings, shards, items, write, offered))
            return
        with tempfile.TemporaryDirectory(prefix="isthmus-psi-") as scratch:
            work = Path(scratch)
            spool = _spool(work, settings.suite, p["handshake"], len(ctx.env.parties))
            with PROFILE.phase("input.read_and_spool"):
                spool.build_chunks(read_key_chunks(ctx.storage, source, fields))  # pass 1
            started = time.perf_counter()
            link = await ctx.link_from_params()
            if p["handshake"]:  # PPCA mode: rank 0 decides what both sides use
                others = [s for s in SUITES.values() if s is not suite]
                # Rows bound the unique keys from above: a safe count for the truncation.
                offer = Offer([suite, *others], spool.rows, settings.result_to_rank)
                settings = await negotiate(link, offer, settings)
            if not settings.result_to_rank < link.world_size:
                raise ParameterError("result_to_rank", f"no rank {settings.result_to_rank}")
            with ThreadPoolExecutor(max_workers=settings.workers) as executor:
                if link.world_size == 2:
                    batches = spool.batches(settings.batch_size)
                    protocol = EcdhPsi2(link, settings, executor)
                    matched = await protocol.run_batches(batches, work)
                else:  # more than two parties: in memory (docs/psi.md)
                    keys = [k for batch in spool.batches(settings.batch_size) for k in batch]
                    found = await EcdhPsiMulti(link, settings, executor).run(keys)
                    matched = None if found is None else _bitmap(found, len(keys))
            elapsed = time.perf_counter() - started
            report: dict[str, object] = {
                "rank": ctx.env.rank,
                "original": spool.rows,
                "unique_keys": spool.unique,
                "psi_s": round(elapsed, 3),
            }
            if matched is not None:
                with PROFILE.phase("output.matched_rows"):
                    rows = spool.matched_rows(matched)
                with PROFILE.phase("output.write"):
                    target = ctx.output("train_data")
                    kept = copy_matched(ctx.storage, source, target, rows)  # pass 2: in order
                keys_matched = sum(bin(byte).count("1") for byte in matched)
                report.update(intersection=kept, intersection_keys=keys_matched)
            else:
                report.update(intersection=None)
        _finish(ctx, report)


def _finish(ctx: RunContext, report: dict[str, object]) -> None:
    """The report to its output (if asked for), the run's report, the log and the
    profile (when ``ISTHMUS_PSI_PROFILE`` asks for one)."""
    if "report" in ctx.env.outputs:
        target = ctx.output("report")
        with ctx.storage.writer(target) as out:
            out.write(json.dumps(report).encode())
        ctx.storage.write_meta(
            target, TableMeta(name=target.name, namespace=target.namespace, file_type="json")
        )
    ctx.report.update(report)
    ctx.log.info("ecdh_psi report %s", json.dumps(report))
    PROFILE.dump()


def _spool(work: Path, suite: EcdhSuite, handshake: bool, parties: int) -> ItemSpool:
    """A spool that hashes as it reads when the points are known before the link (no
    handshake can change the suite), the suite's hashing is a step of its own, and two
    parties stream batches; else the keys' spool."""
    if not handshake and parties == 2 and suite.hash_packed([]) is not None:
        return HashedSpool(work, suite.hash_packed, suite.point_bytes)
    return ItemSpool(work)


def _bitmap(positions: set[int], size: int) -> bytearray:
    bitmap = bytearray((size + 7) // 8)
    for position in positions:
        set_bit(bitmap, position)
    return bitmap
