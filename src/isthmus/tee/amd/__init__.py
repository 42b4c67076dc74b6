"""AMD SEV-SNP: offline verification of attestation reports against AMD's pinned roots.

``verify_snp`` is the ``SEV_SNP`` platform verifier (registered in ``tee.platforms``);
``verify_snp_report`` is the lower level the benchmark and the CLI call with raw bytes.
"""

from __future__ import annotations

from isthmus.tee.amd.report import SnpAttestationReport, parse_snp_report
from isthmus.tee.amd.verifier import snp_attributes, verify_snp, verify_snp_report

__all__ = [
    "SnpAttestationReport",
    "parse_snp_report",
    "snp_attributes",
    "verify_snp",
    "verify_snp_report",
]
