"""Write a run's three files: the signed ``report.json`` (the evidence), and the JUnit XML
and HTML views of it, each naming the JSON's SHA-256. The JSON is written first and the
views are made from the signed bytes, so a view never describes another file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from isthmus.conformance.html import to_html
from isthmus.conformance.junit import to_junit_xml
from isthmus.conformance.report import Report, sha256_hex, to_json
from isthmus.conformance.signing import sign_report
from isthmus.peer.signing import NodeIdentity

JSON_NAME, XML_NAME, HTML_NAME = "report.json", "report.xml", "report.html"


@dataclass(frozen=True)
class Written:
    json: Path
    xml: Path
    html: Path
    sha256: str
    report: Report


def write_reports(report: Report, out_dir: Path, identity: NodeIdentity) -> Written:
    out_dir.mkdir(parents=True, exist_ok=True)
    signed = sign_report(to_json(report), identity)
    digest = sha256_hex(signed)
    signed_report = Report.model_validate_json(signed)
    paths = Written(
        out_dir / JSON_NAME, out_dir / XML_NAME, out_dir / HTML_NAME, digest, signed_report
    )
    paths.json.write_bytes(signed)
    paths.xml.write_bytes(to_junit_xml(signed_report, digest, JSON_NAME))
    paths.html.write_text(to_html(signed_report, digest, JSON_NAME), encoding="utf-8")
    return paths
