"""Sharded ECDH-PSI with its sub-PSIs as tasks on a local Ray cluster (one per module,
two CPUs, a small object store): for K = 1, 2 and 4 both parties get exactly the rows
the unsharded PSI gives them, and every shard reports its own peak memory. The shard
links are direct gRPC links on loopback (a port per shard); the agreement runs on the
in-memory link, as the component runs it on its own link."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from isthmus.components.builtin.ecdh_psi.protocol import PsiSettings
from isthmus.components.builtin.ecdh_psi.shard_worker import ShardLink
from isthmus.components.builtin.ecdh_psi.sharding import ShardedRun, ShardPlan, run_sharded
from isthmus.components.builtin.ecdh_psi.spool import has_bit
from isthmus.crypto.ecdh import CURVE25519
from isthmus.link import LinkContext, MemoryNetwork

COMMON = [b"user%05d" % i for i in range(0, 400, 2)]
ROWS = {  # rank -> its rows' keys, with duplicates and its own keys between
    0: [b"a-only%03d" % i for i in range(60)] + COMMON + COMMON[:7],
    1: COMMON[::-1] + [b"b-only%03d" % i for i in range(90)],
}


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    try:
        import ray
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("Ray is required in CI (the ray extra)")
        pytest.skip("SKIPPED LOUDLY: Ray is not installed (pip install 'isthmus[ray]')")
    try:
        ray.init(
            num_cpus=2,
            object_store_memory=80 * 2**20,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    except Exception as exc:  # pragma: no cover - depends on the machine
        if os.environ.get("CI"):
            raise
        pytest.skip(f"SKIPPED LOUDLY: a local Ray cluster cannot start: {exc}")
    try:
        yield
    finally:
        ray.shutdown()


def port_block(size: int) -> int:
    """A port p with p+1 .. p+size free on loopback (the shards' ports)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + size >= 65535:
            continue
        sockets = []
        try:
            for port in range(base + 1, base + 1 + size):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no block of free ports")


async def both(shards: int, tmp_path: Path) -> list[ShardedRun]:
    addresses = tuple(f"127.0.0.1:{port_block(shards)}" for _ in range(2))
    settings = PsiSettings(suite=CURVE25519, batch_size=64)
    net = MemoryNetwork()
    links = [LinkContext(r, 2, net.backend(r), recv_timeout_s=60) for r in (0, 1)]
    await asyncio.gather(*(link.start() for link in links))

    async def party(rank: int) -> ShardedRun:
        shard_link = ShardLink(rank, {}, addresses, 60.0, 1 << 20)
        plan = ShardPlan(shards, shard_link, settings, "auto", cpus_per_shard=0.25)
        work = tmp_path / f"party{rank}"
        work.mkdir()
        return await run_sharded(links[rank], plan, iter(ROWS[rank]), work)

    return list(await asyncio.gather(party(0), party(1)))


@pytest.mark.parametrize("shards", [1, 2, 4])
def test_the_sharded_intersection_is_the_unsharded_one(
    ray_cluster: None, tmp_path: Path, shards: int
) -> None:
    results = asyncio.run(both(shards, tmp_path))
    common = set(COMMON)
    for rank, result in enumerate(results):
        rows = ROWS[rank]
        assert result.matched_rows is not None
        got = [i for i in range(len(rows)) if has_bit(result.matched_rows, i)]
        assert got == [i for i, key in enumerate(rows) if key in common]
        report = result.report
        assert report["shards"] == shards and report["on"] == "ray"
        assert report["intersection_keys"] == len(common)
        assert report["unique_keys"] == len(set(rows))
        assert sum(report["shard_rows"]) == len(rows)  # type: ignore[arg-type]
        assert all(mib > 0 for mib in report["shard_peak_rss_mib"])  # type: ignore[attr-defined]
