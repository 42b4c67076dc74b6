"""Multi-party resource access control across three real nodes (issue 6's scenario).

B owns a dataset and publishes it; A applies; B's operator approves with
``times_limit=1``; A's job on it (scheduled by C) succeeds; every other way in is
refused with a precise error and nothing runs on B: a second job (permit used up), an
expired permit, a permit for another dataset, a forged token, a replayed one, a revoked
approval, a terminated contract.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from isthmus.node.admin_client import AdminApiError
from isthmus.testing import ProcessCluster, ProcessNode
from isthmus.testing.cluster import wait_until
from isthmus.testing.jobs import offer_dataset, signed_call, submit, wait_finished
from isthmus.wire import paths
from isthmus.wire.mprac import ResourceType, TokenRef, format_token_set
from tests.scheduler.jobs_support import psi_pipeline, write_dataset

pytestmark = pytest.mark.multinode

Trio = tuple[ProcessNode, ProcessNode, ProcessNode]
DATASET = "bank#customers"


def source_csv(node: ProcessNode, name: str, ids: range) -> Path:
    path = node.home / "data" / "sources" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("id,balance\n" + "".join(f"{i},{i % 97}.5\n" for i in ids))
    return path


@pytest.fixture(scope="module")
def trio() -> Iterator[Trio]:
    env = {"ISTHMUS_CONTRACT__SYNC_INTERVAL_S": "1"}
    with ProcessCluster(env=env) as cluster:
        a, b, c = cluster.start(3)
        cluster.connect_all()
        write_dataset(a, "guest.csv", list(range(0, 300)), "x")
        for name, ids in (("customers", range(100, 500)), ("other", range(0, 50))):
            b.admin.post(
                "/datasets",
                {"namespace": "bank", "name": name, "source": "csv",
                 "location": str(source_csv(b, f"{name}.csv", ids)), "join_columns": ["id"]},
            )  # fmt: skip
        yield a, b, c


def job_on(a: ProcessNode, b: ProcessNode, dataset: str = DATASET) -> dict[str, Any]:
    job = psi_pipeline(a.node_id, b.node_id)
    job["config"]["task_params"]["host"]["0"]["psi_0"] = {"dataset_id": dataset}
    return job


def approved_permit(a: ProcessNode, b: ProcessNode, dataset: str, **limits: int) -> dict[str, Any]:
    """A applies for ``dataset``; B's operator approves it with ``limits``; returns A's
    approved audit (with the permit, token excluded)."""
    applied = a.admin.post(
        "/audits/apply",
        {"resource_type": "DATASET", "peer_node_id": b.node_id,
         "fields": {"dataset_id": dataset, "times_limit": 5}},
    )  # fmt: skip
    audit_id = applied["audit_id"]
    wait_until(
        lambda: any(x["audit_id"] == audit_id for x in b.admin.get("/audits", status="APPLIED")),
        what="B sees the request",
    )
    b.admin.post(f"/audits/{a.node_id}/{audit_id}/approve", limits)
    wait_until(
        lambda: any(
            x["audit_id"] == audit_id and x["status"] == "APPROVED"
            for x in a.admin.get("/audits", direction="OUTBOUND")
        ),
        what="A learns of the approval",
    )
    return next(x for x in a.admin.get("/audits") if x["audit_id"] == audit_id)


def token_of(a: ProcessNode, audit_id: str) -> str:
    """The permit's token as A keeps it (read from A's database, as a test only can)."""
    from isthmus.store import Store

    store = Store(a.config.store_url)
    try:
        with store.session() as s:
            from isthmus.store.schema import AuditRow

            row = s.query(AuditRow).filter_by(audit_id=audit_id).one()
            return str(json.loads(row.permit or "{}")["token"])
    finally:
        store.dispose()


def refused(a: ProcessNode, c: ProcessNode, job: dict[str, Any]) -> str:
    with pytest.raises(AdminApiError) as error:
        submit(a, job, scheduler=c.node_id)
    return error.value.message


def nothing_ran_on(b: ProcessNode, before: set[str]) -> None:
    assert {j["job_id"] for j in b.admin.get("/jobs")} == before


def test_a_partner_sees_metadata_only(trio: Trio) -> None:
    a, b, _ = trio
    listed = a.admin.get(f"/partners/{b.node_id}/datasets")
    record = next(r for r in listed["records"] if r["dataset_id"] == DATASET)
    assert record["count"] == 400 and record["join_columns"] == ["id"]
    assert record["column_metas"] == [
        {"name": "id", "data_type": "int", "description": "", "distribution": "DISCRETE"},
        {"name": "balance", "data_type": "double", "description": "",
         "distribution": "CONTINUOUS"},
    ]  # fmt: skip
    assert "location" not in json.dumps(listed) and "sources" not in json.dumps(listed)


def test_a_one_time_permit_lets_one_job_through(trio: Trio) -> None:
    a, b, c = trio
    audit = approved_permit(a, b, DATASET, times_limit=1)
    assert audit["permit"]["times_limit"] == 1 and "token" not in audit["permit"]
    job_id = submit(a, job_on(a, b), scheduler=c.node_id)
    assert wait_finished(a, job_id)["result"] == "SUCCESS"
    before = {j["job_id"] for j in b.admin.get("/jobs")}
    message = refused(a, c, job_on(a, b))
    assert f"urn:bfia:{b.node_id}:dataset:{DATASET}" in message
    assert "was used 1 of 1 times" in message
    assert "config.task_params.host.0.psi_0.dataset_id" in message
    nothing_ran_on(b, before)


def test_an_expired_permit_is_refused(trio: Trio) -> None:
    a, b, _ = trio
    deadline = int(time.time() * 1000) + 3000
    audit = approved_permit(a, b, DATASET, time_limit=deadline)
    assert audit["permit"]["time_limit"] == deadline
    time.sleep(max(0.0, deadline / 1000 - time.time()) + 0.2)
    before = {j["job_id"] for j in b.admin.get("/jobs")}
    claim = TokenRef(b.node_id, ResourceType.DATASET, DATASET, 1, token_of(a, audit["audit_id"]))
    assert f"expired at {deadline}" in forged_create(a, b, claim)
    nothing_ran_on(b, before)


def forged_create(a: ProcessNode, b: ProcessNode, token: TokenRef) -> str:
    """``job/create`` as A's scheduler, presenting ``token``: what B says."""
    job = {**job_on(a, b), "job_id": f"job-forged-{time.time_ns()}"}
    with pytest.raises(Exception) as error:
        signed_call(a, b, paths.JOB_CREATE, job, {"x-mprac-token-set": format_token_set([token])})
    return str(error.value)


def test_forged_foreign_revoked_and_replayed_tokens_are_refused(trio: Trio) -> None:
    a, b, _ = trio
    before = {j["job_id"] for j in b.admin.get("/jobs")}
    claim = (b.node_id, ResourceType.DATASET, DATASET, 1)
    forged = forged_create(a, b, TokenRef(*claim, "A" * 43))
    assert "is not a permit this node granted" in forged
    other = approved_permit(a, b, "bank#other")
    foreign = forged_create(a, b, TokenRef(*claim, token_of(a, other["audit_id"])))
    assert "is for dataset bank#other" in foreign
    live = approved_permit(a, b, DATASET)
    b.admin.post(f"/audits/{a.node_id}/{live['audit_id']}/terminate",
                 {"direction": "INBOUND", "reason": "no longer"})  # fmt: skip
    revoked = forged_create(a, b, TokenRef(*claim, token_of(a, live["audit_id"])))
    assert "was revoked" in revoked
    wait_until(
        lambda: (
            next(x for x in a.admin.get("/audits") if x["audit_id"] == live["audit_id"])["status"]
            == "TERMINATED"
        ),
        what="A told of the revocation",
    )
    once = approved_permit(a, b, DATASET, times_limit=1)
    token = TokenRef(*claim, token_of(a, once["audit_id"]))
    job = {**job_on(a, b), "job_id": f"job-replay-{time.time_ns()}"}
    header = {"x-mprac-token-set": format_token_set([token])}
    signed_call(a, b, paths.JOB_CREATE, job, header)  # the one use
    signed_call(a, b, paths.JOB_STOP, {"job_id": job["job_id"]})
    replay = {**job, "job_id": f"job-replay-{time.time_ns()}"}
    with pytest.raises(Exception, match="was used 1 of 1 times"):
        signed_call(a, b, paths.JOB_CREATE, replay, header)
    after = {j["job_id"] for j in b.admin.get("/jobs")}
    assert after - before == {job["job_id"]}  # only the one legitimate use


def test_concurrent_jobs_on_a_one_time_permit_let_exactly_one_through(trio: Trio) -> None:
    a, b, c = trio
    approved_permit(a, b, DATASET, times_limit=1)
    outcomes: list[str] = []

    def one() -> None:
        try:
            outcomes.append(submit(a, job_on(a, b), scheduler=c.node_id))
        except AdminApiError as exc:
            outcomes.append(f"refused: {exc.message}")

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    accepted = [o for o in outcomes if not o.startswith("refused")]
    assert len(accepted) == 1, outcomes
    for job_id in accepted:
        assert wait_finished(a, job_id)["result"] == "SUCCESS"
    for message in (o for o in outcomes if o.startswith("refused")):
        assert "used up by another request" in message or "was used 1 of 1 times" in message


def test_a_lost_confirm_is_recovered_by_query(trio: Trio) -> None:
    a, b, _ = trio
    applied = a.admin.post(
        "/audits/apply",
        {"resource_type": "DATASET", "peer_node_id": b.node_id, "fields": {"dataset_id": DATASET}},
    )
    audit_id = applied["audit_id"]
    wait_until(lambda: any(x["audit_id"] == audit_id for x in b.admin.get("/audits")))
    a.stop()
    b.admin.post(f"/audits/{a.node_id}/{audit_id}/approve", {"times_limit": 2})
    # the confirm to A cannot be delivered; drop it, as a lost message would be
    from isthmus.store import Store
    from isthmus.store.schema import OutboxRow

    store = Store(b.config.store_url)
    try:
        with store.session() as s:
            lost = s.query(OutboxRow).filter(OutboxRow.path.endswith("/audit/confirm")).all()
            assert lost and all(row.delivered_at is None for row in lost[-1:])
            for row in lost:
                if audit_id in row.body:
                    s.delete(row)
    finally:
        store.dispose()
    a.start()
    wait_until(
        lambda: (
            next(x for x in a.admin.get("/audits") if x["audit_id"] == audit_id)["status"]
            == "APPROVED"
        ),
        what="A recovers the approval by audit/query",
    )
    audit = next(x for x in a.admin.get("/audits") if x["audit_id"] == audit_id)
    assert audit["permit"]["times_limit"] == 2


def test_a_node_may_require_approved_jobs_too(tmp_path: Path) -> None:
    env = {"ISTHMUS_MANAGEMENT__REQUIRE_APPROVAL": '["job"]'}
    with ProcessCluster(tmp_path, env=env) as cluster:
        a, b = cluster.start(2)
        cluster.connect(a, b)
        write_dataset(a, "guest.csv", list(range(0, 200)), "x")
        write_dataset(b, "host.csv", list(range(100, 300)), "y")
        offer_dataset(b, a, "demo", "host.csv")
        unreviewed = {**psi_pipeline(a.node_id, b.node_id), "job_id": "job-unreviewed-0001"}
        with pytest.raises(AdminApiError) as error:
            submit(a, unreviewed)
        message = error.value.message
        assert f"presented no permit of {b.node_id} for job job-unreviewed-0001" in message
        with pytest.raises(AdminApiError, match="is REJECTED; submit it under a new job id"):
            submit(a, unreviewed)
        job = {**psi_pipeline(a.node_id, b.node_id), "job_id": "job-reviewed-0001"}
        applied = a.admin.post(
            "/audits/apply",
            {"resource_type": "JOB", "peer_node_id": b.node_id,
             "fields": {"job_id": job["job_id"], "dag": job["dag"], "conf": job["config"]}},
        )  # fmt: skip
        audit_id = applied["audit_id"]
        wait_until(lambda: any(x["audit_id"] == audit_id for x in b.admin.get("/audits")))
        b.admin.post(f"/audits/{a.node_id}/{audit_id}/approve", {})

        def approved() -> bool:
            mine = next(x for x in a.admin.get("/audits") if x["audit_id"] == audit_id)
            return bool(mine["status"] == "APPROVED")

        wait_until(approved, what="A holds the job approval")
        assert wait_finished(a, submit(a, job))["result"] == "SUCCESS"


def test_a_scheduler_cannot_lift_the_initiators_permits(trio: Trio) -> None:
    """C schedules A's jobs and so sees A's permits; it cannot use them for a job of its
    own making that names A as initiator: B wants A's signed statement of the job."""
    a, b, c = trio
    audit = approved_permit(a, b, DATASET, times_limit=3)
    token = TokenRef(b.node_id, ResourceType.DATASET, DATASET, 1, token_of(a, audit["audit_id"]))
    header = {"x-mprac-token-set": format_token_set([token])}
    job = {**job_on(a, b), "job_id": f"job-lifted-{time.time_ns()}"}
    before = {j["job_id"] for j in b.admin.get("/jobs")}
    with pytest.raises(Exception, match="permits relayed without"):
        signed_call(c, b, paths.JOB_CREATE, job, header)
    forged = {**header, "x-isthmus-initiator-sign": "A" * 88}
    with pytest.raises(Exception, match="statement of this job and its permits"):
        signed_call(c, b, paths.JOB_CREATE, job, forged)
    nothing_ran_on(b, before)
    # A's own jobs through C carry A's statement and pass
    assert wait_finished(a, submit(a, job_on(a, b), scheduler=c.node_id))["result"] == "SUCCESS"


def test_a_terminated_contract_stops_everything(trio: Trio) -> None:
    a, b, c = trio
    approved_permit(a, b, DATASET, times_limit=3)
    contract = next(
        x for x in b.admin.get("/contracts") if x["peer_node_id"] == a.node_id
        and x["status"] == "APPROVED"
    )  # fmt: skip
    b.admin.post(f"/contracts/{contract['contract_id']}/terminate", {"reason": "ended"})
    before = {j["job_id"] for j in b.admin.get("/jobs")}
    message = refused(a, c, job_on(a, b))
    assert f"no approved contract with {a.node_id}" in message, message
    nothing_ran_on(b, before)
