"""The secure operator service: ``matmul`` of two ``--size`` x ``--size`` matrices.

In one run on the same machine:

* **through the service**: two real node processes (``isthmus.testing.ProcessCluster``);
  node A holds x, node B holds y; each node gets its own ``execute`` (sync, ``Direct``
  Base64 inputs, result revealed to both) at the same moment, and the figure is the wall
  time until both answered: request parsing, the shape exchange over the nodes'
  transport, the semi2k engine (two openings, ring matmuls, local truncation), the
  reveal, the replies. Triples from the Beaver service node A serves (``--triples ttp``,
  the default), or dealer-free HE triples (``--triples he``: only for small sizes;
  ``--he-key-bits``);
* **plaintext**: numpy's float64 ``x @ y``;
* **SPU**: spu 0.9.1b0's simulator, 2 parties, semi2k, FM64, ``jnp.matmul`` of the same
  matrices, run in the SPU peer venv (``~/.cache/isthmus-peers/spu-0.9.1b0``) as a
  subprocess; the first call (tracing and compilation included) and the best of the
  next ``--repeat`` are reported. SPU's simulator runs both parties in one process with
  no network, so it is a floor for SPU, not SPU between two machines.

Ends with one JSON line holding every figure.

    PYTHONPATH=src .venv/bin/python benchmarks/secure_operate.py --size 1000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from isthmus.node.admin_client import AdminClient
from isthmus.testing import ProcessCluster, ProcessNode, free_port
from isthmus.wire import paths
from isthmus.wire.secure_operate import decode_direct, encode_direct

SPU_PYTHON = Path.home() / ".cache/isthmus-peers/spu-0.9.1b0/bin/python"

SPU_SCRIPT = """
import json, sys, time
import numpy as np
import jax.numpy as jnp
import spu as libspu
import spu.utils.simulation as spsim

path, repeat = sys.argv[1], int(sys.argv[2])
data = np.load(path)
x, y = data["x"], data["y"]
sim = spsim.Simulator.simple(2, libspu.ProtocolKind.SEMI2K, libspu.FieldType.FM64)
run = spsim.sim_jax(sim, jnp.matmul)
start = time.perf_counter()
out = run(x, y)
first = time.perf_counter() - start
times = []
for _ in range(repeat):
    start = time.perf_counter()
    out = run(x, y)
    times.append(time.perf_counter() - start)
err = float(np.max(np.abs(np.asarray(out) - x @ y)))
print(json.dumps({"first_s": first, "best_s": min(times) if times else first, "max_abs_err": err}))
"""


def body(
    task: str,
    node: ProcessNode,
    parties: list[str],
    name: str,
    value: np.ndarray,
    param: dict[str, Any],
) -> dict[str, Any]:
    tag = {"type": "Direct", "name": name, "dtype": "float64", "shape": list(value.shape)}
    return {
        "taskId": task, "expression": "matmul", "timeout": 3600,
        "mpcProtocol": {"protocolCode": "semi2k", "param": param},
        "parties": parties, "localPartyId": node.node_id, "resultParties": parties,
        "inputs": [{"dataValueTag": tag, "directValue": encode_direct(value, "float64")}],
    }  # fmt: skip


def through_service(
    size: int, triples: str, key_bits: int, x: np.ndarray, y: np.ndarray
) -> dict[str, Any]:
    env = {"ISTHMUS_BEAVER__ENABLED": "true", "ISTHMUS_SECURE_OPERATE__PEER_WAIT_S": "3600"}
    with ProcessCluster(env=env) as cluster:
        a, b = (cluster.add_node(interconn_grpc_port=free_port()) for _ in range(2))
        cluster.connect(a, b)
        param: dict[str, Any] = {"field": 64, "fxp_bits": 18}
        if triples == "ttp":
            param |= {
                "use_ttp": True,
                "ttp_server_host": f"127.0.0.1:{a.config.interconn.grpc_port}",
            }
        else:
            param |= {"he_key_bits": key_bits}
        parties = [a.node_id, b.node_id]
        requests = [
            body("bench1", a, parties, "x", x, param),
            body("bench1", b, parties, "y", y, param),
        ]

        def one(node: ProcessNode, request: dict[str, Any]) -> dict[str, Any]:
            with AdminClient.for_home(node.home, timeout_s=3600) as client:
                return client.post_document(paths.SECOP_EXECUTE, request)

        start = time.perf_counter()
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(one, (a, b), requests))
        elapsed = time.perf_counter() - start
    for answer in answers:
        if answer["code"] != 0:
            raise SystemExit(f"the service refused: {answer['code']} {answer['msg']}")
    tag = answers[0]["result"][0]["dataValueTag"]
    out = decode_direct(answers[0]["result"][0]["directValue"], tag["dtype"], tag["shape"])
    return {
        "seconds": elapsed,
        "max_abs_err": float(np.max(np.abs(out - x @ y))),
        "triples": triples,
    }


def spu(x: np.ndarray, y: np.ndarray, repeat: int) -> dict[str, Any] | None:
    if not SPU_PYTHON.exists():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "xy.npz"
        np.savez(data, x=x, y=y)
        script = Path(tmp) / "spu_matmul.py"
        script.write_text(SPU_SCRIPT)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        done = subprocess.run(  # noqa: PLW1510 - checked below
            [str(SPU_PYTHON), str(script), str(data), str(repeat)],
            capture_output=True, text=True, env=env, timeout=3600,
        )  # fmt: skip
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:]}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--triples", choices=("ttp", "he"), default="ttp")
    parser.add_argument("--he-key-bits", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-spu", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(1000)
    x, y = rng.uniform(-1, 1, (args.size, args.size)), rng.uniform(-1, 1, (args.size, args.size))
    start = time.perf_counter()
    _ = x @ y
    plain = time.perf_counter() - start
    service = through_service(args.size, args.triples, args.he_key_bits, x, y)
    spu_figures = None if args.no_spu else spu(x, y, args.repeat)
    figures: dict[str, Any] = {
        "benchmark": "secure_operate_matmul",
        "size": args.size,
        "service_s": round(service["seconds"], 3),
        "service_max_abs_err": service["max_abs_err"],
        "triples": service["triples"],
        "numpy_s": round(plain, 5),
        "service_vs_numpy": round(service["seconds"] / plain, 1) if plain else None,
        "spu": spu_figures,
    }
    if spu_figures and "best_s" in spu_figures:
        figures["service_vs_spu_best"] = round(service["seconds"] / spu_figures["best_s"], 2)
    print(json.dumps(figures), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
