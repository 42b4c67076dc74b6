"""Benchmark: Isthmus's SGB passive party against SecretFlow's, both facing SecretFlow's
active party on the same data and settings.

Runs SecretFlow(active) <-> SecretFlow(passive), then SecretFlow(active) <-> Isthmus
(passive), over the direct gRPC link on 127.0.0.1, on ``gen_sgb_data.py``'s synthetic
data (``--rows``, ``--features`` split between the two parties). For each run: the
passive process's wall time, CPU time (user + system, its children included) and peak
RSS, and the active party's AUC (equal AUC is the interop check). Ends with one JSON line.

    python benchmarks/sgb_passive.py --rows 3000 --features 20 --rounds 2 --key-bits 2048
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ISTHMUS_SHARED_DIR") or REPO.parent / "shared")
PEER_VENV = Path.home() / ".cache/isthmus-peers/secretflow-lite-1.10.0b1/bin/python"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_pair(active: list[str], passive: list[str], cwd: Path) -> dict[str, object]:
    """Start both; measure the passive process (wall, CPU, peak RSS via wait4)."""
    start = time.perf_counter()
    theirs = subprocess.Popen(active, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    ours = subprocess.Popen(passive, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd)
    _, status, usage = os.wait4(ours.pid, 0)
    wall = time.perf_counter() - start
    ours.returncode = os.waitstatus_to_exitcode(status)
    passive_out = ours.stdout.read().decode() if ours.stdout else ""
    active_out, _ = theirs.communicate(timeout=1800)
    active_report = json.loads([x for x in active_out.splitlines() if x.startswith("{")][-1])
    lines = [x for x in passive_out.splitlines() if x.startswith("{")]
    passive_report = json.loads(lines[-1]) if lines else {}
    return {
        "ok": bool(active_report.get("ok")) and ours.returncode == 0,
        "auc": active_report.get("auc"),
        "passive_wall_s": round(wall, 2),
        "passive_cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "passive_peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "passive_reported_s": passive_report.get("seconds"),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--features", type=int, default=20, help="in all, split in two")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--max-depth", type=int, default=3)
    ap.add_argument("--key-bits", type=int, default=2048)
    ap.add_argument("--peer-python", default=str(PEER_VENV))
    args = ap.parse_args()
    peers = SHARED / "peers"
    folder = Path(tempfile.mkdtemp(prefix="sgb-bench-"))
    subprocess.run(
        [sys.executable, str(peers / "gen_sgb_data.py"), "--out-dir", str(folder / "data"),
         "--source", "synthetic", "--rows", str(args.rows), "--features", str(args.features)],
        check=True, capture_output=True,
    )  # fmt: skip
    training = ["--rounds", str(args.rounds), "--max-depth", str(args.max_depth),
                "--key-bits", str(args.key_bits), "--recv-timeout-s", "1800"]  # fmt: skip
    results: dict[str, object] = {}
    for name in ("secretflow", "isthmus"):
        addrs = f"127.0.0.1:{_port()},127.0.0.1:{_port()}"
        active = [args.peer_python, str(peers / "sf_sgb.py"), "--rank", "0", "--addrs", addrs,
                  "--data", str(folder / "data/party0.csv"), "--after", "predict",
                  "--out-dir", str(folder / f"{name}0"), *training]  # fmt: skip
        if name == "secretflow":
            passive = [args.peer_python, str(peers / "sf_sgb.py"), "--rank", "1", "--addrs",
                       addrs, "--data", str(folder / "data/party1.csv"), "--after", "predict",
                       "--out-dir", str(folder / "sf1"), "--recv-timeout-s", "1800"]  # fmt: skip
        else:
            passive = [sys.executable, "-m", "tests.support.sgb_passive_runner", "--addrs",
                       addrs, "--data", str(folder / "data/party1.csv"), "--model",
                       str(folder / "model.json"), "--after", "predict",
                       "--timeout", "1800"]  # fmt: skip
        results[name] = _run_pair(active, passive, REPO)
    print(json.dumps({"benchmark": "sgb_passive", "rows": args.rows, "features": args.features,
                      "rounds": args.rounds, "max_depth": args.max_depth,
                      "key_bits": args.key_bits, **results}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
