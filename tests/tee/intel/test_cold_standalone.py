"""A cold verification stands alone: every signature is checked on every call.

The per-call ``Scope`` lets one verification check a certificate shared by several
chains once; nothing may carry a checked signature over to the next call (no memo of
a root self-signature, a chain or a document). Counting the signature checks of two
identical cold calls shows both: the same full count each time, one per signed object.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from isthmus.tee.intel import CollateralCache, chain, load_collateral_json, verify_quote
from tests.support.shared import shared_path

_D = shared_path("tee-vectors", "intel", "dcap-qvl")
CASES = {
    "sgx_quote": datetime(2025, 6, 19, 11, 56, 11, tzinfo=UTC),
    "tdx_quote": datetime(2025, 6, 19, 11, 16, 3, tzinfo=UTC),
}
# root self-signature, PCK CA, TCB signing certificate, PCK leaf, root CA CRL, PCK CRL,
# TCB info, QE identity, QE report, quote
SIGNED_OBJECTS = 10


def _counting(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    seen: Counter[str] = Counter()
    for name in ("_signed_by", "ecdsa_raw_ok"):
        real = getattr(chain, name)

        def wrapper(*args: Any, _real: Any = real, _name: str = name) -> Any:
            seen[_name] += 1
            return _real(*args)

        monkeypatch.setattr(chain, name, wrapper)
    return seen


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_cold_call_checks_every_signature(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    quote = (_D / name).read_bytes()
    collateral = load_collateral_json((_D / f"{name}_collateral.json").read_text())
    seen = _counting(monkeypatch)
    counts = []
    for _ in range(2):
        seen.clear()
        verify_quote(quote, collateral, at=CASES[name])
        counts.append(sum(seen.values()))
    assert counts == [SIGNED_OBJECTS, SIGNED_OBJECTS]


def test_cached_collateral_checks_only_the_quote_side(monkeypatch: pytest.MonkeyPatch) -> None:
    quote = (_D / "sgx_quote").read_bytes()
    collateral = load_collateral_json((_D / "sgx_quote_collateral.json").read_text())
    cache = CollateralCache()
    verify_quote(quote, collateral, at=CASES["sgx_quote"], cache=cache)
    seen = _counting(monkeypatch)
    verify_quote(quote, collateral, at=CASES["sgx_quote"], cache=cache)
    # PCK chain (leaf, PCK CA, root self-signature), QE report, quote
    assert sum(seen.values()) == 5
