"""Intel SGX DCAP and TDX quote verification, offline (see :mod:`.verifier` for the order
of checks): quotes v3/v4/v5, PCK chains to the pinned Intel root key, CRLs, TCB info and
QE identity collateral, TCB status."""

from isthmus.tee.intel.collateral import (
    CollateralCache,
    collateral_from_files,
    collateral_key,
    load_collateral_json,
)
from isthmus.tee.intel.quote import Quote, parse_quote
from isthmus.tee.intel.verifier import verify_dcap, verify_quote, verify_quote_signatures

__all__ = [
    "CollateralCache",
    "Quote",
    "collateral_from_files",
    "collateral_key",
    "load_collateral_json",
    "parse_quote",
    "verify_dcap",
    "verify_quote",
    "verify_quote_signatures",
]
