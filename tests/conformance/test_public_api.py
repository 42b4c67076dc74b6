"""The kit's public surface (``isthmus.conformance``) is exactly this list: another
platform's CI imports these names to run the checks or add its own."""

from __future__ import annotations

from tests.support.public_api import check_exports

#: The exported names, by the module that defines them.
EXPORTED = {
    "context": ["CheckContext", "CheckFailed", "KitIdentity", "NotApplicable"],
    "model": ["CheckResult", "Exchange", "Outcome", "Part", "Target"],
    "registry": ["Check", "Registry", "check"],
    "report": ["Report"],
    "runner": ["run"],
}


def test_the_kit_exports_exactly_its_documented_public_names() -> None:
    check_exports("isthmus.conformance", EXPORTED)
