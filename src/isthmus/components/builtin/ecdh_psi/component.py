"""The ``ecdh_psi`` component: BFIA parameters in, matched rows and a report out.

BFIA mode (digest §5.1-5.2): the suite and the result holder arrive as parameters with
interconnection-impl's names, and there is no handshake, which is how SecretFlow runs in
interconnection mode. Items are the key columns (``field_names``) of each row joined with
``,``; duplicate keys are intersected once and every row carrying a matched key is
output, in input order.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

from isthmus.components.builtin.ecdh_psi.handshake import Offer, negotiate
from isthmus.components.builtin.ecdh_psi.multiparty import EcdhPsiMulti
from isthmus.components.builtin.ecdh_psi.protocol import (
    SECRETFLOW_COMPARE_BYTES,
    EcdhPsi2,
    PsiSettings,
)
from isthmus.components.env import TableRef
from isthmus.components.errors import ParameterError, StorageError
from isthmus.components.runtime import Component, RunContext, component
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
            "link_addresses",
            description="Isthmus extension: host:port of every rank, comma-separated, "
            "for the direct gRPC link instead of system.transport",
        ),
        Param(
            "handshake",
            type="boolean",
            default=False,
            description="PPCA mode: negotiate suite, truncation and result holder with the "
            "v2 handshake (rank 0 decides) instead of taking them from the parameters",
        ),
        Param("recv_timeout_s", type="float", default=600.0, validator="(0,86400]"),
        Param(
            "link_max_chunk_bytes",
            type="int",
            default=1024 * 1024,
            validator="(4096,inf)",
            description="Isthmus extension: larger link messages are sent CHUNKED",
        ),
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
        header, rows, keys = _read_table(ctx, source, fields)
        unique = list(dict.fromkeys(keys))
        started = time.perf_counter()
        addresses = str(p["link_addresses"]).split(",") if p["link_addresses"] else None
        link = await ctx.link(
            addresses=addresses,
            recv_timeout_s=float(p["recv_timeout_s"]),
            max_chunk_bytes=int(p["link_max_chunk_bytes"]),
        )
        if p["handshake"]:  # PPCA mode: rank 0 decides what both sides use
            others = [s for s in SUITES.values() if s is not suite]
            offer = Offer([suite, *others], len(unique), settings.result_to_rank)
            settings = await negotiate(link, offer, settings)
        if not settings.result_to_rank < link.world_size:
            raise ParameterError("result_to_rank", f"no rank {settings.result_to_rank}")
        protocol = EcdhPsi2 if link.world_size == 2 else EcdhPsiMulti
        with ThreadPoolExecutor(max_workers=settings.workers) as executor:
            matched = await protocol(link, settings, executor).run(unique)
        elapsed = time.perf_counter() - started
        report: dict[str, object] = {
            "rank": ctx.env.rank,
            "original": len(rows),
            "unique_keys": len(unique),
            "psi_s": round(elapsed, 3),
        }
        if matched is not None:
            matched_keys = {unique[i] for i in matched}
            kept = [row for row, key in zip(rows, keys, strict=True) if key in matched_keys]
            report.update(intersection=len(kept), intersection_keys=len(matched_keys))
            _write_rows(ctx, header, kept)
        else:
            report.update(intersection=None)
        if "report" in ctx.env.outputs:
            target = ctx.output("report")
            with ctx.storage.writer(target) as out:
                out.write(json.dumps(report).encode())
            ctx.storage.write_meta(
                target, TableMeta(name=target.name, namespace=target.namespace, file_type="json")
            )
        ctx.report.update(report)
        ctx.log.info("ecdh_psi report %s", json.dumps(report))


def _read_table(
    ctx: RunContext, source: TableRef, fields: list[str]
) -> tuple[list[str], list[list[str]], list[bytes]]:
    with ctx.storage.reader(source) as raw:
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
        header = next(reader, None)
        if header is None:
            raise StorageError(f"input {source.namespace}/{source.name} is empty")
        missing = [f for f in fields if f not in header]
        if missing:
            raise ParameterError("field_names", f"not in the input: {', '.join(missing)}")
        positions = [header.index(f) for f in fields]
        rows: list[list[str]] = []
        keys: list[bytes] = []
        for number, row in enumerate(reader, start=2):
            if len(row) != len(header):
                raise StorageError(f"row {number} has {len(row)} fields, not {len(header)}")
            rows.append(row)
            keys.append(",".join(row[i] for i in positions).encode("utf-8"))
    return header, rows, keys


def _write_rows(ctx: RunContext, header: list[str], rows: list[list[str]]) -> None:
    target = ctx.output("train_data")
    with ctx.storage.writer(target) as out:
        text = io.TextIOWrapper(out, encoding="utf-8", newline="")
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        text.flush()
        text.detach()
    ctx.storage.write_meta(
        target,
        TableMeta(
            name=target.name,
            namespace=target.namespace,
            count=len(rows),
            column_info=[{"name": h, "type": "string"} for h in header],
        ),
    )
