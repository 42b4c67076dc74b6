"""ECDH-PSI, N x N rows with 50 % overlap, both parties on this machine, in one run:

* SecretFlow ↔ SecretFlow (spu 0.9.1b0 interconnection mode, direct gRPC link): the anchor;
* Isthmus ↔ SecretFlow (Isthmus rank 0, direct gRPC link);
* Isthmus ↔ Isthmus (direct gRPC link);

each with wall time (both parties started → both exited), every party's peak memory
(``ru_maxrss`` from ``wait4``) and CPU (user + system, from ``wait4``), and for every
Isthmus party the phase breakdown it writes with ``ISTHMUS_PSI_PROFILE`` (wall and thread
CPU seconds per phase: ``ecdh_psi/profile.py``), beside the arithmetic floor: 4N X25519
multiplications (each party masks its own N items and the peer's N) at the fastest
multiplication speed measured in the same run (libsodium one at a time, or Intel's
multi-buffer X25519 eight at a time where this machine has it: this thread's CPU time,
best of three, so other load does not inflate it), spread over the machine's cores.
``cpu_vs_floor`` and ``cpu_vs_secretflow`` compare CPU seconds, which other processes on
a shared machine barely move; the wall ratios need a quiet machine.

``--curve sm2`` runs the same three pairings on SM2 (SecretFlow's ``CURVE_SM2``: SHA-256
try-and-rehash, 33-byte compressed points; Isthmus ``curve_type=sm2``) beside the SM2
floor: 4N multiplications at OpenSSL's SM2 speed measured in the same run (the
``EC_POINT_mul`` call alone, and with decoding and encoding the compressed points, which
the wire needs), spread over the cores.

    .venv/bin/python benchmarks/psi.py --size 1000000
    .venv/bin/python benchmarks/psi.py --size 100000 --curve sm2

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
from pathlib import Path
from typing import Any

from nacl import bindings

from isthmus.crypto import ecdh, openssl_ec, x25519_mb
from isthmus.testing import free_port

REPO = Path(__file__).resolve().parents[1]


def _peer() -> tuple[Path, Path]:
    sys.path.insert(0, str(REPO))
    from tests.support.secretflow import _setup, psi_script

    python, reason = _setup()
    if python is None:
        raise SystemExit(f"the SecretFlow peer is unavailable: {reason}")
    return python, psi_script()


def write_inputs(directory: Path, size: int) -> tuple[Path, Path]:
    half = size // 2
    a, b = directory / "a.csv", directory / "b.csv"
    with open(a, "w") as f:
        f.write("id\n")
        f.writelines(f"user{i:09d}\n" for i in range(half))
        f.writelines(f"a-only{i:09d}\n" for i in range(size - half))
    with open(b, "w") as f:
        f.write("id\n")
        f.writelines(f"b-only{i:09d}\n" for i in range(size - half))
        f.writelines(f"user{i:09d}\n" for i in range(half))
    return a, b


#: The curve option as each implementation spells it.
SECRETFLOW_CURVES = {"curve25519": "CURVE_25519", "sm2": "CURVE_SM2"}


def secretflow(
    peer: tuple[Path, Path], rank: int, data: Path, out: Path, addresses: str, curve: str
) -> list[str]:
    python, script = peer
    return [
        *(str(python), str(script), "--rank", str(rank), "--link", "grpc", "--addrs", addresses),
        *("--input", str(data), "--output", str(out), "--timeout-s", "3600"),
        *("--curve", SECRETFLOW_CURVES[curve]),
    ]


def isthmus(
    rank: int, data: Path, work: Path, addresses: str, curve: str
) -> tuple[list[str], dict[str, str]]:
    storage = work / f"isthmus{rank}"
    (storage / "in").mkdir(parents=True, exist_ok=True)
    target = storage / "in" / "data"
    if not target.exists():
        os.link(data, target)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin"),
        "PYTHONPATH": str(REPO / "src"),  # this checkout's code, not the venv's install
        "ISTHMUS_PSI_PROFILE": str(storage / "profile.json"),  # the phase breakdown
        "system.storage": f"file://{storage}",
        "config.self_role": ("guest.0", "host.0")[rank],
        "config.task_id": f"bench-{rank}",
        "config.node_id.guest.0": "NODE_A",
        "config.node_id.host.0": "NODE_B",
        "config.session_id": "session_bench",
        "runtime.component.name": "ecdh_psi",
        "runtime.component.parameter.link_addresses": addresses,
        "runtime.component.parameter.recv_timeout_s": "3600",
        "runtime.component.parameter.curve_type": curve,
        "runtime.component.input.train_data": json.dumps({"namespace": "in", "name": "data"}),
        "runtime.component.output.train_data": json.dumps({"namespace": "out", "name": "rows"}),
    }
    return [sys.executable, "-m", "isthmus.components"], env


def run_pair(
    commands: list[tuple[list[str], dict[str, str] | None]], log_dir: Path
) -> dict[str, Any]:
    """Start both parties, wait for both; wall seconds, each party's peak RSS (MiB) and
    CPU seconds (user + system: against the wall, it tells waiting from working)."""
    started = time.perf_counter()
    processes = []
    for rank, (command, env) in enumerate(commands):
        log = open(log_dir / f"party{rank}.log", "w")  # noqa: SIM115 - closed below
        processes.append(
            (subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT), log)
        )
    peaks: list[float] = [0.0, 0.0]
    cpu: list[float] = [0.0, 0.0]
    codes: list[int] = [0, 0]
    for rank, (process, log) in enumerate(processes):
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        codes[rank] = process.returncode
        peaks[rank] = round(usage.ru_maxrss / 1024, 1)  # KiB on Linux
        cpu[rank] = round(usage.ru_utime + usage.ru_stime, 2)
        log.close()
    wall = time.perf_counter() - started
    if any(codes):
        tails = [(log_dir / f"party{r}.log").read_text()[-2000:] for r in (0, 1)]
        raise SystemExit(f"a party failed ({codes}):\n" + "\n---\n".join(tails))
    return {"wall_s": round(wall, 2), "peak_rss_mib": peaks, "cpu_s": cpu}


def intersection_of(log: Path) -> int:
    text = log.read_text()
    if "ecdh_psi report " in text:
        return int(json.loads(text.split("ecdh_psi report ", 1)[1].splitlines()[0])["intersection"])
    line = [x for x in text.splitlines() if x.startswith('{"rank"')][-1]
    return int(json.loads(line)["intersection"])


def single_multiplication_us(samples: int = 20_000) -> float:
    """libsodium, one point at a time."""
    secret, point = os.urandom(32), os.urandom(32)
    started = time.perf_counter()
    for _ in range(samples):
        point = bindings.crypto_scalarmult(secret, point)
    return (time.perf_counter() - started) / samples * 1e6


def multi_buffer_us(samples: int = 40_000) -> float | None:
    """Intel's multi-buffer X25519 (what SecretFlow uses), per multiplication: this
    thread's CPU time over packed points (one ctypes call per eight), best of three, so
    other processes on the cores do not inflate it."""
    engine = x25519_mb.load()
    if engine is None:
        return None
    secret = os.urandom(32)
    points = os.urandom(32 * samples)
    best = float("inf")
    for _ in range(3):
        started = time.thread_time()
        engine.scalarmult_packed(secret, points)
        best = min(best, time.thread_time() - started)
    return best / samples * 1e6


def sm2_multiplication_us(samples: int = 1_000) -> tuple[float, float]:
    """OpenSSL's SM2, one thread: (``EC_POINT_mul`` alone, decode + multiply + encode)."""
    suite = ecdh.SM2_SHA256_REHASH
    secret = suite.new_secret()
    points = [suite.hash_to_point(b"%d" % i) for i in range(samples)]
    curve = openssl_ec.sm2()
    bare, coded = float("inf"), float("inf")
    for _ in range(3):  # the best of three: other work on the machine only slows a pass
        bare = min(bare, curve.seconds_per_multiplication(secret, points[0], samples))
        started = time.thread_time()  # CPU time: other processes do not inflate it
        suite.mask_many(secret, points)
        coded = min(coded, (time.thread_time() - started) / samples)
    return bare * 1e6, coded * 1e6


def floors(result: dict[str, Any], curve: str, size: int, cores: int) -> float:
    """Record the multiplication speeds and return the floor in seconds."""
    if curve == "sm2":
        bare_us, coded_us = sm2_multiplication_us()
        result["sm2_us_openssl_mul"] = round(bare_us, 2)
        result["sm2_us_openssl_decode_mul_encode"] = round(coded_us, 2)
        result["floor_with_codec_s"] = round(4 * size * coded_us / 1e6 / cores, 2)
        return 4 * size * bare_us / 1e6 / cores
    sodium_us = single_multiplication_us()
    mb_us = multi_buffer_us()
    mult_us = min(sodium_us, mb_us) if mb_us is not None else sodium_us
    result["x25519_us_libsodium"] = round(sodium_us, 2)
    result["x25519_us_multi_buffer"] = None if mb_us is None else round(mb_us, 2)
    return 4 * size * mult_us / 1e6 / cores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="rows per party")
    parser.add_argument(
        "--cases",
        default="secretflow-secretflow,isthmus-secretflow,isthmus-isthmus",
        help="comma-separated pairings to run (e.g. isthmus-isthmus for a 10M run)",
    )
    parser.add_argument("--curve", choices=sorted(SECRETFLOW_CURVES), default="curve25519")
    args = parser.parse_args()
    peer = _peer()
    cores = os.cpu_count() or 1
    curve = args.curve
    result: dict[str, Any] = {
        "benchmark": "psi",
        "curve": curve,
        "size": args.size,
        "cores": cores,
        "cases": {},
    }
    with tempfile.TemporaryDirectory(prefix="isthmus-psi-") as tmp:
        work = Path(tmp)
        a, b = write_inputs(work, args.size)
        pairings = {
            "secretflow-secretflow": lambda addr: [
                (secretflow(peer, 0, a, work / "sf0.csv", addr, curve), None),
                (secretflow(peer, 1, b, work / "sf1.csv", addr, curve), None),
            ],
            "isthmus-secretflow": lambda addr: [
                isthmus(0, a, work, addr, curve),
                (secretflow(peer, 1, b, work / "sf1.csv", addr, curve), None),
            ],
            "isthmus-isthmus": lambda addr: [
                isthmus(0, a, work, addr, curve),
                isthmus(1, b, work, addr, curve),
            ],
        }
        wanted = args.cases.split(",")
        pairings = {label: build for label, build in pairings.items() if label in wanted}
        for label, build in pairings.items():
            logs = work / label
            logs.mkdir()
            addresses = f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
            case = run_pair(build(addresses), logs)
            case["intersection"] = [intersection_of(logs / f"party{r}.log") for r in (0, 1)]
            profiles = [work / f"isthmus{r}" / "profile.json" for r in (0, 1)]
            if label.startswith("isthmus"):  # rank 0 is Isthmus; rank 1 too in ours
                case["profile"] = [
                    json.loads(p.read_text()) if p.exists() else None for p in profiles
                ]
                for p in profiles:
                    p.unlink(missing_ok=True)
            if case["intersection"] != [args.size // 2] * 2:
                raise SystemExit(f"{label}: wrong intersection {case['intersection']}")
            result["cases"][label] = case
            print(f"{label}: {json.dumps(case)}", flush=True)
    floor = floors(result, curve, args.size, cores)
    result["floor_s"] = round(floor, 2)
    for case in result["cases"].values():  # CPU over the floor's CPU: blind to other load
        case["cpu_vs_floor"] = round(sum(case["cpu_s"]) / (floor * cores), 2)
    ours = result["cases"].get("isthmus-isthmus", {})
    if ours:
        ours["vs_floor"] = round(ours["wall_s"] / floor, 2)
    anchor = result["cases"].get("secretflow-secretflow")
    mixed = result["cases"].get("isthmus-secretflow")
    if anchor and mixed:
        mixed["vs_secretflow"] = round(mixed["wall_s"] / anchor["wall_s"], 3)
        # The Isthmus party's CPU against a SecretFlow party's: blind to other load.
        mixed["cpu_vs_secretflow"] = round(mixed["cpu_s"][0] / max(anchor["cpu_s"]), 3)
    if anchor and ours:
        ours["vs_secretflow"] = round(ours["wall_s"] / anchor["wall_s"], 3)
        ours["cpu_vs_secretflow"] = round(max(ours["cpu_s"]) / max(anchor["cpu_s"]), 3)
        ours["peak_rss_vs_secretflow"] = round(
            max(ours["peak_rss_mib"]) / max(anchor["peak_rss_mib"]), 2
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
