"""The registry: ids are unique and dotted, selection by part and pattern is a filter."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from isthmus.conformance.catalogue import all_checks
from isthmus.conformance.context import CheckContext
from isthmus.conformance.model import Part
from isthmus.conformance.registry import Check, Registry, select


async def _noop(ctx: CheckContext) -> None:
    return None


def _registry(ids: list[tuple[str, Part]]) -> Registry:
    registry = Registry()
    for check_id, part in ids:
        registry.check(check_id, title=check_id, part=part, section="§1", plan=["nothing"])(_noop)
    return registry


def test_a_check_is_registered_with_what_it_declares() -> None:
    registry = Registry()

    @registry.check(
        "mgmt.contract.apply",
        title="Apply",
        part=Part.MANAGEMENT,
        section="§1.4",
        plan=["POST /v1/interconn/node/contract/apply"],
        mutates=True,
    )
    async def apply(ctx: CheckContext) -> None:
        return None

    (found,) = registry.all()
    assert found == Check(
        "mgmt.contract.apply",
        "Apply",
        Part.MANAGEMENT,
        "§1.4",
        True,
        ("POST /v1/interconn/node/contract/apply",),
        apply,
    )


def test_an_id_registered_twice_fails_at_import_time() -> None:
    registry = _registry([("envelope.code", Part.MANAGEMENT)])
    with pytest.raises(ValueError, match="twice"):
        registry.check("envelope.code", title="x", part=Part.UAS, section="§6", plan=[])


@pytest.mark.parametrize("bad", ["", "nodots", "Upper.case", "a..b", ".a", "a.b/c", "a b.c"])
def test_an_id_that_is_not_dotted_lower_case_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="dotted"):
        Registry().check(bad, title="x", part=Part.UAS, section="§6", plan=[])


def test_the_kits_registry_loads_by_importing_the_checks_package() -> None:
    checks = all_checks()
    assert len({c.check_id for c in checks}) == len(checks)
    assert all(c.plan for c in checks), "every check says what it would send"


IDS = [
    ("mgmt.contract.apply", Part.MANAGEMENT),
    ("mgmt.contract.query", Part.MANAGEMENT),
    ("envelope.code", Part.MANAGEMENT),
    ("psi.batch.empty-last", Part.PSI_LINK),
    ("transport.pop.order", Part.TRANSPORT_SN),
]


def test_select_by_part_by_substring_and_by_glob() -> None:
    checks = _registry(IDS).all()
    assert [c.check_id for c in select(checks, [Part.PSI_LINK])] == ["psi.batch.empty-last"]
    assert [c.check_id for c in select(checks, None, ["contract"])] == [
        "mgmt.contract.apply",
        "mgmt.contract.query",
    ]
    assert [c.check_id for c in select(checks, None, ["*.code"])] == ["envelope.code"]
    assert select(checks, [Part.MANAGEMENT], ["psi"]) == ()


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # a loaded CI box
@given(
    parts=st.none() | st.sets(st.sampled_from(list(Part))),
    patterns=st.lists(st.sampled_from(["mgmt", "*.query", "psi.*", "zzz", "o"]), max_size=3),
)
def test_select_is_an_order_keeping_filter(parts: set[Part] | None, patterns: list[str]) -> None:
    checks = _registry(IDS).all()
    chosen = select(checks, parts, patterns)
    assert list(chosen) == [c for c in checks if c in chosen]  # a subsequence
    assert all(parts is None or c.part in parts for c in chosen)
    assert select(chosen, parts, patterns) == chosen  # idempotent
    assert select(checks, None, ()) == checks
