"""SecretFlow ECDH-PSI through two Isthmus nodes, beside the same PSI over SecretFlow's own link.

In one run, two real SecretFlow parties (SPU 0.9.1b0, interconnection mode, the peer of
``tests/support/secretflow.py``) intersect ``--size`` ids each with 50 % overlap (shared ids
``user%07d`` plus party-only ids, as in ``tests/transport/test_secretflow_blackbox.py``):

* **anchor**: ``--link grpc``, the parties talk directly (plain gRPC on loopback, each
  serving ``ReceiverService/Push`` on its own free port);
* **Isthmus**: ``--link blackbox``, every message travels SecretFlow → node A (south-north
  push) → east-west → node B → SecretFlow (south-north pop), and back; two real node
  processes from ``ProcessCluster`` with an approved contract and an open transport session.

Each case is timed from starting both parties to both exiting (interpreter start and
SecretFlow's connect retries included on both sides alike). Both runs must report
``size // 2`` matches in both ranks and write exactly the shared ids. The nodes' peak RSS
(``VmHWM``) is read just before they stop.

    .venv/bin/python benchmarks/secretflow_psi.py --size 100000

The SecretFlow venv is created on first use by ``../shared/peers/setup-spu-peer.sh``.
Ends with one JSON line holding every figure and ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from isthmus.testing import ProcessCluster, ProcessNode, free_port

REPO = Path(__file__).resolve().parents[1]
SESSION, TOKEN = "session_job-sf-bench", "token-peer"
TIMEOUT_S = 900


@dataclass
class Peer:
    python: Path
    script: Path


@dataclass
class Outcome:
    wall_s: float
    intersection: int
    psi_s: list[float]
    cpu_s: list[float]  # each SecretFlow party's user + system seconds (from ``wait4``)


def _peer() -> tuple[Peer, Callable[[Path, list[str]], None]]:
    """The SecretFlow interpreter and script, and ``write_ids``, from the tests' support
    module (the repo root is not on ``sys.path`` when this file runs as a script)."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import pytest
    from tests.support.secretflow import peer_python, psi_script, write_ids

    try:
        python = peer_python()
    except (pytest.skip.Exception, pytest.fail.Exception) as exc:
        raise SystemExit(f"secretflow_psi: the SecretFlow peer is unavailable: {exc}") from None
    return Peer(python, psi_script()), write_ids


def _run_parties(
    peer: Peer, work: Path, label: str, link_args: list[list[str]], shared: list[str]
) -> Outcome:
    """Start both ranks with their link options, time them until both exit, and check
    their reports and output files against ``shared`` (the sorted shared ids)."""
    parties: list[subprocess.Popen[bytes]] = []
    logs: list[tuple[Path, Path]] = []
    try:
        started = time.perf_counter()
        for rank in (0, 1):
            out_log, err_log = work / f"{label}{rank}.out", work / f"{label}{rank}.err"
            logs.append((out_log, err_log))
            with out_log.open("wb") as out_file, err_log.open("wb") as err_file:
                parties.append(
                    subprocess.Popen(
                        [
                            str(peer.python),
                            str(peer.script),
                            "--rank",
                            str(rank),
                            *link_args[rank],
                            "--token",
                            TOKEN,
                            "--input",
                            str(work / ("a.csv" if rank == 0 else "b.csv")),
                            "--output",
                            str(work / f"{label}-out{rank}.csv"),
                            "--timeout-s",
                            str(TIMEOUT_S),
                        ],
                        stdout=out_file,
                        stderr=err_file,
                        stdin=subprocess.DEVNULL,
                    )
                )
        cpu_s: list[float] = []
        for party in parties:
            cpu_s.append(_wait_cpu_s(party))
        wall_s = time.perf_counter() - started
    finally:
        for party in parties:
            if party.poll() is None:
                party.kill()
                party.wait(timeout=30)
    reports: list[dict[str, Any]] = []
    for rank, (party, (out_log, err_log)) in enumerate(zip(parties, logs, strict=True)):
        out = out_log.read_text(errors="replace")
        if party.returncode != 0:
            err = err_log.read_text(errors="replace")
            raise RuntimeError(
                f"{label}: SecretFlow rank {rank} exited {party.returncode}:\n{err[-3000:]}"
            )
        lines = [line for line in out.splitlines() if line.startswith('{"rank"')]
        if not lines:
            raise RuntimeError(f"{label}: no report from SecretFlow rank {rank}:\n{out[-2000:]}")
        reports.append(json.loads(lines[-1]))
    counts = [int(r["intersection"]) for r in reports]
    if counts != [len(shared), len(shared)]:
        raise RuntimeError(f"{label}: intersections {counts}, expected {len(shared)} in both")
    for rank in (0, 1):
        rows = (work / f"{label}-out{rank}.csv").read_text().split()[1:]
        if sorted(rows) != shared:
            raise RuntimeError(
                f"{label}: rank {rank} wrote {len(rows)} rows, not exactly the "
                f"{len(shared)} shared ids"
            )
    return Outcome(wall_s, counts[0], [float(r["psi_s"]) for r in reports], cpu_s)


def _wait_cpu_s(party: subprocess.Popen[bytes]) -> float:
    """Reap ``party`` (within ``TIMEOUT_S``) and return its CPU seconds, user + system."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        pid, status, usage = os.wait4(party.pid, os.WNOHANG)
        if pid:
            party.returncode = os.waitstatus_to_exitcode(status)
            return round(usage.ru_utime + usage.ru_stime, 2)
        if time.monotonic() > deadline:
            raise TimeoutError(f"SecretFlow party {party.pid} still running after {TIMEOUT_S} s")
        time.sleep(0.02)


def _cpu_s(node: ProcessNode) -> float:
    """The node process's CPU seconds so far, user + system (``/proc/PID/stat``)."""
    assert node.process is not None
    fields = Path(f"/proc/{node.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mib(node: ProcessNode) -> float:
    """``VmHWM`` of the node's process (it must still be running)."""
    assert node.process is not None
    for line in Path(f"/proc/{node.process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmHWM for node process {node.process.pid}")


def _describe(label: str, outcome: Outcome) -> str:
    psi = " / ".join(f"{s:.2f}" for s in outcome.psi_s)
    return (
        f"{label}: {outcome.wall_s:.2f} s wall (psi_s by rank {psi}), "
        f"intersection {outcome.intersection}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="rows per party")
    args = parser.parse_args()
    size: int = args.size
    cores = os.cpu_count() or 1
    peer, write_ids = _peer()
    shared = [f"user{i:07d}" for i in range(size // 2)]
    with tempfile.TemporaryDirectory(prefix="isthmus-sf-psi-") as tmp:
        work = Path(tmp)
        write_ids(work / "a.csv", shared + [f"a-only{i}" for i in range(size - size // 2)])
        write_ids(work / "b.csv", [f"b-only{i}" for i in range(size - size // 2)] + shared)

        addrs = f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
        grpc_args = ["--link", "grpc", "--addrs", addrs]
        direct = _run_parties(peer, work, "direct", [grpc_args, grpc_args], shared)
        print(_describe("direct gRPC", direct), flush=True)

        env = {"ISTHMUS_LOG__LEVEL": "WARNING"}
        with ProcessCluster(base_dir=work / "cluster", env=env) as cluster:
            a, b = cluster.start(2)
            cluster.connect(a, b)
            for node, other in ((a, b), (b, a)):
                node.admin.post(
                    "/transport/sessions",
                    {"session_id": SESSION, "token": TOKEN, "parties": [other.node_id]},
                )
            blackbox_args = [
                [
                    "--link",
                    "blackbox",
                    "--transport",
                    node.config.transport_address,
                    "--node-ids",
                    f"{a.node_id},{b.node_id}",
                    "--session",
                    SESSION,
                ]
                for node in (a, b)
            ]
            before = [_cpu_s(node) for node in (a, b)]
            through = _run_parties(peer, work, "isthmus", blackbox_args, shared)
            nodes_cpu = [
                round(_cpu_s(node) - cpu, 2) for node, cpu in zip((a, b), before, strict=True)
            ]
            rss = [_peak_rss_mib(node) for node in (a, b)]
        print(
            _describe("through Isthmus", through)
            + f", node peak RSS A {rss[0]} MiB, B {rss[1]} MiB",
            flush=True,
        )
    result = {
        "benchmark": "secretflow_psi",
        "rows": size,
        "direct_s": round(direct.wall_s, 3),
        "through_isthmus_s": round(through.wall_s, 3),
        "ratio": round(through.wall_s / direct.wall_s, 3),
        "intersection": through.intersection,
        "node_a_peak_rss_mib": rss[0],
        "node_b_peak_rss_mib": rss[1],
        "direct_psi_s": direct.psi_s,
        "through_isthmus_psi_s": through.psi_s,
        "direct_cpu_s": direct.cpu_s,
        "through_isthmus_secretflow_cpu_s": through.cpu_s,
        "through_isthmus_nodes_cpu_s": nodes_cpu,
        "cores": cores,
        # Every process's CPU spread over the cores: the least wall the work allows.
        "direct_cpu_over_cores_s": round(sum(direct.cpu_s) / cores, 2),
        "through_isthmus_cpu_over_cores_s": round((sum(through.cpu_s) + sum(nodes_cpu)) / cores, 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
