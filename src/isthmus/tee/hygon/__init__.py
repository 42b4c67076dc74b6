"""Hygon CSV: the offline part of verifying a CSV attestation report (SM2/SM3 chain
HSK -> CEK -> PEK -> report), with what needs Hygon's service listed as unverified.

``verify_csv`` is the ``CSV`` platform verifier registered in ``tee.platforms``.
"""

from __future__ import annotations

from isthmus.tee.hygon.report import CsvAttestationReport, parse_csv_report
from isthmus.tee.hygon.verifier import csv_attributes, verify_csv, verify_csv_report

__all__ = [
    "CsvAttestationReport",
    "csv_attributes",
    "parse_csv_report",
    "verify_csv",
    "verify_csv_report",
]
