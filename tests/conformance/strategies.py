"""Hypothesis strategies for reports, and two fixed samples (shared by the report, signing
and HTML tests)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import strategies as st

from isthmus.conformance.model import CheckResult, Exchange, Outcome, Part
from isthmus.conformance.report import Report, TargetSummary

TEXT = st.text(max_size=40)
exchanges = st.builds(
    Exchange,
    label=TEXT,
    request=TEXT,
    response=TEXT,
    elapsed_ms=st.floats(0, 1e6, allow_nan=False),
)
results = st.builds(
    CheckResult,
    check_id=st.from_regex(r"[a-z]{1,8}\.[a-z0-9-]{1,12}", fullmatch=True),
    title=TEXT,
    part=st.sampled_from(list(Part)),
    section=st.sampled_from(["§1.2", "§4.2", "§5.2", "§2.2"]),
    outcome=st.sampled_from(list(Outcome)),
    reason=TEXT,
    divergence=st.none() | TEXT,
    exchanges=st.lists(exchanges, max_size=2).map(tuple),
    duration_ms=st.floats(0, 1e6, allow_nan=False),
)
times = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)
reports = st.builds(
    Report,
    run_id=st.from_regex(r"[0-9a-f]{8}", fullmatch=True),
    kit_node_id=st.just("KIT"),
    started_at=times,
    finished_at=times,
    target=st.builds(
        TargetSummary,
        node_id=st.just("TARGET"),
        address=st.just("http://127.0.0.1:1"),
        claims=st.lists(st.sampled_from(list(Part)), unique=True).map(tuple),
        signature_scheme=st.just("isthmus-sig-1"),
    ),
    results=st.lists(results, max_size=5).map(tuple),
    setup_error=st.none() | st.just("contract c not approved within 60 s (status APPLIED)"),
)


def sample_report(results: tuple[CheckResult, ...]) -> Report:
    now = datetime(2026, 12, 2, tzinfo=UTC)
    return Report(
        run_id="0123abcd",
        kit_node_id="KIT",
        started_at=now,
        finished_at=now,
        target=TargetSummary(
            node_id="T", address="http://t", claims=(Part.MANAGEMENT,), signature_scheme="x"
        ),
        results=results,
    )


def sample_result(
    check_id: str, outcome: Outcome, reason: str = "r", part: Part = Part.MANAGEMENT
) -> CheckResult:
    exchange = Exchange("probe", "GET /x", "HTTP 200\n\n\x00\x1b[31m\ud800 bytes", 1.5)
    return CheckResult(check_id, "T", part, "§1.2", outcome, reason, None, (exchange,), 12.0)
