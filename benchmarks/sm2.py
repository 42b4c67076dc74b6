"""SM2 sign and verify: Isthmus (libcrypto through ctypes, as the node uses it), the
pure-Python fallback, and OpenSSL's own ``openssl speed sm2``, measured in one run.

    .venv/bin/python benchmarks/sm2.py --size 2000

The anchor is ``openssl speed -seconds 2 sm2`` (C, no Python at all), run in the same
process tree right after our loops. Each loop is timed three times and the best kept:
the machine is shared. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from typing import Any

from isthmus.crypto import generate_private_key, openssl_sm2, sm2


def best_us(fn: Callable[[], object], count: int, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(count):
            fn()
        best = min(best, (time.perf_counter() - started) / count)
    return round(best * 1e6, 1)


def openssl_speed() -> dict[str, float] | None:
    if shutil.which("openssl") is None:
        return None
    result = subprocess.run(
        ["openssl", "speed", "-seconds", "2", "sm2"],
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=2000, help="operations per timed loop")
    args = parser.parse_args()
    key = generate_private_key("SM2_SM3")
    public = key.public_key()
    message = b"x" * 512
    signature = key.sign(message)
    private = sm2.private_key_from_pem(key.to_pem())
    point = sm2.public_point(private)
    python_ops = max(10, args.size // 5)
    result: dict[str, Any] = {
        "benchmark": "sm2",
        "size": args.size,
        "libcrypto_sm2": openssl_sm2.available(),
        "isthmus": {
            "sign_us": best_us(lambda: key.sign(message), args.size),
            "verify_us": best_us(lambda: public.verify(signature, message), args.size),
        },
        "pure_python": {
            "sign_us": best_us(lambda: sm2.sign_python(private, message, public=point), python_ops),
            "verify_us": best_us(lambda: sm2.verify_python(point, message, signature), python_ops),
        },
        "openssl": openssl_speed(),
    }
    anchor = result["openssl"]
    if anchor:
        for op in ("sign", "verify"):
            result[f"{op}_ratio_vs_openssl"] = round(
                result["isthmus"][f"{op}_us"] / anchor[f"{op}_us"], 2
            )
            result[f"python_{op}_ratio_vs_openssl"] = round(
                result["pure_python"][f"{op}_us"] / anchor[f"{op}_us"], 2
            )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
