"""SPU 0.9.1b0 training SS-LR, driven from Isthmus's venv: the oracle of issue 16.

Isthmus's venv has no spu, so :func:`run_spu_ss_lr` writes the two parties' tables as CSV
files and runs ``spu_lr_oracle.py`` (beside this file) with the SPU peer's interpreter —
the venv ``../shared/peers/setup-spu-peer.sh`` creates, found and installed as the
ECDH-PSI tests find it (:func:`tests.support.secretflow.peer_python`, a loud skip when it
cannot be had, a failure in CI). ``mode="sim"`` is SPU's simulator in one process;
``mode="party"`` is two SPU processes over SPU's brpc link on loopback. Neither needs the
network beyond loopback: jax runs on the CPU and SPU compiles locally.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from isthmus.testing.cluster import free_port
from tests.support.secretflow import peer_python
from tests.support.ss_lr_reference import Schedule

ORACLE = Path(__file__).with_name("spu_lr_oracle.py")
Mode = Literal["sim", "party"]


@dataclass(frozen=True)
class SpuRun:
    """What SPU reported: the revealed w (rank 0's features, rank 1's, bias) and times."""

    weights: NDArray[np.float64]
    train_seconds: float
    seconds: float
    process_seconds: float
    compile_seconds: float
    mode: Mode


def write_parties(
    folder: Path, x0: NDArray[np.float64], x1: NDArray[np.float64], y: NDArray[np.float64]
) -> tuple[Path, Path]:
    """Rank 0's file ``id,y,f0..`` (the label holder) and rank 1's ``id,f..``."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = np.arange(x0.shape[0], dtype=np.float64)[:, None]
    paths = (folder / "party0.csv", folder / "party1.csv")
    head0 = ",".join(["id", "y"] + [f"a{i}" for i in range(x0.shape[1])])
    head1 = ",".join(["id"] + [f"b{i}" for i in range(x1.shape[1])])
    table0 = np.hstack([ids, y[:, None], x0])
    np.savetxt(paths[0], table0, delimiter=",", header=head0, comments="", fmt="%.17g")
    np.savetxt(
        paths[1], np.hstack([ids, x1]), delimiter=",", header=head1, comments="", fmt="%.17g"
    )
    return paths


def oracle_args(schedule: Schedule, field: int, fxp_bits: int) -> list[str]:
    return [
        "--field", str(field), "--fxp-bits", str(fxp_bits), "--epochs", str(schedule.epochs),
        "--batch", str(schedule.batch), "--lr", repr(schedule.lr), "--l2", repr(schedule.l2),
    ]  # fmt: skip


def run_spu_ss_lr(
    folder: Path,
    paths: tuple[Path, Path],
    schedule: Schedule,
    *,
    field: int = 64,
    fxp_bits: int = 18,
    mode: Mode = "sim",
    python: Path | None = None,
    timeout: float = 1800,
) -> SpuRun:
    """Train with SPU on the two CSV files; ``python`` defaults to the installed peer."""
    py = str(python or peer_python())
    common = oracle_args(schedule, field, fxp_bits)
    if mode == "sim":
        cmd = [py, str(ORACLE), "--mode", "sim", "--data", str(paths[0]), "--data", str(paths[1])]
        done = subprocess.run(
            cmd + common, capture_output=True, text=True, timeout=timeout, check=False
        )
        return _parse(done.returncode, done.stdout, done.stderr, mode)
    addrs = f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    procs = []
    for rank in (0, 1):
        cmd = [py, str(ORACLE), "--mode", "party", "--rank", str(rank), "--addrs", addrs,
               "--data", str(paths[rank])]  # fmt: skip
        err = (folder / f"spu_rank{rank}.log").open("w")
        procs.append(subprocess.Popen(cmd + common, stdout=subprocess.PIPE, stderr=err, text=True))
    try:
        outs = [p.communicate(timeout=timeout)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    logs = [(folder / f"spu_rank{r}.log").read_text(errors="replace") for r in (0, 1)]
    runs = [_parse(p.returncode, o, log, mode) for p, o, log in zip(procs, outs, logs, strict=True)]
    assert np.array_equal(runs[0].weights, runs[1].weights), "SPU's parties revealed different w"
    return runs[0]


def _parse(code: int, stdout: str, stderr: str, mode: Mode) -> SpuRun:
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if code != 0 or not lines:
        sys.stderr.write(stderr[-4000:])
        raise RuntimeError(f"the SPU oracle ({mode}) exited {code} without a result")
    out = json.loads(lines[-1])
    return SpuRun(
        weights=np.asarray(out["weights"], dtype=np.float64),
        train_seconds=float(out["train_seconds"]),
        seconds=float(out["seconds"]),
        process_seconds=float(out["process_seconds"]),
        compile_seconds=float(out["compile_seconds"]),
        mode=mode,
    )
