"""SS-LR trained by SPU 0.9.1b0 (semi2k): the independent oracle for Isthmus's SS-LR.

Run with the SPU peer's interpreter (``../shared/peers/setup-spu-peer.sh`` prints it), never
with Isthmus's: this file imports only jax, spu and numpy, which that venv has.

The training is the PPCA SS-LR schedule (digest §5.3), written in jax and executed by SPU:
w has k+1 entries (the parties' features in rank order, bias last), starts at 0; per
mini-batch ``pred = sigmoid(X·w)``, ``err = pred - y``, ``grad = Xᵀ·err``,
``grad += w'·l2`` (w' = w with the bias zeroed), ``w -= grad·lr/batch_size``; ⌊n/batch⌋
batches per epoch, the last partial batch discarded. The sigmoid is SPU's own
``SIGMOID_MM1`` (0.5 + 0.125·x): jax 0.4.26 expands ``lax.logistic`` into exp/divide, so the
script restores the direct ``hlo.logistic`` lowering that SPU's compiler turns into
``pphlo.logistic``, which the runtime evaluates with the configured sigmoid mode.

Two modes, both semi2k over two parties:

* ``--mode sim``: SPU's ``spu.utils.simulation.Simulator`` (two threads, in-memory link);
  give ``--data`` twice (rank 0's file, then rank 1's).
* ``--mode party --rank R --addrs A0,A1``: one SPU party in its own process over SPU's brpc
  link (``libspu.link.create_brpc`` + ``spu.Runtime``). Each party reads only its own file,
  secret-shares it locally with ``spu.Io`` and sends the peer its share over the link; the
  trained w is revealed to both.

Rank 0's file holds the label column (``--label-col``, default ``y``); an ``id`` column is
ignored. Every other column is a feature. Prints one JSON line: ``weights`` (features of
rank 0, then rank 1, then the bias), ``train_seconds`` (``Runtime.run`` only; in the
simulator the whole call, sharing included), ``compile_seconds``, ``seconds`` (from the
data read on: link, compilation, sharing, training, reveal) and
``process_seconds`` (including the imports).
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import time

_T0 = time.perf_counter()

import jax  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_platforms", "cpu")

from functools import partial  # noqa: E402

import jax.numpy as jnp  # noqa: E402
import spu  # noqa: E402
from jax._src.interpreters import mlir  # noqa: E402
from jax._src.lax import lax as _lax  # noqa: E402
from jax._src.lib.mlir.dialects import hlo  # noqa: E402
from spu import libspu, spu_pb2  # noqa: E402
from spu.utils import frontend as spu_fe  # noqa: E402
from spu.utils import simulation  # noqa: E402

mlir.register_lowering(_lax.logistic_p, partial(_lax._nary_lower_hlo, hlo.logistic))

FIELDS = {64: spu_pb2.FM64, 128: spu_pb2.FM128}
# semi2k in 0.9.1b0 takes its triples from TrustedFirstParty (the default: rank 0 deals
# every triple from PRG seeds it knows; no traffic, not secure) or TrustedThirdParty (a
# beaver server the wheel does not ship); MultiParty is refused ("unsupported beaver type").
BEAVERS = {"tfp": spu_pb2.RuntimeConfig.TrustedFirstParty}


def read_party(path: str, label_col: str) -> tuple[np.ndarray, np.ndarray | None]:
    with open(path, encoding="utf-8") as handle:
        header = handle.readline().strip().split(",")
    table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2, dtype=np.float64)
    keep = [i for i, name in enumerate(header) if name not in ("id", label_col)]
    label = table[:, header.index(label_col)] if label_col in header else None
    return table[:, keep], label


def make_train(rows: int, epochs: int, batch: int, lr: float, l2: float):
    batches = rows // batch
    step = lr / batch

    def train(x0, x1, y):
        x = jnp.concatenate([x0, x1, jnp.ones((rows, 1), dtype=x0.dtype)], axis=1)
        w = jnp.zeros((x.shape[1],), dtype=x0.dtype)
        for _ in range(epochs):
            for b in range(batches):
                xb = x[b * batch : (b + 1) * batch]
                yb = y[b * batch : (b + 1) * batch]
                pred = jax.lax.logistic(xb @ w)
                grad = xb.T @ (pred - yb)
                if l2:
                    grad = grad + w.at[-1].set(0.0) * l2
                w = w - grad * step
        return w

    return train


def runtime_config(args: argparse.Namespace) -> spu_pb2.RuntimeConfig:
    return spu_pb2.RuntimeConfig(
        protocol=spu_pb2.SEMI2K,
        field=FIELDS[args.field],
        fxp_fraction_bits=args.fxp_bits,
        sigmoid_mode=spu_pb2.RuntimeConfig.SIGMOID_MM1,
        beaver_type=BEAVERS[args.beaver],
    )


def compile_train(args: argparse.Namespace, x0_shape, x1_shape, rows: int):
    fn = make_train(rows, args.epochs, args.batch, args.lr, args.l2)
    specimen = [np.zeros(x0_shape), np.zeros(x1_shape), np.zeros((rows,))]
    executable, _ = spu_fe.compile(
        spu_fe.Kind.JAX,
        fn,
        specimen,
        {},
        ["x0", "x1", "y"],
        [spu_pb2.Visibility.VIS_SECRET] * 3,
        lambda outs: [f"out{i}" for i in range(len(outs))],
    )
    return executable


def run_sim(args: argparse.Namespace, start: float) -> dict[str, object]:
    (x0, y), (x1, _) = (read_party(p, args.label_col) for p in args.data)
    start = time.perf_counter()  # the CSV parsing is not SPU's work
    assert y is not None, "rank 0's file has no label column"
    cfg = runtime_config(args)
    t = time.perf_counter()
    executable = compile_train(args, x0.shape, x1.shape, x0.shape[0])
    compile_seconds = time.perf_counter() - t
    sim = simulation.Simulator(2, cfg)
    t = time.perf_counter()
    (w,) = sim(executable, x0, x1, y)
    train_seconds = time.perf_counter() - t  # sharing + threads' run + reconstruct
    return {
        "mode": "sim",
        "compile_seconds": compile_seconds,
        "weights": np.asarray(w, dtype=np.float64).tolist(),
        "train_seconds": train_seconds,
        "seconds": time.perf_counter() - start,
    }


def pack_share(share: libspu.Share) -> bytes:
    parts = [share.meta, *share.share_chunks]
    return struct.pack("<I", len(parts)) + b"".join(struct.pack("<Q", len(p)) + p for p in parts)


def unpack_share(buf: bytes) -> libspu.Share:
    (count,) = struct.unpack_from("<I", buf)
    at, parts = 4, []
    for _ in range(count):
        (size,) = struct.unpack_from("<Q", buf, at)
        parts.append(buf[at + 8 : at + 8 + size])
        at += 8 + size
    share = libspu.Share()
    share.meta = parts[0]
    share.share_chunks = parts[1:]
    return share


def run_party(args: argparse.Namespace, start: float) -> dict[str, object]:
    rank, peer = args.rank, 1 - args.rank
    x, y = read_party(args.data[0], args.label_col)
    start = time.perf_counter()  # the CSV parsing is not SPU's work
    desc = libspu.link.Desc()
    for r, addr in enumerate(args.addrs.split(",")):
        desc.add_party(f"party{r}", addr)
    desc.recv_timeout_ms = 600_000
    desc.http_timeout_ms = 600_000
    desc.connect_retry_times = 120
    desc.connect_retry_interval_ms = 500
    link = libspu.link.create_brpc(desc, rank)
    link.send(peer, json.dumps({"rows": x.shape[0], "features": x.shape[1]}))
    other = json.loads(link.recv(peer))
    assert other["rows"] == x.shape[0], "the parties' row counts differ"
    shapes = [(x.shape[0], x.shape[1]), (x.shape[0], other["features"])]
    if rank == 1:
        shapes.reverse()
    cfg = runtime_config(args)
    t = time.perf_counter()
    executable = compile_train(args, shapes[0], shapes[1], x.shape[0])
    compile_seconds = time.perf_counter() - t
    io = spu.Io(2, cfg)
    mine = {"x0" if rank == 0 else "x1": x}
    if rank == 0:
        assert y is not None, "rank 0's file has no label column"
        mine["y"] = y
    rt = spu.Runtime(link, cfg)
    for name, value in mine.items():
        shares = io.make_shares(value, spu_pb2.Visibility.VIS_SECRET)
        rt.set_var(name, shares[rank])
        link.send(peer, pack_share(shares[peer]))
    for name in ["x1"] if rank == 0 else ["x0", "y"]:
        rt.set_var(name, unpack_share(link.recv(peer)))
    t = time.perf_counter()
    rt.run(executable)
    train_seconds = time.perf_counter() - t
    out = rt.get_var(executable.output_names[0])
    link.send(peer, pack_share(out))
    theirs = unpack_share(link.recv(peer))
    w = io.reconstruct([out, theirs] if rank == 0 else [theirs, out])
    link.stop_link()
    return {
        "mode": "party",
        "rank": rank,
        "compile_seconds": compile_seconds,
        "weights": np.asarray(w, dtype=np.float64).tolist(),
        "train_seconds": train_seconds,
        "seconds": time.perf_counter() - start,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("sim", "party"), default="sim")
    parser.add_argument("--rank", type=int, default=0)
    parser.add_argument("--addrs", default="127.0.0.1:29700,127.0.0.1:29701")
    parser.add_argument("--data", action="append", required=True)
    parser.add_argument("--label-col", default="y")
    parser.add_argument("--field", type=int, choices=(64, 128), default=64)
    parser.add_argument("--fxp-bits", type=int, default=18)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--l2", type=float, default=0.0)
    parser.add_argument("--beaver", choices=tuple(BEAVERS), default="tfp")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    result = run_sim(args, start) if args.mode == "sim" else run_party(args, start)
    result.update(
        field=args.field,
        fxp_bits=args.fxp_bits,
        epochs=args.epochs,
        batch=args.batch,
        beaver=args.beaver,
        lr=args.lr,
        l2=args.l2,
        process_seconds=time.perf_counter() - _T0,
        spu=spu.__version__,
    )
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
