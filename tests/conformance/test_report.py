"""Reports: JSON round-trips exactly, the summary counts every result once, JUnit XML is
well-formed whatever bytes a target answered and agrees with the JSON."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

from hypothesis import HealthCheck, given, settings

from isthmus.conformance.junit import to_junit_xml
from isthmus.conformance.model import Outcome, Part
from isthmus.conformance.report import Report, to_json
from tests.conformance.strategies import reports, sample_report, sample_result


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reports)
def test_the_json_round_trips_exactly(report: Report) -> None:
    data = to_json(report)
    again = Report.model_validate_json(data)
    assert again == report
    assert to_json(again) == data
    written = json.loads(data)  # what a reader of the file finds, besides the results
    assert written["ok"] is report.ok
    assert written["summary"] == {
        p.value: {o.value: n for o, n in counts.items()} for p, counts in report.summary.items()
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reports)
def test_the_summary_counts_every_result_once(report: Report) -> None:
    summary = report.summary
    assert set(summary) == set(Part)
    assert sum(sum(c.values()) for c in summary.values()) == len(report.results)
    for part, counts in summary.items():
        for outcome, n in counts.items():
            assert n == sum(1 for r in report.results if (r.part, r.outcome) == (part, outcome))
    assert report.ok == (
        report.setup_error is None
        and all(r.outcome in (Outcome.PASS, Outcome.NOT_APPLICABLE) for r in report.results)
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reports)
def test_junit_is_well_formed_and_agrees_with_the_json(report: Report) -> None:
    root = ET.fromstring(to_junit_xml(report, "ab" * 32))
    cases = root.findall("./testsuite/testcase")
    setup = [c for c in cases if c.get("classname") == "conformance.setup"]
    cases = [c for c in cases if c not in setup]
    assert len(cases) == len(report.results)
    if report.setup_error is None:  # a failed set-up is an error case of its own
        assert setup == []
    else:
        (case,) = setup
        error = case.find("error")
        assert error is not None and error.get("message") == report.setup_error
    for case, result in zip(
        cases, sorted(report.results, key=lambda r: list(Part).index(r.part)), strict=True
    ):
        assert case.get("name") == result.check_id
        kinds = {child.tag for child in case} - {"system-out"}
        expected = {
            Outcome.PASS: set(),
            Outcome.FAIL: {"failure"},
            Outcome.ERROR: {"error"},
            Outcome.NOT_APPLICABLE: {"skipped"},
        }[result.outcome]
        assert kinds == expected


def test_junit_names_the_json_it_is_a_view_of_and_survives_control_characters() -> None:
    report = sample_report(
        (
            sample_result("a.fail", Outcome.FAIL, "bad \x07 bell"),
            sample_result("a.pass", Outcome.PASS),
            sample_result("b.na", Outcome.NOT_APPLICABLE, "not claimed", Part.UAS),
        )
    )
    xml = to_junit_xml(report, "f" * 64)
    root = ET.fromstring(xml)
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["conformance.management", "conformance.uas"]
    management = suites[0]
    assert (management.get("tests"), management.get("failures")) == ("2", "1")
    props = {p.get("name"): p.get("value") for p in management.iter("property")}
    assert props["report-sha256"] == "f" * 64 and props["report"] == "report.json"
    failure = management.find("./testcase/failure")
    assert failure is not None and failure.get("message") == "bad \ufffd bell"
    assert suites[1].find("./testcase/skipped") is not None
