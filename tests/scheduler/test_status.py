"""Job and task status rules (digest §2.3)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as sts

from isthmus.scheduler import status as st
from isthmus.wire.status import (
    WIRE_JOB_STATUSES,
    WIRE_TASK_STATUSES,
    Status,
    job_on_the_wire,
    on_the_wire,
)

task_statuses = sts.sampled_from(st.TASK_STATUSES)


@given(sts.lists(task_statuses, min_size=1, max_size=8))
def test_a_task_succeeds_only_when_every_party_did_and_fails_when_any_did(
    parties: list[str],
) -> None:
    folded = st.aggregate(parties)
    assert (folded == Status.SUCCESS) == all(p == Status.SUCCESS for p in parties)
    assert (folded == Status.FAILED) == (Status.FAILED in parties)
    assert (folded == Status.STOPPED) == (
        Status.STOPPED in parties and Status.FAILED not in parties
    )
    assert folded in parties


@given(task_statuses, task_statuses)
def test_terminal_statuses_never_move_and_nothing_moves_backwards(a: str, b: str) -> None:
    order = {
        Status.PENDING: 0,
        Status.READY: 1,
        Status.RUNNING: 2,
        Status.SUCCESS: 3,
        Status.FAILED: 3,
        Status.STOPPED: 3,
    }
    if st.task_may_move(a, b):
        assert a not in st.TASK_DONE and order[b] > order[a]


def test_job_moves_are_fates() -> None:
    assert st.job_may_move(Status.PENDING, Status.REJECTED)
    assert st.job_may_move(Status.RUNNING, Status.FINISHED)
    assert not st.job_may_move(Status.FINISHED, Status.RUNNING)
    assert not st.job_may_move(Status.REJECTED, Status.READY)


def test_partner_spellings_are_understood_and_nonsense_is_not() -> None:
    assert st.normalize_task_status("success") == Status.SUCCESS
    assert st.normalize_task_status("Succeeded") == Status.SUCCESS
    assert st.normalize_task_status("ERROR") == Status.FAILED
    assert st.normalize_task_status("DONE") is None
    assert st.normalize_task_status("killed") == Status.STOPPED
    assert st.normalize_task_status(None) is None


def test_the_statuses_are_the_strings_stored_and_sent() -> None:
    assert [s.value for s in Status] == [
        "PENDING",
        "READY",
        "RUNNING",
        "SUCCESS",
        "FAILED",
        "REJECTED",
        "FINISHED",
        "STOPPED",
    ]
    assert json.dumps({"status": Status.SUCCESS}) == '{"status": "SUCCESS"}'
    assert f"{Status.FAILED}" == "FAILED" and Status.RUNNING == "RUNNING"
    assert st.normalize_task_status("succeeded") is Status.SUCCESS


@given(sts.text(max_size=12) | sts.sampled_from([s.value for s in Status]))
def test_the_wire_only_ever_carries_the_specs_statuses(value: str) -> None:
    assert on_the_wire(value) in WIRE_TASK_STATUSES
    assert job_on_the_wire(value) in WIRE_JOB_STATUSES
    if value in WIRE_TASK_STATUSES:
        assert on_the_wire(value) == value  # a spec status passes as it is
    if value in WIRE_JOB_STATUSES:
        assert job_on_the_wire(value) == value


def test_a_stopped_task_is_failed_and_an_ended_job_finished_on_the_wire() -> None:
    assert on_the_wire(Status.STOPPED) == Status.FAILED
    for result in (Status.SUCCESS, Status.FAILED, Status.STOPPED):
        assert job_on_the_wire(result) == Status.FINISHED
    assert job_on_the_wire(Status.REJECTED) == Status.REJECTED
