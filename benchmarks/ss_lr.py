"""SS-LR, two parties: Isthmus against SPU 0.9.1b0 semi2k on the same data and schedule.

One synthetic, vertically split dataset (``--rows`` rows, ``--features`` per party, seed
16, label at rank 0) is trained with the PPCA SS-LR schedule (``--epochs``, ``--batch``,
``--lr``, minimax_1 sigmoid, ``--field``/``--fxp-bits``) by:

* **SPU**: two SPU processes over SPU's brpc link on loopback (``--spu-mode party``, the
  default) or its simulator (``--spu-mode sim``), run by ``tests/support/spu_lr_oracle.py``
  in the SPU peer's venv (created on first use by ``../shared/peers/setup-spu-peer.sh``);
* **Isthmus**: two processes (this file with ``--isthmus-party R``), each a ``Semi2k``
  engine over the direct gRPC link (``isthmus.link.backends.DirectBackend``) running
  ``isthmus.components.builtin.ss_lr.train.train``; triples (``--triples``) from the
  PPCA Beaver service (``beaver``, the default: a third process serving
  ``isthmus.beaver``'s servicer, the parties' ``TtpTripleSource`` clients, adjust rank 0),
  the dealer-free ``HeTripleSource`` (``he``: Paillier, hours at the default size), or a
  test dealer per process seeded alike (``dealer``: both draw the same correlated
  randomness with no traffic, which is what SPU's TrustedFirstParty costs, to time the
  engine alone). When the engine or SS-LR is not importable
  the Isthmus figures are ``null`` and ``isthmus_error`` says why.

Times: ``*_train_seconds`` is the training alone (SPU: ``Runtime.run``; Isthmus:
``train`` + the reveal), ``*_seconds`` the party's whole run after its imports (link,
compilation or set-up, sharing, training, reveal), ``*_wall_seconds`` from starting both
processes to both exiting. The weights of both are compared with each other and with the
float64 reference (step quantised as the engines encode it).

    PYTHONPATH=src .venv/bin/python benchmarks/ss_lr.py --rows 100000 --features 20

Ends with one JSON line holding every figure and ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _support() -> None:
    """Make ``tests.support`` importable (the repo root is not on ``sys.path`` here)."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))


def dataset(rows: int, features: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(16)
    x = rng.normal(size=(rows, 2 * features))
    y = (x @ rng.normal(size=2 * features) + 0.3 * rng.normal(size=rows) > 0).astype(float)
    return x[:, :features], x[:, features:], y


def isthmus_party(args: argparse.Namespace) -> dict[str, Any]:
    """One Isthmus party (run in its own process by :func:`run_isthmus`)."""
    from isthmus.components.builtin.ss_lr.train import TrainPlan, train
    from isthmus.link import LinkContext
    from isthmus.link.backends import DirectBackend
    from isthmus.mpc.engine import Semi2k
    from isthmus.mpc.ring import Ring

    start = time.perf_counter()
    rank = args.isthmus_party
    x0, x1, y = dataset(args.rows, args.features)
    plan = TrainPlan(
        num_epoch=args.epochs, batch_size=args.batch, learning_rate=args.lr, l2_norm=0.0,
        feature_nums=(args.features, args.features), label_rank=0,
    )  # fmt: skip

    async def run() -> dict[str, Any]:
        link = LinkContext(rank, 2, DirectBackend(rank, args.addrs.split(",")), recv_timeout_s=600)
        await link.start(60)
        ring = Ring(args.field)
        triples: Any
        if args.triples == "beaver":
            from isthmus.mpc.beaver_client import TtpTripleSource

            triples = TtpTripleSource(
                ring, rank, 2, 0, args.beaver_host, args.beaver_session, lookahead=True
            )
            await triples.open()
        elif args.triples == "dealer":
            from isthmus.testing.mpc_dealer import SeededDealer

            triples = SeededDealer(ring, rank, 2, seed=bytes(range(16)))
        else:
            from isthmus.mpc.he_triples import HeTripleSource

            triples = HeTripleSource(link, ring)
        engine = Semi2k(link, ring, args.fxp_bits, triples)
        await engine.setup()
        t = time.perf_counter()
        w = await train(engine, x0 if rank == 0 else x1, y if rank == 0 else None, plan)
        weights = await engine.reveal(w)
        train_seconds = time.perf_counter() - t
        await triples.close()
        await link.close()
        return {"weights": np.asarray(weights).reshape(-1).tolist(), "train_seconds": train_seconds}

    out = asyncio.run(run())
    out["seconds"] = time.perf_counter() - start
    return out


def serve_beaver(port: int) -> None:
    """The Beaver triple service alone (the third process of ``--triples beaver``)."""
    import grpc

    from isthmus.beaver import BeaverLimits, SessionTable
    from isthmus.beaver.servicer import BeaverServicer

    async def serve() -> None:
        big = [("grpc.max_receive_message_length", 1 << 28),
               ("grpc.max_send_message_length", 1 << 28)]  # fmt: skip
        server = grpc.aio.server(options=big)
        limits = BeaverLimits(max_world_size=2, session_idle_s=3600)
        server.add_generic_rpc_handlers(BeaverServicer(SessionTable(limits)).handlers())
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        print("serving", flush=True)
        await server.wait_for_termination()

    asyncio.run(serve())


def run_isthmus(args: argparse.Namespace) -> dict[str, Any]:
    import isthmus.components.builtin.ss_lr.train
    import isthmus.mpc.engine  # noqa: F401
    from isthmus.testing import free_port

    addrs = f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    base = [sys.executable, __file__, "--addrs", addrs, *_common(args)]
    server = None
    t = time.perf_counter()
    if args.triples == "beaver":
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, __file__, "--beaver-server", str(port)], stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        assert server.stdout is not None and server.stdout.readline().strip() == "serving"
        base += ["--beaver-host", f"127.0.0.1:{port}", "--beaver-session", uuid.uuid4().hex]
    procs = [
        subprocess.Popen([*base, "--isthmus-party", str(r)], stdout=subprocess.PIPE, text=True)
        for r in (0, 1)
    ]
    try:
        outs = [p.communicate()[0] for p in procs]
    finally:
        if server is not None:
            server.kill()
            server.wait()
    wall = time.perf_counter() - t
    if any(p.returncode for p in procs):
        raise RuntimeError(f"an Isthmus party exited {[p.returncode for p in procs]}")
    runs = [json.loads(o.strip().splitlines()[-1]) for o in outs]
    runs[0]["wall_seconds"] = wall
    return dict(runs[0])


def _common(args: argparse.Namespace) -> list[str]:
    return [
        "--rows", str(args.rows), "--features", str(args.features), "--epochs",
        str(args.epochs), "--batch", str(args.batch), "--field", str(args.field),
        "--fxp-bits", str(args.fxp_bits), "--lr", repr(args.lr), "--triples", args.triples,
    ]  # fmt: skip


def run_spu(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    _support()
    from tests.support.spu_ss_lr import run_spu_ss_lr, write_parties
    from tests.support.ss_lr_reference import Schedule

    x0, x1, y = dataset(args.rows, args.features)
    paths = write_parties(folder, x0, x1, y)
    schedule = Schedule(args.epochs, args.batch, args.lr)
    t = time.perf_counter()
    run = run_spu_ss_lr(
        folder, paths, schedule, field=args.field, fxp_bits=args.fxp_bits, mode=args.spu_mode
    )
    return {
        "weights": run.weights.tolist(), "train_seconds": run.train_seconds,
        "seconds": run.seconds, "compile_seconds": run.compile_seconds,
        "wall_seconds": time.perf_counter() - t, "mode": run.mode,
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=20, help="per party")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--field", type=int, choices=(64, 128), default=64)
    parser.add_argument("--fxp-bits", type=int, default=18)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--spu-mode", choices=("party", "sim"), default="party")
    parser.add_argument("--triples", choices=("beaver", "he", "dealer"), default="beaver")
    parser.add_argument("--skip-spu", action="store_true")
    parser.add_argument("--addrs", help=argparse.SUPPRESS)
    parser.add_argument("--isthmus-party", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--beaver-server", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--beaver-host", help=argparse.SUPPRESS)
    parser.add_argument("--beaver-session", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.beaver_server is not None:
        serve_beaver(args.beaver_server)
        return 0
    if args.isthmus_party is not None:
        print(json.dumps(isthmus_party(args)), flush=True)
        return 0
    _support()
    from tests.support.ss_lr_reference import Schedule, quantised_step, train_float64

    result: dict[str, Any] = {
        "rows": args.rows, "features_per_party": args.features, "epochs": args.epochs,
        "batch": args.batch, "field": args.field, "fxp_bits": args.fxp_bits, "lr": args.lr,
        "isthmus_triples": args.triples,
        "spu_beaver": "TrustedFirstParty (rank 0 deals; the only kind 0.9.1b0 ships)",
        "isthmus_link": "DirectBackend (gRPC, 2 processes)",
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        spu = None if args.skip_spu else run_spu(args, Path(tmp))
        try:
            ours: dict[str, Any] | None = run_isthmus(args)
        except (ImportError, RuntimeError) as exc:
            ours, result["isthmus_error"] = None, str(exc)
    x0, x1, y = dataset(args.rows, args.features)
    schedule = Schedule(args.epochs, args.batch, args.lr)
    step = quantised_step(args.lr, args.batch, args.fxp_bits)
    reference = train_float64(np.hstack([x0, x1]), y, schedule, step=step)
    for name, run in (("spu", spu), ("isthmus", ours)):
        for key in ("train_seconds", "compile_seconds", "seconds", "wall_seconds", "mode"):
            result[f"{name}_{key}"] = None if run is None else run.get(key)
        result[f"{name}_vs_reference_max_abs"] = (
            None if run is None else float(np.max(np.abs(np.array(run["weights"]) - reference)))
        )
    if spu and ours:
        gap = np.max(np.abs(np.array(spu["weights"]) - np.array(ours["weights"])))
        result["isthmus_vs_spu_max_abs"] = float(gap)
        for key in ("train_seconds", "seconds", "wall_seconds"):
            result[f"ratio_{key}"] = ours[key] / spu[key]
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
