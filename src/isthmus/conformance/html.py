"""The report as one self-contained HTML page a testing body can file.

No script at all, no request to anywhere: the stylesheet is inline and the page's
Content-Security-Policy (``default-src 'none'``) allows exactly that stylesheet, by its
hash, so nothing the report shows can load or run anything even if it got past
escaping — and autoescaping is on, because every string in a report came from the
target. The page shows a summary by sub-topic, then each check with its evidence, and
names the SHA-256 of the signed ``report.json`` it is a view of.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from isthmus.conformance.model import Outcome, Part
from isthmus.conformance.report import Report

TEMPLATES = Path(__file__).parent / "templates"
PART_TITLES = {
    Part.MANAGEMENT: "Management plane (§1)",
    Part.SCHEDULING: "Scheduling plane (§2)",
    Part.TRANSPORT_SN: "Transport, south-north (§4.2)",
    Part.TRANSPORT_EW: "Transport, east-west (§4.3)",
    Part.PSI_LINK: "ECDH-PSI link (§5.2)",
    Part.SECURE_OPERATORS: "Secure operators (§3)",
    Part.UAS: "TEE unified attestation service (§6)",
}

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def csp_for(css: str) -> str:
    digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode()
    return (
        f"default-src 'none'; style-src 'sha256-{digest}'; img-src data:; "
        "base-uri 'none'; form-action 'none'"
    )


def to_html(report: Report, report_sha256: str, report_name: str = "report.json") -> str:
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    summary = report.summary
    by_part = [(p, [r for r in report.results if r.part is p]) for p in Part]
    signer = report.signature.node_id if report.signature else "nobody (unsigned)"
    return _env.get_template("report.html.j2").render(
        report=report,
        report_sha256=report_sha256,
        report_name=report_name,
        css=css,
        csp=csp_for(css),
        outcomes=list(Outcome),
        summary=[(p, summary[p]) for p, results in by_part if results],
        by_part=[(p, results) for p, results in by_part if results],
        part_titles=PART_TITLES,
        signer=signer,
    )
