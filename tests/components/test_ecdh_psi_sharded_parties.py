"""``ecdh_psi`` with ``shards`` through the component, each party a process started from
a container environment and no Ray cluster (``system.compute`` unset), so its shards run
as local worker processes: the output rows are exactly the unsharded ones, in input
order; a party asking for another ``shards`` fails with the catalogue's code."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from isthmus.testing import free_port
from tests.components.test_ecdh_psi_sharded_ray import port_block
from tests.support.components import psi_report, start_psi_party

pytestmark = pytest.mark.multinode
COMMON = [f"user{i:05d}" for i in range(150)]
ROLES = ["guest.0", "host.0"]


def start(
    tmp_path: Path, rank: int, addresses: str, shards: int, **params: str
) -> subprocess.Popen[str]:
    storage = tmp_path / f"party{rank}"
    (storage / "in").mkdir(parents=True)
    own = [f"p{rank}-only{i}" for i in range(80)]
    rows = own[:40] + COMMON + own[40:] + COMMON[:5]  # a repeated key keeps both its rows
    (storage / "in" / "data").write_text("id,value\n" + "".join(f"{r},{rank}\n" for r in rows))
    extra = {
        "runtime.component.parameter.link_addresses": addresses,
        "runtime.component.parameter.shards": str(shards),
        "runtime.component.parameter.recv_timeout_s": "60",
        # the code under test where it is not installed (a work tree), and the workers'
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        **{f"runtime.component.parameter.{name}": value for name, value in params.items()},
    }
    nodes = dict(zip(ROLES, ["NODE_A", "NODE_B"], strict=True))
    return start_psi_party(storage, ROLES[rank], nodes, ("session_job-shard", "t"), extra)


def finish(parties: list[subprocess.Popen[str]]) -> list[str]:
    try:
        return [p.communicate(timeout=180)[0] for p in parties]
    finally:
        for p in parties:
            if p.poll() is None:
                p.kill()


@pytest.mark.parametrize(
    "params",
    [{}, {"handshake": "true", "curve_type": "sm2"}],
    ids=["bfia", "ppca-handshake"],
)
def test_two_shards_as_local_processes_give_the_unsharded_rows(
    tmp_path: Path, params: dict[str, str]
) -> None:
    """With the handshake, rank 0 asks for SM2 and rank 1 for Curve25519: rank 0's
    choice holds in every shard (a shard on another suite would match nothing)."""
    addresses = f"127.0.0.1:{port_block(2)},127.0.0.1:{port_block(2)}"
    parties = [
        start(tmp_path, rank, addresses, 2, **(params if rank == 0 else {
            k: v for k, v in params.items() if k != "curve_type"}))
        for rank in (0, 1)
    ]  # fmt: skip
    logs = finish(parties)
    for rank, (party, log) in enumerate(zip(parties, logs, strict=True)):
        assert party.returncode == 0, f"party {rank} failed:\n{log[-3000:]}"
        report = psi_report(log)
        assert report["shards"] == 2 and report["on"] == "local processes"
        assert report["intersection"] == len(COMMON) + 5
        rows = (tmp_path / f"party{rank}" / "out" / "rows" / "data_0").read_text().split()
        assert [r.split(",")[0] for r in rows[1:]] == COMMON + COMMON[:5]  # input order


def test_another_shard_count_fails_both_parties_with_its_code(tmp_path: Path) -> None:
    addresses = f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    parties = [start(tmp_path, rank, addresses, shards) for rank, shards in ((0, 2), (1, 3))]
    logs = finish(parties)
    for party, log in zip(parties, logs, strict=True):
        assert party.returncode != 0
        assert "shards=2" in log and "shards=3" in log and "40301" in log
