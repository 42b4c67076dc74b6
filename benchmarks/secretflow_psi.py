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
import resource
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
    #: CPU seconds (user + system) of both SecretFlow parties together.
    parties_cpu_s: float = 0.0


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
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
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
        deadline = started + TIMEOUT_S
        for party in parties:
            party.wait(timeout=max(1.0, deadline - time.perf_counter()))
        wall_s = time.perf_counter() - started
    finally:
        for party in parties:
            if party.poll() is None:
                party.kill()
                party.wait(timeout=30)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    parties_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
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
    return Outcome(wall_s, counts[0], [float(r["psi_s"]) for r in reports], parties_cpu)


def _peak_rss_mib(node: ProcessNode) -> float:
    """``VmHWM`` of the node's process (it must still be running)."""
    assert node.process is not None
    for line in Path(f"/proc/{node.process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmHWM for node process {node.process.pid}")


def _cpu_s(node: ProcessNode) -> float:
    """User + system CPU seconds of the node's process so far (``/proc``)."""
    assert node.process is not None
    fields = Path(f"/proc/{node.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _quantiles(values: list[float]) -> dict[str, float]:
    """Count, mean, median, p90 and max of ``values`` (milliseconds), rounded."""
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)

    mean = round(sum(ordered) / len(ordered) * 1000, 3)
    return {"n": len(ordered), "mean_ms": mean, "p50_ms": at(0.5), "p90_ms": at(0.9)} | {
        "max_ms": round(ordered[-1] * 1000, 3)
    }


def summarise_trace(prefix: Path) -> dict[str, Any]:
    """Sum up the nodes' ``transport.trace`` files (``<prefix>.<pid>``), per node."""
    summary: dict[str, Any] = {}
    paths = [p for p in sorted(prefix.parent.glob(prefix.name + ".*")) if p.stat().st_size]
    rounds_of: dict[str, list[dict[str, Any]]] = {}
    for path in paths:
        events = [json.loads(line) for line in path.read_text().splitlines() if line]
        rounds_of[path.suffix[1:]] = events
    for path in paths:
        events = rounds_of[path.suffix[1:]]
        by: dict[str, list[dict[str, Any]]] = {}
        for event in events:
            by.setdefault(event["e"], []).append(event)
        pushes = by.get("push", [])
        pops = [e for e in by.get("pop", []) if e["code"] == "E0000000000"]
        empty = [e for e in by.get("pop", []) if e["code"] != "E0000000000"]
        rounds = by.get("forward", [])
        received = by.get("receive", [])
        sizes = sorted({e["size"] for e in pushes})
        summary[path.suffix[1:]] = {
            "push": _quantiles([e["dt"] for e in pushes]),
            "push_bytes": sum(e["size"] for e in pushes),
            "push_sizes_max": sizes[-1] if sizes else 0,
            "push_topics": sorted({e["topic"] for e in pushes})[:8],
            "pop_with_message": _quantiles([e["dt"] for e in pops]),
            "pop_empty": _quantiles([e["dt"] for e in empty]),
            "inbox_wait": _quantiles([e["inbox_wait"] for e in pops if e["inbox_wait"]]),
            "forward_rtt": _quantiles([e["rtt"] for e in rounds]),
            "forward_msgs_per_round": round(sum(e["n"] for e in rounds) / max(1, len(rounds)), 2),
            "outbox_wait_max": _quantiles([e["outbox_wait_max"] for e in rounds]),
            "outbox_wait_per_msg_ms": round(
                sum(e["outbox_wait_sum"] for e in rounds)
                * 1000
                / max(1, sum(e["n"] for e in rounds)),
                3,
            ),
            "receive": _quantiles([e["dt"] for e in received]),
        }
    if len(paths) == 2:  # B stores rounds in the order A sent them: the k-th is the k-th
        for sender, receiver in (paths, paths[::-1]):
            sent = sorted(
                (e for e in rounds_of[sender.suffix[1:]] if e["e"] == "forward"),
                key=lambda e: e["start"],
            )
            got = [e for e in rounds_of[receiver.suffix[1:]] if e["e"] == "receive"]
            if len(sent) != len(got):
                continue
            pairs = list(zip(sent, got, strict=True))
            summary[sender.suffix[1:]]["forward_split"] = {
                "to_handler": _quantiles([g["start"] - s["start"] for s, g in pairs]),
                "after_handler": _quantiles(
                    [s["start"] + s["rtt"] - g["start"] - g["dt"] for s, g in pairs]
                ),
            }
    return summary


def _describe(label: str, outcome: Outcome) -> str:
    psi = " / ".join(f"{s:.2f}" for s in outcome.psi_s)
    return (
        f"{label}: {outcome.wall_s:.2f} s wall (psi_s by rank {psi}), "
        f"intersection {outcome.intersection}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="rows per party")
    parser.add_argument(
        "--trace",
        action="store_true",
        help="record the nodes' transport timings (transport.trace) and print their summary",
    )
    parser.add_argument(
        "--no-direct", action="store_true", help="skip the direct run (tracing, by hand)"
    )
    args = parser.parse_args()
    size: int = args.size
    peer, write_ids = _peer()
    shared = [f"user{i:07d}" for i in range(size // 2)]
    with tempfile.TemporaryDirectory(prefix="isthmus-sf-psi-") as tmp:
        work = Path(tmp)
        write_ids(work / "a.csv", shared + [f"a-only{i}" for i in range(size - size // 2)])
        write_ids(work / "b.csv", [f"b-only{i}" for i in range(size - size // 2)] + shared)

        addrs = f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
        grpc_args = ["--link", "grpc", "--addrs", addrs]
        direct = Outcome(0.0, 0, [])
        if not args.no_direct:
            direct = _run_parties(peer, work, "direct", [grpc_args, grpc_args], shared)
            print(_describe("direct gRPC", direct), flush=True)

        env = {"ISTHMUS_LOG__LEVEL": "WARNING"}
        trace_prefix = work / "trace"
        if args.trace:
            env["ISTHMUS_TRANSPORT_TRACE"] = str(trace_prefix)
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
            cpu_before = [_cpu_s(node) for node in (a, b)]
            through = _run_parties(peer, work, "isthmus", blackbox_args, shared)
            nodes_cpu = [round(_cpu_s(n) - c, 2) for n, c in zip((a, b), cpu_before, strict=True)]
            rss = [_peak_rss_mib(node) for node in (a, b)]
        print(
            _describe("through Isthmus", through)
            + f", node peak RSS A {rss[0]} MiB, B {rss[1]} MiB, node CPU {nodes_cpu} s, "
            f"parties CPU {through.parties_cpu_s:.2f} s (direct {direct.parties_cpu_s:.2f} s)",
            flush=True,
        )
        traced = summarise_trace(trace_prefix) if args.trace else None
    result = {
        "benchmark": "secretflow_psi",
        "rows": size,
        "direct_s": round(direct.wall_s, 3),
        "through_isthmus_s": round(through.wall_s, 3),
        "ratio": round(through.wall_s / direct.wall_s, 3) if direct.wall_s else None,
        "intersection": through.intersection,
        "node_a_peak_rss_mib": rss[0],
        "node_b_peak_rss_mib": rss[1],
        "direct_psi_s": direct.psi_s,
        "through_isthmus_psi_s": through.psi_s,
        "node_cpu_s": nodes_cpu,
        "parties_cpu_s": {
            "direct": round(direct.parties_cpu_s, 2),
            "through_isthmus": round(through.parties_cpu_s, 2),
        },
    }
    if traced is not None:
        result["trace"] = traced
    print(json.dumps(result))


if __name__ == "__main__":
    main()
