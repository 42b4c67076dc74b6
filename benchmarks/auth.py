"""Cost of node identity: signature suites and signed east-west requests.

Measured in one run, beside its anchors:

* each suite's sign and verify time in Isthmus, beside OpenSSL's own ``openssl speed``
  figure for the same algorithm on this machine (the anchor for the primitives);
* a real node process answering signed ``node/contract/query`` requests (full
  authentication: headers, timestamp, contract lookup, signature, persisted nonce) beside
  the same node answering unsigned ``node/health`` (the anchor: HTTP and framework cost
  alone) and unsigned ``node/query`` (a second anchor of the same shape as the signed
  route: a query parameter, the node context, one thread-pool call), sequentially from
  one client, each loop the best of three.

    .venv/bin/python benchmarks/auth.py --size 500

Ends with one JSON line holding every figure and ratio.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import time
from typing import Any

import httpx

from isthmus.crypto import generate_private_key
from isthmus.node.config import load_config
from isthmus.node.home import read_private_key
from isthmus.peer.signing import NodeIdentity, sign_request
from isthmus.testing import ProcessCluster
from isthmus.wire import paths

SUITES = {
    "ED25519": "ed25519",
    "SHA256_ECDSA": "ecdsap256",
    "SHA256_RSA_PSS": "rsa3072",
    "SM2_SM3": "sm2",
}


def per_op_us(fn: Any, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        fn()
    return (time.perf_counter() - started) / count * 1e6


def isthmus_suite(auth_type: str, count: int) -> dict[str, float]:
    key = generate_private_key(auth_type)
    public = key.public_key()
    message = b"x" * 512
    signature = key.sign(message)
    return {
        "sign_us": round(per_op_us(lambda: key.sign(message), count), 1),
        "verify_us": round(per_op_us(lambda: public.verify(signature, message), count), 1),
    }


def openssl_speed(algorithm: str) -> dict[str, float] | None:
    """Sign and verify µs per operation from the sign/s and verify/s columns of
    ``openssl speed -seconds 1`` (the seconds columns are rounded too coarsely)."""
    if shutil.which("openssl") is None:
        return None
    result = subprocess.run(
        ["openssl", "speed", "-seconds", "1", algorithm],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if re.search(r"\d+ bits", line)]
    if not lines:
        return None
    signs, verifies = (float(v) for v in lines[-1].split()[-2:])
    return {"sign_us": round(1e6 / signs, 1), "verify_us": round(1e6 / verifies, 1)}


def best_seconds(fn: Any, size: int, repeats: int) -> float:
    """Best of ``repeats`` timed loops of ``size`` calls: the machine is shared."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(size):
            fn()
        best = min(best, time.perf_counter() - started)
    return best


def node_throughput(size: int, auth_type: str, repeats: int = 3) -> dict[str, float]:
    with ProcessCluster() as cluster:
        a = cluster.add_node("NODE_A", auth_type=auth_type)
        b = cluster.add_node("NODE_B")
        contract_id = cluster.connect(a, b)
        config = load_config(a.home)
        identity = NodeIdentity("NODE_A", config.node.inst_id, read_private_key(config))
        with httpx.Client(base_url=b.address) as http:

            def health() -> None:
                assert http.get(paths.NODE_HEALTH).status_code == 200

            def node_query() -> None:
                response = http.get(paths.NODE_QUERY, params={"node_id": "NODE_B"})
                assert response.json()["code"] == 0, response.text

            query = f"contract_id={contract_id}"

            def signed_query() -> None:
                headers = sign_request(
                    identity,
                    method="GET",
                    path=paths.NODE_CONTRACT_QUERY,
                    query=query,
                    target_node_id="NODE_B",
                    body=b"",
                )
                response = http.get(
                    paths.NODE_CONTRACT_QUERY, params={"contract_id": contract_id}, headers=headers
                )
                assert response.json()["code"] == 0, response.text

            for warm_up in (health, node_query, signed_query):
                for _ in range(20):
                    warm_up()
            unsigned_s = best_seconds(health, size, repeats)
            unsigned_query_s = best_seconds(node_query, size, repeats)
            signed_s = best_seconds(signed_query, size, repeats)
    return {
        "unsigned_health_rps": round(size / unsigned_s, 1),
        "unsigned_node_query_rps": round(size / unsigned_query_s, 1),
        "signed_query_rps": round(size / signed_s, 1),
        "signed_over_unsigned_throughput": round(unsigned_s / signed_s, 3),
        "signed_over_unsigned_query_throughput": round(unsigned_query_s / signed_s, 3),
        "auth_overhead_ms_per_request": round((signed_s - unsigned_s) / size * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--size",
        type=int,
        default=500,
        help="requests per measurement (and 10x that many primitive ops / 10)",
    )
    args = parser.parse_args()
    result: dict[str, Any] = {"benchmark": "auth", "size": args.size, "suites": {}}
    for auth_type, openssl_name in SUITES.items():
        ops = max(20, args.size // (10 if auth_type in ("SM2_SM3", "SHA256_RSA_PSS") else 1))
        ours = isthmus_suite(auth_type, ops)
        anchor = openssl_speed(openssl_name)
        entry: dict[str, Any] = {"isthmus": ours, "openssl": anchor}
        if anchor:
            entry["sign_ratio_vs_openssl"] = round(ours["sign_us"] / anchor["sign_us"], 2)
            entry["verify_ratio_vs_openssl"] = round(ours["verify_us"] / anchor["verify_us"], 2)
        result["suites"][auth_type] = entry
        print(f"{auth_type}: {json.dumps(entry)}", flush=True)
    for auth_type in ("ED25519", "SM2_SM3"):
        figures = node_throughput(args.size, auth_type)
        result[f"node_{auth_type}"] = figures
        print(f"node, caller signs with {auth_type}: {json.dumps(figures)}", flush=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
