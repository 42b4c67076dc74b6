"""What the Datasets and Approvals pages gather, checked on two in-process nodes (no
browser): who may use a dataset and how often, drift warnings, the permits with their
use, the buttons each viewer gets; and, as properties, that nobody is ever offered the
decision on their own request and that the registration form keys every error to a
field it has."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isthmus.console.approvals_data import (
    INBOUND,
    OUTBOUND,
    actions_for,
    deadline,
    inbox,
    limits,
    permits,
    times,
)
from isthmus.console.datasets_data import (
    FORM_FIELDS,
    GENERAL,
    dataset_entries,
    parse_registration,
    service_error,
)
from isthmus.testing.inprocess import InProcessCluster, InProcessNode
from isthmus.wire import paths
from isthmus.wire.clock import now_ms
from isthmus.wire.errors import NotFound, StateConflict, ValidationFailed
from isthmus.wire.mprac import ResourceType

pytestmark = pytest.mark.anyio
DATASET = "bank#customers"


def _csv(node: InProcessNode, text: str) -> Path:
    path = node.ctx.config.home / "data" / "customers.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _everyone(method: str, route: str) -> bool:
    return True


@pytest.fixture
async def pair() -> AsyncIterator[tuple[InProcessNode, InProcessNode]]:
    async with InProcessCluster() as cluster:
        a, b = await cluster.start(2)
        await cluster.connect(a, b)
        location = _csv(b, "id,balance\n1,2.5\n2,3.5\n")
        body = {"namespace": "bank", "name": "customers", "source": "csv",
                "location": str(location), "join_columns": ["id"]}  # fmt: skip
        await b.admin_call("POST", "/datasets", body)
        yield a, b


async def _request(a: InProcessNode, b: InProcessNode, fields: dict[str, Any]) -> str:
    body = {"resource_type": "DATASET", "peer_node_id": b.node_id, "fields": fields}
    view = await a.admin_call("POST", "/audits/apply", body)
    await a.ctx.outbox.deliver_due()
    return str(view["audit_id"])


async def test_a_dataset_shows_who_may_use_it_and_how_often(
    pair: tuple[InProcessNode, InProcessNode],
) -> None:
    a, b = pair
    audit_id = await _request(a, b, {"dataset_id": DATASET, "times_limit": 3})
    [entry] = dataset_entries(b.ctx, now_ms())
    assert (entry.pending, entry.grantees, entry.drift) == (1, [], None)
    assert entry.view["count"] == 2

    b.ctx.approvals.decide(a.node_id, audit_id, approve=True, actor="token:alice")
    [entry] = dataset_entries(b.ctx, now_ms())
    [grantee] = entry.grantees
    assert (grantee.partner, grantee.via, grantee.state) == (a.node_id, "dataset", "active")
    assert (grantee.times_used, grantee.times_limit, entry.pending) == (0, 3, 0)
    [permit] = permits(b.ctx, now_ms())
    assert (permit.audit_id, permit.times_used, permit.state) == (audit_id, 0, "active")

    b.ctx.approvals.terminate(a.node_id, audit_id, INBOUND, actor="token:alice")
    assert [p.state for p in permits(b.ctx, now_ms())] == ["revoked"]
    assert [g.state for g in dataset_entries(b.ctx, now_ms())[0].grantees] == ["revoked"]


async def test_a_project_listing_the_dataset_counts_among_its_users(
    pair: tuple[InProcessNode, InProcessNode],
) -> None:
    a, b = pair
    fields = {"project_id": "p1", "name": "p1",
              "datasets": [{"dataset_id": DATASET, "owner": b.node_id}]}  # fmt: skip
    body = {"resource_type": "PROJECT", "peer_node_id": b.node_id, "fields": fields}
    audit_id = str((await a.admin_call("POST", "/audits/apply", body))["audit_id"])
    await a.ctx.outbox.deliver_due()
    b.ctx.approvals.decide(a.node_id, audit_id, approve=True, actor="token:alice")
    [entry] = dataset_entries(b.ctx, now_ms())
    assert [(g.partner, g.via, g.audit_id) for g in entry.grantees] == [
        (a.node_id, "project", audit_id)
    ]


async def test_a_changed_source_shows_the_drift_a_job_would_be_refused_for(
    pair: tuple[InProcessNode, InProcessNode],
) -> None:
    _, b = pair
    _csv(b, "id,balance,extra\n1,2.5,x\n")
    [entry] = dataset_entries(b.ctx, now_ms())
    assert entry.drift is not None and "'extra' is new" in entry.drift


async def test_only_another_approver_is_offered_the_decision_on_a_standing_grant(
    pair: tuple[InProcessNode, InProcessNode],
) -> None:
    a, b = pair
    view = b.ctx.approvals.grant(a.node_id, ResourceType.DATASET, DATASET, actor="token:olga")
    mine = {r.approval["audit_id"]: r for r in inbox(b.ctx, "token:olga", _everyone, INBOUND)}
    theirs = {r.approval["audit_id"]: r for r in inbox(b.ctx, "token:bob", _everyone, INBOUND)}
    assert mine[view["audit_id"]].actions.decide is False
    assert mine[view["audit_id"]].actions.own is True
    assert theirs[view["audit_id"]].actions.decide is True


async def test_our_request_can_be_withdrawn_not_decided(
    pair: tuple[InProcessNode, InProcessNode],
) -> None:
    a, b = pair
    await _request(a, b, {"dataset_id": DATASET})
    [row] = inbox(a.ctx, "token:someone", _everyone, OUTBOUND)
    assert (row.actions.decide, row.actions.withdraw) == (False, True)
    assert (row.times_limit, row.time_limit) == (-1, -1)


# --- properties -------------------------------------------------------------------------

STATUSES = st.sampled_from(["APPLIED", "APPROVED", "REJECTED", "TERMINATED"])
DECISIONS = [
    paths.ADMIN_APPROVAL_APPROVE,
    paths.ADMIN_APPROVAL_REJECT,
    paths.ADMIN_APPROVAL_TERMINATE,
]
ACTORS = st.sampled_from(["token:alice", "token:bob", "peer:NODE_A", "token:root"])


@given(
    direction=st.sampled_from([INBOUND, OUTBOUND]),
    status=STATUSES,
    actor=ACTORS,
    allowed=st.sets(st.sampled_from(DECISIONS)),
)
def test_nobody_is_offered_the_decision_on_their_own_request(
    direction: str, status: str, actor: str, allowed: set[str]
) -> None:
    approval = {"direction": direction, "status": status, "requested_by": actor}
    actions = actions_for(approval, actor, lambda method, route: route in allowed)
    assert not actions.decide
    other = actions_for(approval, "token:carol", lambda method, route: route in allowed)
    expected = (
        direction == INBOUND
        and status == "APPLIED"
        and {paths.ADMIN_APPROVAL_APPROVE, paths.ADMIN_APPROVAL_REJECT} <= allowed
    )
    assert other.decide is expected


@given(st.dictionaries(st.sampled_from(FORM_FIELDS), st.text(max_size=40), max_size=11))
def test_every_form_error_is_keyed_to_a_field_of_the_form(form: dict[str, str]) -> None:
    body, errors = parse_registration(form)
    assert (body is None) == bool(errors)
    assert set(errors) <= {*FORM_FIELDS, GENERAL}


@given(st.lists(st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,8}", fullmatch=True), max_size=5))
def test_column_lists_read_back_as_typed(columns: list[str]) -> None:
    form = {"namespace": "n", "name": "m", "source": "csv", "location": "x.csv",
            "join_columns": ", ".join(columns)}  # fmt: skip
    body, errors = parse_registration(form)
    assert errors == {} and body is not None and body.join_columns == columns


def test_service_refusals_land_on_the_field_they_name() -> None:
    assert service_error(ValidationFailed("table: required for a sql dataset")) == {
        "table": "required for a sql dataset"
    }
    assert set(service_error(NotFound("no file at /x"))) == {"location"}
    assert set(service_error(StateConflict("dataset a#b is registered already"))) == {"name"}
    assert set(service_error(ValidationFailed("something else"))) == {GENERAL}


@given(st.integers(min_value=-1, max_value=10**6), st.integers(min_value=-1, max_value=2**40))
def test_limits_read_the_permit_before_the_request(granted: int, until: int) -> None:
    asked = {"times_limit": 10**7, "time_limit": -1}
    approval = {"request": asked, "permit": {"times_limit": granted, "time_limit": until}}
    assert limits(approval) == (granted, until)
    assert limits({"request": asked, "permit": None}) == (10**7, -1)


def test_limits_in_the_forms_are_numbers_or_nothing() -> None:
    assert times("") is None and times("-1") == -1 and times(" 4 ") == 4
    assert deadline("", 0) is None and deadline("1", 5) == 5 + 86_400_000
    for bad in ("x", "-2"):
        with pytest.raises(ValueError):
            times(bad)
    for bad in ("0", "-1", "nan", "1e9"):
        with pytest.raises(ValueError):
            deadline(bad, 0)
