"""SecureBoost: SecretFlow↔SecretFlow, Isthmus↔SecretFlow and Isthmus↔Isthmus in one run.

The same vertically split data (``../shared/peers/gen_sgb_data.py --source synthetic``:
``--rows`` rows, ``--features`` features per party, seed 42; rank 0 holds the label) is
trained by three pairs over the direct gRPC link on loopback, with the same settings
(``--rounds`` trees of ``--max-depth``, ``--key-bits`` Paillier, sampling 1.0,
``bucket_eps`` 0.1, ``--after predict``: a joint prediction on the training rows, whose
AUC the active party reports):

* **secretflow**: two SecretFlow parties (``sf_sgb.py``, secretflow-lite 1.10.0b1 with
  HEU) — the anchor;
* **isthmus_active**: Isthmus's ``sgb`` component as the active party (a plain process
  started from a BFIA container environment) with a SecretFlow passive party;
* **isthmus**: Isthmus on both sides.

Each pair is timed from starting both processes to both exiting (interpreter start-up
included on both sides alike); the peak RSS of each process is its ``ru_maxrss`` from
``wait4``. The run also measures Paillier encryptions per second on one core for Isthmus
and HEU (``benchmarks/phe.py``). Goals (issue 15): Isthmus↔Isthmus ≤ 0.7 times SecretFlow's
time at equal AUC (± 0.005); Paillier encryption ≥ HEU's.

    .venv/bin/python benchmarks/sgb.py --rows 3000

``--phe ec_elgamal`` times SGB over exponential EC-ElGamal instead, Isthmus↔Isthmus only
(SecretFlow offers only Paillier): cases ``isthmus`` (Paillier, ``--key-bits``, for
comparison), ``isthmus_ec_sm2`` and ``isthmus_ec_ed25519`` (both curves ~128-bit, the
security of 3072-bit Paillier; 2048-bit Paillier is ~112-bit), no Paillier rates.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from isthmus.testing import free_port

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 3600


@dataclass
class Party:
    """One started process: what to wait for, and where its answer lands."""

    name: str
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path


@dataclass
class Outcome:
    wall_s: float
    auc: float
    peak_rss_mb: dict[str, float]


def _peer_python() -> Path:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import pytest
    from tests.support.secretflow_sgb import peer_python

    try:
        return peer_python()
    except (pytest.skip.Exception, pytest.fail.Exception) as exc:
        raise SystemExit(f"sgb: the SecretFlow peer is unavailable: {exc}") from None


def _shared() -> Path:
    from tests.support.shared import shared_root

    return shared_root()


def _start(name: str, command: list[str], work: Path, env: dict[str, str] | None) -> Party:
    stdout, stderr = work / f"{name}.out", work / f"{name}.err"
    process = subprocess.Popen(
        command, env=env, stdout=stdout.open("wb"), stderr=stderr.open("wb"), cwd=work
    )
    return Party(name, process, stdout, stderr)


def _wait(parties: list[Party], started: float) -> tuple[float, dict[str, float]]:
    """Reap every party with ``wait4`` (its own peak RSS); fail loudly on a non-zero exit."""
    peaks: dict[str, float] = {}
    deadline = started + TIMEOUT_S
    for party in parties:
        while True:
            pid, status, usage = os.wait4(party.process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                for other in parties:
                    other.process.kill()
                raise SystemExit(f"sgb: {party.name} did not finish within {TIMEOUT_S} s")
            time.sleep(0.05)
        party.process.returncode = os.waitstatus_to_exitcode(status)
        peaks[party.name] = round(usage.ru_maxrss / 1024, 1)
        if party.process.returncode != 0:
            for other in parties:
                if other.process.poll() is None:
                    other.process.kill()
            tail = party.stderr.read_text(errors="replace")[-3000:]
            tail += party.stdout.read_text(errors="replace")[-3000:]
            raise SystemExit(f"sgb: {party.name} failed ({party.process.returncode}):\n{tail}")
    return time.perf_counter() - started, peaks


def _secretflow(
    python: Path, rank: int, data: Path, addresses: str, args: argparse.Namespace
) -> list[str]:
    return [
        str(python), str(_shared() / "peers" / "sf_sgb.py"), "--rank", str(rank),
        "--addrs", addresses, "--data", str(data), "--rounds", str(args.rounds),
        "--max-depth", str(args.max_depth), "--key-bits", str(args.key_bits),
        "--bucket-eps", str(args.bucket_eps), "--after", "predict", "--out-dir",
        str(data.parent / f"sf-out-{rank}"), "--recv-timeout-s", "1800",
    ]  # fmt: skip


def _isthmus_env(
    work: Path, role: str, data: Path, addresses: str, args: argparse.Namespace
) -> dict[str, str]:
    """A BFIA container environment for one ``sgb`` party (what a node's runner sets)."""
    storage = work / f"storage-{role}"
    (storage / "in").mkdir(parents=True, exist_ok=True)
    (storage / "in" / "data").write_bytes(data.read_bytes())
    params = {
        "link_addresses": addresses,
        "num_round": str(args.rounds),
        "max_depth": str(args.max_depth),
        "key_bits": str(args.key_bits),
        "bucket_eps": str(args.bucket_eps),
        "after": "predict",
        "recv_timeout_s": "1800",
    }
    if getattr(args, "ec_curve", None):
        params.update(phe_algo="ec_elgamal", ec_curve=args.ec_curve)
    if args.key_bits < 2048:  # a quick look only: the node refuses such keys otherwise
        params["allow_insecure_key_size"] = "true"
    return {
        "PATH": os.environ.get("PATH", "/usr/bin"),
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
        "system.storage": f"file://{storage}",
        "config.self_role": role,
        "config.task_id": f"sgb-bench-{role}",
        "config.session_id": "session_job-sgb-bench",
        "config.token": "token-sgb-bench",
        "config.node_id.guest.0": "NODE_A",
        "config.node_id.host.0": "NODE_B",
        "runtime.component.name": "sgb",
        "runtime.component.input.train_data": json.dumps({"namespace": "in", "name": "data"}),
        "runtime.component.output.model": json.dumps({"namespace": "out", "name": "model"}),
        "runtime.component.output.report": json.dumps({"namespace": "out", "name": "report"}),
        **{f"runtime.component.parameter.{k}": v for k, v in params.items()},
    }


def _isthmus(
    name: str, work: Path, role: str, data: Path, addresses: str, args: argparse.Namespace
) -> Party:
    command = [sys.executable, "-m", "isthmus.components"]
    return _start(name, command, work, _isthmus_env(work, role, data, addresses, args))


def _sf_auc(party: Party) -> float:
    lines = [x for x in party.stdout.read_text().splitlines() if x.startswith("{")]
    return float(json.loads(lines[-1])["auc"])


def _isthmus_auc(work: Path) -> float:
    report = json.loads((work / "storage-guest.0" / "out" / "report" / "data_0").read_text())
    return float(report["auc"])


def run_case(case: str, python: Path, data: Path, args: argparse.Namespace) -> Outcome:
    work = data.parent / case
    work.mkdir()
    addresses = f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    party0, party1 = data / "party0.csv", data / "party1.csv"
    started = time.perf_counter()
    if case == "secretflow":
        passive = _start("sf-passive", _secretflow(python, 1, party1, addresses, args), work, None)
        active = _start("sf-active", _secretflow(python, 0, party0, addresses, args), work, None)
        wall, peaks = _wait([active, passive], started)
        return Outcome(wall, _sf_auc(active), peaks)
    if case == "isthmus_active":
        passive = _start("sf-passive", _secretflow(python, 1, party1, addresses, args), work, None)
        active = _isthmus("isthmus-active", work, "guest.0", party0, addresses, args)
        wall, peaks = _wait([active, passive], started)
        return Outcome(wall, _isthmus_auc(work), peaks)
    curve = case.removeprefix("isthmus_ec_") if case.startswith("isthmus_ec_") else None
    args = argparse.Namespace(**{**vars(args), "ec_curve": curve})
    passive = _isthmus("isthmus-passive", work, "host.0", party1, addresses, args)
    active = _isthmus("isthmus-active", work, "guest.0", party0, addresses, args)
    wall, peaks = _wait([active, passive], started)
    return Outcome(wall, _isthmus_auc(work), peaks)


def paillier_rates(size: int) -> dict[str, Any]:
    """Encryptions per second on one core, Isthmus and HEU, from ``benchmarks/phe.py``."""
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "phe.py"), "--size", str(size),
         "--key-bits", "2048", "--workers", "1", "--ec-curves", ""],
        capture_output=True, text=True, check=True, timeout=1800,
    )  # fmt: skip
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--features", type=int, default=10, help="features per party")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-depth", type=int, default=3)
    parser.add_argument("--key-bits", type=int, default=2048, choices=(1024, 2048, 3072))
    parser.add_argument("--bucket-eps", type=float, default=0.1)
    parser.add_argument("--phe-size", type=int, default=400, help="encryptions to time")
    parser.add_argument("--phe", default="paillier", choices=("paillier", "ec_elgamal"))
    parser.add_argument("--cases", default=None, help="which pairs to run")
    args = parser.parse_args()
    ec = args.phe == "ec_elgamal"
    if args.cases is None:
        args.cases = (
            "isthmus,isthmus_ec_sm2,isthmus_ec_ed25519"
            if ec
            else "secretflow,isthmus_active,isthmus"
        )
    known = {"secretflow", "isthmus_active", "isthmus", "isthmus_ec_sm2", "isthmus_ec_ed25519"}
    cases = args.cases.split(",")
    if not set(cases) <= known:
        parser.error(f"--cases: unknown case in {cases}; known: {sorted(known)}")
    if ec and set(cases) & {"secretflow", "isthmus_active"}:
        parser.error("--phe ec_elgamal is Isthmus↔Isthmus only: SecretFlow offers only Paillier")
    python = _peer_python()
    figures: dict[str, Any] = {
        "rows": args.rows,
        "features_per_party": args.features,
        "rounds": args.rounds,
        "max_depth": args.max_depth,
        "key_bits": args.key_bits,
    }
    with tempfile.TemporaryDirectory(prefix="isthmus-sgb-bench-") as scratch:
        data = Path(scratch) / "data"
        subprocess.run(
            [str(python), str(_shared() / "peers" / "gen_sgb_data.py"), "--out-dir", str(data),
             "--source", "synthetic", "--rows", str(args.rows),
             "--features", str(2 * args.features)],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        for case in cases:
            outcome = run_case(case, python, data, args)
            figures[f"{case}_s"] = round(outcome.wall_s, 2)
            figures[f"{case}_auc"] = round(outcome.auc, 6)
            figures[f"{case}_peak_rss_mb"] = outcome.peak_rss_mb
            print(f"{case}: {outcome.wall_s:.1f} s, AUC {outcome.auc:.6f}", file=sys.stderr)
    if "secretflow_s" in figures:
        for case in ("isthmus_active", "isthmus"):
            if f"{case}_s" in figures:
                figures[f"{case}_time_ratio"] = round(
                    figures[f"{case}_s"] / figures["secretflow_s"], 3
                )
                figures[f"{case}_auc_delta"] = round(
                    figures[f"{case}_auc"] - figures["secretflow_auc"], 6
                )
    if not ec:
        figures["paillier"] = paillier_rates(args.phe_size)
    else:
        for curve in ("sm2", "ed25519"):
            if f"isthmus_ec_{curve}_s" in figures and "isthmus_s" in figures:
                figures[f"isthmus_ec_{curve}_vs_paillier"] = round(
                    figures[f"isthmus_ec_{curve}_s"] / figures["isthmus_s"], 3
                )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
