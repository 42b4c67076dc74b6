"""The task registry's state machine and bounds, and the binding of announced inputs
(the same verdict from the same announcements, whichever party reads them)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.secure_operate.binding import announcement, bind
from isthmus.secure_operate.expressions import catalogue
from isthmus.secure_operate.registry import Status, TaskRegistry
from isthmus.wire.errors import SecopBusy, SecopCode, SecopDuplicateTask, SecopInvalid
from isthmus.wire.secure_operate import ExecuteRequest, Phase

SPECS = catalogue()


def request(task: str, me: str = "A", inputs: list[dict] | None = None, **extra) -> ExecuteRequest:
    return ExecuteRequest.model_validate({
        "taskId": task, "expression": "matmul", "parties": ["A", "B"], "localPartyId": me,
        "inputs": inputs or [], **extra,
    })  # fmt: skip


def tag(name: str, shape: list[int]) -> dict:
    return {"dataValueTag": {"name": name, "shape": shape, "dtype": "f8"}, "directValue": ""}


def test_state_machine_waits_resumes_and_ends_once() -> None:
    registry = TaskRegistry()
    task = registry.add(request("t", phases=["PREPAR"]))
    assert task.may_run(Phase.PREPAR) and not task.may_run(Phase.CALCULATE)
    task.phase = Phase.CALCULATE
    task.wait_for(Phase.CALCULATE)
    assert task.status == Status.WAITING and task.paused.is_set()
    assert registry.continuation(request("t", phases=["CALCULATE", "RETRIEVE"])) is task
    with pytest.raises(SecopDuplicateTask):
        registry.continuation(request("t", phases=["RETRIEVE"]))
    with pytest.raises(SecopDuplicateTask):
        registry.continuation(request("t"))
    task.resume([Phase.CALCULATE, Phase.RETRIEVE])
    assert task.status == Status.RUNNING and task.proceed.is_set()
    task.end(Status.SUCCESS)
    task.end(Status.FAILED)  # a terminal status is final
    assert task.status == Status.SUCCESS and task.finished


def test_bounds_on_active_and_kept_tasks() -> None:
    registry = TaskRegistry(max_active=2, keep_finished=1)
    first, _ = registry.add(request("a")), registry.add(request("b"))
    with pytest.raises(SecopBusy):
        registry.add(request("c"))
    first.end(Status.KILLED)
    registry.add(request("c"))
    registry.get(("a", None)).end(Status.KILLED)
    registry.get(("b", None)).end(Status.FAILED)
    registry.add(request("d"))
    assert registry.find(("a", None)) is None and registry.find(("b", None)) is not None


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 5), k=st.integers(1, 5), k2=st.integers(1, 5), n=st.integers(1, 5))
def test_bind_gives_the_same_verdict_to_every_party(m: int, k: int, k2: int, n: int) -> None:
    said = [
        announcement(request("t", "A", [tag("x", [m, k])])),
        announcement(request("t", "B", [tag("y", [k2, n])])),
    ]
    spec = SPECS["matmul"]
    if k != k2:
        with pytest.raises(SecopInvalid) as info:
            bind(spec, said)
        assert info.value.secop_code == SecopCode.SHAPE_MISMATCH
        return
    bound = bind(spec, said)
    assert bound.owners == {"x": 0, "y": 1} and bound.result_shape == (m, n)


def test_bind_refuses_disagreement_and_missing_or_doubled_inputs() -> None:
    a = announcement(request("t", "A", [tag("x", [2, 2])]))
    other = announcement(request("t", "B", [tag("y", [2, 2])], resultParties=["A"]))
    with pytest.raises(SecopInvalid) as info:
        bind(SPECS["matmul"], [a, other])
    assert (
        info.value.secop_code == SecopCode.BAD_PARAMETER and "resultParties" in info.value.message
    )
    for second in ([tag("x", [2, 2])], []):
        with pytest.raises(SecopInvalid) as info:
            bind(SPECS["matmul"], [a, announcement(request("t", "B", second))])
        assert info.value.secop_code == SecopCode.BAD_INPUT
