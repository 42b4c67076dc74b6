"""The report as JUnit XML, for CI systems: one ``testsuite`` per part, one ``testcase``
per check (FAIL → ``failure``, ERROR → ``error``, NOT_APPLICABLE → ``skipped``, each with
its reason), the evidence in ``system-out``. A failed set-up (``setup_error``: the run's
contract never approved) is one more suite, ``conformance.setup``, whose one case is an
``error``, so a CI reading the XML fails the run as the CLI's exit status does. The XML
is a view: its properties carry the SHA-256 of the signed ``report.json`` it was made
from, which is what to verify."""

from __future__ import annotations

import re
from xml.etree import ElementTree as ET

from isthmus.conformance.model import CheckResult, Outcome, Part
from isthmus.conformance.report import Report

#: Characters XML 1.0 cannot carry at all (a target's answer may contain any byte).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _x(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _evidence(result: CheckResult) -> str:
    lines = [f"{result.section} {result.title}", f"outcome: {result.outcome}: {result.reason}"]
    if result.divergence:
        lines.append(f"documented divergence: {result.divergence}")
    for e in result.exchanges:
        lines += ["", f"--- {e.label} ({e.elapsed_ms:.1f} ms)", e.request, "", e.response]
    return "\n".join(lines)


def _case(parent: ET.Element, result: CheckResult) -> None:
    case = ET.SubElement(
        parent,
        "testcase",
        classname=f"conformance.{result.part.value}",
        name=_x(result.check_id),
        time=f"{result.duration_ms / 1000:.3f}",
    )
    if result.outcome is Outcome.FAIL:
        ET.SubElement(case, "failure", message=_x(result.reason), type="conformance")
    elif result.outcome is Outcome.ERROR:
        ET.SubElement(case, "error", message=_x(result.reason), type="kit")
    elif result.outcome is Outcome.NOT_APPLICABLE:
        ET.SubElement(case, "skipped", message=_x(result.reason))
    ET.SubElement(case, "system-out").text = _x(_evidence(result))


def to_junit_xml(report: Report, report_sha256: str, report_name: str = "report.json") -> bytes:
    root = ET.Element("testsuites", name=_x(f"BFIA conformance of {report.target.node_id}"))
    for part in Part:
        results = [r for r in report.results if r.part is part]
        if not results:
            continue
        counts = report.summary[part]
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"conformance.{part.value}",
            tests=str(len(results)),
            failures=str(counts[Outcome.FAIL]),
            errors=str(counts[Outcome.ERROR]),
            skipped=str(counts[Outcome.NOT_APPLICABLE]),
            timestamp=report.started_at.isoformat(),
            time=f"{sum(r.duration_ms for r in results) / 1000:.3f}",
        )
        props = ET.SubElement(suite, "properties")
        for name, value in (
            ("report", report_name),
            ("report-sha256", report_sha256),
            ("run-id", report.run_id),
            ("target-node-id", report.target.node_id),
            ("kit-version", report.kit_version),
        ):
            ET.SubElement(props, "property", name=name, value=_x(value))
        for result in results:
            _case(suite, result)
    if report.setup_error is not None:
        suite = ET.SubElement(root, "testsuite", name="conformance.setup", tests="1", errors="1")
        case = ET.SubElement(suite, "testcase", classname="conformance.setup", name="contract")
        ET.SubElement(case, "error", message=_x(report.setup_error), type="kit")
    ET.indent(root)
    xml: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml
