"""Sharded ECDH-PSI with its sub-PSIs as tasks on a local Ray cluster (one per module:
``ray start`` with two CPUs, this process joining it as a driver): for K = 1, 2 and 4
both parties get exactly the rows the unsharded PSI gives them, and every shard reports
its own peak memory. The shard links are direct gRPC links on loopback (a port per
shard); the agreement runs on the in-memory link, as the component runs it on its own.
Then once through two real nodes whose ``ray`` runner points at the cluster: the task
actors tell the component the cluster (``system.compute``), and the shards talk through
the nodes' transports on their own topics."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from isthmus.components.builtin.ecdh_psi import shard_worker
from isthmus.components.builtin.ecdh_psi.component import SPEC as ECDH_PSI
from isthmus.components.builtin.ecdh_psi.protocol import PsiSettings
from isthmus.components.builtin.ecdh_psi.shard_worker import ShardLink
from isthmus.components.builtin.ecdh_psi.sharding import ShardedRun, ShardPlan, run_sharded
from isthmus.components.builtin.ecdh_psi.spool import has_bit
from isthmus.crypto.ecdh import CURVE25519
from isthmus.link import LinkContext, MemoryNetwork
from isthmus.testing import ProcessCluster
from isthmus.testing.jobs import submit, wait_finished
from tests.scheduler.jobs_support import component, offer, output_rows, write_dataset
from tests.support.ray_cluster import local_ray

pytestmark = pytest.mark.multinode
COMMON = [b"user%05d" % i for i in range(0, 400, 2)]
ROWS = {  # rank -> its rows' keys, with duplicates and its own keys between
    0: [b"a-only%03d" % i for i in range(60)] + COMMON + COMMON[:7],
    1: COMMON[::-1] + [b"b-only%03d" % i for i in range(90)],
}


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    with local_ray() as address:  # skips loudly without Ray (fails in CI)
        import ray

        ray.init(address=address, log_to_driver=False, configure_logging=False)
        yield address  # local_ray disconnects this driver before it stops the cluster


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
    ray_address: str, tmp_path: Path, shards: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shard_worker, "CHUNK", 256)  # each bucket goes in several objects
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


def sharded_psi_job(guest: str, host: str) -> dict[str, object]:
    psi = {
        **component("psi_0", "ecdh_psi", [], [("train_data", "dataset")]),
        "provider": "isthmus-on-ray",
    }
    return {
        "flow_id": "flow-shards",
        "dag": {"version": "2.0", "components": [psi]},
        "config": {
            "version": "2.0",
            "initiator": {"role": "guest", "node_id": guest},
            "role": {"guest": [guest], "host": [host]},
            "task_params": {
                "common": {"psi_0": {"field_names": "id", "recv_timeout_s": 60,
                                     "shards": 2, "shard_cpus": 0.25}},
                "guest": {"0": {"psi_0": {"namespace": "demo", "name": "guest.csv"}}},
                "host": {"0": {"psi_0": {"namespace": "demo", "name": "host.csv"}}},
            },
        },
    }  # fmt: skip


def test_a_sharded_psi_job_through_two_nodes_on_their_ray_runner(ray_address: str) -> None:
    with ProcessCluster(env={"ISTHMUS_SCHEDULER__RAY_ADDRESS": ray_address}) as cluster:
        a, b = cluster.start(2)
        cluster.connect_all()
        for node in (a, b):
            description = {**ECDH_PSI.self_description(), "provider": "isthmus-on-ray"}
            node.admin.post("/components", {"component_info": description, "runner": "ray"})
        write_dataset(a, "guest.csv", list(range(0, 300)), "x")
        write_dataset(b, "host.csv", list(range(200, 500)), "y")
        offer(b, a, "host.csv")
        job_id = submit(a, sharded_psi_job(a.node_id, b.node_id))
        assert wait_finished(a, job_id, timeout_s=180)["result"] == "SUCCESS"
        for node, role in ((a, "guest"), (b, "host")):
            (run,) = node.admin.get(f"/jobs/{job_id}/tasks")
            assert run["runner"] == "ray"
            rows = output_rows(node, job_id, role, run["task_id"], "train_data")
            assert sorted(int(r.split(",")[0]) for r in rows[1:]) == list(range(200, 300))
