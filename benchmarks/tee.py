"""TEE evidence verification speed, single core (no pools), beside the reference verifier.

For each platform entry: Isthmus cold (collateral verified on every call, no cache),
Isthmus cached (``CollateralCache`` warm: only the quote, its QE report, the PCK chain
and the CRL lookups are checked) and the reference verifier on the same inputs
(dcap-qvl 0.7.0's Python bindings for SGX/TDX) - verifications per second, milliseconds
per verification and the ratios to the reference. The issue's goal: >= 0.5x the
reference and < 5 ms per verification with cached collateral.

    PYTHONPATH=src .venv/bin/python benchmarks/tee.py --size 300

Platforms are rows of ``PLATFORMS`` (name -> Entry). SEV-SNP has no reference verifier
installable from the package registries (AMD's and VirTEE's are Rust and Go), so its
rows carry Isthmus's figures only: cold (the verified-link cache emptied before every
call: ARK self-signature, ARK -> ASK, ASK -> VCEK and the report signature each time) and
cached (only the VCEK's TCB and chip checks and the report signature). Ends with one JSON
line holding every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.shared import shared_root

from isthmus.tee.amd import verify_snp_report
from isthmus.tee.amd.chain import forget_verified_links
from isthmus.tee.intel import CollateralCache, load_collateral_json, verify_quote
from isthmus.tee.verdict import TrustAnchors


@dataclass(frozen=True)
class Entry:
    cold: Callable[[], object]
    cached: Callable[[], object]
    reference: Callable[[], object] | None  # None: no reference verifier installed


def _intel(name: str, at: datetime) -> Entry:
    folder = shared_root() / "tee-vectors" / "intel" / "dcap-qvl"
    quote = (folder / name).read_bytes()
    text = (folder / f"{name}_collateral.json").read_text()
    collateral = load_collateral_json(text)
    cache = CollateralCache()
    verify_quote(quote, collateral, at=at, cache=cache)  # warm
    reference: Callable[[], object] | None = None
    try:
        import dcap_qvl  # type: ignore[import-untyped]

        now = int(at.timestamp())

        def reference() -> object:
            return dcap_qvl.verify(quote, dcap_qvl.QuoteCollateralV3.from_json(text), now)
    except ImportError:
        pass
    return Entry(
        cold=lambda: verify_quote(quote, collateral, at=at),
        cached=lambda: verify_quote(quote, collateral, at=at, cache=cache),
        reference=reference,
    )


def _snp(report_path: tuple[str, ...], vcek_path: tuple[str, ...]) -> Entry:
    folder = shared_root() / "tee-vectors" / "amd"
    raw = folder.joinpath(*report_path).read_bytes()
    report = bytes.fromhex(raw.decode("ascii")) if report_path[-1].endswith(".hex") else raw
    vcek = folder.joinpath(*vcek_path).read_bytes()
    at = datetime(2024, 1, 1, tzinfo=UTC)  # inside both VCEKs' validity

    def verify() -> object:
        return verify_snp_report(report, vcek, at=at, anchors=TrustAnchors())

    def cold() -> object:
        forget_verified_links()
        return verify()

    verify()  # warm
    return Entry(cold=cold, cached=verify, reference=None)


PLATFORMS: dict[str, Callable[[], Entry]] = {
    "sgx_quote": lambda: _intel("sgx_quote", datetime(2025, 6, 19, 11, 56, 11, tzinfo=UTC)),
    "tdx_quote": lambda: _intel("tdx_quote", datetime(2025, 6, 19, 11, 16, 3, tzinfo=UTC)),
    "snp_report_milan": lambda: _snp(
        ("virtee-sev", "report_milan.hex"), ("virtee-sev", "vcek_milan.der")
    ),
    "snp_attestation_bin": lambda: _snp(
        ("go-sev-guest", "attestation.bin"), ("go-sev-guest", "vcek.testcer")
    ),
}


def _rate(fn: Callable[[], object], size: int) -> dict[str, float]:
    fn()
    start = time.perf_counter()
    for _ in range(size):
        fn()
    elapsed = time.perf_counter() - start
    return {"per_s": round(size / elapsed, 1), "ms": round(elapsed / size * 1000, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=300, help="verifications per figure")
    args = parser.parse_args()
    result: dict[str, dict[str, object]] = {}
    for name, build in PLATFORMS.items():
        entry = build()
        figures: dict[str, object] = {
            "cold": _rate(entry.cold, args.size),
            "cached": _rate(entry.cached, args.size),
        }
        if entry.reference is not None:
            ref = _rate(entry.reference, args.size)
            figures["reference"] = ref
            for kind in ("cold", "cached"):
                ours = figures[kind]
                assert isinstance(ours, dict)
                figures[f"{kind}_vs_reference"] = round(ours["per_s"] / ref["per_s"], 3)
        print(f"{name}: {json.dumps(figures)}", flush=True)
        result[name] = figures
    print(json.dumps({"size": args.size, "platforms": result}))


if __name__ == "__main__":
    main()
