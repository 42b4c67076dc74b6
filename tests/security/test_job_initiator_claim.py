"""Issue #12, item 1: a contracted partner sends ``job/create`` naming the victim node
as the job's initiator, so that the victim's permit gate (which trusts jobs its own
operator started) would let the job read the victim's private dataset with no permit.

The victim accepts "this node is the initiator" only for jobs its operator submitted
(it has their record), so the job is refused at ``job/create``, and ``job/start`` /
``task/start`` for it find nothing: no task process, no output, no ``job.created`` or
``permit.used`` audit entry, no job row.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from isthmus.testing.jobs import submit, wait_finished
from isthmus.wire import paths
from tests.security.sched_support import (
    Pair,
    as_partner,
    events_about,
    job_processes,
    jobs_on,
    outputs_of,
    pair,
    register_dataset,
    select_job,
)

pytestmark = pytest.mark.multinode


@pytest.fixture(scope="module")
def nodes() -> Iterator[Pair]:
    with pair() as (attacker, victim):
        register_dataset(victim, "bank", "private", [f"{i},{i * 31}" for i in range(20)])
        yield attacker, victim


def claimed_job(attacker_id: str, victim_id: str, job_id: str) -> dict[str, object]:
    """The attacker's job: the victim is initiator and guest, reading its private data."""
    return select_job(
        job_id,
        victim_id,
        {"guest": [victim_id], "host": [attacker_id]},
        {"guest": {"namespace": "bank", "name": "private"},
         "host": {"namespace": "x", "name": "y"}},
    )  # fmt: skip


def nothing_happened(nodes: Pair, job_id: str) -> None:
    _, victim = nodes
    assert job_id not in jobs_on(victim)
    assert job_processes(job_id) == []
    assert outputs_of(victim, job_id) == []
    assert not {"job.created", "permit.used"} & set(events_about(victim, job_id))


def test_a_partner_job_naming_the_victim_initiator_is_refused_at_create(nodes: Pair) -> None:
    attacker, victim = nodes
    job_id = "job-claims-victim-1"
    answer = as_partner(
        attacker, victim, paths.JOB_CREATE, claimed_job(attacker.node_id, victim.node_id, job_id)
    )
    assert answer.get("code") == 10002, answer  # a validation error in the envelope
    assert (
        f"node {victim.node_id} did not submit job {job_id} for {attacker.node_id}"
        in (answer["msg"])
    )
    nothing_happened(nodes, job_id)


def test_job_start_and_task_start_of_such_a_job_run_nothing(nodes: Pair) -> None:
    attacker, victim = nodes
    job_id = "job-claims-victim-2"
    as_partner(
        attacker, victim, paths.JOB_CREATE, claimed_job(attacker.node_id, victim.node_id, job_id)
    )
    started = as_partner(attacker, victim, paths.JOB_START, {"job_id": job_id})
    assert "ok" not in started, started
    task = {"job_id": job_id, "task_id": f"{job_id}_select_0", "task_name": "select_0"}
    launched = as_partner(attacker, victim, paths.TASK_START, task)
    assert "ok" not in launched, launched
    assert launched["http_status"] != 500
    nothing_happened(nodes, job_id)


def test_the_victims_own_jobs_still_run_and_need_no_permit(nodes: Pair) -> None:
    """The record is what makes a job the node's own: a job its operator submits still
    reads its own registered data without a permit."""
    _, victim = nodes
    job = select_job(
        "job-victim-own", victim.node_id, {"guest": [victim.node_id]},
        {"guest": {"namespace": "bank", "name": "private"}},
    )  # fmt: skip
    job_id = submit(victim, job)
    assert wait_finished(victim, job_id)["result"] == "SUCCESS"
    assert "permit.used" not in events_about(victim, job_id)


def test_a_partner_replaying_the_victims_own_job_cannot_schedule_it(nodes: Pair) -> None:
    """The record names the scheduler the operator chose: another party that saw the
    job cannot create it here as its own scheduler (and then drive it)."""
    attacker, victim = nodes
    job = select_job(
        "job-victim-replayed", victim.node_id, {"guest": [victim.node_id]},
        {"guest": {"namespace": "bank", "name": "private"}},
    )  # fmt: skip
    job_id = submit(victim, job)
    assert wait_finished(victim, job_id)["result"] == "SUCCESS"
    replayed = {**job, "job_id": job_id}
    answer = as_partner(attacker, victim, paths.JOB_CREATE, replayed)
    assert answer.get("code") == 10002, answer
    assert f"did not submit job {job_id} for {attacker.node_id}" in answer["msg"]
