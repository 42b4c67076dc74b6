"""Sharded ECDH-PSI (``shards`` = K) against the unsharded run (K = 1), Isthmus ↔ Isthmus,
N x N rows with 50 % overlap, both parties on this machine over the direct gRPC link, in
one run: wall time (both parties started → both exited), each party's CPU seconds, the
peak RSS of each party's component process, and for K > 1 the peak RSS of every shard
worker (each reports its own ``VmHWM``) and of the component process that drives them.

Without ``--ray`` the shards are local worker processes; with ``--ray`` the script
starts a two-CPU Ray head on loopback and both parties run their shards there as Ray
tasks (``system.compute``; each shard asks for ``--shard-cpus``, 0.5 by default so both
parties' shards fit on the two CPUs at once).

    .venv/bin/python benchmarks/psi_sharded.py --size 1000000 --shards 2
    .venv/bin/python benchmarks/psi_sharded.py --size 200000 --shards 2 --ray

Ends with one JSON line holding every figure and the ratios K / 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from psi import write_inputs  # the same inputs as the unsharded benchmark (a sibling script)

from isthmus.testing import free_port


def port_block(size: int) -> int:
    """A port p with p .. p+size free on loopback (the main link and one per shard)."""
    for _ in range(100):
        base = free_port()
        probes = []
        try:
            for port in range(base, base + size + 1):
                probe = socket.socket()
                probes.append(probe)
                probe.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
    raise SystemExit("no block of free ports")


def party_env(
    rank: int, data: Path, work: Path, addresses: str, shards: int, extra: dict[str, str]
) -> dict[str, str]:
    storage = work / f"party{rank}"
    (storage / "in").mkdir(parents=True, exist_ok=True)
    os.link(data, storage / "in" / "data")
    return {
        "PATH": os.environ.get("PATH", "/usr/bin"),
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        "system.storage": f"file://{storage}",
        "config.self_role": ("guest.0", "host.0")[rank],
        "config.task_id": f"bench-{rank}",
        "config.node_id.guest.0": "NODE_A",
        "config.node_id.host.0": "NODE_B",
        "config.session_id": "session_bench",
        "runtime.component.name": "ecdh_psi",
        "runtime.component.parameter.link_addresses": addresses,
        "runtime.component.parameter.recv_timeout_s": "3600",
        "runtime.component.parameter.shards": str(shards),
        "runtime.component.input.train_data": json.dumps({"namespace": "in", "name": "data"}),
        "runtime.component.output.train_data": json.dumps({"namespace": "out", "name": "rows"}),
        **extra,
    }


def run(
    inputs: tuple[Path, Path], work: Path, shards: int, extra: dict[str, str]
) -> dict[str, Any]:
    addresses = f"127.0.0.1:{port_block(shards)},127.0.0.1:{port_block(shards)}"
    started = time.perf_counter()
    processes = []
    for rank, data in enumerate(inputs):
        env = party_env(rank, data, work, addresses, shards, extra)
        log = open(work / f"party{rank}.log", "w")  # noqa: SIM115 - closed below
        command = [sys.executable, "-m", "isthmus.components"]
        processes.append((subprocess.Popen(command, env=env, stdout=log, stderr=log), log))
    peaks = sample_peaks([process.pid for process, _ in processes])
    result: dict[str, Any] = {"shards": shards, "party_peak_rss_mib": [], "cpu_s": []}
    for rank, (process, log) in enumerate(processes):
        _, status, usage = os.wait4(process.pid, 0)
        log.close()
        text = (work / f"party{rank}.log").read_text()
        if os.waitstatus_to_exitcode(status):
            raise SystemExit(f"party {rank} failed:\n{text[-3000:]}")
        report = json.loads(text.split("ecdh_psi report ", 1)[1].splitlines()[0])
        result["party_peak_rss_mib"].append(round(peaks[rank] / 1024, 1))
        # wait4 covers the process and its waited-for children: the shard workers too.
        result["cpu_s"].append(round(usage.ru_utime + usage.ru_stime, 2))
        result.setdefault("intersection", report["intersection"])
        result.setdefault("psi_s", []).append(report["psi_s"])  # link open → rows known
        if shards > 1:
            result.setdefault("shard_psi_s", []).append(report["shard_psi_s"])
            result.setdefault("shard_peak_rss_mib", []).append(report["shard_peak_rss_mib"])
            result.setdefault("driver_peak_rss_mib", []).append(report["driver_peak_rss_mib"])
            result.setdefault("shard_rows", []).append(report["shard_rows"])
            result["on"] = report["on"]
    result["wall_s"] = round(time.perf_counter() - started, 2)
    return result


def sample_peaks(pids: list[int]) -> list[int]:
    """Each process's ``VmHWM`` (KiB), read every 0.1 s until it exits: its own peak
    (``ru_maxrss`` from ``wait4`` would start from this script's size, which a forked
    child inherits)."""
    peaks = [0] * len(pids)
    running = set(range(len(pids)))
    while running:
        for i in list(running):
            try:
                status = Path(f"/proc/{pids[i]}/status").read_text()
            except OSError:
                running.discard(i)
                continue
            if "VmHWM:" not in status:  # a zombie: it has exited
                running.discard(i)
                continue
            peaks[i] = max(peaks[i], int(status.split("VmHWM:")[1].split()[0]))
        time.sleep(0.1)
    return peaks


@contextmanager
def local_ray() -> Iterator[str]:
    ray = Path(sys.executable).parent / "ray"
    port = free_port()
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    subprocess.run(
        [str(ray), "start", "--head", f"--port={port}", "--num-cpus=2",
         "--node-ip-address=127.0.0.1", "--include-dashboard=false",
         "--disable-usage-stats", f"--temp-dir={temp}"],
        check=True, capture_output=True, env=env, timeout=120,
    )  # fmt: skip
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(ray), "stop", "--force"], capture_output=True, env=env, check=False)
        shutil.rmtree(temp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=200_000)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--ray", action="store_true", help="shards as tasks on a local Ray")
    parser.add_argument("--shard-cpus", type=float, default=0.5)
    args = parser.parse_args()
    figures: dict[str, Any] = {"size": args.size, "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="psi-sharded-") as scratch:
        root = Path(scratch)
        inputs = write_inputs(root, args.size)
        runs: dict[str, dict[str, Any]] = {}
        (root / "k1").mkdir()
        runs["k1"] = run(inputs, root / "k1", 1, {})
        print("K=1", json.dumps(runs["k1"]), flush=True)
        extra: dict[str, str] = {}
        with local_ray() if args.ray else _nothing() as address:
            if address:
                extra = {
                    "system.compute": f"ray+gcs://{address}",
                    "runtime.component.parameter.shard_cpus": str(args.shard_cpus),
                }
            key = f"k{args.shards}"
            (root / key).mkdir()
            runs[key] = run(inputs, root / key, args.shards, extra)
            print(f"K={args.shards}", json.dumps(runs[key]), flush=True)
    sharded = runs[f"k{args.shards}"]
    if sharded["intersection"] != runs["k1"]["intersection"]:
        raise SystemExit("the sharded intersection differs from the unsharded one")
    figures.update(runs)
    figures["wall_ratio"] = round(sharded["wall_s"] / runs["k1"]["wall_s"], 3)
    worker_peak = max(max(p) for p in sharded["shard_peak_rss_mib"])
    figures["worker_peak_ratio"] = round(worker_peak / max(runs["k1"]["party_peak_rss_mib"]), 3)
    print(json.dumps(figures))


@contextmanager
def _nothing() -> Iterator[str]:
    yield ""


if __name__ == "__main__":
    main()
